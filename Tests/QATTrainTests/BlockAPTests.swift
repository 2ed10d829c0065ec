// Block-AP and E2E-QP on the embedded tiny model: they lower the losses they optimise, and a run
// interrupted and resumed from its checkpoint ends bit for bit where an uninterrupted one does.
import Foundation
import Testing
@testable import QATTrain
import QATAutograd
import QATModel
import QATQuant
import QATTensor

/// The tiny model RTN-quantized at w2g64 with 32 training windows of 64 tokens: E2E-QP's start.
func tinyRTNModel() throws -> (LoadedModel, TrainingWindows) {
    let (loaded, data) = try tinyWindows(samples: 32, seqlen: 64)
    try QuantPolicy(parsing: "w2g64").apply(to: loaded.model, mode: .hard, init: .minMax)
    return (loaded, data)
}

/// A short E2E-QP schedule for the tiny model (2 epochs of 2 x 2 windows per step, lr 2e-3).
func quickE2EQPOptions() -> E2EQPOptions {
    var o = E2EQPOptions()
    o.lr = 2e-3; o.batchSize = 2; o.accumulation = 2; o.epochs = 2
    return o
}

func tinyWindows(samples: Int = 16, seqlen: Int = 64, seed: UInt64 = 3) throws -> (LoadedModel, TrainingWindows) {
    let loaded = try ModelLoader.load("tiny")
    let data = try TrainingWindows.load(text: "fortunes", tokenizer: loaded.tokenizer, samples: samples,
                                        validationSamples: 4, seqlen: seqlen, seed: seed)
    return (loaded, data)
}

func blockAPOptions(_ spec: String) throws -> BlockAPOptions {
    var o = BlockAPOptions(policy: try QuantPolicy(parsing: spec))
    o.epochs = 2; o.batchSize = 2
    // the tiny model is small and short-trained: larger steps than the 7B defaults
    o.weightLR = 1e-3; o.quantLR = 1e-3
    return o
}

/// Every quantized linear's codes, scales and zeros and every norm gain, flattened, for bitwise comparison.
func modelState(_ m: LlamaModel) throws -> [Float] {
    var out: [Float] = []
    for b in m.blocks {
        out += b.attnNorm.value.toArray() + b.ffnNorm.value.toArray()
        for l in b.linears {
            if let h = l.quantizer as? HardQuantizer {
                let q = try h.quantized
                out += q.codes.map(Float.init) + q.scales + q.zeros
            }
        }
    }
    return out
}

func scratchDir() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("qat-train-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

// One serialized suite: the interrupt flag is process-wide, so these tests must not overlap.
@Suite(.serialized) struct TrainingPhaseTests {
    @Test func blockAPLowersEveryBlocksValidationMSEBelowRTN() throws { try Interrupt.exclusively {
        let (loaded, data) = try tinyWindows()
        let report = try BlockAP.run(model: loaded.model, data: data, options: try blockAPOptions("w2g64"), log: { _ in })
        #expect(report.blocks.count == 4)
        for b in report.blocks {
            #expect((b.validationMSE.last ?? .infinity) < b.rtnValidationMSE, "block \(b.block): \(b.rtnValidationMSE) -> \(b.validationMSE)")
        }
        for b in loaded.model.blocks { #expect(b.linears.allSatisfy { $0.quantizer is HardQuantizer }) }
    } }

    @Test func blockAPResumeAfterAnInterruptEqualsAnUninterruptedRun() throws { try Interrupt.exclusively {
        let options = try blockAPOptions("w3g32")
        let (a, data) = try tinyWindows(samples: 8, seqlen: 32)
        _ = try BlockAP.run(model: a.model, data: data, options: options, log: { _ in })
        let dir = try scratchDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = options
        o.checkpointDir = dir
        let b = try ModelLoader.load("tiny")
        // a run killed after block 1: only blocks 0 and 1 reach the checkpoint (Ctrl-C is the
        // same path: Interrupt.check() throws at the next step, after block 1's save)
        var first = o
        first.blocks = 0..<2
        _ = try BlockAP.run(model: b.model, data: data, options: first, log: { _ in })
        o.resume = true
        let c = try ModelLoader.load("tiny")
        var lines: [String] = []
        _ = try BlockAP.run(model: c.model, data: data, options: o, log: { lines.append($0) })
        #expect(lines.contains { $0.contains("block 1: restored") })
        #expect(try modelState(c.model) == modelState(a.model))
        // a checkpoint made with other options is refused, not silently mixed in
        var other = o; other.quantLR = 5e-4
        #expect(throws: (any Error).self) { try BlockAP.run(model: try ModelLoader.load("tiny").model, data: data, options: other, log: { _ in }) }
    } }


    /// A loss or gradient that is not finite stops each phase with a TrainingError that names it, not
    /// a crash or silent NaN updates (Block-AP at learning rates of 1e30 once trapped in fastExp on a NaN), and Block-AP
    /// writes no checkpoint for the block that diverged.
    @Test func aNonFiniteLossStopsEachPhaseWithAClearError() throws { try Interrupt.exclusively {
        let (a, data) = try tinyWindows()
        var o = try blockAPOptions("w2g64")
        o.weightLR = 1e30; o.quantLR = 1e30
        let dir = try scratchDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        o.checkpointDir = dir
        let e = #expect(throws: TrainingError.self) { try BlockAP.run(model: a.model, data: data, options: o, log: { _ in }) }
        #expect(e?.message.contains("the loss is") == true && e?.message.contains("lower the learning rates") == true, "\(e?.message ?? "")")
        #expect(try BlockAPCheckpoint.completed(dir: dir, options: o).0 == 0)

        // E2E-QP's cross-entropy saturates instead of overflowing; a NaN step size reaches the
        // gradients while the loss stays finite, and must stop the run before any update
        let (b, rtnData) = try tinyRTNModel()
        let h = try #require(b.model.blocks[0].linears[0].quantizer as? HardQuantizer)
        h.scales.value.data[0] = .nan
        let q = quickE2EQPOptions()
        let f = #expect(throws: TrainingError.self) { try E2EQP.run(model: b.model, data: rtnData, options: q, log: { _ in }) }
        #expect(f?.message.contains("is nan") == true && f?.message.contains("last good state") == true, "\(f?.message ?? "")")
        #expect(h.scales.value.data[1].isFinite, "no step was taken with the NaN gradient")
    } }

    @Test func ctrlCStopsAtAStepBoundaryKeepingFinishedBlocks() throws { try Interrupt.exclusively {
        let (b, data) = try tinyWindows(samples: 8, seqlen: 32)
        let dir = try scratchDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = try blockAPOptions("w3g32")
        o.checkpointDir = dir
        #expect(throws: Interrupted.self) {
            try BlockAP.run(model: b.model, data: data, options: o, log: { if $0.hasPrefix("block 1/") { Interrupt.request() } })
        }
        Interrupt.clear()
        let (done, _, _) = try BlockAPCheckpoint.completed(dir: dir, options: o)
        #expect(done == 2)
    } }

    @Test func e2eqpLowersValidationCrossEntropy() throws { try Interrupt.exclusively {
        let (loaded, data) = try tinyRTNModel()
        let before = try modelState(loaded.model)
        let r = try E2EQP.run(model: loaded.model, data: data, options: quickE2EQPOptions(), log: { _ in })
        #expect(r.steps == 16)
        #expect(r.finalValidationLoss < r.initialValidationLoss, "\(r.initialValidationLoss) -> \(r.finalValidationLoss)")
        // only the scales moved: codes and zeros are frozen
        let after = try modelState(loaded.model)
        #expect(before != after)
        var k = 0
        for b in loaded.model.blocks {
            k += 2 * b.attnNorm.value.count
            for l in b.linears {
                guard let h = l.quantizer as? HardQuantizer else { continue }
                let q = try h.quantized
                for j in 0..<q.codes.count { #expect(after[k + j] == before[k + j]) }
                k += q.codes.count + q.scales.count
                for j in 0..<q.zeros.count { #expect(after[k + j] == before[k + j]) }
                k += q.zeros.count
            }
        }
    } }

    @Test func e2eqpResumeAfterAnInterruptEqualsAnUninterruptedRun() throws { try Interrupt.exclusively {
        let (a, data) = try tinyRTNModel()
        _ = try E2EQP.run(model: a.model, data: data, options: quickE2EQPOptions(), log: { _ in })
        let dir = try scratchDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = quickE2EQPOptions()
        o.checkpointDir = dir; o.checkpointEvery = 4
        let (b, _) = try tinyRTNModel()
        // a run killed after step 8 (its checkpoint was saved at step 8)
        var first = o
        first.maxSteps = 8
        _ = try E2EQP.run(model: b.model, data: data, options: first, log: { _ in })
        o.resume = true
        let (c, _) = try tinyRTNModel()
        _ = try E2EQP.run(model: c.model, data: data, options: o, log: { _ in })
        #expect(try modelState(c.model) == modelState(a.model))
    } }
}
