// The bsdgames quiz(6) data files as multiple-choice items.
//
// Layout (Debian `bsdgames`, /usr/share/games/bsdgames/quiz/):
//   index   one line per subject: `PATH:TITLE0:TITLE1[:...]`, the data file's path, then a
//           pattern naming each column (e.g. `/usr/share/games/bsdgames/quiz/europe:Europe{an}:cap{ital}`).
//   FILE    one line per fact, its columns separated by `:` (e.g. `Austria:Vienna|Wien`).
// Both use the same pattern syntax: `a|b` alternatives, `{pat}` an optional part, `[a|b]` a
// delimited group of alternatives, `\` quotes the next character, and a `\` at the end of a line
// continues it on the next. A fact whose question or answer column is empty is skipped.
//
// A pattern becomes one text, its first full form: the first alternative of every `|`, every
// optional part included (`Central Africa{n Rep{ublic}}` -> `Central African Republic`). Groups that
// spell one accented letter in the files' overstrike convention (`R['^He|e^H'|e]union`: mark,
// backspace, letter, or the letter first; written without the backspace too) become that letter (`Réunion`, `Côte`), since a language model has never seen `R'eunion`.
import Foundation
import QATIO

/// One quiz file: its facts as columns of canonical text, and the column titles from the index.
public struct QuizFile: Sendable {
    public var path: String
    public var titles: [String]
    /// Each fact's columns, canonical text (empty when the column was empty).
    public var facts: [[String]]
    /// The 1-based line of each fact (for errors).
    public var lines: [Int]
    /// Lines that did not parse (skipped), each naming the file and line: Debian's own files have
    /// one (seq-hard line 10), and one bad fact should not make a file unusable.
    public var problems: [FormatError]
}

public enum Quiz {
    public static let directory = "/usr/share/games/bsdgames/quiz"

    /// Reads a quiz data file; its column titles come from `index` in the same directory when the
    /// file is listed there, else they are `column0`, `column1`, ...
    public static func load(path: String) throws -> QuizFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(file: path, "cannot read the quiz file; the built-in quiz files come with the Debian package bsdgames (`apt-get install bsdgames`, or `bash setup.sh`)")
        }
        let logical = try logicalLines(String(decoding: data, as: UTF8.self), file: path)
        var facts: [[String]] = [], lines: [Int] = [], problems: [FormatError] = []
        for (line, text) in logical where !text.isEmpty {
            do {
                facts.append(try splitColumns(text, file: path, line: line).map { try canonical($0, file: path, line: line) })
                lines.append(line)
            } catch let e as FormatError { problems.append(e) }
        }
        guard !facts.isEmpty else {
            throw problems.first ?? FormatError(file: path, "the quiz file has no facts (expected lines `question:answer`)")
        }
        return QuizFile(path: path, titles: try titles(for: path, columns: facts.map(\.count).max() ?? 0), facts: facts,
                        lines: lines, problems: problems)
    }

    /// Column titles from the index beside the file (first full form of each title pattern).
    static func titles(for path: String, columns: Int) throws -> [String] {
        let dir = PathName.parent(path)
        let index = (dir.isEmpty ? "." : dir) + "/index"
        let fallback = (0..<columns).map { "column\($0)" }
        guard let data = FileManager.default.contents(atPath: index) else { return fallback }
        let name = (path as NSString).lastPathComponent
        for (line, text) in try logicalLines(String(decoding: data, as: UTF8.self), file: index) where !text.isEmpty {
            let parts = try splitColumns(text, file: index, line: line)
            guard let first = parts.first, (first as NSString).lastPathComponent == name else { continue }
            return try parts.dropFirst().map { try canonical($0, file: index, line: line) }
        }
        return fallback
    }

    /// Lines joined across trailing-backslash continuations, with their first line number.
    static func logicalLines(_ text: String, file: String) throws -> [(Int, String)] {
        var out: [(Int, String)] = [], pending = "", start = 0
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if pending.isEmpty { start = i + 1 }
            if trailingBackslashes(line) % 2 == 1 {
                pending += line.dropLast(); continue
            }
            out.append((start, pending + line)); pending = ""
        }
        if !pending.isEmpty { out.append((start, pending)) }
        return out
    }

    static func trailingBackslashes(_ s: String) -> Int {
        var n = 0
        for c in s.reversed() { if c == "\\" { n += 1 } else { break } }
        return n
    }

    /// Splits a line at the `:` that are outside `{}`/`[]` and not quoted.
    static func splitColumns(_ line: String, file: String, line number: Int) throws -> [String] {
        var parts: [String] = [], current = "", depth = 0, quoted = false
        for c in line {
            if quoted { current.append("\\"); current.append(c); quoted = false; continue }
            switch c {
            case "\\": quoted = true
            case "{", "[": depth += 1; current.append(c)
            case "}", "]":
                depth -= 1; current.append(c)
                if depth < 0 { throw FormatError(file: file, "line \(number): unbalanced '\(c)' in `\(line)`; every `}` and `]` closes an earlier `{` or `[`") }
            case ":" where depth == 0: parts.append(current); current = ""
            default: current.append(c)
            }
        }
        guard depth == 0 else { throw FormatError(file: file, "line \(number): unclosed `{` or `[` in `\(line)`") }
        parts.append(current)
        return parts
    }

    /// The first full form of a pattern (see the file header).
    public static func canonical(_ pattern: String, file: String = "pattern", line: Int = 0) throws -> String {
        var parser = PatternParser(chars: Array(pattern), file: file, line: line)
        let text = try parser.alternatives(until: nil)
        return text.trimmingCharacters(in: .whitespaces)
    }
}

/// Recursive descent over one pattern: alternatives := sequence ('|' sequence)*; sequence :=
/// (char | '\' char | '{' alternatives '}' | '[' alternatives ']')*. Returns the first form.
struct PatternParser {
    let chars: [Character]
    let file: String, line: Int
    var i = 0

    init(chars: [Character], file: String, line: Int) { self.chars = chars; self.file = file; self.line = line }

    mutating func alternatives(until close: Character?) throws -> String {
        var forms = [try sequence(until: close)]
        while i < chars.count, chars[i] == "|" {
            i += 1
            forms.append(try sequence(until: close))
        }
        if let close {
            guard i < chars.count, chars[i] == close else {
                throw FormatError(file: file, "line \(line): expected `\(close)` in `\(String(chars))`")
            }
            i += 1
            if close == "]", let letter = accentedLetter(forms) { return letter }
        }
        return forms[0]
    }

    mutating func sequence(until close: Character?) throws -> String {
        var out = ""
        while i < chars.count {
            let c = chars[i]
            if c == "|" || c == close { break }
            i += 1
            switch c {
            case "\\":
                guard i < chars.count else { return out }
                out.append(chars[i]); i += 1
            case "{": out += try alternatives(until: "}")
            case "[": out += try alternatives(until: "]")
            case "}", "]":
                throw FormatError(file: file, "line \(line): unexpected `\(c)` in `\(String(chars))`")
            default: out.append(c)
            }
        }
        return out
    }

    /// `['e|e'|e]` -> "é": a group whose forms are a letter with an ASCII accent mark before or
    /// after it, and the bare letter.
    func accentedLetter(_ forms: [String]) -> String? {
        guard forms.count >= 2, let bare = forms.last, bare.count == 1, let letter = bare.first, letter.isLetter else { return nil }
        let marks: [Character: String] = ["'": "\u{301}", "`": "\u{300}", "^": "\u{302}", "~": "\u{303}", "\"": "\u{308}", ",": "\u{327}"]
        for form in forms.dropLast() {
            let f = Array(form.filter { $0 != "\u{8}" })   // the files overstrike: `'` BACKSPACE `e`
            guard f.count == 2, f.contains(letter) else { return nil }
            let mark = f[0] == letter ? f[1] : f[0]
            guard let combining = marks[mark] else { return nil }
            if form == forms[0] { return (String(letter) + combining).precomposedStringWithCanonicalMapping }
        }
        return nil
    }
}
