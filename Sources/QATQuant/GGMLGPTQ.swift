// GPTQ in llama.cpp's block formats (issue 28 item 2): the legacy q4_0 q4_1 q5_0 q5_1 and the
// k-quants q2_k q3_k q4_k q5_k q6_k. The block scales stay as llama.cpp's RTN computes them on the
// original weight, and GPTQ chooses the codes column by column:
//   legacy  fp32 d (and m for the _1 types, as GGMLTrainQuantizer starts from them); column p's
//           code is the reference's own rounding of the error-updated w_p under its block's d
//           (and m), its value ggml's dequantization of that code (fp16 d, m)
//   k       RTN's fp16 d and dmin and its integer sub-block scales (and mins) stay; column p's
//           code is nearest((w_p + dmin * mn) / (d * sc)) clamped to the format's code range, as
//           the reference's last step rounds, its value (d * sc) * (q - offset) - dmin * mn, the
//           decoder's formula (a sub-block whose d * sc is 0 keeps its RTN codes: no code moves it)
// and the error e = (w_p - value) / U_pp goes to the later columns through U, the upper Cholesky
// factor of the dampened H^-1 (GPTQ.swift: dead inputs get H_ii = 1 and a zero weight, damp *
// mean(diag H)). With a diagonal H nothing propagates and the codes are RTN's, bit for bit. The
// result is encoded into ggml bytes, so what it installs is exactly what a GGUF file stores.
// Plain column-by-column updates (no lazy batching): O(out * in^2), seconds for SmolLM2's layers.
// On a whole model (`quantize MODEL method=gptq format=F`) the linears are visited in GPTQ's own
// true-sequential order (GPTQ.swift's gptqWalk), each getting the format GGMLQuantization.plan
// gives it (F, or llama.cpp's fallback where its input size is not whole super-blocks; q6_k's
// fallback q8_0 is not among GPTQ's formats, so such a model is refused before any change).
import QATModel
import QATTensor

public enum GGMLGPTQ {
    /// The formats GPTQ can choose codes in.
    public static let formats = ["q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]

    /// GPTQ of a (rows, cols) weight in `format` given the Hessian (cols, cols) of its inputs.
    public static func quantize(weight: Tensor, hessian: [Double], format: GGMLFormat, damp: Double = 0.01) throws -> GGMLQuantizer {
        let blocks = try chosenBlocks(weight: weight, hessian: hessian, format: format, damp: damp)
        let (rows, cols) = try format.shape(of: weight)
        return try GGMLQuantizer(format: format, rows: rows, cols: cols, bytes: try format.encode(blocks))
    }

    /// The blocks GPTQ chooses (row-major, as the format stores them): RTN's scales, GPTQ's codes.
    static func chosenBlocks(weight: Tensor, hessian: [Double], format: GGMLFormat, damp: Double) throws -> [GGMLBlock] {
        guard formats.contains(format.name) else {
            throw TensorError.invalidArgument(op: "gptq format", message: "format \(format) is not built for GPTQ; use one of \(formats.joined(separator: ", "))")
        }
        // block parameters from RTN on the original weight (also checks shape and finiteness)
        let start = try GGMLTrainQuantizer(weight: weight, format: format)
        let rows = start.rows, cols = start.cols
        guard hessian.count == cols * cols else {
            throw TensorError.invalidArgument(op: "gptq format", message: "a Hessian of \(hessian.count) values for \(cols) inputs; expected \(cols * cols)")
        }
        var w = weight.toArray()
        let u = try dampedFactor(hessian, weight: &w, rows: rows, cols: cols, damp: damp)
        return format.blockSize == 256
            ? kBlocks(w: &w, u: u, start: start)
            : legacyBlocks(w: &w, u: u, start: start)
    }

    /// U of the dampened H^-1 (dead inputs: H_ii = 1 and their weight column zeroed in `w`).
    static func dampedFactor(_ hessian: [Double], weight w: inout [Float], rows: Int, cols: Int, damp: Double) throws -> [Double] {
        var h = hessian
        w.withUnsafeMutableBufferPointer { p in
            if let base = p.baseAddress { gptqDeadInputs(&h, weight: base, rows: rows, cols: cols) }
        }
        gptqDampen(&h, cols: cols, damp: damp)
        return try upperCholeskyOfInverse(h, n: cols)
    }

    /// GPTQ's column loop over every row of `w` (rows, cols), in parallel over rows: `choose(r, p,
    /// value)` rounds the error-updated w[r, p], records its code and returns the value it stands for.
    static func propagate(w: inout [Float], u: [Double], rows: Int, cols: Int,
                          choose: (_ row: Int, _ column: Int, _ value: Float) -> Float) {
        w.withUnsafeMutableBufferPointer { wp in
            guard let base = wp.baseAddress else { return }
            parallelFor(rows, costPerItem: cols * cols) { range in
                for r in range {
                    let row = base + r * cols
                    for p in 0..<cols {
                        let value = choose(r, p, row[p])
                        let e = Double(row[p] - value) / u[p * cols + p]
                        for j in (p + 1)..<max(p + 1, cols) { row[j] -= Float(e * u[p * cols + j]) }
                    }
                }
            }
        }
    }

    /// Legacy 32-element blocks: RTN's fp32 d (and m), codes by the reference's truncation.
    static func legacyBlocks(w: inout [Float], u: [Double], start: GGMLTrainQuantizer) -> [GGMLBlock] {
        let format = start.format, rows = start.rows, cols = start.cols
        let d = start.scales.value.toArray(), m = start.mins.value.toArray()
        let shift: Float = format.name.hasSuffix("_1") ? 0 : (format.maxCode == 15 ? 8 : 16)
        var all = [UInt8](repeating: 0, count: rows * cols)
        all.withUnsafeMutableBufferPointer { codes in
            propagate(w: &w, u: u, rows: rows, cols: cols) { r, p, x in
                let g = r * (cols / 32) + p / 32
                let q = GGMLTrainQuantizer.legacyCode(x, d: d[g], m: m[g], format: format)
                codes[r * cols + p] = q
                return dequantized(q, d: d[g], m: m[g], shift: shift)
            }
        }
        return (0..<rows * cols / 32).map { k in
            GGMLBlock(d: HalfFloat.half(from: d[k]), m: shift == 0 ? HalfFloat.half(from: m[k]) : 0,
                      codes: Array(all[k * 32..<(k + 1) * 32]))
        }
    }

    /// k-quant super-blocks: RTN's d, dmin and integer scales (mins) stay, the codes are GPTQ's.
    static func kBlocks(w: inout [Float], u: [Double], start: GGMLTrainQuantizer) -> [GGMLBlock] {
        let format = start.format, rows = start.rows, cols = start.cols
        let rtn = start.rtnBlocks, perRow = cols / 256, size = start.subBlockSize
        let offset = start.codeOffset, bias = start.scaleBias, hasMin = format.minRange != nil
        var all = [UInt8](repeating: 0, count: rows * cols)
        all.withUnsafeMutableBufferPointer { codes in
            propagate(w: &w, u: u, rows: rows, cols: cols) { r, p, x in
                let k = r * perRow + p / 256, e = p % 256, j = e / size, b = rtn[k]
                let dd = HalfFloat.float(fromHalf: b.d) * Float(b.scales[j] - bias)
                let dm = hasMin ? HalfFloat.float(fromHalf: b.m) * Float(b.mins[j]) : 0
                var q = Int(b.codes[e])
                if dd != 0 { q = GGMLTrainQuantizer.nearestClamped((x + dm) / dd, -offset, format.maxCode - offset) + offset }
                codes[r * cols + p] = UInt8(truncatingIfNeeded: q)
                return dd * Float(q - offset) - dm
            }
        }
        return rtn.enumerated().map { k, b in
            var block = b
            block.codes = Array(all[k * 256..<(k + 1) * 256])
            return block
        }
    }

    /// GPTQ in `format` on every block linear of `model`, calibrated on `calibration`; the whole
    /// plan is checked (shapes, finiteness, formats GPTQ supports) before any linear changes.
    /// Returns how many linears got each format.
    @discardableResult
    public static func apply(to model: LlamaModel, format: GGMLFormat, calibration: CalibrationSet,
                             log: (String) -> Void = { _ in }) throws -> [(format: GGMLFormat, linears: Int)] {
        let plan = try GGMLQuantization.plan(model, format: format)
        var formatOf: [ObjectIdentifier: GGMLFormat] = [:]
        for (name, linear, f) in plan {
            guard formats.contains(f.name) else {
                throw TensorError.invalidArgument(op: "gptq format", message: "\(name) would be \(f) (format=\(format)), which GPTQ cannot choose codes in; GPTQ supports \(formats.joined(separator: ", "))")
            }
            try QuantMethod.requireFinite(linear, name: name, method: "gptq format=\(format)")
            formatOf[ObjectIdentifier(linear)] = f
        }
        try gptqWalk(model: model, calibration: calibration, range: model.blocks.indices) { block, bi, stage, x, rope in
            let h = try stageHessian(stage[0], block: block, inputs: x, rope: rope).hessian
            for role in stage {
                let linear = role.linear(in: block)
                guard let f = formatOf[ObjectIdentifier(linear)] else { continue }
                linear.quantizer = try quantize(weight: linear.weight.value, hessian: h, format: f)
                linear.weight.requiresGrad = false
                log("gptq blocks.\(bi).\(linear.name) \(f)")
            }
        }
        return GGMLQuantization.counts(plan)
    }

    /// ggml's dequantization of one legacy code: (q - shift) * fp16(d), or q * fp16(d) + fp16(m).
    static func dequantized(_ q: UInt8, d: Float, m: Float, shift: Float) -> Float {
        let dh = HalfFloat.float(fromHalf: HalfFloat.half(from: d))
        if shift != 0 { return (Float(q) - shift) * dh }
        return Float(q) * dh + HalfFloat.float(fromHalf: HalfFloat.half(from: m))
    }
}
