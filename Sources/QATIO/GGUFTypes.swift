// The ggml tensor types QATLab decodes, as a table: one row per type (name, id, block size in
// elements, bytes per block, block decoder). Adding a type means adding a layout below, a decoder
// and a row in `GGMLType.all`.
//
// Block layouts (all little-endian; "f16" is an IEEE binary16 scale, "elem i" is the i-th value
// of the block in row order). Sizes match ggml's `ggml-common.h` static asserts.
//
//  1. F32  (id 0,  1 elem,    4 bytes): [0..4) f32 value.
//  2. F16  (id 1,  1 elem,    2 bytes): [0..2) f16 value.
//  3. BF16 (id 30, 1 elem,    2 bytes): [0..2) top 16 bits of an f32.
//  4. Q4_0 (id 2,  32 elems, 18 bytes): [0..2) f16 d; [2..18) qs[16] nibbles.
//     elem j = d * ((qs[j] & 0xF) - 8), elem j+16 = d * ((qs[j] >> 4) - 8), j in 0..<16.
//  5. Q4_1 (id 3,  32 elems, 20 bytes): [0..2) f16 d; [2..4) f16 m; [4..20) qs[16].
//     elem j = d * (qs[j] & 0xF) + m, elem j+16 = d * (qs[j] >> 4) + m.
//  6. Q5_0 (id 6,  32 elems, 22 bytes): [0..2) f16 d; [2..6) u32 qh; [6..22) qs[16].
//     q_j = (qs[j] & 0xF) | bit j of qh << 4, q_{j+16} = (qs[j] >> 4) | bit (j+16) of qh << 4;
//     elem = d * (q - 16).
//  7. Q5_1 (id 7,  32 elems, 24 bytes): [0..2) f16 d; [2..4) f16 m; [4..8) u32 qh; [8..24) qs[16].
//     q as in Q5_0; elem = d * q + m.
//  8. Q8_0 (id 8,  32 elems, 34 bytes): [0..2) f16 d; [2..34) qs[32] int8. elem j = qs[j] * d.
//  9. Q4_K (id 12, 256 elems, 144 bytes): [0..2) f16 d; [2..4) f16 dmin; [4..16) scales[12];
//     [16..144) qs[128]. Eight sub-blocks of 32, each with a 6-bit scale sc and 6-bit min mn:
//       sub s < 4:  sc = scales[s] & 63,  mn = scales[s+4] & 63
//       sub s >= 4: sc = (scales[s+4] & 0xF) | (scales[s-4] >> 6) << 4,
//                   mn = (scales[s+4] >> 4)  | (scales[s] >> 6) << 4
//     Chunk c in 0..<4 owns qs[32c ..< 32c+32]: its low nibbles are sub-block 2c, its high
//     nibbles sub-block 2c+1. elem = (d * sc) * q - (dmin * mn).
// 10. Q5_K (id 13, 256 elems, 176 bytes): [0..2) f16 d; [2..4) f16 dmin; [4..16) scales[12];
//     [16..48) qh[32]; [48..176) qs[128]. As Q4_K, plus a fifth bit: element l (0..<32) of
//     sub-block s has high bit (qh[l] >> s) & 1. elem = (d * sc) * q - (dmin * mn), q in 0..<32.
// 11. Q6_K (id 14, 256 elems, 210 bytes): [0..128) ql[128] low nibbles; [128..192) qh[64] 2-bit
//     highs; [192..208) scales[16] int8 (one per 16 elements); [208..210) f16 d.
//     Half h in 0..<2 covers elems 128h ..< 128h+128, with L = ql[64h...], H = qh[32h...]:
//       e = 128h + l       (l < 32): q = (L[l]    & 0xF) | ((H[l] >> 0) & 3) << 4
//       e = 128h + 32 + l          : q = (L[l+32] & 0xF) | ((H[l] >> 2) & 3) << 4
//       e = 128h + 64 + l          : q = (L[l]    >> 4)  | ((H[l] >> 4) & 3) << 4
//       e = 128h + 96 + l          : q = (L[l+32] >> 4)  | ((H[l] >> 6) & 3) << 4
//     elem e = (d * scales[e / 16]) * (q - 32).
// 12. Q2_K (id 10, 256 elems, 84 bytes): [0..16) scales[16]; [16..80) qs[64]; [80..82) f16 d;
//     [82..84) f16 dmin. Sixteen sub-blocks of 16: sub s has scale sc = scales[s] & 0xF and min
//     mn = scales[s] >> 4. Half h in 0..<2 covers elems 128h ..< 128h+128 with Q = qs[32h...]:
//       e = 128h + 32j + l (j in 0..<4, l < 32): q = (Q[l] >> 2j) & 3, sub-block e / 16
//     elem = (d * sc) * q - (dmin * mn).
// 13. Q3_K (id 11, 256 elems, 110 bytes): [0..32) hmask[32]; [32..96) qs[64]; [96..108)
//     scales[12]; [108..110) f16 d. Sixteen 6-bit scales, biased by 32: for sub s,
//       low 4 bits  = s < 8 ? scales[s] & 0xF : scales[s-8] >> 4
//       high 2 bits = (scales[8 + s % 4] >> (2 * (s / 4))) & 3,   sc = (high << 4 | low) - 32.
//     Element e: low 2 bits as Q2_K's q (qs, same positions); high bit (hmask[e % 32] >> (e / 32))
//     & 1; q = low2 - (high bit ? 0 : 4), in -4...3. elem = (d * sc) * q, sub-block e / 16.
// 14. IQ4_NL (id 20, 32 elems, 18 bytes): [0..2) f16 d; [2..18) qs[16] nibbles, packed as Q4_0's
//     (low nibble elem j, high nibble elem j+16), but each nibble indexes the non-linear table
//     IQ4NL.values (ggml-common.h kvalues_iq4nl) instead of being an offset integer:
//     elem j = d * values[qs[j] & 0xF], elem j+16 = d * values[qs[j] >> 4], j in 0..<16.
//
// The arithmetic order above (products first, then the offset) is the one ggml and the `gguf`
// Python package use, so decoding is bit-exact against both. Swift does not contract a*b+c into
// an FMA, which keeps it that way in release builds.

import QATTensor

/// Decodes `blocks` consecutive blocks from `src` into `blocks * blockSize` floats at `dst`.
public typealias GGMLBlockDecoder = @Sendable (_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) -> Void

/// One ggml tensor type: a row of the type table.
public struct GGMLType: Sendable, Equatable, CustomStringConvertible {
    /// ggml's name for the type ("Q4_1").
    public let name: String
    /// The `ggml_type` id stored in GGUF tensor infos.
    public let id: UInt32
    /// Elements per block.
    public let blockSize: Int
    /// Bytes per block.
    public let bytesPerBlock: Int
    /// Block decoder to Float32.
    public let decode: GGMLBlockDecoder

    public static func == (a: GGMLType, b: GGMLType) -> Bool { a.id == b.id }
    public var description: String { name }

    /// Bytes needed for `elements` values, or nil if `elements` is not a whole number of blocks
    /// or the size overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (n, o) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return o ? nil : n
    }
}

extension GGMLType {
    public static let f32 = GGMLType(name: "F32", id: 0, blockSize: 1, bytesPerBlock: 4, decode: GGMLDecode.f32)
    public static let f16 = GGMLType(name: "F16", id: 1, blockSize: 1, bytesPerBlock: 2, decode: GGMLDecode.f16)
    public static let bf16 = GGMLType(name: "BF16", id: 30, blockSize: 1, bytesPerBlock: 2, decode: GGMLDecode.bf16)
    public static let q4_0 = GGMLType(name: "Q4_0", id: 2, blockSize: 32, bytesPerBlock: 18, decode: GGMLDecode.q4_0)
    public static let q4_1 = GGMLType(name: "Q4_1", id: 3, blockSize: 32, bytesPerBlock: 20, decode: GGMLDecode.q4_1)
    public static let q5_0 = GGMLType(name: "Q5_0", id: 6, blockSize: 32, bytesPerBlock: 22, decode: GGMLDecode.q5_0)
    public static let q5_1 = GGMLType(name: "Q5_1", id: 7, blockSize: 32, bytesPerBlock: 24, decode: GGMLDecode.q5_1)
    public static let q8_0 = GGMLType(name: "Q8_0", id: 8, blockSize: 32, bytesPerBlock: 34, decode: GGMLDecode.q8_0)
    public static let q2_K = GGMLType(name: "Q2_K", id: 10, blockSize: 256, bytesPerBlock: 84, decode: GGMLDecode.q2_K)
    public static let q3_K = GGMLType(name: "Q3_K", id: 11, blockSize: 256, bytesPerBlock: 110, decode: GGMLDecode.q3_K)
    public static let q4_K = GGMLType(name: "Q4_K", id: 12, blockSize: 256, bytesPerBlock: 144, decode: GGMLDecode.q4_K)
    public static let q5_K = GGMLType(name: "Q5_K", id: 13, blockSize: 256, bytesPerBlock: 176, decode: GGMLDecode.q5_K)
    public static let q6_K = GGMLType(name: "Q6_K", id: 14, blockSize: 256, bytesPerBlock: 210, decode: GGMLDecode.q6_K)
    public static let iq4_NL = GGMLType(name: "IQ4_NL", id: 20, blockSize: 32, bytesPerBlock: 18, decode: GGMLDecode.iq4_NL)

    /// The type table.
    public static let all: [GGMLType] = [f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_NL]

    /// The type with ggml id `id`, or nil if QATLab cannot decode it.
    public static func byID(_ id: UInt32) -> GGMLType? { all.first { $0.id == id } }

    /// The type named `name` (case-insensitive, "q4_1" or "Q4_1").
    public static func named(_ name: String) -> GGMLType? {
        all.first { $0.name.lowercased() == name.lowercased() }
    }
}

/// IQ4_NL's 16 levels (ggml-common.h kvalues_iq4nl): a 4-bit code indexes this table, and the
/// block's fp16 d scales it (layout 14). Ascending, denser near zero, skewed to the negative side.
public enum IQ4NL {
    public static let values: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
}

/// The block decoders. Each is an outer loop over blocks around a fixed-size inner loop the
/// compiler unrolls and vectorizes; nothing allocates.
enum GGMLDecode {
    @inline(__always)
    static func half(_ p: UnsafePointer<UInt8>, _ offset: Int) -> Float {
        let bits = UnsafeRawPointer(p).loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return HalfFloat.float(fromHalf: UInt16(littleEndian: bits))
    }

    @inline(__always)
    static func bytes(_ src: UnsafeRawPointer) -> UnsafePointer<UInt8> {
        src.assumingMemoryBound(to: UInt8.self)
    }

    static let f32: GGMLBlockDecoder = { src, dst, n in
        for i in 0..<n {
            dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    }

    static let f16: GGMLBlockDecoder = { src, dst, n in
        for i in 0..<n { dst[i] = half(bytes(src), 2 * i) }
    }

    static let bf16: GGMLBlockDecoder = { src, dst, n in
        for i in 0..<n {
            let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            dst[i] = HalfFloat.float(fromBFloat16: bits)
        }
    }

    static let q4_0: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 18 * b, y = dst + 32 * b
            let d = half(p, 0), qs = p + 2
            for j in 0..<16 {
                y[j] = d * Float(Int32(qs[j] & 0x0F) - 8)
                y[j + 16] = d * Float(Int32(qs[j] >> 4) - 8)
            }
        }
    }

    static let q4_1: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 20 * b, y = dst + 32 * b
            let d = half(p, 0), m = half(p, 2), qs = p + 4
            for j in 0..<16 {
                y[j] = d * Float(qs[j] & 0x0F) + m
                y[j + 16] = d * Float(qs[j] >> 4) + m
            }
        }
    }

    static let q5_0: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 22 * b, y = dst + 32 * b
            let d = half(p, 0), qs = p + 6
            let qh = UInt32(littleEndian: UnsafeRawPointer(p).loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let lo = UInt32(qs[j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let hi = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                y[j] = d * Float(Int32(lo) - 16)
                y[j + 16] = d * Float(Int32(hi) - 16)
            }
        }
    }

    static let q5_1: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 24 * b, y = dst + 32 * b
            let d = half(p, 0), m = half(p, 2), qs = p + 8
            let qh = UInt32(littleEndian: UnsafeRawPointer(p).loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let lo = UInt32(qs[j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let hi = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                y[j] = d * Float(lo) + m
                y[j + 16] = d * Float(hi) + m
            }
        }
    }

    static let q8_0: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 34 * b, y = dst + 32 * b
            let d = half(p, 0), qs = p + 2
            for j in 0..<32 { y[j] = Float(Int8(bitPattern: qs[j])) * d }
        }
    }

    static let iq4_NL: GGMLBlockDecoder = { src, dst, n in
        IQ4NL.values.withUnsafeBufferPointer { values in
            for b in 0..<n {
                let p = bytes(src) + 18 * b, y = dst + 32 * b
                let d = half(p, 0), qs = p + 2
                for j in 0..<16 {
                    y[j] = d * Float(values[Int(qs[j] & 0x0F)])
                    y[j + 16] = d * Float(values[Int(qs[j] >> 4)])
                }
            }
        }
    }

    /// Scale and min of sub-block `s` (0..<8) from the 12 packed bytes of a Q4_K/Q5_K block.
    @inline(__always)
    static func scaleMin(_ q: UnsafePointer<UInt8>, _ s: Int) -> (Float, Float) {
        if s < 4 { return (Float(q[s] & 63), Float(q[s + 4] & 63)) }
        let sc = (q[s + 4] & 0x0F) | (q[s - 4] >> 6) << 4
        let mn = (q[s + 4] >> 4) | (q[s] >> 6) << 4
        return (Float(sc), Float(mn))
    }

    static let q2_K: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 84 * b, y = dst + 256 * b
            let d = half(p, 80), dmin = half(p, 82), scales = p, qs = p + 16
            for h in 0..<2 {
                for j in 0..<4 {
                    let q = qs + 32 * h, out = y + 128 * h + 32 * j, shift = UInt8(2 * j)
                    for half16 in 0..<2 {
                        let s = scales[8 * h + 2 * j + half16]
                        let dl = d * Float(s & 0x0F), ml = dmin * Float(s >> 4)
                        for l in (16 * half16)..<(16 * half16 + 16) { out[l] = dl * Float((q[l] >> shift) & 3) - ml }
                    }
                }
            }
        }
    }

    /// The 6-bit scale of sub-block `s` (0..<16) of a Q3_K block, unbiased (-32...31).
    @inline(__always)
    static func q3Scale(_ q: UnsafePointer<UInt8>, _ s: Int) -> Int32 {
        let low = s < 8 ? q[s] & 0x0F : q[s - 8] >> 4
        let high = (q[8 + s % 4] >> UInt8(2 * (s / 4))) & 3
        return Int32(high << 4 | low) - 32
    }

    static let q3_K: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 110 * b, y = dst + 256 * b
            let hmask = p, qs = p + 32, scales = p + 96, d = half(p, 108)
            for e in 0..<256 {
                let h = e / 128, j = (e % 128) / 32, l = e % 32
                let low = Int32((qs[32 * h + l] >> UInt8(2 * j)) & 3)
                let high = (hmask[l] >> UInt8(e / 32)) & 1
                y[e] = (d * Float(q3Scale(scales, e / 16))) * Float(low - (high == 1 ? 0 : 4))
            }
        }
    }

    static let q4_K: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 144 * b, y = dst + 256 * b
            let d = half(p, 0), dmin = half(p, 2), scales = p + 4, qs = p + 16
            for c in 0..<4 {
                let (sc1, mn1) = scaleMin(scales, 2 * c), (sc2, mn2) = scaleMin(scales, 2 * c + 1)
                let d1 = d * sc1, m1 = dmin * mn1, d2 = d * sc2, m2 = dmin * mn2
                let q = qs + 32 * c, out = y + 64 * c
                for l in 0..<32 {
                    out[l] = d1 * Float(q[l] & 0x0F) - m1
                    out[l + 32] = d2 * Float(q[l] >> 4) - m2
                }
            }
        }
    }

    static let q5_K: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 176 * b, y = dst + 256 * b
            let d = half(p, 0), dmin = half(p, 2), scales = p + 4, qh = p + 16, qs = p + 48
            for c in 0..<4 {
                let (sc1, mn1) = scaleMin(scales, 2 * c), (sc2, mn2) = scaleMin(scales, 2 * c + 1)
                let d1 = d * sc1, m1 = dmin * mn1, d2 = d * sc2, m2 = dmin * mn2
                let q = qs + 32 * c, out = y + 64 * c
                let s1 = UInt8(2 * c), s2 = UInt8(2 * c + 1)
                for l in 0..<32 {
                    let lo = (q[l] & 0x0F) | ((qh[l] >> s1) & 1) << 4
                    let hi = (q[l] >> 4) | ((qh[l] >> s2) & 1) << 4
                    out[l] = d1 * Float(lo) - m1
                    out[l + 32] = d2 * Float(hi) - m2
                }
            }
        }
    }

    static let q6_K: GGMLBlockDecoder = { src, dst, n in
        for b in 0..<n {
            let p = bytes(src) + 210 * b, y = dst + 256 * b
            let d = half(p, 208)
            let sc = UnsafeRawPointer(p + 192).assumingMemoryBound(to: Int8.self)
            for h in 0..<2 {
                let ql = p + 64 * h, qh = p + 128 + 32 * h, out = y + 128 * h, s = sc + 8 * h
                for l in 0..<32 {
                    let i = l / 16
                    let q1 = Int32((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32
                    let q2 = Int32((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32
                    let q3 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                    let q4 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                    out[l] = (d * Float(s[i])) * Float(q1)
                    out[l + 32] = (d * Float(s[i + 2])) * Float(q2)
                    out[l + 64] = (d * Float(s[i + 4])) * Float(q3)
                    out[l + 96] = (d * Float(s[i + 6])) * Float(q4)
                }
            }
        }
    }
}
