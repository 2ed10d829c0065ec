// Inference with a key/value cache: a context is run once, its keys and values kept per block, and
// any number of continuations are run against it, each costing a forward of its own tokens only.
// The multiple-choice scorer shares one context's forward across all of an item's choices this way.
//
// Several continuations (segments) of one cached prefix run in one forward, so the weights are
// read once per item, not once per choice. Per block, for N new tokens over a cache of P:
//   x (1, N, C) -> rmsnorm -> q (N,Hq,D), k, v (N,Hkv,D) -> [q/k head norms]
//   -> rope: segment rows at P, P+1, ...
//   keys, values := cache (P, Hkv, D) ++ new (N, Hkv, D)
//   attention: a new row attends the P cached keys and its own segment's rows up to itself
//   -> o-proj, residual, MLP as in DecoderBlock.
// The oracle is the model's plain full forward: the tests check both give the same logits.
import QATAutograd
import QATModel
import QATTensor

/// Keys and values of a prefix, per block: (L, Hkv, D) each, after RoPE.
public struct KVCache {
    public var keys: [Tensor]
    public var values: [Tensor]
    public var length: Int
    public static var empty: KVCache { KVCache(keys: [], values: [], length: 0) }
}

extension LlamaModel {
    /// Runs `tokens` after `cache`: returns the final hidden states (1, n, C) and the cache extended by them.
    public func forwardCached(_ tokens: [Int32], after cache: KVCache) throws -> (hidden: Var, cache: KVCache) {
        try forwardCached(segments: [tokens], after: cache)
    }

    /// Runs several independent continuations of `cache` in one forward (the weights are read
    /// once for all of them): segment s's tokens sit at positions L0, L0+1, ... and attend the
    /// cache and their own segment's earlier tokens only. Returns the hidden states of all
    /// segments' tokens in order (1, N, C), and the cache extended by them (meaningful for one segment).
    public func forwardCached(segments: [[Int32]], after cache: KVCache) throws -> (hidden: Var, cache: KVCache) {
        let tokens = segments.flatMap { $0 }, n = tokens.count, s = blockShape, l0 = cache.length
        guard n > 0, segments.allSatisfy({ !$0.isEmpty }) else {
            throw TensorError.invalidArgument(op: "forwardCached", message: "every segment needs at least one token")
        }
        let longest = segments.map(\.count).max() ?? 0
        if l0 + longest > config.maxPositions {
            throw TensorError.invalidArgument(op: "forwardCached", message: "\(l0 + longest) positions exceed the model's \(config.maxPositions); shorten the prompt (fewer shots)")
        }
        var starts: [Int] = [], offset = 0
        for seg in segments { starts.append(offset); offset += seg.count }
        let layout = SegmentLayout(prefix: l0, starts: starts, lengths: segments.map(\.count))
        return try noGrad {
            var x = try embed(tokens, batch: 1, seq: n)
            var next = KVCache(keys: [], values: [], length: l0 + n)
            for (i, block) in blocks.enumerated() {
                let h = try x.rmsNorm(weight: block.attnNorm, eps: s.rmsEps)
                let q = try block.headNormed(block.q.forward(h).value, block.qNorm)
                let k = try block.headNormed(block.k.forward(h).value, block.kNorm)
                rope(q, heads: s.heads, layout: layout); rope(k, heads: s.kvHeads, layout: layout)
                let keys = append(i < cache.keys.count ? cache.keys[i] : nil, k, rows: l0, heads: s.kvHeads, dim: s.headDim)
                let values = append(i < cache.values.count ? cache.values[i] : nil, try block.v.forward(h).value, rows: l0, heads: s.kvHeads, dim: s.headDim)
                next.keys.append(keys); next.values.append(values)
                let a = segmentAttention(q: q, keys: keys, values: values, layout: layout, heads: s.heads, kvHeads: s.kvHeads, dim: s.headDim)
                let x2 = try x + block.o.forward(Var(try a.reshaped([1, n, s.heads * s.headDim])))
                let h2 = try x2.rmsNorm(weight: block.ffnNorm, eps: s.rmsEps)
                x = try x2 + block.down.forward(try Var.swiglu(gate: block.gate.forward(h2), up: block.up.forward(h2)))
            }
            return (x, next)
        }
    }

    /// RoPE in place on (N, H, D) rows, each segment from position `prefix`.
    func rope(_ t: Tensor, heads: Int, layout: SegmentLayout) {
        let d = blockShape.headDim
        for (st, len) in zip(layout.starts, layout.lengths) {
            let table = blockShape.ropeTable(positions: len, offset: layout.prefix)
            let p = t.data + st * heads * d
            ropeApply(p, p, table: table, b: 1, t: len, h: heads, d: d, layout: blockShape.ropeLayout, inverse: false, accumulate: false)
        }
    }

    /// Log-probabilities (Double) of `targets[i]` under the logits of hidden row `rows[i]`.
    public func targetLogProbs(hidden: Var, rows: [Int], targets: [Int32]) throws -> [Double] {
        let c = config.hiddenSize, v = vocabSize
        let picked = Tensor(uninitialized: [1, rows.count, c])
        for (j, r) in rows.enumerated() { (picked.data + j * c).update(from: hidden.value.data + r * c, count: c) }
        let logits = try noGrad { try head(Var(picked)).value }   // (rows, V)
        return withExtendedLifetime(logits) {
            targets.enumerated().map { j, t in
                let row = logits.data + j * v
                var m = -Float.infinity
                for i in 0..<v { m = max(m, row[i]) }
                var sum = 0.0
                for i in 0..<v { sum += Double(fastExp(row[i] - m)) }
                return Double(row[Int(t)]) - Double(m) - qlogD(sum)
            }
        }
    }
}

/// Where each segment's tokens are: N new rows after `prefix` cached ones.
struct SegmentLayout {
    let prefix: Int, starts: [Int], lengths: [Int]
    /// The segment start of every new row.
    var rowStart: [Int] { zip(starts, lengths).flatMap { st, len in Array(repeating: st, count: len) } }
}

/// cache (rows, H, D) ++ new (n, H, D) as a fresh tensor (the cache itself is not changed, so
/// every choice extends the same context).
func append(_ cache: Tensor?, _ new: Tensor, rows: Int, heads: Int, dim: Int) -> Tensor {
    let width = heads * dim, n = new.count / width
    let out = Tensor(uninitialized: [rows + n, heads, dim])
    if let cache, rows > 0 { out.data.update(from: cache.data, count: rows * width) }
    (out.data + rows * width).update(from: new.data, count: n * width)
    return withExtendedLifetime((cache, new)) { out }
}

// q (N, Hq, D), keys/values (P + N, Hkv, D) -> out (N, Hq, D). New row i of a segment starting at
// row st attends the P cached keys and the new keys st...i (causal within its segment).
func segmentAttention(q: Tensor, keys: Tensor, values: Tensor, layout: SegmentLayout, heads: Int, kvHeads: Int, dim: Int) -> Tensor {
    let p = layout.prefix, n = q.count / (heads * dim), group = heads / kvHeads, rowStart = layout.rowStart
    let out = Tensor(uninitialized: [n, heads, dim])
    let scale = 1 / Float(dim).squareRoot()
    let (qp, kp, vp, op) = (UncheckedBox(q.data), UncheckedBox(keys.data), UncheckedBox(values.data), UncheckedBox(out.data))
    parallelFor(n * heads, costPerItem: (p + n) * dim * 2) { range in
        var scores = [Float](repeating: 0, count: p + n), index = [Int](repeating: 0, count: p + n)
        for item in range {
            let i = item / heads, h = item % heads, kh = h / group
            var visible = 0
            for j in 0..<p { index[visible] = j; visible += 1 }
            for j in rowStart[i]...i { index[visible] = p + j; visible += 1 }
            let qrow = qp.value + (i * heads + h) * dim
            var m = -Float.infinity
            for a in 0..<visible {
                let krow = kp.value + (index[a] * kvHeads + kh) * dim
                var dot: Float = 0
                for d in 0..<dim { dot += qrow[d] * krow[d] }
                scores[a] = dot * scale
                m = max(m, scores[a])
            }
            var sum: Float = 0
            for a in 0..<visible { scores[a] = fastExp(scores[a] - m); sum += scores[a] }
            let orow = op.value + (i * heads + h) * dim
            for d in 0..<dim { orow[d] = 0 }
            for a in 0..<visible {
                let w = scores[a] / sum, vrow = vp.value + (index[a] * kvHeads + kh) * dim
                for d in 0..<dim { orow[d] += w * vrow[d] }
            }
        }
    }
    return withExtendedLifetime((q, keys, values)) { out }
}
