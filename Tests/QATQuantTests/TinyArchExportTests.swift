// The tiny Llama-3 (rope scaling) and Qwen3 (q/k norms) models of Tests/QATModelTests/TinyArch,
// written out by each exporter and read back: the reloaded model still gives transformers' logits
// (golden logits.f32, the oracle tiny_arch_models.py wrote), so the exporters carry the scaled
// RoPE frequencies (GGUF rope_freqs, config.json rope_scaling) and the q/k norm gains.
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor
import QATTokenizer
import Testing

enum TinyArchFixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("QATModelTests/TinyArch")
    static func directory(_ name: String) -> String { root.appendingPathComponent(name).path }

    /// max |logits(model) - transformers' golden logits| over every position and vocabulary entry.
    static func goldenDifference(_ model: LlamaModel, _ name: String) throws -> Float {
        let dir = directory(name)
        let golden = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/golden.json"))) as? [String: Any]) ?? [:]
        let ids = (golden["ids"] as? [Int] ?? []).map { Int32($0) }
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/logits.f32"))
        let ref = data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
        let logits = try model.logits(ids)
        guard !ids.isEmpty, ref.count == logits.count else { return .infinity }
        var worst: Float = 0
        for i in 0..<ref.count { worst = max(worst, abs(logits.data[i] - ref[i])) }
        return worst
    }

    static func scratch() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("qat-tinyarch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }
}

@Suite struct TinyArchExportTests {
    @Test(arguments: ["llama3_rope", "qwen3"])
    func ggufExportReloadsWithTransformersLogits(_ name: String) throws {
        let dir = try TinyArchFixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try ModelLoader.load(TinyArchFixture.directory(name)).model
        var o = GGUFExportOptions()
        o.floatType = .f32
        _ = try GGUFExport.write(model, tokenizer: ByteTokenizer(addBOS: true), tokenizerSource: nil, to: dir + "/m.gguf", options: o)
        let file = try GGUFFile(path: dir + "/m.gguf")
        #expect(file.metadata["general.architecture"]?.string == (name == "qwen3" ? "qwen3" : "llama"))
        #expect((file.info(named: "rope_freqs.weight") != nil) == (name == "llama3_rope"))
        #expect((file.info(named: "blk.1.attn_k_norm.weight") != nil) == (name == "qwen3"))
        let reloaded = try ModelLoader.load(dir + "/m.gguf").model
        let worst = try TinyArchFixture.goldenDifference(reloaded, name)
        #expect(worst <= 1e-4, "\(name) through GGUF: max abs logit difference \(worst)")
    }

    @Test(arguments: ["llama3_rope", "qwen3"])
    func huggingFaceExportReloadsWithTransformersLogits(_ name: String) throws {
        let dir = try TinyArchFixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try ModelLoader.load(TinyArchFixture.directory(name)).model
        try NativeCheckpoint.writeDequantized(model, to: dir + "/fp")
        let reloaded = try ModelLoader.load(dir + "/fp").model
        #expect(reloaded.config == model.config)
        let worst = try TinyArchFixture.goldenDifference(reloaded, name)
        #expect(worst <= 1e-4, "\(name) through config.json + safetensors: max abs logit difference \(worst)")
    }

    /// A quantized native checkpoint keeps the q/k norms and the rope scaling: reading it back
    /// gives the logits of the model that was written, to the bit.
    @Test(arguments: ["llama3_rope", "qwen3"])
    func quantizedCheckpointReloadsTheSameModel(_ name: String) throws {
        let dir = try TinyArchFixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try ModelLoader.load(TinyArchFixture.directory(name)).model
        try QuantPolicy(parsing: "w4g32").apply(to: model, mode: .hard, init: .minMax)
        try NativeCheckpoint.write(model, to: dir + "/q", method: "rtn")
        let reloaded = try QuantCheckpoint.read(dir + "/q").model
        let ids: [Int32] = [256, 1, 100, 200, 7, 42]
        #expect(try reloaded.logits(ids).toArray() == model.logits(ids).toArray())
    }

    /// What GPTQ and AWQ see (Calibration's own run of a block, through attentionCore) is what
    /// the block computes.
    @Test(arguments: ["llama3_rope", "qwen3"])
    func calibrationRunOfABlockEqualsItsForward(_ name: String) throws {
        let model = try ModelLoader.load(TinyArchFixture.directory(name)).model
        let x = try Tensor.randn([2, 9, model.config.hiddenSize], seed: 4)
        let rope = model.ropeTable(positions: 9)
        for block in model.blocks {
            let calibrated = try Calibration.activation(at: .output, block: block, input: x, rope: rope)
            let forward = try noGrad { try block.forward(Var(x), rope: rope).value }
            let worst = zip(calibrated.toArray(), forward.toArray()).map { abs($0 - $1) }.max() ?? .infinity
            #expect(calibrated.shape == forward.shape && worst < 1e-5, "\(name): max |diff| \(worst)")
        }
    }

    @Test func ggufRopeFrequenciesHaveNoConfigJSONForm() throws {
        let dir = try TinyArchFixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try ModelLoader.load(TinyArchFixture.directory("llama3_rope")).model
        var o = GGUFExportOptions()
        o.floatType = .f32
        _ = try GGUFExport.write(model, tokenizer: ByteTokenizer(addBOS: true), tokenizerSource: nil, to: dir + "/m.gguf", options: o)
        let fromGGUF = try ModelLoader.load(dir + "/m.gguf").model
        do { try NativeCheckpoint.writeDequantized(fromGGUF, to: dir + "/fp"); Issue.record("written") } catch {
            #expect("\(error)".contains("rope_freqs") && "\(error)".contains("format=gguf"), "\(error)")
        }
    }
}

/// The GGUF export of the tiny models read by llama.cpp's `gguf` package (Tests/Oracles/gguf_check.py)
/// against the safetensors transformers itself wrote: every tensor bit for bit (llama's q/k rows
/// permuted as llama.cpp's converter does), q/k norms under llama.cpp's names, and rope_freqs
/// equal to transformers' llama3 formula computed in numpy from config.json.
@Suite(.enabled(if: GGUFOracle.available, "python3 with numpy, pyyaml and the gguf package (Tests/Oracles/.deps) is missing: run `bash setup.sh`"))
struct TinyArchGGUFOracleTests {
    @Test(arguments: ["llama3_rope", "qwen3"])
    func ggufPackageReadsTheTransformersWeights(_ name: String) throws {
        let python = try #require(PythonOracle.python)
        let dir = try TinyArchFixture.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try ModelLoader.load(TinyArchFixture.directory(name)).model
        var o = GGUFExportOptions()
        o.floatType = .f32
        _ = try GGUFExport.write(model, tokenizer: ByteTokenizer(addBOS: true), tokenizerSource: nil, to: dir + "/m.gguf", options: o)
        let (status, out, err) = try PythonOracle.run(python, ["\(PythonOracle.oracles)/gguf_check.py", dir + "/m.gguf", TinyArchFixture.directory(name)])
        let json = try JSONSerialization.jsonObject(with: out) as? [String: Any]
        let failures = json?["failures"] as? [String] ?? ["no JSON from the oracle: \(err)"]
        #expect(status == 0 && failures.isEmpty, "\(failures.prefix(5))")
        let tensors = json?["tensors"] as? [String: [String: Any]] ?? [:]
        // llama3_rope: tied, 9 per block + rope_freqs; qwen3: untied, 11 per block
        let expected: Int = name == "qwen3" ? 25 : 21
        #expect(tensors.count == expected, "every tensor was checked")
    }
}
