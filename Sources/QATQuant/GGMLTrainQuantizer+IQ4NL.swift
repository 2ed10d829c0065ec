// A trainable linear in IQ4_NL (GGMLIQ4NL.swift), so Block-AP in q2_k or q3_k can train the
// tensors llama.cpp stores in that fallback type. Kept apart from GGMLTrainQuantizer (the
// integer-grid formats): IQ4_NL's codes index a non-linear table, so its rounding and its
// straight-through gradients are its own.
//
// Parameters: d, one fp32 master per 32 columns of a row, (rows, cols / 32), started from the
// fp32 d llama.cpp's quantize_iq4_nl settles on (its scale search, GGMLIQ4NL.fitScale). The
// forward pass finishes each block as that quantizer does: codes q = bestIndex(x * (1/d)) (ggml's
// best_index_int8: the nearest table level, the upper one on a tie; 8 when d = 0) and d stored as
// fp16; the effective weight is ggml's decoder run on the blocks' bytes. So the first forward is
// llama.cpp's RTN bit for bit, and `harden` hands over the bytes a GGUF file stores.
//
// Gradients are straight-through, LSQ-style, with t = x / d (as x * (1/d)) and v = table[q]:
//   t inside the table's range [-127, 113]   dW = g, dd = g * (v - t)
//   outside (or d = 0)                       dW = 0, dd = g * v
// d is the only quantizer parameter (IQ4_NL has no min): `mins` is zeros, never trained, so the
// class answers the same questions Block-AP asks GGMLTrainQuantizer (GGMLTrainableQuantizer).
import QATAutograd
import QATModel
import QATTensor

/// A trainable quantizer in a llama.cpp block format: Block-AP installs one per linear, trains
/// its `scales` (and `mins` when `parameters` lists them) and freezes it with `harden`.
public protocol GGMLTrainableQuantizer: LinearQuantizer {
    var scales: Var { get }
    var mins: Var { get }
    /// The trained blocks frozen as llama.cpp stores them.
    func harden(weight: Tensor) throws -> GGMLQuantizer
}

extension GGMLTrainQuantizer: GGMLTrainableQuantizer {}

public enum GGMLTrainables {
    /// Every format Block-AP trains in: GGMLTrainQuantizer's integer-grid formats and iq4_nl.
    public static let formats = GGMLTrainQuantizer.trainable + ["iq4_nl"]

    /// The trainable quantizer for a linear the plan put in `format`, started from llama.cpp's RTN.
    public static func make(weight: Tensor, format: GGMLFormat) throws -> any GGMLTrainableQuantizer {
        format == .iq4_nl ? try GGMLIQ4NLTrainQuantizer(weight: weight) : try GGMLTrainQuantizer(weight: weight, format: format)
    }
}

public final class GGMLIQ4NLTrainQuantizer: GGMLTrainableQuantizer {
    public let format = GGMLFormat.iq4_nl
    public let rows: Int, cols: Int
    /// (rows, cols / 32): each block's fp32 d.
    public let scales: Var
    /// (rows, cols / 32) zeros: IQ4_NL has no min (not a parameter).
    public let mins: Var

    /// llama.cpp's quantize_iq4_nl of `weight` (rows, cols) as the starting d.
    public init(weight: Tensor) throws {
        let (rows, cols) = try GGMLFormat.iq4_nl.shape(of: weight)
        self.rows = rows; self.cols = cols
        let groups = rows * cols / 32, w = weight.data
        var d = [Float](repeating: 0, count: groups)
        d.withUnsafeMutableBufferPointer { out in
            parallelFor(rows, costPerItem: 40 * cols) { range in
                for g in (range.lowerBound * cols / 32)..<(range.upperBound * cols / 32) { out[g] = GGMLIQ4NL.fitScale(w + 32 * g) }
            }
        }
        scales = Var(try Tensor(shape: [rows, cols / 32], d), requiresGrad: true)
        mins = Var(try Tensor(shape: [rows, cols / 32], [Float](repeating: 0, count: groups)), requiresGrad: false)
    }

    public var parameters: [(String, Var)] { [("scales", scales)] }

    public var summary: String { "\(format) blocks (llama.cpp), trainable scales" }

    /// The blocks of `weight` under the current d (row-major, one per 32 columns).
    public func blocks(weight: Tensor) throws -> [GGMLBlock] {
        guard weight.shape == [rows, cols] else {
            throw TensorError.shapeMismatch(op: "iq4_nl training", lhs: weight.shape, rhs: [rows, cols], hint: "installed on a linear of another shape")
        }
        var out = [GGMLBlock](repeating: GGMLBlock(), count: rows * cols / 32)
        let w = weight.data, d = scales.value.data
        out.withUnsafeMutableBufferPointer { dst in
            parallelFor(rows, costPerItem: 8 * cols) { range in
                for g in (range.lowerBound * cols / 32)..<(range.upperBound * cols / 32) { dst[g] = GGMLIQ4NL.block(w + 32 * g, d: d[g]) }
            }
        }
        return out
    }

    public func effectiveWeight(_ weight: Var) throws -> Var {
        let blocks = try blocks(weight: weight.value)
        let out = try Tensor(shape: [rows, cols], try format.decode(try format.encode(blocks)))
        return Var.custom(out, name: "iq4_nl_fake_quant", parents: [weight, scales]) { [self] g in
            backward(blocks, weight: weight, grad: g)
        }
    }

    /// Straight-through gradients (see the header), rows in parallel (each owns its d's).
    func backward(_ blocks: [GGMLBlock], weight: Var, grad: Tensor) {
        let x = weight.value.data, g = grad.data, d = scales.value.data
        let dw = weight.requiresGrad ? weight.gradBuffer().data : nil
        let dd = scales.requiresGrad ? scales.gradBuffer().data : nil
        let levels = GGMLIQ4NL.levels, low = levels[0], high = levels[15]
        parallelFor(rows, costPerItem: 6 * cols) { range in
            for i in (range.lowerBound * cols)..<(range.upperBound * cols) {
                let grp = i / 32, v = levels[Int(blocks[grp].codes[i % 32])]
                let t = d[grp] != 0 ? x[i] * (1 / d[grp]) : 0
                let inside = d[grp] != 0 && t >= low && t <= high
                if inside { dw?[i] += g[i] }
                dd?[grp] += g[i] * (inside ? v - t : v)
            }
        }
    }

    public func harden(weight: Tensor) throws -> GGMLQuantizer {
        try GGMLQuantizer(format: format, rows: rows, cols: cols, bytes: try format.encode(try blocks(weight: weight)))
    }
}
