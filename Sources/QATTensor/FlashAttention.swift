// Causal GQA attention in query-block slabs, forward and backward side by side. Shapes as in
// Attention.swift:
//   q, dq, out, dout: (B, T, Hq, D)   k, v, dk, dv: (B, T, Hkv, D)
//   lse: (B, Hq, T) saved by forward for backward: log sum_j exp(s_ij) of each query row
//   scratch per worker: an (R, i0 + R) slab of scores (forward), two of them (backward), R = flashTile
//   backward's key partials, per (batch, kv head): dK~ then dV~, each the blocks I = 0, 1, ... of
//     (i0 + rows, D) floats, i0 = I * R: what query block I adds to keys 0 ..< i0 + rows
// Query block I (rows i0 ..< i0 + rows) sees keys 0 ..< i0 + rows and nothing after: the causal
// half is skipped, except the part above the diagonal of the last R x R square, computed and then
// zeroed. A worker holds at most an R x T slab of scores, and every row's scores are all in it at
// once, so the softmax needs no online rescaling.
//
// Forward, per (batch, query head, query block I):
//   S = Q_I K^T * scale (one sgemm, rows x (i0 + rows));  per row: m = max, P = exp(S - m), l = sum P
//   O_I = (P V) / l (one sgemm);  lse_I = m + log l
// Backward, per (batch, kv head, query block I), for each query head of the group in order:
//   P = exp(Q_I K^T * scale - lse);  dP = dO_I V^T;  dS = P * (dP - Delta) * scale, Delta_i = rowsum(dO_i * O_i)
//   dQ_I += dS K;  dV~_I += P^T dO_I;  dK~_I += dS^T Q_I
// then every key j: dK_j += dK~_I[j] for the blocks I that see it, one after another in increasing I (dV alike).
// Five sgemms and one exp per score; every item writes only what it owns and every sum has a fixed
// order, so the results have the same bits on any thread count (no atomics). The partials are
// 2 * D * (sum over I of (i0 + rows)) floats per (batch, kv head); kv heads are taken in waves that
// keep them under attentionPartialBudget floats.
#if canImport(Glibc)
import Glibc
#endif

/// Query rows per block. 64 unless QAT_ATTENTION_TILE (16...512) says otherwise: a tuning knob
/// for measuring other CPUs; any value gives the same results up to rounding.
public let flashTile: Int = attentionTileFromEnvironment()

func attentionTileFromEnvironment() -> Int {
    guard let raw = getenv("QAT_ATTENTION_TILE") else { return 64 }
    guard let n = Int(String(cString: raw)), (16...512).contains(n) else {
        let message = "QAT_ATTENTION_TILE=\(String(cString: raw)) is not a whole number in 16...512; using 64\n"
        message.withCString { _ = write(2, $0, strlen($0)) }   // stderr (the C global is not concurrency-safe in Swift 6)
        return 64
    }
    return n
}

/// Query blocks of a sequence of t tokens.
@inline(__always) func blockCount(_ t: Int) -> Int { (t + flashTile - 1) / flashTile }

/// Rows of the key partials before query block `block` (sum of i0 + rows over the blocks before it).
@inline(__always) func partialRowsBefore(_ block: Int) -> Int { flashTile * block * (block + 1) / 2 }

/// Floats of backward's key partials at once (16 MB): bounds them for long sequences.
public let attentionPartialBudget = 1 << 22

public func flashAttentionForward(_ s: AttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                  out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) {
    let nb = blockCount(s.t), tile = flashTile, heads = s.b * s.hq
    // items: every head's last (heaviest) query block first; scratch: the slab, then l of each row
    parallelItems(heads * nb, scratchFloats: tile * s.t + tile) { item, scratch in
        let qb = nb - 1 - item / heads, head = item % heads
        forwardQueryBlock(s, bi: head / s.hq, h: head % s.hq, i0: qb * tile, q: q, k: k, v: v, out: out, lse: lse,
                          slab: scratch, rowSum: scratch + tile * s.t)
    }
}

private func forwardQueryBlock(_ s: AttentionShape, bi: Int, h: Int, i0: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                               v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                               slab: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>) {
    let d = s.d, qLd = s.hq * d, kvLd = s.hkv * d
    let rows = min(flashTile, s.t - i0), cols = i0 + rows
    let qI = q + s.qOffset(bi, h) + i0 * qLd, oI = out + s.qOffset(bi, h) + i0 * qLd, kvOff = s.kvOffset(bi, h)
    sgemm(transA: false, transB: true, m: rows, n: cols, k: d, alpha: s.scale, a: qI, lda: qLd, b: k + kvOff, ldb: kvLd,
          c: slab, ldc: cols)
    let lseRow = lse + (bi * s.hq + h) * s.t + i0
    for r in 0..<rows {
        let sr = slab + r * cols, valid = i0 + r + 1   // keys 0 ..< valid are at or before query i0 + r
        let m = maxOf(sr, count: valid)
        rowSum[r] = fastExpShiftedSum(sr, sr, count: valid, shift: m)
        for c in valid..<cols { sr[c] = 0 }
        lseRow[r] = m + qlog(rowSum[r])
    }
    sgemm(transA: false, transB: false, m: rows, n: d, k: cols, a: slab, lda: cols, b: v + kvOff, ldb: kvLd, c: oI, ldc: qLd)
    for r in 0..<rows {
        let inv = 1 / rowSum[r], o = oI + r * qLd
        for e in 0..<d { o[e] *= inv }
    }
}

/// Accumulates dq, dk, dv (any may be nil) from dout; `out` and `lse` are the forward's.
/// `partialBudget` (floats) sets how many kv heads' partials a wave holds (tests make it small).
public func flashAttentionBackward(_ s: AttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                   out: UnsafePointer<Float>, lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                                   dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?,
                                   partialBudget: Int = attentionPartialBudget) {
    if dq == nil && dk == nil && dv == nil { return }
    let delta = UnsafeMutablePointer<Float>.allocate(capacity: max(s.b * s.hq * s.t, 1))
    defer { delta.deallocate() }
    rowDots(s, dout: dout, out: out, delta: delta)
    let ctx = FlashBackwardContext(s: s, q: q, k: k, v: v, lse: lse, delta: delta, dout: dout, dq: dq, dk: dk, dv: dv)
    let pairs = s.b * s.hkv, pairFloats = ctx.partialFloatsPerPair
    let perWave = pairFloats == 0 ? pairs : max(1, min(pairs, partialBudget / pairFloats))
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: max(perWave * pairFloats, 1))
    defer { partials.deallocate() }
    let nb = blockCount(s.t), tile = flashTile
    var first = 0
    while first < pairs {
        let count = min(perWave, pairs - first), wave = first
        // items: every pair's last (heaviest) query block first
        parallelItems(count * nb, scratchFloats: 2 * tile * s.t) { item, scratch in
            let ib = nb - 1 - item / count, slot = item % count
            ctx.queryBlock(pair: wave + slot, i0: ib * tile, partials: partials + slot * pairFloats,
                           p: scratch, ds: scratch + tile * s.t)
        }
        ctx.addPartials(pairs: wave..<(wave + count), partials: partials)
        first += count
    }
}

/// delta: (B, Hq, T) = rowsum(dO * O)
private func rowDots(_ s: AttentionShape, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, delta: UnsafeMutablePointer<Float>) {
    let d = s.d, qLd = s.hq * d
    parallelFor(s.b * s.hq * s.t, costPerItem: d) { range in
        for row in range {
            let i = row % s.t, bh = row / s.t
            let off = s.qOffset(bh / s.hq, bh % s.hq) + i * qLd
            var dot: Float = 0
            for e in 0..<d { dot += dout[off + e] * out[off + e] }
            delta[row] = dot
        }
    }
}

/// What every backward item reads and writes, and the steps of one item.
private struct FlashBackwardContext {
    let s: AttentionShape
    let q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
    let lse: UnsafePointer<Float>, delta: UnsafePointer<Float>, dout: UnsafePointer<Float>
    let dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?

    /// Floats of one (batch, kv head)'s key partials: dK~ and dV~, each over every query block.
    var partialFloatsPerPair: Int {
        dk == nil && dv == nil ? 0 : 2 * s.d * (partialRowsBefore(blockCount(s.t) - 1) + s.t)
    }

    /// Query block i0 of every query head of kv head pair % hkv (batch pair / hkv): dQ in place,
    /// and the block's dK~, dV~ into `partials` (this pair's).
    func queryBlock(pair: Int, i0: Int, partials: UnsafeMutablePointer<Float>, p: UnsafeMutablePointer<Float>, ds: UnsafeMutablePointer<Float>) {
        let d = s.d, qLd = s.hq * d, kvLd = s.hkv * d, bi = pair / s.hkv, kvHead = pair % s.hkv
        let rows = min(flashTile, s.t - i0), cols = i0 + rows
        let dkPart = partials + d * partialRowsBefore(i0 / flashTile), dvPart = dkPart + partialFloatsPerPair / 2
        for (n, h) in ((kvHead * s.group)..<((kvHead + 1) * s.group)).enumerated() {
            scoreGradients(bi: bi, h: h, i0: i0, rows: rows, p: p, ds: ds)
            let qOff = s.qOffset(bi, h) + i0 * qLd, kvOff = s.kvOffset(bi, h), beta: Float = n == 0 ? 0 : 1
            if let dq {
                sgemm(transA: false, transB: false, m: rows, n: d, k: cols, a: ds, lda: cols, b: k + kvOff, ldb: kvLd,
                      beta: 1, c: dq + qOff, ldc: qLd)
            }
            if dv != nil {
                sgemm(transA: true, transB: false, m: cols, n: d, k: rows, a: p, lda: cols, b: dout + qOff, ldb: qLd,
                      beta: beta, c: dvPart, ldc: d)
            }
            if dk != nil {
                sgemm(transA: true, transB: false, m: cols, n: d, k: rows, a: ds, lda: cols, b: q + qOff, ldb: qLd,
                      beta: beta, c: dkPart, ldc: d)
            }
        }
    }

    /// p = P and ds = dS (scale included) of query block i0 of head h: (rows, i0 + rows), zero
    /// above the diagonal.
    func scoreGradients(bi: Int, h: Int, i0: Int, rows: Int, p: UnsafeMutablePointer<Float>, ds: UnsafeMutablePointer<Float>) {
        let d = s.d, qLd = s.hq * d, kvLd = s.hkv * d, cols = i0 + rows
        let qOff = s.qOffset(bi, h) + i0 * qLd, kvOff = s.kvOffset(bi, h)
        sgemm(transA: false, transB: true, m: rows, n: cols, k: d, alpha: s.scale, a: q + qOff, lda: qLd,
              b: k + kvOff, ldb: kvLd, c: p, ldc: cols)
        sgemm(transA: false, transB: true, m: rows, n: cols, k: d, a: dout + qOff, lda: qLd,
              b: v + kvOff, ldb: kvLd, c: ds, ldc: cols)
        let stats = (bi * s.hq + h) * s.t + i0, scale = s.scale
        for r in 0..<rows {
            let pr = p + r * cols, dr = ds + r * cols
            let valid = i0 + r + 1, m = lse[stats + r], dl = delta[stats + r]
            var c = 0
            while c + 8 <= valid {
                let pv = fastExp(load8(pr + c) - m)
                store8(pv, pr + c)
                store8(pv * (load8(dr + c) - dl) * scale, dr + c)
                c += 8
            }
            while c < valid { let pv = fastExp(pr[c] - m); pr[c] = pv; dr[c] = pv * (dr[c] - dl) * scale; c += 1 }
            for c in valid..<cols { pr[c] = 0; dr[c] = 0 }
        }
    }

    /// dk, dv of the given (batch, kv head) pairs += their partials (`partials` holds the wave's
    /// pairs in order), key by key, summing the query blocks that see the key in increasing order.
    func addPartials(pairs: Range<Int>, partials: UnsafePointer<Float>) {
        let pairFloats = partialFloatsPerPair, d = s.d, nb = blockCount(s.t), kvLd = s.hkv * d
        if pairFloats == 0 { return }
        parallelFor(pairs.count * s.t, costPerItem: 2 * d * nb) { range in
            for row in range {
                let pair = pairs.lowerBound + row / s.t, j = row % s.t
                let base = partials + (row / s.t) * pairFloats
                let target = s.kvOffset(pair / s.hkv, (pair % s.hkv) * s.group) + j * kvLd
                if let dk { addKeyRow(j: j, blocks: nb, partial: base, into: dk + target) }
                if let dv { addKeyRow(j: j, blocks: nb, partial: base + pairFloats / 2, into: dv + target) }
            }
        }
    }

    /// into[0..<D] += row j of partial block I, for I = j / R, j / R + 1, ... in that order.
    @inline(__always)
    func addKeyRow(j: Int, blocks: Int, partial: UnsafePointer<Float>, into: UnsafeMutablePointer<Float>) {
        let d = s.d
        for block in (j / flashTile)..<blocks {
            let row = partial + d * (partialRowsBefore(block) + j)
            for e in 0..<d { into[e] += row[e] }
        }
    }
}
