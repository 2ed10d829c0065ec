// Causal GQA attention in tiles with an online softmax (FlashAttention-2's schedule), forward
// and backward side by side. Shapes as in Attention.swift:
//   q, dq, out, dout: (B, T, Hq, D)   k, v, dk, dv: (B, T, Hkv, D)
//   lse: (B, Hq, T) saved by forward for backward: log sum_j exp(s_ij) of each query row
//   scratch per worker: a few (tile, tile) score tiles and (tile) row statistics
// Queries and keys are cut into blocks of `flashTile` rows. Key blocks above the diagonal are
// never touched (the causal half is skipped), and no more than one tile x tile block of the
// T x T scores exists at a time per worker.
//
// Forward, per (batch, head, query block I), over key blocks J <= I:
//   S = Q_I K_J^T * scale (masked above the diagonal in the block J = I)
//   m' = max(m, rowmax S);  P = exp(S - m');  l = l * exp(m - m') + rowsum P
//   O_I = O_I * exp(m - m') + P V_J;  at the end O_I /= l,  lse_I = m + log l
// Backward recomputes P = exp(S - lse) from the saved lse, with Delta_i = rowsum(dO_i * O_i):
//   dS = P * (dO V_J^T - Delta) * scale;  dV_J += P^T dO_I;  dK_J += dS^T Q_I;  dQ_I += dS K_J
// in two passes so that every work item owns what it writes (no atomics, and the same bits on
// any thread count): pass 1 per (batch, kv head, key block J) sums dK_J and dV_J over the group's
// query heads and the query blocks I >= J; pass 2 per (batch, query head, query block I) sums
// dQ_I over J <= I. Work items run on every thread (parallelItems), the heaviest first.
#if canImport(Glibc)
import Glibc
#endif

/// Rows per query block and per key block (equal, so a diagonal block never has a row with
/// every key masked). 64 unless QAT_ATTENTION_TILE (16...512) says otherwise: a tuning knob for
/// measuring other CPUs; any value gives the same results up to rounding.
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

public func flashAttentionForward(_ s: AttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                  out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) {
    let nb = blockCount(s.t), tile = flashTile
    // items: heaviest (last) query blocks first; scratch: S (tile, tile), m (tile), l (tile)
    parallelItems(s.b * s.hq * nb, scratchFloats: tile * tile + 2 * tile) { item, scratch in
        let qb = nb - 1 - item % nb, head = item / nb
        flashForwardBlock(s, bi: head / s.hq, h: head % s.hq, i0: qb * tile, q: q, k: k, v: v, out: out,
                          lse: lse, scores: scratch, rowMax: scratch + tile * tile, rowSum: scratch + tile * tile + tile)
    }
}

private func flashForwardBlock(_ s: AttentionShape, bi: Int, h: Int, i0: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                               v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                               scores: UnsafeMutablePointer<Float>, rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>) {
    let tile = flashTile, d = s.d, qLd = s.hq * d, kvLd = s.hkv * d
    let rows = min(tile, s.t - i0)
    let qI = q + s.qOffset(bi, h) + i0 * qLd, oI = out + s.qOffset(bi, h) + i0 * qLd
    for r in 0..<rows { rowMax[r] = -.infinity; rowSum[r] = 0 }
    var j0 = 0
    while j0 <= i0 {
        let cols = min(tile, s.t - j0), kvOff = s.kvOffset(bi, h) + j0 * kvLd
        sgemm(transA: false, transB: true, m: rows, n: cols, k: d, alpha: s.scale, a: qI, lda: qLd,
              b: k + kvOff, ldb: kvLd, c: scores, ldc: tile)
        for r in 0..<rows {
            let sr = scores + r * tile
            let valid = j0 == i0 ? r + 1 : cols   // keys j0 ..< j0+valid are at or before query i0+r
            var mx = rowMax[r]
            for c in 0..<valid { mx = max(mx, sr[c]) }
            let rescale = fastExp(rowMax[r] - mx)   // 0 on the first block (m = -inf)
            var sum: Float = 0
            for c in 0..<valid { let e = fastExp(sr[c] - mx); sr[c] = e; sum += e }
            for c in valid..<cols { sr[c] = 0 }
            rowSum[r] = rowSum[r] * rescale + sum
            rowMax[r] = mx
            if j0 > 0 { let o = oI + r * qLd; for e in 0..<d { o[e] *= rescale } }
        }
        sgemm(transA: false, transB: false, m: rows, n: d, k: cols, a: scores, lda: tile, b: v + kvOff, ldb: kvLd,
              beta: j0 == 0 ? 0 : 1, c: oI, ldc: qLd)
        j0 += tile
    }
    let lseRow = lse + (bi * s.hq + h) * s.t + i0
    for r in 0..<rows {
        let inv = 1 / rowSum[r], o = oI + r * qLd
        for e in 0..<d { o[e] *= inv }
        lseRow[r] = rowMax[r] + qlog(rowSum[r])
    }
}

/// Accumulates dq, dk, dv (any may be nil) from dout; `out` and `lse` are the forward's.
public func flashAttentionBackward(_ s: AttentionShape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                   out: UnsafePointer<Float>, lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                                   dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?) {
    if dq == nil && dk == nil && dv == nil { return }
    let nb = blockCount(s.t), tile = flashTile, d = s.d, qLd = s.hq * d
    // delta: (B, Hq, T) = rowsum(dO * O)
    let delta = UnsafeMutablePointer<Float>.allocate(capacity: max(s.b * s.hq * s.t, 1))
    defer { delta.deallocate() }
    parallelFor(s.b * s.hq * s.t, costPerItem: d) { range in
        for row in range {
            let i = row % s.t, bh = row / s.t
            let off = s.qOffset(bh / s.hq, bh % s.hq) + i * qLd
            var dot: Float = 0
            for e in 0..<d { dot += dout[off + e] * out[off + e] }
            delta[row] = dot
        }
    }
    let ctx = FlashBackwardContext(s: s, q: q, k: k, v: v, lse: lse, delta: delta, dout: dout)
    if dk != nil || dv != nil {
        // pass 1 items: (batch, kv head, key block), the heaviest (first) key blocks first
        parallelItems(s.b * s.hkv * nb, scratchFloats: 2 * tile * tile) { item, scratch in
            let jb = item % nb, bk = item / nb
            ctx.keyBlock(bi: bk / s.hkv, kvHead: bk % s.hkv, j0: jb * tile, dk: dk, dv: dv, p: scratch, ds: scratch + tile * tile)
        }
    }
    if let dq {
        // pass 2 items: (batch, query head, query block), the heaviest (last) query blocks first
        parallelItems(s.b * s.hq * nb, scratchFloats: 2 * tile * tile) { item, scratch in
            let ib = nb - 1 - item % nb, bh = item / nb
            ctx.queryBlock(bi: bh / s.hq, h: bh % s.hq, i0: ib * tile, dq: dq, p: scratch, ds: scratch + tile * tile)
        }
    }
}

/// The inputs both backward passes read, and the (query block, key block) step they share.
private struct FlashBackwardContext {
    let s: AttentionShape
    let q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
    let lse: UnsafePointer<Float>, delta: UnsafePointer<Float>, dout: UnsafePointer<Float>

    /// For query block i0 of head h and key block j0: p = P (rows, cols) and ds = dS (rows, cols)
    /// (scale included), both with leading dimension flashTile. Returns (rows, cols).
    func scoreGradients(bi: Int, h: Int, i0: Int, j0: Int, p: UnsafeMutablePointer<Float>, ds: UnsafeMutablePointer<Float>) -> (Int, Int) {
        let tile = flashTile, d = s.d, qLd = s.hq * d, kvLd = s.hkv * d
        let rows = min(tile, s.t - i0), cols = min(tile, s.t - j0)
        let qOff = s.qOffset(bi, h) + i0 * qLd, kvOff = s.kvOffset(bi, h) + j0 * kvLd
        sgemm(transA: false, transB: true, m: rows, n: cols, k: d, alpha: s.scale, a: q + qOff, lda: qLd,
              b: k + kvOff, ldb: kvLd, c: p, ldc: tile)
        sgemm(transA: false, transB: true, m: rows, n: cols, k: d, a: dout + qOff, lda: qLd,
              b: v + kvOff, ldb: kvLd, c: ds, ldc: tile)
        let stats = (bi * s.hq + h) * s.t + i0
        for r in 0..<rows {
            let pr = p + r * tile, dr = ds + r * tile
            let valid = j0 == i0 ? r + 1 : cols, m = lse[stats + r], dl = delta[stats + r]
            for c in 0..<valid {
                let pv = fastExp(pr[c] - m)
                pr[c] = pv
                dr[c] = pv * (dr[c] - dl) * s.scale
            }
            for c in valid..<cols { pr[c] = 0; dr[c] = 0 }
        }
        return (rows, cols)
    }

    /// dK and dV of key block j0 of one kv head: sums over the group's query heads and the
    /// query blocks at or after j0.
    func keyBlock(bi: Int, kvHead: Int, j0: Int, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?,
                  p: UnsafeMutablePointer<Float>, ds: UnsafeMutablePointer<Float>) {
        let tile = flashTile, d = s.d, qLd = s.hq * d, kvLd = s.hkv * d
        for h in (kvHead * s.group)..<((kvHead + 1) * s.group) {
            let kvOff = s.kvOffset(bi, h) + j0 * kvLd
            var i0 = j0
            while i0 < s.t {
                let (rows, cols) = scoreGradients(bi: bi, h: h, i0: i0, j0: j0, p: p, ds: ds)
                let qOff = s.qOffset(bi, h) + i0 * qLd
                if let dv {
                    sgemm(transA: true, transB: false, m: cols, n: d, k: rows, a: p, lda: tile, b: dout + qOff, ldb: qLd,
                          beta: 1, c: dv + kvOff, ldc: kvLd)
                }
                if let dk {
                    sgemm(transA: true, transB: false, m: cols, n: d, k: rows, a: ds, lda: tile, b: q + qOff, ldb: qLd,
                          beta: 1, c: dk + kvOff, ldc: kvLd)
                }
                i0 += tile
            }
        }
    }

    /// dQ of query block i0 of head h: sums over the key blocks at or before i0.
    func queryBlock(bi: Int, h: Int, i0: Int, dq: UnsafeMutablePointer<Float>, p: UnsafeMutablePointer<Float>, ds: UnsafeMutablePointer<Float>) {
        let tile = flashTile, d = s.d, qLd = s.hq * d, kvLd = s.hkv * d
        var j0 = 0
        while j0 <= i0 {
            let (rows, cols) = scoreGradients(bi: bi, h: h, i0: i0, j0: j0, p: p, ds: ds)
            sgemm(transA: false, transB: false, m: rows, n: d, k: cols, a: ds, lda: tile, b: k + s.kvOffset(bi, h) + j0 * kvLd, ldb: kvLd,
                  beta: 1, c: dq + s.qOffset(bi, h) + i0 * qLd, ldc: qLd)
            j0 += tile
        }
    }
}
