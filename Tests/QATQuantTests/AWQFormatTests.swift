// AWQ in a llama.cpp format (AWQ+Format.swift): with a single alpha (grid=1, so s = 1) it installs
// llama.cpp's RTN blocks of the unchanged weights, byte for byte (RTN in a format is tied to
// llama.cpp's reference by GGMLFormatTests and the oracles), and its norms are untouched; with the
// search, its block output error on the calibration inputs is below that RTN's, in q4_0 on the
// tiny model (three loud embedding channels) and in q2_k on a model of whole super-blocks; bad
// options are refused before any change.
import Testing
@testable import QATModel
@testable import QATQuant
import QATTensor

@Suite struct AWQFormatTests {
    func formatBytes(_ m: LlamaModel) throws -> [[UInt8]] {
        try m.blocks.flatMap(\.linears).map { try #require($0.quantizer as? GGMLQuantizer).bytes }
    }

    @Test(arguments: ["q4_0", "q4_1", "q3_k"])
    func oneAlphaIsLlamaCppsRTN(_ name: String) throws {
        let f = try GGMLFormats.named(name)
        let awq = try ptqTinyModel(kvHeads: 2, seed: 40), rtn = try ptqTinyModel(kvHeads: 2, seed: 40)
        let calib = try ptqRandomCalibration(vocab: 97, count: 2, seqlen: 32, seed: 3)
        let counts = try quantizeAWQ(model: awq, calibration: calib, format: f, options: AWQOptions(grid: 1))
        let rtnCounts = try GGMLQuantization.apply(to: rtn, format: f)
        #expect(counts.map(\.format) == rtnCounts.map(\.format) && counts.map(\.linears) == rtnCounts.map(\.linears))
        #expect(try formatBytes(awq) == (try formatBytes(rtn)))
        for (a, r) in zip(awq.blocks, rtn.blocks) {
            #expect(a.attnNorm.value.toArray() == r.attnNorm.value.toArray() && a.ffnNorm.value.toArray() == r.ffnNorm.value.toArray())
        }
    }

    func blockOutputErrors(_ make: () throws -> LlamaModel, format: GGMLFormat) throws -> (awq: Double, rtn: Double) {
        let awq = try make(), rtn = try make(), fp = try make()
        let calib = try ptqRandomCalibration(vocab: 97, count: 4, seqlen: 64, seed: 81)
        try quantizeAWQ(model: awq, calibration: calib, format: format)
        try GGMLQuantization.apply(to: rtn, format: format)
        let rope = fp.ropeTable(positions: 64)
        let x = try Calibration.blockInputs(model: fp, calibration: calib)
        let y = try Calibration.outputs(block: fp.blocks[0], inputs: x, rope: rope)
        return (try ptqBlockError(awq.blocks[0], x, y, rope: rope), try ptqBlockError(rtn.blocks[0], x, y, rope: rope))
    }

    @Test func searchedScalesBeatRTNInQ4_0() throws {
        let e = try blockOutputErrors({ try ptqTinyModel(kvHeads: 2, layers: 1, seed: 80) }, format: .q4_0)
        #expect(e.awq < e.rtn, "AWQ \(e.awq) vs RTN \(e.rtn)")
    }

    @Test func searchedScalesBeatRTNInQ2_K() throws {
        let e = try blockOutputErrors({ try ggmlKTinyModel(seed: 41) }, format: .q2_k)
        #expect(e.awq < e.rtn, "AWQ \(e.awq) vs RTN \(e.rtn)")
    }

    @Test func badOptionsAreRefusedBeforeAnyChange() throws {
        let m = try ptqTinyModel(kvHeads: 2, seed: 40)
        let calib = try ptqRandomCalibration(vocab: 97, count: 2, seqlen: 16, seed: 3)
        let norms = m.blocks.map { $0.attnNorm.value.toArray() }
        #expect(throws: TensorError.self) { try quantizeAWQ(model: m, calibration: calib, format: .q4_0, options: AWQOptions(grid: 0)) }
        #expect(m.blocks.flatMap(\.linears).allSatisfy { $0.quantizer == nil })
        #expect(m.blocks.map { $0.attnNorm.value.toArray() } == norms)
    }
}
