// The decoder block against a composition of the plain reference kernels, and its gradients
// (weights and input) against finite differences.
import Testing
@testable import QATModel
import QATAutograd
import QATTensor

let tinyShape = BlockShape(hidden: 16, heads: 4, kvHeads: 2, headDim: 4, ffn: 24, rmsEps: 1e-5, ropeTheta: 10000)

/// y = x w^T (+ b) with the reference sgemm; x: (N, in), w: (out, in).
func refLinear(_ x: Tensor, _ w: Tensor, _ b: Tensor? = nil) -> Tensor {
    let n = x.count / x.shape.last!, out = w.shape[0], inn = w.shape[1]
    let y = Tensor(zeros: [n, out])
    sgemmReference(transA: false, transB: true, m: n, n: out, k: inn, a: x.data, lda: inn, b: w.data, ldb: inn, c: y.data, ldc: out)
    if let b { for i in 0..<n { for j in 0..<out { y.data[i * out + j] += b.data[j] } } }
    return y
}

func referenceBlock(_ blk: DecoderBlock, _ x: Tensor) -> Tensor {
    let s = blk.shape, b = x.shape[0], t = x.shape[1], c = s.hidden, n = b * t
    let h = Tensor(zeros: [n, c])
    rmsnormReference(x.data, blk.attnNorm.value.data, eps: s.rmsEps, h.data, rows: n, c: c)
    let q = refLinear(h, blk.q.weight.value, blk.q.bias?.value), k = refLinear(h, blk.k.weight.value, blk.k.bias?.value)
    let v = refLinear(h, blk.v.weight.value, blk.v.bias?.value)
    let qr = Tensor(zeros: q.shape), kr = Tensor(zeros: k.shape)
    ropeReference(q.data, qr.data, b: b, t: t, h: s.heads, d: s.headDim, theta: s.ropeTheta, layout: s.ropeLayout)
    ropeReference(k.data, kr.data, b: b, t: t, h: s.kvHeads, d: s.headDim, theta: s.ropeTheta, layout: s.ropeLayout)
    let a = Tensor(zeros: [n, s.heads * s.headDim])
    attentionReference(AttentionShape(b: b, t: t, hq: s.heads, hkv: s.kvHeads, d: s.headDim), q: qr.data, k: kr.data, v: v.data, out: a.data)
    let o = refLinear(a, blk.o.weight.value)
    let x2 = Tensor(zeros: [n, c])
    for i in 0..<x2.count { x2.data[i] = x.data[i] + o.data[i] }
    let h2 = Tensor(zeros: [n, c])
    rmsnormReference(x2.data, blk.ffnNorm.value.data, eps: s.rmsEps, h2.data, rows: n, c: c)
    let g = refLinear(h2, blk.gate.weight.value), u = refLinear(h2, blk.up.weight.value)
    for i in 0..<g.count { let z = Double(g.data[i]); g.data[i] = Float(z / (1 + qexpD(-z)) * Double(u.data[i])) }
    let d = refLinear(g, blk.down.weight.value)
    let out = Tensor(zeros: x.shape)
    for i in 0..<out.count { out.data[i] = x2.data[i] + d.data[i] }
    return out
}

@Suite struct DecoderBlockTests {
    @Test(arguments: [false, true])
    func forwardMatchesReferenceComposition(bias: Bool) throws {
        var s = tinyShape; s.attentionBias = bias
        let blk = try DecoderBlock.random(shape: s, seed: 1)
        for (_, p) in blk.parameters { for i in 0..<p.value.count { p.value.data[i] *= 20 } }   // make the block non-trivial
        let x = try Tensor.randn([2, 7, 16], seed: 2)
        let y = try noGrad { try blk.forward(Var(x), rope: blk.ropeTable(positions: 7)) }
        let ref = referenceBlock(blk, x)
        var scale: Float = 0
        for i in 0..<ref.count { scale = max(scale, abs(ref.data[i])) }
        #expect(y.value.maxAbsDifference(ref) / scale < 1e-5, "max |y| \(scale)")
        #expect(ref.maxAbsDifference(x) > 0.1)
    }

    @Test func gradientsOfWeightsAndInput() throws {
        let blk = try DecoderBlock.random(shape: tinyShape, seed: 3)
        for (_, p) in blk.parameters { for i in 0..<p.value.count { p.value.data[i] *= 2 } }
        let x = Var(try Tensor.randn([2, 5, 16], seed: 4), requiresGrad: true)
        let table = blk.ropeTable(positions: 5)
        let inputs = [x] + blk.parameters.map(\.1)
        let r = try gradCheck(inputs: inputs, eps: 1e-2, maxChecks: 64) { _ in try blk.forward(x, rope: table) }
        #expect(r.passed, "\(r)")
    }

    @Test func wrongWeightShapeNamesTheWeight() throws {
        let blk = try DecoderBlock.random(shape: tinyShape, seed: 5)
        var w: [String: Tensor] = Dictionary(uniqueKeysWithValues: blk.parameters.map { ($0.0, $0.1.value) })
        w["k_proj"] = Tensor(zeros: [9, 16])
        do { _ = try DecoderBlock(shape: tinyShape, weights: w); Issue.record("no error") } catch {
            #expect("\(error)".contains("k_proj") && "\(error)".contains("[9, 16]"))
        }
        #expect(throws: TensorError.self) { try blk.forward(Var(Tensor(zeros: [1, 3, 15])), rope: blk.ropeTable(positions: 3)) }
    }
}
