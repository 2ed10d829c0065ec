// GPTQ in llama.cpp's legacy formats (GGMLGPTQ.swift): its layer output error on calibration
// inputs, sum_t ||(W - W_q) x_t||^2, is below llama.cpp's RTN's in the same format (on a tiny
// random layer with correlated inputs and on SmolLM2's block-0 q_proj in q4_0 and q5_0 with its own embeddings of
// real text as inputs), the blocks keep RTN's d and m, and the stored bytes decode (ggml's
// decoder) to the installed weight bit for bit.
import Testing
@testable import QATQuant
import QATModel
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
    try checkGPTQFormat(weight: w, inputs: x, formats: GGMLGPTQ.formats)
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

@Test func gptqInFormatRefusesKQuantsAndBadHessians() throws {
    let w = try Tensor.randn([4, 256], seed: 1)
    #expect(throws: TensorError.self) { try GGMLGPTQ.quantize(weight: w, hessian: [Double](repeating: 0, count: 256 * 256), format: .q4_k) }
    #expect(throws: TensorError.self) { try GGMLGPTQ.quantize(weight: w, hessian: [1, 2, 3], format: .q4_0) }
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
        #expect(m.blocks.flatMap(\.linears).allSatisfy { $0.quantizer == nil })
    }
}
