// The hand-written pre-tokenizer matchers against the Hugging Face `tokenizers` regex reference
// (Split "isolated" with llama.cpp's regex lists), for gpt2, smollm, llama3, qwen2 and default.
import Foundation
import QATTokenizer
import Testing

@Suite struct PreTokenizerTests {
    @Test func splitsMatchRegexReference() throws {
        let g = try Fixtures.json("pretokenizer_golden.json")
        let cases = g["cases"] as? [[String: Any]] ?? []
        #expect(cases.count >= 250)
        for c in cases {
            let name = c["pre"] as? String ?? "?"
            let text = c["text"] as? String ?? ""
            let pre = try #require(PreTokenizer(rawValue: name))
            #expect(pre.split(text) == (c["pieces"] as? [String] ?? []), "\(name): \(text.debugDescription)")
        }
    }

    @Test func namesAndErrors() throws {
        #expect(try PreTokenizer(ggufName: "smollm") == .smollm)
        #expect(try PreTokenizer(ggufName: "llama-bpe") == .llama3)
        #expect(try PreTokenizer(ggufName: "gpt-2") == .gpt2)
        #expect(try PreTokenizer(ggufName: "") == .default)
        #expect(PreTokenizer.llama3.ignoresMerges && !PreTokenizer.smollm.ignoresMerges)
        do {
            _ = try PreTokenizer(ggufName: "tekken", source: "m.gguf")
            Issue.record("tekken is not supported and must throw")
        } catch let e as TokenizerError {
            #expect(e.file == "m.gguf" && e.message.contains("qwen2") && e.message.contains("tekken"))
        }
    }

    @Test func documentedExamples() {
        #expect(PreTokenizer.smollm.split("a 12") == ["a", " ", "1", "2"])
        #expect(PreTokenizer.gpt2.split("a   b  ") == ["a", "  ", " b", "  "])
        #expect(PreTokenizer.llama3.split("12345 x\n\n y") == ["123", "45", " x", "\n\n", " y"])
        #expect(PreTokenizer.qwen2.split("123") == ["1", "2", "3"])
        #expect(PreTokenizer.default.split("a+b 12345") == ["a", "+", "b", " ", "123", "45"])
    }

    /// llama.cpp's category table is Unicode 15.1: later assignments are "other", not letters.
    @Test func unicodeVersionFollowsLlamaCpp() {
        #expect(PreTokenizer.gpt2.split("a\u{2EBF0}") == ["a\u{2EBF0}"])            // CJK Ext. I (15.1): letter
        #expect(PreTokenizer.gpt2.split("a\u{323B0}") == ["a", "\u{323B0}"])        // CJK Ext. J (17.0): other
        #expect(PreTokenizer.gpt2.split(" \u{2550}\u{139E7}") == [" \u{2550}\u{139E7}"])  // Egyptian Ext. A (16.0)
    }
}
