// The shared vocabulary of every quantizer: a bit width and group size (QuantSpec), and a
// hard-quantized weight as integer codes with per-group scales and zero points (QuantizedWeight).
//
// Groups are `groupSize` consecutive input channels of one output row (groupSize -1: the whole
// row). When the input size is not a multiple of the group size the last group is shorter, as
// GPTQ's ceil(in/g) groups: SmolLM2's 576 inputs at g=128 are 4 groups of 128 and one of 64.
// Codes are unsigned, 0...2^bits-1; the weight they stand for is W[o,i] = (q[o,i] - z[o,g]) * s[o,g].
import QATTensor

public struct QuantSpec: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Bits per code, 2...8.
    public let bits: Int
    /// Input channels per group; -1 means the whole row.
    public let groupSize: Int

    public init(bits: Int, groupSize: Int) throws {
        guard (2...8).contains(bits) else {
            throw TensorError.invalidArgument(op: "quant spec", message: "bits=\(bits) is not supported; use 2...8")
        }
        guard groupSize == -1 || groupSize >= 1 else {
            throw TensorError.invalidArgument(op: "quant spec", message: "group=\(groupSize) is not valid; use a positive group size or -1 for whole rows")
        }
        self.bits = bits; self.groupSize = groupSize
    }

    /// Largest code, 2^bits - 1.
    public var qmax: Int { (1 << bits) - 1 }

    /// The group size for rows of `inFeatures` inputs.
    public func effectiveGroupSize(inFeatures: Int) -> Int { groupSize == -1 ? inFeatures : groupSize }

    /// Number of groups per row: ceil(in / g).
    public func groupCount(inFeatures: Int) -> Int {
        let g = effectiveGroupSize(inFeatures: inFeatures)
        return (inFeatures + g - 1) / g
    }

    /// Input channels of group `group` (the last may be shorter).
    public func columns(ofGroup group: Int, inFeatures: Int) -> Range<Int> {
        let g = effectiveGroupSize(inFeatures: inFeatures)
        return (group * g)..<min((group + 1) * g, inFeatures)
    }

    /// "w3g128", or "w4" for whole-row groups.
    public var description: String { groupSize == -1 ? "w\(bits)" : "w\(bits)g\(groupSize)" }
}

/// A hard-quantized (out, in) weight.
public struct QuantizedWeight: Sendable {
    public let spec: QuantSpec
    /// Output features (rows) and input features (columns).
    public let rows: Int, cols: Int
    // (rows, cols), each code in 0...qmax
    public var codes: [UInt8]
    // (rows, groups)
    public var scales: [Float]
    // (rows, groups); integer values in 0...qmax
    public var zeros: [Float]
    // (cols): group of each input column; nil means column / groupSize (GPTQ act-order sets it)
    public var groupIndex: [Int32]?

    public init(spec: QuantSpec, rows: Int, cols: Int, codes: [UInt8], scales: [Float], zeros: [Float], groupIndex: [Int32]? = nil) throws {
        let groups = groupIndex.map { ($0.max().map { Int($0) + 1 }) ?? 0 } ?? spec.groupCount(inFeatures: cols)
        guard codes.count == rows * cols, scales.count == rows * groups, zeros.count == rows * groups,
              groupIndex.map({ $0.count == cols }) ?? true else {
            throw TensorError.invalidArgument(op: "quantized weight", message: "sizes disagree: \(rows)x\(cols) codes=\(codes.count) scales=\(scales.count) zeros=\(zeros.count) groups=\(groups)")
        }
        self.spec = spec; self.rows = rows; self.cols = cols
        self.codes = codes; self.scales = scales; self.zeros = zeros; self.groupIndex = groupIndex
    }

    /// Groups per row.
    public var groupCount: Int { scales.count / max(rows, 1) }

    /// Group of input column `i`.
    @inline(__always)
    public func group(ofColumn i: Int) -> Int {
        if let gi = groupIndex { return Int(gi[i]) }
        return i / spec.effectiveGroupSize(inFeatures: cols)
    }

    /// W[o, i] = (q[o, i] - z[o, g(i)]) * s[o, g(i)], as an (rows, cols) tensor.
    public func dequantized() -> Tensor {
        let out = Tensor(uninitialized: [rows, cols])
        let groups = groupCount
        for o in 0..<rows {
            for i in 0..<cols {
                let g = o * groups + group(ofColumn: i)
                out.data[o * cols + i] = (Float(codes[o * cols + i]) - zeros[g]) * scales[g]
            }
        }
        return out
    }
}
