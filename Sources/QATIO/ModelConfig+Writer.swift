// Writing a Hugging Face `config.json` from a ModelConfig, and small JSON files in general.
//
// config.json is one JSON object (UTF-8, keys sorted, pretty-printed). Fields written, in
// transformers' names (the reader in ModelConfig.swift maps them back to the same ModelConfig):
//   1. architectures [architecture], model_type llama | qwen2 | qwen3 | mistral
//   2. vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
//      num_key_value_heads, head_dim
//   3. rope_theta, rms_norm_eps, max_position_embeddings, tie_word_embeddings
//   4. hidden_act "silu", mlp_bias false, rope_scaling: null, or for Llama-3 scaling
//      {"rope_type": "llama3", "factor", "low_freq_factor", "high_freq_factor",
//      "original_max_position_embeddings"} (the legacy field, which transformers 5 reads into
//      rope_parameters with the top-level rope_theta). Frequency factors read from a GGUF's
//      rope_freqs tensor have no config.json form: writing them is refused.
//   5. attention_bias (llama, qwen3; qwen2 always has q/k/v biases, mistral never)
//   6. bos_token_id, eos_token_id when known
//   7. sliding_window (mistral: the value or null; qwen2: the value with use_sliding_window true)
//   8. torch_dtype: the dtype of the float tensors beside it ("float32", "float16")
//   9. any extra top-level fields the caller adds (quantization_config, _name_or_path)
// Files are written through a temporary file renamed into place (see writeAtomically).
import Foundation
import QATTensor

extension ModelConfig {
    /// The model_type transformers uses for this architecture.
    public var huggingFaceModelType: String { (ModelArchitecture.named(architecture) ?? .llama).modelType }

    /// config.json fields (items 1-8) as a JSON object.
    public func huggingFaceFields(torchDType: String = "float32") throws -> [String: Any] {
        var f: [String: Any] = [
            "architectures": [architecture], "model_type": huggingFaceModelType,
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
            "num_hidden_layers": layerCount, "num_attention_heads": headCount, "num_key_value_heads": kvHeadCount,
            "head_dim": headDim, "rope_theta": ropeTheta, "rms_norm_eps": rmsNormEps,
            "max_position_embeddings": maxPositions, "tie_word_embeddings": tieWordEmbeddings,
            "hidden_act": "silu", "mlp_bias": false, "rope_scaling": try huggingFaceRopeScaling(), "torch_dtype": torchDType,
        ]
        let row = ModelArchitecture.named(architecture) ?? .llama
        if row.writesAttentionBias { f["attention_bias"] = attentionBias }
        if let bosTokenId { f["bos_token_id"] = bosTokenId }
        if let eosTokenId { f["eos_token_id"] = eosTokenId }
        switch row.slidingWindow {
        case .none: break
        case .field: f["sliding_window"] = slidingWindow.map { $0 as Any } ?? NSNull()
        case .fieldWhenEnabled:
            if let slidingWindow { f["use_sliding_window"] = true; f["sliding_window"] = slidingWindow }
        }
        return f
    }

    /// Item 4's rope_scaling value.
    func huggingFaceRopeScaling() throws -> Any {
        switch ropeScaling {
        case nil: return NSNull()
        case let .llama3(factor, low, high, original)?:
            return ["rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
                    "original_max_position_embeddings": original] as [String: Any]
        case .frequencyFactors?:
            throw FormatError(file: "config.json", "this model's RoPE frequencies come from a GGUF's rope_freqs tensor, which config.json cannot express (it needs Llama-3's factor, low/high_freq_factor and original_max_position_embeddings); export it with format=gguf, or load the Hugging Face checkpoint instead of the GGUF")
        }
    }

    /// Writes config.json at `path`; `extra` fields are merged in at the top level.
    public func writeHuggingFace(to path: String, torchDType: String = "float32", extra: [String: Any] = [:]) throws {
        try validate()
        let fields = try huggingFaceFields(torchDType: torchDType).merging(extra) { _, new in new }
        try writeJSONObject(fields, to: path)
    }
}

/// Writes a JSON object (keys sorted, pretty-printed, trailing newline) atomically.
public func writeJSONObject(_ object: [String: Any], to path: String) throws {
    guard JSONSerialization.isValidJSONObject(object) else {
        throw FormatError(file: path, "the object to write is not valid JSON (a value is not a string, number, bool, null, array or object)")
    }
    var data: Data
    do { data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) } catch {
        throw FormatError(file: path, "cannot encode JSON (\(error.localizedDescription))")
    }
    data.append(0x0A)
    try writeAtomically(path) { out in try data.withUnsafeBytes { try out($0) } }
}

/// Reads a JSON object from a file; errors name the file.
public func readJSONObject(_ path: String) throws -> [String: Any] {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw FormatError(file: path, "cannot read (\(error.localizedDescription)); check the path")
    }
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw FormatError(file: path, "not a JSON object; the file is corrupt")
    }
    return object
}
