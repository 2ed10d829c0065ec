// A linear quantized in one of llama.cpp's block formats (GGMLFormat.swift), and RTN in a format
// over a whole model.
//
// GGMLQuantizer holds the weight as llama.cpp stores it: `bytes`, the (rows, cols) weight's
// blocks row after row in the ggml layout (QATIO/GGUFTypes.swift). Its effective weight is ggml's
// own decoder run on those bytes, computed once, so what QATLab evaluates is what llama.cpp runs,
// and a GGUF export of the linear is a copy of `bytes`. Its codes never change; E2E-QP can train
// the fp16 d (and m / dmin) the blocks store (GGMLQuantizer+E2E.swift), rewriting `bytes` as it goes.
//
// A linear whose input size is not a whole number of the format's blocks gets llama.cpp's own
// fallback type for such tensors (GGMLFormat.fallback: q2_k and q3_k -> q4_0, q4_k -> q5_0,
// q5_k -> q5_1, q6_k -> q8_0). A linear that fits neither (inputs not a multiple of 32, or a
// 32-element format, which has no fallback) is refused before anything is changed.
import QATAutograd
import QATModel
import QATIO
import QATTensor

public final class GGMLQuantizer: LinearQuantizer {
    public let format: GGMLFormat
    public let rows: Int, cols: Int
    /// The blocks in ggml's layout, row after row.
    public internal(set) var bytes: [UInt8]
    /// ggml's dequantization of `bytes`, (rows, cols).
    public internal(set) var weight: Tensor
    /// While E2E-QP trains the blocks' fp16 fields: their fp32 masters (nil otherwise).
    var stepSizes: GGMLStepSizes?

    /// Takes over `bytes`, the blocks of a (rows, cols) weight in `format`.
    public init(format: GGMLFormat, rows: Int, cols: Int, bytes: [UInt8]) throws {
        guard rows >= 0, cols % format.blockSize == 0,
              format.type.byteCount(elements: rows * cols) == bytes.count else {
            throw TensorError.invalidArgument(op: "ggml quantizer", message: "\(bytes.count) bytes of \(format) for a \(rows)x\(cols) weight; expected \(format.type.byteCount(elements: rows * cols).map(String.init) ?? "a multiple of \(format.blockSize) columns")")
        }
        self.format = format; self.rows = rows; self.cols = cols; self.bytes = bytes
        self.weight = try Tensor(shape: [rows, cols], try format.decode(bytes))
    }

    /// llama.cpp's reference quantization of `weight` (rows, cols) in `format`.
    public convenience init(weight: Tensor, format: GGMLFormat) throws {
        let bytes = try format.quantize(weight)
        try self.init(format: format, rows: weight.shape[0], cols: weight.shape[1], bytes: bytes)
    }

    public func effectiveWeight(_ weight: Var) throws -> Var {
        guard weight.shape == [rows, cols] else {
            throw TensorError.shapeMismatch(op: "ggml quantizer", lhs: weight.shape, rhs: [rows, cols], hint: "installed on a linear of another shape")
        }
        if let t = stepSizes { return try trainingWeight(t) }
        return Var(self.weight)
    }

    public var parameters: [(String, Var)] { stepSizes?.parameters ?? [] }

    public var summary: String { "\(format) blocks (llama.cpp), \(stepSizes == nil ? "frozen" : "training fp16 d")" }
}

public enum GGMLQuantization {
    /// The format each block linear of `model` gets under `format` (its fallback where the input
    /// size is not whole blocks), by full name "blocks.I.NAME"; an error when a linear fits neither.
    public static func plan(_ model: LlamaModel, format: GGMLFormat) throws -> [(name: String, linear: Linear, format: GGMLFormat)] {
        var out: [(name: String, linear: Linear, format: GGMLFormat)] = []
        for (i, block) in model.blocks.enumerated() {
            for (name, linear) in zip(QuantPolicy.linearNames, block.linears) {
                let full = "blocks.\(i).\(name)"
                if linear.inFeatures % format.blockSize == 0 { out.append((full, linear, format)); continue }
                guard let fallback = format.fallback, linear.inFeatures % fallback.blockSize == 0 else {
                    let why = format.fallback.map { "nor of its fallback \($0)'s \($0.blockSize)" } ?? "and \(format) has no fallback type"
                    throw TensorError.invalidArgument(op: "format \(format)", message: "\(full) has \(linear.inFeatures) inputs, not a multiple of \(format)'s \(format.blockSize)-element blocks \(why), so no block format holds it; quantize a model whose input sizes are multiples of 32")
                }
                out.append((full, linear, fallback))
            }
        }
        return out
    }

    /// Round to nearest in `format` as llama.cpp does it, on every block linear of `model` (the
    /// whole plan is checked before any linear changes). Returns how many linears got each format.
    @discardableResult
    public static func apply(to model: LlamaModel, format: GGMLFormat) throws -> [(format: GGMLFormat, linears: Int)] {
        let plan = try plan(model, format: format)
        for (name, linear, _) in plan {
            try QuantMethod.requireFinite(linear, name: name, method: "format \(format)")
        }
        for (_, linear, f) in plan {
            linear.quantizer = try GGMLQuantizer(weight: linear.weight.value, format: f)
            linear.weight.requiresGrad = false
        }
        return counts(plan)
    }

    /// How many linears of `plan` each format holds, in the table's order (formats with none left out).
    public static func counts(_ plan: [(name: String, linear: Linear, format: GGMLFormat)]) -> [(format: GGMLFormat, linears: Int)] {
        GGMLFormats.all.compactMap { f in
            let n = plan.filter { $0.format == f }.count
            return n > 0 ? (f, n) : nil
        }
    }
}

/// A linear in a llama.cpp format exports its own blocks: `export format=gguf` copies them
/// byte for byte (GGUFLinearEncoding asks block providers first).
extension GGMLQuantizer: GGMLBlockProvider {
    public func ggmlBlocks() throws -> (type: GGMLType, bytes: [UInt8]) { (format.type, stepSizes?.stored(in: bytes) ?? bytes) }
}

extension GGMLQuantization {
    /// Runs `body` (which writes `model` as a QATLab checkpoint) with the linears in a llama.cpp
    /// format set aside: the checkpoint carries their full-precision weights, and
    /// `copyQuantizers` puts their blocks on the model read back.
    public static func withFormatLinearsSetAside<T>(_ model: LlamaModel, _ body: () throws -> T) rethrows -> T {
        let linears = model.blocks.flatMap(\.linears)
        let formatted = linears.indices.compactMap { i in (linears[i].quantizer as? GGMLQuantizer).map { (i, $0) } }
        for (i, _) in formatted { linears[i].quantizer = nil }
        defer { for (i, q) in formatted { linears[i].quantizer = q } }
        return try body()
    }

    /// Gives every linear of `copy` whose counterpart in `source` is in a format its own quantizer
    /// over the same blocks, rows in `copy`'s order: a checkpoint stores q/k in Hugging Face
    /// (rotate-half) row order, so an interleaved source's q/k block rows (whole blocks per row)
    /// are permuted as its weights were, and back again if `copy` is interleaved.
    public static func copyQuantizers(from source: LlamaModel, to copy: LlamaModel) throws {
        let from = CheckpointIO.slots(source), to = CheckpointIO.slots(copy)
        guard from.count == to.count else {
            throw TensorError.invalidArgument(op: "copy", message: "the copy has \(to.count) linears, the source \(from.count); expected the same model")
        }
        for (s, c) in zip(from, to) {
            guard let q = s.linear.quantizer as? GGMLQuantizer else { continue }
            let bytes = try q.ggmlBlocks().bytes, width = bytes.count / max(q.rows, 1)
            var rows = (0..<q.rows).map { Array(bytes[($0 * width)..<(($0 + 1) * width)]) }
            if let order = s.hfRows { rows = order.map { rows[$0] } }        // source -> HF order
            if let order = c.hfRows {                                        // HF -> copy order
                var back = rows
                for (hf, own) in order.enumerated() { back[own] = rows[hf] }
                rows = back
            }
            c.linear.quantizer = try GGMLQuantizer(format: q.format, rows: q.rows, cols: q.cols, bytes: rows.flatMap { $0 })
            c.linear.weight.requiresGrad = false
        }
    }
}
