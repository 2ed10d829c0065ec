// The per-layer policy: which linears get which spec, installing quantizers on a model, and the
// bits-per-parameter accounting (spec 2.6).
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor
import Testing

/// A random model with tied embeddings: `layers` blocks of the given geometry.
func randomModel(vocab: Int, hidden: Int, ffn: Int, layers: Int, heads: Int, kvHeads: Int, headDim: Int) throws -> LlamaModel {
    let config = ModelConfig(vocabSize: vocab, hiddenSize: hidden, intermediateSize: ffn, layerCount: layers, headCount: heads,
                             kvHeadCount: kvHeads, headDim: headDim, rmsNormEps: 1e-5, tieWordEmbeddings: true)
    let shape = BlockShape(hidden: hidden, heads: heads, kvHeads: kvHeads, headDim: headDim, ffn: ffn,
                           rmsEps: Float(config.rmsNormEps), ropeTheta: config.ropeTheta, ropeLayout: .halfRotate)
    let blocks = try (0..<layers).map { try DecoderBlock.random(shape: shape, seed: UInt64(10 + $0)) }
    return try LlamaModel(config: config, ropeLayout: .halfRotate, embedding: try Tensor.randn([vocab, hidden], seed: 1, std: 0.02),
                          blocks: blocks, finalNorm: try Tensor.ones([hidden]), lmHead: nil, source: "random")
}

@Suite struct PolicyTests {
    @Test func parsesSpecsAndPolicies() throws {
        #expect(try QuantSpec(parsing: "w3g128") == QuantSpec(bits: 3, groupSize: 128))
        #expect(try QuantSpec(parsing: "W4") == QuantSpec(bits: 4, groupSize: -1))
        #expect(try QuantSpec(parsing: "w2g-1") == QuantSpec(bits: 2, groupSize: -1))
        for bad in ["3g128", "w9g128", "w3g0", "w3gx", "w"] { #expect(throws: TensorError.self) { try QuantSpec(parsing: bad) } }
        let p = try QuantPolicy(parsing: "w2g64, blocks.0=w4g128, down_proj=fp, blocks.1.down_proj=w3g128")
        #expect(p.spec == (try QuantSpec(bits: 2, groupSize: 64)))
        #expect(p.precision(block: 0, linear: "q_proj") == .quantized(try QuantSpec(bits: 4, groupSize: 128)))   // block rule
        #expect(p.precision(block: 0, linear: "down_proj") == .quantized(try QuantSpec(bits: 4, groupSize: 128))) // block beats name
        #expect(p.precision(block: 2, linear: "down_proj") == .full)                                               // name rule
        #expect(p.precision(block: 1, linear: "down_proj") == .quantized(try QuantSpec(bits: 3, groupSize: 128))) // exact wins
        #expect(p.precision(block: 2, linear: "up_proj") == .quantized(try QuantSpec(bits: 2, groupSize: 64)))    // default
        #expect(try QuantPolicy(parsing: "none,q_proj=w4").precision(block: 0, linear: "k_proj") == .full)
        #expect(throws: TensorError.self) { try QuantPolicy(parsing: "blocks.0=w4") }
        #expect(throws: TensorError.self) { try QuantPolicy(parsing: "w4,q_proj") }
    }

    @Test func unknownOverrideKeysThrow() throws {
        let model = try randomModel(vocab: 32, hidden: 64, ffn: 128, layers: 2, heads: 2, kvHeads: 1, headDim: 32)
        for key in ["qproj", "blocks.2", "blocks.x.q_proj", "blocks.0.lm_head", "layers.0"] {
            let p = QuantPolicy(try QuantSpec(bits: 3, groupSize: 32), overrides: [key: .full])
            #expect(throws: TensorError.self, "\(key)") { try p.apply(to: model, mode: .fake) }
        }
    }

    /// Fake and hard installs on a small model: 7 quantized linears per block, nothing else, and
    /// the same logits bit for bit (conversion is exact); hard mode freezes W.
    @Test func applyFakeAndHard() throws {
        let model = try randomModel(vocab: 32, hidden: 64, ffn: 128, layers: 2, heads: 2, kvHeads: 1, headDim: 32)
        let tokens: [Int32] = [1, 5, 9, 2, 31, 7]
        let fp = try model.logits(tokens)
        let policy = QuantPolicy(try QuantSpec(bits: 3, groupSize: 32), overrides: ["blocks.1.down_proj": .full])
        let fake = try policy.apply(to: model, mode: .fake, init: .includeZero)
        #expect(fake.count == 13 && fake.values.allSatisfy { $0 is FakeQuantizer })
        #expect(model.blocks[1].down.quantizer == nil && model.blocks[0].down.quantizer != nil)
        let fakeLogits = try model.logits(tokens)
        #expect(!bitsEqual(fakeLogits, fp))
        let hard = try policy.apply(to: model, mode: .hard, init: .includeZero)
        #expect(hard.count == 13 && hard.values.allSatisfy { $0 is HardQuantizer })
        #expect(model.blocks[0].q.weight.requiresGrad == false && model.blocks[1].down.weight.requiresGrad == true)
        #expect(bitsEqual(try model.logits(tokens), fakeLogits))
        #expect(try QuantPolicy(nil).apply(to: model, mode: .fake).isEmpty)
        #expect(model.blocks.allSatisfy { $0.linears.allSatisfy { $0.quantizer == nil } })
    }

    /// w2g64 on layers whose inputs are multiples of 64: exactly 2 + 18/64 = 2.28125, counted from
    /// the installed quantizers (embeddings and norms are not counted).
    @Test func averageBitsW2G64() throws {
        let model = try randomModel(vocab: 32, hidden: 64, ffn: 128, layers: 2, heads: 2, kvHeads: 1, headDim: 32)
        try QuantPolicy(try QuantSpec(bits: 2, groupSize: 64)).apply(to: model, mode: .hard)
        #expect(AverageBits.blockLinears(model) == 2.28125)
    }

    /// w3g128 on SmolLM2's block shapes: the papers' formula gives 3 + 19/128 for every linear,
    /// also the six whose 576 inputs store a shorter fifth group.
    @Test func averageBitsW3G128OnSmolLM2Shapes() throws {
        let model = try randomModel(vocab: 16, hidden: 576, ffn: 1536, layers: 1, heads: 9, kvHeads: 3, headDim: 64)
        try QuantPolicy(try QuantSpec(bits: 3, groupSize: 128)).apply(to: model, mode: .hard)
        #expect(AverageBits.blockLinears(model) == 3 + 19.0 / 128)                            // 3.1484375
        #expect(AverageBits.perWeight(model.blocks[0].q) == 3.1484375)
    }

    @Test func overridesChangeTheBits() throws {
        let model = try randomModel(vocab: 32, hidden: 64, ffn: 128, layers: 2, heads: 2, kvHeads: 1, headDim: 32)
        try QuantPolicy(parsing: "w2g64,blocks.1=fp,down_proj=w4").apply(to: model, mode: .hard)
        // block 0: six linears at w2g64 (2.28125), down_proj at w4 (g = 128 inputs: 4 + 20/128); block 1 at 16
        let six = 64 * 64 * 2 + 32 * 64 * 2 + 128 * 64 * 2, down = 64 * 128
        let expected = (2.28125 * Double(six) + (4 + 20.0 / 128) * Double(down) + 16 * Double(six + down)) / Double(2 * (six + down))
        #expect(abs(AverageBits.blockLinears(model) - expected) < 1e-12)
    }
}
