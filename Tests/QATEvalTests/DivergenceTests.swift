// KL to the full-precision model: zero against itself, growing as the bits shrink.
import Foundation
import QATModel
import QATQuant
import QATTensor
import Testing
@testable import QATEval

@Suite struct DivergenceTests {
    func stream() throws -> [Int32] {
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. Fortune favours the bold. ", count: 20)
        return try tiny().tokenizer.encode(text, addSpecial: true, parseSpecial: false)
    }

    @Test func modelAgainstItselfIsZero() throws {
        let m = try tiny().model
        let r = try Divergence.measure(model: m, reference: m, tokens: try stream(), ctx: 128, maxWindows: 4)
        #expect(r.meanKL == 0 && r.p99KL == 0 && r.top1Agreement == 1)
        #expect(r.modelNLL == r.referenceNLL && r.tokens == 4 * 127)
        // the NLL is the one `ppl` reports
        let ppl = try m.perplexity(tokens: try stream(), ctx: 128, maxWindows: 4)
        #expect(abs(r.modelPerplexity - ppl.perplexity) < 1e-3 * ppl.perplexity)
    }

    @Test func divergenceGrowsAsBitsShrink() throws {
        let reference = try tiny().model
        var kls: [Double] = [], agreement: [Double] = []
        for bits in [8, 4, 2] {
            let q = try ModelLoader.load("tiny").model
            try QuantPolicy(try QuantSpec(bits: bits, groupSize: 32)).apply(to: q, mode: .hard)
            let r = try Divergence.measure(model: q, reference: reference, tokens: try stream(), ctx: 128, maxWindows: 4)
            kls.append(r.meanKL); agreement.append(r.top1Agreement)
            #expect(r.p99KL >= r.meanKL && r.maxKL >= r.p99KL)
        }
        #expect(kls[0] > 0 && kls[0] < kls[1] && kls[1] < kls[2], "KL w8, w4, w2: \(kls)")
        #expect(agreement[0] > agreement[2], "top-1 agreement w8, w4, w2: \(agreement)")
    }

    @Test func percentileInterpolatesAsNumpy() {
        #expect(Divergence.percentile([0, 1, 2, 3, 4], 0.99) == 3.96)
        #expect(Divergence.percentile([5], 0.99) == 5)
    }
}
