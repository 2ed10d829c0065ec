// The embedded tiny model: a small LLaMA trained by QATLab itself, so tests and machines
// without SmolLM2 have a real (not random) model to quantize.
//
// Recipe (deterministic for a given seed and thread count):
//   4 blocks, hidden 128, 4 heads of 32 with 2 KV heads, MLP 256, byte tokenizer (vocab 258),
//   RoPE theta 10000, tied embedding; weights N(0, 0.02), norm gains 1.
//   Trained on the `fortunes` text as bytes: batches of 16 random windows of 128 tokens (seeded),
//   next-token cross-entropy, AdamW lr 3e-3 cosine to lr/20, weight decay 0.01, 1500 steps (about 3 minutes on 2 cores).
//   Saved as a Hugging Face directory (config.json + model.safetensors in F16): Data/tiny.
// Re-make it with `qat make-tiny out=Data/tiny`.
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor
import QATTokenizer

public struct TinyRecipe: Sendable {
    public var steps = 1500, batch = 16, seq = 128, lr: Float = 3e-3, seed: UInt64 = 1, text = "fortunes"
    public init() {}

    public static let config = ModelConfig(architecture: "LlamaForCausalLM", vocabSize: 258, hiddenSize: 128, intermediateSize: 256,
                                           layerCount: 4, headCount: 4, kvHeadCount: 2, headDim: 32, ropeTheta: 10000,
                                           rmsNormEps: 1e-5, maxPositions: 512, tieWordEmbeddings: true,
                                           bosTokenId: 256, eosTokenId: 257)

    /// A freshly initialised tiny model.
    public func initialModel() throws -> LlamaModel {
        let c = Self.config
        let shape = BlockShape(hidden: c.hiddenSize, heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim,
                               ffn: c.intermediateSize, rmsEps: Float(c.rmsNormEps), ropeTheta: c.ropeTheta)
        let blocks = try (0..<c.layerCount).map { try DecoderBlock.random(shape: shape, seed: seed &* 1000 &+ UInt64($0) &* 17) }
        return try LlamaModel(config: c, ropeLayout: .halfRotate, embedding: try Tensor.randn([c.vocabSize, c.hiddenSize], seed: seed &+ 7, std: 0.02),
                              blocks: blocks, finalNorm: try Tensor.ones([c.hiddenSize]), lmHead: nil, source: "tiny (initial)")
    }

    /// Trains the tiny model; `log` gets a line every 50 steps.
    public func train(log: (String) -> Void) throws -> LlamaModel {
        let model = try initialModel()
        let bytes = ByteTokenizer(addBOS: false).encode(try TextCorpus.load(text), addSpecial: false, parseSpecial: false)
        guard bytes.count > seq + 1 else { throw TensorError.invalidArgument(op: "make-tiny", message: "text '\(text)' is too short") }
        let params = model.parameters.map(\.1)
        for p in params { p.requiresGrad = true }
        let opt = AdamW(groups: [ParameterGroup(name: "all", parameters: params, lr: lr, weightDecay: 0.01)])
        var rng = SeededRandom(seed: seed)
        for step in 0..<steps {
            var inputs: [Int32] = [], targets: [Int32] = []
            for _ in 0..<batch {
                let start = Int(rng.next() % UInt64(bytes.count - seq - 1))
                inputs += bytes[start..<(start + seq)]; targets += bytes[(start + 1)...(start + seq)]
            }
            opt.groups[0].lr = cosineLR(base: lr, step: step, total: steps)
            let loss = try Var.crossEntropy(model.forward(inputs, batch: batch, seq: seq), targets: targets)
            opt.zeroGrad()
            try loss.backward()
            opt.clipGradients(maxNorm: 1)
            opt.step()
            if step % 50 == 0 || step == steps - 1 { log("step \(step) loss \(loss.value.scalar)") }
        }
        for p in params { p.requiresGrad = false }
        return model
    }

    /// Writes `model` as a Hugging Face directory (config.json + model.safetensors, F16), the same
    /// writer as every full-precision export.
    public static func save(_ model: LlamaModel, to dir: String) throws {
        try NativeCheckpoint.writeDequantized(model, to: dir, dtype: .F16, source: "tiny", overwrite: true)
    }
}
