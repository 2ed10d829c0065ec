// Loading a BPETokenizer from a Hugging Face tokenizer.json (the `tokenizers` library's format).
//
// Fields read (everything else is ignored):
//   1. model.type          "BPE" (when present; anything else is an error)
//   2. model.vocab         {token: id}; ids must cover 0..<N without holes (with added_tokens)
//   3. model.merges        ["left right", ...] or [["left", "right"], ...]; rank = index
//   4. model.unk_token     optional token text -> unkId
//   5. added_tokens        [{id, content, special}]; special -> control type, else user-defined
//   6. pre_tokenizer       picks the PreTokenizer (rule below)
//   7. post_processor      TemplateProcessing (alone or in a Sequence): a SpecialToken first in
//                          `single` means "add BOS" and names it; one last means "add EOS"
// and, when it exists, tokenizer_config.json next to the file: bos_token / eos_token (a string or
// {"content": ...}) and add_bos_token / add_eos_token, which take precedence over 7.
// Without either, BOS/EOS are the first added token named "<|begin_of_text|>", "<s>",
// "<|startoftext|>" (BOS) or "<|endoftext|>", "</s>", "<|end_of_text|>", "<|im_end|>", "<eos>" (EOS).
//
// Pre-tokenizer rule: the pre_tokenizer (a Sequence is read in order) is reduced to its regex
// steps: Split with behavior "Isolated" and a known pattern (the GPT-2, llama3 or qwen2 pattern,
// or "\p{N}"), Digits (individual_digits: true = "\p{N}"), ByteLevel with use_regex (the GPT-2
// pattern). [GPT-2] -> gpt2, [\p{N}, GPT-2] -> smollm, [llama3] -> llama3, [qwen2] -> qwen2. No
// pre_tokenizer, or steps that match none of these, -> gpt2 (the pattern every byte-level BPE
// starts from); `preTokenizer` on the result says which was chosen, and `pre:` overrides the rule.
// ByteLevel's add_prefix_space and model.ignore_merges are not read (the pre-tokenizer decides).
import Foundation

extension BPETokenizer {
    /// Loads `path` (a tokenizer.json). `pre` overrides the detected pre-tokenizer (a GGUF name).
    /// - Throws: TokenizerError naming the file and the field for unreadable or malformed input.
    public static func fromHuggingFace(path: String, pre: String? = nil) throws -> BPETokenizer {
        let root = try readJSONObject(path)
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError(file: path, "model: missing or not an object; expected a tokenizers BPE model")
        }
        if let type = model["type"] as? String, type != "BPE" {
            throw TokenizerError(file: path, "model.type: \"\(type)\"; only BPE tokenizers are supported")
        }
        let added = try addedTokens(root, path: path)
        let (tokens, types) = try vocabulary(model, added: added, path: path)
        let merges = try mergeLines(model, path: path)
        let special = try specialTokens(root, path: path, tokens: tokens, added: added)
        let unk = (model["unk_token"] as? String).flatMap { tokens.firstIndex(of: $0) }.map { Int32($0) }
        return try BPETokenizer(tokens: tokens, tokenTypes: types, merges: merges,
                                pre: pre ?? detectPreTokenizer(root["pre_tokenizer"]).rawValue,
                                bosId: special.bos, eosId: special.eos, unkId: unk,
                                addBOS: special.addBOS, addEOS: special.addEOS, source: path)
    }

    static func readJSONObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(file: path, "cannot read the file; check the path")
        }
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: data) } catch {
            throw TokenizerError(file: path, "not valid JSON (\(error.localizedDescription)); the file is truncated or corrupt")
        }
        guard let root = any as? [String: Any] else {
            throw TokenizerError(file: path, "top level is not a JSON object")
        }
        return root
    }

    struct AddedToken { let id: Int; let content: String; let special: Bool }

    static func addedTokens(_ root: [String: Any], path: String) throws -> [AddedToken] {
        guard let list = root["added_tokens"] else { return [] }
        guard let items = list as? [[String: Any]] else {
            throw TokenizerError(file: path, "added_tokens: not a list of objects")
        }
        return try items.enumerated().map { i, item in
            guard let id = item["id"] as? Int, let content = item["content"] as? String else {
                throw TokenizerError(file: path, "added_tokens[\(i)]: needs an integer \"id\" and a string \"content\"")
            }
            return AddedToken(id: id, content: content, special: item["special"] as? Bool ?? false)
        }
    }

    /// Tokens by id and their GGUF types, from model.vocab plus added_tokens.
    static func vocabulary(_ model: [String: Any], added: [AddedToken], path: String) throws -> ([String], [Int32]) {
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError(file: path, "model.vocab: missing or not an object {token: id}")
        }
        var byId: [Int: (String, Int32)] = [:]
        func put(_ id: Int, _ text: String, _ type: TokenType, _ field: String) throws {
            guard id >= 0 && id < Int(Int32.max) else {
                throw TokenizerError(file: path, "\(field): id \(id) of \"\(text)\" is negative or too large")
            }
            if let (old, _) = byId[id], old != text {
                throw TokenizerError(file: path, "\(field): id \(id) is used by both \"\(old)\" and \"\(text)\"")
            }
            byId[id] = (text, type.rawValue)
        }
        for (text, value) in vocab {
            guard let id = value as? Int else { throw TokenizerError(file: path, "model.vocab: the id of \"\(text)\" is not an integer") }
            try put(id, text, .normal, "model.vocab")
        }
        for a in added { try put(a.id, a.content, a.special ? .control : .userDefined, "added_tokens") }
        let count = (byId.keys.max() ?? -1) + 1
        guard count > 0 else { throw TokenizerError(file: path, "model.vocab: empty") }
        var tokens: [String] = [], types: [Int32] = []
        for id in 0..<count {
            guard let (text, type) = byId[id] else {
                throw TokenizerError(file: path, "model.vocab: id \(id) has no token (ids must be 0..<\(count) without holes)")
            }
            tokens.append(text); types.append(type)
        }
        return (tokens, types)
    }

    /// model.merges as "left right" lines.
    static func mergeLines(_ model: [String: Any], path: String) throws -> [String] {
        guard let list = model["merges"] as? [Any] else {
            throw TokenizerError(file: path, "model.merges: missing or not a list")
        }
        return try list.enumerated().map { i, item in
            if let line = item as? String { return line }
            if let pair = item as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            throw TokenizerError(file: path, "model.merges[\(i)]: neither \"left right\" nor [\"left\", \"right\"]")
        }
    }
}
