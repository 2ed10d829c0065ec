// One LLaMA-family decoder block, runnable on its own (block-wise training runs "block i on
// these hidden states") and under autograd.
//
//   x: (B, T, C) -> h = rmsnorm(x) -> q (B,T,Hq,D), k, v (B,T,Hkv,D)
//   -> [qk norm: rmsnorm of each head's D values of q and k, gains (D)] -> rope(q), rope(k)
//   -> causal GQA attention -> o-proj -> x2 = x + attn
//   -> rmsnorm -> silu(gate) * up (B,T,F) -> down -> out = x2 + mlp
// Weights use the Hugging Face (out, in) layout. Q/K/V biases exist only when the
// architecture has them (Qwen2), q/k norms likewise (Qwen3). RoPE's frequencies are the shape's
// (plain, or scaled as Llama-3.1's; QATTensor/Rope.swift).
import QATAutograd
import QATIO
import QATTensor

/// The geometry of a block.
public struct BlockShape: Sendable, Equatable {
    public var hidden: Int, heads: Int, kvHeads: Int, headDim: Int, ffn: Int
    public var rmsEps: Float, ropeTheta: Double, ropeLayout: RopeLayout, attentionBias: Bool
    /// RoPE frequency scaling (nil: plain RoPE).
    public var ropeScaling: RopeScaling?
    /// Per-head RMSNorm of q and k before RoPE (Qwen3).
    public var qkNorm: Bool

    public init(hidden: Int, heads: Int, kvHeads: Int, headDim: Int, ffn: Int, rmsEps: Float = 1e-5,
                ropeTheta: Double = 10000, ropeLayout: RopeLayout = .halfRotate, attentionBias: Bool = false,
                ropeScaling: RopeScaling? = nil, qkNorm: Bool = false) {
        self.hidden = hidden; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.ffn = ffn
        self.rmsEps = rmsEps; self.ropeTheta = ropeTheta; self.ropeLayout = ropeLayout; self.attentionBias = attentionBias
        self.ropeScaling = ropeScaling; self.qkNorm = qkNorm
    }

    /// The block geometry a model config describes, with the given RoPE layout.
    public init(config c: ModelConfig, ropeLayout: RopeLayout) {
        self.init(hidden: c.hiddenSize, heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim, ffn: c.intermediateSize,
                  rmsEps: Float(c.rmsNormEps), ropeTheta: c.ropeTheta, ropeLayout: ropeLayout, attentionBias: c.attentionBias,
                  ropeScaling: c.ropeScaling, qkNorm: c.qkNorm)
    }

    /// The D/2 RoPE frequencies of every table this block uses.
    public var ropeInverseFrequencies: [Double] { QATTensor.ropeInverseFrequencies(headDim: headDim, theta: ropeTheta, scaling: ropeScaling) }

    /// cos/sin for `positions` positions starting at `offset`.
    public func ropeTable(positions t: Int, offset: Int = 0) -> RopeTable {
        RopeTable(positions: t, inverseFrequencies: ropeInverseFrequencies, offset: offset)
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
    // q (Hq*D, C), k (Hkv*D, C), v (Hkv*D, C), o (C, Hq*D); q/k/v biases when attentionBias
    public let q: Linear, k: Linear, v: Linear, o: Linear
    // (D) each, Qwen3's per-head q and k norm gains; nil for architectures without them
    public let qNorm: Var?, kNorm: Var?
    // (C)
    public let ffnNorm: Var
    // gate (F, C), up (F, C), down (C, F)
    public let gate: Linear, up: Linear, down: Linear

    /// A block with the given weights (shapes checked). Names: attn_norm, q_proj, k_proj,
    /// v_proj, o_proj, q_bias, k_bias, v_bias (attentionBias only), q_norm, k_norm (qkNorm only),
    /// ffn_norm, gate_proj, up_proj, down_proj.
    public init(shape s: BlockShape, weights: [String: Tensor]) throws {
        self.shape = s
        let qd = s.heads * s.headDim, kd = s.kvHeads * s.headDim
        func take(_ name: String, _ expected: [Int]) throws -> Tensor {
            guard let t = weights[name] else {
                throw TensorError.invalidArgument(op: "block", message: "missing weight '\(name)' of shape \(expected)")
            }
            guard t.shape == expected else {
                throw TensorError.shapeMismatch(op: "block weight '\(name)'", lhs: t.shape, rhs: expected, hint: "expected the second shape")
            }
            return t
        }
        func linear(_ name: String, _ shape: [Int], bias: String? = nil) throws -> Linear {
            Linear(name: name, weight: try take(name, shape), bias: s.attentionBias ? try bias.map { try take($0, [shape[0]]) } : nil)
        }
        attnNorm = Var(try take("attn_norm", [s.hidden]), requiresGrad: true, name: "attn_norm")
        q = try linear("q_proj", [qd, s.hidden], bias: "q_bias")
        k = try linear("k_proj", [kd, s.hidden], bias: "k_bias")
        v = try linear("v_proj", [kd, s.hidden], bias: "v_bias")
        o = try linear("o_proj", [s.hidden, qd])
        qNorm = s.qkNorm ? Var(try take("q_norm", [s.headDim]), requiresGrad: true, name: "q_norm") : nil
        kNorm = s.qkNorm ? Var(try take("k_norm", [s.headDim]), requiresGrad: true, name: "k_norm") : nil
        ffnNorm = Var(try take("ffn_norm", [s.hidden]), requiresGrad: true, name: "ffn_norm")
        gate = try linear("gate_proj", [s.ffn, s.hidden])
        up = try linear("up_proj", [s.ffn, s.hidden])
        down = try linear("down_proj", [s.hidden, s.ffn])
    }

    /// The seven linears in the order q, k, v, o, gate, up, down.
    public var linears: [Linear] { [q, k, v, o, gate, up, down] }

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
        if s.qkNorm { weights["q_norm"] = try Tensor.ones([s.headDim]); weights["k_norm"] = try Tensor.ones([s.headDim]) }
        return try DecoderBlock(shape: s, weights: weights)
    }

    /// Every full-precision weight with its name, in a fixed order (quantizer parameters are
    /// listed by the quantizers themselves).
    public var parameters: [(String, Var)] {
        var p: [(String, Var)] = [("attn_norm", attnNorm)]
        for l in [q, k, v, o] { p.append((l.name, l.weight)) }
        for (l, b) in [(q, "q_bias"), (k, "k_bias"), (v, "v_bias")] { if let bias = l.bias { p.append((b, bias)) } }
        p += headNorms.map { ($0.0, $0.1) }
        p.append(("ffn_norm", ffnNorm))
        for l in [gate, up, down] { p.append((l.name, l.weight)) }
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
        let qh = try headNormed(q.forward(h).reshaped([b, t, s.heads, s.headDim]), qNorm).rope(table: rope, layout: s.ropeLayout)
        let kh = try headNormed(k.forward(h).reshaped([b, t, s.kvHeads, s.headDim]), kNorm).rope(table: rope, layout: s.ropeLayout)
        let vh = try v.forward(h).reshaped([b, t, s.kvHeads, s.headDim])
        let a = try Var.causalAttention(q: qh, k: kh, v: vh).reshaped([b, t, s.heads * s.headDim])
        let x2 = try x + o.forward(a)
        let h2 = try x2.rmsNorm(weight: ffnNorm, eps: s.rmsEps)
        let m = try Var.swiglu(gate: gate.forward(h2), up: up.forward(h2))
        return try x2 + down.forward(m)
    }

    public func ropeTable(positions t: Int) -> RopeTable { shape.ropeTable(positions: t) }

    /// The q/k norm gains with their names ("q_norm", "k_norm"), empty without q/k norms.
    public var headNorms: [(String, Var)] {
        [("q_norm", qNorm), ("k_norm", kNorm)].compactMap { name, gain in gain.map { (name, $0) } }
    }

    /// x (..., H, D) with each head's D values RMS-normed by `gain` (D); x itself when gain is nil.
    public func headNormed(_ x: Var, _ gain: Var?) throws -> Var {
        guard let gain else { return x }
        return try x.rmsNorm(weight: gain, eps: shape.rmsEps)
    }

    /// The same on a tensor whose last dimension is a multiple of D (rows of H heads), shape kept.
    public func headNormed(_ x: Tensor, _ gain: Var?) throws -> Tensor {
        guard let gain else { return x }
        return try x.reshaped([-1, shape.headDim]).rmsNorm(weight: gain.value, eps: shape.rmsEps).reshaped(x.shape)
    }
}
