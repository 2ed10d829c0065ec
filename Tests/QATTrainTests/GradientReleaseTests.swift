// A finished training phase holds no gradient. Block-AP once kept every trained block's weight
// gradients (4 bytes per weight) alive with the model after the block was finalized, so its peak
// memory on SmolLM2 grew by 17 MB per block past the memory= estimate; E2E-QP and full-model QAT
// kept their last step's gradients the same way.
import Testing
@testable import QATTrain
import QATAutograd
import QATModel
import QATQuant
import QATTensor

/// Names of the model's tensors (weights, norm gains, quantizer scales and zeros) that still hold a gradient.
func tensorsWithGradients(_ m: LlamaModel) -> [String] {
    var vars = m.parameters
    for (i, b) in m.blocks.enumerated() {
        for l in b.linears { vars += (l.quantizer?.parameters ?? []).map { ("blocks.\(i).\(l.name).\($0.0)", $0.1) } }
    }
    return vars.filter { $0.1.grad != nil }.map(\.0)
}

@Suite(.serialized) struct GradientReleaseTests {
    @Test func blockAPReleasesEachBlocksGradients() throws { try Interrupt.exclusively {
        let (loaded, data) = try tinyWindows(samples: 4, seqlen: 32)
        var o = try blockAPOptions("w2g64")
        o.epochs = 1
        _ = try BlockAP.run(model: loaded.model, data: data, options: o, log: { _ in })
        #expect(tensorsWithGradients(loaded.model).isEmpty, "\(tensorsWithGradients(loaded.model))")
    } }

    @Test func e2eqpAndFullQATReleaseTheLastStepsGradients() throws { try Interrupt.exclusively {
        let (loaded, data) = try tinyWindows(samples: 8, seqlen: 32)
        var f = FullQATOptions(policy: try QuantPolicy(parsing: "w2g64"))
        f.batchSize = 2; f.accumulation = 2; f.maxSteps = 2
        _ = try FullQAT.run(model: loaded.model, data: data, options: f, log: { _ in })
        #expect(tensorsWithGradients(loaded.model).isEmpty, "fullqat: \(tensorsWithGradients(loaded.model))")
        var e = E2EQPOptions()
        e.batchSize = 2; e.accumulation = 2; e.maxSteps = 2; e.trainZeros = true
        _ = try E2EQP.run(model: loaded.model, data: data, options: e, log: { _ in })
        #expect(tensorsWithGradients(loaded.model).isEmpty, "e2eqp: \(tensorsWithGradients(loaded.model))")
    } }

    /// The order computed once per epoch is the order the trainers drew per step before.
    @Test func epochOrderIsTheSeededShufflePerEpoch() {
        var order = EpochOrder(windows: 13, seed: 42)
        for epoch in [0, 0, 1, 3, 1] {
            let want = epochBatches(samples: 13, batch: 1, shuffle: true, seed: 42 &+ UInt64(epoch)).map { $0[0] }
            #expect(order.order(epoch: epoch) == want)
            #expect(Set(want) == Set(0..<13))
        }
        #expect(order.order(epoch: 0) != order.order(epoch: 1))
    }
}
