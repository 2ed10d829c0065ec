// GPTQ, native and dequantized checkpoints: export -> import round trips on a small random model
// with HardQuantizers, malformed directories, atomic writing and tokenizer lookup. The GPTQ layout
// itself is checked against an independent unpacker in GPTQOracleTests.swift.
import Foundation
import QATIO
import QATModel
import QATQuant
import QATTensor
import QATTokenizer
import Testing

/// Small random LLaMA models: hidden 64, 4 heads of 16 (2 KV heads), MLP 160.
enum TinyModels {
    /// Four heads of hidden / 4 (2 KV heads); hidden 64 unless a test needs whole 256-element super-blocks.
    static func config(vocab: Int, blocks: Int, ffn: Int, tied: Bool, bias: Bool, hidden: Int = 64) -> ModelConfig {
        ModelConfig(vocabSize: vocab, hiddenSize: hidden, intermediateSize: ffn, layerCount: blocks, headCount: 4, kvHeadCount: 2,
                    headDim: hidden / 4, ropeTheta: 10000, rmsNormEps: 1e-5, maxPositions: 128, tieWordEmbeddings: tied, attentionBias: bias)
    }

    static func model(seed: UInt64, vocab: Int = 300, blocks: Int = 2, ffn: Int = 160, tied: Bool = false, bias: Bool = false,
                      layout: RopeLayout = .halfRotate, hidden: Int = 64) throws -> LlamaModel {
        let c = config(vocab: vocab, blocks: blocks, ffn: ffn, tied: tied, bias: bias, hidden: hidden)
        let shape = BlockShape(hidden: hidden, heads: 4, kvHeads: 2, headDim: hidden / 4, ffn: ffn, rmsEps: 1e-5, ropeTheta: 10000,
                               ropeLayout: layout, attentionBias: bias)
        let blockList = try (0..<blocks).map { try DecoderBlock.random(shape: shape, seed: seed &+ UInt64(100 * $0)) }
        return try LlamaModel(config: c, ropeLayout: layout, embedding: Tensor.randn([vocab, hidden], seed: seed &+ 7, std: 0.5),
                              blocks: blockList, finalNorm: Tensor.rand([hidden], seed: seed &+ 8, low: 0.5, high: 1.5),
                              lmHead: tied ? nil : Tensor.randn([vocab, hidden], seed: seed &+ 9, std: 0.5), source: "test-model")
    }

    /// Installs HardQuantizers with random codes on every linear; `specFor` may vary the spec or
    /// leave a linear in full precision (nil).
    static func quantize(_ model: LlamaModel, seed: UInt64, actOrder: Bool = false, halfScales: Bool = true,
                         specFor: (Int, String) throws -> QuantSpec?) throws {
        for (b, block) in model.blocks.enumerated() {
            for (k, l) in block.linears.enumerated() {
                guard let spec = try specFor(b, l.name) else { l.quantizer = nil; continue }
                let qw = try randomQuantized(rows: l.outFeatures, cols: l.inFeatures, spec: spec, seed: seed &+ UInt64(10 * b + k),
                                             actOrder: actOrder, halfScales: halfScales)
                l.quantizer = try HardQuantizer(qw, name: "blocks.\(b).\(l.name)")
            }
        }
    }

    /// Every quantized linear's weight by HF module name.
    static func quantized(_ model: LlamaModel) throws -> [String: QuantizedWeight] {
        let paths = ["q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj", "o_proj": "self_attn.o_proj",
                     "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj", "down_proj": "mlp.down_proj"]
        var out: [String: QuantizedWeight] = [:]
        for (b, block) in model.blocks.enumerated() {
            for l in block.linears {
                if let h = l.quantizer as? HardQuantizer { out["model.layers.\(b).\(paths[l.name] ?? l.name)"] = try h.quantized }
            }
        }
        return out
    }

    static func logits(_ model: LlamaModel) throws -> [Float] {
        try model.logits((0..<12).map { Int32($0 * 7 % model.vocabSize) }).toArray()
    }
}

/// A scratch directory under /tmp, removed at deinit.
final class ScratchDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "qat-pack-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ name: String) -> String { path + "/" + name }
}

func halfRounded(_ t: Tensor) -> [UInt32] { t.toArray().map { HalfFloat.float(fromHalf: HalfFloat.half(from: $0)).bitPattern } }
func bitPatterns(_ t: Tensor) -> [UInt32] { t.toArray().map(\.bitPattern) }

@Suite struct GPTQCheckpointTests {
    @Test(arguments: [2, 3, 4, 8])
    func exportImportIsBitExact(bits: Int) throws {
        let tmp = try ScratchDir()
        for (group, actOrder) in [(32, false), (64, false), (-1, false), (48, false), (32, true)] {
            for format in GPTQFormat.allCases {
                let model = try TinyModels.model(seed: 11, tied: group == 64, bias: group == 48)
                let spec = try QuantSpec(bits: bits, groupSize: group)
                try TinyModels.quantize(model, seed: UInt64(bits * 100 + group), actOrder: actOrder) { _, _ in spec }
                let dir = tmp.sub("w\(bits)g\(group)\(actOrder)-\(format.rawValue)")
                try GPTQCheckpoint.write(model, to: dir, format: format)
                let back = try QuantCheckpoint.read(dir)
                #expect(back.format == format.rawValue)
                let original = try TinyModels.quantized(model)
                #expect(Set(back.quantized.keys) == Set(original.keys) && original.count == 14)
                for (m, qw) in original {
                    guard let r = back.quantized[m] else { continue }
                    expectSameWeights(qw, r, "\(m) w\(bits)g\(group) \(format)")
                }
                try expectInstalled(back.model, equal: original)
                #expect(bitPatterns(back.model.embedding.value) == halfRounded(model.embedding.value))
                #expect(bitPatterns(back.model.finalNorm.value) == halfRounded(model.finalNorm.value))
                #expect((back.model.lmHead == nil) == (model.lmHead == nil))
                if let h = model.lmHead, let bh = back.model.lmHead { #expect(bitPatterns(bh.value) == halfRounded(h.value)) }
                if let bias = model.blocks[1].k.bias { #expect(back.model.blocks[1].k.bias.map { bitPatterns($0.value) } == halfRounded(bias.value)) }
                let s = try GPTQCheckpoint.settings(dir)
                #expect(s.bits == bits && s.groupSize == group && s.descAct == actOrder && !s.sym && s.format == format)
            }
        }
    }

    /// The model read back carries HardQuantizers with exactly the exported weights.
    func expectInstalled(_ model: LlamaModel, equal original: [String: QuantizedWeight]) throws {
        let installed = try TinyModels.quantized(model)
        for (m, qw) in original {
            guard let r = installed[m] else { Issue.record("\(m) has no HardQuantizer"); continue }
            expectSameWeights(qw, r, "installed \(m)")
        }
    }

    @Test func exportFromAMapOfQuantizedWeights() throws {
        let tmp = try ScratchDir()
        let model = try TinyModels.model(seed: 3)
        let spec = try QuantSpec(bits: 4, groupSize: 32)
        try TinyModels.quantize(model, seed: 5) { _, _ in spec }
        let map = try TinyModels.quantized(model)
        for l in model.blocks.flatMap(\.linears) { l.quantizer = nil }
        try GPTQCheckpoint.write(model, to: tmp.sub("map"), quantized: map)
        let back = try QuantCheckpoint.read(tmp.sub("map"))
        for (m, qw) in map { if let r = back.quantized[m] { expectSameWeights(qw, r, m) } }
        let any = try #require(map.values.first)
        #expect(throws: FormatError.self) { try GPTQCheckpoint.write(model, to: tmp.sub("typo"), quantized: ["model.layers.9.q": any]) }
    }

    @Test func refusesWhatTheFormatCannotHold() throws {
        let tmp = try ScratchDir()
        let model = try TinyModels.model(seed: 4)
        try TinyModels.quantize(model, seed: 1) { b, _ in try QuantSpec(bits: b == 0 ? 3 : 4, groupSize: 32) }
        #expect(throws: FormatError.self) { try GPTQCheckpoint.write(model, to: tmp.sub("mixed")) }
        try TinyModels.quantize(model, seed: 1) { _, name in name == "o_proj" ? nil : try QuantSpec(bits: 4, groupSize: 32) }
        #expect(throws: FormatError.self) { try GPTQCheckpoint.write(model, to: tmp.sub("partial")) }
        try TinyModels.quantize(model, seed: 1) { _, _ in try QuantSpec(bits: 5, groupSize: 32) }
        let e = #expect(throws: FormatError.self) { try GPTQCheckpoint.write(model, to: tmp.sub("five")) }
        #expect(e?.message.contains("bits=5") == true)
        #expect(!FileManager.default.fileExists(atPath: tmp.sub("five")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty, "no temporary directory is left behind")
    }

    @Test func writingIsAtomicAndRefusesToOverwrite() throws {
        let tmp = try ScratchDir()
        let model = try TinyModels.model(seed: 4)
        try TinyModels.quantize(model, seed: 1) { _, _ in try QuantSpec(bits: 4, groupSize: 32) }
        let dir = tmp.sub("out")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try GPTQCheckpoint.write(model, to: dir)  // an empty directory is fine
        let e = #expect(throws: FormatError.self) { try GPTQCheckpoint.write(model, to: dir) }
        #expect(e?.message.contains("not empty") == true)
        try GPTQCheckpoint.write(model, to: dir, format: .v1, overwrite: true)
        #expect(try GPTQCheckpoint.settings(dir).format == .v1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["out"])
    }

    // MARK: Malformed directories

    /// Rewrites DIR/model.safetensors without `drop` and with `replace` (I32 tensors).
    func rewrite(_ dir: String, drop: String? = nil, replace: [String: ([Int], [Int32])] = [:]) throws {
        let f = try SafetensorsFile(path: dir + "/model.safetensors")
        var w = SafetensorsWriter()
        w.metadata = f.metadata
        for name in f.names where name != drop {
            guard let info = f.info(name) else { continue }
            if let (shape, v) = replace[name] { try w.addInt32(name, shape: shape, v); continue }
            switch info.dtype {
            case .I32: try w.addInt32(name, shape: info.shape, f.int32s(name))
            case .U8: try w.addUInt8(name, shape: info.shape, f.uint8s(name))
            default: try w.add(name, f.tensor(name), as: info.dtype)
            }
        }
        try w.write(to: dir + "/model.safetensors")
    }

    func exported(_ tmp: ScratchDir, _ name: String) throws -> String {
        let model = try TinyModels.model(seed: 4)
        try TinyModels.quantize(model, seed: 1) { _, _ in try QuantSpec(bits: 4, groupSize: 32) }
        try GPTQCheckpoint.write(model, to: tmp.sub(name))
        return tmp.sub(name)
    }

    @Test func malformedDirectoriesNameTheFile() throws {
        let tmp = try ScratchDir()
        let q = "model.layers.1.self_attn.q_proj"
        let missing = try exported(tmp, "missing")
        try rewrite(missing, drop: q + ".qweight")
        var e = #expect(throws: FormatError.self) { try QuantCheckpoint.read(missing) }
        #expect(e?.file.hasSuffix("missing/model.safetensors") == true && e?.message.contains(q + ".qweight") == true, "\(String(describing: e))")

        let shape = try exported(tmp, "shape")
        try rewrite(shape, replace: [q + ".qzeros": ([2, 9], [Int32](repeating: 0, count: 18))])
        e = #expect(throws: FormatError.self) { try QuantCheckpoint.read(shape) }
        #expect(e?.file.hasSuffix("shape/model.safetensors") == true && e?.message.contains("[2, 8]") == true, "\(String(describing: e))")

        let five = try exported(tmp, "five")
        var config = try readJSONObject(five + "/config.json")
        var qc = config["quantization_config"] as? [String: Any] ?? [:]
        qc["bits"] = 5
        config["quantization_config"] = qc
        try writeJSONObject(config, to: five + "/config.json")
        e = #expect(throws: FormatError.self) { try QuantCheckpoint.read(five) }
        #expect(e?.file.hasSuffix("five/config.json") == true && e?.message.contains("bits") == true, "\(String(describing: e))")
    }

    @Test func v1FileReadAsV2IsOffByOne() throws {
        let tmp = try ScratchDir()
        let dir = tmp.sub("v1")
        let model = try TinyModels.model(seed: 4)
        try TinyModels.quantize(model, seed: 1) { _, _ in try QuantSpec(bits: 3, groupSize: 32) }
        try GPTQCheckpoint.write(model, to: dir, format: .v1)
        var config = try readJSONObject(dir + "/config.json")
        var qc = config["quantization_config"] as? [String: Any] ?? [:]
        qc["checkpoint_format"] = "gptq_v2"
        config["quantization_config"] = qc
        try writeJSONObject(config, to: dir + "/config.json")
        let misread = try QuantCheckpoint.read(dir)
        for (m, qw) in try TinyModels.quantized(model) {
            #expect(misread.quantized[m]?.zeros == qw.zeros.map { Float((Int($0) + 7) % 8) }, "\(m)")
        }
    }
}

@Suite struct ModelConfigWriterTests {
    @Test func configRoundTrips() throws {
        let tmp = try ScratchDir()
        let configs = [
            TinyModels.config(vocab: 300, blocks: 2, ffn: 160, tied: true, bias: true),
            ModelConfig(architecture: "Qwen2ForCausalLM", vocabSize: 1000, hiddenSize: 64, intermediateSize: 96, layerCount: 3, headCount: 4,
                        kvHeadCount: 2, headDim: 16, ropeTheta: 1_000_000, rmsNormEps: 1e-6, maxPositions: 32768, attentionBias: true,
                        bosTokenId: 1, eosTokenId: 2, slidingWindow: 4096),
            ModelConfig(architecture: "MistralForCausalLM", vocabSize: 1000, hiddenSize: 64, intermediateSize: 96, layerCount: 1, headCount: 4,
                        kvHeadCount: 4, headDim: 32, ropeTheta: 123.25, rmsNormEps: 1.5e-5, maxPositions: 1000, tieWordEmbeddings: true),
        ]
        for (i, c) in configs.enumerated() {
            try c.writeHuggingFace(to: tmp.sub("c\(i).json"))
            #expect(try ModelConfig.fromHuggingFace(path: tmp.sub("c\(i).json")) == c)
        }
    }
}

@Suite struct NativeCheckpointTests {
    @Test func keepsFp32ScalesMixedPrecisionAndEveryFloat() throws {
        let tmp = try ScratchDir()
        let model = try TinyModels.model(seed: 21, bias: true)
        try TinyModels.quantize(model, seed: 9, actOrder: true, halfScales: false) { b, name in
            if b == 1 && name == "o_proj" { return nil }
            return try QuantSpec(bits: b == 0 ? 3 : 5, groupSize: b == 0 ? 32 : 48)
        }
        let original = try TinyModels.quantized(model)
        #expect(original.values.contains { HalfFloat.float(fromHalf: HalfFloat.half(from: $0.scales[0])) != $0.scales[0] }, "scales are not fp16 values")
        let dir = tmp.sub("native")
        try NativeCheckpoint.write(model, to: dir, method: "rtn", source: "test-model", metadata: ["lr": "1e-5"])
        let m = try NativeCheckpoint.readManifest(dir)
        #expect(m.method == "rtn" && m.source == "test-model" && m.metadata["lr"] == "1e-5" && m.linears.count == 13)
        #expect(m.metadata.keys.sorted() == ["avg_bits", "lr"], "the writer adds avg_bits")
        #expect(m.linears["model.layers.1.mlp.down_proj"] == NativeCheckpoint.Manifest.Entry(bits: 5, group_size: 48))
        let back = try QuantCheckpoint.read(dir)
        #expect(back.format == "qatlab" && back.source == "test-model" && back.quantized.count == 13)
        for (name, qw) in original {
            guard let r = back.quantized[name] else { Issue.record("\(name) missing"); continue }
            expectSameWeights(qw, r, name)
        }
        #expect(back.model.blocks[1].o.quantizer == nil)
        #expect(bitPatterns(back.model.blocks[1].o.weight.value) == bitPatterns(model.blocks[1].o.weight.value))
        #expect(back.model.blocks[0].q.bias.map { bitPatterns($0.value) } == model.blocks[0].q.bias.map { bitPatterns($0.value) })
        #expect(bitPatterns(back.model.embedding.value) == bitPatterns(model.embedding.value))
        #expect(back.model.lmHead.map { bitPatterns($0.value) } == model.lmHead.map { bitPatterns($0.value) })
        #expect(try TinyModels.logits(back.model) == TinyModels.logits(model))
    }

    @Test func refusesFakeQuantizers() throws {
        let tmp = try ScratchDir()
        let model = try TinyModels.model(seed: 2)
        let l = model.blocks[0].q
        l.quantizer = try FakeQuantizer(weight: l.weight.value, spec: QuantSpec(bits: 4, groupSize: 32))
        #expect(throws: (any Error).self) { try NativeCheckpoint.write(model, to: tmp.sub("fake"), method: "x") }
        #expect(throws: (any Error).self) { try GPTQCheckpoint.write(model, to: tmp.sub("fake2")) }
    }

    @Test func dequantizedExportLoadsInModelLoader() throws {
        let tmp = try ScratchDir()
        for layout in RopeLayout.allCases {
            let model = try TinyModels.model(seed: 31, vocab: 258, layout: layout)
            try TinyModels.quantize(model, seed: 2) { _, _ in try QuantSpec(bits: 4, groupSize: 32) }
            let dir = tmp.sub("fp-\(layout)")
            try NativeCheckpoint.writeDequantized(model, to: dir, source: "test-model")
            let loaded = try ModelLoader.load(dir)
            #expect(loaded.model.blockShape.ropeLayout == .halfRotate)
            let (a, b) = (try TinyModels.logits(model), try TinyModels.logits(loaded.model))
            let scale = a.map(abs).max() ?? 1
            let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= 1e-5 * scale, "\(layout): max |logit diff| \(diff)")
            if layout == .halfRotate {
                // rows unpermuted: the stored weight is the dequantized codes bit for bit
                let qw = try TinyModels.quantized(model)["model.layers.0.self_attn.k_proj"]
                #expect(qw.map { bitPatterns($0.dequantized()) } == bitPatterns(loaded.model.blocks[0].k.weight.value))
            }
            // the native checkpoint of the same model comes back rotate-half and equal in function
            try NativeCheckpoint.write(model, to: tmp.sub("native-\(layout)"), method: "rtn")
            let native = try QuantCheckpoint.read(tmp.sub("native-\(layout)"))
            let c = try TinyModels.logits(native.model)
            #expect((zip(a, c).map { abs($0 - $1) }.max() ?? 0) <= 1e-5 * scale)
        }
    }

    @Test func tokenizerComesFromTheDirectoryTheSourceOrTheByteVocabulary() throws {
        let tmp = try ScratchDir()
        let byteModel = try TinyModels.model(seed: 5, vocab: 258)
        try TinyModels.quantize(byteModel, seed: 1) { _, _ in try QuantSpec(bits: 4, groupSize: 32) }
        try NativeCheckpoint.write(byteModel, to: tmp.sub("bytes"), method: "rtn", source: "/nonexistent/model")
        #expect(try QuantCheckpoint.load(tmp.sub("bytes")).tokenizer.vocabSize == 258)

        let model = try TinyModels.model(seed: 5)
        try TinyModels.quantize(model, seed: 1) { _, _ in try QuantSpec(bits: 4, groupSize: 32) }
        try NativeCheckpoint.write(model, to: tmp.sub("gone"), method: "rtn", source: "/nonexistent/model")
        let e = #expect(throws: FormatError.self) { try QuantCheckpoint.load(tmp.sub("gone")) }
        #expect(e?.file.hasSuffix("gone/qatlab.json") == true && e?.message.contains("/nonexistent/model") == true, "\(String(describing: e))")

        // a Hugging Face source directory: its tokenizer.json is copied into the checkpoint
        let source = tmp.sub("hf-source")
        try NativeCheckpoint.writeDequantized(model, to: source)
        let tokenizer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("QATTokenizerTests/Golden/tiny_tokenizer.json").path
        try FileManager.default.copyItem(atPath: tokenizer, toPath: source + "/tokenizer.json")
        try GPTQCheckpoint.write(model, to: tmp.sub("gptq"), source: source)
        #expect(FileManager.default.fileExists(atPath: tmp.sub("gptq/tokenizer.json")))
        let loaded = try QuantCheckpoint.load(tmp.sub("gptq"))
        #expect(loaded.tokenizer is BPETokenizer && loaded.checkpoint.source == source)

        #expect(QuantCheckpoint.kind(tmp.sub("gptq")) == .gptq && QuantCheckpoint.kind(tmp.sub("gone")) == .native)
        #expect(!QuantCheckpoint.isCheckpoint(source) && !QuantCheckpoint.isCheckpoint(tmp.sub("nothing")))
    }
}
