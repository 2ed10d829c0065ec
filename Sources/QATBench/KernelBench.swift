// `bench tensor`'s kernel rows: causal attention and SwiGLU on SmolLM2-135M's shapes (9 query
// heads, 3 kv heads, head dim 64, MLP 1536; one window of `seq` tokens), best of `repeats`.
// Attention's GFLOP/s counts the causal work only (the four sgemm-shaped products a forward and
// backward need below the diagonal: 2 * Hq * T(T+1)/2 * D each, forward 2 of them, backward 5);
// SwiGLU prints ns per element for the kernel and for the plain scalar loop it replaces
// (the same arithmetic through the scalar fastSigmoid, on the same threads).
import QATTensor

func bestSeconds(repeats: Int, _ body: () -> Void) -> Double {
    let clock = ContinuousClock()
    var best = Double.infinity
    for _ in 0..<(repeats + 1) { best = min(best, clock.measure(body).inSeconds) }   // the first warms up
    return best
}

func benchKernels(seq: Int, repeats: Int, log: (String) -> Void) throws {
    let s = AttentionShape(b: 1, t: seq, hq: 9, hkv: 3, d: 64)
    let q = try Tensor.randn([1, seq, 9, 64], seed: 6), k = try Tensor.randn([1, seq, 3, 64], seed: 7)
    let v = try Tensor.randn([1, seq, 3, 64], seed: 8), dout = try Tensor.randn([1, seq, 9, 64], seed: 9)
    let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [1, 9, seq])
    let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
    let forward = bestSeconds(repeats: repeats) {
        flashAttentionForward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data)
    }
    let backward = bestSeconds(repeats: repeats) {
        flashAttentionBackward(s, q: q.data, k: k.data, v: v.data, out: out.data, lse: lse.data, dout: dout.data,
                               dq: dq.data, dk: dk.data, dv: dv.data)
    }
    let product = 2 * 9 * Double(seq) * Double(seq + 1) / 2 * 64
    log("attention (1x\(seq), 9/3 heads, d=64, tile \(flashTile)): forward \(fmt(forward * 1e3)) ms = \(fmt(2 * product / forward / 1e9)) GFLOP/s, "
        + "backward \(fmt(backward * 1e3)) ms = \(fmt(5 * product / backward / 1e9)) GFLOP/s")

    let n = seq * 1536
    let g = try Tensor.randn([n], seed: 10), u = try Tensor.randn([n], seed: 11), dy = try Tensor.randn([n], seed: 12)
    let y = Tensor(zeros: [n]), dg = Tensor(zeros: [n]), du = Tensor(zeros: [n])
    let (gp, up, yp) = (g.data, u.data, y.data)
    let kernel = bestSeconds(repeats: repeats) { swigluForward(gp, up, yp, count: n) }
    let scalar = bestSeconds(repeats: repeats) {
        parallelFor(n) { r in for i in r { yp[i] = gp[i] * fastSigmoid(gp[i]) * up[i] } }
    }
    let kernelBack = bestSeconds(repeats: repeats) { swigluBackward(gp, up, dy.data, dg: dg.data, du: du.data, count: n) }
    let perElement = { (t: Double) in fmt(t / Double(n) * 1e9, digits: 2) }
    log("swiglu (\(seq)x1536): forward \(perElement(kernel)) ns/element (scalar loop \(perElement(scalar))), backward \(perElement(kernelBack)) ns/element")
}
