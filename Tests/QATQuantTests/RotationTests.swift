// Residual-stream rotation (QATQuant/Rotation.swift): Q is orthogonal for both kinds and several
// sizes, the Hadamard kind has the Kronecker structure its header promises (hand-derived: every
// 2^k x 2^k block is +-|Q_m[i][j]| / sqrt(2^k)), the same seed gives the same Q, and the folded
// model computes the same logits as the original (tied and untied heads, non-unit norm gains,
// Q/K/V biases, the embedded tiny model, and SmolLM2 when installed).
import Foundation
import Testing
@testable import QATModel
@testable import QATQuant
import QATAutograd
import QATIO
import QATTensor

/// Largest |Q^T Q - I| accepted (Q is built in Double and stored as Float).
let orthogonalityTolerance = 1e-5
/// Largest max|logits' - logits| / max|logits| accepted after a rotation (float rounding only).
let rotatedLogitsTolerance: Float = 1e-4

/// max |a - b| / max |a|.
func relativeLogitDifference(_ a: Tensor, _ b: Tensor) -> Float {
    var diff: Float = 0, scale: Float = 0
    for i in 0..<min(a.count, b.count) { diff = max(diff, abs(a.data[i] - b.data[i])); scale = max(scale, abs(a.data[i])) }
    return a.shape == b.shape ? diff / max(scale, 1e-30) : .infinity
}

/// A few token sequences of the model's vocabulary (seeded).
func rotationPrompts(vocab: Int) -> [[Int32]] {
    var rng = SeededRandom(seed: 11)
    return [5, 17, 32].map { n in (0..<n).map { _ in Int32(rng.next() % UInt64(vocab)) } }
}

/// Every norm gain set to a seeded value in [0.5, 1.5], so folding the gains matters.
func randomizeGains(_ m: LlamaModel, seed: UInt64) throws {
    let gains = [m.finalNorm] + m.blocks.flatMap { [$0.attnNorm, $0.ffnNorm] }
    for (i, g) in gains.enumerated() {
        let r = try Tensor.rand(g.shape, seed: seed &+ UInt64(i), low: 0.5, high: 1.5)
        for j in 0..<g.value.count { g.value.data[j] = r.data[j] }
    }
}

func expectSameLogits(_ original: LlamaModel, _ rotated: LlamaModel, _ label: String) throws {
    for ids in rotationPrompts(vocab: original.vocabSize) {
        let rel = relativeLogitDifference(try original.logits(ids), try rotated.logits(ids))
        #expect(rel <= rotatedLogitsTolerance, "\(label): relative logit difference \(rel) on \(ids.count) tokens")
    }
}

@Suite struct RotationTests {
    @Test(arguments: [RotationKind.hadamard, .random], [64, 576, 896])
    func theRotationIsOrthogonal(kind: RotationKind, size: Int) throws {
        let q = try Rotation.matrix(kind: kind, size: size, seed: 3)
        #expect(q.shape == [size, size])
        let err = Rotation.orthogonalityError(q)
        #expect(err <= orthogonalityTolerance, "\(kind) \(size): max |Q^T Q - I| = \(err)")
    }

    @Test func hadamardHasTheKroneckerStructure() throws {
        // 576 = 9 x 64: block (i, j) of 64 x 64 entries is Q_9[i][j] * H_64 / 8, so every entry's
        // magnitude is |Q_9[i][j]| / 8 and the signs follow (-1)^popcount(r & s) within a block
        let q = try Rotation.matrix(kind: .hadamard, size: 576, seed: 5)
        let qm = try Rotation.haarOrthogonal(9, seed: 5)
        var worst: Double = 0
        for i in 0..<9 { for j in 0..<9 { for r in 0..<64 { for s in 0..<64 {
            let sign: Double = (r & s).nonzeroBitCount % 2 == 0 ? 1 : -1
            worst = max(worst, abs(Double(q.data[(i * 64 + r) * 576 + j * 64 + s]) - qm[i * 9 + j] * sign / 8))
        } } } }
        #expect(worst <= 1e-7, "max entry difference \(worst)")
        // a power of two has m = 1: the normalised Hadamard matrix up to one sign
        let h = try Rotation.matrix(kind: .hadamard, size: 64, seed: 0)
        #expect(h.toArray().allSatisfy { abs(abs($0) - 0.125) < 1e-7 })
        #expect(Rotation.powerOfTwoSplit(576) == (64, 9) && Rotation.powerOfTwoSplit(896) == (128, 7) && Rotation.powerOfTwoSplit(7) == (1, 7))
    }

    @Test(arguments: [RotationKind.hadamard, .random])
    func theSameSeedGivesTheSameRotation(kind: RotationKind) throws {
        let a = try Rotation.matrix(kind: kind, size: 96, seed: 9).toArray()
        #expect(a == (try Rotation.matrix(kind: kind, size: 96, seed: 9).toArray()))
        #expect(a != (try Rotation.matrix(kind: kind, size: 96, seed: 10).toArray()))
    }

    @Test(arguments: [RotationKind.hadamard, .random], [true, false])
    func rotationLeavesTheLogitsUnchanged(kind: RotationKind, tied: Bool) throws {
        let m = try ptqTinyModel(kvHeads: 2, seed: 21)
        try randomizeGains(m, seed: 4)
        let model = tied ? m : try LlamaModel(config: m.config, ropeLayout: .halfRotate, embedding: m.embedding.value,
                                              blocks: m.blocks, finalNorm: m.finalNorm.value,
                                              lmHead: try Tensor.randn([97, 64], seed: 8), source: "untied")
        let before = try model.logits(rotationPrompts(vocab: 97)[1])
        let r = try Rotation.rotated(model, by: try Rotation.matrix(kind: kind, size: 64, seed: 1))
        try expectSameLogits(model, r, "\(kind) tied=\(tied)")
        #expect(r.lmHead != nil && !r.config.tieWordEmbeddings)
        #expect(r.blocks.allSatisfy { $0.attnNorm.value.toArray().allSatisfy { $0 == 1 } } && r.finalNorm.value.toArray().allSatisfy { $0 == 1 })
        // the weights did change, and the original model did not
        #expect(r.blocks[0].q.weight.value.toArray() != model.blocks[0].q.weight.value.toArray())
        #expect(try model.logits(rotationPrompts(vocab: 97)[1]).toArray() == before.toArray())
    }

    @Test func qkvBiasesSurviveTheRotation() throws {
        let shape = BlockShape(hidden: 32, heads: 2, kvHeads: 1, headDim: 16, ffn: 48, rmsEps: 1e-6, attentionBias: true)
        let config = ModelConfig(architecture: "Qwen2ForCausalLM", vocabSize: 50, hiddenSize: 32, intermediateSize: 48, layerCount: 2,
                                 headCount: 2, kvHeadCount: 1, headDim: 16, tieWordEmbeddings: true, attentionBias: true)
        let blocks = try (0..<2).map { try DecoderBlock.random(shape: shape, seed: 40 &+ UInt64($0)) }
        for b in blocks { for l in [b.q, b.k, b.v] { if let bias = l.bias { for j in 0..<bias.value.count { bias.value.data[j] = Float(j % 5) * 0.1 } } } }
        let m = try LlamaModel(config: config, ropeLayout: .halfRotate, embedding: try Tensor.randn([50, 32], seed: 2),
                               blocks: blocks, finalNorm: try Tensor.ones([32]), lmHead: nil, source: "biased")
        try randomizeGains(m, seed: 6)
        try expectSameLogits(m, try Rotation.rotated(m, by: try Rotation.matrix(kind: .hadamard, size: 32, seed: 2)), "biases")
    }

    @Test func theEmbeddedTinyModelKeepsItsLogits() throws {
        let m = try ModelLoader.load("tiny").model
        let r = try Rotation.rotated(m, by: try Rotation.matrix(kind: .random, size: m.config.hiddenSize, seed: 7))
        try expectSameLogits(m, r, "tiny")
    }

    @Test func aQuantizedModelIsRefused() throws {
        let m = try ptqTinyModel(kvHeads: 2, seed: 3)
        try QuantMethod.named("rtn").apply(model: m, policy: QuantPolicy(try QuantSpec(bits: 4, groupSize: 16)), calibration: nil, options: [:], log: { _ in })
        #expect {
            try Rotation.rotated(m, by: try Rotation.matrix(kind: .hadamard, size: 64, seed: 0))
        } throws: { "\($0)".contains("blocks.0.q_proj is quantized") && "\($0)".contains("rotate the full-precision") }
        #expect(throws: (any Error).self) { try Rotation.rotated(m, by: try Tensor.ones([3, 3])) }
    }

    @Test(.enabled(if: (try? ModelLoader.resolve("smollm2")) != nil, "skipped: SmolLM2 is not installed (bash setup.sh)"))
    func smolLM2KeepsItsLogits() throws {
        let loaded = try ModelLoader.load("smollm2")
        let ids = loaded.tokenizer.encode("The capital of France is", addSpecial: true, parseSpecial: false)
        let r = try Rotation.rotated(loaded.model, by: try Rotation.matrix(kind: .hadamard, size: 576, seed: 0))
        let rel = relativeLogitDifference(try loaded.model.logits(ids), try r.logits(ids))
        #expect(rel <= rotatedLogitsTolerance, "SmolLM2 relative logit difference \(rel)")
    }
}
