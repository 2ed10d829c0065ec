// Loading errors: every malformed input is a clear error naming the file, never a crash.
import Foundation
import Testing
@testable import QATModel
import QATIO

func tempDir() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("qat-loader-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct LoaderTests {
    @Test func unknownPathOrName() {
        do { _ = try ModelLoader.load("/nonexistent/model.gguf"); Issue.record("no error") } catch {
            #expect("\(error)".contains("/nonexistent/model.gguf") && "\(error)".contains("smollm2"))
        }
    }

    @Test func truncatedAndWrongMagicGGUF() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.gguf")
        try Data("NOPE0000000000000000000000000000".utf8).write(to: bad)
        do { _ = try ModelLoader.load(bad.path); Issue.record("no error") } catch { #expect("\(error)".contains(bad.path)) }
        // a real header cut short
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        let full = try w.serialized()
        try Data(full.prefix(full.count - 3)).write(to: bad)
        do { _ = try ModelLoader.load(bad.path); Issue.record("no error") } catch { #expect("\(error)".contains(bad.path)) }
        // a valid GGUF without model metadata
        try Data(full).write(to: bad)
        do { _ = try ModelLoader.load(bad.path); Issue.record("no error") } catch {
            #expect("\(error)".contains(bad.path) && "\(error)".contains("llama.embedding_length"))
        }
    }

    @Test func huggingFaceDirectoryErrors() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"architectures": ["LlamaForCausalLM"], "vocab_size": 10}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
        do { _ = try ModelLoader.load(dir.path); Issue.record("no error") } catch {
            #expect("\(error)".contains("config.json") && "\(error)".contains("hidden_size"))
        }
    }
    /// A float export of a GGUF-loaded model has no tokenizer.json: loading it takes the
    /// tokenizer of the GGUF its config.json's _name_or_path names (llamacpp.qat's convert row
    /// failed on SmolLM2 without it), and says what to do when that names nothing that loads.
    @Test(.enabled(if: (try? ModelLoader.resolve("smollm2")) != nil, "needs SmolLM2 (bash setup.sh)"))
    func floatExportOfAGGUFTakesTheGGUFsTokenizer() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-srctok-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let gguf = try ModelLoader.resolve("smollm2")
        try Data("{\"_name_or_path\": \"\(gguf)\"}".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let tokenizer = try ModelLoader.sourceTokenizer(dir: dir, vocab: 49152)
        let reference = try ModelLoader.load("smollm2").tokenizer
        let text = "def f(x):\n\treturn x  + 1  # Héllo"
        #expect(tokenizer.encode(text, addSpecial: true, parseSpecial: false) == reference.encode(text, addSpecial: true, parseSpecial: false))
        #expect(throws: FormatError.self) { try ModelLoader.sourceTokenizer(dir: dir, vocab: 100) }   // more ids than the model has
        try Data("{\"_name_or_path\": \"/nonexistent\"}".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        #expect { try ModelLoader.sourceTokenizer(dir: dir, vocab: 49152) } throws: { "\($0)".contains("tokenizer.json") }
    }
}
