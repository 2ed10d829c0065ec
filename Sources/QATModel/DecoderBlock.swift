// One LLaMA-family decoder block, runnable on its own (block-wise training runs "block i on
// these hidden states") and under autograd.
//
//   x: (B, T, C) -> h = rmsnorm(x) -> q (B,T,Hq,D), k, v (B,T,Hkv,D) -> rope(q), rope(k)
//   -> causal GQA attention -> o-proj -> x2 = x + attn
//   -> rmsnorm -> silu(gate) * up (B,T,F) -> down -> out = x2 + mlp
// Weights use the Hugging Face (out, in) layout. Q/K/V biases exist only when the
// architecture has them (Qwen2).
import QATAutograd
import QATTensor

/// The geometry of a block.
public struct BlockShape: Sendable, Equatable {
    public var hidden: Int, heads: Int, kvHeads: Int, headDim: Int, ffn: Int
    public var rmsEps: Float, ropeTheta: Double, ropeLayout: RopeLayout, attentionBias: Bool

    public init(hidden: Int, heads: Int, kvHeads: Int, headDim: Int, ffn: Int, rmsEps: Float = 1e-5,
                ropeTheta: Double = 10000, ropeLayout: RopeLayout = .halfRotate, attentionBias: Bool = false) {
        self.hidden = hidden; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.ffn = ffn
        self.rmsEps = rmsEps; self.ropeTheta = ropeTheta; self.ropeLayout = ropeLayout; self.attentionBias = attentionBias
    }

    /// SmolLM2-135M: hidden 576, 9 heads, 3 KV heads, head dim 64, MLP 1536, theta 1e5.
    public static let smolLM2 = BlockShape(hidden: 576, heads: 9, kvHeads: 3, headDim: 64, ffn: 1536, rmsEps: 1e-5, ropeTheta: 100_000)

    /// Weights in the linears (what matmul FLOPs scale with).
    public var linearParameterCount: Int {
        hidden * (heads + 2 * kvHeads) * headDim + heads * headDim * hidden + 3 * hidden * ffn
    }
}

public final class DecoderBlock {
    public let shape: BlockShape
    // (C)
    public let attnNorm: Var
    // (Hq*D, C), (Hkv*D, C), (Hkv*D, C), (C, Hq*D)
    public let wq: Var, wk: Var, wv: Var, wo: Var
    // (Hq*D), (Hkv*D), (Hkv*D) when attentionBias
    public let bq: Var?, bk: Var?, bv: Var?
    // (C)
    public let ffnNorm: Var
    // (F, C), (F, C), (C, F)
    public let wGate: Var, wUp: Var, wDown: Var

    /// A block with the given weights (shapes checked).
    public init(shape s: BlockShape, weights: [String: Tensor]) throws {
        self.shape = s
        let qd = s.heads * s.headDim, kd = s.kvHeads * s.headDim
        func take(_ name: String, _ expected: [Int]) throws -> Var {
            guard let t = weights[name] else {
                throw TensorError.invalidArgument(op: "block", message: "missing weight '\(name)' of shape \(expected)")
            }
            guard t.shape == expected else {
                throw TensorError.shapeMismatch(op: "block weight '\(name)'", lhs: t.shape, rhs: expected, hint: "expected the second shape")
            }
            return Var(t, requiresGrad: true, name: name)
        }
        attnNorm = try take("attn_norm", [s.hidden])
        wq = try take("q_proj", [qd, s.hidden]); wk = try take("k_proj", [kd, s.hidden])
        wv = try take("v_proj", [kd, s.hidden]); wo = try take("o_proj", [s.hidden, qd])
        bq = s.attentionBias ? try take("q_bias", [qd]) : nil
        bk = s.attentionBias ? try take("k_bias", [kd]) : nil
        bv = s.attentionBias ? try take("v_bias", [kd]) : nil
        ffnNorm = try take("ffn_norm", [s.hidden])
        wGate = try take("gate_proj", [s.ffn, s.hidden]); wUp = try take("up_proj", [s.ffn, s.hidden])
        wDown = try take("down_proj", [s.hidden, s.ffn])
    }

    /// A block with seeded random weights (std 0.02, norm gains 1): benchmarks and tests.
    public static func random(shape s: BlockShape, seed: UInt64) throws -> DecoderBlock {
        let qd = s.heads * s.headDim, kd = s.kvHeads * s.headDim
        var shapes: [String: [Int]] = [
            "q_proj": [qd, s.hidden], "k_proj": [kd, s.hidden], "v_proj": [kd, s.hidden], "o_proj": [s.hidden, qd],
            "gate_proj": [s.ffn, s.hidden], "up_proj": [s.ffn, s.hidden], "down_proj": [s.hidden, s.ffn],
        ]
        if s.attentionBias { shapes["q_bias"] = [qd]; shapes["k_bias"] = [kd]; shapes["v_bias"] = [kd] }
        var weights: [String: Tensor] = [:]
        for (i, name) in shapes.keys.sorted().enumerated() {
            weights[name] = try Tensor.randn(shapes[name] ?? [], seed: seed &+ UInt64(i), std: 0.02)
        }
        weights["attn_norm"] = try Tensor.ones([s.hidden]); weights["ffn_norm"] = try Tensor.ones([s.hidden])
        return try DecoderBlock(shape: s, weights: weights)
    }

    /// Every weight with its name, in a fixed order.
    public var parameters: [(String, Var)] {
        var p: [(String, Var)] = [("attn_norm", attnNorm), ("q_proj", wq), ("k_proj", wk), ("v_proj", wv), ("o_proj", wo)]
        if let bq, let bk, let bv { p += [("q_bias", bq), ("k_bias", bk), ("v_bias", bv)] }
        p += [("ffn_norm", ffnNorm), ("gate_proj", wGate), ("up_proj", wUp), ("down_proj", wDown)]
        return p
    }

    /// x: (B, T, C) -> (B, T, C). `rope` must be a table for T positions.
    public func forward(_ x: Var, rope: RopeTable) throws -> Var {
        let s = shape
        guard x.value.rank == 3, x.shape[2] == s.hidden else {
            throw TensorError.shapeMismatch(op: "block", lhs: x.shape, rhs: [-1, -1, s.hidden], hint: "input must be (B, T, hidden)")
        }
        let b = x.shape[0], t = x.shape[1]
        let h = try x.rmsNorm(weight: attnNorm, eps: s.rmsEps)
        let q = try Var.linear(h, weight: wq, bias: bq).reshaped([b, t, s.heads, s.headDim]).rope(table: rope, layout: s.ropeLayout)
        let k = try Var.linear(h, weight: wk, bias: bk).reshaped([b, t, s.kvHeads, s.headDim]).rope(table: rope, layout: s.ropeLayout)
        let v = try Var.linear(h, weight: wv, bias: bv).reshaped([b, t, s.kvHeads, s.headDim])
        let a = try Var.causalAttention(q: q, k: k, v: v).reshaped([b, t, s.heads * s.headDim])
        let x2 = try x + Var.linear(a, weight: wo)
        let h2 = try x2.rmsNorm(weight: ffnNorm, eps: s.rmsEps)
        let m = try Var.swiglu(gate: Var.linear(h2, weight: wGate), up: Var.linear(h2, weight: wUp))
        return try x2 + Var.linear(m, weight: wDown)
    }

    public func ropeTable(positions t: Int) -> RopeTable {
        RopeTable(positions: t, headDim: shape.headDim, theta: shape.ropeTheta)
    }
}
