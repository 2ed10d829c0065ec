// The embedded tiny model (Data/tiny): loads by name, matches the numpy reference's logits, and
// is a real language model (its byte perplexity on held-out prose is far below uniform).
import Foundation
import Testing
@testable import QATModel
import QATTensor
import QATTokenizer

@Suite struct TinyModelTests {
    @Test func logitsMatchTheNumpyReference() throws {
        let golden = try readJSON(goldenURL("logits_tiny.json"))
        let ids = (golden["ids"] as? [Int] ?? []).map(Int32.init)
        let ref = try readFloats(goldenURL("logits_tiny.f32"))
        let loaded = try ModelLoader.load("tiny")
        #expect(loaded.tokenizer is ByteTokenizer && loaded.model.config.layerCount == 4)
        let logits = try loaded.model.logits(ids)
        #expect(ref.count == logits.count)
        var worst: Float = 0
        for i in 0..<min(ref.count, logits.count) { worst = max(worst, abs(logits.data[i] - ref[i])) }
        #expect(worst <= logitsBudget, "max abs logit difference \(worst)")
        #expect(try logits.argmax(axis: 1) == (golden["argmax"] as? [Int] ?? []))
    }

    @Test func perplexityOnHeldOutProseIsFarBelowUniform() throws {
        let loaded = try ModelLoader.load("tiny")
        let text = try TextCorpus.load("gnu-standards")
        let tokens = loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
        #expect(tokens.first == ByteTokenizer.bos)
        let r = try loaded.model.perplexity(tokens: tokens, ctx: 128, maxWindows: 16)
        #expect(r.windows == 16 && r.scoredTokens == 16 * 127)
        #expect(r.perplexity > 2 && r.perplexity < 20, "tiny ppl \(r.perplexity) (uniform would be 258)")
        // the same windows scored one by one give the same mean NLL
        var total = 0.0
        for w in 0..<16 { total += try loaded.model.windowNLL(Array(tokens[(w * 128)..<((w + 1) * 128)])) }
        #expect(abs(total / Double(16 * 127) - r.meanNLL) < 1e-9)
    }

    @Test func perplexityArgumentErrors() throws {
        let m = try ModelLoader.load("tiny").model
        #expect(throws: TensorError.self) { try m.perplexity(tokens: [1, 2, 3], ctx: 8) }
        #expect(throws: TensorError.self) { try m.perplexity(tokens: [1, 2, 3, 999], ctx: 2) }
        #expect(throws: TensorError.self) { try m.perplexity(tokens: [1, 2, 3, 4], ctx: 1) }
    }
}
