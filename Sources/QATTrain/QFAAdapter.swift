// QA-LoRA adapters (docs/qfa_baselines.md B.1), the per-bit-width adapters of LLM-QFA (A.2).
//
// The adapter reads the layer's input average-pooled within each quantization group, so its
// update is constant inside a group and merges exactly into that group's zero point:
//
//   x (N, in) -> p = pool_G(x) (N, n_g) -> u = p A^T (N, r) -> y = (alpha/r) u B^T (N, out)
//
// with n_g = ceil(in/G) groups (the last may be shorter; pooling divides by its own length),
// A (r, n_g) Xavier-uniform, B (out, r) zeros, so a fresh adapter adds nothing. Backward, from
// dy (N, out):
//   du = (alpha/r) dy B (N, r);  dB += (alpha/r) dy^T u (out, r);  dA += du^T p (r, n_g)
//   dp = du A (N, n_g);          dx[t, i] += dp[t, g(i)] / |g(i)|
// All products go through sgemm; the pooled input and u are the only buffers a forward keeps.
//
// Merge into W = s (q - z) (per output o and group g, GPTQ convention):
//   delta[o, g] = (alpha/r) (B A)[o, g] / |g|     z'[o, g] = z[o, g] - delta[o, g] / s[o, g]
// so s (q - z') = s (q - z) + delta: the merged layer computes base + adapter up to float
// rounding, with fractional zero points (stored as Float32).
import Foundation
import QATAutograd
import QATModel
import QATQuant
import QATTensor

public final class QFAAdapter: LinearAdapter {
    public let inFeatures: Int, outFeatures: Int
    /// Input columns per pooled group (the quantization group size).
    public let groupSize: Int
    public let rank: Int
    public let alpha: Float
    public let groupCount: Int
    // (r, n_g)
    public let a: Var
    // (out, r)
    public let b: Var

    public var scaling: Float { alpha / Float(rank) }

    /// A fresh adapter: A Xavier-uniform from `seed`, B zero.
    public init(name: String, inFeatures: Int, outFeatures: Int, groupSize: Int, rank: Int, alpha: Float, seed: UInt64) throws {
        guard groupSize >= 1, rank >= 1, inFeatures >= 1, outFeatures >= 1 else {
            throw TrainingError("qfa adapter \(name): group=\(groupSize) rank=\(rank) on a \(outFeatures)x\(inFeatures) linear; group and rank must be >= 1")
        }
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        self.groupSize = groupSize; self.rank = rank; self.alpha = alpha
        groupCount = (inFeatures + groupSize - 1) / groupSize
        let av = Tensor(uninitialized: [rank, groupCount])
        var rng = SeededRandom(seed: seed)
        let bound = Float((6.0 / Double(groupCount + rank)).squareRoot())
        for i in 0..<av.count { av.data[i] = (2 * rng.uniform() - 1) * bound }
        a = Var(av, requiresGrad: true, name: name + ".lora_A")
        b = Var(Tensor(zeros: [outFeatures, rank]), requiresGrad: true, name: name + ".lora_B")
    }

    /// The trained parameters, named.
    public var parameters: [(String, Var)] { [(a.name, a), (b.name, b)] }

    func columns(_ g: Int) -> Range<Int> { (g * groupSize)..<min((g + 1) * groupSize, inFeatures) }

    // ---- forward and backward

    /// x (..., in) -> (alpha/r) B A pool(x) (..., out)
    public func delta(_ x: Var) throws -> Var {
        guard x.shape.last == inFeatures else {
            throw TensorError.shapeMismatch(op: "qfa adapter", lhs: x.shape, rhs: [inFeatures], hint: "the input's last axis must be the linear's input size")
        }
        let n = x.value.count / inFeatures, ng = groupCount, r = rank, out = outFeatures, s = scaling
        let p = Tensor(uninitialized: [n, ng])         // (N, n_g)
        poolForward(x.value.data, p.data, tokens: n)
        let u = Tensor(uninitialized: [n, r])          // (N, r)
        sgemm(transA: false, transB: true, m: n, n: r, k: ng, a: p.data, lda: ng, b: a.value.data, ldb: ng, c: u.data, ldc: r)
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [out])   // (..., out)
        sgemm(transA: false, transB: true, m: n, n: out, k: r, alpha: s, a: u.data, lda: r, b: b.value.data, ldb: r, c: y.data, ldc: out)
        let a = a, b = b
        return Var.custom(y, name: "qa_lora", parents: [x, a, b]) { dy in
            let du = Tensor(uninitialized: [n, r])     // (N, r)
            sgemm(transA: false, transB: false, m: n, n: r, k: out, alpha: s, a: dy.data, lda: out, b: b.value.data, ldb: r, c: du.data, ldc: r)
            if b.requiresGrad {                         // (out, r)
                sgemm(transA: true, transB: false, m: out, n: r, k: n, alpha: s, a: dy.data, lda: out, b: u.data, ldb: r,
                      beta: 1, c: b.gradBuffer().data, ldc: r)
            }
            if a.requiresGrad {                         // (r, n_g)
                sgemm(transA: true, transB: false, m: r, n: ng, k: n, a: du.data, lda: r, b: p.data, ldb: ng,
                      beta: 1, c: a.gradBuffer().data, ldc: ng)
            }
            if x.requiresGrad {
                let dp = Tensor(uninitialized: [n, ng])   // (N, n_g)
                sgemm(transA: false, transB: false, m: n, n: ng, k: r, a: du.data, lda: r, b: a.value.data, ldb: ng, c: dp.data, ldc: ng)
                self.poolBackward(dp.data, x.gradBuffer().data, tokens: n)
            }
        }
    }

    /// p[t, g] = mean of x[t, i] over the columns i of group g.
    func poolForward(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>, tokens n: Int) {
        let cols = inFeatures, ng = groupCount
        parallelFor(n, costPerItem: cols) { rows in
            for t in rows {
                for g in 0..<ng {
                    let c = self.columns(g)
                    var sum: Float = 0
                    for i in c { sum += x[t * cols + i] }
                    p[t * ng + g] = sum / Float(c.count)
                }
            }
        }
    }

    /// dx[t, i] += dp[t, g(i)] / |g(i)|
    func poolBackward(_ dp: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, tokens n: Int) {
        let cols = inFeatures, ng = groupCount
        parallelFor(n, costPerItem: cols) { rows in
            for t in rows {
                for g in 0..<ng {
                    let c = self.columns(g)
                    let v = dp[t * ng + g] / Float(c.count)
                    for i in c { dx[t * cols + i] += v }
                }
            }
        }
    }

    // ---- merge

    /// The full-size update per (output, group): (alpha/r) (B A)[o, g] / |g|, (out, n_g).
    public func groupDelta() -> [Float] {
        let ba = Tensor(uninitialized: [outFeatures, groupCount])
        sgemm(transA: false, transB: false, m: outFeatures, n: groupCount, k: rank, alpha: scaling,
              a: b.value.data, lda: rank, b: a.value.data, ldb: groupCount, c: ba.data, ldc: groupCount)
        var d = ba.toArray()
        for o in 0..<outFeatures { for g in 0..<groupCount { d[o * groupCount + g] /= Float(columns(g).count) } }
        return d
    }

    /// `qw` with this adapter merged into its zero points (fractional zeros, see the header).
    public func merged(into qw: QuantizedWeight) throws -> QuantizedWeight {
        guard qw.rows == outFeatures, qw.cols == inFeatures, qw.groupIndex == nil,
              qw.spec.effectiveGroupSize(inFeatures: inFeatures) == groupSize else {
            throw TrainingError("qfa merge: the adapter (\(outFeatures)x\(inFeatures), group \(groupSize)) does not match the base weight \(qw.rows)x\(qw.cols) \(qw.spec)\(qw.groupIndex == nil ? "" : " with act-order groups"); the adapter's pooling groups must be the quantization groups")
        }
        let d = groupDelta()
        var zeros = qw.zeros
        for i in zeros.indices { zeros[i] -= d[i] / qw.scales[i] }
        return try QuantizedWeight(spec: qw.spec, rows: qw.rows, cols: qw.cols, codes: qw.codes, scales: qw.scales, zeros: zeros)
    }
}
