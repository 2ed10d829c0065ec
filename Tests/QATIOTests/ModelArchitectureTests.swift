// The architecture table: every row is found by its transformers class, its model_type and its
// GGUF names; a config.json written for each row reads back as the same configuration (the
// writer and the reader both ask the row); names outside the table are refused listing the table.
import Foundation
import Testing

@testable import QATIO

@Suite struct ModelArchitectureTests {
    @Test func everyRowIsFoundByEachOfItsNames() {
        for row in ModelArchitecture.all {
            #expect(ModelArchitecture.named(row.name) == row)
            #expect(ModelArchitecture.modelType(row.modelType) == row)
            for g in row.ggufNames { #expect(ModelArchitecture.gguf(g) == row) }
        }
        // llama.cpp writes Mistral models as "llama" (or "mistral"); both load with LLaMA's layout
        #expect(ModelArchitecture.gguf("mistral") == .llama && ModelArchitecture.gguf("qwen2")?.ggufRopeIsNeox == true)
        #expect(ModelArchitecture.gguf("gemma") == nil && ModelArchitecture.named("GemmaForCausalLM") == nil)
        #expect(ModelConfig.supportedArchitectures == ["LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM"])
    }

    @Test(arguments: ModelArchitecture.all.map(\.name))
    func configJSONRoundTripsThroughTheRow(_ name: String) throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let config = ModelConfig(architecture: name, vocabSize: 1000, hiddenSize: 64, intermediateSize: 160, layerCount: 2,
                                 headCount: 4, kvHeadCount: 2, headDim: 16, ropeTheta: 10000, rmsNormEps: 1e-6, maxPositions: 4096,
                                 tieWordEmbeddings: false, attentionBias: name == "Qwen2ForCausalLM",
                                 bosTokenId: 1, eosTokenId: 2, slidingWindow: name == "LlamaForCausalLM" ? nil : 256)
        let path = s.path("config.json")
        try config.writeHuggingFace(to: path)
        #expect(try ModelConfig.fromHuggingFace(path: path) == config)
    }

    /// Llama-3's rope scaling goes out as config.json's rope_scaling and comes back the same, in
    /// config.json and through Codable.
    @Test func llama3RopeScalingRoundTrips() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let config = ModelConfig(architecture: "LlamaForCausalLM", vocabSize: 1000, hiddenSize: 64, intermediateSize: 160, layerCount: 2,
                                 headCount: 4, kvHeadCount: 2, headDim: 16, ropeTheta: 500000, tieWordEmbeddings: true,
                                 ropeScaling: .llama3(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192))
        let path = s.path("config.json")
        try config.writeHuggingFace(to: path)
        #expect(try ModelConfig.fromHuggingFace(path: path) == config)
        #expect(try JSONDecoder().decode(ModelConfig.self, from: try JSONEncoder().encode(config)) == config)
        let scaling = try readJSONObject(path)["rope_scaling"] as? [String: Any]
        #expect(scaling?["rope_type"] as? String == "llama3" && scaling?["original_max_position_embeddings"] as? Int == 8192)
    }

    @Test func unknownArchitectureListsTheTable() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let path = s.path("config.json")
        try Data(#"{"architectures": ["GemmaForCausalLM"], "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        #expect(throws: FormatError.self) { try ModelConfig.fromHuggingFace(path: path) }
        do { _ = try ModelConfig.fromHuggingFace(path: path) } catch {
            #expect("\(error)".contains("GemmaForCausalLM") && "\(error)".contains(ModelArchitecture.supportedNames))
        }
    }
}
