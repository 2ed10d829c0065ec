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

    // The reference-logits cache: bit-identical results, a changed weight misses, quantized
    // references are never kept, and the byte cap evicts the oldest windows.
    @Test func cachedReferenceGivesBitIdenticalResults() throws {
        let reference = try ModelLoader.load("tiny").model
        let q = try ModelLoader.load("tiny").model
        try QuantPolicy(try QuantSpec(bits: 3, groupSize: 32)).apply(to: q, mode: .hard)
        let cache = ReferenceLogitsCache(capacityBytes: 1 << 30)
        let plain = try Divergence.measure(model: q, reference: reference, tokens: try stream(), ctx: 128, maxWindows: 4, cache: ReferenceLogitsCache(capacityBytes: 0))
        let filling = try Divergence.measure(model: q, reference: reference, tokens: try stream(), ctx: 128, maxWindows: 4, cache: cache)
        let hitting = try Divergence.measure(model: q, reference: reference, tokens: try stream(), ctx: 128, maxWindows: 4, cache: cache)
        #expect(cache.misses == 4 && cache.hits == 4 && cache.windows == 4)
        for r in [filling, hitting] {
            #expect(r.meanKL == plain.meanKL && r.p99KL == plain.p99KL && r.maxKL == plain.maxKL)
            #expect(r.top1Agreement == plain.top1Agreement && r.modelNLL == plain.modelNLL && r.referenceNLL == plain.referenceNLL)
        }
        // one changed weight: a new fingerprint, so the reference runs again and the KL moves
        let before = ReferenceLogitsCache.fingerprint(reference)
        reference.blocks[0].q.weight.value[flat: 0] += 0.5
        #expect(ReferenceLogitsCache.fingerprint(reference) != before)
        let changed = try Divergence.measure(model: q, reference: reference, tokens: try stream(), ctx: 128, maxWindows: 4, cache: cache)
        #expect(cache.misses == 8 && cache.hits == 4)
        #expect(changed.referenceNLL != plain.referenceNLL)
    }

    @Test func quantizedReferenceIsNotCached() throws {
        let m = try tiny().model
        let q = try ModelLoader.load("tiny").model
        try QuantPolicy(try QuantSpec(bits: 4, groupSize: 32)).apply(to: q, mode: .fake)
        #expect(ReferenceLogitsCache.fingerprint(q) == nil && ReferenceLogitsCache.fingerprint(m) != nil)
        let cache = ReferenceLogitsCache(capacityBytes: 1 << 30)
        _ = try Divergence.measure(model: m, reference: q, tokens: try stream(), ctx: 128, maxWindows: 2, cache: cache)
        #expect(cache.windows == 0 && cache.hits == 0 && cache.misses == 0)
    }

    @Test func fullCacheKeepsItsFirstWindowsAndMakesRoomForANewReference() throws {
        let m = try tiny().model
        let window = 128 * m.vocabSize * MemoryLayout<Float>.stride
        let cache = ReferenceLogitsCache(capacityBytes: 2 * window + window / 2)
        _ = try Divergence.measure(model: m, reference: m, tokens: try stream(), ctx: 128, maxWindows: 4, cache: cache)
        #expect(cache.windows == 2 && cache.bytes == 2 * window && cache.misses == 4)
        // the first two windows stayed: a second scan of four hits them and misses the rest
        _ = try Divergence.measure(model: m, reference: m, tokens: try stream(), ctx: 128, maxWindows: 4, cache: cache)
        #expect(cache.hits == 2 && cache.misses == 6 && cache.windows == 2)
        // another reference pushes the first one's windows out, oldest first
        let other = try ModelLoader.load("tiny").model
        other.finalNorm.value[flat: 0] += 0.25
        _ = try Divergence.measure(model: m, reference: other, tokens: try stream(), ctx: 128, maxWindows: 1, cache: cache)
        #expect(cache.windows == 2 && cache.misses == 7)
        _ = try Divergence.measure(model: m, reference: m, tokens: try stream(), ctx: 128, maxWindows: 2, cache: cache)
        #expect(cache.hits == 3 && cache.misses == 8, "window 1 was pushed out (and comes back), window 2 stayed")
        let none = ReferenceLogitsCache(capacityBytes: 0)
        _ = try Divergence.measure(model: m, reference: m, tokens: try stream(), ctx: 128, maxWindows: 2, cache: none)
        #expect(none.windows == 0 && none.misses == 0)
    }

    @Test func percentileInterpolatesAsNumpy() {
        #expect(Divergence.percentile([0, 1, 2, 3, 4], 0.99) == 3.96)
        #expect(Divergence.percentile([5], 0.99) == 5)
    }
}
