// bf16 matmuls with fp32 accumulation: the `set precision=bf16` path of Tensor.matmul and
// Var.matmul / Var.linear (forward and backward). Only the matmul inputs are rounded to bf16, on
// each call, into scratch buffers; the tensors themselves (master weights, activations,
// gradients, optimizer state) stay fp32, and so does every output.
//
// bf16 is the upper half of an IEEE fp32: sign, 8 exponent bits, 7 stored significand bits
// (8 significant bits). Rounding is to nearest, ties to even, so one rounding has a relative
// error of at most u = 2^-8; NaN stays NaN (quiet) and +-inf stays +-inf.
//
// The kernel is oneDNN's gemm_bf16bf16f32 (CBF16), run single-threaded on each of Threads.count
// chunks of the output (contiguous columns, or rows when there are more rows than columns).
// oneDNN's summation order over K does not depend on the chunk, so the bits of a result are the
// same on any thread count (BF16MatmulTests checks 1 vs 3 chunks).
import CBF16
import Dispatch

/// The arithmetic of Tensor.matmul / Var.matmul: fp32 (sgemm) or bf16 inputs with fp32
/// accumulation. `current` is bound per task (the interpreter binds its `set precision=` around
/// every verb); `inForce` is what actually runs: bf16 only where CPUFeatures.bf16Available.
public enum MatmulPrecision: String, Sendable, CaseIterable {
    case fp32, bf16

    @TaskLocal public static var current: MatmulPrecision = .fp32

    /// `current`, or fp32 where bf16 does not run on this CPU.
    public static var inForce: MatmulPrecision {
        current == .bf16 && CPUFeatures.bf16Available ? .bf16 : .fp32
    }
}

/// x rounded to bf16 (to nearest, ties to even), as its 16 bits.
@inline(__always)
public func bf16Bits(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    let rounded = UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
    let quietNaN = UInt16(truncatingIfNeeded: u >> 16) | 0x0040
    return (u & 0x7FFF_FFFF) > 0x7F80_0000 ? quietNaN : rounded
}

/// The fp32 value of bf16 bits (exact).
@inline(__always)
public func floatFromBF16(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

/// Rounds `count` floats to bf16, over the kernel threads for large arrays.
public func convertToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
    parallelFor(count) { r in
        for i in r { dst[i] = bf16Bits(src[i]) }
    }
}

/// Row-major C = alpha op(A) op(B) + beta C with A and B rounded to bf16 and fp32 accumulation.
/// Same arguments as sgemm. `chunks` (default: the kernel threads) only sets how the output is
/// split over threads; it does not change the result.
public func bf16gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, chunks: Int? = nil) {
    if m == 0 || n == 0 { return }
    // Elements each operand spans in memory: (rows - 1) * ld + row length.
    let aCount = (transA ? (k - 1) * lda + m : (m - 1) * lda + k)
    let bCount = (transB ? (n - 1) * ldb + k : (k - 1) * ldb + n)
    let a16 = UnsafeMutablePointer<UInt16>.allocate(capacity: max(aCount, 1))
    let b16 = UnsafeMutablePointer<UInt16>.allocate(capacity: max(bCount, 1))
    defer { a16.deallocate(); b16.deallocate() }
    if k > 0 {
        convertToBF16(a, a16, count: aCount)
        convertToBF16(b, b16, count: bCount)
    }
    let byColumns = n >= m
    let parts = max(1, min(chunks ?? Threads.count, byColumns ? n : m))
    let run = UncheckedBox { (lo: Int, hi: Int) in
        // A column chunk takes B's columns lo..<hi; a row chunk takes A's rows lo..<hi.
        let aOff = byColumns ? 0 : (transA ? lo : lo * lda)
        let bOff = byColumns ? (transB ? lo * ldb : lo) : 0
        let cOff = byColumns ? lo : lo * ldc
        let (mm, nn) = byColumns ? (m, hi - lo) : (hi - lo, n)
        let status = qat_bf16_gemm_serial(transA ? 1 : 0, transB ? 1 : 0, Int64(mm), Int64(nn), Int64(k), alpha,
                                          a16 + aOff, Int64(lda), b16 + bOff, Int64(ldb), beta, c + cOff, Int64(ldc))
        // oneDNN rejects only malformed arguments (it returns before writing C); MatmulPlan has
        // checked the geometry, so this is a safety net that keeps the answer right, in fp32.
        if status != 0 {
            sgemm(transA: transA, transB: transB, m: mm, n: nn, k: k, alpha: alpha, a: a + aOff, lda: lda,
                  b: b + bOff, ldb: ldb, beta: beta, c: c + cOff, ldc: ldc)
        }
    }
    let total = byColumns ? n : m
    if parts == 1 { run.value(0, total); return }
    DispatchQueue.concurrentPerform(iterations: parts) { p in
        run.value(total * p / parts, total * (p + 1) / parts)
    }
}

/// sgemm or bf16gemm by `precision` (callers pass MatmulPrecision.inForce read once per op).
@inline(__always)
public func gemm(_ precision: MatmulPrecision, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    switch precision {
    case .fp32:
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
              beta: beta, c: c, ldc: ldc)
    case .bf16:
        bf16gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c, ldc: ldc)
    }
}
