// The grid table (QuantGrid.swift): its rows and lookup, each row's reference formulas against the
// fast kernels bit for bit, its bits per weight against hand-computed numbers, and the grid name
// in native checkpoints (written, read back, absent in old checkpoints, damaged).
import Foundation
import QATIO
import QATModel
import QATQuant
import QATTensor
import Testing

@Suite struct QuantGridTableTests {
    @Test func tableListsBothRows() throws {
        #expect(QuantGrids.all.map(\.name) == ["int_asym", "int_asym_fractional_zero"])
        #expect(try QuantGrids.named("int_asym") == .intAsym)
        #expect(try QuantGrids.named("int_asym_fractional_zero") == .intAsymFractionalZero)
        #expect(QuantGrid.intAsym.zeroIsIntegral && QuantGrid.intAsym.roundsZeros)
        #expect(!QuantGrid.intAsymFractionalZero.zeroIsIntegral && !QuantGrid.intAsymFractionalZero.roundsZeros)
        for grid in QuantGrids.all {
            #expect(grid.codes(bits: 2) == 0...3 && grid.codes(bits: 3) == 0...7 && grid.codes(bits: 8) == 0...255)
            #expect(!grid.summary.isEmpty)
        }
        guard case .packed = QuantGrid.intAsym.gptq else { Issue.record("int_asym must export as GPTQ"); return }
        guard case .notExportable(let reason) = QuantGrid.intAsymFractionalZero.gptq else {
            Issue.record("fractional zeros cannot be GPTQ qzeros"); return
        }
        #expect(reason.contains("integer"))
    }

    @Test func unknownNameListsTheKnownOnes() {
        do {
            _ = try QuantGrids.named("q4_0")
            Issue.record("an unknown grid was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("q4_0") && text.contains("int_asym,") && text.contains("int_asym_fractional_zero"), "\(text)")
        }
    }

    /// Hand-computed: int_asym N + (N + 16) / g, fractional zeros N + 32 / g; AverageBits asks the
    /// installed quantizer's row.
    @Test func bitsPerWeightAreTheHandNumbers() throws {
        #expect(QuantGrid.intAsym.bitsPerWeight(2, 64) == 2.28125)                   // 2 + 18/64
        #expect(QuantGrid.intAsym.bitsPerWeight(3, 128) == 3.1484375)                // 3 + 19/128
        #expect(QuantGrid.intAsym.bitsPerWeight(4, 32) == 4.625)                     // 4 + 20/32
        #expect(QuantGrid.intAsymFractionalZero.bitsPerWeight(2, 64) == 2.5)         // EfficientQAT Table 6
        #expect(QuantGrid.intAsymFractionalZero.bitsPerWeight(3, 128) == 3.25)       // 3 + 32/128
        let model = try ModelLoader.load("tiny").model
        try QuantPolicy(try QuantSpec(bits: 2, groupSize: 64)).apply(to: model, mode: .hard)
        let q = try #require(model.blocks[0].q.quantizer as? HardQuantizer)
        #expect(q.grid == .intAsym && AverageBits.perWeight(model.blocks[0].q) == 2.28125)
        q.grid = .intAsymFractionalZero
        #expect(q.fractionalZeros && AverageBits.perWeight(model.blocks[0].q) == 2.5)
    }
}

@Suite struct QuantGridKernelTests {
    /// (rows, cols, group): groups that divide the row, a ragged last group, whole rows, group 1.
    static let shapes: [(Int, Int, Int)] = [(5, 64, 16), (4, 77, 32), (3, 40, 7), (3, 50, -1), (2, 9, 1)]

    /// Stored parameters that reach every branch: zeros off the integers (x.5 rounds to even),
    /// below 0 and above qmax; one scale under the 1e-4 clamp.
    static func parameters(_ w: Tensor, spec: QuantSpec, grid: QuantGrid) throws -> (Tensor, Tensor) {
        let (s, z) = try initialQuantParameters(weight: w, spec: spec, range: .minMax, grid: grid)
        let offsets: [Float] = [0, 0.3, -0.4, 0.5, 1.5, -7, 40]
        for i in 0..<z.count { z.data[i] += offsets[i % offsets.count] }
        s.data[0] = 5e-5
        return (s, z)
    }

    /// quantizeCodes, fakeQuantForward (for rows whose kernel rounds z) and dequantForward, with
    /// the layout the row selects, equal the row's per-element `code` and `dequantize`.
    @Test(arguments: [QuantGrid.intAsym, .intAsymFractionalZero])
    func referenceEqualsTheFastKernels(grid: QuantGrid) throws {
        for (k, (rows, cols, group)) in Self.shapes.enumerated() {
            for bits in [2, 3, 4] {
                let spec = try QuantSpec(bits: bits, groupSize: group)
                let w = try Tensor.randn([rows, cols], seed: UInt64(31 * k + bits), std: 0.05)
                let (s, z) = try Self.parameters(w, spec: spec, grid: grid)
                let l = QuantLayout(rows: rows, cols: cols, spec: spec, grid: grid)
                let qmax = Float(spec.qmax), g = l.groupSize
                var codes = [UInt8](repeating: 0, count: rows * cols)
                codes.withUnsafeMutableBufferPointer { q in
                    if let qp = q.baseAddress { quantizeCodes(w.data, scales: s.data, zeros: z.data, qp, layout: l) }
                }
                let dequant = Tensor(zeros: [rows, cols]), fake = Tensor(zeros: [rows, cols])
                codes.withUnsafeBufferPointer { q in
                    if let qp = q.baseAddress { dequantForward(qp, scales: s.data, zeros: z.data, groupIndex: nil, dequant.data, layout: l) }
                }
                fakeQuantForward(w.data, scales: s.data, zeros: z.data, fake.data, layout: l)
                var mismatches = 0
                for r in 0..<rows {
                    for c in 0..<cols {
                        let i = r * cols + c, p = r * l.groups + c / g
                        let code = grid.code(w.data[i], s.data[p], z.data[p], qmax)
                        let ref = grid.dequantize(code, s.data[p], z.data[p], qmax)
                        if Float(codes[i]) != code || dequant.data[i].bitPattern != ref.bitPattern { mismatches += 1 }
                        if grid.roundsZeros && fake.data[i].bitPattern != ref.bitPattern { mismatches += 1 }
                    }
                }
                #expect(mismatches == 0, "\(grid) \(spec) on \(rows)x\(cols)")
                // the autograd op a HardQuantizer runs selects the same kernel from its grid
                let hq = try HardQuantizer(try QuantizedWeight(spec: spec, rows: rows, cols: cols, codes: codes,
                                                               scales: s.toArray(), zeros: z.toArray()), grid: grid)
                #expect(bitsEqual(try hq.dequantized().value, dequant), "\(grid) \(spec): HardQuantizer")
            }
        }
    }
}

@Suite struct QuantGridCheckpointTests {
    /// Block 0's q_proj on the fractional grid with integer zeros (only the recorded name can tell),
    /// block 1's k_proj with fractional zeros, the rest int_asym.
    static func model() throws -> LlamaModel {
        let model = try TinyModels.model(seed: 41)
        try TinyModels.quantize(model, seed: 3) { _, _ in try QuantSpec(bits: 3, groupSize: 32) }
        let q0 = try #require(model.blocks[0].q.quantizer as? HardQuantizer)
        q0.grid = .intAsymFractionalZero
        let k1 = try #require(model.blocks[1].k.quantizer as? HardQuantizer)
        k1.grid = .intAsymFractionalZero
        for i in 0..<k1.zeros.value.count { k1.zeros.value.data[i] = min(max(k1.zeros.value.data[i], 0.2), 6.5) + 0.25 }
        return model
    }

    static func grids(_ model: LlamaModel) -> [String] {
        model.blocks.flatMap { $0.linears.map { ($0.quantizer as? HardQuantizer)?.grid.name ?? "none" } }
    }

    static func weights(_ model: LlamaModel) throws -> [[UInt32]] {
        try model.blocks.flatMap { try $0.linears.map { try $0.effectiveWeight().value.toArray().map(\.bitPattern) } }
    }

    @Test func eachGridReadsBackAsWritten() throws {
        let tmp = try ScratchDir(), model = try Self.model()
        try NativeCheckpoint.write(model, to: tmp.sub("c"), method: "e2eqp", source: "test-model")
        let m = try NativeCheckpoint.readManifest(tmp.sub("c"))
        #expect(m.grids?.count == 14)
        #expect(m.grids?["model.layers.0.self_attn.q_proj"] == "int_asym_fractional_zero")
        #expect(m.grids?["model.layers.1.self_attn.k_proj"] == "int_asym_fractional_zero")
        #expect(m.grids?["model.layers.1.mlp.up_proj"] == "int_asym")
        let back = try QuantCheckpoint.read(tmp.sub("c")).model
        #expect(Self.grids(back) == Self.grids(model))
        #expect(try Self.weights(back) == Self.weights(model))
        #expect(abs(AverageBits.blockLinears(back) - AverageBits.blockLinears(model)) == 0)
    }

    /// A qatlab.json without "grids" (written before the field): each linear gets the grid its
    /// zeros imply, as HardQuantizer always inferred it, with the same weights.
    @Test func oldCheckpointWithoutGridsLoadsAsBefore() throws {
        let tmp = try ScratchDir(), model = try Self.model()
        try NativeCheckpoint.write(model, to: tmp.sub("c"), method: "e2eqp", source: "test-model")
        try Self.editManifest(tmp.sub("c")) { $0.removeValue(forKey: "grids") }
        #expect(try NativeCheckpoint.readManifest(tmp.sub("c")).grids == nil)
        let back = try QuantCheckpoint.read(tmp.sub("c")).model
        var expected = Self.grids(model)
        expected[0] = "int_asym"   // integer zeros: inferred int_asym, as before
        #expect(Self.grids(back) == expected)
        #expect(expected[7 + 1] == "int_asym_fractional_zero")
        #expect(try Self.weights(back) == Self.weights(model))
    }

    @Test func damagedGridFieldsAreErrors() throws {
        let tmp = try ScratchDir(), model = try Self.model()
        try NativeCheckpoint.write(model, to: tmp.sub("c"), method: "e2eqp", source: "test-model")
        try Self.editManifest(tmp.sub("c")) { m in
            m["grids"] = ["model.layers.0.mlp.up_proj": "int_q9"]
        }
        let unknown = #expect(throws: FormatError.self) { try QuantCheckpoint.read(tmp.sub("c")) }
        #expect("\(unknown.map { "\($0)" } ?? "")".contains("int_q9"))
        try Self.editManifest(tmp.sub("c")) { m in
            m["grids"] = ["model.layers.1.self_attn.k_proj": "int_asym"]   // its zeros are fractional
        }
        let integral = #expect(throws: FormatError.self) { try QuantCheckpoint.read(tmp.sub("c")) }
        #expect("\(integral.map { "\($0)" } ?? "")".contains("k_proj.zeros"))
        // and GPTQ refuses a linear whose row is not exportable
        let gptq = #expect(throws: FormatError.self) { try GPTQCheckpoint.write(model, to: tmp.sub("g")) }
        #expect("\(gptq.map { "\($0)" } ?? "")".contains("not exportable as GPTQ"))
    }

    static func editManifest(_ dir: String, _ edit: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: dir + "/qatlab.json")
        var obj = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&obj)
        try JSONSerialization.data(withJSONObject: obj).write(to: url)
    }
}
