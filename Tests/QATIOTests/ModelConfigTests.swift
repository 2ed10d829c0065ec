// ModelConfig tests: real config.json files of the three architectures (SmolLM2-135M for Llama,
// Qwen2.5-0.5B, Mistral-7B-v0.1), transformers' defaults for absent fields, and refusals.
import Foundation
import Testing

@testable import QATIO

private let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

/// Writes `json` as <scratch>/<name>/config.json and parses it.
private func parse(_ json: String, name: String, in s: StScratch) throws -> ModelConfig {
    let dir = s.path(name)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
    return try ModelConfig.fromHuggingFace(path: dir + "/config.json")
}

private let minimal = #""vocab_size": 1000, "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 4"#

@Suite("HF config.json")
struct ModelConfigTests {
    @Test func llamaSmolLM2() throws {
        let c = try ModelConfig.fromHuggingFace(path: golden.appendingPathComponent("st_config_llama.json").path)
        #expect(c == ModelConfig(architecture: "LlamaForCausalLM", vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536,
                                 layerCount: 30, headCount: 9, kvHeadCount: 3, headDim: 64, ropeTheta: 100000, rmsNormEps: 1e-5,
                                 maxPositions: 8192, tieWordEmbeddings: true, attentionBias: false, bosTokenId: 1, eosTokenId: 2))
    }

    @Test func qwen2AlwaysHasQKVBias() throws {
        let c = try ModelConfig.fromHuggingFace(path: golden.appendingPathComponent("st_config_qwen2.json").path)
        #expect(c == ModelConfig(architecture: "Qwen2ForCausalLM", vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864,
                                 layerCount: 24, headCount: 14, kvHeadCount: 2, headDim: 64, ropeTheta: 1_000_000, rmsNormEps: 1e-6,
                                 maxPositions: 32768, tieWordEmbeddings: true, attentionBias: true, bosTokenId: 151643,
                                 eosTokenId: 151643, slidingWindow: nil))
    }

    @Test func mistralKeepsItsSlidingWindow() throws {
        let c = try ModelConfig.fromHuggingFace(path: golden.appendingPathComponent("st_config_mistral.json").path)
        #expect(c == ModelConfig(architecture: "MistralForCausalLM", vocabSize: 32000, hiddenSize: 4096, intermediateSize: 14336,
                                 layerCount: 32, headCount: 32, kvHeadCount: 8, headDim: 128, ropeTheta: 10000, rmsNormEps: 1e-5,
                                 maxPositions: 32768, tieWordEmbeddings: false, attentionBias: false, bosTokenId: 1, eosTokenId: 2,
                                 slidingWindow: 4096))
    }

    @Test func absentFieldsTakeTransformersDefaults() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let llama = try parse(#"{"architectures": ["LlamaForCausalLM"], \#(minimal)}"#, name: "llama", in: s)
        #expect(llama.kvHeadCount == 4 && llama.headDim == 16 && llama.ropeTheta == 10000 && llama.rmsNormEps == 1e-6)
        #expect(llama.maxPositions == 2048 && !llama.tieWordEmbeddings && !llama.attentionBias)
        #expect(llama.bosTokenId == nil && llama.eosTokenId == nil && llama.slidingWindow == nil)
        let qwen = try parse(#"{"model_type": "qwen2", \#(minimal), "attention_bias": false}"#, name: "qwen", in: s)
        #expect(qwen.architecture == "Qwen2ForCausalLM" && qwen.attentionBias && qwen.maxPositions == 32768)
        let mistral = try parse(#"{"architectures": ["MistralForCausalLM"], \#(minimal)}"#, name: "mistral", in: s)
        #expect(mistral.maxPositions == 131072 && !mistral.attentionBias)
        let biased = try parse(#"{"architectures": ["LlamaForCausalLM"], \#(minimal), "attention_bias": true, "head_dim": 32, "num_key_value_heads": 2, "eos_token_id": [7, 8, 9], "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}"#, name: "biased", in: s)
        #expect(biased.attentionBias && biased.headDim == 32 && biased.kvHeadCount == 2 && biased.eosTokenId == 7 && biased.ropeTheta == 500000)
        // A directory holding config.json is accepted too.
        #expect(try ModelConfig.fromHuggingFace(path: s.path("llama")) == llama)
    }

    @Test func codableRoundTrip() throws {
        let c = try ModelConfig.fromHuggingFace(path: golden.appendingPathComponent("st_config_mistral.json").path)
        let back = try JSONDecoder().decode(ModelConfig.self, from: try JSONEncoder().encode(c))
        #expect(back == c)
    }

    @Test(arguments: [
        ("missing-hidden", #"{"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}"#, "hidden_size"),
        ("unsupported", #"{"architectures": ["GPT2LMHeadModel"], "vocab_size": 10}"#, "LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MistralForCausalLM"),
        ("no-architecture", #"{"vocab_size": 10}"#, "architectures"),
        ("broken-json", #"{"architectures": ["LlamaForCausalLM"], "#, "valid config.json"),
        ("wrong-type", #"{"architectures": ["LlamaForCausalLM"], "vocab_size": "many"}"#, "vocab_size"),
        ("gqa-mismatch", #"{"architectures": ["LlamaForCausalLM"], \#(minimal), "num_key_value_heads": 3}"#, "kvHeadCount = 3"),
        ("indivisible-heads", #"{"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 30, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4}"#, "num_attention_heads = 4"),
        ("zero-layers", #"{"architectures": ["LlamaForCausalLM"], "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 0, "num_attention_heads": 4}"#, "layerCount = 0"),
        ("rope-scaling", #"{"architectures": ["LlamaForCausalLM"], \#(minimal), "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}"#, "rope type 'llama3' needs 'low_freq_factor'"),
        ("rope-yarn", #"{"architectures": ["LlamaForCausalLM"], \#(minimal), "rope_parameters": {"rope_type": "yarn", "factor": 4.0}}"#, "rope type 'yarn' is not supported"),
        ("rope-llama3-band", #"{"architectures": ["LlamaForCausalLM"], \#(minimal), "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0, "original_max_position_embeddings": 8192}}"#, "high_freq_factor = 1.0 must exceed low_freq_factor = 4.0"),
        ("gelu", #"{"architectures": ["LlamaForCausalLM"], \#(minimal), "hidden_act": "gelu"}"#, "hidden_act"),
        ("eos-outside-vocab", #"{"architectures": ["LlamaForCausalLM"], \#(minimal), "eos_token_id": 5000}"#, "eosTokenId = 5000"),
    ])
    func badConfigGivesFormatErrorNamingFileAndField(_ name: String, _ json: String, _ mentions: String) throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let e = #expect(throws: FormatError.self) { try parse(json, name: name, in: s) }
        #expect(e?.file.hasSuffix("\(name)/config.json") == true, "\(e?.description ?? "")")
        #expect(e?.description.contains(mentions) == true, "\(e?.description ?? "")")
    }

    @Test func missingFileIsAFormatError() {
        let e = #expect(throws: FormatError.self) { try ModelConfig.fromHuggingFace(path: "/nonexistent/qat/config.json") }
        #expect(e?.description.contains("/nonexistent/qat/config.json") == true)
    }
}
