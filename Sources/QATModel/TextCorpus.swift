// Texts by name or path, wherever QATLab expects a text.
//
//   fortunes        the fortune(6) collections (Debian `fortunes`): calibration and training
//   devil           Bierce's Devil's Dictionary (Debian `dict-devil`): evaluation
//   gnu-standards   the GNU Coding Standards (Debian `gnu-standards`): evaluation
//   python          Python's argparse.py (Debian `libpython3.11-minimal`): evaluation on code
// setup.sh unpacks each into Data/text/NAME.txt (see Data/README.md). Any other argument is a
// path: a plain UTF-8 text file, or JSONL (*.jsonl) whose lines are objects with a "text" field
// (joined with blank lines).
import Foundation
import QATIO

public enum TextCorpus {
    public static let names = ["fortunes", "devil", "gnu-standards", "python"]

    /// The file behind a name or path.
    public static func resolve(_ spec: String) throws -> String {
        if names.contains(spec) {
            for dir in searchDirectories(sub: "Data") where fileExists("\(dir)/text/\(spec).txt") { return "\(dir)/text/\(spec).txt" }
            throw FormatError(file: spec, "the bundled text '\(spec)' is not unpacked (expected Data/text/\(spec).txt); run `bash setup.sh`")
        }
        guard fileExists(spec) else {
            throw FormatError(file: spec, "no such file; a text is a path (plain text or .jsonl with a \"text\" field) or one of: \(names.joined(separator: ", "))")
        }
        return spec
    }

    /// The text of a name or path.
    public static func load(_ spec: String) throws -> String {
        let path = try resolve(spec)
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(file: path, "cannot read the file") }
        let text = String(decoding: data, as: UTF8.self)
        return path.hasSuffix(".jsonl") ? try jsonlText(text, path: path) : text
    }

    static func jsonlText(_ text: String, path: String) throws -> String {
        var parts: [String] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8))
            guard let dict = obj as? [String: Any], let t = dict["text"] as? String else {
                throw FormatError(file: path, "line \(i + 1): expected a JSON object with a string field \"text\"")
            }
            parts.append(t)
        }
        return parts.joined(separator: "\n\n")
    }
}
