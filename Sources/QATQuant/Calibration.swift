// Calibration data for the post-training quantizers (GPTQ, AWQ) and the activations they read.
//
// Windows: the text is tokenized once as a whole (the tokenizer's own BOS/EOS policy), then
// `count` windows of `seqlen` consecutive tokens are drawn independently: window j starts at
// SeededRandom(seed).next() % (n - seqlen + 1), the j-th draw, so windows may overlap (as
// GPTQ's C4/WikiText windows, which call randint(0, n - seqlen - 1) once per window).
//
// Activations: hidden states are kept as micro-batches of whole windows, each (b, T, C), with b
// chosen so that one attention's probabilities (b, Hq, T, T) stay under ~64 MB. A block is run
// part by part (the same ops, in the same order, as DecoderBlock.forward, so the final output is
// bit for bit the block's forward) to read the inputs of its linears at four sites:
//   attentionIn   h = rmsnorm(x) * attn_norm                 -> q, k, v
//   attentionOut  causal attention output, (b, T, Hq*D)      -> o
//   mlpIn         h2 = rmsnorm(x + o(attn)) * ffn_norm       -> gate, up
//   mlpHidden     silu(gate(h2)) * up(h2), (b, T, F)         -> down
// Linears run with whatever quantizer they carry, which is how GPTQ re-collects inputs after each
// sub-group with the already-quantized linears. Everything runs under noGrad.
import QATAutograd
import QATModel
import QATTensor
import QATTokenizer

public struct CalibrationSet: Sendable {
    /// Token windows, all of the same length.
    public let windows: [[Int32]]

    public init(windows: [[Int32]]) throws {
        guard let first = windows.first, !first.isEmpty, windows.allSatisfy({ $0.count == first.count }) else {
            throw TensorError.invalidArgument(op: "calibration", message: "needs at least one window, all of the same non-zero length")
        }
        self.windows = windows
    }

    public var seqlen: Int { windows[0].count }
    public var tokenCount: Int { windows.count * seqlen }

    /// `count` random windows of `seqlen` tokens from `tokens` (see the header for the draw).
    public static func sample(tokens: [Int32], count: Int, seqlen: Int, seed: UInt64) throws -> CalibrationSet {
        guard count >= 1, seqlen >= 1 else {
            throw TensorError.invalidArgument(op: "calibration", message: "count=\(count) seqlen=\(seqlen): both must be at least 1")
        }
        guard tokens.count >= seqlen else {
            throw TensorError.invalidArgument(op: "calibration", message: "the text has \(tokens.count) tokens, fewer than one window of \(seqlen); use a longer text or a shorter window")
        }
        var rng = SeededRandom(seed: seed)
        let starts = UInt64(tokens.count - seqlen + 1)
        let windows = (0..<count).map { _ -> [Int32] in
            let s = Int(rng.next() % starts)
            return Array(tokens[s..<(s + seqlen)])
        }
        return try CalibrationSet(windows: windows)
    }

    /// Windows from a text by name or path (TextCorpus), tokenized with `tokenizer`.
    public static func load(text spec: String, tokenizer: any TextTokenizer, count: Int, seqlen: Int, seed: UInt64 = 0) throws -> CalibrationSet {
        let text = try TextCorpus.load(spec)
        let tokens = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
        return try sample(tokens: tokens, count: count, seqlen: seqlen, seed: seed)
    }
}

/// Where in a block a linear reads its input.
public enum BlockSite: Int, Sendable, Comparable, CaseIterable {
    case attentionIn, attentionOut, mlpIn, mlpHidden, output
    public static func < (a: BlockSite, b: BlockSite) -> Bool { a.rawValue < b.rawValue }
}

/// The seven linears of a block by role.
public enum BlockLinear: String, Sendable, CaseIterable {
    case q, k, v, o, gate, up, down

    public var site: BlockSite {
        switch self {
        case .q, .k, .v: return .attentionIn
        case .o: return .attentionOut
        case .gate, .up: return .mlpIn
        case .down: return .mlpHidden
        }
    }

    public func linear(in b: DecoderBlock) -> Linear {
        switch self {
        case .q: return b.q
        case .k: return b.k
        case .v: return b.v
        case .o: return b.o
        case .gate: return b.gate
        case .up: return b.up
        case .down: return b.down
        }
    }
}

/// The activations of one micro-batch at every site of a block.
public struct BlockActivations {
    // (b, T, C), (b, T, Hq*D), (b, T, C), (b, T, F), (b, T, C)
    public let attentionIn: Tensor, attentionOut: Tensor, mlpIn: Tensor, mlpHidden: Tensor, output: Tensor

    public subscript(site: BlockSite) -> Tensor {
        switch site {
        case .attentionIn: return attentionIn
        case .attentionOut: return attentionOut
        case .mlpIn: return mlpIn
        case .mlpHidden: return mlpHidden
        case .output: return output
        }
    }
}

public enum Calibration {
    /// Windows per micro-batch: attention probabilities (b, Hq, T, T) under 16M floats.
    public static func windowsPerBatch(shape: BlockShape, seqlen: Int) -> Int {
        max(1, (16 << 20) / max(1, shape.heads * seqlen * seqlen))
    }

    /// The inputs of block 0 (the embedding output) for every window, as micro-batches (b, T, C).
    public static func blockInputs(model: LlamaModel, calibration: CalibrationSet) throws -> [Tensor] {
        let t = calibration.seqlen, per = windowsPerBatch(shape: model.blockShape, seqlen: t)
        return try noGrad {
            try stride(from: 0, to: calibration.windows.count, by: per).map { start in
                let batch = calibration.windows[start..<min(start + per, calibration.windows.count)]
                return try model.embed(Array(batch.joined()), batch: batch.count, seq: t).value
            }
        }
    }

    /// Runs `block` on x (b, T, C) as far as `site` and returns the activation there.
    public static func activation(at site: BlockSite, block: DecoderBlock, input x: Tensor, rope: RopeTable) throws -> Tensor {
        try run(block, x, rope: rope, through: site)[site.rawValue]
    }

    /// Every site's activation for x (b, T, C).
    public static func activations(block: DecoderBlock, input x: Tensor, rope: RopeTable) throws -> BlockActivations {
        let a = try run(block, x, rope: rope, through: .output)
        return BlockActivations(attentionIn: a[0], attentionOut: a[1], mlpIn: a[2], mlpHidden: a[3], output: a[4])
    }

    /// The block's outputs for every micro-batch (the next block's inputs).
    public static func outputs(block: DecoderBlock, inputs: [Tensor], rope: RopeTable) throws -> [Tensor] {
        try inputs.map { try activation(at: .output, block: block, input: $0, rope: rope) }
    }

    /// Activations of sites 0...through, in site order.
    static func run(_ b: DecoderBlock, _ x: Tensor, rope: RopeTable, through last: BlockSite) throws -> [Tensor] {
        let s = b.shape
        guard x.rank == 3, x.shape[2] == s.hidden else {
            throw TensorError.shapeMismatch(op: "calibration block run", lhs: x.shape, rhs: [-1, -1, s.hidden], hint: "input must be (B, T, hidden)")
        }
        return try noGrad {
            let xv = Var(x)
            let h = try xv.rmsNorm(weight: b.attnNorm, eps: s.rmsEps)
            var out = [h.value]
            if last == .attentionIn { return out }
            let a = try attentionCore(b, h, rope: rope, q: b.q.effectiveWeight(), k: b.k.effectiveWeight(), v: b.v.effectiveWeight())
            out.append(a.value)
            if last == .attentionOut { return out }
            let x2 = try xv + b.o.forward(a)
            let h2 = try x2.rmsNorm(weight: b.ffnNorm, eps: s.rmsEps)
            out.append(h2.value)
            if last == .mlpIn { return out }
            let m = try Var.swiglu(gate: b.gate.forward(h2), up: b.up.forward(h2))
            out.append(m.value)
            if last == .mlpHidden { return out }
            out.append(try (x2 + b.down.forward(m)).value)
            return out
        }
    }

    /// Causal attention of h (b, T, C) with the given q/k/v weights and the block's biases:
    /// (b, T, Hq*D), before o_proj. The same ops as DecoderBlock.forward.
    static func attentionCore(_ b: DecoderBlock, _ h: Var, rope: RopeTable, q wq: Var, k wk: Var, v wv: Var) throws -> Var {
        let s = b.shape, n = h.shape[0], t = h.shape[1]
        let qh = try b.headNormed(Var.linear(h, weight: wq, bias: b.q.bias).reshaped([n, t, s.heads, s.headDim]), b.qNorm)
            .rope(table: rope, layout: s.ropeLayout)
        let kh = try b.headNormed(Var.linear(h, weight: wk, bias: b.k.bias).reshaped([n, t, s.kvHeads, s.headDim]), b.kNorm)
            .rope(table: rope, layout: s.ropeLayout)
        let vh = try Var.linear(h, weight: wv, bias: b.v.bias).reshaped([n, t, s.kvHeads, s.headDim])
        return try Var.causalAttention(q: qh, k: kh, v: vh).reshaped([n, t, s.heads * s.headDim])
    }
}
