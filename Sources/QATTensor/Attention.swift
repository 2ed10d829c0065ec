// Causal self-attention with grouped-query heads: the shape, and the plain reference kernels
// that the tiled kernels (FlashAttention.swift, what the model runs) are tested against.
//   q: (B, T, Hq, D)   k, v: (B, T, Hkv, D), Hq a multiple of Hkv (query head h reads kv head h / (Hq/Hkv))
//   out: (B, T, Hq, D)   probs: (B, Hq, T, T) saved by the reference forward for its backward (zero above the diagonal)
// Per (batch, head): S = Q K^T / sqrt(D), P = causal softmax(S), O = P V.
// Backward: dP = dO V^T; dV += P^T dO; dS = P * (dP - rowsum(dP * P)) / sqrt(D); dQ += dS K; dK += dS^T Q.
// Q, K, V of one head are strided views of the (B, T, H, D) tensors: the sgemm leading dimension
// is H*D, so no head is ever copied out.

public struct AttentionShape: Sendable, Equatable {
    public let b: Int, t: Int, hq: Int, hkv: Int, d: Int
    public init(b: Int, t: Int, hq: Int, hkv: Int, d: Int) { self.b = b; self.t = t; self.hq = hq; self.hkv = hkv; self.d = d }

    public init(q: [Int], k: [Int], v: [Int]) throws {
        guard q.count == 4, k.count == 4, k == v, q[0] == k[0], q[1] == k[1], q[3] == k[3] else {
            throw TensorError.shapeMismatch(op: "attention", lhs: q, rhs: k, hint: "q is (B,T,Hq,D), k and v are (B,T,Hkv,D) with the same B, T, D")
        }
        guard k[2] > 0, q[2] % k[2] == 0 else {
            throw TensorError.shapeMismatch(op: "attention", lhs: q, rhs: k, hint: "query heads (\(q[2])) must be a multiple of kv heads (\(k[2]))")
        }
        self.init(b: q[0], t: q[1], hq: q[2], hkv: k[2], d: q[3])
    }
    var scale: Float { 1 / Float(d).squareRoot() }
    var group: Int { hq / hkv }
    func qOffset(_ bi: Int, _ h: Int) -> Int { bi * t * hq * d + h * d }
    func kvOffset(_ bi: Int, _ h: Int) -> Int { bi * t * hkv * d + (h / group) * d }
    func pOffset(_ bi: Int, _ h: Int) -> Int { (bi * hq + h) * t * t }
}

// out: (B,T,Hq,D), probs: (B,Hq,T,T). The untiled reference: full T x T scores per head.
public func attentionForwardReference(_ s: AttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                             out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>) {
    let t = s.t, d = s.d
    for bi in 0..<s.b {
        for h in 0..<s.hq {
            let p = probs + s.pOffset(bi, h)
            sgemm(transA: false, transB: true, m: t, n: t, k: d, alpha: s.scale,
                  a: q + s.qOffset(bi, h), lda: s.hq * d, b: k + s.kvOffset(bi, h), ldb: s.hkv * d, c: p, ldc: t)
        }
    }
    // causal softmax of every row of every head
    parallelFor(s.b * s.hq * t, costPerItem: t) { range in
        for row in range {
            let i = row % t, pr = probs + row * t
            softmaxRow(pr, pr, i + 1)
            for j in (i + 1)..<t { pr[j] = 0 }
        }
    }
    for bi in 0..<s.b {
        for h in 0..<s.hq {
            sgemm(transA: false, transB: false, m: t, n: d, k: t,
                  a: probs + s.pOffset(bi, h), lda: t, b: v + s.kvOffset(bi, h), ldb: s.hkv * d,
                  c: out + s.qOffset(bi, h), ldc: s.hq * d)
        }
    }
}

/// Accumulates dq, dk, dv (any may be nil) from dout: the untiled reference backward.
public func attentionBackwardReference(_ s: AttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                              probs: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                              dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?) {
    let t = s.t, d = s.d
    let ds = UnsafeMutablePointer<Float>.allocate(capacity: t * t)   // (T, T) scratch, reused per head
    defer { ds.deallocate() }
    for bi in 0..<s.b {
        for h in 0..<s.hq {
            let p = probs + s.pOffset(bi, h), dO = dout + s.qOffset(bi, h)
            let kvOff = s.kvOffset(bi, h), qOff = s.qOffset(bi, h)
            if let dv {
                sgemm(transA: true, transB: false, m: t, n: d, k: t, a: p, lda: t, b: dO, ldb: s.hq * d,
                      beta: 1, c: dv + kvOff, ldc: s.hkv * d)
            }
            if dq == nil && dk == nil { continue }
            sgemm(transA: false, transB: true, m: t, n: t, k: d, a: dO, lda: s.hq * d, b: v + kvOff, ldb: s.hkv * d,
                  c: ds, ldc: t)
            let scale = s.scale
            parallelFor(t, costPerItem: t) { range in
                for i in range {
                    let pr = p + i * t, dr = ds + i * t
                    var dot: Float = 0
                    for j in 0...i { dot += pr[j] * dr[j] }
                    for j in 0...i { dr[j] = pr[j] * (dr[j] - dot) * scale }
                    for j in (i + 1)..<t { dr[j] = 0 }
                }
            }
            if let dq {
                sgemm(transA: false, transB: false, m: t, n: d, k: t, a: ds, lda: t, b: k + kvOff, ldb: s.hkv * d,
                      beta: 1, c: dq + qOff, ldc: s.hq * d)
            }
            if let dk {
                sgemm(transA: true, transB: false, m: t, n: d, k: t, a: ds, lda: t, b: q + qOff, ldb: s.hq * d,
                      beta: 1, c: dk + kvOff, ldc: s.hkv * d)
            }
        }
    }
}

/// Reference attention: explicit loops in Double, the oracle for both forward kernels.
public func attentionReference(_ s: AttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                               out: UnsafeMutablePointer<Float>) {
    let t = s.t, d = s.d
    var scores = [Double](repeating: 0, count: t)
    for bi in 0..<s.b {
        for h in 0..<s.hq {
            let qo = s.qOffset(bi, h), ko = s.kvOffset(bi, h)
            for i in 0..<t {
                var m = -Double.infinity
                for j in 0...i {
                    var dot = 0.0
                    for e in 0..<d { dot += Double(q[qo + i * s.hq * d + e]) * Double(k[ko + j * s.hkv * d + e]) }
                    scores[j] = dot / Double(d).squareRoot(); m = max(m, scores[j])
                }
                var sum = 0.0
                for j in 0...i { scores[j] = qexpD(scores[j] - m); sum += scores[j] }
                for e in 0..<d {
                    var acc = 0.0
                    for j in 0...i { acc += scores[j] / sum * Double(v[ko + j * s.hkv * d + e]) }
                    out[qo + i * s.hq * d + e] = Float(acc)
                }
            }
        }
    }
}

extension Tensor {
    /// Causal GQA attention on q (B,T,Hq,D), k, v (B,T,Hkv,D); returns (B,T,Hq,D).
    public static func causalAttention(q: Tensor, k: Tensor, v: Tensor) throws -> Tensor {
        let s = try AttentionShape(q: q.shape, k: k.shape, v: v.shape)
        let out = Tensor(uninitialized: q.shape)
        let lse = Tensor(uninitialized: [s.b, s.hq, s.t])
        flashAttentionForward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data)
        return out
    }
}
