// Float16 and BFloat16 conversion for loading and saving checkpoints.
//
// Both work on raw 16-bit patterns (little-endian in every file format QATLab reads), so file
// readers never need a Float16 type. Float32 -> 16-bit rounds to nearest even; NaN stays NaN.

public enum HalfFloat {
    /// IEEE binary16 bits -> Float.
    @inline(__always)
    public static func float(fromHalf bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// Float -> IEEE binary16 bits (round to nearest even, overflow to infinity).
    @inline(__always)
    public static func half(from value: Float) -> UInt16 {
        Float16(value).bitPattern
    }

    /// bfloat16 bits -> Float (the top 16 bits of a Float32).
    @inline(__always)
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float -> bfloat16 bits, rounding to nearest even; NaN keeps a quiet NaN payload.
    @inline(__always)
    public static func bfloat16(from value: Float) -> UInt16 {
        let u = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (u >> 16) | 0x40) }
        let rounding: UInt32 = 0x7FFF + ((u >> 16) & 1)
        return UInt16(truncatingIfNeeded: (u &+ rounding) >> 16)
    }

    /// Bulk conversions over buffers.
    public static func decodeHalf(_ src: UnsafeBufferPointer<UInt16>, into dst: UnsafeMutablePointer<Float>) {
        for i in 0..<src.count { dst[i] = float(fromHalf: src[i]) }
    }
    public static func decodeBFloat16(_ src: UnsafeBufferPointer<UInt16>, into dst: UnsafeMutablePointer<Float>) {
        for i in 0..<src.count { dst[i] = float(fromBFloat16: src[i]) }
    }
    public static func encodeHalf(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutablePointer<UInt16>) {
        for i in 0..<src.count { dst[i] = half(from: src[i]) }
    }
    public static func encodeBFloat16(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutablePointer<UInt16>) {
        for i in 0..<src.count { dst[i] = bfloat16(from: src[i]) }
    }
}
