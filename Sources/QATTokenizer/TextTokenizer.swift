// TextTokenizer: what the model, perplexity and generation code need from any tokenizer, and the
// error every tokenizer loader throws.
//
// Two tokenizers conform: BPETokenizer (byte-level BPE from GGUF metadata or a Hugging Face
// tokenizer.json) and ByteTokenizer (the byte fallback of the embedded tiny model).

/// A tokenizer: text to token ids and back.
public protocol TextTokenizer: Sendable {
    /// Number of token ids (valid ids are 0..<vocabSize).
    var vocabSize: Int { get }
    /// Beginning-of-sequence id, nil when the vocabulary has none.
    var bosId: Int32? { get }
    /// End-of-sequence id, nil when the vocabulary has none.
    var eosId: Int32? { get }
    /// True when `encode(_:addSpecial: true, ...)` puts `bosId` in front.
    var addsBOS: Bool { get }
    /// Token ids of `text`; `addSpecial` adds BOS/EOS as the tokenizer is configured to,
    /// `parseSpecial` turns control tokens written in the text (e.g. "<|im_start|>") into their ids.
    func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32]
    /// Text of `ids`; invalid UTF-8 becomes U+FFFD, ids outside 0..<vocabSize are skipped.
    func decode(_ ids: [Int32]) -> String
}

/// A vocabulary or tokenizer file that cannot be used. `description` names the file (or the
/// in-memory source), the field, the offending value and what to do.
///
/// QATTokenizer depends on nothing, so this mirrors QATIO's FormatError rather than reusing it.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
}
