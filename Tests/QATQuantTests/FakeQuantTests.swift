// The fake-quant and dequant kernels against their references and against the spec's table
// (efficientqat.md 2.3-2.5) on a hand-worked example; the autograd ops' gradients and frozen subsets.
import QATAutograd
import QATQuant
import QATTensor
import Testing

/// A weight with outliers and (scales, zeros) that exercise every case of the table: elements
/// below and above the code range, zeros that clamp below 0 and above qmax, scales below 1e-4.
struct QuantCase {
    let w: Tensor, s: Tensor, z: Tensor, spec: QuantSpec, layout: QuantLayout

    init(rows: Int, cols: Int, bits: Int, group: Int, seed: UInt64) throws {
        spec = try QuantSpec(bits: bits, groupSize: group)
        layout = QuantLayout(rows: rows, cols: cols, spec: spec)
        w = try Tensor.randn([rows, cols], seed: seed, std: 0.02)
        var rng = SeededRandom(seed: seed &+ 100)
        for i in 0..<w.count where rng.next() % 16 == 0 { w.data[i] *= 8 }   // outliers past the range
        (s, z) = try initialQuantParameters(weight: w, spec: spec, range: .minMax)
        let qmax = Float(spec.qmax)
        for p in 0..<s.count {
            switch rng.next() % 8 {
            case 0: z.data[p] = -3.4                        // z' clamps to 0
            case 1: z.data[p] = qmax + 2.6                  // z' clamps to qmax
            case 2: s.data[p] *= 0.6                        // a narrower range: more codes clamp
            case 3: s.data[p] = 3e-5                        // s' clamps to 1e-4
            case 4: z.data[p] += 0.4 * (rng.uniform() - 0.5)  // z trained off the integers
            default: break
            }
        }
    }

    /// Elements (below, inside, above) the code range, counted by the spec's definition.
    func caseCounts() -> (below: Int, inside: Int, above: Int) {
        var c = (below: 0, inside: 0, above: 0)
        let qmax = Float(spec.qmax)
        for row in 0..<layout.rows {
            for col in 0..<layout.cols {
                let p = row * layout.groups + col / layout.groupSize
                let sp = min(max(s.data[p], 1e-4), 1e4), zp = min(max(z.data[p].rounded(.toNearestOrEven), 0), qmax)
                let u = (w.data[row * layout.cols + col] / sp).rounded(.toNearestOrEven) + zp
                if u < 0 { c.below += 1 } else if u > qmax { c.above += 1 } else { c.inside += 1 }
            }
        }
        return c
    }
}

func bitsEqual(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && (0..<a.count).allSatisfy { a.data[$0].bitPattern == b.data[$0].bitPattern }
}

/// Largest |a - b| / (atol + rtol * |b|).
func worstError(_ a: Tensor, _ b: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4) -> Float {
    (0..<a.count).reduce(0) { max($0, abs(a.data[$1] - b.data[$1]) / (atol + rtol * abs(b.data[$1]))) }
}

let kernelShapes: [(rows: Int, cols: Int, group: Int)] = [(6, 64, 16), (5, 200, 64), (4, 576, 128), (3, 77, -1), (4, 40, 7), (2, 9, 1)]

@Suite struct FakeQuantKernelTests {
    /// Worked by hand from the spec with s = 0.5, z = 2.4 (z' = 2), 2 bits (qmax 3), g = 1 each:
    /// x = w/s = [0.48, -2.6, 1.5, 0.5, 4, -1.2], r = [0, -3, 2, 0, 4, -1] (half to even),
    /// u = [2, -1, 4, 2, 6, 1], code = [2, 0, 3, 2, 3, 1], W-hat = (code - 2) * 0.5.
    @Test func handWorkedExample() throws {
        let spec = try QuantSpec(bits: 2, groupSize: 6)
        let w = Var(try Tensor(shape: [1, 6], [0.24, -1.3, 0.75, 0.25, 2.0, -0.6]), requiresGrad: true)
        let s = Var(try Tensor(shape: [1, 1], [0.5]), requiresGrad: true), z = Var(try Tensor(shape: [1, 1], [2.4]), requiresGrad: true)
        let y = try fakeQuantize(weight: w, scales: s, zeros: z, spec: spec)
        #expect(y.value.toArray() == [0, -1, 0.5, 0, 0.5, -0.5])
        try y.sum().backward()
        #expect(w.grad?.toArray() == [1, 0, 0, 1, 0, 1])
        // ds: inside r - x: (0 - 0.48) + (0 - 0.5) + (-1 + 1.2); below -z' = -2; above qmax - z' = 1, twice
        let ds = try #require(s.grad?.scalar)
        #expect(abs(ds - (-0.48 - 0.5 + 0.2 - 2 + 1 + 1)) < 1e-6)
        #expect(z.grad?.scalar == -0.5 * 3)   // -s' for each of the 3 outside elements
        let qw = try hardQuantize(weight: w.value, scales: s.value, zeros: z.value, spec: spec)
        #expect(qw.codes == [2, 0, 3, 2, 3, 1] && qw.zeros == [2] && qw.scales == [0.5])
    }

    @Test func forwardIsBitExactWithReference() throws {
        for bits in 2...8 {
            for (i, sh) in kernelShapes.enumerated() {
                let c = try QuantCase(rows: sh.rows, cols: sh.cols, bits: bits, group: sh.group, seed: UInt64(bits * 10 + i))
                let fast = Tensor(zeros: c.w.shape), ref = Tensor(zeros: c.w.shape)
                fakeQuantForward(c.w.data, scales: c.s.data, zeros: c.z.data, fast.data, layout: c.layout)
                fakeQuantForwardReference(c.w.data, scales: c.s.data, zeros: c.z.data, ref.data, layout: c.layout)
                #expect(bitsEqual(fast, ref), "w\(bits) \(sh)")
            }
        }
    }

    @Test func raggedLayout() throws {
        let l = QuantLayout(rows: 3, cols: 576, spec: try QuantSpec(bits: 3, groupSize: 128))
        #expect(l.groups == 5 && l.columns(ofGroup: 3) == 384..<512 && l.columns(ofGroup: 4) == 512..<576)
        let whole = QuantLayout(rows: 3, cols: 576, spec: try QuantSpec(bits: 3, groupSize: -1))
        #expect(whole.groups == 1 && whole.columns(ofGroup: 0) == 0..<576)
    }

    /// The fused backward against the per-element table, every case present, any subset frozen.
    @Test func backwardMatchesReference() throws {
        for bits in [2, 3, 4, 8] {
            for (i, sh) in kernelShapes.enumerated() {
                let c = try QuantCase(rows: sh.rows, cols: sh.cols, bits: bits, group: sh.group, seed: UInt64(500 + bits * 10 + i))
                let g = try Tensor.randn(c.w.shape, seed: UInt64(900 + i))
                for mask in 0..<8 {   // bit 0: dW, bit 1: ds, bit 2: dz
                    let fast = (Tensor(zeros: c.w.shape), Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape))
                    let ref = (Tensor(zeros: c.w.shape), Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape))
                    fakeQuantBackward(c.w.data, scales: c.s.data, zeros: c.z.data, g.data, dw: mask & 1 != 0 ? fast.0.data : nil,
                                      ds: mask & 2 != 0 ? fast.1.data : nil, dz: mask & 4 != 0 ? fast.2.data : nil, layout: c.layout)
                    fakeQuantBackwardReference(c.w.data, scales: c.s.data, zeros: c.z.data, g.data, dw: mask & 1 != 0 ? ref.0.data : nil,
                                               ds: mask & 2 != 0 ? ref.1.data : nil, dz: mask & 4 != 0 ? ref.2.data : nil, layout: c.layout)
                    #expect(bitsEqual(fast.0, ref.0), "dW w\(bits) \(sh) mask \(mask)")   // dW is g or 0: exact
                    #expect(worstError(fast.1, ref.1, atol: 1e-4) <= 1, "ds w\(bits) \(sh) mask \(mask)")
                    #expect(worstError(fast.2, ref.2, atol: 1e-6) <= 1, "dz w\(bits) \(sh) mask \(mask)")
                }
            }
        }
    }

    /// The random cases really contain every branch of the table.
    @Test func casesCoverEveryBranch() throws {
        let c = try QuantCase(rows: 8, cols: 200, bits: 2, group: 64, seed: 3)
        let n = c.caseCounts()
        #expect(n.below > 0 && n.above > 0 && n.inside > 0)
        let qmax = Float(c.spec.qmax)
        #expect((0..<c.z.count).contains { c.z.data[$0] < 0 } && (0..<c.z.count).contains { c.z.data[$0] > qmax })
    }

    @Test func dequantMatchesReferenceAndFakeQuant() throws {
        for bits in 2...8 {
            for (i, sh) in kernelShapes.enumerated() {
                let c = try QuantCase(rows: sh.rows, cols: sh.cols, bits: bits, group: sh.group, seed: UInt64(300 + bits * 10 + i))
                var codes = [UInt8](repeating: 0, count: c.w.count)
                quantizeCodes(c.w.data, scales: c.s.data, zeros: c.z.data, &codes, layout: c.layout)
                #expect(codes.allSatisfy { Int($0) <= c.spec.qmax })
                let fast = Tensor(zeros: c.w.shape), ref = Tensor(zeros: c.w.shape), fake = Tensor(zeros: c.w.shape)
                dequantForward(codes, scales: c.s.data, zeros: c.z.data, groupIndex: nil, fast.data, layout: c.layout)
                dequantForwardReference(codes, scales: c.s.data, zeros: c.z.data, groupIndex: nil, ref.data, layout: c.layout)
                fakeQuantForwardReference(c.w.data, scales: c.s.data, zeros: c.z.data, fake.data, layout: c.layout)
                #expect(bitsEqual(fast, ref) && bitsEqual(fast, fake), "w\(bits) \(sh)")

                let g = try Tensor.randn(c.w.shape, seed: 77)
                let f = (Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape)), r = (Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape))
                dequantBackward(codes, scales: c.s.data, zeros: c.z.data, groupIndex: nil, g.data, ds: f.0.data, dz: f.1.data, layout: c.layout)
                dequantBackwardReference(codes, scales: c.s.data, zeros: c.z.data, groupIndex: nil, g.data, ds: r.0.data, dz: r.1.data, layout: c.layout)
                #expect(worstError(f.0, r.0, atol: 1e-3) <= 1 && worstError(f.1, r.1, atol: 1e-6) <= 1, "w\(bits) \(sh)")
            }
        }
    }

    /// One realistic shape: SmolLM2's up_proj (1536 x 576) at w3g128, ragged last group.
    @Test func realisticShape() throws {
        let c = try QuantCase(rows: 1536, cols: 576, bits: 3, group: 128, seed: 42)
        let fast = Tensor(zeros: c.w.shape), ref = Tensor(zeros: c.w.shape)
        fakeQuantForward(c.w.data, scales: c.s.data, zeros: c.z.data, fast.data, layout: c.layout)
        fakeQuantForwardReference(c.w.data, scales: c.s.data, zeros: c.z.data, ref.data, layout: c.layout)
        #expect(bitsEqual(fast, ref))
        let g = try Tensor.randn(c.w.shape, seed: 43)
        let f = (Tensor(zeros: c.w.shape), Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape))
        let r = (Tensor(zeros: c.w.shape), Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape))
        fakeQuantBackward(c.w.data, scales: c.s.data, zeros: c.z.data, g.data, dw: f.0.data, ds: f.1.data, dz: f.2.data, layout: c.layout)
        fakeQuantBackwardReference(c.w.data, scales: c.s.data, zeros: c.z.data, g.data, dw: r.0.data, ds: r.1.data, dz: r.2.data, layout: c.layout)
        #expect(bitsEqual(f.0, r.0))
        #expect(worstError(f.1, r.1, atol: 1e-4) <= 1 && worstError(f.2, r.2, atol: 1e-6) <= 1)
    }
}

@Suite struct FakeQuantAutogradTests {
    /// Autograd gradients of L = sum(W-hat * R) equal the reference table applied to g = R.
    @Test func gradientsFollowTheTable() throws {
        for (bits, group, cols) in [(2, 64, 200), (3, 128, 576), (4, -1, 96), (8, 32, 64)] {
            let c = try QuantCase(rows: 5, cols: cols, bits: bits, group: group, seed: UInt64(bits))
            let r = try Tensor.randn(c.w.shape, seed: 99)
            let w = Var(c.w, requiresGrad: true), s = Var(c.s, requiresGrad: true), z = Var(c.z, requiresGrad: true)
            try (fakeQuantize(weight: w, scales: s, zeros: z, spec: c.spec) * Var(r)).sum().backward()
            let ref = (Tensor(zeros: c.w.shape), Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape))
            fakeQuantBackwardReference(c.w.data, scales: c.s.data, zeros: c.z.data, r.data, dw: ref.0.data, ds: ref.1.data, dz: ref.2.data, layout: c.layout)
            let dw = try #require(w.grad), ds = try #require(s.grad), dz = try #require(z.grad)
            #expect(bitsEqual(dw, ref.0))
            #expect(worstError(ds, ref.1, atol: 1e-4) <= 1 && worstError(dz, ref.2, atol: 1e-6) <= 1, "w\(bits)g\(group)")
        }
    }

    /// Frozen parents get no gradient; the trainable ones get the same gradient as with all trainable.
    @Test func frozenSubsetsGetNoGradient() throws {
        let c = try QuantCase(rows: 4, cols: 200, bits: 3, group: 64, seed: 8)
        let r = try Tensor.randn(c.w.shape, seed: 9)
        let ref = (Tensor(zeros: c.w.shape), Tensor(zeros: c.s.shape), Tensor(zeros: c.z.shape))
        fakeQuantBackwardReference(c.w.data, scales: c.s.data, zeros: c.z.data, r.data, dw: ref.0.data, ds: ref.1.data, dz: ref.2.data, layout: c.layout)
        for mask in 0..<8 {
            let w = Var(c.w, requiresGrad: mask & 1 != 0), s = Var(c.s, requiresGrad: mask & 2 != 0), z = Var(c.z, requiresGrad: mask & 4 != 0)
            let y = try fakeQuantize(weight: w, scales: s, zeros: z, spec: c.spec)
            #expect(y.requiresGrad == (mask != 0))
            try (y * Var(r)).sum().backward()
            for (v, expected, bit) in [(w, ref.0, 1), (s, ref.1, 2), (z, ref.2, 4)] {
                if mask & bit == 0 { #expect(v.grad == nil, "mask \(mask) bit \(bit)") }
                else { #expect(v.grad.map { worstError($0, expected, atol: 1e-4) <= 1 } == true, "mask \(mask) bit \(bit)") }
            }
        }
    }

    /// Hard mode is linear in s (no rounding): a finite-difference check of ds is meaningful there.
    @Test func hardModeScaleGradientByFiniteDifferences() throws {
        let spec = try QuantSpec(bits: 3, groupSize: 16)
        let w = try Tensor.randn([4, 40], seed: 5, std: 0.02)
        let qw = try roundToNearest(weight: w, spec: spec, range: .minMax)
        let hq = try HardQuantizer(qw)
        let res = try gradCheck(inputs: [hq.scales], eps: 1e-4, atol: 1e-3, rtol: 1e-3) { _ in try hq.dequantized() }
        #expect(res.passed, "\(res)")
        #expect(hq.zeros.grad == nil)
    }

    /// Fractional zeros (E2E-QP training z): W = (q - clamp(z)) * s' with z unrounded, equal to the
    /// reference kernel, linear in z so finite differences check dz; integer zeros give the same
    /// weight in either mode, and the stored zeros keep their fraction.
    @Test func fractionalZerosAreUnroundedWithFiniteDifferenceGradients() throws {
        let spec = try QuantSpec(bits: 2, groupSize: 16)
        let w = try Tensor.randn([4, 40], seed: 6, std: 0.02)
        let hq = try HardQuantizer(try roundToNearest(weight: w, spec: spec, range: .minMax), trainScales: true, trainZeros: true)
        let rounded = try hq.dequantized().value
        hq.fractionalZeros = true
        #expect(bitsEqual(try hq.dequantized().value, rounded), "integer zeros: the same weight in both modes")
        for i in 0..<hq.zeros.value.count { hq.zeros.value.data[i] = min(max(hq.zeros.value.data[i], 0.2), 2.8) + 0.3 * Float(i % 3 - 1) }
        let out = try hq.dequantized().value
        var l = QuantLayout(rows: 4, cols: 40, spec: spec)
        l.roundsZeros = false
        let ref = Tensor(zeros: [4, 40])
        hq.codes.withUnsafeBufferPointer { q in
            guard let codes = q.baseAddress else { return }
            dequantForwardReference(codes, scales: hq.scales.value.data, zeros: hq.zeros.value.data, groupIndex: nil, ref.data, layout: l)
        }
        #expect(bitsEqual(out, ref))
        #expect(!bitsEqual(out, rounded), "a fractional zero moves the weight")
        let res = try gradCheck(inputs: [hq.scales, hq.zeros], eps: 1e-3, atol: 1e-3, rtol: 1e-3) { _ in try hq.dequantized() }
        #expect(res.passed, "\(res)")
        let stored = try hq.quantized.zeros
        #expect(stored.contains { $0 != $0.rounded() } && stored.allSatisfy { $0 >= 0 && $0 <= 3 })
        #expect(try HardQuantizer(try hq.quantized).fractionalZeros, "fractional stored zeros load as fractional")
    }

    @Test func shapeErrorsAreThrown() throws {
        let spec = try QuantSpec(bits: 4, groupSize: 128)
        let w = Var(Tensor(zeros: [4, 576])), bad = Var(Tensor(zeros: [4, 4]))
        #expect(throws: TensorError.self) { try fakeQuantize(weight: w, scales: bad, zeros: bad, spec: spec) }
        let ok = Var(Tensor(zeros: [4, 5]))
        #expect(throws: TensorError.self) { try hardDequantize(codes: [0, 1], rows: 4, cols: 576, scales: ok, zeros: ok, spec: spec) }
        #expect(throws: TensorError.self) {
            try hardDequantize(codes: [UInt8](repeating: 0, count: 4 * 576), rows: 4, cols: 576, groupIndex: [Int32](repeating: 9, count: 576),
                               scales: ok, zeros: ok, spec: spec)
        }
    }
}
