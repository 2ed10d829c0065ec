// BPETokenizer: byte-level BPE as GPT-2 and llama.cpp (LLAMA_VOCAB_TYPE_BPE) tokenize.
//
// Encoding, as llama.cpp's llama_vocab::impl::tokenize does it:
//   1. Special tokens: control (type 3), unknown (2) and user-defined (4) token texts found in the
//      text become their ids, longest token first over the whole text (tokenizer_st_partition);
//      with parseSpecial = false only user-defined tokens are matched.
//   2. Each remaining text fragment is pre-tokenized (PreTokenizer), every pre-token's UTF-8 bytes
//      are mapped to GPT-2 byte characters and BPE-merged by merge rank (lowest rank first, the
//      leftmost pair on ties), see BPETokenizer+Merge.swift.
//   3. BOS in front / EOS at the end when addSpecial and the tokenizer is configured to add them.
// Decoding concatenates each token's bytes: normal tokens through the byte map, control, unknown
// and user-defined tokens as their raw text (llama.cpp's token_to_piece with special = true),
// byte tokens "<0xXX>" as that byte, unused tokens as nothing. No clean-up of spaces is applied,
// so decode(encode(s)) == s for every s.

/// Byte-level BPE tokenizer built from a vocabulary, token types and merges.
public final class BPETokenizer: TextTokenizer {
    /// GGUF token types (`tokenizer.ggml.token_type`, llama.cpp's LLAMA_TOKEN_TYPE_*).
    public enum TokenType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public let preTokenizer: PreTokenizer
    public let bosId: Int32?
    public let eosId: Int32?
    public let unkId: Int32?
    public let padId: Int32?
    public let addsBOS: Bool
    public let addsEOS: Bool
    /// Where the vocabulary came from (a file path or "<vocabulary>"), used in error messages.
    public let source: String

    let tokens: [String]
    let types: [Int32]
    let vocab: [String: Int32]
    /// (left id << 32 | right id) -> (rank << 32 | merged id)
    let merges: [UInt64: UInt64]
    /// Token id of each byte's one-character token, -1 when the vocabulary lacks it.
    let byteToId: [Int32]
    /// Decoded bytes of token i: pieceBytes[pieceStart[i]..<pieceStart[i+1]].
    let pieceBytes: [UInt8]
    let pieceStart: [Int]
    /// Tokens matched in raw text, longest first.
    let specials: [SpecialToken]

    struct SpecialToken: Sendable {
        let bytes: [UInt8]
        let id: Int32
        let userDefined: Bool
    }

    /// A tokenizer from GGUF-style arrays.
    /// - Parameters:
    ///   - tokens: `tokenizer.ggml.tokens`, id = index, written in GPT-2's byte characters.
    ///   - tokenTypes: `tokenizer.ggml.token_type` (same count), or empty for all normal.
    ///   - merges: `tokenizer.ggml.merges`, "left right", rank = index.
    ///   - pre: `tokenizer.ggml.pre` (see PreTokenizer.ggufNames).
    ///   - bosId, eosId, unkId, padId: special ids, nil when absent.
    ///   - addBOS, addEOS: `tokenizer.ggml.add_bos_token` / `add_eos_token` (llama.cpp's default
    ///     when the key is missing: `PreTokenizer.addsBOSByDefault`, and false for EOS).
    ///   - source: the file the arrays were read from, for error messages.
    /// - Throws: TokenizerError on a duplicate token, a type count mismatch, a malformed merge or one
    ///   naming an unknown token, a special id out of range, an unknown pre-tokenizer.
    public init(tokens: [String], tokenTypes: [Int32], merges: [String], pre: String,
                bosId: Int32?, eosId: Int32?, unkId: Int32? = nil, padId: Int32? = nil,
                addBOS: Bool, addEOS: Bool = false, source: String = "<vocabulary>") throws {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
            throw TokenizerError(file: source, "tokens: \(tokens.count) entries; expected 1...\(Int32.max - 1)")
        }
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw TokenizerError(file: source, "token_type: \(tokenTypes.count) entries for \(tokens.count) tokens; the counts must match")
        }
        let names = ["bos", "eos", "unk", "pad"]
        for (name, id) in zip(names, [bosId, eosId, unkId, padId]) {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw TokenizerError(file: source, "\(name)_token_id: \(id) is outside 0..<\(tokens.count)")
            }
        }
        if addBOS && bosId == nil { throw TokenizerError(file: source, "add_bos_token is true but bos_token_id is not set") }
        if addEOS && eosId == nil { throw TokenizerError(file: source, "add_eos_token is true but eos_token_id is not set") }

        self.preTokenizer = try PreTokenizer(ggufName: pre, source: source)
        self.source = source
        self.bosId = bosId; self.eosId = eosId; self.unkId = unkId; self.padId = padId
        self.addsBOS = addBOS; self.addsEOS = addEOS
        let (toks, vocab) = try Self.buildVocab(tokens, source: source)
        self.tokens = toks
        self.vocab = vocab
        self.types = tokenTypes.isEmpty ? [Int32](repeating: TokenType.normal.rawValue, count: toks.count) : tokenTypes
        self.merges = try Self.buildMerges(merges, vocab: vocab, source: source)
        self.byteToId = (0..<256).map { vocab[ByteLevel.mappedString([UInt8($0)])] ?? -1 }
        (self.pieceBytes, self.pieceStart) = Self.buildPieces(toks, types: self.types)
        self.specials = Self.buildSpecials(toks, types: self.types)
    }

    public var vocabSize: Int { tokens.count }

    /// Type of a token (nil for an id outside the vocabulary or a type code outside 1...6).
    public func tokenType(_ id: Int32) -> TokenType? {
        guard id >= 0 && Int(id) < types.count else { return nil }
        return TokenType(rawValue: types[Int(id)])
    }

    /// The vocabulary entry of `id` as stored (GPT-2 byte characters, e.g. "Ġthe"); nil out of range.
    public func tokenText(_ id: Int32) -> String? {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil
    }

    /// The id of a vocabulary entry as stored (e.g. "<|im_end|>" or "Ġthe").
    public func tokenId(_ text: String) -> Int32? { vocab[text] }

    /// The text one token decodes to (lossy when the token is part of a multi-byte character);
    /// "" for an id outside the vocabulary.
    public func tokenPiece(_ id: Int32) -> String {
        guard id >= 0 && Int(id) < tokens.count else { return "" }
        return String(decoding: pieceBytes[pieceStart[Int(id)]..<pieceStart[Int(id) + 1]], as: UTF8.self)
    }

    /// Token ids of `text` (see the header for the steps).
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecial && addsBOS, let bosId { out.append(bosId) }
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { p in
            var cache = WordCache()
            for fragment in partition(p, parseSpecial: parseSpecial) {
                switch fragment {
                case .token(let id): out.append(id)
                case .text(let lo, let hi): encodeText(p, lo, hi, cache: &cache, into: &out)
                }
            }
        }
        if addSpecial && addsEOS, let eosId { out.append(eosId) }
        return out
    }

    /// Text of `ids`. Ids outside 0..<vocabSize are skipped (not an error: generation code can
    /// hand over ids of a model whose head is wider than the vocabulary); invalid UTF-8 becomes U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && Int(id) < tokens.count {
            bytes.append(contentsOf: pieceBytes[pieceStart[Int(id)]..<pieceStart[Int(id) + 1]])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: encoding steps

    enum Fragment { case text(Int, Int), token(Int32) }

    /// Splits bytes at special-token texts, longest token first (llama.cpp tokenizer_st_partition).
    func partition(_ p: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = p.isEmpty ? [] : [.text(0, p.count)]
        for special in specials where parseSpecial || special.userDefined {
            var next: [Fragment] = []
            for fragment in fragments {
                guard case .text(var lo, let hi) = fragment else { next.append(fragment); continue }
                while let m = Self.find(special.bytes, in: p, from: lo, to: hi) {
                    if m > lo { next.append(.text(lo, m)) }
                    next.append(.token(special.id))
                    lo = m + special.bytes.count
                }
                if hi > lo { next.append(.text(lo, hi)) }
            }
            fragments = next
        }
        return fragments
    }

    /// First index of `needle` in p[from..<to].
    static func find(_ needle: [UInt8], in p: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
        guard let first = needle.first, to - from >= needle.count else { return nil }
        var i = from
        let last = to - needle.count
        while i <= last {
            if p[i] == first {
                var k = 1
                while k < needle.count && p[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// Pre-tokenizes p[lo..<hi] and BPE-merges every pre-token.
    func encodeText(_ p: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int,
                    cache: inout WordCache, into out: inout [Int32]) {
        let run = ScalarRun(p, lo, hi)
        var start = 0
        for end in preTokenizer.segmentEnds(run) {
            let word = UnsafeBufferPointer(rebasing: p[run.offsets[start]..<run.offsets[end]])
            encodeWord(word, cache: &cache, into: &out)
            start = end
        }
    }
}
