// fromHuggingFace on a small hand-written tokenizer.json (Golden/tiny_tokenizer.json: merges in
// both the "a b" and ["a", "b"] forms, a Digits + ByteLevel pre_tokenizer, a special and a
// non-special added token), pre-tokenizer detection, and malformed files.
import Foundation
import QATTokenizer
import Testing

@Suite struct HuggingFaceTests {
    static let tiny = Fixtures.golden.appendingPathComponent("tiny_tokenizer.json").path

    /// Writes `text` to a fresh temporary file and returns its path.
    func temp(_ text: String, _ name: String = "tokenizer.json") throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The tiny fixture with one top-level field replaced.
    func tinyVariant(_ edit: (inout [String: Any]) -> Void) throws -> String {
        var obj = try Fixtures.json("tiny_tokenizer.json")
        edit(&obj)
        let data = try JSONSerialization.data(withJSONObject: obj)
        return try temp(String(decoding: data, as: UTF8.self))
    }

    @Test func loadsTinyTokenizer() throws {
        let tok = try BPETokenizer.fromHuggingFace(path: Self.tiny)
        #expect(tok.vocabSize == 22)
        #expect(tok.preTokenizer == .smollm)
        #expect(tok.encode("hello world") == [12, 17])
        #expect(tok.encode("hello12!") == [12, 18, 19, 20])
        #expect(tok.encode("hello<|endoftext|>") == [12, 0])
        #expect(tok.encode("hello<|endoftext|>", addSpecial: false, parseSpecial: false).count > 2)
        #expect(tok.encode("<|user|>", addSpecial: true, parseSpecial: false) == [21])
        #expect(tok.eosId == 0 && tok.bosId == nil && !tok.addsBOS)
        #expect(tok.tokenType(0) == .control && tok.tokenType(21) == .userDefined)
        #expect(tok.decode([12, 17, 0, 21]) == "hello world<|endoftext|><|user|>")
    }

    @Test func detectsPreTokenizerAndTemplate() throws {
        func split(_ rx: String) -> [String: Any] {
            ["type": "Split", "pattern": ["Regex": rx], "behavior": "Isolated", "invert": false]
        }
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false]
        let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let variants: [(Any, PreTokenizer)] = [
            (["type": "Sequence", "pretokenizers": [split(llama3), byteLevel]], .llama3),
            (["type": "ByteLevel", "add_prefix_space": false, "use_regex": true], .gpt2),
            (["type": "Sequence", "pretokenizers": [split(#"\p{N}"#), split(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#), byteLevel]], .smollm),
            (["type": "Whitespace"], .gpt2),
            (NSNull(), .gpt2),
        ]
        for (node, expected) in variants {
            let path = try tinyVariant { $0["pre_tokenizer"] = node }
            #expect(try BPETokenizer.fromHuggingFace(path: path).preTokenizer == expected)
        }
        let withBOS = try tinyVariant {
            $0["post_processor"] = ["type": "TemplateProcessing",
                                    "single": [["SpecialToken": ["id": "<|endoftext|>", "type_id": 0]],
                                               ["Sequence": ["id": "A", "type_id": 0]]]]
        }
        let tok = try BPETokenizer.fromHuggingFace(path: withBOS)
        #expect(tok.addsBOS && tok.bosId == 0)
        #expect(tok.encode("hello") == [0, 12])
        #expect(try BPETokenizer.fromHuggingFace(path: Self.tiny, pre: "gpt2").preTokenizer == .gpt2)
    }

    @Test func malformedFilesNameTheFileAndField() throws {
        let broken = try temp(#"{"model": {"type": "BPE", "vocab": {"a": 0"#)
        let noVocab = try tinyVariant { $0["model"] = ["type": "BPE", "merges": []] }
        let badMerge = try tinyVariant {
            var m = $0["model"] as? [String: Any] ?? [:]
            m["merges"] = ["h e", "x y"]
            $0["model"] = m
        }
        let hole = try tinyVariant {
            var m = $0["model"] as? [String: Any] ?? [:]
            m["vocab"] = ["<|endoftext|>": 0, "a": 1, "b": 3]
            m["merges"] = []
            $0["model"] = m
        }
        let cases: [(String, String)] = [
            (broken, "not valid JSON"), (noVocab, "model.vocab"), (badMerge, "\"x\", which is not in the vocabulary"),
            (hole, "id 2 has no token"), ("/nonexistent/tokenizer.json", "cannot read"),
        ]
        for (path, expected) in cases {
            do {
                _ = try BPETokenizer.fromHuggingFace(path: path)
                Issue.record("\(path) loaded; expected an error containing \(expected)")
            } catch let e as TokenizerError {
                #expect(e.file == path, "\(e)")
                #expect(e.message.contains(expected), "\(e)")
            }
        }
    }
}
