// The slab causal attention (FlashAttention.swift) against the untiled reference kernels
// (attentionForwardReference / attentionBackwardReference) and the Double-loop oracle, at
// sequence lengths below, at, between and above multiples of the tile.
import Testing
@testable import QATTensor

/// Budget of the tiled kernels against the untiled ones (both Float32, summing in different
/// orders, so they differ by rounding only).
let flashBudget: Float = 2e-5

struct AttentionCase: Sendable, CustomStringConvertible {
    let t: Int, hq: Int, hkv: Int, d: Int
    var description: String { "T=\(t) Hq=\(hq) Hkv=\(hkv) D=\(d)" }
}

let attentionCases: [AttentionCase] = [
    AttentionCase(t: 1, hq: 3, hkv: 1, d: 16), AttentionCase(t: 7, hq: 4, hkv: 4, d: 8),
    AttentionCase(t: flashTile, hq: 2, hkv: 1, d: 16), AttentionCase(t: flashTile + 1, hq: 9, hkv: 3, d: 16),
    AttentionCase(t: 2 * flashTile + 37, hq: 6, hkv: 2, d: 32), AttentionCase(t: 3 * flashTile, hq: 3, hkv: 3, d: 64),
]

@Suite struct FlashAttentionTests {
    @Test(arguments: attentionCases)
    func forwardMatchesUntiledReference(c: AttentionCase) throws {
        let s = AttentionShape(b: 2, t: c.t, hq: c.hq, hkv: c.hkv, d: c.d)
        let q = randn([2, c.t, c.hq, c.d], 31), k = randn([2, c.t, c.hkv, c.d], 32), v = randn([2, c.t, c.hkv, c.d], 33)
        let flash = Tensor(zeros: q.shape), lse = Tensor(zeros: [2, c.hq, c.t])
        flashAttentionForward(s, q: q.data, k: k.data, v: v.data, out: flash.data, lse: lse.data)
        let untiled = Tensor(zeros: q.shape), probs = Tensor(zeros: [2, c.hq, c.t, c.t])
        attentionForwardReference(s, q: q.data, k: k.data, v: v.data, out: untiled.data, probs: probs.data)
        #expect(flash.maxAbsDifference(untiled) < flashBudget)
        let exact = Tensor(zeros: q.shape)
        attentionReference(s, q: q.data, k: k.data, v: v.data, out: exact.data)
        #expect(flash.maxAbsDifference(exact) < attentionBudget)
        // lse of row i of head h is log sum_j exp(s_ij): recompute it in Double for a few rows
        for (bi, h, i) in [(0, 0, 0), (1, c.hq - 1, c.t - 1), (0, c.hq / 2, c.t / 2)] {
            var m = -Double.infinity, scores: [Double] = []
            for j in 0...i {
                var dot = 0.0
                for e in 0..<c.d {
                    dot += Double(q.data[((bi * c.t + i) * c.hq + h) * c.d + e]) * Double(k.data[((bi * c.t + j) * c.hkv + h / (c.hq / c.hkv)) * c.d + e])
                }
                scores.append(dot / Double(c.d).squareRoot()); m = max(m, scores[j])
            }
            let expected = m + qlogD(scores.reduce(0) { $0 + qexpD($1 - m) })
            #expect(abs(Double(lse.data[(bi * c.hq + h) * c.t + i]) - expected) < 1e-4)
        }
    }

    @Test(arguments: attentionCases)
    func backwardMatchesUntiledReference(c: AttentionCase) throws {
        let s = AttentionShape(b: 2, t: c.t, hq: c.hq, hkv: c.hkv, d: c.d)
        let q = randn([2, c.t, c.hq, c.d], 41), k = randn([2, c.t, c.hkv, c.d], 42), v = randn([2, c.t, c.hkv, c.d], 43)
        let dout = randn(q.shape, 44)
        let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [2, c.hq, c.t])
        flashAttentionForward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data)
        let refOut = Tensor(zeros: q.shape), probs = Tensor(zeros: [2, c.hq, c.t, c.t])
        attentionForwardReference(s, q: q.data, k: k.data, v: v.data, out: refOut.data, probs: probs.data)
        // both accumulate (+=) into gradients that already hold something
        let dq = randn(q.shape, 45), dk = randn(k.shape, 46), dv = randn(v.shape, 47)
        let rdq = dq.copy(), rdk = dk.copy(), rdv = dv.copy()
        flashAttentionBackward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, dout: dout.data,
                               dq: dq.data, dk: dk.data, dv: dv.data)
        attentionBackwardReference(s, q: q.data, k: k.data, v: v.data, probs: probs.data, dout: dout.data,
                                   dq: rdq.data, dk: rdk.data, dv: rdv.data)
        #expect(maxRelError(dq.data, rdq.data, dq.count) < 1e-4)
        #expect(maxRelError(dk.data, rdk.data, dk.count) < 1e-4)
        #expect(maxRelError(dv.data, rdv.data, dv.count) < 1e-4)
    }

    /// Each gradient asked alone has the bits it has when all three are asked.
    @Test func backwardSkipsGradientsNotAsked() throws {
        let c = AttentionCase(t: flashTile + 5, hq: 4, hkv: 2, d: 8)
        let s = AttentionShape(b: 1, t: c.t, hq: c.hq, hkv: c.hkv, d: c.d)
        let q = randn([1, c.t, c.hq, c.d], 51), k = randn([1, c.t, c.hkv, c.d], 52), v = randn([1, c.t, c.hkv, c.d], 53)
        let dout = randn(q.shape, 54), out = Tensor(zeros: q.shape), lse = Tensor(zeros: [1, c.hq, c.t])
        flashAttentionForward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data)
        let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        flashAttentionBackward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, dout: dout.data,
                               dq: dq.data, dk: dk.data, dv: dv.data)
        let onlyDq = Tensor(zeros: q.shape), onlyDk = Tensor(zeros: k.shape), onlyDv = Tensor(zeros: v.shape)
        flashAttentionBackward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, dout: dout.data,
                               dq: onlyDq.data, dk: nil, dv: nil)
        flashAttentionBackward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, dout: dout.data,
                               dq: nil, dk: onlyDk.data, dv: nil)
        flashAttentionBackward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, dout: dout.data,
                               dq: nil, dk: nil, dv: onlyDv.data)
        #expect(dq.toArray() == onlyDq.toArray())
        #expect(dk.toArray() == onlyDk.toArray())
        #expect(dv.toArray() == onlyDv.toArray())
    }

    /// Backward's key partials in waves of one kv head (a budget too small for two) give the
    /// bits of a single wave, and both match the untiled reference.
    @Test func backwardInWavesHasTheSameBits() throws {
        let c = AttentionCase(t: 2 * flashTile + 11, hq: 6, hkv: 3, d: 16)
        let s = AttentionShape(b: 2, t: c.t, hq: c.hq, hkv: c.hkv, d: c.d)
        let q = randn([2, c.t, c.hq, c.d], 55), k = randn([2, c.t, c.hkv, c.d], 56), v = randn([2, c.t, c.hkv, c.d], 57)
        let dout = randn(q.shape, 58), out = Tensor(zeros: q.shape), lse = Tensor(zeros: [2, c.hq, c.t])
        flashAttentionForward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data)
        func run(budget: Int) -> (Tensor, Tensor, Tensor) {
            let dq = randn(q.shape, 59), dk = randn(k.shape, 60), dv = randn(v.shape, 61)
            flashAttentionBackward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, dout: dout.data,
                                   dq: dq.data, dk: dk.data, dv: dv.data, partialBudget: budget)
            return (dq, dk, dv)
        }
        let (dq1, dk1, dv1) = run(budget: 1), (dq, dk, dv) = run(budget: attentionPartialBudget)
        #expect(dq1.toArray() == dq.toArray() && dk1.toArray() == dk.toArray() && dv1.toArray() == dv.toArray())
        let probs = Tensor(zeros: [2, c.hq, c.t, c.t]), refOut = Tensor(zeros: q.shape)
        attentionForwardReference(s, q: q.data, k: k.data, v: v.data, out: refOut.data, probs: probs.data)
        let rdq = randn(q.shape, 59), rdk = randn(k.shape, 60), rdv = randn(v.shape, 61)
        attentionBackwardReference(s, q: q.data, k: k.data, v: v.data, probs: probs.data, dout: dout.data,
                                   dq: rdq.data, dk: rdk.data, dv: rdv.data)
        #expect(maxRelError(dk1.data, rdk.data, dk.count) < 1e-4 && maxRelError(dv1.data, rdv.data, dv.count) < 1e-4)
        #expect(maxRelError(dq1.data, rdq.data, dq.count) < 1e-4)
    }

    @Test func sameBitsOnOneAndTwoThreads() throws {
        let c = AttentionCase(t: 2 * flashTile + 3, hq: 6, hkv: 2, d: 16)
        let s = AttentionShape(b: 2, t: c.t, hq: c.hq, hkv: c.hkv, d: c.d)
        let q = randn([2, c.t, c.hq, c.d], 61), k = randn([2, c.t, c.hkv, c.d], 62), v = randn([2, c.t, c.hkv, c.d], 63)
        let dout = randn(q.shape, 64)
        func run(threads: Int) -> [Float] {
            let before = Threads.count
            Threads.set(threads)
            defer { Threads.set(before) }
            let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [2, c.hq, c.t])
            flashAttentionForward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data)
            let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
            flashAttentionBackward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, dout: dout.data,
                                   dq: dq.data, dk: dk.data, dv: dv.data)
            return out.toArray() + dq.toArray() + dk.toArray() + dv.toArray()
        }
        #expect(run(threads: 1) == run(threads: 2))
    }
}
