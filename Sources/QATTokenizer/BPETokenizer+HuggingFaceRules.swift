// The rules of fromHuggingFace that read intent rather than data: which pre-tokenizer a
// tokenizer.json's pre_tokenizer amounts to, and which BOS/EOS tokens it adds (see the header of
// BPETokenizer+HuggingFace.swift for the rules themselves).
import Foundation

extension BPETokenizer {
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// One regex step of a pre_tokenizer, nil when it is not one llama.cpp's lists use.
    static func preStep(_ node: [String: Any]) -> String? {
        switch node["type"] as? String {
        case "Split":
            guard (node["behavior"] as? String) == "Isolated", (node["invert"] as? Bool) != true,
                  let pattern = node["pattern"] as? [String: Any],
                  let rx = (pattern["Regex"] ?? pattern["String"]) as? String else { return nil }
            switch rx {
            case gpt2Pattern, gpt2Pattern + #"|\s+"#: return "gpt2"
            case llama3Pattern: return "llama3"
            case qwen2Pattern: return "qwen2"
            case #"\p{N}"#: return "digit"
            default: return nil
            }
        case "Digits":
            return (node["individual_digits"] as? Bool) == true ? "digit" : nil
        case "ByteLevel":
            return (node["use_regex"] as? Bool) ?? true ? "gpt2" : ""
        default:
            return nil
        }
    }

    /// The pre-tokenizer a tokenizer.json's pre_tokenizer amounts to (gpt2 when unrecognised).
    static func detectPreTokenizer(_ preTokenizer: Any?) -> PreTokenizer {
        guard let node = preTokenizer as? [String: Any] else { return .gpt2 }
        let nodes = (node["type"] as? String) == "Sequence" ? (node["pretokenizers"] as? [[String: Any]] ?? []) : [node]
        var steps: [String] = []
        for n in nodes {
            guard let step = preStep(n) else { return .gpt2 }
            if !step.isEmpty { steps.append(step) }
        }
        switch steps {
        case ["digit", "gpt2"]: return .smollm
        case ["llama3"]: return .llama3
        case ["qwen2"]: return .qwen2
        default: return .gpt2
        }
    }

    struct SpecialIds { var bos: Int32?; var eos: Int32?; var addBOS = false; var addEOS = false }

    static func specialTokens(_ root: [String: Any], path: String, tokens: [String],
                              added: [AddedToken]) throws -> SpecialIds {
        var ids = SpecialIds()
        func id(of text: String?) -> Int32? {
            text.flatMap { t in added.first { $0.content == t }.map { Int32($0.id) } ?? tokens.firstIndex(of: t).map { Int32($0) } }
        }
        let (first, last) = templateSpecials(root["post_processor"])
        if let first { ids.bos = id(of: first); ids.addBOS = ids.bos != nil }
        if let last { ids.eos = id(of: last); ids.addEOS = ids.eos != nil }
        let configPath = URL(fileURLWithPath: path).deletingLastPathComponent()
            .appendingPathComponent("tokenizer_config.json").path
        if FileManager.default.fileExists(atPath: configPath) {
            let config = try readJSONObject(configPath)
            if let b = id(of: tokenName(config["bos_token"])) { ids.bos = b }
            if let e = id(of: tokenName(config["eos_token"])) { ids.eos = e }
            if let add = config["add_bos_token"] as? Bool { ids.addBOS = add && ids.bos != nil }
            if let add = config["add_eos_token"] as? Bool { ids.addEOS = add && ids.eos != nil }
        }
        let addedNames = Set(added.map(\.content))
        if ids.bos == nil {
            ids.bos = id(of: ["<|begin_of_text|>", "<s>", "<|startoftext|>"].first(where: addedNames.contains))
        }
        if ids.eos == nil {
            ids.eos = id(of: ["<|endoftext|>", "</s>", "<|end_of_text|>", "<|im_end|>", "<eos>"].first(where: addedNames.contains))
        }
        return ids
    }

    static func tokenName(_ any: Any?) -> String? {
        (any as? String) ?? ((any as? [String: Any])?["content"] as? String)
    }

    /// Special tokens at the start and end of a TemplateProcessing `single` template.
    static func templateSpecials(_ node: Any?) -> (String?, String?) {
        guard let node = node as? [String: Any] else { return (nil, nil) }
        if (node["type"] as? String) == "Sequence", let list = node["processors"] as? [Any] {
            for p in list {
                let r = templateSpecials(p)
                if r.0 != nil || r.1 != nil { return r }
            }
            return (nil, nil)
        }
        guard (node["type"] as? String) == "TemplateProcessing", let single = node["single"] as? [[String: Any]] else {
            return (nil, nil)
        }
        func special(_ piece: [String: Any]?) -> String? {
            (piece?["SpecialToken"] as? [String: Any])?["id"] as? String
        }
        return (special(single.first), single.count > 1 ? special(single.last) : nil)
    }
}
