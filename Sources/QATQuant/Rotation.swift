// Orthogonal rotation of the residual stream, folded into the weights (QuaRot/SpinQuant's offline
// rotation): the rotated model computes the same full-precision function, but its linears see
// rotated weights, whose outliers are spread over all columns (easier to quantize).
//
// Conventions (y = x W^T + b, W (out, in), x a row vector of length C = hidden size). The
// residual stream h becomes h' = h Q with Q (C, C) orthogonal. The fold, in order:
//   1. Norm gains into their readers: RMSNorm(h) * g feeds W, and (RMSNorm(h) * g) W^T =
//      RMSNorm(h) (W diag(g))^T, so W <- W diag(g) and g <- 1 for attn_norm -> q/k/v,
//      ffn_norm -> gate/up, final norm -> LM head. With unit gain RMSNorm(h Q) = RMSNorm(h) Q,
//      because |h Q| = |h|.
//   2. Embedding rows (V, C): E' = E Q (every token's vector enters rotated).
//   3. Readers of the stream (q, k, v, gate, up, LM head; W (out, C)): W' = W Q, since
//      (h Q) (W Q)^T = h Q Q^T W^T = h W^T. Their biases live in their output space: unchanged.
//   4. Writers to the stream (o, down; W (C, in)): W' = Q^T W, since (a W'^T) = a W^T Q, the
//      rotated update. (A writer bias b would become Q^T b; LLaMA-family o/down have none.)
//   A tied LM head is the embedding times diag(final gain) after step 1, no longer the
//   embedding itself, so the rotated model always has an untied lm_head (tie_word_embeddings
//   false). RoPE, attention and the MLP's inner width are untouched: heads are not rotated.
//
// The matrices (built in Double, stored as Float):
//   kind=random: Haar-random orthogonal Q: QR (LAPACK dgeqrf + dorgqr, one BLAS thread so the
//     bits do not depend on the thread count) of a seeded standard Gaussian C x C matrix, each
//     column of Q multiplied by the sign of R's diagonal entry (without that fix Q is not Haar).
//   kind=hadamard: C = 2^k * m with m odd; Q = Q_m (x) H_{2^k} / sqrt(2^k), the Kronecker product
//     of a seeded Haar-random m x m orthogonal matrix (as above) and the Sylvester Hadamard matrix
//     of order 2^k (H[r][s] = (-1)^popcount(r & s)). SmolLM2's 576 = 9 x 64, Qwen2's 896 = 7 x 128.
//     We chose this over a search for a known Hadamard matrix of order m (QuaRot's tables) because
//     it exists for every C, stays orthogonal exactly, and its power-of-two factor is the part
//     that spreads outliers over 2^k columns at a time.
import CBLAS
import QATAutograd
import QATModel
import QATTensor

public enum RotationKind: String, CaseIterable, Sendable {
    case hadamard, random
}

public enum Rotation {
    /// The largest hidden size rotated (a 16384 x 16384 Double matrix is 2 GiB).
    public static let maxSize = 16384

    /// The (C, C) rotation of kind `kind` for hidden size `size`.
    public static func matrix(kind: RotationKind, size: Int, seed: UInt64) throws -> Tensor {
        // the bound keeps LAPACK's Int32 sizes and a C x C matrix in memory
        guard (1...maxSize).contains(size) else {
            throw TensorError.invalidArgument(op: "rotation", message: "hidden size \(size): expected 1...\(maxSize) for a C x C rotation")
        }
        let q: [Double]
        switch kind {
        case .random: q = try haarOrthogonal(size, seed: seed)
        case .hadamard:
            let (power, odd) = powerOfTwoSplit(size)
            q = kronecker(try haarOrthogonal(odd, seed: seed), odd, sylvesterHadamard(order: power), power)
        }
        return try Tensor(shape: [size, size], q.map { Float($0) })
    }

    /// (2^k, m) with size = 2^k * m and m odd.
    public static func powerOfTwoSplit(_ size: Int) -> (power: Int, odd: Int) {
        var power = 1, odd = size
        while odd > 0, odd % 2 == 0 { odd /= 2; power *= 2 }
        return (power, odd)
    }

    /// The normalised Sylvester Hadamard matrix of order `order` (a power of two), row-major.
    public static func sylvesterHadamard(order: Int) -> [Double] {
        let scale = 1 / Double(order).squareRoot()
        var h = [Double](repeating: 0, count: order * order)
        for r in 0..<order { for s in 0..<order { h[r * order + s] = (r & s).nonzeroBitCount % 2 == 0 ? scale : -scale } }
        return h
    }

    /// A (n a) x (n b) row-major Kronecker product of a (na, na) and b (nb, nb).
    static func kronecker(_ a: [Double], _ na: Int, _ b: [Double], _ nb: Int) -> [Double] {
        let n = na * nb
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<na { for j in 0..<na {
            let aij = a[i * na + j]
            for r in 0..<nb { for s in 0..<nb { out[(i * nb + r) * n + j * nb + s] = aij * b[r * nb + s] } }
        } }
        return out
    }

    /// A seeded Haar-random orthogonal n x n matrix, row-major (see the header).
    public static func haarOrthogonal(_ n: Int, seed: UInt64) throws -> [Double] {
        guard (1...maxSize).contains(n) else {
            throw TensorError.invalidArgument(op: "rotation", message: "size \(n): expected 1...\(maxSize)")
        }
        var rng = SeededRandom(seed: seed)
        // column-major for LAPACK; a Gaussian matrix's transpose is Gaussian, so the order is moot
        var a = (0..<(n * n)).map { _ in Double(rng.normal()) }
        var size = Int32(n), lda = Int32(n), info: Int32 = 0, lwork: Int32 = -1
        var tau = [Double](repeating: 0, count: n), query = 0.0
        func check(_ step: String) throws {
            guard info == 0 else {
                throw TensorError.invalidArgument(op: "rotation", message: "\(step) failed (LAPACK info=\(info)) for a \(n)x\(n) Gaussian matrix; try another seed")
            }
        }
        try Threads.withSingleThreadedBLAS {
            dgeqrf_(&size, &size, &a, &lda, &tau, &query, &lwork, &info)
            try check("dgeqrf workspace query")
            lwork = Int32(max(Double(n), query.rounded(.up)).clamped(to: 1...Double(Int32.max)))
            var work = [Double](repeating: 0, count: Int(lwork))
            dgeqrf_(&size, &size, &a, &lda, &tau, &work, &lwork, &info)
            try check("dgeqrf")
            let signs = (0..<n).map { a[$0 * n + $0] < 0 ? -1.0 : 1.0 }
            dorgqr_(&size, &size, &size, &a, &lda, &tau, &work, &lwork, &info)
            try check("dorgqr")
            for col in 0..<n where signs[col] < 0 { for row in 0..<n { a[col * n + row] = -a[col * n + row] } }
        }
        // column-major Q read row-major is Q^T: also Haar-distributed and orthogonal
        return a
    }

    /// A new model: `model` with its residual stream rotated by q (C, C), folded as in the
    /// header. `model` is not changed. Refuses quantized linears and adapters: a quantizer's
    /// codes belong to the unrotated weight, so rotate the full-precision model first.
    public static func rotated(_ model: LlamaModel, by q: Tensor) throws -> LlamaModel {
        let c = model.config.hiddenSize
        guard q.shape == [c, c] else {
            throw TensorError.shapeMismatch(op: "rotate", lhs: q.shape, rhs: [c, c], hint: "the rotation must be (hidden, hidden)")
        }
        for (i, b) in model.blocks.enumerated() {
            if let l = b.linears.first(where: { $0.quantizer != nil || $0.adapter != nil }) {
                throw TensorError.invalidArgument(op: "rotate", message: """
                    blocks.\(i).\(l.name) is quantized or has an adapter; rotate the full-precision \
                    model, then quantize the rotated one
                    """)
            }
        }
        let blocks = try model.blocks.map { try rotatedBlock($0, q) }
        let headWeight = model.lmHead?.value ?? model.embedding.value
        let head = try Tensor.matmul(try scaledColumns(headWeight, model.finalNorm.value), q)
        var config = model.config
        config.tieWordEmbeddings = false
        return try LlamaModel(config: config, ropeLayout: model.blockShape.ropeLayout,
                              embedding: try Tensor.matmul(model.embedding.value, q), blocks: blocks,
                              finalNorm: try Tensor.ones([c]), lmHead: head, source: model.source)
    }

    static func rotatedBlock(_ b: DecoderBlock, _ q: Tensor) throws -> DecoderBlock {
        // readers: W diag(g) Q; writers: Q^T W
        func reader(_ l: Linear, _ gain: Var) throws -> Tensor { try Tensor.matmul(try scaledColumns(l.weight.value, gain.value), q) }
        func writer(_ l: Linear) throws -> Tensor { try Tensor.matmul(q, l.weight.value, transA: true) }
        var w: [String: Tensor] = [
            "attn_norm": try Tensor.ones([b.shape.hidden]), "ffn_norm": try Tensor.ones([b.shape.hidden]),
            "q_proj": try reader(b.q, b.attnNorm), "k_proj": try reader(b.k, b.attnNorm), "v_proj": try reader(b.v, b.attnNorm),
            "o_proj": try writer(b.o), "gate_proj": try reader(b.gate, b.ffnNorm), "up_proj": try reader(b.up, b.ffnNorm),
            "down_proj": try writer(b.down),
        ]
        for (l, name) in [(b.q, "q_bias"), (b.k, "k_bias"), (b.v, "v_bias")] { if let bias = l.bias { w[name] = bias.value.copy() } }
        // q/k norms act on each head of q and k, after the rotation has cancelled: kept as they are
        for (name, gain) in b.headNorms { w[name] = gain.value.copy() }
        return try DecoderBlock(shape: b.shape, weights: w)
    }

    /// W diag(g): column j of w (rows, C) times g[j].
    static func scaledColumns(_ w: Tensor, _ g: Tensor) throws -> Tensor {
        guard w.rank == 2, g.shape == [w.shape[1]] else {
            throw TensorError.shapeMismatch(op: "rotate norm fold", lhs: w.shape, rhs: g.shape, hint: "expected (rows, C) and (C)")
        }
        let out = w.copy(), cols = w.shape[1]
        for r in 0..<w.shape[0] { for j in 0..<cols { out.data[r * cols + j] *= g.data[j] } }
        return out
    }

    /// max |Q^T Q - I| over all entries, in Double.
    public static func orthogonalityError(_ q: Tensor) -> Double {
        let n = q.shape.first ?? 0, v = q.toArray()
        var worst = 0.0
        for i in 0..<n { for j in i..<n {
            var dot = 0.0
            for r in 0..<n { dot += Double(v[r * n + i]) * Double(v[r * n + j]) }
            worst = max(worst, abs(dot - (i == j ? 1 : 0)))
        } }
        return worst
    }

    /// The largest |w| over every block linear's full-precision weight (what quantizers see).
    public static func maxAbsBlockLinearWeight(_ model: LlamaModel) -> Float {
        var worst: Float = 0
        for b in model.blocks { for l in b.linears { for w in l.weight.value.buffer { worst = max(worst, abs(w)) } } }
        return worst
    }
}

extension Double {
    fileprivate func clamped(to r: ClosedRange<Double>) -> Double { Swift.min(Swift.max(self, r.lowerBound), r.upperBound) }
}
