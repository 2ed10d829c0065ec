// Matmul through OpenBLAS cblas_sgemm, forward and backward side by side; at precision .bf16
// (Var.matmul passes MatmulPrecision.inForce: `set precision=bf16` on a CPU with AVX512-BF16),
// through bf16gemm instead (bf16 inputs, fp32 accumulation and outputs: BF16Matmul.swift).
//
// C = op(A) op(B) where op is identity or transpose. Shapes (row-major):
//   a: (..., M, K), or (..., K, M) with transA
//   b: (..., K, N), or (..., N, K) with transB;  b may be 2-d and shared by every batch
//   c: (..., M, N)
// A transpose is a BLAS flag, never a copy. With a shared 2-d b and no transA the batch is
// folded into M, so a linear layer over (B, T, C) is one sgemm.
import CBLAS

/// Row-major sgemm on raw pointers: C = alpha * op(A) op(B) + beta * C.
@inline(__always)
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The plain triple loop that sgemm is tested against (Double accumulation).
public func sgemmReference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            c[i * ldc + j] = alpha * Float(s) + (beta == 0 ? 0 : beta * c[i * ldc + j])
        }
    }
}

/// The geometry of one matmul call, checked once.
public struct MatmulPlan: Sendable {
    public let batch: Int, m: Int, n: Int, k: Int
    public let transA: Bool, transB: Bool
    public let sharedB: Bool
    public let outShape: [Int]

    public init(_ a: [Int], _ b: [Int], transA: Bool, transB: Bool) throws {
        guard a.count >= 2, b.count >= 2 else {
            throw TensorError.shapeMismatch(op: "matmul", lhs: a, rhs: b, hint: "both operands need at least 2 dims")
        }
        let am = transA ? a[a.count - 1] : a[a.count - 2], ak = transA ? a[a.count - 2] : a[a.count - 1]
        let bk = transB ? b[b.count - 1] : b[b.count - 2], bn = transB ? b[b.count - 2] : b[b.count - 1]
        guard ak == bk else {
            throw TensorError.shapeMismatch(op: "matmul", lhs: a, rhs: b,
                hint: "inner dims differ (\(ak) vs \(bk))\(transA || transB ? " with transA=\(transA) transB=\(transB)" : "")")
        }
        let aBatch = Array(a.dropLast(2)), bBatch = Array(b.dropLast(2))
        guard bBatch.isEmpty || aBatch == bBatch else {
            throw TensorError.shapeMismatch(op: "matmul", lhs: a, rhs: b, hint: "batch dims must be equal, or b must be 2-d")
        }
        self.batch = aBatch.reduce(1, *)
        self.m = am; self.n = bn; self.k = ak
        self.transA = transA; self.transB = transB
        self.sharedB = bBatch.isEmpty
        self.outShape = aBatch + [am, bn]
    }

    var lda: Int { transA ? m : k }
    var ldb: Int { transB ? k : n }
}

extension Tensor {
    /// op(a) @ op(b); see the header for shapes. fp32 unless asked: weight transforms (rotations)
    /// use it, and their results are master weights. The model's matmuls go through Var.matmul,
    /// which follows MatmulPrecision.inForce.
    public static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false,
                              precision: MatmulPrecision = .fp32) throws -> Tensor {
        let plan = try MatmulPlan(a.shape, b.shape, transA: transA, transB: transB)
        let out = Tensor(uninitialized: plan.outShape)
        matmulForward(plan, a.data, b.data, out.data, precision: precision)
        return out
    }
}

// c: (batch, M, N) = op(a) op(b)
public func matmulForward(_ p: MatmulPlan, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                          _ c: UnsafeMutablePointer<Float>, precision: MatmulPrecision = .fp32) {
    if p.sharedB && !p.transA {
        gemm(precision, transA: false, transB: p.transB, m: p.batch * p.m, n: p.n, k: p.k,
              a: a, lda: p.lda, b: b, ldb: p.ldb, c: c, ldc: p.n)
        return
    }
    for i in 0..<p.batch {
        gemm(precision, transA: p.transA, transB: p.transB, m: p.m, n: p.n, k: p.k,
              a: a + i * p.m * p.k, lda: p.lda, b: b + (p.sharedB ? 0 : i * p.k * p.n), ldb: p.ldb,
              c: c + i * p.m * p.n, ldc: p.n)
    }
}

/// Accumulates dA and/or dB (beta = 1) from dC. With C = A'B' (A' = op(A), B' = op(B)):
/// dA' = dC B'^T and dB' = A'^T dC; a transposed operand takes the transpose of its gradient.
/// `precision` should be the forward's (Var.matmul captures it), so both passes agree.
public func matmulBackward(_ p: MatmulPlan, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                           dC: UnsafePointer<Float>, dA: UnsafeMutablePointer<Float>?, dB: UnsafeMutablePointer<Float>?,
                           precision: MatmulPrecision = .fp32) {
    let folded = p.sharedB && !p.transA
    let batches = folded ? 1 : p.batch
    let m = folded ? p.batch * p.m : p.m
    for i in 0..<batches {
        let ai = a + i * p.m * p.k, bi = b + (p.sharedB ? 0 : i * p.k * p.n), dci = dC + i * p.m * p.n
        if let dA {
            let dAi = dA + i * p.m * p.k
            if !p.transA {   // dA (M,K) = dC (M,N) . B'^T
                gemm(precision, transA: false, transB: !p.transB, m: m, n: p.k, k: p.n,
                      a: dci, lda: p.n, b: bi, ldb: p.ldb, beta: 1, c: dAi, ldc: p.k)
            } else {         // dA (K,M) = B' (K,N) . dC^T
                gemm(precision, transA: p.transB, transB: true, m: p.k, n: p.m, k: p.n,
                      a: bi, lda: p.ldb, b: dci, ldb: p.n, beta: 1, c: dAi, ldc: p.m)
            }
        }
        if let dB {
            let dBi = dB + (p.sharedB ? 0 : i * p.k * p.n)
            if !p.transB {   // dB (K,N) = A'^T (K,M) . dC (M,N)
                gemm(precision, transA: !p.transA, transB: false, m: p.k, n: p.n, k: m,
                      a: ai, lda: p.lda, b: dci, ldb: p.n, beta: 1, c: dBi, ldc: p.n)
            } else {         // dB (N,K) = dC^T (N,M) . A' (M,K)
                gemm(precision, transA: true, transB: p.transA, m: p.n, n: p.k, k: m,
                      a: dci, lda: p.n, b: ai, ldb: p.lda, beta: 1, c: dBi, ldc: p.k)
            }
        }
    }
}
