// The block encoders of GGMLFormat.swift: one GGMLBlock (fp16 scales, integer sub-block scales
// and mins, codes) -> its bytes in ggml's layout. The layouts are documented byte by byte at the
// top of QATIO/GGUFTypes.swift, whose decoders read what these write (GGMLFormatTests checks the
// round trip). The caller has checked the fields' ranges (GGMLFormat.check), so every narrowing
// below is of a value already in range.
enum GGMLPack {
    @inline(__always)
    static func putHalf(_ bits: UInt16, _ p: UnsafeMutablePointer<UInt8>) {
        p[0] = UInt8(truncatingIfNeeded: bits); p[1] = UInt8(truncatingIfNeeded: bits >> 8)
    }

    @inline(__always)
    static func putU32(_ v: UInt32, _ p: UnsafeMutablePointer<UInt8>) {
        for i in 0..<4 { p[i] = UInt8(truncatingIfNeeded: v >> UInt32(8 * i)) }
    }

    @inline(__always)
    static func byte(_ v: Int) -> UInt8 { UInt8(truncatingIfNeeded: v) }

    /// 16 bytes: low nibble element j, high nibble element j + 16 (codes 0...15, or the low 4 bits).
    static func nibbles32(_ c: [UInt8], _ p: UnsafeMutablePointer<UInt8>) {
        for j in 0..<16 { p[j] = (c[j] & 0x0F) | (c[j + 16] & 0x0F) << 4 }
    }

    /// Bit j of the u32: the fifth bit of code j.
    static func fifthBits(_ c: [UInt8]) -> UInt32 {
        var qh: UInt32 = 0
        for j in 0..<32 { qh |= UInt32((c[j] >> 4) & 1) << UInt32(j) }
        return qh
    }

    static let q4_0: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        putHalf(b.d, p); nibbles32(b.codes, p + 2)
    }

    static let q4_1: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        putHalf(b.d, p); putHalf(b.m, p + 2); nibbles32(b.codes, p + 4)
    }

    static let q5_0: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        putHalf(b.d, p); putU32(fifthBits(b.codes), p + 2); nibbles32(b.codes, p + 6)
    }

    static let q5_1: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        putHalf(b.d, p); putHalf(b.m, p + 2); putU32(fifthBits(b.codes), p + 4); nibbles32(b.codes, p + 8)
    }

    static let q8_0: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        putHalf(b.d, p)
        for j in 0..<32 { p[2 + j] = b.codes[j] }
    }

    /// 64 bytes of 2-bit fields: element 128h + 32j + l at bits 2j of byte 32h + l.
    static func crumbs256(_ c: [UInt8], _ p: UnsafeMutablePointer<UInt8>) {
        for h in 0..<2 {
            for l in 0..<32 {
                let e = 128 * h + l
                p[32 * h + l] = (c[e] & 3) | (c[e + 32] & 3) << 2 | (c[e + 64] & 3) << 4 | (c[e + 96] & 3) << 6
            }
        }
    }

    static let q2_k: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        for s in 0..<16 { p[s] = byte(b.scales[s]) | byte(b.mins[s]) << 4 }
        crumbs256(b.codes, p + 16)
        putHalf(b.d, p + 80); putHalf(b.dmin, p + 82)
    }

    static let q3_k: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        for i in 0..<32 { p[i] = 0 }
        for e in 0..<256 where b.codes[e] > 3 { p[e % 32] |= 1 << UInt8(e / 32) }
        crumbs256(b.codes, p + 32)
        let sc = p + 96
        for i in 0..<12 { sc[i] = 0 }
        for s in 0..<16 {
            let v = byte(b.scales[s])
            if s < 8 { sc[s] = v & 0x0F } else { sc[s - 8] |= (v & 0x0F) << 4 }
            sc[8 + s % 4] |= (v >> 4) << UInt8(2 * (s / 4))
        }
        putHalf(b.d, p + 108)
    }

    /// The 12 bytes of eight 6-bit scales and mins of Q4_K/Q5_K (GGUFTypes layout 9).
    static func scaleMins(_ b: GGMLBlock, _ p: UnsafeMutablePointer<UInt8>) {
        for i in 0..<12 { p[i] = 0 }
        for s in 0..<8 {
            let ls = byte(b.scales[s]), lm = byte(b.mins[s])
            if s < 4 {
                p[s] |= ls; p[s + 4] |= lm
            } else {
                p[s + 4] = (ls & 0x0F) | (lm & 0x0F) << 4
                p[s - 4] |= (ls >> 4) << 6
                p[s] |= (lm >> 4) << 6
            }
        }
    }

    static let q4_k: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        putHalf(b.d, p); putHalf(b.dmin, p + 2); scaleMins(b, p + 4)
        for c in 0..<4 {
            for l in 0..<32 { p[16 + 32 * c + l] = (b.codes[64 * c + l] & 0x0F) | (b.codes[64 * c + 32 + l] & 0x0F) << 4 }
        }
    }

    static let q5_k: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        putHalf(b.d, p); putHalf(b.dmin, p + 2); scaleMins(b, p + 4)
        let qh = p + 16, qs = p + 48
        for l in 0..<32 { qh[l] = 0 }
        for c in 0..<4 {
            for l in 0..<32 {
                let lo = b.codes[64 * c + l], hi = b.codes[64 * c + 32 + l]
                qs[32 * c + l] = (lo & 0x0F) | (hi & 0x0F) << 4
                qh[l] |= ((lo >> 4) & 1) << UInt8(2 * c) | ((hi >> 4) & 1) << UInt8(2 * c + 1)
            }
        }
    }

    static let q6_k: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = { b, p in
        let c = b.codes
        for h in 0..<2 {
            let ql = p + 64 * h, qh = p + 128 + 32 * h, e = 128 * h
            for l in 0..<32 {
                ql[l] = (c[e + l] & 0x0F) | (c[e + l + 64] & 0x0F) << 4
                ql[l + 32] = (c[e + l + 32] & 0x0F) | (c[e + l + 96] & 0x0F) << 4
                qh[l] = (c[e + l] >> 4) & 3 | ((c[e + l + 32] >> 4) & 3) << 2 | ((c[e + l + 64] >> 4) & 3) << 4 | ((c[e + l + 96] >> 4) & 3) << 6
            }
        }
        for s in 0..<16 { p[192 + s] = byte(b.scales[s]) }
        putHalf(b.d, p + 208)
    }
}

extension GGMLBlock {
    /// fp16 bits of dmin: the k-quants' name for the second fp16 field.
    var dmin: UInt16 { m }
}
