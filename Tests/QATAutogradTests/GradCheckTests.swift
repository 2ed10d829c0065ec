// Every differentiable op against central finite differences on random (non-zero) inputs.
import Testing
@testable import QATAutograd
import QATTensor

func param(_ shape: [Int], _ seed: UInt64, std: Float = 1, offset: Float = 0) -> Var {
    let t = (try? Tensor.randn(shape, seed: seed, mean: offset, std: std)) ?? Tensor(zeros: shape)
    return Var(t, requiresGrad: true)
}

func expectGrad(_ inputs: [Var], eps: Float = 1e-2, _ f: @escaping ([Var]) throws -> Var,
                sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try gradCheck(inputs: inputs, eps: eps, f)
    #expect(r.passed, "\(r)", sourceLocation: sourceLocation)
    #expect(r.checked > 0, sourceLocation: sourceLocation)
}

@Suite struct ElementwiseGradTests {
    @Test(arguments: [([3, 4], [3, 4]), ([2, 3, 4], [4]), ([2, 3, 4], [3, 1]), ([3, 1], [1, 4]), ([4], [2, 4])])
    func broadcastingBinaryOps(sa: [Int], sb: [Int]) throws {
        try expectGrad([param(sa, 1), param(sb, 2)]) { try $0[0] + $0[1] }
        try expectGrad([param(sa, 3), param(sb, 4)]) { try $0[0] - $0[1] }
        try expectGrad([param(sa, 5), param(sb, 6)]) { try $0[0] * $0[1] }
        try expectGrad([param(sa, 7), param(sb, 8, std: 0.3, offset: 2)], eps: 1e-3) { try $0[0] / $0[1] }
    }

    @Test(arguments: [UnaryOp.neg, .exp, .square, .silu, .sigmoid, .reciprocal, .log, .sqrt])
    func unaryOps(op: UnaryOp) throws {
        let positive = op == .log || op == .sqrt || op == .reciprocal
        try expectGrad([param([3, 5], 9, std: positive ? 0.3 : 1, offset: positive ? 2 : 0)], eps: 1e-3) { $0[0].unary(op) }
    }

    @Test func reductionsAndAffine() throws {
        try expectGrad([param([3, 4, 5], 10)]) { try $0[0].reduce(.sum, axis: 1) }
        try expectGrad([param([3, 4, 5], 11)]) { try $0[0].reduce(.mean, axis: -1, keepDims: true) }
        try expectGrad([param([3, 4, 5], 12)]) { try $0[0].reduce(.max, axis: 0) }
        try expectGrad([param([3, 4], 13)]) { $0[0].mean().affine(scale: 3, shift: 1) }
    }
}

@Suite struct LayoutGradTests {
    @Test func layout() throws {
        try expectGrad([param([2, 3, 4], 20)]) { try $0[0].permuted([2, 0, 1]) }
        try expectGrad([param([2, 3, 4], 21)]) { try $0[0].transposed(0, 2) }
        try expectGrad([param([2, 3, 4], 22)]) { try $0[0].reshaped([6, 4]) }
        try expectGrad([param([2, 5, 4], 23)]) { try $0[0].sliced(axis: 1, 1, 4) }
        try expectGrad([param([2, 3], 24), param([2, 2], 25)]) { try Var.concat([$0[0], $0[1]], axis: 1) }
        // repeated indices accumulate
        try expectGrad([param([5, 3], 26)]) { try $0[0].embedding([4, 0, 4, 2], shape: [2, 2]) }
    }
}

@Suite struct MatmulGradTests {
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matmul2D(ta: Bool, tb: Bool) throws {
        let a = param(ta ? [5, 3] : [3, 5], 30), b = param(tb ? [4, 5] : [5, 4], 31)
        try expectGrad([a, b]) { try Var.matmul($0[0], $0[1], transA: ta, transB: tb) }
    }

    @Test func batchedSharedAndLinear() throws {
        try expectGrad([param([2, 3, 5], 32), param([2, 5, 4], 33)]) { try Var.matmul($0[0], $0[1]) }
        try expectGrad([param([2, 5, 3], 34), param([2, 4, 5], 35)]) { try Var.matmul($0[0], $0[1], transA: true, transB: true) }
        try expectGrad([param([2, 3, 5], 36), param([4, 5], 37), param([4], 38)]) { try Var.linear($0[0], weight: $0[1], bias: $0[2]) }
        try expectGrad([param([2, 5, 3], 39), param([5, 4], 40)]) { try Var.matmul($0[0], $0[1], transA: true) }
    }
}

@Suite struct TransformerGradTests {
    @Test func softmaxFamily() throws {
        try expectGrad([param([4, 7], 50, std: 2)], eps: 1e-3) { try $0[0].softmax() }
        try expectGrad([param([4, 7], 51, std: 2)], eps: 1e-3) { try $0[0].logSoftmax() }
    }

    @Test func rmsnorm() throws {
        try expectGrad([param([2, 3, 16], 52), param([16], 53, offset: 1)], eps: 1e-3) { try $0[0].rmsNorm(weight: $0[1], eps: 1e-5) }
    }

    @Test(arguments: RopeLayout.allCases)
    func rope(layout: RopeLayout) throws {
        try expectGrad([param([2, 5, 3, 8], 54)]) { try $0[0].rope(theta: 10000, layout: layout, offset: 3) }
    }

    @Test(arguments: [(4, 4), (6, 2), (3, 1)])
    func attentionWithGQAAndCausalMask(hq: Int, hkv: Int) throws {
        let q = param([2, 6, hq, 4], 55), k = param([2, 6, hkv, 4], 56), v = param([2, 6, hkv, 4], 57)
        try expectGrad([q, k, v], eps: 1e-3) { try Var.causalAttention(q: $0[0], k: $0[1], v: $0[2]) }
    }

    /// Longer than one attention tile (FlashAttention.swift): off-diagonal key blocks and a
    /// partial last block are differentiated too.
    @Test func attentionAcrossTiles() throws {
        let t = flashTile + 3
        let q = param([1, t, 2, 4], 63), k = param([1, t, 1, 4], 64), v = param([1, t, 1, 4], 65)
        try expectGrad([q, k, v], eps: 1e-3) { try Var.causalAttention(q: $0[0], k: $0[1], v: $0[2]) }
    }

    @Test func swigluAndLosses() throws {
        try expectGrad([param([3, 8], 58, std: 2), param([3, 8], 59)], eps: 1e-3) { try Var.swiglu(gate: $0[0], up: $0[1]) }
        try expectGrad([param([6, 9], 60, std: 2)], eps: 1e-3) { try Var.crossEntropy($0[0], targets: [1, 8, -1, 0, 4, 4]) }
        try expectGrad([param([3, 4], 61), param([3, 4], 62)]) { try Var.mse($0[0], $0[1]) }
    }

    /// T^2 KL(softmax(teacher / T) || softmax(student / T)) over rows: the backward T (p - q) / N
    /// against finite differences, at temperatures below, at and above 1.
    @Test(arguments: [Float(0.5), 1, 2, 4])
    func distillation(temperature: Float) throws {
        let teacher = param([5, 9], 63, std: 2).value
        try expectGrad([param([5, 9], 64, std: 2)], eps: 1e-3) { try Var.distillation($0[0], teacher: teacher, temperature: temperature) }
    }
}

@Suite struct AutogradSemanticsTests {
    /// The check must be able to fail: an op whose backward forgets the sigmoid'(x) term of SiLU.
    @Test func gradcheckCatchesABrokenBackward() throws {
        let x = param([4, 4], 70)
        let r = try gradCheck(inputs: [x]) { inputs in
            let a = inputs[0], y = a.value.unary(.silu)
            return Var.result(y, "broken_silu", [a]) { g in
                let dx = a.gradBuffer()
                for i in 0..<g.count { dx.data[i] += g.data[i] * fastSigmoid(a.value.data[i]) }   // wrong on purpose
            }
        }
        #expect(!r.passed, "\(r)")
    }

    @Test func gradientsAccumulateAndZero() throws {
        let w = param([3], 71)
        try (w * w).sum().backward()
        let once = try #require(w.grad).toArray()
        try (w * w).sum().backward()
        let twice = try #require(w.grad).toArray()
        for i in 0..<3 { #expect(abs(twice[i] - 2 * once[i]) < 1e-6 && abs(once[i] - 2 * w.value.data[i]) < 1e-6) }
        w.zeroGrad(); #expect(w.grad == nil)
    }

    @Test func frozenAndNoGrad() throws {
        let w = param([3], 72), frozen = Var(w.value.copy(), requiresGrad: false)
        try (w * frozen).sum().backward()
        #expect(w.grad != nil && frozen.grad == nil)
        let y = try noGrad { try (w * w).sum() }
        #expect(y.isLeaf && !y.requiresGrad)
        #expect(throws: TensorError.self) { try (w * w).backward() }   // not a scalar
    }

    @Test func sharedSubexpressionGetsBothPaths() throws {
        let x = param([4], 73)
        let y = x.unary(.exp)
        try (y * y + y).sum().backward()    // d/dx (e^2x + e^x) = 2e^2x + e^x
        let g = try #require(x.grad)
        for i in 0..<4 { let e = qexp(x.value.data[i]); #expect(abs(g.data[i] - (2 * e * e + e)) < 1e-4 * (1 + 2 * e * e)) }
    }
}
