// The GGUF-style arrays a BPETokenizer was built from, for writers that rebuild
// `tokenizer.ggml.*` metadata (QATQuant's GGUF export). Reading them back through
// BPETokenizer(tokens:tokenTypes:merges:pre:...) gives a tokenizer that encodes every text the same
// way: merges come out in rank order (a duplicate merge, which the builder ignored, is not
// repeated), tokens and types by id.

extension BPETokenizer {
    /// `tokenizer.ggml.tokens`: token text by id, in GPT-2's byte characters.
    public var ggufTokens: [String] { tokens }

    /// `tokenizer.ggml.token_type`: llama.cpp's token type codes by id.
    public var ggufTokenTypes: [Int32] { types }

    /// `tokenizer.ggml.merges`: "left right" by rank.
    public var ggufMerges: [String] {
        merges.sorted { $0.value >> 32 < $1.value >> 32 }.map { key, _ in
            let left = Int(key >> 32), right = Int(key & 0xFFFF_FFFF)
            return tokens[left] + " " + tokens[right]
        }
    }

    /// A `tokenizer.ggml.pre` name that selects this pre-tokenizer (the enum's own name).
    public var ggufPreName: String { preTokenizer.ggufName }
}

extension PreTokenizer {
    /// The canonical `tokenizer.ggml.pre` value of this pre-tokenizer: the one llama.cpp itself
    /// writes for it ("gpt-2", "smollm", "llama-bpe", "qwen2", "default").
    public var ggufName: String {
        switch self {
        case .gpt2: return "gpt-2"
        case .smollm: return "smollm"
        case .llama3: return "llama-bpe"
        case .qwen2: return "qwen2"
        case .default: return "default"
        }
    }
}

extension ByteTokenizer {
    /// The byte tokenizer as a GPT-2 style vocabulary without merges: id b < 256 is byte b (in
    /// GPT-2's byte characters), 256 BOS and 257 EOS as control tokens. Byte-level BPE with no
    /// merges splits every text into its bytes, so the ids are the byte tokenizer's.
    public static var ggufTokens: [String] {
        (0..<256).map { ByteLevel.mappedString([UInt8($0)]) } + ["<|bos|>", "<|eos|>"]
    }

    /// Normal for the 256 bytes, control for BOS and EOS.
    public static var ggufTokenTypes: [Int32] {
        [Int32](repeating: BPETokenizer.TokenType.normal.rawValue, count: 256) + [BPETokenizer.TokenType.control.rawValue, BPETokenizer.TokenType.control.rawValue]
    }
}
