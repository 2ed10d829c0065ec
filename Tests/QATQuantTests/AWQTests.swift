// AWQ: the quantizer against its formulas, scale normalisation, folding keeps the full-precision
// function (norm gains, v rows, up rows), GQA skips v -> o, the clip search never loses to no
// clipping, searchWindows bounds only the scale search's loss; and the acceptance check on
// SmolLM2: AWQ's block output error below RTN's at w3g128 on blocks 0-2 (inputs from the
// full-precision chain).
import Foundation
import Testing
@testable import QATModel
@testable import QATQuant
import QATAutograd
import QATTensor

/// sum (block(x) - reference)^2 over the micro-batches.
func ptqBlockError(_ block: DecoderBlock, _ xs: [Tensor], _ reference: [Tensor], rope: RopeTable) throws -> Double {
    var e = 0.0
    for (x, ref) in zip(xs, reference) {
        let y = try Calibration.activation(at: .output, block: block, input: x, rope: rope)
        for i in 0..<y.count { let d = Double(y.data[i]) - Double(ref.data[i]); e += d * d }
    }
    return e
}

/// Block output error with every linear replaced by `quantize(weight)` (weights restored after).
func ptqBlockErrorWith(_ block: DecoderBlock, _ xs: [Tensor], _ reference: [Tensor], rope: RopeTable,
                       _ quantize: (Tensor) throws -> Tensor) throws -> Double {
    let saved = block.linears.map { $0.weight }
    defer { for (l, w) in zip(block.linears, saved) { l.weight = w } }
    for l in block.linears { l.weight = Var(try quantize(l.weight.value)) }
    return try ptqBlockError(block, xs, reference, rope: rope)
}

@Suite struct AWQTests {
    @Test func quantizerFollowsTheFormulas() throws {
        let spec = try QuantSpec(bits: 3, groupSize: 4)
        // group 0 all positive: min is not forced to 0; group 1 mixed; group 2 (ragged, 2 wide) constant
        let w = try Tensor(shape: [1, 10], [0.1, 0.3, 0.5, 0.8, -0.7, 0.0, 0.35, 0.7, 0.25, 0.25])
        let qw = try awqQuantize(weight: w, spec: spec)
        #expect(qw.groupCount == 3)
        #expect(abs(qw.scales[0] - 0.1) < 1e-7 && qw.zeros[0] == 0)            // (0.8 - 0.1) / 7, z = clamp(-1) = 0
        #expect(abs(qw.scales[1] - 0.2) < 1e-7)                                // 1.4 / 7
        #expect(qw.zeros[1] == min(max(-(Float(-0.7) / qw.scales[1]).rounded(.toNearestOrEven), 0), 7))
        #expect(qw.scales[2] == 1e-4 && qw.zeros[2] == 0)                      // max(0, 1e-5)/7 lifted to QATLab's 1e-4
        #expect(Array(qw.codes[0..<4]) == [1, 3, 5, 7])                       // 0.8 / 0.1 = 8 clamps to 7: z = 0 cannot move
        #expect(Array(qw.codes[8..<10]) == [7, 7])
        #expect(qw.dequantized().toArray() == awqFakeQuantize(weight: w, spec: spec).toArray())
        let big = try Tensor.randn([33, 300], seed: 2, std: 0.1)
        let g128 = try QuantSpec(bits: 4, groupSize: 128)
        #expect(try awqQuantize(weight: big, spec: g128).dequantized().toArray() == awqFakeQuantize(weight: big, spec: g128).toArray())
    }

    @Test func candidateScalesAreNormalised() {
        let stats: [Float] = [0.5, 2, 8, 0, 1]
        #expect(awqCandidateScales(stats, alpha: 0) == [1, 1, 1, 1, 1])
        let s = awqCandidateScales(stats, alpha: 0.5)
        #expect(abs((s.max() ?? 0) * (s.min() ?? 0) - 1) < 1e-5)
        #expect(abs(s[2] / s[0] - 4) < 1e-5)          // (8 / 0.5)^0.5
        #expect(abs(s[3] / s[0] - 1e-4 / Float(0.5).squareRoot()) < 1e-7)   // a dead channel is clamped to 1e-4 before normalising
    }

    @Test func foldingKeepsTheFullPrecisionModel() throws {
        let model = try ptqTinyModel(kvHeads: 4, seed: 60), reference = try ptqTinyModel(kvHeads: 4, seed: 60)
        let calib = try ptqRandomCalibration(vocab: 97, count: 4, seqlen: 48, seed: 61)
        let spec = try QuantSpec(bits: 3, groupSize: 32)
        let reports = try quantizeAWQ(model: model, calibration: calib, spec: spec, options: AWQOptions(clip: false))
        #expect(reports.map(\.group) == Array(repeating: ["attn_norm -> q,k,v", "v -> o", "ffn_norm -> gate,up", "up -> down"], count: 2).flatMap { $0 })
        #expect(reports.contains { $0.alpha > 0 }, "some group should prefer scaling on loud channels")
        for r in reports { #expect(r.loss <= r.lossWithoutScaling) }
        // quantized weights installed are AWQ's quantization of the folded weights
        for b in model.blocks { for l in b.linears {
            let hq = try #require(l.quantizer as? HardQuantizer)
            #expect(try hq.dequantized().value.toArray() == awqQuantize(weight: l.weight.value, spec: spec).dequantized().toArray())
        } }
        for b in model.blocks { for l in b.linears { l.quantizer = nil } }
        let tokens = calib.windows[0]
        let a = try model.logits(tokens), b = try reference.logits(tokens)
        var worst: Float = 0, scale: Float = 0
        for i in 0..<a.count { worst = max(worst, abs(a.data[i] - b.data[i])); scale = max(scale, abs(b.data[i])) }
        #expect(worst <= 1e-4 * scale, "folded full-precision model differs by \(worst) (logit scale \(scale))")
        #expect(model.blocks[0].attnNorm.value.toArray() != reference.blocks[0].attnNorm.value.toArray())
    }

    @Test func gqaSkipsValueToOutputAndClipNeverLoses() throws {
        let model = try ptqTinyModel(kvHeads: 2, layers: 1, seed: 70)
        let calib = try ptqRandomCalibration(vocab: 97, count: 4, seqlen: 64, seed: 71)
        var lines: [String] = []
        let reports = try quantizeAWQ(model: model, calibration: calib, spec: try QuantSpec(bits: 3, groupSize: 32)) { lines.append($0) }
        #expect(reports.map(\.group) == ["attn_norm -> q,k,v", "ffn_norm -> gate,up", "up -> down"])
        #expect(lines.contains { $0.contains("v -> o skipped") })

        // clip search: the chosen max_val never has a larger error than no clipping (step 0)
        let spec = try QuantSpec(bits: 2, groupSize: 16)
        let w = try Tensor.randn([12, 48], seed: 72, std: 0.05)
        for i in [0, 100, 300] { w.data[i] *= 6 }   // outliers that clipping should cut
        let x = try Tensor.randn([256, 48], seed: 73)
        let best = awqClipSearch(weight: w, inputs: x, spec: spec, steps: 10)
        let clipped = Tensor(uninitialized: [12, 48]); clipped.data.update(from: w.data, count: w.count)
        awqApplyClip(clipped, maxVal: best, spec: spec)
        let eClip = try ptqOutputError(x, w, awqFakeQuantize(weight: clipped, spec: spec))
        let eNone = try ptqOutputError(x, w, awqFakeQuantize(weight: w, spec: spec))
        #expect(eClip < eNone, "clipped \(eClip) vs unclipped \(eNone)")
        #expect(best.contains { $0 < 0.99 * 0.3 })
    }

    @Test func searchWindowsBoundsTheSearchOnly() throws {
        // the helper: whole batches as they are, the last one cut to its leading windows
        let a = try Tensor.randn([3, 4, 2], seed: 90), b = try Tensor.randn([2, 4, 2], seed: 91)
        let four = try awqLeadingWindows([a, b], windows: 4)
        #expect(four.count == 2 && four[0] === a && four[1].shape == [1, 4, 2])
        #expect(four[1].toArray() == Array(b.toArray()[0..<8]))
        #expect(try awqLeadingWindows([a, b], windows: 10).map(\.shape) == [[3, 4, 2], [2, 4, 2]])

        let calib = try ptqRandomCalibration(vocab: 97, count: 4, seqlen: 48, seed: 92)
        let spec = try QuantSpec(bits: 3, groupSize: 32)
        func run(_ c: CalibrationSet, _ o: AWQOptions) throws -> (LlamaModel, [AWQScaleReport], [String]) {
            let m = try ptqTinyModel(kvHeads: 4, seed: 93)
            var lines: [String] = []
            let r = try quantizeAWQ(model: m, calibration: c, spec: spec, options: o) { lines.append($0) }
            return (m, r, lines)
        }
        // K >= the windows: the same numbers as no K
        let (all, rAll, _) = try run(calib, AWQOptions()), (same, rSame, _) = try run(calib, AWQOptions(searchWindows: 4))
        #expect(rAll.map(\.loss) == rSame.map(\.loss))
        for (x, y) in zip(all.blocks, same.blocks) { for (l, k) in zip(x.linears, y.linears) { #expect(l.weight.value.toArray() == k.weight.value.toArray()) } }
        // K = 1: block 0's unscaled loss (alpha 0, s = 1, block inputs are embeddings) is the one
        // of a calibration set holding only the first window, and the log says how many were searched
        let (_, rOne, lines) = try run(calib, AWQOptions(searchWindows: 1))
        let (_, rFirst, _) = try run(try CalibrationSet(windows: [calib.windows[0]]), AWQOptions())
        #expect(rOne[0].lossWithoutScaling == rFirst[0].lossWithoutScaling)
        #expect(rOne[0].lossWithoutScaling != rAll[0].lossWithoutScaling)
        #expect(lines.contains { $0.hasSuffix("searched on 1 windows") })
        #expect(throws: TensorError.self) { try run(calib, AWQOptions(searchWindows: 0)) }
    }

    @Test func tinyModelBlockOutputBeatsRTN() throws {
        let model = try ptqTinyModel(kvHeads: 2, layers: 1, seed: 80), fp = try ptqTinyModel(kvHeads: 2, layers: 1, seed: 80)
        let calib = try ptqRandomCalibration(vocab: 97, count: 4, seqlen: 64, seed: 81)
        let spec = try QuantSpec(bits: 3, groupSize: 32)
        try quantizeAWQ(model: model, calibration: calib, spec: spec)
        let rope = fp.ropeTable(positions: 64)
        let x = try Calibration.blockInputs(model: fp, calibration: calib)
        let y = try Calibration.outputs(block: fp.blocks[0], inputs: x, rope: rope)
        let eAWQ = try ptqBlockError(model.blocks[0], x, y, rope: rope)
        let eRTN = try ptqBlockErrorWith(fp.blocks[0], x, y, rope: rope) { awqFakeQuantize(weight: $0, spec: spec) }
        #expect(eAWQ < eRTN, "AWQ \(eAWQ) vs RTN \(eRTN)")
    }

    /// The acceptance check: block outputs on the full-precision chain's inputs.
    @Test func smolLM2AWQBeatsRTNOnTheBlockOutput() throws {
        let awq = try ptqLoadSmolLM2(), fp = try ptqLoadSmolLM2()
        let calib = try ptqCalibration(awq.tokenizer, count: 8)
        let spec = try QuantSpec(bits: 3, groupSize: 128)
        let start = ContinuousClock.now
        let reports = try quantizeAWQ(model: awq.model, calibration: calib, spec: spec, options: AWQOptions(blocks: 0..<3))
        let elapsed = ContinuousClock.now - start
        var table = ["block  AWQ error    RTN(min/max)  RTN(incl. 0)"]
        var x = try Calibration.blockInputs(model: fp.model, calibration: calib)
        let rope = fp.model.ropeTable(positions: calib.seqlen)
        for bi in 0..<3 {
            let fpBlock = fp.model.blocks[bi]
            let y = try Calibration.outputs(block: fpBlock, inputs: x, rope: rope)
            let eAWQ = try ptqBlockError(awq.model.blocks[bi], x, y, rope: rope)
            let eMinMax = try ptqBlockErrorWith(fpBlock, x, y, rope: rope) { awqFakeQuantize(weight: $0, spec: spec) }
            let eZero = try ptqBlockErrorWith(fpBlock, x, y, rope: rope) { ptqRTNIncludingZero($0, spec: spec) }
            #expect(eAWQ < eMinMax && eAWQ < eZero, "block \(bi): AWQ \(eAWQ) vs RTN \(eMinMax) / \(eZero)")
            table.append("\(bi)      \(String(format: "%10.5g  %12.5g  %12.5g", eAWQ, eMinMax, eZero))")
            x = y
        }
        for r in reports { table.append("blocks.\(r.block) \(r.group): alpha \(r.alpha) loss \(r.loss) (alpha 0: \(r.lossWithoutScaling))") }
        table.append("quantizeAWQ on 3 blocks (8 x 256 tokens) took \(elapsed)")
        print(table.joined(separator: "\n"))
    }
}
