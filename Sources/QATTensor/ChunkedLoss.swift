// The LM head fused with its loss, computed in vocabulary chunks so the (N, V) logits and their
// gradient never exist at once (Qwen2.5's V = 151,936 makes them 300 MB each per 512-token window).
// Operands: h (N, C) the final-normed hidden states, w (V, C) the head weight (row-major, so a chunk
// of vocabulary rows c0..<c0+k is the contiguous block w + c0*C), chunk logits x = h w_chunk^T (N, k).
//
// Cross-entropy (same definition as Loss.swift's crossEntropyForward; -1 targets ignored):
//   forward, per chunk: running max m and running sum s = sum exp(x - m) of every row, rescaled by
//   exp(m_old - m_new) when the max grows (an online log-sum-exp), and the target's logit picked when
//   it falls in the chunk; lse = m + log s, loss = mean over kept rows of (lse - x_target).
//   backward, per chunk: recompute x, G = scale (exp(x - lse) - onehot) (N, k), scale = dloss / kept;
//   dh += G w_chunk,  dw_chunk += G^T h.
// Distillation (same definition as Loss.swift's distillationForward), teacher logits y = ht wt_chunk^T:
//   KL(q || p) per row = sum_j q_j (y_j - x_j) / T - lse(y / T) + lse(x / T), so besides the two online
//   log-sum-exps a third running sum a = sum exp(y/T - m_t) (y - x) / T is kept (rescaled with m_t),
//   and KL = a / s_t - lse_t + lse_s.  backward: G = dloss T (p - q) / N as in Loss.swift.
// Scratch is one (N, k) chunk (two for distillation); the reference for both is the unchunked path
// (matmul to (N, V) logits, then the Loss.swift kernels), which the tests compare against.
// Logits cache: when the (N, V) logits (twice for distillation) fit in headLogitsCacheBytes, the
// forward keeps them (chunk-major: the chunk at column c0 of width k is the (N, k) block at
// cache + N*c0) and the backward reads them instead of recomputing them: one head sgemm fewer per
// step (two for distillation), the same bits (the same sgemm calls made the values).

/// The vocabulary columns per chunk of the fused head + loss (8192 x 512 rows x 4 B = 16 MB of scratch).
public let defaultVocabChunk = 8192

/// The largest logits cache the fused head + loss keeps between forward and backward: SmolLM2's
/// (1024, 49,152) logits (201 MB, twice for distillation) fit; Qwen's 151,936-word ones recompute.
public let headLogitsCacheBytes = 512 << 20

/// Shapes of the fused head + loss: rows N, hidden C, vocabulary V, chunk size k; and the precision
/// of its matmuls (the op's MatmulPrecision.inForce: bf16 inputs and fp32 accumulation under
/// `set precision=bf16`, as torch's autocast runs the head; the exps and sums stay fp32/fp64).
public struct ChunkedHeadShape: Sendable, Equatable {
    public let rows: Int, hidden: Int, vocab: Int, chunk: Int
    public var precision: MatmulPrecision = .fp32

    /// Checks h (N, C) against w (V, C) and the chunk size.
    public init(hidden h: [Int], weight w: [Int], chunk: Int, op: String) throws {
        guard h.count == 2, h[0] > 0, h[1] > 0 else {
            throw TensorError.invalidShape(op: op, shape: h, hint: "hidden states must be (N, C) with N, C > 0; reshape first")
        }
        guard w.count == 2, w[0] > 0, w[1] == h[1] else {
            throw TensorError.shapeMismatch(op: op, lhs: h, rhs: w, hint: "the head weight must be (V, C) with the hidden states' C")
        }
        guard chunk > 0 else {
            throw TensorError.invalidArgument(op: op, message: "vocabulary chunk \(chunk) must be positive (default \(defaultVocabChunk))")
        }
        rows = h[0]; hidden = h[1]; vocab = w[0]; self.chunk = min(chunk, w[0])
    }

    /// The chunks as (first column, width).
    var chunks: [(start: Int, width: Int)] {
        stride(from: 0, to: vocab, by: chunk).map { ($0, min(chunk, vocab - $0)) }
    }

    /// Floats of the (N, V) logits cache, when `copies` of it fit in headLogitsCacheBytes.
    public func cacheFloats(copies: Int) -> Int? {
        let n = rows * vocab
        return n <= headLogitsCacheBytes / (4 * max(copies, 1)) ? n : nil
    }

    /// x (N, width) = h w[start..<start+width]^T (+ beta x).
    func logits(_ h: UnsafePointer<Float>, _ w: UnsafePointer<Float>, start: Int, width: Int, into x: UnsafeMutablePointer<Float>) {
        gemm(precision, transA: false, transB: true, m: rows, n: width, k: hidden, a: h, lda: hidden, b: w + start * hidden, ldb: hidden,
             c: x, ldc: width)
    }

    /// dh += g w_chunk and dw_chunk += g^T h for g (N, width); either output may be nil.
    func accumulate(_ g: UnsafePointer<Float>, h: UnsafePointer<Float>, w: UnsafePointer<Float>, start: Int, width: Int,
                    dh: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?) {
        if let dh {
            gemm(precision, transA: false, transB: false, m: rows, n: hidden, k: width, a: g, lda: width, b: w + start * hidden, ldb: hidden,
                 beta: 1, c: dh, ldc: hidden)
        }
        if let dw {
            gemm(precision, transA: true, transB: false, m: width, n: hidden, k: rows, a: g, lda: width, b: h, ldb: hidden,
                 beta: 1, c: dw + start * hidden, ldc: hidden)
        }
    }
}

/// Folds one chunk z = x[0..<count] / tau (tau > 0) into a row's running log-sum-exp (max m, sum s of
/// exp(z - m)) and returns the factor the older terms were multiplied by because the max moved.
/// onlineLogSumExpReference is the plain loop; this takes the exps eight lanes at a time and adds
/// them left to right in Double as it does, so the bits are the same (max(x) / tau = max(x / tau):
/// dividing by a positive number keeps the order).
@inline(__always) func onlineLogSumExp(_ x: UnsafePointer<Float>, divisor tau: Float, count: Int, m: inout Float, s: inout Double) -> Double {
    let newMax = max(m, maxOf(x, count: count) / tau)
    let rescale = m == -Float.infinity ? 0 : Double(fastExp(m - newMax))
    var add = 0.0, j = 0
    while j + 8 <= count {
        let e = fastExp(load8(x + j) / tau - newMax)
        for lane in 0..<8 { add += Double(e[lane]) }
        j += 8
    }
    while j < count { add += Double(fastExp(x[j] / tau - newMax)); j += 1 }
    s = s * rescale + add
    m = newMax
    return rescale
}

/// The plain loop onlineLogSumExp must equal bit for bit (its test oracle).
func onlineLogSumExpReference(_ x: UnsafePointer<Float>, divisor tau: Float, count: Int, m: inout Float, s: inout Double) -> Double {
    var chunkMax = -Float.infinity
    for j in 0..<count { chunkMax = max(chunkMax, x[j] / tau) }
    let newMax = max(m, chunkMax)
    let rescale = m == -Float.infinity ? 0 : Double(fastExp(m - newMax))
    var add = 0.0
    for j in 0..<count { add += Double(fastExp(x[j] / tau - newMax)) }
    s = s * rescale + add
    m = newMax
    return rescale
}

/// sum over j of exp(y[j] / tau - m) (y[j] / tau - x[j] / tau), left to right in Double, the exps
/// eight lanes at a time (distillation's cross term; the same bits as the plain loop).
@inline(__always) func expWeightedDifferenceSum(_ y: UnsafePointer<Float>, _ x: UnsafePointer<Float>, divisor tau: Float, shift m: Float, count: Int) -> Double {
    var add = 0.0, j = 0
    while j + 8 <= count {
        let yt = load8(y + j) / tau, e = fastExp(yt - m), d = yt - load8(x + j) / tau
        for lane in 0..<8 { add += Double(e[lane]) * Double(d[lane]) }
        j += 8
    }
    while j < count { add += Double(fastExp(y[j] / tau - m)) * Double(y[j] / tau - x[j] / tau); j += 1 }
    return add
}

/// Mean cross-entropy of the logits h w^T against targets, chunk by chunk; lse: (N) saved for backward;
/// rowNLL: (N) each row's lse - x_target in Double (0 for ignored rows), for perplexity, when given.
public func chunkedCrossEntropyForward(_ s: ChunkedHeadShape, h: UnsafePointer<Float>, w: UnsafePointer<Float>,
                                       targets: [Int32], lse: UnsafeMutablePointer<Float>,
                                       rowNLL: UnsafeMutablePointer<Double>? = nil,
                                       cache: UnsafeMutablePointer<Float>? = nil) -> (loss: Double, kept: Int) {
    let scratch = Tensor(uninitialized: [cache == nil ? s.rows : 0, s.chunk])
    // runMax, runSum, picked: (N) the online log-sum-exp state and each row's target logit
    var runMax = [Float](repeating: -.infinity, count: s.rows), runSum = [Double](repeating: 0, count: s.rows)
    var picked = [Float](repeating: 0, count: s.rows)
    for (start, width) in s.chunks {
        let x = cache.map { $0 + s.rows * start } ?? scratch.data   // (N, width)
        s.logits(h, w, start: start, width: width, into: x)
        runMax.withUnsafeMutableBufferPointer { mb in runSum.withUnsafeMutableBufferPointer { sb in picked.withUnsafeMutableBufferPointer { pb in
            let m = UncheckedBox(mb), sum = UncheckedBox(sb), p = UncheckedBox(pb)
            parallelFor(s.rows, costPerItem: width) { range in
                for r in range {
                    let row = x + r * width
                    _ = onlineLogSumExp(row, divisor: 1, count: width, m: &m.value[r], s: &sum.value[r])
                    let t = Int(targets[r]) - start
                    if t >= 0 && t < width { p.value[r] = row[t] }
                }
            }
        } } }
    }
    var total = 0.0, kept = 0
    for r in 0..<s.rows {   // summed in row order: the thread count cannot change the bits
        let rowLSE = Double(runMax[r]) + qlogD(runSum[r]), nll = targets[r] >= 0 ? rowLSE - Double(picked[r]) : 0
        lse[r] = Float(rowLSE)
        rowNLL?[r] = nll
        if targets[r] >= 0 { total += nll; kept += 1 }
    }
    return (kept > 0 ? total / Double(kept) : 0, kept)
}

/// dh (N, C) and dw (V, C) += the gradient of dloss * the chunked cross-entropy (nil outputs skipped).
public func chunkedCrossEntropyBackward(_ s: ChunkedHeadShape, h: UnsafePointer<Float>, w: UnsafePointer<Float>,
                                        targets: [Int32], lse: UnsafePointer<Float>, kept: Int, dloss: Float,
                                        dh: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?,
                                        cache: UnsafePointer<Float>? = nil) {
    guard kept > 0, dh != nil || dw != nil else { return }
    let scale = dloss / Float(kept)
    let g = Tensor(uninitialized: [s.rows, s.chunk])
    for (start, width) in s.chunks {
        // x: (N, width) the chunk's logits, kept by the forward or recomputed into g
        let x = cache.map { $0 + s.rows * start } ?? UnsafePointer(g.data)
        if cache == nil { s.logits(h, w, start: start, width: width, into: g.data) }
        parallelFor(s.rows, costPerItem: width) { range in
            for r in range {
                let row = g.data + r * width, tgt = Int(targets[r])
                if tgt < 0 { for j in 0..<width { row[j] = 0 }; continue }
                let l = lse[r]
                scaledFastExp(x + r * width, row, count: width, shift: l, scale: scale, accumulate: false)   // row[j] = scale * exp(x[j] - l)
                if tgt >= start && tgt < start + width { row[tgt - start] -= scale }
            }
        }
        s.accumulate(g.data, h: h, w: w, start: start, width: width, dh: dh, dw: dw)
    }
}

/// The mean over rows of T^2 KL(softmax(teacher / T) || softmax(student / T)) with student logits
/// h w^T and teacher logits ht wt^T (ht (N, C'), wt (V, C')); lse of both saved for the backward.
public func chunkedDistillationForward(_ s: ChunkedHeadShape, h: UnsafePointer<Float>, w: UnsafePointer<Float>,
                                       teacher t: ChunkedHeadShape, ht: UnsafePointer<Float>, wt: UnsafePointer<Float>,
                                       temperature tau: Float, lseStudent: UnsafeMutablePointer<Float>,
                                       lseTeacher: UnsafeMutablePointer<Float>,
                                       cache: (student: UnsafeMutablePointer<Float>, teacher: UnsafeMutablePointer<Float>)? = nil) -> Double {
    let rows = cache == nil ? s.rows : 0
    let xs = Tensor(uninitialized: [rows, s.chunk]), ys = Tensor(uninitialized: [rows, s.chunk])
    // per row: the student's and the teacher's online log-sum-exp, and a = sum exp(y/T - m_t) (y - x) / T
    var ms = [Float](repeating: -.infinity, count: s.rows), ss = [Double](repeating: 0, count: s.rows)
    var mt = [Float](repeating: -.infinity, count: s.rows), st = [Double](repeating: 0, count: s.rows)
    var a = [Double](repeating: 0, count: s.rows)
    for (start, width) in s.chunks {
        // x, y: (N, width) the student's and the teacher's chunk logits
        let x = cache.map { $0.student + s.rows * start } ?? xs.data, y = cache.map { $0.teacher + s.rows * start } ?? ys.data
        s.logits(h, w, start: start, width: width, into: x)
        t.logits(ht, wt, start: start, width: width, into: y)
        ms.withUnsafeMutableBufferPointer { msb in ss.withUnsafeMutableBufferPointer { ssb in
        mt.withUnsafeMutableBufferPointer { mtb in st.withUnsafeMutableBufferPointer { stb in a.withUnsafeMutableBufferPointer { ab in
            let msx = UncheckedBox(msb), ssx = UncheckedBox(ssb), mtx = UncheckedBox(mtb), stx = UncheckedBox(stb), ax = UncheckedBox(ab)
            parallelFor(s.rows, costPerItem: 3 * width) { range in
                for r in range {
                    let xr = x + r * width, yr = y + r * width
                    _ = onlineLogSumExp(xr, divisor: tau, count: width, m: &msx.value[r], s: &ssx.value[r])
                    let rescale = onlineLogSumExp(yr, divisor: tau, count: width, m: &mtx.value[r], s: &stx.value[r])
                    let add = expWeightedDifferenceSum(yr, xr, divisor: tau, shift: mtx.value[r], count: width)
                    ax.value[r] = ax.value[r] * rescale + add
                }
            }
        } } } } }
    }
    var total = 0.0
    for r in 0..<s.rows {   // summed in row order: the thread count cannot change the bits
        lseStudent[r] = ms[r] + Float(qlogD(ss[r])); lseTeacher[r] = mt[r] + Float(qlogD(st[r]))
        total += a[r] / st[r] - Double(lseTeacher[r]) + Double(lseStudent[r])
    }
    return Double(tau) * Double(tau) * total / Double(s.rows)
}

/// dh, dw += the gradient of dloss * the chunked distillation loss (the teacher gets none).
public func chunkedDistillationBackward(_ s: ChunkedHeadShape, h: UnsafePointer<Float>, w: UnsafePointer<Float>,
                                        teacher t: ChunkedHeadShape, ht: UnsafePointer<Float>, wt: UnsafePointer<Float>,
                                        temperature tau: Float, lseStudent: UnsafePointer<Float>, lseTeacher: UnsafePointer<Float>,
                                        dloss: Float, dh: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?,
                                        cache: (student: UnsafePointer<Float>, teacher: UnsafePointer<Float>)? = nil) {
    guard dh != nil || dw != nil else { return }
    let scale = dloss * tau / Float(s.rows)
    let g = Tensor(uninitialized: [s.rows, s.chunk]), ys = Tensor(uninitialized: [cache == nil ? s.rows : 0, s.chunk])
    for (start, width) in s.chunks {
        // x, y: (N, width) the student's and the teacher's chunk logits, kept by the forward or recomputed
        let x = cache.map { $0.student + s.rows * start } ?? UnsafePointer(g.data)
        let y = cache.map { $0.teacher + s.rows * start } ?? UnsafePointer(ys.data)
        if cache == nil {
            s.logits(h, w, start: start, width: width, into: g.data)
            t.logits(ht, wt, start: start, width: width, into: ys.data)
        }
        parallelFor(s.rows, costPerItem: 2 * width) { range in
            for r in range {
                let gr = g.data + r * width, ls = lseStudent[r], lt = lseTeacher[r]
                // gr[j] = scale * (exp(x[j] / tau - ls) - exp(y[j] / tau - lt))
                scaledExpDifference(x + r * width, y + r * width, gr, count: width, t: tau, ls: ls, lz: lt, scale: scale, accumulate: false)
            }
        }
        s.accumulate(g.data, h: h, w: w, start: start, width: width, dh: dh, dw: dw)
    }
}
