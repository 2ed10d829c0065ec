// ModelConfig: the shape of a LLaMA-family model, and the reader for Hugging Face `config.json`.
//
// config.json is one JSON object. Fields read (transformers' names), with the default used when a
// field is absent. Defaults are those of transformers' LlamaConfig / Qwen2Config / Qwen3Config /
// MistralConfig; what differs between them is a row of ModelArchitecture.swift:
//   1. architectures[0]            LlamaForCausalLM | Qwen2ForCausalLM | Qwen3ForCausalLM |
//                                  MistralForCausalLM; when absent, model_type llama | qwen2 |
//                                  qwen3 | mistral names it.                                (required)
//   2. vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads (required:
//                                  transformers would silently use 7B-sized defaults; a checkpoint
//                                  that lacks them is broken, so QATLab refuses it)
//   3. num_key_value_heads         default num_attention_heads
//   4. head_dim                    default hidden_size / num_attention_heads (must divide exactly)
//   5. rope_theta                  default 10000 (transformers 5 may nest it in
//                                  rope_parameters.rope_theta; both are read)
//   6. rms_norm_eps                default 1e-6 (all three classes)
//   7. max_position_embeddings     default 2048 (llama), 131072 (mistral), 32768 (qwen2, qwen3)
//   8. tie_word_embeddings         default false (all classes)
//   9. attention_bias              llama, qwen3: the field, default false; qwen2: always true (q/k/v
//                                  have biases, o_proj has none); mistral: always false
//  10. bos_token_id, eos_token_id  optional; a list of eos ids keeps the first
//  11. sliding_window              mistral: the field (null = none); qwen2, qwen3: only when
//                                  use_sliding_window is true; llama: none
//  12. rope_parameters (transformers 5) or rope_scaling (older): rope_type (or `type`) null or
//                                  "default": plain RoPE; "llama3": factor, low_freq_factor,
//                                  high_freq_factor, original_max_position_embeddings, all
//                                  required (QATTensor/Rope.swift's RopeScaling.llama3). When both
//                                  are present rope_parameters wins.
// Refused because the model would compute something else: hidden_act other than "silu",
// mlp_bias true, any other rope type (linear, dynamic, yarn, longrope, ...).
import Foundation
import QATTensor

/// The dimensions of a LLaMA-family decoder (LLaMA, Qwen2, Qwen3, Mistral).
public struct ModelConfig: Codable, Equatable, Sendable {
    public var architecture: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var ropeTheta: Double
    public var rmsNormEps: Double
    public var maxPositions: Int
    public var tieWordEmbeddings: Bool
    /// q/k/v projections have biases (always for Qwen2).
    public var attentionBias: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// Attention sees at most this many previous positions (Mistral); nil = full causal attention.
    public var slidingWindow: Int?
    /// RoPE frequency scaling (Llama-3.1's "llama3"); nil = plain RoPE.
    public var ropeScaling: RopeScaling?
    /// Per-head RMSNorm of q and k before RoPE: the architecture's (Qwen3).
    public var qkNorm: Bool { ModelArchitecture.named(architecture)?.qkNorm ?? false }

    public static var supportedArchitectures: [String] { ModelArchitecture.all.map(\.name) }
    /// config.json rope types QATLab computes.
    public static let supportedRopeTypes = ["default", "llama3"]

    public init(architecture: String = "LlamaForCausalLM", vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
                layerCount: Int, headCount: Int, kvHeadCount: Int, headDim: Int, ropeTheta: Double = 10000,
                rmsNormEps: Double = 1e-6, maxPositions: Int = 2048, tieWordEmbeddings: Bool = false,
                attentionBias: Bool = false, bosTokenId: Int? = nil, eosTokenId: Int? = nil, slidingWindow: Int? = nil,
                ropeScaling: RopeScaling? = nil) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.maxPositions = maxPositions
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.slidingWindow = slidingWindow
        self.ropeScaling = ropeScaling
    }

    /// Checks that the sizes describe a buildable model. Errors name the field and the value.
    public func validate() throws {
        let sizes: [(String, Int)] = [("vocabSize", vocabSize), ("hiddenSize", hiddenSize), ("intermediateSize", intermediateSize),
                                      ("layerCount", layerCount), ("headCount", headCount), ("kvHeadCount", kvHeadCount),
                                      ("headDim", headDim), ("maxPositions", maxPositions)]
        for (name, v) in sizes where v <= 0 {
            throw FormatError(file: "model config", "\(name) = \(v) must be positive")
        }
        guard headCount % kvHeadCount == 0 else {
            throw FormatError(file: "model config", "headCount = \(headCount) is not a multiple of kvHeadCount = \(kvHeadCount); grouped-query attention shares each kv head among an equal number of query heads")
        }
        guard headDim % 2 == 0 else { throw FormatError(file: "model config", "headDim = \(headDim) must be even for RoPE") }
        guard ropeTheta > 0, ropeTheta.isFinite else { throw FormatError(file: "model config", "ropeTheta = \(ropeTheta) must be positive") }
        guard rmsNormEps > 0, rmsNormEps.isFinite else { throw FormatError(file: "model config", "rmsNormEps = \(rmsNormEps) must be positive") }
        for (name, id) in [("bosTokenId", bosTokenId), ("eosTokenId", eosTokenId)] {
            if let id, id < 0 || id >= vocabSize {
                throw FormatError(file: "model config", "\(name) = \(id) lies outside the vocabulary 0..<\(vocabSize)")
            }
        }
        if let w = slidingWindow, w <= 0 { throw FormatError(file: "model config", "slidingWindow = \(w) must be positive") }
        if let problem = ropeScaling?.problem(headDim: headDim) { throw FormatError(file: "model config", problem) }
    }
}

// MARK: - Hugging Face config.json

extension ModelConfig {
    /// Reads a Hugging Face config.json (a file, or a directory holding one) and validates it.
    public static func fromHuggingFace(path: String) throws -> ModelConfig {
        var file = path
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            file = (path as NSString).appendingPathComponent("config.json")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw FormatError(file: file, "cannot read the config (\(error.localizedDescription)); check the path")
        }
        let hf: HFConfig
        do { hf = try JSONDecoder().decode(HFConfig.self, from: data) } catch {
            throw FormatError(file: file, "not a valid config.json: \(describeDecodingError(error))")
        }
        let config = try hf.modelConfig(file: file)
        do { try config.validate() } catch let e as FormatError { throw FormatError(file: file, e.message) }
        return config
    }
}

/// The subset of config.json that QATLab reads; every field optional so absence is reported by name.
private struct HFConfig: Decodable {
    struct RopeParameters: Decodable {
        let rope_type: String?, type: String?, rope_theta: Double?
        let factor, low_freq_factor, high_freq_factor: Double?
        let original_max_position_embeddings: Int?
        var kind: String { rope_type ?? type ?? "default" }
    }
    /// An id or a list of ids (Llama 3 lists several eos ids).
    enum TokenIds: Decodable {
        case one(Int), many([Int])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Int.self) { self = .one(v) } else { self = .many(try c.decode([Int].self)) }
        }
        var first: Int? { switch self { case let .one(v): return v; case let .many(v): return v.first } }
    }

    let architectures: [String]?
    let model_type: String?
    let vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads: Int?
    let num_key_value_heads, head_dim, max_position_embeddings, sliding_window: Int?
    let rope_theta, rms_norm_eps: Double?
    let tie_word_embeddings, attention_bias, mlp_bias, use_sliding_window: Bool?
    let hidden_act: String?
    let rope_scaling: RopeParameters?
    let rope_parameters: RopeParameters?
    let bos_token_id, eos_token_id: TokenIds?

    func architecture(file: String) throws -> ModelArchitecture {
        let supported = ModelArchitecture.supportedNames
        if let a = architectures?.first {
            guard let row = ModelArchitecture.named(a) else {
                throw FormatError(file: file, "architectures: '\(a)' is not supported; supported architectures: \(supported)")
            }
            return row
        }
        if let t = model_type {
            guard let row = ModelArchitecture.modelType(t) else { throw FormatError(file: file, "model_type: '\(t)' is not supported; supported architectures: \(supported)") }
            return row
        }
        throw FormatError(file: file, "missing field 'architectures' (and 'model_type'); supported architectures: \(supported)")
    }

    func modelConfig(file: String) throws -> ModelConfig {
        let row = try architecture(file: file), arch = row.name
        func required(_ v: Int?, _ name: String) throws -> Int {
            guard let v else { throw FormatError(file: file, "missing required field '\(name)' (\(arch))") }
            return v
        }
        let hidden = try required(hidden_size, "hidden_size")
        let heads = try required(num_attention_heads, "num_attention_heads")
        guard head_dim != nil || (heads > 0 && hidden % heads == 0) else {
            throw FormatError(file: file, "hidden_size = \(hidden) is not a multiple of num_attention_heads = \(heads) and no head_dim is given")
        }
        try checkSupportedMath(file: file, arch: arch)
        let bias = row.hasAttentionBias(field: attention_bias)
        let window = row.window(field: sliding_window, enabled: use_sliding_window)
        return ModelConfig(
            architecture: arch, vocabSize: try required(vocab_size, "vocab_size"), hiddenSize: hidden,
            intermediateSize: try required(intermediate_size, "intermediate_size"),
            layerCount: try required(num_hidden_layers, "num_hidden_layers"), headCount: heads,
            kvHeadCount: num_key_value_heads ?? heads, headDim: head_dim ?? (heads > 0 ? hidden / heads : 0),
            ropeTheta: rope_theta ?? rope_parameters?.rope_theta ?? 10000, rmsNormEps: rms_norm_eps ?? 1e-6,
            maxPositions: max_position_embeddings ?? row.maxPositionsDefault,
            tieWordEmbeddings: tie_word_embeddings ?? false, attentionBias: bias,
            bosTokenId: bos_token_id?.first, eosTokenId: eos_token_id?.first, slidingWindow: window,
            ropeScaling: try ropeScaling(file: file))
    }

    /// The rope scaling of rope_parameters, else rope_scaling; nil for plain RoPE.
    func ropeScaling(file: String) throws -> RopeScaling? {
        for (field, p) in [("rope_parameters", rope_parameters), ("rope_scaling", rope_scaling)] {
            guard let p, p.kind != "default" else { continue }
            return try llama3(p, field: field, file: file)
        }
        return nil
    }

    /// rope_type "llama3" (checkSupportedMath has refused every other type).
    func llama3(_ p: RopeParameters, field: String, file: String) throws -> RopeScaling {
        func required<T>(_ v: T?, _ name: String) throws -> T {
            guard let v else { throw FormatError(file: file, "\(field): rope type 'llama3' needs '\(name)', which is missing; add it (Llama-3.1 uses factor 8, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings 8192)") }
            return v
        }
        return .llama3(factor: try required(p.factor, "factor"), lowFreqFactor: try required(p.low_freq_factor, "low_freq_factor"),
                       highFreqFactor: try required(p.high_freq_factor, "high_freq_factor"),
                       originalMaxPositions: try required(p.original_max_position_embeddings, "original_max_position_embeddings"))
    }

    /// Refuses settings under which the LLaMA block computes something else.
    func checkSupportedMath(file: String, arch: String) throws {
        if let act = hidden_act, act != "silu" {
            throw FormatError(file: file, "hidden_act: '\(act)' is not supported; QATLab's MLP is SwiGLU ('silu')")
        }
        if mlp_bias == true { throw FormatError(file: file, "mlp_bias: true is not supported; the MLP projections have no biases") }
        for (field, p) in [("rope_scaling", rope_scaling), ("rope_parameters", rope_parameters)] {
            guard let kind = p?.kind, !ModelConfig.supportedRopeTypes.contains(kind) else { continue }
            throw FormatError(file: file, "\(field): rope type '\(kind)' is not supported; QATLab implements \(ModelConfig.supportedRopeTypes.map { "'\($0)'" }.joined(separator: " and ")) (plain RoPE and Llama-3's scaling)")
        }
    }
}
