// BPETokenizer against SmolLM2's real vocabulary: ids equal to the Hugging Face `tokenizers`
// reference (Tests/Oracles/tokenizer_golden.py) for every golden string, with and without
// special-token parsing; exact round trips; the heap merge equal to the reference merge.
import Foundation
import QATTokenizer
import Testing

@Suite struct BPETokenizerTests {
    @Test func goldenIdsMatchReference() throws {
        let tok = try Fixtures.smol.get()
        let cases = try Fixtures.cases.get()
        #expect(cases.count >= 50)
        for c in cases {
            #expect(tok.encode(c.text) == c.ids, "text: \(c.text.debugDescription)")
        }
    }

    @Test func goldenIdsWithoutSpecialParsing() throws {
        let tok = try Fixtures.smol.get()
        for c in try Fixtures.cases.get() {
            #expect(tok.encode(c.text, addSpecial: true, parseSpecial: false) == c.idsNoSpecial,
                    "text: \(c.text.debugDescription)")
        }
    }

    @Test func smolLM2Configuration() throws {
        let tok = try Fixtures.smol.get()
        #expect(tok.vocabSize == 49152)
        #expect(tok.preTokenizer == .smollm)
        #expect(tok.bosId == 1 && tok.eosId == 2 && !tok.addsBOS && !tok.addsEOS)
        #expect(tok.encode("<|im_start|>user\nHi<|im_end|>").first == 1)
        #expect(tok.tokenType(1) == .control && tok.tokenType(100) == .normal)
        #expect(tok.encode("") == [])
    }

    @Test func roundTripGoldenAndRandom() throws {
        let tok = try Fixtures.smol.get()
        var texts = try Fixtures.cases.get().map(\.text)
        var rng = SeededRNG(seed: 42)
        for _ in 0..<300 { texts.append(randomText(&rng)) }
        for text in texts {
            for parse in [true, false] {
                let back = tok.decode(tok.encode(text, addSpecial: true, parseSpecial: parse))
                #expect(Array(back.utf8) == Array(text.utf8), "text: \(text.debugDescription)")
            }
        }
    }

    @Test func heapMergeEqualsLinearMerge() throws {
        let tok = try Fixtures.smol.get()
        var rng = SeededRNG(seed: 7)
        var words: [[UInt8]] = try Fixtures.cases.get().map { Array($0.text.utf8) }
        for _ in 0..<200 { words.append(Array(randomText(&rng, maxLength: 120).utf8)) }
        words.append(Array(String(repeating: "!", count: 300).utf8))
        words.append(Array(String(repeating: " ", count: 257).utf8))
        for w in words {
            #expect(tok.mergeWord(w, useHeap: true) == tok.mergeWord(w, useHeap: false), "bytes: \(w)")
        }
        // a long pre-token goes through the heap inside encode
        let long = String(repeating: "-", count: 200)
        #expect(tok.encode(long) == tok.mergeWord(Array(long.utf8), useHeap: false))
    }

    @Test func piecesAndDecodeEdges() throws {
        let tok = try Fixtures.smol.get()
        let hello = tok.encode(" Hello")
        #expect(hello.count == 1)
        #expect(tok.tokenPiece(hello[0]) == " Hello")
        #expect(tok.tokenText(hello[0]) == "ĠHello")
        #expect(tok.tokenPiece(2) == "<|im_end|>")
        #expect(tok.tokenPiece(-1) == "" && tok.tokenPiece(49152) == "")
        // out-of-range ids are skipped; half a multi-byte character becomes U+FFFD
        #expect(tok.decode([-5, hello[0], 1_000_000]) == " Hello")
        let snake = tok.encode("🙂")
        #expect(snake.count > 1)
        #expect(tok.decode(Array(snake.dropLast())).unicodeScalars.last == "\u{FFFD}")
    }

    @Test func invalidVocabularies() {
        func make(tokens: [String] = ["a", "b", "ab"], types: [Int32] = [], merges: [String] = ["a b"],
                  pre: String = "gpt2", bos: Int32? = nil, addBOS: Bool = false) throws -> BPETokenizer {
            try BPETokenizer(tokens: tokens, tokenTypes: types, merges: merges, pre: pre,
                             bosId: bos, eosId: nil, addBOS: addBOS, source: "test.gguf")
        }
        #expect(throws: Never.self) { try make() }
        let cases: [(String, () throws -> BPETokenizer)] = [
            ("smollm", { try make(pre: "no-such-pre") }),
            ("twice", { try make(tokens: ["a", "b", "a"]) }),
            ("counts", { try make(types: [1]) }),
            ("not in the vocabulary", { try make(merges: ["a c"]) }),
            ("not \"left right\"", { try make(merges: ["ab"]) }),
            ("outside", { try make(bos: 7) }),
            ("bos_token_id is not set", { try make(addBOS: true) }),
        ]
        for (expected, build) in cases {
            do {
                _ = try build()
                Issue.record("expected an error containing \(expected)")
            } catch let e as TokenizerError {
                #expect(e.file == "test.gguf")
                #expect(e.message.contains(expected), "\(e)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}
