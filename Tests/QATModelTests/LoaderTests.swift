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
}
