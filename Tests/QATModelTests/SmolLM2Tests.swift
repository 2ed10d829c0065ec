// The real default model against the independent numpy reference (Tests/Oracles/llama_golden.py)
// and the tokenizer's golden ids (Tests/Oracles/tokenizer_golden.py).
import Foundation
import Testing
@testable import QATModel
import QATTensor
import QATTokenizer

/// Logits budget of the issue: max |ours - reference| over every position and vocabulary entry.
let logitsBudget: Float = 1e-3

@Suite(.serialized) struct SmolLM2Tests {
    @Test func logitsMatchTheNumpyReference() throws {
        let golden = try readJSON(goldenURL("logits_smollm2.json"))
        let ids = (golden["ids"] as? [Int] ?? []).map(Int32.init)
        let argmax = golden["argmax"] as? [Int] ?? []
        let ref = try readFloats(goldenURL("logits_smollm2.f32"))
        let m = try SmolLM2.load().model
        let logits = try m.logits(ids)
        #expect(logits.shape == [ids.count, m.vocabSize] && ref.count == logits.count)
        var worst: Float = 0
        for i in 0..<min(ref.count, logits.count) { worst = max(worst, abs(logits.data[i] - ref[i])) }
        #expect(worst <= logitsBudget, "max abs logit difference \(worst)")
        #expect(try logits.argmax(axis: 1) == argmax)
        // the mean next-token NLL of the prompt, as perplexity computes it (an NLL moves at most
        // as much as the logits do, so the logits budget bounds it)
        let nll = try m.windowNLL(ids) / Double(ids.count - 1)
        #expect(abs(nll - (golden["next_token_nll_mean"] as? Double ?? 0)) < Double(logitsBudget))
    }

    @Test func tokenizerFromGGUFMatchesTheGoldenIds() throws {
        let tok = try SmolLM2.load().tokenizer
        let url = testsDirectory.appendingPathComponent("QATTokenizerTests/Golden/smollm2_golden.json")
        let cases = try readJSON(url)["cases"] as? [[String: Any]] ?? []
        #expect(cases.count > 40)
        for c in cases {
            let text = c["text"] as? String ?? ""
            #expect(tok.encode(text, addSpecial: true, parseSpecial: true).map(Int.init) == (c["ids"] as? [Int] ?? [-1]), "\(text.debugDescription)")
            #expect(tok.encode(text, addSpecial: true, parseSpecial: false).map(Int.init) == (c["ids_no_special"] as? [Int] ?? [-1]), "\(text.debugDescription)")
        }
        #expect(tok.encode("The capital of France is", addSpecial: true, parseSpecial: true) == [504, 3575, 282, 4649, 314])
    }

    @Test func greedyContinuationOfTheCapitalOfFrance() throws {
        let loaded = try SmolLM2.load()
        let ids = loaded.tokenizer.encode("The capital of France is", addSpecial: true, parseSpecial: true)
        let new = try loaded.model.generate(prompt: ids, maxTokens: 1, eos: loaded.tokenizer.eosId).tokens
        #expect(loaded.tokenizer.decode(new) == " Paris")
    }

    @Test func configFromGGUFMetadata() throws {
        let m = try SmolLM2.load().model
        #expect(m.config.layerCount == 30 && m.config.hiddenSize == 576 && m.config.headCount == 9 && m.config.kvHeadCount == 3)
        #expect(m.config.intermediateSize == 1536 && m.config.vocabSize == 49152 && m.config.ropeTheta == 100_000)
        #expect(m.config.tieWordEmbeddings && m.lmHead == nil && m.blockShape.ropeLayout == .interleaved)
        #expect(m.parameterCount == 134_515_008)
    }
}
