// A very small quantized LLaMA model, shared by the checkpoint fuzz targets (Tests/Fuzz/run.sh
// compiles this file into the native, gptq and blockap targets) and FuzzRegressionTests, which
// replays their regression inputs into the same model: hidden 16, 2 heads of 8, 1 block, vocab 32,
// MLP 32, every linear RTN-quantized at 4 bits, group 8, so a whole checkpoint is a few KB.
import QATIO
import QATModel
import QATQuant
import QATTensor

func tinyQuantizedModel() throws -> LlamaModel {
    let c = ModelConfig(vocabSize: 32, hiddenSize: 16, intermediateSize: 32, layerCount: 1, headCount: 2, kvHeadCount: 1,
                        headDim: 8, ropeTheta: 10000, rmsNormEps: 1e-5, maxPositions: 64)
    let shape = BlockShape(hidden: 16, heads: 2, kvHeads: 1, headDim: 8, ffn: 32, rmsEps: 1e-5, ropeTheta: 10000,
                           ropeLayout: .halfRotate, attentionBias: false)
    let block = try DecoderBlock.random(shape: shape, seed: 1)
    let spec = try QuantSpec(bits: 4, groupSize: 8)
    for l in block.linears {
        let qw = try roundToNearest(weight: l.weight.value, spec: spec, range: .minMax)
        l.quantizer = try HardQuantizer(qw, name: l.name)
    }
    return try LlamaModel(config: c, ropeLayout: .halfRotate, embedding: Tensor.randn([32, 16], seed: 2, std: 0.5),
                          blocks: [block], finalNorm: Tensor.rand([16], seed: 3, low: 0.5, high: 1.5),
                          lmHead: Tensor.randn([32, 16], seed: 4, std: 0.5), source: "fuzz-seed")
}
