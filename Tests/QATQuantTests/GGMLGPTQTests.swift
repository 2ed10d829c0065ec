// GPTQ in llama.cpp's formats (GGMLGPTQ.swift): its layer output error on calibration inputs,
// sum_t ||(W - W_q) x_t||^2, is below llama.cpp's RTN's in the same format (on a tiny random layer
// with correlated inputs in every format GPTQ supports, legacy and k-quants, and on SmolLM2's
// block-0 q_proj in q4_0 and q5_0 with its own embeddings of real text as inputs); the blocks keep
// RTN's d and m (k-quants: d, dmin and the integer sub-block scales and mins); the stored bytes
// decode (ggml's decoder) to the installed weight bit for bit; and with a diagonal Hessian (no
// error to propagate) GPTQ's bytes are llama.cpp's RTN bytes exactly.
import Testing
@testable import QATQuant
import QATModel
import QATIO
import QATTensor

/// sum x x^T over the rows of x (n, c), in Double.
func gramOf(_ x: Tensor) -> [Double] {
    let n = x.shape[0], c = x.shape[1]
    var g = [Double](repeating: 0, count: c * c)
    for t in 0..<n {
        for i in 0..<c {
            let xi = Double(x.data[t * c + i])
            for j in 0..<c { g[i * c + j] += xi * Double(x.data[t * c + j]) }
        }
    }
    return g
}

func checkGPTQFormat(weight: Tensor, inputs: Tensor, formats: [String]) throws {
    let gram = gramOf(inputs)
    for name in formats {
        let f = try GGMLFormats.named(name)
        let rtn = try GGMLQuantizer(weight: weight, format: f)
        let gptq = try GGMLGPTQ.quantize(weight: weight, hessian: gram, format: f)
        let eRTN = quantizationOutputError(gram: gram, weight: weight, quantized: rtn.weight)
        let eGPTQ = quantizationOutputError(gram: gram, weight: weight, quantized: gptq.weight)
        #expect(eGPTQ < eRTN, "\(name): GPTQ error \(eGPTQ) not below RTN's \(eRTN)")
        print("gptq-format \(name) rows=\(weight.shape[0]) cols=\(weight.shape[1]) output error rtn \(eRTN) gptq \(eGPTQ)")
        #expect(try f.decode(gptq.bytes).map(\.bitPattern) == gptq.weight.toArray().map(\.bitPattern))
        // same block scales as RTN: the d (and m) fields of every block agree
        let size = f.type.bytesPerBlock, fields = name.hasSuffix("_1") ? 4 : 2
        for k in 0..<(gptq.bytes.count / size) {
            #expect(gptq.bytes[k * size..<k * size + fields] == rtn.bytes[k * size..<k * size + fields])
        }
    }
}

@Test func gptqInFormatBeatsRTNOnATinyLayer() throws {
    let w = try Tensor.randn([48, 128], seed: 5, std: 0.05)
    // correlated inputs with a few loud channels: x = z A
    let z = try Tensor.randn([512, 128], seed: 6), a = try Tensor.randn([128, 128], seed: 7, std: 0.1)
    let x = Tensor(uninitialized: [512, 128])
    sgemm(transA: false, transB: false, m: 512, n: 128, k: 128, a: z.data, lda: 128, b: a.data, ldb: 128, c: x.data, ldc: 128)
    for t in 0..<512 { for c in [3, 50] { x.data[t * 128 + c] *= 10 } }
    try checkGPTQFormat(weight: w, inputs: x, formats: ["q4_0", "q4_1", "q5_0", "q5_1"])   // the k-quants: gptqInAKQuantBeatsRTNAndKeepsItsScales
}

@Test func gptqInFormatBeatsRTNOnSmolLM2() throws {
    // (the installed SmolLM2 is llama.cpp's Q4_1 file: its weights are exactly q4_1 blocks, so
    // RTN in q4_1 reproduces them with zero error and only the symmetric types are a test)
    let loaded = try ptqLoadSmolLM2()
    let model = loaded.model
    // inputs: the embeddings of 512 tokens of fortunes (two calibration windows), RMS-normalised by block 0's attention norm
    let ids = try ptqCalibration(loaded.tokenizer, count: 2, seqlen: 256).windows.flatMap { $0 }
    let x = try model.embed(ids, batch: 2, seq: 256).rmsNorm(weight: model.blocks[0].attnNorm, eps: Float(model.config.rmsNormEps)).value
    let c = x.shape.last ?? 0
    let inputs = try Tensor(shape: [x.count / c, c], x.toArray())
    try checkGPTQFormat(weight: model.blocks[0].linears[0].weight.value, inputs: inputs, formats: ["q4_0", "q5_0"])
}

/// One block whose every linear has 256 or 512 inputs: whole k-quant super-blocks.
func ggmlKTinyModel(seed: UInt64) throws -> LlamaModel {
    let shape = BlockShape(hidden: 256, heads: 4, kvHeads: 2, headDim: 64, ffn: 512, rmsEps: 1e-5, ropeTheta: 10000, ropeLayout: .halfRotate)
    let config = ModelConfig(vocabSize: 97, hiddenSize: 256, intermediateSize: 512, layerCount: 1, headCount: 4, kvHeadCount: 2,
                             headDim: 64, ropeTheta: 10000, rmsNormEps: 1e-5, maxPositions: 512, tieWordEmbeddings: true)
    let emb = try Tensor.randn([97, 256], seed: seed &+ 7)
    for r in 0..<97 { for c in [3, 17, 40] { emb.data[r * 256 + c] *= 8 } }
    return try LlamaModel(config: config, ropeLayout: .halfRotate, embedding: emb, blocks: [try DecoderBlock.random(shape: shape, seed: seed)],
                          finalNorm: try Tensor.ones([256]), lmHead: nil, source: "tiny-random-256")
}

/// A (256-column) layer with correlated inputs and two loud channels, for the k-quants.
func correlatedLayer(rows: Int, cols: Int, seed: UInt64) throws -> (weight: Tensor, inputs: Tensor) {
    let w = try Tensor.randn([rows, cols], seed: seed, std: 0.05)
    let z = try Tensor.randn([4 * cols, cols], seed: seed + 1), a = try Tensor.randn([cols, cols], seed: seed + 2, std: 0.1)
    let x = Tensor(uninitialized: [4 * cols, cols])
    sgemm(transA: false, transB: false, m: 4 * cols, n: cols, k: cols, a: z.data, lda: cols, b: a.data, ldb: cols, c: x.data, ldc: cols)
    for t in 0..<(4 * cols) { for c in [3, 50] { x.data[t * cols + c] *= 10 } }
    return (w, x)
}

@Test(arguments: ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k"])
func gptqInAKQuantBeatsRTNAndKeepsItsScales(_ name: String) throws {
    let f = try GGMLFormats.named(name)
    let (w, x) = try correlatedLayer(rows: 24, cols: 512, seed: 11)
    let gram = gramOf(x)
    let rtnBlocks = try f.quantizeBlocks(w)
    let blocks = try GGMLGPTQ.chosenBlocks(weight: w, hessian: gram, format: f, damp: 0.01)
    #expect(blocks.count == rtnBlocks.count)
    for (g, r) in zip(blocks, rtnBlocks) {
        #expect(g.d == r.d && g.m == r.m && g.scales == r.scales && g.mins == r.mins)
    }
    #expect(zip(blocks, rtnBlocks).contains { $0.codes != $1.codes }, "\(name): GPTQ moved no code")
    let rtn = try GGMLQuantizer(weight: w, format: f)
    let gptq = try GGMLGPTQ.quantize(weight: w, hessian: gram, format: f)
    #expect(gptq.bytes == (try f.encode(blocks)))
    #expect(try f.decode(gptq.bytes).map(\.bitPattern) == gptq.weight.toArray().map(\.bitPattern))
    let eRTN = quantizationOutputError(gram: gram, weight: w, quantized: rtn.weight)
    let eGPTQ = quantizationOutputError(gram: gram, weight: w, quantized: gptq.weight)
    #expect(eGPTQ < eRTN, "\(name): GPTQ error \(eGPTQ) not below RTN's \(eRTN)")
    print("gptq-format \(name) rows=24 cols=512 output error rtn \(eRTN) gptq \(eGPTQ)")
}

@Test(arguments: GGMLGPTQ.formats)
func gptqWithADiagonalHessianIsLlamaCppsRTN(_ name: String) throws {
    // nothing propagates through a diagonal H^-1, so every code is the reference's rounding of
    // the original weight: RTN's bytes (llama.cpp's own, GGMLFormatTests and the oracles)
    let f = try GGMLFormats.named(name)
    let w = try Tensor.randn([6, 256], seed: 13, std: 0.05)
    var h = [Double](repeating: 0, count: 256 * 256)
    for i in 0..<256 { h[i * 256 + i] = 1 + Double(i % 7) }
    #expect(try GGMLGPTQ.quantize(weight: w, hessian: h, format: f).bytes == (try f.quantize(w)))
}

@Test func gptqInFormatRefusesUnbuiltFormatsAndBadHessians() throws {
    let w = try Tensor.randn([4, 256], seed: 1)
    #expect(throws: TensorError.self) { try GGMLGPTQ.quantize(weight: w, hessian: [Double](repeating: 0, count: 256 * 256), format: .q8_0) }
    #expect(throws: TensorError.self) { try GGMLGPTQ.quantize(weight: w, hessian: [1, 2, 3], format: .q4_0) }
    #expect(throws: TensorError.self) { try GGMLGPTQ.quantize(weight: w, hessian: [1, 2, 3], format: .q2_k) }
}

/// The whole model in a format (`quantize MODEL method=gptq format=F`): every block linear holds
/// ggml blocks with RTN's d (and m) fields, and the logits on held-out windows (random tokens like
/// the calibration windows, another seed) are closer to the full-precision model's than
/// llama.cpp's RTN in the same format gets them.
@Suite struct GGMLGPTQModelTests {
    func logitsError(_ q: LlamaModel, _ fp: Tensor, _ tokens: [Int32]) throws -> Double {
        let l = try q.logits(tokens)
        var e = 0.0
        for i in 0..<l.count { let d = Double(l.data[i] - fp.data[i]); e += d * d }
        return e
    }

    @Test(arguments: ["q4_0", "q4_1"])
    func gptqInAFormatBeatsRTNOnTheWholeModel(_ name: String) throws {
        let f = try GGMLFormats.named(name)
        let calib = try ptqRandomCalibration(vocab: 97, count: 16, seqlen: 64, seed: 3)
        let heldOut = try ptqRandomCalibration(vocab: 97, count: 1, seqlen: 256, seed: 99).windows[0]
        let fp = try ptqTinyModel(kvHeads: 2, seed: 40), rtn = try ptqTinyModel(kvHeads: 2, seed: 40), gptq = try ptqTinyModel(kvHeads: 2, seed: 40)
        let fpLogits = try fp.logits(heldOut)
        try GGMLQuantization.apply(to: rtn, format: f)
        let counts = try GGMLGPTQ.apply(to: gptq, format: f, calibration: calib)
        #expect(counts.count == 1 && counts[0].linears == 14)
        let size = f.type.bytesPerBlock, fields = name.hasSuffix("_1") ? 4 : 2
        for (r, g) in zip(rtn.blocks.flatMap(\.linears), gptq.blocks.flatMap(\.linears)) {
            let rq = try #require(r.quantizer as? GGMLQuantizer), gq = try #require(g.quantizer as? GGMLQuantizer)
            #expect(gq.format == f)
            for k in 0..<(gq.bytes.count / size) { #expect(gq.bytes[k * size..<k * size + fields] == rq.bytes[k * size..<k * size + fields]) }
        }
        let eRTN = try logitsError(rtn, fpLogits, heldOut), eGPTQ = try logitsError(gptq, fpLogits, heldOut)
        #expect(eGPTQ < eRTN, "\(name): GPTQ logit error \(eGPTQ) not below RTN's \(eRTN)")
    }

    @Test func aFormatGPTQCannotHoldIsRefusedBeforeAnyChange() throws {
        let m = try ptqTinyModel(kvHeads: 2, seed: 40)
        let calib = try ptqRandomCalibration(vocab: 97, count: 2, seqlen: 16, seed: 3)
        #expect { try GGMLGPTQ.apply(to: m, format: try GGMLFormats.named("q8_0"), calibration: calib) } throws: { "\($0)".contains("GPTQ supports") }
        // q6_k on 64-input linears is llama.cpp's fallback q8_0, which GPTQ has no codes for
        #expect { try GGMLGPTQ.apply(to: m, format: try GGMLFormats.named("q6_k"), calibration: calib) } throws: { "\($0)".contains("q8_0") }
        #expect(m.blocks.flatMap(\.linears).allSatisfy { $0.quantizer == nil })
    }

    @Test(arguments: ["q2_k", "q3_k"])
    func gptqInAKQuantBeatsRTNOnTheWholeModel(_ name: String) throws {
        let f = try GGMLFormats.named(name)
        let calib = try ptqRandomCalibration(vocab: 97, count: 16, seqlen: 64, seed: 3)
        let heldOut = try ptqRandomCalibration(vocab: 97, count: 1, seqlen: 256, seed: 99).windows[0]
        let fp = try ggmlKTinyModel(seed: 41), rtn = try ggmlKTinyModel(seed: 41), gptq = try ggmlKTinyModel(seed: 41)
        let fpLogits = try fp.logits(heldOut)
        try GGMLQuantization.apply(to: rtn, format: f)
        let counts = try GGMLGPTQ.apply(to: gptq, format: f, calibration: calib)
        #expect(counts.count == 1 && counts[0].format == f && counts[0].linears == 7)
        let eRTN = try logitsError(rtn, fpLogits, heldOut), eGPTQ = try logitsError(gptq, fpLogits, heldOut)
        #expect(eGPTQ < eRTN, "\(name): GPTQ logit error \(eGPTQ) not below RTN's \(eRTN)")
    }
}
