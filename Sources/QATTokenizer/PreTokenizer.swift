// PreTokenizer: splitting text into pre-tokens before BPE, exactly as llama.cpp does for the
// pre-tokenizer that a GGUF's `tokenizer.ggml.pre` names (src/llama-vocab.cpp llm_tokenizer_bpe,
// src/unicode.cpp unicode_regex_split).
//
// llama.cpp applies a list of regexes in turn. Each regex splits every current segment into its
// matches AND the text between matches (both kept), so later regexes never see across earlier
// boundaries. The lists (LLAMA_VOCAB_PRE_TYPE_*):
//   gpt2     ["'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"]
//   smollm   ["\p{N}", <gpt2>]                        (every digit alone, then GPT-2)
//   llama3   ["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//             | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"]
//   qwen2    as llama3 with \p{N} instead of \p{N}{1,3}
//   default  ["[\p{P}\$\+<=>\^~\|]+", <gpt2>, "\p{N}+", "[0-9][0-9][0-9]"]
// The GPT-2 and llama3 patterns are hand-coded here as llama.cpp hand-codes them
// (unicode_regex_split_custom_gpt2 / _llama3); qwen2 runs through std::regex in llama.cpp and
// through the llama3 matcher with 1-digit numbers here (same regex semantics). `\s+(?!\S)`: a
// whitespace run followed by a non-space inside the segment gives all but its last character (that
// one starts the next pre-token, e.g. " word"); at the end of a segment the whole run is taken.

/// A pre-tokenizer that llama.cpp implements, named as in GGUF `tokenizer.ggml.pre`.
public enum PreTokenizer: String, Sendable, CaseIterable {
    case gpt2, smollm, llama3, qwen2
    case `default` = "default"

    /// `tokenizer.ggml.pre` values accepted, with the type each selects (llama.cpp's aliases that
    /// share the type's regexes and encoding flags).
    public static let ggufNames: [String: PreTokenizer] = [
        "default": .default,
        "gpt-2": .gpt2, "gpt2": .gpt2, "phi-2": .gpt2, "mpt": .gpt2, "olmo": .gpt2,
        "smollm": .smollm, "starcoder": .smollm, "refact": .smollm, "command-r": .smollm,
        "codeshell": .smollm, "exaone": .smollm, "minerva-7b": .smollm,
        "llama3": .llama3, "llama-v3": .llama3, "llama-bpe": .llama3, "falcon3": .llama3,
        "falcon-h1": .llama3, "pixtral": .llama3,
        "qwen2": .qwen2, "deepseek-r1-qwen": .qwen2, "stablelm2": .qwen2, "megrez": .qwen2,
    ]

    /// The pre-tokenizer a GGUF names; an empty name is llama.cpp's fallback `default`.
    /// - Throws: TokenizerError listing the supported names when the name is unknown.
    public init(ggufName: String, source: String = "<vocabulary>") throws {
        if ggufName.isEmpty { self = .default; return }
        guard let p = Self.ggufNames[ggufName] else {
            let names = Self.ggufNames.keys.sorted().joined(separator: ", ")
            throw TokenizerError(file: source, "tokenizer.ggml.pre: unknown pre-tokenizer \"\(ggufName)\"; supported: \(names)")
        }
        self = p
    }

    /// llama.cpp sets ignore_merges for llama3: a pre-token that is itself a vocabulary entry
    /// becomes that token without merging.
    public var ignoresMerges: Bool { self == .llama3 }

    /// llama.cpp's add_bos default for the type (a GGUF's tokenizer.ggml.add_bos_token overrides it).
    public var addsBOSByDefault: Bool { self == .llama3 }

    /// The pre-tokens of `text` (no special-token handling, no byte mapping).
    public func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { p in
            let run = ScalarRun(p, 0, p.count)
            var out: [String] = []
            var start = 0
            for end in segmentEnds(run) {
                let lo = run.offsets[start], hi = run.offsets[end]
                out.append(String(decoding: p[lo..<hi], as: UTF8.self))
                start = end
            }
            return out
        }
    }

    /// Scalar end index of every pre-token of `run`, in order.
    func segmentEnds(_ run: ScalarRun) -> [Int] {
        var ends = run.values.isEmpty ? [] : [run.values.count]
        run.values.withUnsafeBufferPointer { v in
            run.classes.withUnsafeBufferPointer { c in
                for pass in passes {
                    var next: [Int] = []
                    next.reserveCapacity(ends.count * 2)
                    var lo = 0
                    for hi in ends {
                        let m = Matcher(v: v, c: c, lo: lo, hi: hi)
                        m.run(pass, into: &next)
                        lo = hi
                    }
                    ends = next
                }
            }
        }
        return ends
    }

    var passes: [SplitPass] {
        switch self {
        case .gpt2: return [.gpt2]
        case .smollm: return [.eachNumber, .gpt2]
        case .llama3: return [.llama3(maxDigits: 3)]
        case .qwen2: return [.llama3(maxDigits: 1)]
        case .default: return [.punctuationRun, .gpt2, .numberRun, .asciiDigitTriples]
        }
    }
}

/// One regex of a llama.cpp list.
enum SplitPass {
    case eachNumber          // \p{N}
    case numberRun           // \p{N}+
    case punctuationRun      // [\p{P}\$\+<=>\^~\|]+
    case asciiDigitTriples   // [0-9][0-9][0-9]
    case gpt2
    case llama3(maxDigits: Int)
}
