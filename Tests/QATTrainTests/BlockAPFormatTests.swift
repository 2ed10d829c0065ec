// Block-AP in llama.cpp's block formats (BlockAP+Format.swift, GGMLTrainQuantizer.swift) on the
// tiny model: with epochs=0 it is llama.cpp's RTN in the format byte for byte (the RTN itself is
// checked against the gguf package in QATQuantTests), training lowers the block MSE, and the
// weight a trained model computes with is ggml's decoder run on the bytes it stores.
import Testing
@testable import QATTrain
import QATAutograd
import QATModel
import QATQuant
import QATTensor

/// Every block linear's format quantizer (the run must leave one on each).
func formatQuantizers(_ m: LlamaModel) throws -> [GGMLQuantizer] {
    try m.blocks.flatMap { b in
        try b.linears.map { l in
            guard let q = l.quantizer as? GGMLQuantizer else { throw TrainingError("\(l.name) holds \(l.quantizer?.summary ?? "no quantizer")") }
            return q
        }
    }
}

func formatOptions(_ format: String, epochs: Int) throws -> BlockAPOptions {
    var o = try blockAPOptions("w4g32")
    o.format = try GGMLFormats.named(format)
    o.epochs = epochs; o.weightLR = 1e-4; o.quantLR = 1e-4
    return o
}

@Test(arguments: ["q4_0", "q4_1", "q4_k"])
func blockAPFormatWithoutEpochsIsLlamaCppRTN(format: String) throws {
    let (loaded, data) = try tinyWindows(samples: 4, seqlen: 32)
    let f = try GGMLFormats.named(format)
    // llama.cpp's RTN of the untouched weights, per linear in the plan's format (q4_k: q5_0 fallback on 128 inputs)
    let rtn = try GGMLQuantization.plan(loaded.model, format: f).map { try GGMLQuantizer(weight: $0.linear.weight.value, format: $0.format) }
    _ = try BlockAP.run(model: loaded.model, data: data, options: try formatOptions(format, epochs: 0), log: { _ in })
    let got = try formatQuantizers(loaded.model)
    #expect(got.count == rtn.count)
    for (g, r) in zip(got, rtn) {
        #expect(g.format == r.format)
        #expect(g.bytes == r.bytes)
    }
    if format == "q4_k" { #expect(Set(got.map(\.format.name)) == ["q4_k", "q5_0"]) }
}

@Test(arguments: ["q4_1", "q4_k"])
func blockAPFormatTrainingLowersTheBlockMSE(format: String) throws {
    let (loaded, data) = try tinyWindows(samples: 16, seqlen: 64)
    let r = try BlockAP.run(model: loaded.model, data: data, options: try formatOptions(format, epochs: 3), log: { _ in })
    for b in r.blocks {
        let last = try #require(b.validationMSE.last)
        #expect(last < b.rtnValidationMSE, "block \(b.block): \(last) not below RTN's \(b.rtnValidationMSE)")
    }
    // the stored bytes decode (ggml's decoder) to the weight the model computes with, bit for bit
    for q in try formatQuantizers(loaded.model) {
        let decoded = try q.format.decode(q.bytes)
        #expect(decoded.map(\.bitPattern) == q.weight.toArray().map(\.bitPattern))
    }
}

@Test(arguments: ["q4_0", "q4_1", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"])
func trainingForwardIsTheDecodedBlocks(format: String) throws {
    let f = try GGMLFormats.named(format)
    let w = try Tensor.randn([4, 512], seed: 11, std: 0.05)
    let q = try GGMLTrainQuantizer(weight: w, format: f)
    // move the parameters off RTN, as training does, including scales far outside the 6-bit range
    let s = q.scales.value.data, m = q.mins.value.data
    for i in 0..<q.scales.value.count {
        s[i] *= 1 + 0.3 * Float(i % 5 - 2)
        if i % 7 == 0 { s[i] *= 100 }
        if q.parameters.count > 1 { m[i] += 0.01 * Float(i % 3 - 1) }
    }
    let forward = try q.effectiveWeight(Var(w)).value.toArray()
    let hard = try q.harden(weight: w)
    #expect(forward.map(\.bitPattern) == (try f.decode(hard.bytes)).map(\.bitPattern))
    #expect(forward.map(\.bitPattern) == hard.weight.toArray().map(\.bitPattern))
}

@Test func blockAPFormatRefusesACheckpointAndUntrainableFormats() throws {
    let (loaded, data) = try tinyWindows(samples: 4, seqlen: 32)
    var o = try formatOptions("q4_1", epochs: 0)
    o.checkpointDir = "/nonexistent/blockap.work"
    #expect(throws: TrainingError.self) { try BlockAP.run(model: loaded.model, data: data, options: o, log: { _ in }) }
    #expect(throws: TensorError.self) { try GGMLTrainQuantizer(weight: try Tensor.randn([2, 256], seed: 1), format: .q8_0) }
    // q6_k: tiny's 128-input linears fall back to q8_0, which does not train: refused up front
    o = try formatOptions("q4_1", epochs: 0)
    o.format = .q6_k
    let error = #expect(throws: TrainingError.self) { try BlockAP.run(model: loaded.model, data: data, options: o, log: { _ in }) }
    #expect(error?.description.contains("blocks.0.q_proj has 128 inputs") == true, "\(String(describing: error))")
    #expect(loaded.model.blocks.allSatisfy { $0.linears.allSatisfy { $0.quantizer == nil } })
}

/// q2_k, q3_k and q6_k (16-element sub-blocks) on the wide model, whose linears are whole
/// super-blocks: no epochs is llama.cpp's RTN byte for byte, training lowers every block's MSE,
/// and the stored bytes decode to the weight the model computes with.
@Test(arguments: ["q2_k", "q3_k", "q6_k"])
func blockAPInSixteenElementKQuants(format: String) throws {
    let (_, data) = try tinyWindows(samples: 8, seqlen: 32)
    let f = try GGMLFormats.named(format)
    let model = try wideModel()
    let rtn = try model.blocks.flatMap(\.linears).map { try f.quantize($0.weight.value) }
    _ = try BlockAP.run(model: model, data: data, options: try formatOptions(format, epochs: 0), log: { _ in })
    #expect(try formatQuantizers(model).map(\.bytes) == rtn)
    let trained = try wideModel()
    var o = try formatOptions(format, epochs: 2)
    o.weightLR = 1e-5; o.quantLR = 1e-5
    let r = try BlockAP.run(model: trained, data: data, options: o, log: { _ in })
    for b in r.blocks {
        let last = try #require(b.validationMSE.last)
        #expect(last < b.rtnValidationMSE, "block \(b.block): \(last) not below RTN's \(b.rtnValidationMSE)")
    }
    for q in try formatQuantizers(trained) {
        #expect(q.format == f)
        #expect(try f.decode(q.bytes).map(\.bitPattern) == q.weight.toArray().map(\.bitPattern))
    }
}
