// Every architecture row against transformers on tiny random models that transformers itself
// wrote (Tests/Oracles/tiny_arch_models.py, committed under TinyArch/): logits within 1e-4 of
// transformers' float64 forward, or, for a setting QATLab does not implement, a refusal that
// names it. A GGUF of an architecture outside the table is refused with the table's names, a
// config.json rope type outside default/llama3 by its name. The models with new computations
// (Llama-3 rope scaling, Qwen3's q/k norms) are also checked through autograd (finite
// differences) and KV-cache decoding (against full recomputation).
import Foundation
import Testing
@testable import QATModel
import QATAutograd
import QATIO
import QATTensor

/// The tiny models' budget: max |ours - transformers| over every position and vocabulary entry.
let tinyArchBudget: Float = 1e-4

func tinyArchDirectory(_ name: String) -> String { testsDirectory.appendingPathComponent("QATModelTests/TinyArch/\(name)").path }

@Suite struct TinyArchTests {
    @Test(arguments: ["llama", "llama32_tied", "llama3_rope", "qwen2", "mistral", "qwen3"])
    func matchesTransformersOrRefusesByName(_ name: String) throws {
        let dir = tinyArchDirectory(name)
        let golden = try readJSON(URL(fileURLWithPath: dir + "/golden.json"))
        let refusal = golden["refusal"] as? String
        let refusalAt = golden["refusal_at"] as? Int
        if refusalAt == 0 {
            #expect(throws: FormatError.self) { try ModelLoader.load(dir) }
            do { _ = try ModelLoader.load(dir) } catch { #expect("\(error)".contains(refusal ?? "?"), "\(error)") }
            return
        }
        let model = try ModelLoader.load(dir).model
        let ids = (golden["ids"] as? [Int] ?? []).map(Int32.init)
        let ref = try readFloats(URL(fileURLWithPath: dir + "/" + (golden["logits_file"] as? String ?? "")))
        let logits = try model.logits(ids)
        #expect(logits.shape == [ids.count, model.vocabSize] && ref.count == logits.count)
        var worst: Float = ref.count == logits.count ? 0 : .infinity
        for i in 0..<min(ref.count, logits.count) { worst = max(worst, abs(logits.data[i] - ref[i])) }
        #expect(worst <= tinyArchBudget, "\(name): max abs logit difference \(worst)")
        #expect(try logits.argmax(axis: 1) == (golden["argmax"] as? [Int] ?? []))
        if let refusalAt, let refusal {
            let longer = (0..<refusalAt).map { Int32($0 % 256) }
            #expect(throws: (any Error).self) { try model.logits(longer) }
            do { _ = try model.logits(longer) } catch { #expect("\(error)".contains(refusal), "\(error)") }
        }
    }

    @Test func tiedEmbeddingHasNoSeparateHead() throws {
        #expect(try ModelLoader.load(tinyArchDirectory("llama32_tied")).model.lmHead == nil)
        #expect(try ModelLoader.load(tinyArchDirectory("qwen2")).model.config.attentionBias)
    }

    @Test func ggufRopeScalingTypeOtherThanNoneIsRefusedByName() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("yarn.gguf").path
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        for (key, v) in [("embedding_length", 64), ("attention.head_count", 4), ("feed_forward_length", 96), ("block_count", 2)] {
            w.set("llama.\(key)", .uint32(UInt32(v)))
        }
        w.set("llama.rope.scaling.type", .string("yarn"))
        try w.write(to: path)
        do { _ = try ModelLoader.load(path); Issue.record("no error") } catch {
            #expect("\(error)".contains("llama.rope.scaling.type 'yarn' is not supported"), "\(error)")
        }
    }

    @Test func qwen3HasHeadNormsAndItsOwnHeadDim() throws {
        let m = try ModelLoader.load(tinyArchDirectory("qwen3")).model
        #expect(m.config.headDim == 24 && m.config.hiddenSize == 64 && !m.config.attentionBias)
        #expect(m.blocks.allSatisfy { $0.qNorm?.shape == [24] && $0.kNorm?.shape == [24] && $0.q.bias == nil })
        #expect(m.blocks[0].q.weight.shape == [96, 64])
    }

    @Test func llama3ScalingIsReadFromTheLegacyRopeScalingFieldToo() throws {
        let dir = try tinyArchCopy("llama3_rope") { config in
            var scaling = config["rope_parameters"] as? [String: Any] ?? [:]
            config["rope_theta"] = scaling.removeValue(forKey: "rope_theta")
            config["rope_scaling"] = scaling
            config.removeValue(forKey: "rope_parameters")
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fromLegacy = try ModelLoader.load(dir).model.config
        let fromParameters = try ModelLoader.load(tinyArchDirectory("llama3_rope")).model.config
        #expect(fromLegacy.ropeScaling == .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16))
        #expect(fromLegacy == fromParameters)
    }

    @Test(arguments: [("rope_parameters", "yarn"), ("rope_scaling", "linear"), ("rope_scaling", "dynamic")])
    func unsupportedRopeTypeIsRefusedByName(field: String, type: String) throws {
        let dir = try tinyArchCopy("llama3_rope") { config in
            config.removeValue(forKey: "rope_parameters")
            config["rope_theta"] = 500000.0
            config[field] = ["rope_type": type, "factor": 4.0]
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do { _ = try ModelLoader.load(dir); Issue.record("\(type) loaded") } catch {
            #expect("\(error)".contains("\(field): rope type '\(type)' is not supported") && "\(error)".contains("'llama3'"), "\(error)")
        }
    }

    @Test func llama3WithoutOneOfItsParametersNamesIt() throws {
        let dir = try tinyArchCopy("llama3_rope") { config in
            var scaling = config["rope_parameters"] as? [String: Any] ?? [:]
            scaling.removeValue(forKey: "low_freq_factor")
            config["rope_parameters"] = scaling
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do { _ = try ModelLoader.load(dir); Issue.record("loaded") } catch {
            #expect("\(error)".contains("needs 'low_freq_factor'"), "\(error)")
        }
    }

    @Test func ggufOfAnUnsupportedArchitectureNamesItAndTheSupportedOnes() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("gemma.gguf").path
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma3"))
        try w.write(to: path)
        do { _ = try ModelLoader.load(path); Issue.record("no error") } catch {
            #expect("\(error)".contains("'gemma3'") && "\(error)".contains(ModelArchitecture.supportedGGUFNames), "\(error)")
        }
    }
}

/// A temporary copy of tiny model `name` whose config.json `edit` has changed.
func tinyArchCopy(_ name: String, edit: (inout [String: Any]) -> Void) throws -> String {
    let dir = try tempDir().path
    for file in ["model.safetensors"] {
        try FileManager.default.copyItem(atPath: tinyArchDirectory(name) + "/" + file, toPath: dir + "/" + file)
    }
    var config = try readJSON(URL(fileURLWithPath: tinyArchDirectory(name) + "/config.json"))
    edit(&config)
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
    return dir
}

/// The models whose computation is new in their row: Llama-3's scaled RoPE, Qwen3's q/k norms.
let tinyArchNewComputations = ["llama3_rope", "qwen3"]

@Suite struct TinyArchGradCheckTests {
    /// Block 0 of the model transformers wrote, every weight (q/k norm gains included) and the
    /// input against central finite differences: backward through the scaled RoPE and the norms.
    @Test(arguments: tinyArchNewComputations)
    func blockGradientsMatchFiniteDifferences(_ name: String) throws {
        let model = try ModelLoader.load(tinyArchDirectory(name)).model
        let block = model.blocks[0]
        let x = Var(try Tensor.randn([1, 6, model.config.hiddenSize], seed: 11), requiresGrad: true)
        let table = model.ropeTable(positions: 6)
        let inputs = [x] + block.parameters.map(\.1)
        #expect(block.parameters.contains { $0.0 == "q_norm" } == (name == "qwen3"))
        let r = try gradCheck(inputs: inputs, eps: 1e-2, maxChecks: 32) { _ in try block.forward(x, rope: table) }
        #expect(r.passed && r.checked > 0, "\(r)")
    }
}

@Suite struct TinyArchGenerationTests {
    /// KV-cache decoding row by row (RoPE at offsets, q/k norms on single rows) gives the
    /// logits of rerunning the whole sequence at every step.
    @Test(arguments: tinyArchNewComputations)
    func cachedDecodingEqualsFullRecomputation(_ name: String) throws {
        let model = try ModelLoader.load(tinyArchDirectory(name)).model
        let prompt: [Int32] = [256] + Array("def f(x):".utf8).map { Int32($0) }
        let (tokens, rows) = try recomputedGreedy(model, prompt: prompt, tokens: 24)
        #expect(try model.generate(prompt: prompt, maxTokens: 24, eos: nil).tokens == tokens)
        let worst = maxAbsDifference(try cachedLogits(model, prompt: prompt, tokens: tokens), rows)
        #expect(worst < 1e-4, "\(name): max abs logit difference \(worst)")
    }
}
