// Min/max initialization (RTN), and the two quantizers a Linear can carry.
//
// Initialization per group (docs/efficientqat.md 2.2 and docs/qfa_baselines.md C/E):
//   .minMax       xmin, xmax = min, max of the group (EfficientQAT, AWQ and OmniQuant RTN)
//   .includeZero  xmin = min(min, 0), xmax = max(max, 0); an all-zero group uses [-1, 1] (GPTQ's
//                 quantizer, the GPTQ repo's --nearest RTN)
//   s = clamp((xmax - xmin) / qmax, 1e-4, 1e4)   z = round(clamp(-xmin / s, -1e4, 1e4))
// computed in fp32 (the reference computes them in fp16). z is kept unclamped to [0, qmax], as the
// reference keeps it: the forward uses z' = clamp(round(z), 0, qmax), so a group whose minimum is
// above 0 starts with z < 0 and a clamped z' = 0. Both variants share the scale clamp, so a
// constant group gets s = 1e-4.
//
// FakeQuantizer (Block-AP): W-hat = fakequant(W; s, z) with learnable s and z; whether W itself
// trains is the Linear's `weight.requiresGrad`, whether s or z train is `scales.requiresGrad` /
// `zeros.requiresGrad`. HardQuantizer (E2E-QP): frozen integer codes, W = (q - z') * s', s trained
// and z frozen by default. `FakeQuantizer.harden` gives codes whose dequantization equals the
// fake quantizer's W-hat bit for bit.
import QATAutograd
import QATModel
import QATTensor

/// How min/max initialization chooses a group's range.
public enum RangeInit: String, Sendable, CaseIterable {
    /// The group's own min and max.
    case minMax
    /// The range widened to include 0 (GPTQ's quantizer).
    case includeZero
}

/// Per-group (scales, zeros), each (rows, groups), from the min/max of a (rows, cols) weight by
/// `grid`'s initialisation rule.
public func initialQuantParameters(weight: Tensor, spec: QuantSpec, range: RangeInit,
                                   grid: QuantGrid = .intAsym) throws -> (scales: Tensor, zeros: Tensor) {
    guard weight.rank == 2 else {
        throw TensorError.invalidShape(op: "quant init", shape: weight.shape, hint: "the weight must be (out, in)")
    }
    let l = QuantLayout(rows: weight.shape[0], cols: weight.shape[1], spec: spec)
    let scales = Tensor(uninitialized: [l.rows, l.groups]), zeros = Tensor(uninitialized: [l.rows, l.groups])
    let w = weight.data, qmax = Float(l.qmax)
    parallelFor(l.rows, costPerItem: l.cols) { rows in
        for row in rows {
            for gi in 0..<l.groups {
                var lo = Float.infinity, hi = -Float.infinity
                for col in l.columns(ofGroup: gi) {
                    let v = w[row * l.cols + col]
                    lo = min(lo, v); hi = max(hi, v)
                }
                let (s, z) = grid.initialParameters(lo, hi, qmax, range)
                scales.data[row * l.groups + gi] = s
                zeros.data[row * l.groups + gi] = z
            }
        }
    }
    return (scales, zeros)
}

/// Round-to-nearest quantization of a (rows, cols) weight: min/max init, then codes.
public func roundToNearest(weight: Tensor, spec: QuantSpec, range: RangeInit) throws -> QuantizedWeight {
    let (s, z) = try initialQuantParameters(weight: weight, spec: spec, range: range)
    return try hardQuantize(weight: weight, scales: s, zeros: z, spec: spec)
}

/// Integer codes of `weight` for (scales, zeros) with the stored s', z' (effective values), so
/// that `dequantized()` equals fakeQuantize's W-hat bit for bit.
public func hardQuantize(weight: Tensor, scales: Tensor, zeros: Tensor, spec: QuantSpec) throws -> QuantizedWeight {
    guard weight.rank == 2 else {
        throw TensorError.invalidShape(op: "hard quant", shape: weight.shape, hint: "the weight must be (out, in)")
    }
    let rows = weight.shape[0], cols = weight.shape[1]
    let l = try checkedLayout(rows: rows, cols: cols, scales: scales.shape, zeros: zeros.shape, spec: spec, op: "hard quant")
    // a NaN has no code (UInt8(NaN) traps): diverged training or a damaged file is an error here
    for (name, t) in [("weight", weight), ("scales", scales), ("zeros", zeros)] {
        if let i = (0..<t.count).first(where: { !t.data[$0].isFinite }) {
            throw TensorError.invalidArgument(op: "hard quant", message: "\(name) holds \(t.data[i]) at flat index \(i); expected finite values (did training diverge? lower lr= or start from a finite model)")
        }
    }
    var codes = [UInt8](repeating: 0, count: rows * cols)
    codes.withUnsafeMutableBufferPointer { q in
        if let qp = q.baseAddress { quantizeCodes(weight.data, scales: scales.data, zeros: zeros.data, qp, layout: l) }
    }
    let s = (0..<l.parameterCount).map { effectiveScale(scales.data[$0]) }
    let z = (0..<l.parameterCount).map { effectiveZero(zeros.data[$0], qmax: l.qmax) }
    return try QuantizedWeight(spec: spec, rows: rows, cols: cols, codes: codes, scales: s, zeros: z)
}

/// "trains s, z" / "trains s" / "frozen".
func trainingSummary(_ params: [(String, Var)]) -> String {
    let trained = params.filter { $0.1.requiresGrad }.map { $0.0 }
    return trained.isEmpty ? "frozen" : "trains " + trained.joined(separator: ", ")
}

/// Learnable group-wise fake quantization (Block-AP).
public final class FakeQuantizer: LinearQuantizer {
    public let spec: QuantSpec
    /// Output and input features of the weight it quantizes.
    public let rows: Int, cols: Int
    // (rows, groups) each; the forward uses s' = clamp(s) and z' = clamp(round(z))
    public let scales: Var, zeros: Var

    /// A quantizer with the given (rows, groups) scales and zeros for a (rows, cols) weight.
    /// Trainable flags are the Vars' requiresGrad; `name` prefixes the parameter names.
    public init(spec: QuantSpec, cols: Int, scales: Tensor, zeros: Tensor, name: String = "",
                trainScales: Bool = true, trainZeros: Bool = true) throws {
        let rows = scales.rank == 2 ? scales.shape[0] : -1
        _ = try checkedLayout(rows: rows, cols: cols, scales: scales.shape, zeros: zeros.shape, spec: spec, op: "fake quantizer")
        self.spec = spec; self.rows = rows; self.cols = cols
        let prefix = name.isEmpty ? "" : name + "."
        self.scales = Var(scales, requiresGrad: trainScales, name: prefix + "scales")
        self.zeros = Var(zeros, requiresGrad: trainZeros, name: prefix + "zeros")
    }

    /// A quantizer initialized by min/max from `weight` (rows, cols).
    public convenience init(weight: Tensor, spec: QuantSpec, range: RangeInit = .minMax, name: String = "") throws {
        let (s, z) = try initialQuantParameters(weight: weight, spec: spec, range: range)
        try self.init(spec: spec, cols: weight.shape[1], scales: s, zeros: z, name: name)
    }

    public func effectiveWeight(_ weight: Var) throws -> Var {
        try fakeQuantize(weight: weight, scales: scales, zeros: zeros, spec: spec)
    }

    public var parameters: [(String, Var)] { [(scales.name, scales), (zeros.name, zeros)] }

    public var summary: String { "\(spec) fake, \(trainingSummary(parameters))" }

    /// Fake quantization rounds z (fakeQuantForward), so its grid is always int_asym.
    public var grid: QuantGrid { .intAsym }

    /// The integer codes of `weight` under the current s, z: exact, dequantizing to W-hat bit for bit.
    public func harden(weight: Tensor) throws -> QuantizedWeight {
        guard weight.shape == [rows, cols] else {
            throw TensorError.shapeMismatch(op: "harden", lhs: weight.shape, rhs: [rows, cols], hint: "harden the weight this quantizer was made for")
        }
        return try hardQuantize(weight: weight, scales: scales.value, zeros: zeros.value, spec: spec)
    }
}

/// Frozen integer codes with trainable scales (and optionally zeros): E2E-QP.
public final class HardQuantizer: LinearQuantizer {
    public let spec: QuantSpec
    public let rows: Int, cols: Int
    // (rows, cols), 0...qmax
    public let codes: [UInt8]
    // (cols) or nil: contiguous groups
    public let groupIndex: [Int32]?
    // (rows, groups)
    public let scales: Var, zeros: Var
    /// The grid the codes dequantize on (QuantGrid.swift): int_asym, or int_asym_fractional_zero
    /// when the zero points are real numbers (clamped to [0, qmax], not rounded): E2E-QP training
    /// z, as the paper does with fp16 zeros (EfficientQAT Table 6: 2.50 bits at w2g64). A rounded
    /// z could only move by crossing a rounding boundary, which small learning rates never do.
    /// The gradient to z is -s' per element either way (straight through the clamp).
    public var grid: QuantGrid

    /// Whether the grid's zero points are real numbers. Setting it picks int_asym_fractional_zero
    /// (true) or int_asym (false); E2E-QP sets it when it trains z.
    public var fractionalZeros: Bool {
        get { !grid.zeroIsIntegral }
        set { grid = newValue ? .intAsymFractionalZero : .intAsym }
    }

    /// Takes over `qw`'s codes, scales and zeros. E2E-QP trains s only (the defaults). Without a
    /// `grid` (a checkpoint that records none, a fresh RTN weight) the grid is inferred from the
    /// zeros: int_asym_fractional_zero when any is not an integer, else int_asym.
    public init(_ qw: QuantizedWeight, name: String = "", grid: QuantGrid? = nil,
                trainScales: Bool = true, trainZeros: Bool = false) throws {
        spec = qw.spec; rows = qw.rows; cols = qw.cols; codes = qw.codes; groupIndex = qw.groupIndex
        self.grid = grid ?? (qw.zeros.contains { $0 != $0.rounded() } ? .intAsymFractionalZero : .intAsym)
        let g = qw.groupCount, prefix = name.isEmpty ? "" : name + "."
        scales = Var(try Tensor(shape: [rows, g], qw.scales), requiresGrad: trainScales, name: prefix + "scales")
        zeros = Var(try Tensor(shape: [rows, g], qw.zeros), requiresGrad: trainZeros, name: prefix + "zeros")
        if let bad = codes.first(where: { Int($0) > spec.qmax }) {
            throw TensorError.invalidArgument(op: "hard quantizer", message: "code \(bad) is above qmax \(spec.qmax) for \(spec)")
        }
    }

    /// The dequantized weight; the Linear's own weight is ignored (only its shape is checked).
    public func effectiveWeight(_ weight: Var) throws -> Var {
        guard weight.shape == [rows, cols] else {
            throw TensorError.shapeMismatch(op: "hard quantizer", lhs: weight.shape, rhs: [rows, cols], hint: "installed on a linear of another shape")
        }
        return try dequantized()
    }

    /// (q - z') * s' as a Var with gradients to the trainable s and z.
    public func dequantized() throws -> Var {
        try hardDequantize(codes: codes, rows: rows, cols: cols, groupIndex: groupIndex, scales: scales, zeros: zeros, spec: spec,
                           grid: grid)
    }

    public var parameters: [(String, Var)] { [(scales.name, scales), (zeros.name, zeros)] }

    public var summary: String { "\(spec) hard\(fractionalZeros ? ", fractional zeros" : ""), \(trainingSummary(parameters))" }

    /// The codes with the current effective scales s' and zeros z'.
    public var quantized: QuantizedWeight {
        get throws {
            let n = scales.value.count, q = spec.qmax
            return try QuantizedWeight(spec: spec, rows: rows, cols: cols, codes: codes,
                                       scales: (0..<n).map { effectiveScale(scales.value.data[$0]) },
                                       zeros: (0..<n).map { grid.effectiveZero(zeros.value.data[$0], q) },
                                       groupIndex: groupIndex)
        }
    }
}
