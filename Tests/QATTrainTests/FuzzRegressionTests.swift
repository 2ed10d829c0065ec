// Replays every input under Tests/Fuzz/regressions/blockap/ (inputs that once crashed the
// `blockap` fuzz target, Tests/Fuzz/Targets/blockap.swift) through the resume reader they broke,
// into the same one-block model the target uses: each must now be a FormatError that leaves the
// model as it was.
// A regression that crashed again would end this test process, which fails the run.
import Foundation
import Testing
import QATIO
import QATModel
import QATQuant
import QATTensor
@testable import QATTrain

@Suite struct FuzzRegressionTests {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions/blockap").path

    /// The fuzz target's model: hidden 16, 2 heads of 8, one block, every linear RTN w4g8.
    static func model() throws -> LlamaModel {
        let c = ModelConfig(vocabSize: 32, hiddenSize: 16, intermediateSize: 32, layerCount: 1, headCount: 2, kvHeadCount: 1,
                            headDim: 8, ropeTheta: 10000, rmsNormEps: 1e-5, maxPositions: 64)
        let shape = BlockShape(hidden: 16, heads: 2, kvHeads: 1, headDim: 8, ffn: 32, rmsEps: 1e-5, ropeTheta: 10000,
                               ropeLayout: .halfRotate, attentionBias: false)
        let block = try DecoderBlock.random(shape: shape, seed: 1)
        let spec = try QuantSpec(bits: 4, groupSize: 8)
        for l in block.linears {
            l.quantizer = try HardQuantizer(try roundToNearest(weight: l.weight.value, spec: spec, range: .minMax), name: l.name)
        }
        return try LlamaModel(config: c, ropeLayout: .halfRotate, embedding: Tensor.randn([32, 16], seed: 2, std: 0.5),
                              blocks: [block], finalNorm: Tensor.rand([16], seed: 3, low: 0.5, high: 1.5),
                              lmHead: Tensor.randn([32, 16], seed: 4, std: 0.5), source: "fuzz-regression")
    }

    @Test func blockAPRegressionInputsAreFormatErrors() throws {
        let inputs = try FileManager.default.contentsOfDirectory(atPath: Self.regressions).sorted()
        #expect(!inputs.isEmpty, "no regression inputs under \(Self.regressions)")
        for name in inputs {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-fuzzreg-\(getpid())-\(name)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try FileManager.default.createDirectory(atPath: dir + "/blockap", withIntermediateDirectories: true)
            let file = BlockAPCheckpoint.blockFile(dir, 0)
            try FileManager.default.copyItem(atPath: Self.regressions + "/" + name, toPath: file)
            let model = try Self.model()
            let gains = model.blocks[0].attnNorm.value.toArray() + model.blocks[0].ffnNorm.value.toArray()
            let quantizers = model.blocks[0].linears.map { $0.quantizer.map(ObjectIdentifier.init) }
            #expect(throws: FormatError.self, "\(name)") { try BlockAPCheckpoint.restoreBlock(0, model: model, dir: dir) }
            // a refused file leaves the model as it was
            #expect(model.blocks[0].attnNorm.value.toArray() + model.blocks[0].ffnNorm.value.toArray() == gains, "\(name): gains changed")
            #expect(model.blocks[0].linears.map { $0.quantizer.map(ObjectIdentifier.init) } == quantizers, "\(name): quantizers replaced")
        }
    }
}
