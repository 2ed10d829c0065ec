// The hand-written matchers behind PreTokenizer: one function per llama.cpp regex, each splitting
// one segment [lo, hi) of scalars and appending the end index of every piece (matches and the
// text between them). Semantics follow src/unicode.cpp: unicode_regex_split_custom_gpt2 /
// _llama3 for the two big patterns, std::regex leftmost-match iteration for the simple ones.

struct Matcher {
    let v: UnsafeBufferPointer<UInt32>
    let c: UnsafeBufferPointer<UInt8>
    let lo: Int
    let hi: Int

    static let outOfRange = UInt32.max
    static let letterOrNumberOrSpace = CharClass.letter | CharClass.number | CharClass.whitespace

    /// Classes at pos, 0 beyond the segment (llama.cpp's _get_flags).
    @inline(__always) func cls(_ pos: Int) -> UInt8 { pos >= lo && pos < hi ? c[pos] : 0 }
    /// Scalar at pos, outOfRange beyond the segment (llama.cpp's _get_cpt).
    @inline(__always) func cpt(_ pos: Int) -> UInt32 { pos >= lo && pos < hi ? v[pos] : Self.outOfRange }
    @inline(__always) func isCRLF(_ pos: Int) -> Bool { let x = cpt(pos); return x == 0x0D || x == 0x0A }

    func run(_ pass: SplitPass, into ends: inout [Int]) {
        switch pass {
        case .gpt2: gpt2(&ends)
        case .llama3(let maxDigits): llama3(maxDigits, &ends)
        case .eachNumber: matchAll(&ends) { p in isNumber(p) ? p + 1 : nil }
        case .numberRun: matchAll(&ends) { p in run(from: p, while: isNumber) }
        case .punctuationRun: matchAll(&ends) { p in run(from: p, while: isPunctuationLike) }
        case .asciiDigitTriples: matchAll(&ends) { p in isASCIIDigit(p) && isASCIIDigit(p + 1) && isASCIIDigit(p + 2) ? p + 3 : nil }
        }
    }

    // MARK: simple regexes, iterated like std::regex_iterator

    /// Leftmost-first scan: `match(pos)` returns the end of a (non-empty) match starting at pos.
    /// Text between matches is a piece of its own.
    private func matchAll(_ ends: inout [Int], _ match: (Int) -> Int?) {
        var pos = lo, prev = lo
        while pos < hi {
            guard let end = match(pos) else { pos += 1; continue }
            if pos > prev { ends.append(pos) }
            ends.append(end)
            pos = end; prev = end
        }
        if hi > prev { ends.append(hi) }
    }

    private func run(from pos: Int, while ok: (Int) -> Bool) -> Int? {
        var p = pos
        while p < hi && ok(p) { p += 1 }
        return p > pos ? p : nil
    }

    private func isNumber(_ pos: Int) -> Bool { cls(pos) & CharClass.number != 0 }
    private func isASCIIDigit(_ pos: Int) -> Bool { let x = cpt(pos); return x >= 0x30 && x <= 0x39 }

    /// [\p{P}\$\+<=>\^~\|]
    private func isPunctuationLike(_ pos: Int) -> Bool {
        if cls(pos) & CharClass.punctuation != 0 { return true }
        switch cpt(pos) {
        case 0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C: return true  // $ + < = > ^ ~ |
        default: return false
        }
    }

    // MARK: GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+

    private func gpt2(_ ends: inout [Int]) {
        var pos = lo
        while pos < hi {
            let end = gpt2Token(at: pos)
            ends.append(end)
            pos = end
        }
    }

    /// End of the GPT-2 pre-token that starts at pos (> pos).
    private func gpt2Token(at pos: Int) -> Int {
        if let end = contraction(at: pos, foldCase: false) { return end }
        let x = cpt(pos)
        let f2 = x == 0x20 ? cls(pos + 1) : cls(pos)
        let start = x == 0x20 ? pos + 1 : pos
        if f2 & CharClass.letter != 0 { return skip(from: start) { $0 & CharClass.letter != 0 } }
        if f2 & CharClass.number != 0 { return skip(from: start) { $0 & CharClass.number != 0 } }
        if isOther(f2) { return skip(from: start, while: isOther) }
        return whitespaceEnd(at: pos)
    }

    /// A class that [^\s\p{L}\p{N}] matches (and that is inside the segment).
    @inline(__always) private func isOther(_ f: UInt8) -> Bool {
        f & Self.letterOrNumberOrSpace == 0 && f != 0
    }

    @inline(__always) private func skip(from pos: Int, while ok: (UInt8) -> Bool) -> Int {
        var p = pos
        while ok(cls(p)) { p += 1 }
        return p
    }

    /// 's 't 're 've 'm 'll 'd (ASCII letters folded to lower case when foldCase, as llama3's (?i:)).
    private func contraction(at pos: Int, foldCase: Bool) -> Int? {
        guard cpt(pos) == 0x27, pos + 1 < hi else { return nil }
        func lower(_ p: Int) -> UInt32 {
            let x = cpt(p)
            return foldCase && x >= 0x41 && x <= 0x5A ? x + 0x20 : x
        }
        let n1 = lower(pos + 1)
        if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 { return pos + 2 }  // s t m d
        guard pos + 2 < hi else { return nil }
        let n2 = lower(pos + 2)
        if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {
            return pos + 3  // re ve ll
        }
        return nil
    }

    /// \s+(?!\S) | \s+ | (no match: one scalar alone).
    private func whitespaceEnd(at pos: Int) -> Int {
        var n = 0
        while cls(pos + n) & CharClass.whitespace != 0 { n += 1 }
        if n > 1 && pos + n < hi { return pos + n - 1 }
        return n > 0 ? pos + n : pos + 1
    }

    // MARK: llama3 / qwen2:
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,K}| ?[^\s\p{L}\p{N}]+[\r\n]*
    // |\s*[\r\n]+|\s+(?!\S)|\s+

    private func llama3(_ maxDigits: Int, _ ends: inout [Int]) {
        var pos = lo
        while pos < hi {
            if cls(pos) & CharClass.number != 0 {
                // \p{N}{1,K}: a digit run in chunks of K
                var ini = pos
                while cls(pos) & CharClass.number != 0 {
                    pos += 1
                    if pos - ini >= maxDigits { ends.append(pos); ini = pos }
                }
                if pos > ini { ends.append(pos) }
                continue
            }
            let end = llama3Token(at: pos)
            ends.append(end)
            pos = end
        }
    }

    /// End of the llama3 pre-token at pos, for a pos that does not start a number.
    private func llama3Token(at pos: Int) -> Int {
        if let end = contraction(at: pos, foldCase: true) { return end }
        let x = cpt(pos), f = cls(pos)
        if !(x == 0x0D || x == 0x0A) && (f & CharClass.letter != 0 || cls(pos + 1) & CharClass.letter != 0) {
            return skip(from: pos + 1) { $0 & CharClass.letter != 0 }
        }
        let f2 = x == 0x20 ? cls(pos + 1) : f
        if f2 & Self.letterOrNumberOrSpace == 0 && f != 0 {
            var p = skip(from: x == 0x20 ? pos + 1 : pos, while: isOther)
            while isCRLF(p) { p += 1 }
            return p
        }
        var n = 0, lastCRLF = -1
        while cls(pos + n) & CharClass.whitespace != 0 {
            if isCRLF(pos + n) { lastCRLF = pos + n + 1 }
            n += 1
        }
        if lastCRLF >= 0 { return lastCRLF }
        if n > 1 && pos + n < hi { return pos + n - 1 }
        return n > 0 ? pos + n : pos + 1
    }
}
