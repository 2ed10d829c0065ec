// AWQ (Lin et al., MLSys 2024), as docs/qfa_baselines.md D specifies it (llm-awq's auto_scale,
// auto_clip and pseudo-quantizer).
//
// Per block, with the block's inputs x from the full-precision chain:
//   1. Run the block once to cache the inputs of its linears (Calibration sites).
//   2. Four scaling groups, each searched then folded at once:
//        attn_norm -> q, k, v   loss of the whole attention (q/k/v candidates, o full precision)
//        v -> o                 only when v and o have the same shape (no GQA); SmolLM2 has GQA
//                               (v 192x576, o 576x576), so this group is skipped there
//        ffn_norm -> gate, up   loss of the whole MLP (down full precision)
//        up -> down             loss of down alone
//      s_X[c] = mean |x_c| over every calibration token; for alpha = i/grid, i in 0..<grid:
//      s = max(s_X^alpha, 1e-4), s /= sqrt(max s * min s); candidate weights Q(W diag(s)) / s; the
//      loss is the mean squared difference from the module's full-precision output, over every
//      window or, with searchWindows = K, over the first K (the windows are random draws, so the
//      first K are a random subset; the search's grid x module forwards are nearly all of AWQ's
//      time, so K bounds it on a CPU while s_X and the clipping still see every window). The best s
//      folds in: a norm gain (or the previous linear's output rows and bias) is divided by s, the
//      inspected linears' input columns are multiplied by s, the cached inputs divided by s.
//   3. The block's output with the scaled, still full-precision weights feeds the next block.
//   4. Clipping for every linear but q and k: per (row, group) max_val = m0 (1 - i/20),
//      i in 0..<clipSteps (10: at most 50 % shrink), m0 the group's abs-max; W clamped to
//      [-max_val, max_val] and quantized; the error is mean over ~clipTokens tokens (a stride
//      subsample) of (sum over the group of x_c (w_c - w-hat_c))^2, one sgemm per group. The
//      best max_val clamps W in place.
//   5. Quantize with AWQ's quantizer and install HardQuantizers. The folded norm gains and the
//      scaled, clipped weights stay in the model (Linear.weight, attn_norm, ffn_norm).
// Per-linear policy: each linear is searched, clipped and quantized with its own spec. A
// full-precision (fp) linear gets no quantizer, no clipping and no scale fold: its weights stay
// bit for bit what they were. So a scale group is skipped when any member is fp (a norm-fed group
// shares one s: folding it into the quantized members alone would change what the norm feeds the
// fp one, and folding it into the fp one too would move its weights by float rounding), and when
// its `prev` (v or up) is fp, since the fold would rescale that linear's output rows. A skipped
// group's quantized members are still clipped and quantized. A block with no quantized linear is
// only run to produce the next inputs.
// Quantizer: min/max of the group as is (0 not forced in), s = max(max - min, 1e-5) / qmax,
// z = clamp(-round(min / s), 0, qmax), round half to even. As GPTQ.swift, s is also clamped to
// [1e-4, 1e4], QATLab's quantizer range, so the installed HardQuantizer reproduces the weights.
// In a llama.cpp format (AWQ+Format.swift) the quantizer is the format's own RTN instead, and
// step 4 is skipped: the targets of a block are AWQTarget rows, .grid(spec) or .format(F).
import QATAutograd
import QATModel
import QATTensor
#if canImport(Glibc)
import Glibc
#endif

public struct AWQOptions: Sendable {
    /// Alpha grid points: alpha = i / grid for i in 0..<grid.
    public var grid: Int
    /// Run the clipping search.
    public var clip: Bool
    /// Shrink steps of the clipping search (ratio 1 - i/20).
    public var clipSteps: Int
    /// Tokens the clipping search subsamples.
    public var clipTokens: Int
    /// Blocks to quantize (nil: all); earlier blocks still run to produce the inputs.
    public var blocks: Range<Int>?
    /// Windows the scale search's loss runs on: the first K (nil: all).
    public var searchWindows: Int?

    public init(grid: Int = 20, clip: Bool = true, clipSteps: Int = 10, clipTokens: Int = 512, blocks: Range<Int>? = nil,
                searchWindows: Int? = nil) {
        self.grid = grid; self.clip = clip; self.clipSteps = clipSteps; self.clipTokens = clipTokens; self.blocks = blocks
        self.searchWindows = searchWindows
    }
}

/// One scaling group's search.
public struct AWQScaleReport: Sendable {
    public let block: Int
    public let group: String
    public let alpha: Double
    /// Module output MSE with the chosen scales and at alpha = 0 (plain quantization).
    public let loss: Double, lossWithoutScaling: Double
}

/// AWQ's quantizer parameters for a group range.
@inline(__always)
func awqParameters(min lo: Float, max hi: Float, qmax: Float) -> (s: Float, z: Float) {
    let s = Swift.min(Swift.max(Swift.max(hi - lo, 1e-5) / qmax, 1e-4), 1e4)
    return (s, Swift.min(Swift.max(-(lo / s).rounded(.toNearestOrEven), 0), qmax))
}

/// Fake quantization of row `r` of (rows, cols) `src` into `dst`, group by group, each value
/// first multiplied by mul[c] (when given) and the result divided by it.
func awqFakeQuantizeRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, cols: Int, spec: QuantSpec, mul: UnsafePointer<Float>?) {
    let qmax = Float(spec.qmax)
    for gi in 0..<spec.groupCount(inFeatures: cols) {
        let cs = spec.columns(ofGroup: gi, inFeatures: cols)
        var lo = Float.infinity, hi = -Float.infinity
        for c in cs { let x = mul.map { src[c] * $0[c] } ?? src[c]; lo = min(lo, x); hi = max(hi, x) }
        let (s, z) = awqParameters(min: lo, max: hi, qmax: qmax)
        for c in cs {
            let x = mul.map { src[c] * $0[c] } ?? src[c]
            let q = (min(max((x / s).rounded(.toNearestOrEven) + z, 0), qmax) - z) * s
            dst[c] = mul.map { q / $0[c] } ?? q
        }
    }
}

/// Q(W diag(s)) diag(s)^-1 for a (rows, cols) weight (s nil: plain fake quantization).
public func awqFakeQuantize(weight: Tensor, spec: QuantSpec, scales: [Float]? = nil) -> Tensor {
    let rows = weight.shape[0], cols = weight.shape[1], out = Tensor(uninitialized: [rows, cols])
    let w = weight.data, o = out.data
    scales.awqWithPointer { s in
        parallelFor(rows, costPerItem: cols) { range in
            for r in range { awqFakeQuantizeRow(w + r * cols, o + r * cols, cols: cols, spec: spec, mul: s) }
        }
    }
    return out
}

/// Codes, scales and zeros of a (rows, cols) weight with AWQ's quantizer.
public func awqQuantize(weight: Tensor, spec: QuantSpec) throws -> QuantizedWeight {
    let rows = weight.shape[0], cols = weight.shape[1], groups = spec.groupCount(inFeatures: cols), qmax = Float(spec.qmax)
    var codes = [UInt8](repeating: 0, count: rows * cols)
    var scales = [Float](repeating: 0, count: rows * groups), zeros = scales
    for r in 0..<rows {
        let w = weight.data + r * cols
        for gi in 0..<groups {
            let cs = spec.columns(ofGroup: gi, inFeatures: cols)
            var lo = Float.infinity, hi = -Float.infinity
            for c in cs { lo = min(lo, w[c]); hi = max(hi, w[c]) }
            let (s, z) = awqParameters(min: lo, max: hi, qmax: qmax)
            scales[r * groups + gi] = s; zeros[r * groups + gi] = z
            for c in cs { codes[r * cols + c] = UInt8(min(max((w[c] / s).rounded(.toNearestOrEven) + z, 0), qmax)) }
        }
    }
    return try QuantizedWeight(spec: spec, rows: rows, cols: cols, codes: codes, scales: scales, zeros: zeros)
}

private extension Optional where Wrapped == [Float] {
    func awqWithPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .none: return body(nil)
        case .some(let a): return a.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}

/// AWQ on the linears of `options.blocks` (all by default); see the header. Each linear gets
/// `policy.precision(block:linear:)`, with the rules for full-precision linears in the header.
/// Quantizers already on those blocks' linears are removed first.
@discardableResult
public func quantizeAWQ(model: LlamaModel, calibration: CalibrationSet, policy: QuantPolicy, options: AWQOptions = AWQOptions(),
                        log: (String) -> Void = { _ in }) throws -> [AWQScaleReport] {
    try awqCheck(model: model, options: options)
    try policy.validateKeys(blockCount: model.blocks.count)
    return try runAWQ(model: model, calibration: calibration, options: options, log: log) { bi, block in
        var targets: [BlockLinear: AWQTarget] = [:]
        for role in BlockLinear.allCases {
            if case .quantized(let s) = policy.precision(block: bi, linear: role.linear(in: block).name) { targets[role] = .grid(s) }
        }
        return targets
    }
}

/// The options and block range AWQ refuses, before anything changes.
func awqCheck(model: LlamaModel, options: AWQOptions) throws {
    let range = options.blocks ?? model.blocks.indices
    guard range.lowerBound >= 0, range.upperBound <= model.blocks.count else {
        throw TensorError.invalidArgument(op: "awq", message: "blocks \(range) outside the model's 0..<\(model.blocks.count)")
    }
    guard options.grid >= 1, options.clipSteps >= 1, options.clipTokens >= 1, (options.searchWindows ?? 1) >= 1 else {
        throw TensorError.invalidArgument(op: "awq", message: "grid=\(options.grid) clipSteps=\(options.clipSteps) clipTokens=\(options.clipTokens) searchWindows=\(options.searchWindows.map(String.init) ?? "all"): each must be at least 1")
    }
}

/// AWQ's block loop over `options.blocks` with the targets `targetsOf(block index, block)` gives
/// each block (a role not in them stays full precision); installs each target's quantizer.
func runAWQ(model: LlamaModel, calibration: CalibrationSet, options: AWQOptions, log: (String) -> Void,
            targetsOf: (Int, DecoderBlock) throws -> [BlockLinear: AWQTarget]) throws -> [AWQScaleReport] {
    let range = options.blocks ?? model.blocks.indices
    let rope = model.ropeTable(positions: calibration.seqlen)
    var x = try Calibration.blockInputs(model: model, calibration: calibration)
    var reports: [AWQScaleReport] = []
    for bi in 0..<range.upperBound {
        let block = model.blocks[bi]
        guard range.contains(bi) else { x = try Calibration.outputs(block: block, inputs: x, rope: rope); continue }
        for l in BlockLinear.allCases { l.linear(in: block).quantizer = nil }
        let specs = try targetsOf(bi, block)
        guard !specs.isEmpty else { x = try Calibration.outputs(block: block, inputs: x, rope: rope); continue }
        try withoutActuallyEscaping(log) { log in
            var run = AWQBlockRun(block: block, index: bi, rope: rope, specs: specs, options: options, log: log)
            reports += try run.scale(inputs: x)
            x = try Calibration.outputs(block: block, inputs: x, rope: rope)
            if options.clip { try run.clipAll() }
        }
        for role in BlockLinear.allCases {
            guard let target = specs[role] else { continue }
            let lin = role.linear(in: block)
            lin.quantizer = try target.quantizer(of: lin.weight.value, name: "blocks.\(bi).\(lin.name)")
        }
    }
    return reports
}

/// The same with one spec for every block linear.
@discardableResult
public func quantizeAWQ(model: LlamaModel, calibration: CalibrationSet, spec: QuantSpec, options: AWQOptions = AWQOptions(),
                        log: (String) -> Void = { _ in }) throws -> [AWQScaleReport] {
    try quantizeAWQ(model: model, calibration: calibration, policy: QuantPolicy(spec), options: options, log: log)
}

/// The scaling and clipping of one block, over its cached linear inputs (micro-batches).
struct AWQBlockRun {
    let block: DecoderBlock, index: Int, rope: RopeTable, options: AWQOptions
    /// The target of every quantized linear of the block; a role not in it stays full precision.
    let specs: [BlockLinear: AWQTarget]
    let log: (String) -> Void
    var sites: [BlockSite: [Tensor]] = [:]

    init(block: DecoderBlock, index: Int, rope: RopeTable, specs: [BlockLinear: AWQTarget], options: AWQOptions, log: @escaping (String) -> Void) {
        self.block = block; self.index = index; self.rope = rope; self.specs = specs; self.options = options; self.log = log
    }

    mutating func scale(inputs x: [Tensor]) throws -> [AWQScaleReport] {
        let acts = try x.map { try Calibration.activations(block: block, input: $0, rope: rope) }
        for site in [BlockSite.attentionIn, .attentionOut, .mlpIn, .mlpHidden] { sites[site] = acts.map { $0[site] } }
        let b = block
        var reports: [AWQScaleReport?] = [try scaleGroup("attn_norm -> q,k,v", site: .attentionIn, roles: [.q, .k, .v], norm: b.attnNorm.value, prev: nil) { h, w in
            try attentionModule(h, q: w[0], k: w[1], v: w[2])
        }]
        if b.v.weight.shape == b.o.weight.shape {
            reports.append(try scaleGroup("v -> o", site: .attentionOut, roles: [.o], norm: nil, prev: .v) { a, w in
                try Tensor.matmul(a, w[0], transB: true)
            })
        } else {
            log("awq blocks.\(index): v -> o skipped (GQA: v \(b.v.weight.shape), o \(b.o.weight.shape))")
        }
        reports.append(try scaleGroup("ffn_norm -> gate,up", site: .mlpIn, roles: [.gate, .up], norm: b.ffnNorm.value, prev: nil) { h, w in
            try mlpModule(h, gate: w[0], up: w[1])
        })
        reports.append(try scaleGroup("up -> down", site: .mlpHidden, roles: [.down], norm: nil, prev: .up) { m, w in
            try Tensor.matmul(m, w[0], transB: true)
        })
        return reports.compactMap { $0 }
    }

    /// Searches alpha for one group (module(x, candidate weights) against its full-precision
    /// output) and folds the best scales in; each member is fake-quantized with its own spec. The
    /// group is skipped (nil) when a member or `prev` is full precision: the fold would change
    /// that linear's weights (see the header).
    func scaleGroup(_ name: String, site: BlockSite, roles: [BlockLinear], norm: Tensor?, prev: BlockLinear?,
                    module: (Tensor, [Tensor]) throws -> Tensor) throws -> AWQScaleReport? {
        let fpMembers = roles.filter { specs[$0] == nil }, fpPrev = prev.flatMap { specs[$0] == nil ? $0 : nil }
        guard fpMembers.isEmpty, fpPrev == nil else {
            let names = (fpMembers + (fpPrev.map { [$0] } ?? [])).map { $0.linear(in: block).name }
            log("awq blocks.\(index) \(name): skipped (full precision: \(names.joined(separator: ", ")))")
            return nil
        }
        let linears = roles.map { $0.linear(in: block) }
        let xs = sites[site] ?? []
        let fp = linears.map { $0.weight.value }
        let searched = try options.searchWindows.map { try awqLeadingWindows(xs, windows: $0) } ?? xs
        let reference = try searched.map { try module($0, fp) }
        let stats = awqMeanAbs(xs)
        var best = (loss: Double.infinity, alpha: 0.0, scales: [Float]()), base = 0.0
        for i in 0..<options.grid {
            let alpha = Double(i) / Double(options.grid)
            let s = awqCandidateScales(stats, alpha: Float(alpha))
            let cand = try zip(roles, fp).map { role, w in try specs[role].map { try $0.fakeQuantize(w, scales: s) } ?? w }
            var sum = 0.0, count = 0
            for (x, ref) in zip(searched, reference) {
                let out = try module(x, cand)
                for j in 0..<out.count { let d = Double(out.data[j] - ref.data[j]); sum += d * d }
                count += out.count
            }
            let loss = sum / Double(max(count, 1))
            if i == 0 { base = loss }
            if loss < best.loss { best = (loss, alpha, s) }
        }
        fold(best.scales, into: linears, norm: norm, prev: prev?.linear(in: block), inputs: xs)
        let on = options.searchWindows == nil ? "" : ", searched on \(searched.reduce(0) { $0 + $1.shape[0] }) windows"
        log("awq blocks.\(index) \(name): alpha \(best.alpha), loss \(best.loss) (no scaling \(base))\(on)")
        return AWQScaleReport(block: index, group: name, alpha: best.alpha, loss: best.loss, lossWithoutScaling: base)
    }

    /// Divides the norm gain (or prev's output rows and bias) and the cached inputs by s, and
    /// multiplies the linears' input columns by s.
    func fold(_ s: [Float], into linears: [Linear], norm: Tensor?, prev: Linear?, inputs: [Tensor]) {
        let c = s.count
        if let norm { for i in 0..<c { norm.data[i] /= s[i] } }
        if let prev {
            let w = prev.weight.value, cols = prev.inFeatures
            for r in 0..<c { for j in 0..<cols { w.data[r * cols + j] /= s[r] } }
            if let bias = prev.bias?.value { for r in 0..<c { bias.data[r] /= s[r] } }
        }
        for lin in linears {
            let w = lin.weight.value
            for r in 0..<lin.outFeatures { for j in 0..<c { w.data[r * c + j] *= s[j] } }
        }
        for x in inputs { for t in 0..<(x.count / c) { for j in 0..<c { x.data[t * c + j] /= s[j] } } }
    }

    /// Whole attention (o in full precision) with candidate q/k/v weights: h (b,T,C) -> (b,T,C).
    func attentionModule(_ h: Tensor, q: Tensor, k: Tensor, v: Tensor) throws -> Tensor {
        try noGrad {
            let a = try Calibration.attentionCore(block, Var(h), rope: rope, q: Var(q), k: Var(k), v: Var(v))
            return try Var.linear(a, weight: block.o.weight, bias: block.o.bias).value
        }
    }

    /// Whole MLP (down in full precision) with candidate gate/up weights.
    func mlpModule(_ h: Tensor, gate: Tensor, up: Tensor) throws -> Tensor {
        try noGrad {
            let hv = Var(h)
            let m = try Var.swiglu(gate: Var.linear(hv, weight: Var(gate)), up: Var.linear(hv, weight: Var(up)))
            return try Var.linear(m, weight: block.down.weight, bias: block.down.bias).value
        }
    }

    /// The clipping search and in-place clamp of v, o, gate, up and down (the quantized ones on
    /// QATLab's grid; a format linear is not clipped, see AWQ+Format.swift).
    func clipAll() throws {
        for role in [BlockLinear.v, .o, .gate, .up, .down] {
            guard case .grid(let spec)? = specs[role] else { continue }
            let lin = role.linear(in: block)
            let xs = awqSubsample(sites[role.site] ?? [], features: lin.inFeatures, tokens: options.clipTokens)
            let maxVal = awqClipSearch(weight: lin.weight.value, inputs: xs, spec: spec, steps: options.clipSteps)
            awqApplyClip(lin.weight.value, maxVal: maxVal, spec: spec)
            log("awq blocks.\(index).\(lin.name): clip searched on \(xs.shape[0]) tokens")
        }
    }
}

/// mean |x_c| over every row of the micro-batches.
func awqMeanAbs(_ xs: [Tensor]) -> [Float] {
    guard let c = xs.first?.shape.last, c > 0 else { return [] }
    var sum = [Double](repeating: 0, count: c), n = 0
    for x in xs {
        for t in 0..<(x.count / c) { for j in 0..<c { sum[j] += Double(abs(x.data[t * c + j])) } }
        n += x.count / c
    }
    return sum.map { Float($0 / Double(max(n, 1))) }
}

/// The first `k` windows of micro-batches (b, T, C): whole batches as they are, the last one
/// sliced to its leading windows.
func awqLeadingWindows(_ xs: [Tensor], windows k: Int) throws -> [Tensor] {
    var out: [Tensor] = [], left = k
    for x in xs where left > 0 {
        let take = min(x.shape[0], left)
        out.append(take == x.shape[0] ? x : try x.sliced(axis: 0, 0, take))
        left -= take
    }
    return out
}

/// s = max(stats^alpha, 1e-4) / sqrt(max s * min s).
func awqCandidateScales(_ stats: [Float], alpha: Float) -> [Float] {
    let s = stats.map { max(awqPow($0, alpha), 1e-4) }
    let norm = ((s.max() ?? 1) * (s.min() ?? 1)).squareRoot()
    return s.map { $0 / norm }
}

/// x^y for x >= 0, with 0^0 = 1 as torch.pow.
func awqPow(_ x: Float, _ y: Float) -> Float {
    if y == 0 { return 1 }
    return x == 0 ? 0 : Float(Glibc.pow(Double(x), Double(y)))
}

/// About `tokens` rows of the micro-batches at a fixed stride: rows 0, k, 2k, ... with
/// k = max(1, N / tokens) (llm-awq's input_feat[0::N // n_sample_token]).
func awqSubsample(_ xs: [Tensor], features c: Int, tokens: Int) -> Tensor {
    let total = xs.reduce(0) { $0 + $1.count / c }, stride = max(1, total / tokens)
    let n = (total + stride - 1) / stride
    let out = Tensor(uninitialized: [n, c])
    var row = 0, global = 0
    for x in xs {
        let rows = x.count / c
        for t in 0..<rows where (global + t) % stride == 0 && row < n {
            (out.data + row * c).update(from: x.data + t * c, count: c)
            row += 1
        }
        global += rows
    }
    return out
}

/// llm-awq's auto_clip for one weight: per (row, group) the max_val with the least output error.
public func awqClipSearch(weight: Tensor, inputs xs: Tensor, spec: QuantSpec, steps: Int) -> [Float] {
    let rows = weight.shape[0], cols = weight.shape[1], groups = spec.groupCount(inFeatures: cols), nt = xs.shape[0]
    var m0 = [Float](repeating: 0, count: rows * groups)
    for r in 0..<rows {
        for gi in 0..<groups {
            for c in spec.columns(ofGroup: gi, inFeatures: cols) { m0[r * groups + gi] = max(m0[r * groups + gi], abs(weight.data[r * cols + c])) }
        }
    }
    var best = m0, minErr = [Double](repeating: .infinity, count: rows * groups)
    let delta = Tensor(uninitialized: [rows, cols]), out = Tensor(uninitialized: [nt, rows])
    for step in 0..<steps {
        let ratio = 1 - Float(step) / 20
        let mv = m0.map { $0 * ratio }
        awqClippedDelta(weight, maxVal: mv, spec: spec, into: delta)
        for gi in 0..<groups {
            let cs = spec.columns(ofGroup: gi, inFeatures: cols)
            sgemm(transA: false, transB: true, m: nt, n: rows, k: cs.count, a: xs.data + cs.lowerBound, lda: cols,
                  b: delta.data + cs.lowerBound, ldb: cols, c: out.data, ldc: rows)
            for r in 0..<rows {
                var e = 0.0
                for t in 0..<nt { let v = Double(out.data[t * rows + r]); e += v * v }
                e /= Double(max(nt, 1))
                if e < minErr[r * groups + gi] { minErr[r * groups + gi] = e; best[r * groups + gi] = mv[r * groups + gi] }
            }
        }
    }
    return best
}

/// delta = W - Q(clamp(W, -maxVal, maxVal)) per (row, group).
func awqClippedDelta(_ weight: Tensor, maxVal: [Float], spec: QuantSpec, into delta: Tensor) {
    let rows = weight.shape[0], cols = weight.shape[1], groups = spec.groupCount(inFeatures: cols)
    let w = weight.data, d = delta.data
    maxVal.withUnsafeBufferPointer { mv in
        parallelFor(rows, costPerItem: cols) { range in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: cols)
            defer { buf.deallocate() }
            for r in range {
                for gi in 0..<groups {
                    let m = mv[r * groups + gi]
                    for c in spec.columns(ofGroup: gi, inFeatures: cols) { buf[c] = min(max(w[r * cols + c], -m), m) }
                }
                awqFakeQuantizeRow(buf, buf, cols: cols, spec: spec, mul: nil)
                for c in 0..<cols { d[r * cols + c] = w[r * cols + c] - buf[c] }
            }
        }
    }
}

/// W = clamp(W, -maxVal, maxVal) per (row, group), in place.
func awqApplyClip(_ weight: Tensor, maxVal: [Float], spec: QuantSpec) {
    let rows = weight.shape[0], cols = weight.shape[1], groups = spec.groupCount(inFeatures: cols)
    for r in 0..<rows {
        for gi in 0..<groups {
            let m = maxVal[r * groups + gi]
            for c in spec.columns(ofGroup: gi, inFeatures: cols) { weight.data[r * cols + c] = min(max(weight.data[r * cols + c], -m), m) }
        }
    }
}

extension QuantMethod {
    /// AWQ's row of the method table.
    public static let awq = QuantMethod(
        name: "awq", summary: "AWQ: activation-aware per-channel scaling and clipping", needsCalibration: true,
        options: [.init(name: "search_windows", kind: .int(1...100_000), defaultValue: nil,
                        help: "run the scale search's loss on the first N windows (default: all; mean |x| and clipping still use all)")]
    ) { model, policy, calibration, options, log in
        guard let calibration else { throw TensorError.invalidArgument(op: "awq", message: "awq needs calibration windows") }
        try quantizeAWQ(model: model, calibration: calibration, policy: policy,
                        options: AWQOptions(searchWindows: options["search_windows"]), log: log)
    }
}
