// Every quantizer and trainer on the tiny models whose rows add a computation (Llama-3 rope
// scaling, Qwen3's q/k norms; Tests/QATModelTests/TinyArch, written by transformers): RTN, GPTQ
// and AWQ leave every block linear on its integer grid, Block-AP lowers every block's validation
// MSE below RTN's, E2E-QP lowers the validation cross-entropy. Quick: 2 blocks of hidden 64.
import Foundation
import Testing
@testable import QATTrain
import QATAutograd
import QATModel
import QATQuant
import QATTensor

private func tinyArch(_ name: String) throws -> LoadedModel {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    return try ModelLoader.load(root.appendingPathComponent("QATModelTests/TinyArch/\(name)").path)
}

private func tinyArchWindows(_ loaded: LoadedModel) throws -> TrainingWindows {
    try TrainingWindows.load(text: "fortunes", tokenizer: loaded.tokenizer, samples: 16, validationSamples: 4, seqlen: 32, seed: 5)
}

@Suite(.serialized) struct TinyArchPipelineTests {
    static let models = ["llama3_rope", "qwen3"]

    @Test(arguments: models, ["rtn", "gptq", "awq"])
    func quantizerPutsEveryLinearOnItsGrid(_ name: String, method: String) throws {
        let loaded = try tinyArch(name)
        let ids: [Int32] = [256] + Array("def f(x):".utf8).map { Int32($0) }
        let before = try loaded.model.logits(ids).toArray()
        let calibration = try CalibrationSet.load(text: "fortunes", tokenizer: loaded.tokenizer, count: 8, seqlen: 32, seed: 1)
        try QuantMethod.named(method).apply(model: loaded.model, policy: try QuantPolicy(parsing: "w3g32"), calibration: calibration)
        var linears = 0
        for (b, block) in loaded.model.blocks.enumerated() {
            for l in block.linears {
                guard let hard = l.quantizer as? HardQuantizer else { Issue.record("blocks.\(b).\(l.name) is not quantized"); continue }
                let q = try hard.quantized
                #expect(q.spec.bits == 3 && q.codes.allSatisfy { Int($0) <= q.spec.qmax })
                // the weight the layer multiplies by is (code - zero) * scale, nothing else
                let effective = try noGrad { try l.effectiveWeight().value.toArray() }
                #expect(effective == q.dequantized().toArray(), "blocks.\(b).\(l.name)")
                linears += 1
            }
        }
        #expect(linears == 14)
        let after = try loaded.model.logits(ids).toArray()
        #expect(after.allSatisfy(\.isFinite) && after != before)
    }

    @Test(arguments: models)
    func blockAPLowersEveryBlocksValidationMSEBelowRTN(_ name: String) throws { try Interrupt.exclusively {
        let loaded = try tinyArch(name)
        let report = try BlockAP.run(model: loaded.model, data: try tinyArchWindows(loaded), options: try blockAPOptions("w2g32"), log: { _ in })
        #expect(report.blocks.count == 2)
        for b in report.blocks {
            #expect((b.validationMSE.last ?? .infinity) < b.rtnValidationMSE, "block \(b.block): \(b.rtnValidationMSE) -> \(b.validationMSE)")
        }
        for b in loaded.model.blocks { #expect(b.linears.allSatisfy { $0.quantizer is HardQuantizer }) }
    } }

    @Test(arguments: models)
    func e2eqpLowersValidationCrossEntropy(_ name: String) throws { try Interrupt.exclusively {
        let loaded = try tinyArch(name)
        try QuantPolicy(parsing: "w2g32").apply(to: loaded.model, mode: .hard, init: .minMax)
        let r = try E2EQP.run(model: loaded.model, data: try tinyArchWindows(loaded), options: quickE2EQPOptions(), log: { _ in })
        #expect(r.steps > 0 && r.finalValidationLoss.isFinite)
        #expect(r.finalValidationLoss < r.initialValidationLoss, "\(r.initialValidationLoss) -> \(r.finalValidationLoss)")
    } }
}
