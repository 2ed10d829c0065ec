// Min/max initialization on hand-worked groups, the fake and hard quantizers, and the exactness
// of fake -> hard conversion.
import QATAutograd
import QATModel
import QATQuant
import QATTensor
import Testing

@Suite struct RangeInitTests {
    /// 2 bits (qmax 3), groups of 4, one row per case. Worked by hand:
    ///   [-0.3, 0.1, 0.5, 0.2] minMax:       s = 0.8/3,  z = round(0.3/s = 1.125) = 1
    ///   [0.2, 0.5, 0.4, 0.3]  minMax:       s = 0.3/3 = 0.1, z = round(-2) = -2 (z' clamps to 0)
    ///   [0.2, 0.5, 0.4, 0.3]  includeZero:  range [0, 0.5]: s = 0.5/3, z = 0
    ///   [-0.6, -0.2, -0.4, -0.3] includeZero: range [-0.6, 0]: s = 0.2, z = round(3) = 3
    ///   [0, 0, 0, 0]          includeZero:  [-1, 1]: s = 2/3, z = round(1.5) = 2 (half to even)
    ///   [0, 0, 0, 0]          minMax:       s = 0 -> 1e-4, z = 0
    @Test func handWorkedGroups() throws {
        let spec = try QuantSpec(bits: 2, groupSize: 4)
        let cases: [([Float], RangeInit, Float, Float)] = [
            ([-0.3, 0.1, 0.5, 0.2], .minMax, Float(0.8) / 3, 1),
            ([0.2, 0.5, 0.4, 0.3], .minMax, Float(0.3) / 3, -2),
            ([0.2, 0.5, 0.4, 0.3], .includeZero, Float(0.5) / 3, 0),
            ([-0.6, -0.2, -0.4, -0.3], .includeZero, Float(0.6) / 3, 3),
            ([0, 0, 0, 0], .includeZero, Float(2) / 3, 2),
            ([0, 0, 0, 0], .minMax, 1e-4, 0),
        ]
        for (w, range, s, z) in cases {
            let (sc, zc) = try initialQuantParameters(weight: try Tensor(shape: [1, 4], w), spec: spec, range: range)
            #expect(abs(sc.scalar - s) <= 1e-7 * s && zc.scalar == z, "\(w) \(range): s \(sc.scalar) z \(zc.scalar)")
        }
    }

    /// A row of 576 at g128: 5 groups, the last over columns 512..<576 only.
    @Test func raggedLastGroupUsesItsOwnColumns() throws {
        var values = [Float](repeating: 0.1, count: 576)
        values[0] = -0.5; values[100] = 1        // group 0: [-0.5, 1]
        values[520] = -0.25; values[575] = 0.5   // group 4 (64 columns): [-0.25, 0.5]
        let (s, z) = try initialQuantParameters(weight: try Tensor(shape: [1, 576], values), spec: try QuantSpec(bits: 4, groupSize: 128), range: .minMax)
        #expect(s.shape == [1, 5])
        #expect(abs(s.data[0] - 0.1) < 1e-7 && z.data[0] == 5)               // 0.5/0.1 = 5
        #expect(abs(s.data[4] - 0.75 / 15) < 1e-7 && z.data[4] == 5)         // 0.25/0.05 = 5
        #expect(s.data[1] == 1e-4)                                           // constant group
    }

    @Test func roundToNearestErrorIsWithinHalfAStep() throws {
        let w = try Tensor.randn([8, 576], seed: 4, std: 0.02)
        for bits in 2...8 {
            let spec = try QuantSpec(bits: bits, groupSize: 128)
            for range in RangeInit.allCases {
                let qw = try roundToNearest(weight: w, spec: spec, range: range)
                let d = qw.dequantized()
                for i in 0..<w.count {
                    let s = qw.scales[(i / 576) * 5 + (i % 576) / 128]
                    #expect(abs(d.data[i] - w.data[i]) <= s * 0.5001, "w\(bits) \(range) element \(i)")
                }
            }
        }
    }
}

@Suite struct QuantizerTests {
    /// Random weights incl. ragged groups, 2..8 bits, with s and z moved off their init (as
    /// training leaves them, z partly out of range): hardening gives codes whose dequantization
    /// (the kernel, QuantizedWeight.dequantized, and HardQuantizer) equals W-hat bit for bit.
    @Test func fakeToHardIsExact() throws {
        for bits in 2...8 {
            for (i, sh) in kernelShapes.enumerated() {
                let c = try QuantCase(rows: sh.rows, cols: sh.cols, bits: bits, group: sh.group, seed: UInt64(700 + bits * 10 + i))
                let fq = try FakeQuantizer(spec: c.spec, cols: sh.cols, scales: c.s, zeros: c.z)
                let w = Var(c.w, requiresGrad: true)
                let what = try fq.effectiveWeight(w).value
                let qw = try fq.harden(weight: c.w)
                #expect(bitsEqual(qw.dequantized(), what), "w\(bits) \(sh)")
                let hq = try HardQuantizer(qw)
                #expect(bitsEqual(try hq.effectiveWeight(w).value, what), "w\(bits) \(sh)")
                let back = try hq.quantized
                #expect(back.codes == qw.codes && back.scales == qw.scales && back.zeros == qw.zeros)
                #expect(qw.zeros.allSatisfy { $0 >= 0 && $0 <= Float(c.spec.qmax) && $0 == $0.rounded() })
            }
        }
    }

    @Test func fakeQuantizerInLinear() throws {
        let w = try Tensor.randn([12, 200], seed: 1, std: 0.02)
        let linear = Linear(name: "q_proj", weight: w)
        let fq = try FakeQuantizer(weight: w, spec: try QuantSpec(bits: 3, groupSize: 64), name: "q_proj")
        linear.quantizer = fq
        #expect(fq.parameters.map { $0.0 } == ["q_proj.scales", "q_proj.zeros"])
        #expect(fq.summary == "w3g64 fake, trains q_proj.scales, q_proj.zeros")
        let x = Var(try Tensor.randn([2, 3, 200], seed: 2))
        let y = try linear.forward(x)
        let expected = try Var.linear(x, weight: fq.effectiveWeight(linear.weight), bias: nil)
        #expect(bitsEqual(y.value, expected.value))
        try y.sum().backward()
        #expect(linear.weight.grad != nil && fq.scales.grad != nil && fq.zeros.grad != nil)
        // W frozen through the Linear's own flag
        linear.weight.requiresGrad = false; linear.weight.zeroGrad(); fq.scales.zeroGrad()
        try linear.forward(x).sum().backward()
        #expect(linear.weight.grad == nil && fq.scales.grad != nil)
    }

    /// Hard mode: W's gradient never exists, s gets sum g * (q - z'), z only when made trainable.
    @Test func hardQuantizerGradients() throws {
        let c = try QuantCase(rows: 6, cols: 576, bits: 2, group: 128, seed: 12)
        let qw = try hardQuantize(weight: c.w, scales: c.s, zeros: c.z, spec: c.spec)
        let g = try Tensor.randn(c.w.shape, seed: 13)
        let ref = (Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape))
        dequantBackwardReference(qw.codes, scales: qw.scales, zeros: qw.zeros, groupIndex: nil, g.data, ds: ref.0.data, dz: ref.1.data, layout: c.layout)
        for trainZeros in [false, true] {
            let hq = try HardQuantizer(qw, name: "down_proj", trainZeros: trainZeros)
            let w = Var(c.w, requiresGrad: true)
            try (hq.effectiveWeight(w) * Var(g)).sum().backward()
            #expect(w.grad == nil)
            #expect(hq.scales.grad.map { worstError($0, ref.0, atol: 1e-3) <= 1 } == true)
            if trainZeros { #expect(hq.zeros.grad.map { worstError($0, ref.1, atol: 1e-6) <= 1 } == true) }
            else { #expect(hq.zeros.grad == nil) }
        }
    }

    /// GPTQ act-order weights: a column -> group map; dequantization matches QuantizedWeight's own.
    @Test func hardQuantizerWithGroupIndex() throws {
        let rows = 3, cols = 40, spec = try QuantSpec(bits: 4, groupSize: 16)
        var rng = SeededRandom(seed: 21)
        let codes = (0..<(rows * cols)).map { _ in UInt8(rng.next() % 16) }
        let gidx = (0..<cols).map { Int32(($0 * 7) % 3) }
        let scales = (0..<(rows * 3)).map { _ in 0.01 + 0.02 * rng.uniform() }
        let zeros = (0..<(rows * 3)).map { _ in Float(rng.next() % 16) }
        let qw = try QuantizedWeight(spec: spec, rows: rows, cols: cols, codes: codes, scales: scales, zeros: zeros, groupIndex: gidx)
        let hq = try HardQuantizer(qw)
        let d = try hq.dequantized()
        #expect(bitsEqual(d.value, qw.dequantized()))
        try d.sum().backward()
        let ref = Tensor(zeros: [rows, 3]), ones = try Tensor.ones([rows, cols])
        dequantBackwardReference(codes, scales: scales, zeros: zeros, groupIndex: gidx, ones.data, ds: ref.data, dz: nil,
                                 layout: QuantLayout(rows: rows, cols: cols, spec: spec, groups: 3))
        #expect(hq.scales.grad.map { worstError($0, ref, atol: 1e-4) <= 1 } == true)
    }

    @Test func badInputsThrow() throws {
        let spec = try QuantSpec(bits: 2, groupSize: 4)
        let qw = try QuantizedWeight(spec: spec, rows: 1, cols: 4, codes: [0, 1, 2, 9], scales: [1], zeros: [0])
        #expect(throws: TensorError.self) { try HardQuantizer(qw) }
        let fq = try FakeQuantizer(weight: Tensor(zeros: [2, 8]), spec: spec)
        #expect(throws: TensorError.self) { try fq.harden(weight: Tensor(zeros: [2, 4])) }
        #expect(throws: TensorError.self) { try fq.effectiveWeight(Var(Tensor(zeros: [2, 12]))) }
    }
}
