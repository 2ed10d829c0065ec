// Attention of new query rows over a KV cache: the decoding step of generation (inference only,
// no backward).
//   q:    (T, Hq, D)         the new rows, at positions past ..< past+T
//   k, v: (capacity, Hkv, D) the cache; rows 0 ..< past+T are filled (the new rows included)
//   out:  (T, Hq, D)
// Row i attends keys 0 ... past+i (causal), scores scaled by 1/sqrt(D); query head h reads kv
// head h / (Hq/Hkv). Each (row, head) pair is independent and written by one thread, so the bits
// do not depend on the thread count. With past = 0 this is ordinary causal attention, which is
// how the tests compare it with attentionReference.

public struct CachedAttentionShape: Sendable, Equatable {
    /// New rows, cached rows before them, query heads, kv heads, head dim.
    public let t: Int, past: Int, hq: Int, hkv: Int, d: Int

    public init(t: Int, past: Int, hq: Int, hkv: Int, d: Int) throws {
        guard t > 0, past >= 0, d > 0, hkv > 0, hq > 0, hq % hkv == 0 else {
            throw TensorError.invalidArgument(op: "cached attention",
                message: "t=\(t) past=\(past) hq=\(hq) hkv=\(hkv) d=\(d): expected t > 0, past >= 0, d > 0 and hq a multiple of hkv")
        }
        self.t = t; self.past = past; self.hq = hq; self.hkv = hkv; self.d = d
    }

    var group: Int { hq / hkv }
    var keys: Int { past + t }
}

/// out (T, Hq, D) = softmax(q k^T / sqrt(D)) v over the cached rows; see the header.
public func cachedAttentionForward(_ s: CachedAttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                   v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
    let d = s.d, scale = 1 / Float(d).squareRoot()
    parallelFor(s.t * s.hq, costPerItem: 2 * s.keys * d) { items in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: s.keys)   // (keys): one row's weights
        defer { scores.deallocate() }
        for item in items {
            let i = item / s.hq, h = item % s.hq, kvh = h / s.group
            let qr = q + (i * s.hq + h) * d, or = out + (i * s.hq + h) * d
            let visible = s.past + i + 1
            var m = -Float.infinity
            for j in 0..<visible {
                let dot = wideDot(qr, k + (j * s.hkv + kvh) * d, d) * scale
                scores[j] = dot; m = max(m, dot)
            }
            var sum: Float = 0
            fastExpShifted(scores, scores, count: visible, shift: m)   // eight lanes; the sum stays left to right
            for j in 0..<visible { sum += scores[j] }
            let inv = 1 / sum
            for e in 0..<d { or[e] = 0 }
            for j in 0..<visible {
                let p = scores[j] * inv, vr = v + (j * s.hkv + kvh) * d
                for e in 0..<d { or[e] += p * vr[e] }
            }
        }
    }
}
