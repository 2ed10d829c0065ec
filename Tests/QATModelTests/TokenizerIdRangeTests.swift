// GGUF tokenizer metadata wider than 32 bits is an error naming the key and the value; before,
// Int32(truncatingIfNeeded:) turned eos_token_id 2^32 + 1 into token 1 without a word.
import Foundation
import QATIO
import QATTokenizer
import Testing
@testable import QATModel

@Suite struct TokenizerIdRangeTests {
    func tokenizer(_ extra: (String, GGUFValue)) throws -> BPETokenizer {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = GGUFWriter()
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.tokens", .array(["a", "b", "ab"].map { .string($0) }))
        w.set("tokenizer.ggml.merges", .array([.string("a b")]))
        w.set(extra.0, extra.1)
        let path = dir.appendingPathComponent("t.gguf").path
        try w.write(to: path)
        return try ModelLoader.tokenizerFromGGUF(try GGUFFile(path: path))
    }

    @Test func idsOutsideInt32AreRefused() throws {
        let cases: [(String, GGUFValue, String)] = [
            ("tokenizer.ggml.eos_token_id", .uint64(4_294_967_297), "tokenizer.ggml.eos_token_id holds 4294967297"),
            ("tokenizer.ggml.bos_token_id", .int64(-4_294_967_295), "tokenizer.ggml.bos_token_id holds -4294967295"),
            ("tokenizer.ggml.token_type", .array([.int64(1), .int64(1 << 40), .int64(1)]), "tokenizer.ggml.token_type holds 1099511627776"),
        ]
        for (key, value, message) in cases {
            do { _ = try tokenizer((key, value)); Issue.record("\(key) = \(value) was accepted") } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
        // in range: loads (the ids name real tokens)
        #expect(try tokenizer(("tokenizer.ggml.eos_token_id", .uint32(2))).eosId == 2)
    }
}
