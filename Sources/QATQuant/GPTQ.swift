// GPTQ (Frantar et al., ICLR 2023), as docs/qfa_baselines.md C.1 specifies it.
//
// Per linear W (out, in) with calibration inputs X (N, in):
//   1. H = 2/N sum_t x_t x_t^T. Each micro-batch's X^T X is one Float sgemm; micro-batches are
//      summed in Double (a Float running sum over many batches drifts; one batch does not); H is
//      its upper triangle mirrored, exactly symmetric (sgemm's X^T X need not be).
//   2. Dead inputs (H_ii = 0): H_ii = 1 and W[:, i] = 0.
//   3. Act-order (optional): columns processed by descending diag(H) (ties by index).
//   4. Dampening: H += damp * mean(diag H) * I.
//   5. U = upper Cholesky factor of H^-1 (H^-1 = U^T U), in Double through LAPACK:
//      dpotrf (H = L L^T), dpotri (H^-1 from L), dpotrf again; see upperCholeskyOfInverse.
//   6. Columns in blocks of `blockSize`. Column p: at a group boundary (dynamic groups) refit the
//      row's (s, z) on the current, error-updated columns p..<p+g; q = Q(w_p); e = (w_p - q)/U_pp;
//      the rest of the block gets w_j -= e U_pj; after the block, the remaining columns get
//      W[:, end:] -= E U[block, end:] (one sgemm). Rows are independent inside a block, so the
//      in-block loop is split over rows on both cores.
//   7. Static groups: every group's (s, z) fitted up front on the unupdated W by original column.
//   8. g_idx: nil (column / g) unless act-order with dynamic groups, where g_idx[i] = rank(i) / g.
// Quantizer (C.1): range forced to include 0, xmin = min(min w, 0), xmax = max(max w, 0), an
// all-zero group uses [-1, 1]; s = (xmax - xmin)/qmax, z = round(-xmin/s) (round half to even,
// as torch.round); q = clamp(round(w/s) + z, 0, qmax). One deliberate difference from the
// reference: s is clamped to [1e-4, 1e4], the range every QATLab quantizer (and HardQuantizer)
// uses, so the installed weight equals the one GPTQ's error feedback saw; it only touches groups
// whose range is below 1e-4 * qmax. With blockSize not a multiple of g a group can start inside a
// block and end past it: its refit then sees the pending in-block updates too (the reference
// reads the block's pre-update copy there).
//
// The model driver runs true-sequential order inside a block, [k, v, q] -> [o] -> [up, gate] ->
// [down], re-collecting each sub-group's inputs with the already-quantized linears (installed as
// HardQuantizers), and the quantized block's outputs feed the next block.
import CBLAS
import QATModel
import QATTensor

public struct GPTQOptions: Sendable {
    /// Dampening as a fraction of mean(diag H).
    public var damp: Double
    /// Columns per lazy batch update.
    public var blockSize: Int
    /// Process columns by descending diag(H) (desc_act).
    public var actOrder: Bool
    /// Fit all group parameters up front on the unupdated weight.
    public var staticGroups: Bool
    /// Blocks to quantize (nil: all); earlier blocks still run to produce the inputs.
    public var blocks: Range<Int>?

    public init(damp: Double = 0.01, blockSize: Int = 128, actOrder: Bool = false, staticGroups: Bool = false, blocks: Range<Int>? = nil) {
        self.damp = damp; self.blockSize = blockSize; self.actOrder = actOrder; self.staticGroups = staticGroups; self.blocks = blocks
    }
}

/// What GPTQ did to one linear.
public struct GPTQLayerReport: Sendable {
    public let block: Int
    public let linear: String
    /// ||X W^T - X W-hat^T||^2 summed over the calibration tokens, from the undamped Gram matrix.
    public let outputError: Double
    /// The same for round-to-nearest with the same quantizer (range including 0).
    public let rtnError: Double
    /// GPTQ's own objective, sum (w - q)^2 / U_pp^2 / 2.
    public let loss: Double
    public let seconds: Double
}

/// Running sum of x x^T over calibration inputs of `features` channels.
public final class HessianAccumulator {
    public let features: Int
    public private(set) var tokens = 0
    // (features, features): sum of x x^T in Double
    public private(set) var sum: [Double]
    // (features, features) Float sgemm output of one micro-batch
    private let scratch: Tensor

    public init(features: Int) {
        self.features = features
        sum = [Double](repeating: 0, count: features * features)
        scratch = Tensor(uninitialized: [features, features])
    }

    /// Adds x (..., features).
    public func add(_ x: Tensor) throws {
        let n = features
        guard x.shape.last == n else {
            throw TensorError.shapeMismatch(op: "hessian", lhs: x.shape, rhs: [-1, n], hint: "inputs must end in \(n) features")
        }
        let m = x.count / n
        sgemm(transA: true, transB: false, m: n, n: n, k: m, a: x.data, lda: n, b: x.data, ldb: n, c: scratch.data, ldc: n)
        let s = scratch.data
        sum.withUnsafeMutableBufferPointer { p in for i in 0..<(n * n) { p[i] += Double(s[i]) } }
        tokens += m
    }

    /// H = 2/N sum x x^T, exactly symmetric: the upper triangle (the one LAPACK reads as its
    /// column-major lower) mirrored, since sgemm's x^T x need not be symmetric to the last bit
    /// (on Zen 3's OpenBLAS kernels it is not), and a consumer of the whole matrix must see the
    /// matrix the factorization sees.
    public var hessian: [Double] {
        let f = 2 / Double(max(tokens, 1)), n = features
        var h = sum.map { $0 * f }
        for i in 0..<n { for j in 0..<i { h[i * n + j] = h[j * n + i] } }
        return h
    }
}

/// The upper Cholesky factor U of H^-1 (H^-1 = U^T U) for a symmetric positive definite H
/// (n, n). Row-major upper equals LAPACK's column-major lower, so every call uses uplo "L".
public func upperCholeskyOfInverse(_ h: [Double], n: Int) throws -> [Double] {
    guard n >= 1, h.count == n * n else {
        throw TensorError.invalidArgument(op: "cholesky", message: "expected \(n)x\(n) values, got \(h.count)")
    }
    var a = h
    var size = Int32(n), lda = Int32(n), info: Int32 = 0
    func check(_ step: String) throws {
        guard info == 0 else {
            throw TensorError.invalidArgument(op: "cholesky", message: "\(step) failed (LAPACK info=\(info)): the Hessian is not positive definite; raise the dampening (e.g. damp=0.1)")
        }
    }
    // one BLAS thread: the factor's bits (and so GPTQ's) must not depend on QAT_THREADS
    try Threads.withSingleThreadedBLAS {
        a.withUnsafeMutableBufferPointer { p in dpotrf_("L", &size, p.baseAddress, &lda, &info) }
        try check("dpotrf(H)")
        a.withUnsafeMutableBufferPointer { p in dpotri_("L", &size, p.baseAddress, &lda, &info) }
        try check("dpotri")
        a.withUnsafeMutableBufferPointer { p in dpotrf_("L", &size, p.baseAddress, &lda, &info) }
        try check("dpotrf(H^-1)")
    }
    for r in 1..<max(n, 1) { for c in 0..<r { a[r * n + c] = 0 } }
    return a
}

/// Step 2 on H (cols, cols) of a (rows, cols) weight: a dead input (H_ii = 0) gets H_ii = 1 and
/// its weight column zeroed.
func gptqDeadInputs(_ h: inout [Double], weight w: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    for i in 0..<cols where h[i * cols + i] == 0 {
        h[i * cols + i] = 1
        for r in 0..<rows { w[r * cols + i] = 0 }
    }
}

/// Step 4: H += damp * mean(diag H) * I.
func gptqDampen(_ h: inout [Double], cols: Int, damp: Double) {
    let meanDiag = (0..<cols).reduce(0.0) { $0 + h[$1 * cols + $1] } / Double(cols)
    for i in 0..<cols { h[i * cols + i] += damp * meanDiag }
}

/// GPTQ's quantizer parameters for a range (see the header).
@inline(__always)
func gptqParameters(min lo: Float, max hi: Float, qmax: Float) -> (s: Float, z: Float) {
    var lo = Swift.min(lo, 0), hi = Swift.max(hi, 0)
    if lo == 0 && hi == 0 { lo = -1; hi = 1 }
    let s = Swift.min(Swift.max((hi - lo) / qmax, 1e-4), 1e4)
    return (s, Swift.min(Swift.max((-lo / s).rounded(.toNearestOrEven), 0), qmax))
}

public struct GPTQResult: Sendable {
    public let quantized: QuantizedWeight
    /// sum (w - q)^2 / U_pp^2 / 2
    public let loss: Double
}

/// GPTQ of one (out, in) weight given its Hessian (in, in), row-major.
public func gptqQuantize(weight: Tensor, hessian: [Double], spec: QuantSpec, options: GPTQOptions = GPTQOptions()) throws -> GPTQResult {
    guard weight.rank == 2, hessian.count == weight.shape[1] * weight.shape[1] else {
        throw TensorError.shapeMismatch(op: "gptq", lhs: weight.shape, rhs: [hessian.count], hint: "the Hessian must be (in, in) for a weight (out, in)")
    }
    guard options.blockSize >= 1, options.damp >= 0 else {
        throw TensorError.invalidArgument(op: "gptq", message: "blockSize=\(options.blockSize) damp=\(options.damp): need blockSize >= 1 and damp >= 0")
    }
    let rows = weight.shape[0], cols = weight.shape[1]
    var h = hessian
    let w = Tensor(uninitialized: [rows, cols])
    w.data.update(from: weight.data, count: rows * cols)
    gptqDeadInputs(&h, weight: w.data, rows: rows, cols: cols)
    let g = spec.effectiveGroupSize(inFeatures: cols), groups = spec.groupCount(inFeatures: cols)
    let scales = Tensor(uninitialized: [rows, groups]), zeros = Tensor(uninitialized: [rows, groups])
    if options.staticGroups { fitStaticGroups(w, spec: spec, scales: scales, zeros: zeros) }
    var perm = Array(0..<cols)
    if options.actOrder {
        perm.sort { h[$0 * cols + $0] != h[$1 * cols + $1] ? h[$0 * cols + $0] > h[$1 * cols + $1] : $0 < $1 }
        gptqPermute(w, h: &h, perm: perm)
    }
    gptqDampen(&h, cols: cols, damp: options.damp)
    let u64 = try upperCholeskyOfInverse(h, n: cols)
    let u = Tensor(uninitialized: [cols, cols])
    for i in 0..<(cols * cols) { u.data[i] = Float(u64[i]) }

    let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: rows * cols)
    defer { codes.deallocate() }
    let rowLoss = UnsafeMutablePointer<Double>.allocate(capacity: rows)
    defer { rowLoss.deallocate() }
    rowLoss.initialize(repeating: 0, count: rows)
    let bs = options.blockSize
    let err = Tensor(uninitialized: [rows, bs])
    let pass = GPTQPass(w: w.data, u: u.data, err: err.data, codes: codes, loss: rowLoss, scales: scales.data, zeros: zeros.data,
                        perm: perm, rows: rows, cols: cols, groups: groups, g: g, bs: bs, qmax: Float(spec.qmax), dynamic: !options.staticGroups)
    for i1 in stride(from: 0, to: cols, by: bs) {
        let i2 = min(i1 + bs, cols)
        parallelFor(rows, costPerItem: (i2 - i1) * (i2 - i1)) { range in
            for r in range { pass.row(r, i1, i2) }
        }
        if i2 < cols {   // W[:, i2:] -= E (rows, count) . U[i1:i2, i2:]
            sgemm(transA: false, transB: false, m: rows, n: cols - i2, k: i2 - i1, alpha: -1, a: err.data, lda: bs,
                  b: u.data + i1 * cols + i2, ldb: cols, beta: 1, c: w.data + i2, ldc: cols)
        }
    }
    return GPTQResult(quantized: try gptqUnpermute(pass, spec: spec, actOrder: options.actOrder),
                      loss: (0..<rows).reduce(0.0) { $0 + rowLoss[$1] })
}

/// The per-row inner loop of one column block, on raw buffers shared by both threads (each row
/// writes only its own row of w, err, codes, loss, scales and zeros).
struct GPTQPass {
    let w: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, err: UnsafeMutablePointer<Float>
    let codes: UnsafeMutablePointer<UInt8>, loss: UnsafeMutablePointer<Double>
    let scales: UnsafeMutablePointer<Float>, zeros: UnsafeMutablePointer<Float>
    let perm: [Int]
    let rows: Int, cols: Int, groups: Int, g: Int, bs: Int
    let qmax: Float, dynamic: Bool

    func row(_ r: Int, _ i1: Int, _ i2: Int) {
        let wr = w + r * cols, er = err + r * bs
        var l = 0.0
        for p in i1..<i2 {
            let gi = dynamic ? p / g : perm[p] / g
            if dynamic && p % g == 0 { refit(r, p, i1, i2) }
            let s = scales[r * groups + gi], z = zeros[r * groups + gi]
            let x = wr[p]
            let q = min(max((x / s).rounded(.toNearestOrEven) + z, 0), qmax)
            let d = u[p * cols + p], diff = x - (q - z) * s
            codes[r * cols + p] = UInt8(q)
            let e = diff / d
            l += Double(diff) * Double(diff) / (Double(d) * Double(d)) / 2
            er[p - i1] = e
            let up = u + p * cols
            for j in (p + 1)..<i2 { wr[j] -= e * up[j] }
        }
        loss[r] += l
    }

    /// (s, z) of row r's group starting at position p, on the current values: columns inside
    /// the block as updated so far, columns past it with the block's pending updates applied.
    func refit(_ r: Int, _ p: Int, _ i1: Int, _ i2: Int) {
        let wr = w + r * cols, er = err + r * bs
        var lo = Float.infinity, hi = -Float.infinity
        for j in p..<min(p + g, cols) {
            var x = wr[j]
            if j >= i2 { for k in i1..<p { x -= er[k - i1] * u[k * cols + j] } }
            lo = min(lo, x); hi = max(hi, x)
        }
        let (s, z) = gptqParameters(min: lo, max: hi, qmax: qmax)
        scales[r * groups + p / g] = s; zeros[r * groups + p / g] = z
    }
}

/// Static groups: (s, z) per group of original columns on the unupdated weight.
func fitStaticGroups(_ w: Tensor, spec: QuantSpec, scales: Tensor, zeros: Tensor) {
    let rows = w.shape[0], cols = w.shape[1], groups = spec.groupCount(inFeatures: cols), qmax = Float(spec.qmax)
    for r in 0..<rows {
        for gi in 0..<groups {
            var lo = Float.infinity, hi = -Float.infinity
            for j in spec.columns(ofGroup: gi, inFeatures: cols) { lo = min(lo, w.data[r * cols + j]); hi = max(hi, w.data[r * cols + j]) }
            let (s, z) = gptqParameters(min: lo, max: hi, qmax: qmax)
            scales.data[r * groups + gi] = s; zeros.data[r * groups + gi] = z
        }
    }
}

/// Columns of w and both axes of h into processing order: new position p holds column perm[p].
func gptqPermute(_ w: Tensor, h: inout [Double], perm: [Int]) {
    let rows = w.shape[0], cols = w.shape[1]
    var row = [Float](repeating: 0, count: cols)
    for r in 0..<rows {
        for p in 0..<cols { row[p] = w.data[r * cols + perm[p]] }
        for p in 0..<cols { w.data[r * cols + p] = row[p] }
    }
    let old = h
    for a in 0..<cols { for b in 0..<cols { h[a * cols + b] = old[perm[a] * cols + perm[b]] } }
}

/// Codes back to original column order, with g_idx for act-order with dynamic groups.
func gptqUnpermute(_ pass: GPTQPass, spec: QuantSpec, actOrder: Bool) throws -> QuantizedWeight {
    let rows = pass.rows, cols = pass.cols, perm = pass.perm
    var codes = [UInt8](repeating: 0, count: rows * cols)
    for r in 0..<rows { for p in 0..<cols { codes[r * cols + perm[p]] = pass.codes[r * cols + p] } }
    var groupIndex: [Int32]? = nil
    if actOrder && pass.dynamic {
        var gi = [Int32](repeating: 0, count: cols)
        for p in 0..<cols { gi[perm[p]] = Int32(p / pass.g) }
        groupIndex = gi
    }
    let n = rows * pass.groups
    return try QuantizedWeight(spec: spec, rows: rows, cols: cols, codes: codes, scales: Array(UnsafeBufferPointer(start: pass.scales, count: n)),
                               zeros: Array(UnsafeBufferPointer(start: pass.zeros, count: n)), groupIndex: groupIndex)
}

/// sum_t ||(W - W-hat) x_t||^2 = sum_o d_o^T G d_o for the Gram matrix G = sum x x^T.
public func quantizationOutputError(gram: [Double], weight: Tensor, quantized: Tensor) -> Double {
    let rows = weight.shape[0], cols = weight.shape[1]
    let d = Tensor(uninitialized: [rows, cols]), gf = Tensor(uninitialized: [cols, cols]), m = Tensor(uninitialized: [rows, cols])
    for i in 0..<(rows * cols) { d.data[i] = weight.data[i] - quantized.data[i] }
    for i in 0..<(cols * cols) { gf.data[i] = Float(gram[i]) }
    sgemm(transA: false, transB: false, m: rows, n: cols, k: cols, a: d.data, lda: cols, b: gf.data, ldb: cols, c: m.data, ldc: cols)
    var e = 0.0
    for i in 0..<(rows * cols) { e += Double(m.data[i]) * Double(d.data[i]) }
    return e
}

/// GPTQ on the linears of `options.blocks` (all blocks by default) with HardQuantizers installed;
/// see the header for the order. Each linear gets `policy.precision(block:linear:)`: its own bits
/// and group; a full-precision linear is left as it is (no quantizer, weight untouched, and a stage
/// with no quantized linear collects no Hessian). Quantizers already on those blocks' linears are
/// removed first.
@discardableResult
public func quantizeGPTQ(model: LlamaModel, calibration: CalibrationSet, policy: QuantPolicy, options: GPTQOptions = GPTQOptions(),
                         log: (String) -> Void = { _ in }) throws -> [GPTQLayerReport] {
    let range = options.blocks ?? model.blocks.indices
    guard range.lowerBound >= 0, range.upperBound <= model.blocks.count else {
        throw TensorError.invalidArgument(op: "gptq", message: "blocks \(range) outside the model's 0..<\(model.blocks.count)")
    }
    try policy.validateKeys(blockCount: model.blocks.count)
    var reports: [GPTQLayerReport] = []
    try gptqWalk(model: model, calibration: calibration, range: range) { block, bi, stage, x, rope in
        let planned = stage.compactMap { role -> (BlockLinear, QuantSpec)? in
            guard case .quantized(let s) = policy.precision(block: bi, linear: role.linear(in: block).name) else { return nil }
            return (role, s)
        }
        guard !planned.isEmpty else { return }
        reports += try quantizeStage(planned, block: block, index: bi, inputs: x, rope: rope, options: options, log: log)
    }
    return reports
}

/// GPTQ's true-sequential walk: blocks in order, and in each block of `range` (its quantizers
/// removed first) the stages q/k/v, o, up/gate, down, each handed the block inputs of the model
/// quantized so far; the inputs of the next block are this block's outputs after its stages ran.
/// `stage(block, index, linears, inputs, rope)` quantizes one stage's linears.
func gptqWalk(model: LlamaModel, calibration: CalibrationSet, range: Range<Int>,
              stage: (DecoderBlock, Int, [BlockLinear], [Tensor], RopeTable) throws -> Void) throws {
    let rope = model.ropeTable(positions: calibration.seqlen)
    var x = try Calibration.blockInputs(model: model, calibration: calibration)
    let stages: [[BlockLinear]] = [[.k, .v, .q], [.o], [.up, .gate], [.down]]
    for bi in 0..<range.upperBound {
        let block = model.blocks[bi]
        if range.contains(bi) {
            for l in BlockLinear.allCases { l.linear(in: block).quantizer = nil }
            for linears in stages { try stage(block, bi, linears, x, rope) }
        }
        x = try Calibration.outputs(block: block, inputs: x, rope: rope)
    }
}

/// The Hessian of the input `role`'s linear shares with its stage (its site in `block`), over `inputs`.
func stageHessian(_ role: BlockLinear, block: DecoderBlock, inputs: [Tensor], rope: RopeTable) throws -> HessianAccumulator {
    let acc = HessianAccumulator(features: role.linear(in: block).inFeatures)
    for xb in inputs { try acc.add(Calibration.activation(at: role.site, block: block, input: xb, rope: rope)) }
    return acc
}

/// The same with one spec for every block linear.
@discardableResult
public func quantizeGPTQ(model: LlamaModel, calibration: CalibrationSet, policy spec: QuantSpec, options: GPTQOptions = GPTQOptions(),
                         log: (String) -> Void = { _ in }) throws -> [GPTQLayerReport] {
    try quantizeGPTQ(model: model, calibration: calibration, policy: QuantPolicy(spec), options: options, log: log)
}

/// One true-sequential sub-group: collect its shared input's Hessian, then quantize each
/// planned linear with its own spec.
func quantizeStage(_ stage: [(role: BlockLinear, spec: QuantSpec)], block: DecoderBlock, index bi: Int, inputs: [Tensor],
                   rope: RopeTable, options: GPTQOptions, log: (String) -> Void) throws -> [GPTQLayerReport] {
    let acc = try stageHessian(stage[0].role, block: block, inputs: inputs, rope: rope)
    let h = acc.hessian
    var reports: [GPTQLayerReport] = []
    for (role, spec) in stage {
        let lin = role.linear(in: block), name = "blocks.\(bi).\(lin.name)"
        let start = ContinuousClock.now
        let result: GPTQResult
        do { result = try gptqQuantize(weight: lin.weight.value, hessian: h, spec: spec, options: options) } catch let error as TensorError {
            throw TensorError.invalidArgument(op: "gptq \(name)", message: error.description)
        }
        let elapsed = ContinuousClock.now - start
        let err = quantizationOutputError(gram: acc.sum, weight: lin.weight.value, quantized: result.quantized.dequantized())
        let rtn = try roundToNearest(weight: lin.weight.value, spec: spec, range: .includeZero).dequantized()
        let rtnErr = quantizationOutputError(gram: acc.sum, weight: lin.weight.value, quantized: rtn)
        lin.quantizer = try HardQuantizer(result.quantized, name: name)
        let seconds = elapsed.inSeconds
        reports.append(GPTQLayerReport(block: bi, linear: lin.name, outputError: err, rtnError: rtnErr, loss: result.loss, seconds: seconds))
        log("gptq \(name) \(spec): output error \(err) (rtn \(rtnErr)), \((seconds * 100).rounded() / 100) s")
    }
    return reports
}

extension QuantMethod {
    /// GPTQ's row of the method table.
    public static let gptq = QuantMethod(
        name: "gptq", summary: "GPTQ: error-feedback rounding with the calibration Hessian", needsCalibration: true,
        options: [.init(name: "act_order", kind: .bool, defaultValue: 0, help: "quantize columns in order of decreasing Hessian diagonal")]
    ) { model, policy, calibration, options, log in
        guard let calibration else { throw TensorError.invalidArgument(op: "gptq", message: "gptq needs calibration windows") }
        try quantizeGPTQ(model: model, calibration: calibration, policy: policy,
                         options: GPTQOptions(actOrder: options["act_order"] == 1), log: log)
    }
}
