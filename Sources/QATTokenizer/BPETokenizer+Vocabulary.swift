// Building the lookup tables of BPETokenizer from the vocabulary arrays: token -> id, merge pair
// -> rank and result, the decoded bytes of every token, and the special tokens matched in text.

extension BPETokenizer {
    /// Tokens with empty entries renamed "[EMPTY_i]" (as llama.cpp does), and the token -> id map.
    static func buildVocab(_ tokens: [String], source: String) throws -> ([String], [String: Int32]) {
        var toks = tokens
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(tokens.count)
        for i in toks.indices {
            if toks[i].isEmpty { toks[i] = "[EMPTY_\(i)]" }
            if let other = vocab.updateValue(Int32(i), forKey: toks[i]) {
                throw TokenizerError(file: source, "tokens: \"\(toks[i])\" appears twice (ids \(other) and \(i)); the vocabulary is corrupt")
            }
        }
        return (toks, vocab)
    }

    /// Merge table from "left right" lines (split at the first space after the first character,
    /// as llama.cpp does). A pair listed twice keeps its first (lowest) rank.
    static func buildMerges(_ merges: [String], vocab: [String: Int32], source: String) throws -> [UInt64: UInt64] {
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, line) in merges.enumerated() {
            let utf8 = Array(line.utf8)
            guard utf8.count >= 3, let cut = utf8[1...].firstIndex(of: 0x20) else {
                throw TokenizerError(file: source, "merges[\(rank)]: \"\(line)\" is not \"left right\"")
            }
            let left = String(decoding: utf8[..<cut], as: UTF8.self)
            let right = String(decoding: utf8[(cut + 1)...], as: UTF8.self)
            try addMerge(left, right, rank: rank, vocab: vocab, source: source, into: &table)
        }
        return table
    }

    static func addMerge(_ left: String, _ right: String, rank: Int, vocab: [String: Int32],
                         source: String, into table: inout [UInt64: UInt64]) throws {
        for part in [left, right, left + right] where vocab[part] == nil {
            throw TokenizerError(file: source, "merges[\(rank)]: \"\(left) \(right)\" names \"\(part)\", which is not in the vocabulary")
        }
        guard let a = vocab[left], let b = vocab[right], let m = vocab[left + right] else { return }
        let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
        if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(m)) }
    }

    /// Decoded bytes of every token, flattened.
    static func buildPieces(_ tokens: [String], types: [Int32]) -> ([UInt8], [Int]) {
        var bytes: [UInt8] = []
        var start: [Int] = [0]
        start.reserveCapacity(tokens.count + 1)
        for (text, type) in zip(tokens, types) {
            appendPiece(text, type: TokenType(rawValue: type), to: &bytes)
            start.append(bytes.count)
        }
        return (bytes, start)
    }

    static func appendPiece(_ text: String, type: TokenType?, to bytes: inout [UInt8]) {
        switch type {
        case .control, .unknown, .userDefined:
            bytes.append(contentsOf: text.utf8)
        case .unused:
            break
        case .byte:
            // "<0xXX>": the byte itself
            let u = Array(text.utf8)
            if u.count == 6, let b = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16) {
                bytes.append(b)
            }
        case .normal, .none:
            // GPT-2 byte characters back to bytes; a character outside the map stays as its UTF-8
            for s in text.unicodeScalars {
                if let b = ByteLevel.byte(ofChar: s.value) { bytes.append(b) } else { bytes.append(contentsOf: String(s).utf8) }
            }
        }
    }

    /// Control, unknown and user-defined tokens, longest text first (ties by id, for determinism).
    static func buildSpecials(_ tokens: [String], types: [Int32]) -> [SpecialToken] {
        var out: [SpecialToken] = []
        for (i, (text, type)) in zip(tokens, types).enumerated() {
            guard let t = TokenType(rawValue: type), t == .control || t == .unknown || t == .userDefined else { continue }
            out.append(SpecialToken(bytes: Array(text.utf8), id: Int32(i), userDefined: t == .userDefined))
        }
        return out.sorted { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
    }
}
