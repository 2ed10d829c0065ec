// ByteTokenizer: the byte-level fallback tokenizer of the embedded tiny model.
//
// Ids 0...255 are the UTF-8 bytes of the text, 256 is BOS, 257 is EOS; the vocabulary has 258 ids.
// No merges and no pre-tokenization: every byte is one token, so any text round-trips exactly.

/// Byte-level tokenizer: one token per UTF-8 byte, plus BOS (256) and EOS (257).
public struct ByteTokenizer: TextTokenizer {
    public static let bos: Int32 = 256
    public static let eos: Int32 = 257

    public let addsBOS: Bool
    public let addsEOS: Bool

    /// - Parameters: addBOS/addEOS: whether `encode(_:addSpecial: true)` adds BOS/EOS.
    public init(addBOS: Bool = true, addEOS: Bool = false) {
        self.addsBOS = addBOS
        self.addsEOS = addEOS
    }

    public var vocabSize: Int { 258 }
    public var bosId: Int32? { Self.bos }
    public var eosId: Int32? { Self.eos }

    /// The UTF-8 bytes of `text` as ids. `parseSpecial` is accepted for the protocol and ignored:
    /// BOS and EOS have no written form, so text never contains them.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count + 2)
        if addSpecial && addsBOS { ids.append(Self.bos) }
        for b in text.utf8 { ids.append(Int32(b)) }
        if addSpecial && addsEOS { ids.append(Self.eos) }
        return ids
    }

    /// The text of the byte ids; BOS, EOS and out-of-range ids are skipped, invalid UTF-8 becomes U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count)
        for id in ids where id >= 0 && id < 256 { bytes.append(UInt8(id)) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
