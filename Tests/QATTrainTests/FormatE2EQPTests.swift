// E2E-QP in llama.cpp's block formats (QATQuant/GGMLQuantizer+E2E.swift) and Block-AP in the
// 16-element k-quants q2_k / q3_k / q6_k (GGMLTrainQuantizer.swift). The k-quants need inputs
// that are whole 256-element super-blocks and q2_k / q3_k have no fallback QATLab holds, so those
// run on `wideModel`, a random LLaMA of hidden 256; q4_0 / q4_1 / q4_k run on the tiny model.
// The gradient w.r.t. the blocks' d and m is checked against central differences of the real
// forward (fp16 storage included): each block's field moves by an fp16-exact step, so the
// realised change is known exactly and the STE gradient must predict the change of the loss.
import Foundation
import Testing
@testable import QATTrain
@testable import QATQuant
import QATAutograd
import QATIO
import QATModel
import QATTensor

/// A random 2-block LLaMA whose every linear takes whole super-blocks (hidden 256, MLP 512),
/// with tiny's byte vocabulary (258) so tiny's windows feed it.
func wideModel(seed: UInt64 = 5) throws -> LlamaModel {
    let c = ModelConfig(vocabSize: 258, hiddenSize: 256, intermediateSize: 512, layerCount: 2, headCount: 4, kvHeadCount: 2,
                        headDim: 64, ropeTheta: 10000, rmsNormEps: 1e-5, maxPositions: 256, tieWordEmbeddings: true)
    let shape = BlockShape(hidden: 256, heads: 4, kvHeads: 2, headDim: 64, ffn: 512)
    let blocks = try (0..<2).map { try DecoderBlock.random(shape: shape, seed: seed &+ UInt64(50 * $0)) }
    return try LlamaModel(config: c, ropeLayout: .halfRotate, embedding: try Tensor.randn([258, 256], seed: seed &+ 7, std: 0.05),
                          blocks: blocks, finalNorm: try Tensor.ones([256]), lmHead: nil, source: "wide-test")
}

/// The model and windows a case runs on: tiny for the 32-element formats and q4_k, wide for the rest.
func formatCase(_ format: String, samples: Int = 8) throws -> (LlamaModel, TrainingWindows, LoadedModel) {
    let (loaded, data) = try tinyWindows(samples: samples, seqlen: 32)
    let model = ["q2_k", "q3_k", "q6_k"].contains(format) ? try wideModel() : loaded.model
    return (model, data, loaded)
}

func formatQuantizersByName(_ m: LlamaModel) -> [(String, GGMLQuantizer)] {
    m.blocks.enumerated().flatMap { i, b in b.linears.compactMap { l in (l.quantizer as? GGMLQuantizer).map { ("blocks.\(i).\(l.name)", $0) } } }
}

/// Mean next-token cross-entropy over windows (no gradients).
func meanLoss(_ m: LlamaModel, _ windows: [[Int32]]) throws -> Double {
    try windows.reduce(0) { $0 + (try m.windowNLL($1)) / Double($1.count - 1) } / Double(windows.count)
}

@Suite(.serialized) struct FormatE2EQPTests {
    struct GradCase: Sendable, CustomTestStringConvertible {
        let format: String, linear: Int, field: String
        var testDescription: String { "\(format) linear \(linear) \(field)" }
    }

    // linear 6 is down_proj (tiny: 256 inputs, q4_k; the others fall back to q5_0), 0 is q_proj
    static let gradCases = [
        GradCase(format: "q4_k", linear: 6, field: "d"), GradCase(format: "q4_k", linear: 6, field: "dmin"),
        GradCase(format: "q4_k", linear: 0, field: "d"), GradCase(format: "q4_1", linear: 3, field: "m"),
        GradCase(format: "q2_k", linear: 4, field: "d"), GradCase(format: "q2_k", linear: 4, field: "dmin"),
        GradCase(format: "q3_k", linear: 2, field: "d"), GradCase(format: "q6_k", linear: 6, field: "d"),
    ]

    @Test(arguments: gradCases)
    func gradientOfTheStoredScalesMatchesCentralDifferences(_ c: GradCase) throws {
        let (model, data, _) = try formatCase(c.format)
        try GGMLQuantization.apply(to: model, format: try GGMLFormats.named(c.format))
        let linear = model.blocks[1].linears[c.linear]
        let q = try #require(linear.quantizer as? GGMLQuantizer)
        _ = try q.beginStepSizeTraining(scales: true, offsets: true)
        let field = try #require(q.parameters.first { $0.0 == c.field }?.1)
        let window = data.train[0]
        let logits = try model.forward(Array(window.dropLast()), batch: 1, seq: window.count - 1)
        try Var.crossEntropy(logits, targets: Array(window.dropFirst())).backward()
        let grad = try #require(field.grad).toArray()
        // every block's field one percent up / down, rounded to fp16 as the forward stores it
        let base = field.value.toArray()
        let up = base.map { HalfFloat.float(fromHalf: GGMLStepSizes.stored($0 * 1.01)) }
        let down = base.map { HalfFloat.float(fromHalf: GGMLStepSizes.stored($0 * 0.99)) }
        func loss(_ v: [Float]) throws -> Double {
            for i in v.indices { field.value.data[i] = v[i] }
            return try model.windowNLL(window) / Double(window.count - 1)
        }
        let measured = try loss(up) - loss(down)
        let predicted = zip(grad, zip(up, down)).reduce(0.0) { $0 + Double($1.0) * Double($1.1.0 - $1.1.1) }
        #expect(abs(measured) > 1e-5, "the perturbation must move the loss measurably: \(measured)")
        #expect(abs(predicted - measured) <= 0.01 * abs(measured), "predicted \(predicted), measured \(measured)")
    }

    @Test(arguments: ["q4_k", "q3_k"])
    func withoutStepsTheBytesStay(_ format: String) throws {
        let (model, data, _) = try formatCase(format)
        try GGMLQuantization.apply(to: model, format: try GGMLFormats.named(format))
        let before = formatQuantizersByName(model).map(\.1.bytes)
        var o = E2EQPOptions()
        o.epochs = 0; o.batchSize = 1; o.accumulation = 1; o.trainZeros = true
        _ = try E2EQP.run(model: model, data: data, options: o, log: { _ in })
        let after = formatQuantizersByName(model)
        #expect(after.map(\.1.bytes) == before)
        #expect(after.allSatisfy { $0.1.parameters.isEmpty }, "training state cleared at the end")
    }

    /// A short run lowers the training loss, the model stays in its format, and the GGUF export
    /// stores exactly the trained blocks (read back with QATLab's GGUF reader).
    @Test(arguments: ["q4_k", "q2_k", "q3_k"])
    func shortRunLowersTheLossAndExportsTheTrainedBlocks(_ format: String) throws {
        let (model, data, tok) = try formatCase(format, samples: 16)
        try GGMLQuantization.apply(to: model, format: try GGMLFormats.named(format))
        let start = formatQuantizersByName(model).map(\.1.bytes)
        let before = try meanLoss(model, data.train)
        var o = E2EQPOptions()
        o.lr = 2e-5; o.epochs = 2; o.batchSize = 2; o.accumulation = 1; o.trainZeros = true
        _ = try E2EQP.run(model: model, data: data, options: o, log: { _ in })
        let after = try meanLoss(model, data.train)
        #expect(after < before, "train loss \(before) -> \(after)")
        let trained = formatQuantizersByName(model)
        #expect(trained.count == 7 * model.blocks.count)
        #expect(trained.map(\.1.bytes) != start, "the fp16 fields moved")
        for (_, q) in trained {
            #expect(try q.format.decode(q.bytes).map(\.bitPattern) == q.weight.toArray().map(\.bitPattern))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-fmt-e2e-\(getpid())-\(format)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.gguf").path
        _ = try GGUFExport.write(model, tokenizer: tok.tokenizer, tokenizerSource: nil, to: path, options: GGUFExportOptions())
        let gguf = try GGUFFile(path: path)
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        // q and k rows are permuted for llama.cpp's RoPE (whole rows, so whole blocks): the others compare as they are
        let names = ["attn_v": 2, "attn_output": 3, "ffn_gate": 4, "ffn_up": 5, "ffn_down": 6]
        for (b, block) in model.blocks.enumerated() {
            for (name, i) in names {
                let q = try #require(block.linears[i].quantizer as? GGMLQuantizer)
                let info = try #require(gguf.info(named: "blk.\(b).\(name).weight"))
                #expect(info.type.name == q.format.type.name)
                #expect([UInt8](file[info.offset ..< info.offset + info.byteCount]) == q.bytes, "blk.\(b).\(name)")
            }
        }
    }
}
