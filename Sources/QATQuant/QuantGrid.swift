// The grids a quantizer can put weights on, as one table (as ggml's type_traits): each row says
// what the grid is called, which codes N bits give, how a group's scale and zero are initialised
// from its weights, the reference per-element formulas for codes and dequantization (the test
// oracle of the fast kernels), which fast kernel of FakeQuant.swift runs it, how s and z are
// stored (native checkpoint, GPTQ export), what a weight costs in bits, and whether the zero is an
// integer. Quantizers carry their row (HardQuantizer.grid), AverageBits asks it, checkpoints
// record its name (NativeCheckpoint.swift, qatlab.json "grids").
//
// A row is a struct of values and closures rather than a protocol with one type per grid, for the
// same reasons as QuantMethod: the table is a plain array that can be listed, looked up by name
// and compared (`==` compares names), and a quantizer can switch rows at run time (E2E-QP moves a
// model from int_asym to int_asym_fractional_zero when it trains z).
//
// Rows today (both: uniform asymmetric INT-N per group of g columns, codes 0...2^N-1, round half
// to even; the formulas in full at the top of FakeQuant.swift):
//   int_asym                   s' = clamp(s, 1e-4, 1e4), z' = clamp(round(z), 0, qmax): the
//                              EfficientQAT grid of RTN, GPTQ, AWQ and Block-AP.
//   int_asym_fractional_zero   the same codes; z' = clamp(z, 0, qmax), a real number (E2E-QP
//                              training z, the paper's fp16 zero). Hard dequantization only.
//
// (llama.cpp's own block formats, with their two-level scales, are a sibling table:
// GGMLFormat.swift.)
//
// How to add a grid: write it in its own file as an `extension QuantGrid`
// with one `static let` row; list it in `QuantGrids.all`; give it `code` and `dequantize`, the
// plain per-element reference formulas, which the tests use as the oracle of whatever kernel the
// row selects (add a `Kernel` case and its fast kernel when the existing ones do not compute it);
// state its `bitsPerWeight`, its native storage and its GPTQ mapping (or `.notExportable` with the
// reason); and extend NativeCheckpoint's reader if its parameters are not one scale and one zero
// per group.
import QATTensor

public struct QuantGrid: Sendable, Equatable, CustomStringConvertible {
    /// The fast kernels of FakeQuant.swift that compute this grid bit for bit like its reference.
    public enum Kernel: Sendable, Equatable {
        /// fakeQuantForward/quantizeCodes/dequantForward: asymmetric INT-N per group; with
        /// `roundsZeros` false the hard dequantization uses z' = clamp(z, 0, qmax) unrounded.
        case asymmetric(roundsZeros: Bool)
    }

    /// How one per-group parameter is stored.
    public struct Storage: Sendable, Equatable {
        public let scale: String
        public let zero: String
    }

    /// How the grid maps onto a GPTQ checkpoint (Packing.swift).
    public enum GPTQExport: Sendable, Equatable {
        case packed(Storage)
        case notExportable(reason: String)
    }

    public let name: String
    /// One line for listings.
    public let summary: String
    public let kernel: Kernel
    /// True when every z' the grid uses is an integer.
    public let zeroIsIntegral: Bool
    /// The scale and zero of a group whose weights span [lo, hi], for a `qmax`-code grid.
    public let initialParameters: @Sendable (_ lo: Float, _ hi: Float, _ qmax: Float, _ range: RangeInit) -> (scale: Float, zero: Float)
    /// The reference code of weight w under stored (s, z): a Float holding an integer in codes(bits:).
    public let code: @Sendable (_ w: Float, _ s: Float, _ z: Float, _ qmax: Float) -> Float
    /// The reference dequantization of code q under stored (s, z).
    public let dequantize: @Sendable (_ q: Float, _ s: Float, _ z: Float, _ qmax: Float) -> Float
    /// The effective zero z' that dequantization uses for a stored z.
    public let effectiveZero: @Sendable (_ z: Float, _ qmax: Int) -> Float
    /// Stored bits per weight of N-bit codes in groups of g columns (AverageBits' one definition).
    public let bitsPerWeight: @Sendable (_ bits: Int, _ groupSize: Int) -> Double
    /// How s' and z' are stored in the native checkpoint (NativeCheckpoint.swift).
    public let native: Storage
    public let gptq: GPTQExport

    /// The codes of an N-bit grid: 0...2^N - 1 for both rows.
    public func codes(bits: Int) -> ClosedRange<Int> { 0...((1 << bits) - 1) }

    /// Whether the fast kernels round z (the layout flag the row selects).
    public var roundsZeros: Bool {
        switch kernel { case .asymmetric(let rounds): return rounds }
    }

    public static func == (a: QuantGrid, b: QuantGrid) -> Bool { a.name == b.name }
    public var description: String { name }
}

// MARK: - The rows

/// Min/max initialisation (Quantizers.swift header): s = clamp((hi - lo) / qmax, 1e-4, 1e4),
/// z = round(clamp(-lo / s, -1e4, 1e4)); .includeZero widens [lo, hi] to hold 0 first.
@Sendable func minMaxParameters(lo: Float, hi: Float, qmax: Float, range: RangeInit) -> (scale: Float, zero: Float) {
    var lo = lo, hi = hi
    if range == .includeZero {
        lo = min(lo, 0); hi = max(hi, 0)
        if lo == 0 && hi == 0 { lo = -1; hi = 1 }
    }
    let s = min(max((hi - lo) / qmax, 1e-4), 1e4)
    return (s, min(max(-lo / s, -1e4), 1e4).rounded(.toNearestOrEven))
}

/// c = clamp(round(w / s') + z', 0, qmax) with the integer z' = clamp(round(z), 0, qmax).
@Sendable func asymmetricCode(_ w: Float, _ s: Float, _ z: Float, _ qmax: Float) -> Float {
    let sp = min(max(s, 1e-4), 1e4), zp = min(max(z.rounded(.toNearestOrEven), 0), qmax)
    return min(max((w / sp).rounded(.toNearestOrEven) + zp, 0), qmax)
}

extension QuantGrid {
    /// Uniform asymmetric INT-N with an integer zero: EfficientQAT's grid.
    public static let intAsym = QuantGrid(
        name: "int_asym", summary: "uniform asymmetric INT-N per group, integer zero in 0...2^N-1 (EfficientQAT, RTN, GPTQ, AWQ)",
        kernel: .asymmetric(roundsZeros: true), zeroIsIntegral: true,
        initialParameters: { minMaxParameters(lo: $0, hi: $1, qmax: $2, range: $3) },
        code: asymmetricCode,
        dequantize: { q, s, z, qmax in (q - min(max(z.rounded(.toNearestOrEven), 0), qmax)) * min(max(s, 1e-4), 1e4) },
        effectiveZero: { z, qmax in QATQuant.effectiveZero(z, qmax: qmax) },
        // the codes, an fp16 scale and an N-bit zero per group (the papers' accounting)
        bitsPerWeight: { bits, g in Double(bits) + Double(bits + 16) / Double(g) },
        native: Storage(scale: "F32 s' (out, groups)", zero: "F32 z' (out, groups), integers in 0...2^N-1"),
        gptq: .packed(Storage(scale: "F16 [groups, out], rounded to nearest even",
                              zero: "N-bit fields of qzeros [groups, W(out)]: v2 z', v1 (z' - 1) & (2^N - 1)")))

    /// The same codes with a real-valued zero (E2E-QP training z; the paper's fp16 zero).
    public static let intAsymFractionalZero = QuantGrid(
        name: "int_asym_fractional_zero", summary: "int_asym codes with a real-valued zero clamped to [0, 2^N-1] (E2E-QP training z)",
        kernel: .asymmetric(roundsZeros: false), zeroIsIntegral: false,
        initialParameters: { minMaxParameters(lo: $0, hi: $1, qmax: $2, range: $3) },
        // codes are formed before z leaves the integers (RTN, Block-AP), so with the integer zero
        code: asymmetricCode,
        dequantize: { q, s, z, qmax in (q - min(max(z, 0), qmax)) * min(max(s, 1e-4), 1e4) },
        effectiveZero: { z, qmax in QATQuant.effectiveZero(z, qmax: qmax, fractional: true) },
        // the codes, an fp16 scale and an fp16 zero per group (EfficientQAT Table 6: 2.50 at w2g64)
        bitsPerWeight: { bits, g in Double(bits) + 32 / Double(g) },
        native: Storage(scale: "F32 s' (out, groups)", zero: "F32 z' (out, groups), real numbers in [0, 2^N-1]"),
        gptq: .notExportable(reason: "its zeros are real numbers and GPTQ's qzeros holds N-bit integers"))
}

public enum QuantGrids {
    /// Every grid, in the order listings show them.
    public static let all: [QuantGrid] = [.intAsym, .intAsymFractionalZero]

    /// The row called `name`; an unknown name is an error listing the known ones.
    public static func named(_ name: String) throws -> QuantGrid {
        guard let row = all.first(where: { $0.name == name }) else {
            throw TensorError.invalidArgument(op: "quant grid", message: "unknown grid '\(name)'; the grids are \(all.map(\.name).joined(separator: ", "))")
        }
        return row
    }
}
