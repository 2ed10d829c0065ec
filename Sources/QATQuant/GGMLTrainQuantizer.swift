// A trainable linear in one of llama.cpp's block formats (issue 28 item 2): the format's scales
// (and mins) are learnable parameters, and every forward pass rounds them onto the format's own
// representation, so what trains is, bit for bit, a weight llama.cpp can store.
//
// Parameters, one per sub-block of a row (32 columns for the legacy types, q4_k and q5_k; 16
// for q2_k, q3_k and q6_k, whose sub-blocks are 16 elements), fp32 masters, shape (rows, groups):
//   q4_0 q5_0   scales = d                   mins unused (zero, never trained)
//   q4_1 q5_1   scales = d, mins = m         w = fp16(d) * q + fp16(m)
//   q2_k q4_k   scales = the sub-block's effective scale d * sc, mins = its dmin * mn, against
//   q5_k        the super-block's fp16 d and dmin, which stay as llama.cpp's RTN chose them
//   q3_k        scales = d * sc with sc the signed 6-bit scale (-32...31, stored + 32); no mins
//   q6_k        scales = d * sc with sc the int8 scale (-128...127); no mins
// The forward pass turns the parameters and the weight into the format's blocks exactly as
// llama.cpp's reference quantizer finishes a block (GGMLLegacyQuants.swift, GGMLKQuantBlocks.swift):
//   legacy  fp32 d (and m) -> codes by the reference's own truncation, d and m stored as fp16
//   k       sc = clamp(nearest(s / d)) and mn = clamp(nearest(m / dmin)) onto the format's
//           integer ranges, then codes nearest((x + dmin*mn) / (d*sc)) clamped (the symmetric
//           q3_k / q6_k: nearest(x / (d*sc)) in -4...3 / -32...31, stored + 4 / + 32); a
//           sub-block whose d*sc is 0 keeps its RTN codes, and a super-block whose fp16 d (dmin)
//           is 0 keeps RTN's integer scales (mins), which no scale can move
// and the effective weight is ggml's own decoder run on those blocks' bytes. Initialised from
// llama.cpp's RTN (the fp32 d and m the reference computed; for the k-quants d*sc and dmin*mn),
// the first forward reproduces the RTN blocks bit for bit. Gradients are straight-through
// (LSQ-style), with t = (x - low) / scale + offset the unrounded code (offset 8 / 16 for q4_0 /
// q5_0, 4 for q3_k, 32 for q6_k, else 0): inside the code range dW = g and the scale gets
// g * (q - t), outside it dW = 0, the scale gets g * (q - offset) and the min g (legacy _1) or -g
// (k-quants).
import QATAutograd
import QATModel
import QATTensor

public final class GGMLTrainQuantizer: LinearQuantizer {
    public let format: GGMLFormat
    public let rows: Int, cols: Int
    /// (rows, cols / subBlockSize): d (legacy) or d*sc (k-quants).
    public let scales: Var
    /// (rows, cols / subBlockSize): m (q4_1, q5_1) or dmin*mn (q2_k, q4_k, q5_k); zeros otherwise.
    public let mins: Var
    /// k-quants: llama.cpp's RTN blocks (row-major), whose fp16 d and dmin stay, and whose codes
    /// (integer scales, mins) a sub-block (super-block) the parameters cannot move keeps.
    let rtnBlocks: [GGMLBlock]

    /// The formats that train (the legacy 32-element types with 4/5-bit codes and every k-quant).
    public static let trainable = ["q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]

    var isK: Bool { format.blockSize == 256 }
    var hasMin: Bool { format.minRange != nil || format.name.hasSuffix("_1") }
    /// Columns per trained scale: the format's sub-block (32 for the legacy types).
    var subBlockSize: Int { isK ? 256 / format.subBlocks : 32 }
    var groups: Int { cols / subBlockSize }
    /// What the stored code is above the signed code the scale multiplies.
    var codeOffset: Int { Self.codeOffset(format) }
    /// q3_k stores its signed sub-block scale + 32.
    var scaleBias: Int { format.name == "q3_k" ? 32 : 0 }

    static func codeOffset(_ f: GGMLFormat) -> Int {
        switch f.name {
        case "q4_0": 8
        case "q5_0": 16
        case "q3_k": 4
        case "q6_k": 32
        default: 0
        }
    }

    /// llama.cpp's RTN of `weight` (rows, cols) in `format` as the starting parameters.
    public init(weight: Tensor, format: GGMLFormat) throws {
        guard Self.trainable.contains(format.name) else {
            throw TensorError.invalidArgument(op: "format training", message: "format \(format) does not train; the trainable formats are \(Self.trainable.joined(separator: ", "))")
        }
        let (rows, cols) = try format.shape(of: weight)
        self.format = format; self.rows = rows; self.cols = cols
        let groups = cols / (format.blockSize == 256 ? 256 / format.subBlocks : 32)
        var s = [Float](repeating: 0, count: rows * groups), m = s
        var rtn: [GGMLBlock] = []
        let w = weight.data
        if format.blockSize == 256 {
            rtn = try format.quantizeBlocks(weight)
            let n = format.subBlocks, bias = format.name == "q3_k" ? 32 : 0
            for (k, b) in rtn.enumerated() {
                let d = HalfFloat.float(fromHalf: b.d), dmin = HalfFloat.float(fromHalf: b.m)
                for j in 0..<n {
                    s[k * n + j] = d * Float(b.scales[j] - bias)
                    if !b.mins.isEmpty { m[k * n + j] = dmin * Float(b.mins[j]) }
                }
            }
        } else {
            // the reference's fp32 d and m (GGMLLegacyQuants.swift), before their fp16 storage
            let half: Float = format.maxCode == 15 ? 8 : 16
            for g in 0..<rows * groups {
                let x = w + g * 32
                if format.name.hasSuffix("_1") {
                    let (lo, hi) = GGMLLegacy.minMax(x)
                    s[g] = (hi - lo) / Float(format.maxCode); m[g] = lo
                } else {
                    s[g] = GGMLLegacy.signedMax(x) / -half
                }
            }
        }
        rtnBlocks = rtn
        scales = Var(try Tensor(shape: [rows, groups], s), requiresGrad: true)
        mins = Var(try Tensor(shape: [rows, groups], m), requiresGrad: format.minRange != nil || format.name.hasSuffix("_1"))
    }

    public var parameters: [(String, Var)] { hasMin ? [("scales", scales), ("mins", mins)] : [("scales", scales)] }

    public var summary: String { "\(format) blocks (llama.cpp), trainable scales" }

    /// The format's blocks of `weight` under the current parameters (row-major).
    public func blocks(weight: Tensor) throws -> [GGMLBlock] {
        guard weight.shape == [rows, cols] else {
            throw TensorError.shapeMismatch(op: "format training", lhs: weight.shape, rhs: [rows, cols], hint: "installed on a linear of another shape")
        }
        let perRow = cols / format.blockSize, n = isK ? format.subBlocks : 1
        var out = [GGMLBlock](repeating: GGMLBlock(), count: rows * perRow)
        let w = weight.data, s = scales.value.data, m = mins.value.data
        out.withUnsafeMutableBufferPointer { dst in
            parallelFor(rows, costPerItem: 8 * cols) { range in
                for r in range {
                    for b in 0..<perRow {
                        let k = r * perRow + b, x = w + k * format.blockSize
                        dst[k] = isK ? kBlock(x, k: k, s: s + k * n, m: m + k * n) : legacyBlock(x, d: s[k], m: m[k])
                    }
                }
            }
        }
        return out
    }

    /// The legacy reference's last step with this fp32 d (and m).
    func legacyBlock(_ x: UnsafePointer<Float>, d: Float, m: Float) -> GGMLBlock {
        let codes = (0..<32).map { j in Self.legacyCode(x[j], d: d, m: m, format: format) }
        return GGMLBlock(d: HalfFloat.half(from: d), m: hasMin ? HalfFloat.half(from: m) : 0, codes: codes)
    }

    /// The legacy reference's code of one value x under fp32 d (and m for the _1 types).
    static func legacyCode(_ x: Float, d: Float, m: Float, format: GGMLFormat) -> UInt8 {
        let top = format.maxCode, id: Float = d != 0 ? 1 / d : 0
        if format.name.hasSuffix("_1") { return UInt8(min(top, max(0, GGMLLegacy.truncated((x - m) * id + 0.5)))) }
        let half: Float = top == 15 ? 8 : 16
        return UInt8(min(top, max(0, GGMLLegacy.truncated(x * id + (half + 0.5)))))
    }

    /// ggml's nearest_int of a value first clamped to [lo, hi] (NaN -> lo): in range it is the
    /// reference's rounding, and it never sees a value the 2^23 trick cannot take.
    static func nearestClamped(_ f: Float, _ lo: Int, _ hi: Int) -> Int {
        guard f.isFinite else { return f == .infinity ? hi : lo }
        return max(lo, min(hi, GGMLKQuants.nearestInt(min(Float(hi + 1), max(Float(lo - 1), f)))))
    }

    /// The k-quant reference's last step with sub-block scales s and mins m against block k's d, dmin.
    func kBlock(_ x: UnsafePointer<Float>, k: Int, s: UnsafePointer<Float>, m: UnsafePointer<Float>) -> GGMLBlock {
        var block = rtnBlocks[k]
        let d = HalfFloat.float(fromHalf: block.d), dmin = HalfFloat.float(fromHalf: block.m)
        let bias = scaleBias, offset = codeOffset, size = subBlockSize
        // the integer ranges the effective (unbiased) scale and the min take
        let sLo = (format.scaleRange?.lowerBound ?? 0) - bias, sHi = (format.scaleRange?.upperBound ?? 0) - bias
        for j in 0..<format.subBlocks {
            if d != 0 { block.scales[j] = Self.nearestClamped(s[j] / d, sLo, sHi) + bias }
            if let r = format.minRange, dmin != 0 { block.mins[j] = Self.nearestClamped(m[j] / dmin, r.lowerBound, r.upperBound) }
            let dd = d * Float(block.scales[j] - bias)
            if dd == 0 { continue }
            let dm = format.minRange != nil ? dmin * Float(block.mins[j]) : 0
            for i in 0..<size {
                let e = size * j + i
                block.codes[e] = UInt8(Self.nearestClamped((x[e] + dm) / dd, -offset, format.maxCode - offset) + offset)
            }
        }
        return block
    }

    /// Blocks -> bytes -> ggml's decoder: the weight llama.cpp would run.
    func decoded(_ blocks: [GGMLBlock]) throws -> Tensor {
        try Tensor(shape: [rows, cols], try format.decode(try format.encode(blocks)))
    }

    public func effectiveWeight(_ weight: Var) throws -> Var {
        let blocks = try blocks(weight: weight.value)
        let out = try decoded(blocks)
        return Var.custom(out, name: "ggml_fake_quant", parents: [weight, scales, mins]) { [self] g in
            backward(blocks, weight: weight, grad: g)
        }
    }

    /// Straight-through gradients (see the header), accumulated per row (rows run in parallel).
    func backward(_ blocks: [GGMLBlock], weight: Var, grad: Tensor) {
        let x = weight.value.data, g = grad.data, s = scales.value.data, m = mins.value.data
        let dw = weight.requiresGrad ? weight.gradBuffer().data : nil
        let ds = scales.requiresGrad ? scales.gradBuffer().data : nil
        let dm = mins.requiresGrad ? mins.gradBuffer().data : nil
        let perRow = cols / format.blockSize, size = format.blockSize, top = Float(format.maxCode)
        let offset = Float(codeOffset), sub = subBlockSize, bias = scaleBias
        parallelFor(rows, costPerItem: 6 * cols) { range in
            for r in range {
                for b in 0..<perRow {
                    let block = blocks[r * perRow + b]
                    for e in 0..<size {
                        let i = r * cols + b * size + e, grp = i / sub, q = Float(block.codes[e])
                        // the effective scale and min the forward pass used for this element
                        var scale: Float, low: Float
                        if isK {
                            let j = e / sub
                            scale = HalfFloat.float(fromHalf: block.d) * Float(block.scales[j] - bias)
                            low = block.mins.isEmpty ? 0 : -HalfFloat.float(fromHalf: block.m) * Float(block.mins[j])
                        } else {
                            scale = s[grp]; low = hasMin ? m[grp] : 0
                        }
                        let t = scale != 0 ? (x[i] - low) / scale + offset : offset
                        let inside = scale != 0 && t >= -0.5 && t <= top + 0.5
                        if inside { dw?[i] += g[i] }
                        ds?[grp] += g[i] * (inside ? q - t : q - offset)
                        if !inside, let dm { dm[grp] += isK ? -g[i] : g[i] }
                    }
                }
            }
        }
    }

    /// The trained blocks frozen as llama.cpp stores them.
    public func harden(weight: Tensor) throws -> GGMLQuantizer {
        try GGMLQuantizer(format: format, rows: rows, cols: cols, bytes: try format.encode(try blocks(weight: weight)))
    }
}
