// GPTQ in llama.cpp's legacy block formats (q4_0 q4_1 q5_0 q5_1; issue 28 item 2): the block
// scales stay as llama.cpp's RTN computes them on the original weight (fp32 d, and m for the _1
// types, as GGMLTrainQuantizer starts from them), and GPTQ chooses the codes column by column:
// column p's code is the reference's own rounding of the error-updated w_p under its block's
// d (and m), its value ggml's dequantization of that code (fp16 d, m), and the error
// e = (w_p - value) / U_pp goes to the later columns through U, the upper Cholesky factor of the
// dampened H^-1 (GPTQ.swift: dead inputs get H_ii = 1 and a zero weight, damp * mean(diag H)).
// The result is encoded into ggml bytes, so what it installs is exactly what a GGUF file stores.
// Plain column-by-column updates (no lazy batching): O(out * in^2), seconds for SmolLM2's layers.
// On a whole model (`quantize MODEL method=gptq format=F`) the linears are visited in GPTQ's own
// true-sequential order (GPTQ.swift's gptqWalk), each getting the format GGMLQuantization.plan
// gives it (F, or llama.cpp's fallback where its input size is not whole blocks).
import QATModel
import QATTensor

public enum GGMLGPTQ {
    /// The formats GPTQ can choose codes in.
    public static let formats = ["q4_0", "q4_1", "q5_0", "q5_1"]

    /// GPTQ of a (rows, cols) weight in `format` given the Hessian (cols, cols) of its inputs.
    public static func quantize(weight: Tensor, hessian: [Double], format: GGMLFormat, damp: Double = 0.01) throws -> GGMLQuantizer {
        guard formats.contains(format.name) else {
            throw TensorError.invalidArgument(op: "gptq format", message: "format \(format) is not built for GPTQ; use one of \(formats.joined(separator: ", "))")
        }
        // block parameters from RTN on the original weight (also checks shape and finiteness)
        let start = try GGMLTrainQuantizer(weight: weight, format: format)
        let rows = start.rows, cols = start.cols
        guard hessian.count == cols * cols else {
            throw TensorError.invalidArgument(op: "gptq format", message: "a Hessian of \(hessian.count) values for \(cols) inputs; expected \(cols * cols)")
        }
        let d = start.scales.value.toArray(), m = start.mins.value.toArray()
        var h = hessian, w = weight.toArray()
        var meanDiag = 0.0
        for i in 0..<cols where h[i * cols + i] == 0 {
            h[i * cols + i] = 1
            for r in 0..<rows { w[r * cols + i] = 0 }
        }
        for i in 0..<cols { meanDiag += h[i * cols + i] }
        meanDiag /= Double(cols)
        for i in 0..<cols { h[i * cols + i] += damp * meanDiag }
        let u = try upperCholeskyOfInverse(h, n: cols)
        var codes = [UInt8](repeating: 0, count: rows * cols)
        let shift: Float = format.name.hasSuffix("_1") ? 0 : (format.maxCode == 15 ? 8 : 16)
        w.withUnsafeMutableBufferPointer { wp in
            codes.withUnsafeMutableBufferPointer { cp in
                guard let base = wp.baseAddress else { return }
                parallelFor(rows, costPerItem: cols * cols) { range in
                    for r in range {
                        let row = base + r * cols
                        for p in 0..<cols {
                            let g = r * (cols / 32) + p / 32
                            let q = GGMLTrainQuantizer.legacyCode(row[p], d: d[g], m: m[g], format: format)
                            cp[r * cols + p] = q
                            let value = dequantized(q, d: d[g], m: m[g], shift: shift)
                            let e = Double(row[p] - value) / u[p * cols + p]
                            for j in (p + 1)..<max(p + 1, cols) { row[j] -= Float(e * u[p * cols + j]) }
                        }
                    }
                }
            }
        }
        let blocks = (0..<rows * cols / 32).map { k in
            GGMLBlock(d: HalfFloat.half(from: d[k]), m: shift == 0 ? HalfFloat.half(from: m[k]) : 0,
                      codes: Array(codes[k * 32..<(k + 1) * 32]))
        }
        return try GGMLQuantizer(format: format, rows: rows, cols: cols, bytes: try format.encode(blocks))
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
