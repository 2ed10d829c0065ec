// A decoder block run on new rows against a KV cache (generation; inference only, nothing is
// recorded for backward).
//
//   x: (T, C), the rows at positions past ..< past+T, past = cache.count
//   -> rmsnorm -> q (T,Hq,D), k, v (T,Hkv,D) -> [q/k head norms] -> rope(q), rope(k) at their positions
//   -> k, v stored in the cache -> attention over cached rows 0 ..< past+T -> o-proj -> + x
//   -> rmsnorm -> silu(gate) * up -> down -> + residual -> (T, C)
// The same computation as DecoderBlock.forward, row by row. With past = 0 (the prompt) it calls
// the batched causal attention the full forward uses; afterwards the cached kernel
// (QATTensor/DecodeAttention.swift).
//
// Each linear is frozen once per generation (FrozenLinear): its effective weight (fake- or
// hard-quantized, rotated, whatever the quantizer hands Linear.forward) is computed once instead
// of at every token, and the bias and adapter are applied as Linear.forward applies them.
import QATAutograd
import QATTensor

/// A linear with its effective weight computed once, for many forwards of a frozen model.
public struct FrozenLinear {
    public let linear: Linear
    // (out, in)
    public let weight: Var

    public init(_ linear: Linear) throws {
        self.linear = linear
        self.weight = try noGrad { try linear.effectiveWeight() }
    }

    /// x: (rows, in) -> (rows, out): x W^T + b (+ the adapter's delta), as Linear.forward. One
    /// row (a decoding step) goes through matvec, more through the sgemm of Var.linear.
    public func forward(_ x: Tensor) throws -> Tensor {
        try noGrad {
            let input = Var(x)
            let y = x.count == linear.inFeatures ? try Var(rowTimesWeight(x)) : try Var.linear(input, weight: weight, bias: linear.bias)
            guard let adapter = linear.adapter else { return y.value }
            return try (y + adapter.delta(input)).value
        }
    }

    /// x (1, in) -> x W^T + b (1, out).
    func rowTimesWeight(_ x: Tensor) throws -> Tensor {
        let out = linear.outFeatures
        let y = Tensor(uninitialized: [1, out])
        matvec(weight.value.data, x.data, y.data, rows: out, cols: linear.inFeatures)
        if let b = linear.bias?.value.data { for i in 0..<out { y.data[i] += b[i] } }
        return y
    }
}

/// The seven linears of one block, frozen.
public struct FrozenBlockLinears {
    public let q: FrozenLinear, k: FrozenLinear, v: FrozenLinear, o: FrozenLinear
    public let gate: FrozenLinear, up: FrozenLinear, down: FrozenLinear
}

extension DecoderBlock {
    /// This block's linears with their effective weights computed now.
    public func frozenLinears() throws -> FrozenBlockLinears {
        FrozenBlockLinears(q: try FrozenLinear(q), k: try FrozenLinear(k), v: try FrozenLinear(v), o: try FrozenLinear(o),
                           gate: try FrozenLinear(gate), up: try FrozenLinear(up), down: try FrozenLinear(down))
    }

    /// x: (T, C) at positions cache.count ..< cache.count+T -> (T, C). Stores this block's K and V
    /// for those positions in `cache` (block index `index`); the caller commits them once every
    /// block has run.
    public func forwardCached(_ x: Tensor, linears l: FrozenBlockLinears, cache: KVCache, index: Int) throws -> Tensor {
        let s = shape
        guard x.rank == 2, x.shape[1] == s.hidden else {
            throw TensorError.shapeMismatch(op: "cached block", lhs: x.shape, rhs: [-1, s.hidden], hint: "input must be (T, hidden)")
        }
        guard cache.kvHeads == s.kvHeads, cache.headDim == s.headDim else {
            throw TensorError.shapeMismatch(op: "cached block", lhs: [cache.kvHeads, cache.headDim], rhs: [s.kvHeads, s.headDim],
                                            hint: "the cache was made for another model")
        }
        let t = x.shape[0], past = cache.count
        let h = try x.rmsNorm(weight: attnNorm.value, eps: s.rmsEps)
        let rope = s.ropeTable(positions: t, offset: past)
        let qh = try headNormed(l.q.forward(h).reshaped([1, t, s.heads, s.headDim]), qNorm).rope(table: rope, layout: s.ropeLayout)
        let kh = try headNormed(l.k.forward(h).reshaped([1, t, s.kvHeads, s.headDim]), kNorm).rope(table: rope, layout: s.ropeLayout)
        let vh = try l.v.forward(h).reshaped([1, t, s.kvHeads, s.headDim])
        try cache.store(block: index, k: kh, v: vh, rows: t)
        let a: Tensor
        if past == 0 {
            a = try Tensor.causalAttention(q: qh, k: kh, v: vh)
        } else {
            let shape = try CachedAttentionShape(t: t, past: past, hq: s.heads, hkv: s.kvHeads, d: s.headDim)
            a = Tensor(uninitialized: qh.shape)
            cachedAttentionForward(shape, q: qh.data, k: cache.keys[index].data, v: cache.values[index].data, out: a.data)
        }
        let x2 = try Tensor.binary(.add, x, l.o.forward(a.reshaped([t, s.heads * s.headDim])))
        let h2 = try x2.rmsNorm(weight: ffnNorm.value, eps: s.rmsEps)
        let g = try l.gate.forward(h2), u = try l.up.forward(h2)
        let m = Tensor(uninitialized: g.shape)
        swigluForward(g.data, u.data, m.data, count: m.count)
        return try Tensor.binary(.add, x2, l.down.forward(m))
    }
}
