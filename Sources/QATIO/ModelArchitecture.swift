// The model architectures QATLab runs, one row each (as mlx-swift-lm's model registry): every
// place that reads or writes a checkpoint asks this table instead of switching on names.
//
// A row holds what differs between the LLaMA-family decoders QATLab implements; the block itself
// (RMSNorm, RoPE attention with grouped KV heads, SwiGLU MLP) is the same for all of them:
//   name                 transformers' class, config.json `architectures[0]`
//   modelType            config.json `model_type` (read when `architectures` is absent, written)
//   ggufNames            llama.cpp's `general.architecture` values loaded as this row (a
//                        Mistral GGUF says "llama" or "mistral" and is read as a LLaMA model)
//   ggufRopeIsNeox       llama.cpp's RoPE layout: NeoX (halves rotated; qwen2) or interleaved pairs
//                        (llama: convert_hf_to_gguf permutes q/k for it)
//   maxPositionsDefault  transformers' default max_position_embeddings
//   attentionBias        q/k/v biases: read from `attention_bias`, always, or never
//   slidingWindow        `sliding_window`: none, the field, or the field when `use_sliding_window`
//   writesAttentionBias  whether config.json carries `attention_bias` for this class
//   qkNorm               per-head RMSNorm of q and k (gains of size head_dim) before RoPE (Qwen3)
//
// How to add an architecture:
//   1. a new row here (and in `all`); a computation the block lacks gets a row field and a branch
//      in DecoderBlock (forward), DecoderBlock+Decode (KV cache), QATEval/CachedForward and
//      QATQuant/Calibration.attentionCore, the four places that run attention;
//   2. the config fields it reads that the others do not (ModelConfig.swift's reader, which asks
//      the row) and writes back (ModelConfig+Writer.swift);
//   3. its tensor names where they differ: ModelLoader.swift (HF and GGUF), NativeCheckpoint's
//      floatTensors/assemble, GGUFExport.writeTensors, Rotation.rotatedBlock;
//   4. a tiny model written by transformers itself with its golden logits (a row of MODELS in
//      Tests/Oracles/tiny_arch_models.py; TinyArchTests checks it within 1e-4, and
//      TinyArchPipelineTests runs every quantizer and trainer on it).
// What the block does not compute is refused by name, never run wrongly: rope types other than
// default and Llama-3's "llama3" (ModelConfig, GGUF rope.scaling.type), an architecture outside
// the table, an input longer than a sliding window (LlamaModel).
public struct ModelArchitecture: Sendable, Equatable {
    public enum BiasRule: Sendable, Equatable { case field, always, never }
    public enum WindowRule: Sendable, Equatable { case none, field, fieldWhenEnabled }

    public let name: String
    public let modelType: String
    public let ggufNames: [String]
    public let ggufRopeIsNeox: Bool
    public let maxPositionsDefault: Int
    public let attentionBias: BiasRule
    public let slidingWindow: WindowRule
    public let qkNorm: Bool
    public var writesAttentionBias: Bool { attentionBias == .field }

    /// q/k/v biases given config.json's `attention_bias` (nil when absent).
    public func hasAttentionBias(field: Bool?) -> Bool {
        switch attentionBias {
        case .field: return field ?? false
        case .always: return true
        case .never: return false
        }
    }

    /// The attention window given config.json's `sliding_window` and `use_sliding_window`.
    public func window(field: Int?, enabled: Bool?) -> Int? {
        switch slidingWindow {
        case .none: return nil
        case .field: return field
        case .fieldWhenEnabled: return enabled == true ? field : nil
        }
    }
}

extension ModelArchitecture {
    public static let llama = ModelArchitecture(name: "LlamaForCausalLM", modelType: "llama", ggufNames: ["llama", "mistral"],
                                                ggufRopeIsNeox: false, maxPositionsDefault: 2048, attentionBias: .field,
                                                slidingWindow: .none, qkNorm: false)
    public static let qwen2 = ModelArchitecture(name: "Qwen2ForCausalLM", modelType: "qwen2", ggufNames: ["qwen2"],
                                                ggufRopeIsNeox: true, maxPositionsDefault: 32768, attentionBias: .always,
                                                slidingWindow: .fieldWhenEnabled, qkNorm: false)
    public static let qwen3 = ModelArchitecture(name: "Qwen3ForCausalLM", modelType: "qwen3", ggufNames: ["qwen3"],
                                                ggufRopeIsNeox: true, maxPositionsDefault: 32768, attentionBias: .field,
                                                slidingWindow: .fieldWhenEnabled, qkNorm: true)
    public static let mistral = ModelArchitecture(name: "MistralForCausalLM", modelType: "mistral", ggufNames: [],
                                                  ggufRopeIsNeox: false, maxPositionsDefault: 131072, attentionBias: .never,
                                                  slidingWindow: .field, qkNorm: false)

    /// Every architecture QATLab runs.
    public static let all: [ModelArchitecture] = [.llama, .qwen2, .qwen3, .mistral]

    /// The row of transformers' class `name`.
    public static func named(_ name: String) -> ModelArchitecture? { all.first { $0.name == name } }
    /// The row of config.json's `model_type`.
    public static func modelType(_ type: String) -> ModelArchitecture? { all.first { $0.modelType == type } }
    /// The row a GGUF's `general.architecture` loads as.
    public static func gguf(_ arch: String) -> ModelArchitecture? { all.first { $0.ggufNames.contains(arch) } }

    /// For error messages: "LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MistralForCausalLM".
    public static var supportedNames: String { all.map(\.name).joined(separator: ", ") }
    /// For error messages about GGUF files: "llama, mistral, qwen2, qwen3".
    public static var supportedGGUFNames: String { all.flatMap(\.ggufNames).joined(separator: ", ") }
}
