// Character classes for the pre-tokenizer matchers, the GPT-2 byte <-> character map, and a
// UTF-8 scalar decoder that records byte offsets.
//
// Classes follow llama.cpp's unicode_cpt_flags (src/unicode.cpp, tables generated from Python's
// `regex` module): \p{L} = Lu Ll Lt Lm Lo, \p{N} = Nd Nl No, \p{P} = Pc Pd Ps Pe Pi Pf Po, and
// whitespace = the 25 code points of the Unicode White_Space property (llama.cpp's
// unicode_set_whitespace lists exactly those). Here the categories come from Swift's
// `Unicode.Scalar.Properties` (Unicode 17 in Swift 6.3), while llama.cpp's generated table is
// Unicode 15.1 (it has CJK Extension I, not the Unicode 16 symbols at U+1FBCB). Scalars assigned
// after 15.1 (e.g. CJK Extension J, U+323B0...) are therefore classed as unassigned = "other"
// (matched by [^\s\p{L}\p{N}]), as llama.cpp does. Category changes of already-assigned scalars
// between versions are not undone (none affect L/N/P/White_Space as far as known).

/// Bit set of the classes a scalar belongs to.
enum CharClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 4
    static let punctuation: UInt8 = 8
    /// Set for every real scalar, so "other" (no class bit) differs from "beyond the segment" (0),
    /// as llama.cpp's flags.as_uint() != 0 test does.
    static let present: UInt8 = 16

    /// Unicode version of llama.cpp's unicode-data.cpp; later assignments count as unassigned.
    static let tableVersion = (major: 15, minor: 1)

    /// Classes of every ASCII scalar, computed once.
    static let ascii: [UInt8] = (0..<128).map { compute(UInt32($0)) }

    @inline(__always)
    static func of(_ v: UInt32) -> UInt8 {
        v < 128 ? ascii[Int(v)] : compute(v)
    }

    static func compute(_ v: UInt32) -> UInt8 {
        guard let s = Unicode.Scalar(v) else { return present }
        // newer than llama.cpp's table: unassigned there
        if let age = s.properties.age, age.major > tableVersion.major
            || (age.major == tableVersion.major && age.minor > tableVersion.minor) { return present }
        var c = present
        if s.properties.isWhitespace { c |= whitespace }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            c |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            c |= number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            c |= punctuation
        default:
            break
        }
        return c
    }
}

/// GPT-2's reversible byte <-> character map (bytes_to_unicode): printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100... in byte order. Vocabulary strings are written in it.
enum ByteLevel {
    /// Character (scalar value) of each byte.
    static let charOfByte: [UInt32] = {
        var map = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable { map[b] = UInt32(b) } else { map[b] = next; next += 1 }
        }
        return map
    }()

    /// Byte of a mapped character, nil when the character is not one of the 256.
    static func byte(ofChar v: UInt32) -> UInt8? {
        if v < 256 {
            let b = Int(v)
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            return printable ? UInt8(b) : nil
        }
        guard v < 256 + 68 else { return nil }
        return byteOfShifted[Int(v - 256)]
    }

    private static let byteOfShifted: [UInt8] = {
        var out: [UInt8] = []
        for b in 0..<256 where charOfByte[b] >= 256 { out.append(UInt8(b)) }
        return out
    }()

    /// The mapped string of raw bytes (what the vocabulary stores for them).
    static func mappedString<C: Sequence>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes {
            if let u = Unicode.Scalar(charOfByte[Int(b)]) { s.append(u) }
        }
        return String(s)
    }
}

/// Scalars of a UTF-8 byte range with the byte offset of each (and of the end).
struct ScalarRun {
    var values: [UInt32] = []
    var classes: [UInt8] = []
    /// offsets[i] is the byte offset of scalar i; offsets[count] is the end.
    var offsets: [Int] = []

    /// Decodes bytes[lo..<hi]. Invalid sequences (impossible for a Swift String, kept for safety)
    /// become one U+FFFD per byte, as llama.cpp's unicode_cpts_from_utf8 does.
    init(_ bytes: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) {
        values.reserveCapacity(hi - lo)
        classes.reserveCapacity(hi - lo)
        offsets.reserveCapacity(hi - lo + 1)
        var i = lo
        while i < hi {
            let (v, n) = Self.decodeOne(bytes, i, hi)
            values.append(v)
            classes.append(CharClass.of(v))
            offsets.append(i)
            i += n
        }
        offsets.append(hi)
    }

    @inline(__always)
    static func decodeOne(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ hi: Int) -> (UInt32, Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (b0, 1) }
        let n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0
        guard n > 0, i + n <= hi, b0 < 0xF8 else { return (0xFFFD, 1) }
        var v = b0 & (0x7F >> UInt32(n))
        for k in 1..<n {
            let b = UInt32(p[i + k])
            guard b & 0xC0 == 0x80 else { return (0xFFFD, 1) }
            v = (v << 6) | (b & 0x3F)
        }
        return (v, n)
    }
}
