// The LLaMA-family model: token embedding, N decoder blocks, final RMSNorm, LM head (tied to
// the embedding when the checkpoint has none).
//
//   tokens (B, T) -> embed (B, T, C) -> block 0 ... block N-1 -> rmsnorm -> head -> logits (B*T, V)
//
// Two paths share the same code: under `noGrad { }` nothing is recorded (the fast inference
// path: full-sequence forward, no KV cache, both cores inside every kernel), and with gradients
// on, every weight that requires a gradient gets one (training). Each block can be run on its
// own (`runBlock`), which is what block-wise training needs.
import QATAutograd
import QATIO
import QATTensor

public final class LlamaModel {
    public let config: ModelConfig
    public let blockShape: BlockShape
    // (V, C)
    public let embedding: Var
    public let blocks: [DecoderBlock]
    // (C)
    public let finalNorm: Var
    // (V, C); nil when tied to `embedding`
    public let lmHead: Var?
    /// Where the weights came from (a path or a name).
    public let source: String

    public init(config: ModelConfig, ropeLayout: RopeLayout, embedding: Tensor, blocks: [DecoderBlock],
                finalNorm: Tensor, lmHead: Tensor?, source: String) throws {
        try config.validate()
        self.config = config
        self.blockShape = BlockShape(config: config, ropeLayout: ropeLayout)
        guard embedding.shape == [config.vocabSize, config.hiddenSize] else {
            throw TensorError.shapeMismatch(op: "model embedding", lhs: embedding.shape, rhs: [config.vocabSize, config.hiddenSize], hint: "expected (vocab, hidden)")
        }
        guard finalNorm.shape == [config.hiddenSize] else {
            throw TensorError.shapeMismatch(op: "model final norm", lhs: finalNorm.shape, rhs: [config.hiddenSize], hint: "expected (hidden)")
        }
        if let lmHead, lmHead.shape != embedding.shape {
            throw TensorError.shapeMismatch(op: "model lm head", lhs: lmHead.shape, rhs: embedding.shape, hint: "expected (vocab, hidden)")
        }
        let expected = blockShape
        guard blocks.count == config.layerCount, blocks.allSatisfy({ $0.shape == expected }) else {
            throw TensorError.invalidArgument(op: "model", message: "expected \(config.layerCount) blocks of shape \(blockShape)")
        }
        self.embedding = Var(embedding, requiresGrad: false, name: "embedding")
        self.blocks = blocks
        self.finalNorm = Var(finalNorm, requiresGrad: false, name: "final_norm")
        self.lmHead = lmHead.map { Var($0, requiresGrad: false, name: "lm_head") }
        self.source = source
    }

    public var vocabSize: Int { config.vocabSize }

    /// Every weight with a stable name ("blocks.3.q_proj", "embedding", ...).
    public var parameters: [(String, Var)] {
        var p: [(String, Var)] = [("embedding", embedding)]
        for (i, b) in blocks.enumerated() { p += b.parameters.map { ("blocks.\(i).\($0.0)", $0.1) } }
        p.append(("final_norm", finalNorm))
        if let lmHead { p.append(("lm_head", lmHead)) }
        return p
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.1.value.count } }

    /// Marks every weight frozen (requiresGrad = false); training code then unfreezes what it trains.
    public func freezeAll() { for (_, p) in parameters { p.requiresGrad = false } }

    /// tokens (B*T, row-major) -> hidden states (B, T, C).
    public func embed(_ tokens: [Int32], batch b: Int, seq t: Int) throws -> Var {
        guard b * t == tokens.count, b > 0, t > 0 else {
            throw TensorError.shapeMismatch(op: "embed", lhs: [b, t], rhs: [tokens.count], hint: "batch x seq must equal the number of tokens")
        }
        return try embedding.embedding(tokens, shape: [b, t])
    }

    public func ropeTable(positions t: Int) -> RopeTable { blockShape.ropeTable(positions: t) }

    /// Block `i` on hidden states (B, T, C).
    public func runBlock(_ i: Int, _ x: Var, rope: RopeTable) throws -> Var {
        guard blocks.indices.contains(i) else {
            throw TensorError.invalidArgument(op: "block", message: "block \(i) does not exist; the model has blocks 0..<\(blocks.count)")
        }
        return try blocks[i].forward(x, rope: rope)
    }

    /// The LM head's weight (V, C): the untied head, or the embedding it is tied to.
    public var headWeight: Var { lmHead ?? embedding }

    /// Final norm, flattened: hidden (B, T, C) -> (B*T, C), what the LM head multiplies.
    public func headInput(_ h: Var) throws -> Var {
        let n = try h.rmsNorm(weight: finalNorm, eps: blockShape.rmsEps)
        return try n.reshaped([-1, config.hiddenSize])
    }

    /// Final norm and LM head: hidden (B, T, C) -> logits (B*T, V).
    public func head(_ h: Var) throws -> Var {
        try Var.matmul(headInput(h), headWeight, transB: true)
    }

    /// Everything but the LM head: tokens (B, T) -> final-normed hidden states (B*T, C). The
    /// losses take these and the head weight (Var.headCrossEntropy), so (B*T, V) logits never exist.
    public func features(_ tokens: [Int32], batch b: Int, seq t: Int) throws -> Var {
        if let window = config.slidingWindow, t > window {
            throw TensorError.invalidArgument(op: "forward", message: "sequence length \(t) exceeds the sliding window \(window), which QATLab does not implement; use ctx <= \(window)")
        }
        let rope = ropeTable(positions: t)
        var h = try embed(tokens, batch: b, seq: t)
        for i in blocks.indices { h = try runBlock(i, h, rope: rope) }
        return try headInput(h)
    }

    /// The whole forward: tokens (B, T) -> logits (B*T, V).
    public func forward(_ tokens: [Int32], batch b: Int, seq t: Int) throws -> Var {
        try Var.matmul(features(tokens, batch: b, seq: t), headWeight, transB: true)
    }

    /// Mean next-token cross-entropy of `targets` (B*T; -1 ignored) with the head fused into the
    /// loss in vocabulary chunks: the same number as Var.crossEntropy(forward(...), targets:).
    public func crossEntropy(_ tokens: [Int32], targets: [Int32], batch b: Int, seq t: Int) throws -> Var {
        try Var.headCrossEntropy(features(tokens, batch: b, seq: t), weight: headWeight, targets: targets)
    }

    /// Inference: logits (B*T, V) with nothing recorded.
    public func logits(_ tokens: [Int32], batch b: Int = 1, seq t: Int? = nil) throws -> Tensor {
        try noGrad { try forward(tokens, batch: b, seq: t ?? tokens.count / max(b, 1)).value }
    }
}
