// llama.cpp's reference quantizers of the legacy 32-element types (ggml-quants.c
// quantize_row_q{4_0,4_1,5_0,5_1,8_0}_ref; the `gguf` Python package's numpy quantizers compute
// the same bits): one block of 32 floats -> its GGMLBlock. Written from their description:
//   q4_0 / q5_0  max = the element of largest magnitude (the first one on ties), d = max / -8
//                (-16), id = 1/d (0 when d = 0), q = min(15 (31), trunc(x * id + 8.5 (16.5)))
//   q4_1 / q5_1  d = (max - min) / 15 (31), id as above, m = min,
//                q = min(15 (31), trunc((x - min) * id + 0.5))
//   q8_0         d = max|x| / 127, id as above, q = round(x * id), halves away from zero
// d and m are stored as fp16 (round to nearest even) but the codes use the fp32 d. Every
// operation is one fp32 operation in the reference's order (Swift does not fuse a*b+c).
import QATTensor

enum GGMLLegacy {
    /// C's float -> integer conversion (truncation) for values the quantizers produce; a value
    /// outside Int32 (impossible for finite weights) maps to 0 rather than trapping.
    @inline(__always)
    static func truncated(_ f: Float) -> Int {
        f.magnitude < 2_147_483_648 ? Int(f.rounded(.towardZero)) : 0
    }

    /// The element of largest magnitude (the first on ties) of 32 floats.
    @inline(__always)
    static func signedMax(_ x: UnsafePointer<Float>) -> Float {
        var amax: Float = 0, max: Float = 0
        for j in 0..<32 where amax < x[j].magnitude { amax = x[j].magnitude; max = x[j] }
        return max
    }

    @inline(__always)
    static func minMax(_ x: UnsafePointer<Float>) -> (Float, Float) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for j in 0..<32 {
            if x[j] < lo { lo = x[j] }
            if x[j] > hi { hi = x[j] }
        }
        return (lo, hi)
    }

    /// Symmetric types: d = max / -half, q = min(top, trunc(x * id + half + 0.5)).
    static func symmetric(_ x: UnsafePointer<Float>, half: Float, top: Int) -> GGMLBlock {
        let d = signedMax(x) / -half
        let id: Float = d != 0 ? 1 / d : 0
        let codes = (0..<32).map { j in UInt8(min(top, max(0, truncated(x[j] * id + (half + 0.5))))) }
        return GGMLBlock(d: HalfFloat.half(from: d), codes: codes)
    }

    /// Types with a min: d = (max - min) / top, m = min, q = min(top, trunc((x - min) * id + 0.5)).
    static func affine(_ x: UnsafePointer<Float>, top: Int) -> GGMLBlock {
        let (lo, hi) = minMax(x)
        let d = (hi - lo) / Float(top)
        let id: Float = d != 0 ? 1 / d : 0
        let codes = (0..<32).map { j in UInt8(min(top, max(0, truncated((x[j] - lo) * id + 0.5)))) }
        return GGMLBlock(d: HalfFloat.half(from: d), m: HalfFloat.half(from: lo), codes: codes)
    }

    static let q4_0: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { symmetric($0, half: 8, top: 15) }
    static let q5_0: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { symmetric($0, half: 16, top: 31) }
    static let q4_1: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { affine($0, top: 15) }
    static let q5_1: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { affine($0, top: 31) }

    static let q8_0: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { x in
        var amax: Float = 0
        for j in 0..<32 { amax = Swift.max(amax, x[j].magnitude) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        let codes = (0..<32).map { j in
            UInt8(bitPattern: Int8(clamping: truncated((x[j] * id).rounded(.toNearestOrAwayFromZero))))
        }
        return GGMLBlock(d: HalfFloat.half(from: d), codes: codes)
    }
}
