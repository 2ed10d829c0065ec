// Generation with the KV cache against full recomputation: the cached attention kernel against
// the Double reference attention, a cached block against the reference composition of
// DecoderBlockTests, and whole models (tiny, SmolLM2, and a random GQA model with biases, a
// quantizer and an adapter on every linear) decoding token for token as a loop that reruns the
// whole sequence through `logits` at every step.
import Testing
@testable import QATModel
import QATAutograd
import QATIO
import QATTensor
import QATTokenizer

/// Greedy decoding by full recomputation (the old `generate`): the oracle. Returns the tokens
/// and the last row of logits of every step.
func recomputedGreedy(_ m: LlamaModel, prompt: [Int32], tokens n: Int) throws -> ([Int32], [[Float]]) {
    var seq = prompt, rows: [[Float]] = []
    for _ in 0..<n {
        let logits = try m.logits(seq)
        let last = Array(UnsafeBufferPointer(start: logits.data + (seq.count - 1) * m.vocabSize, count: m.vocabSize))
        var best = 0
        for j in 1..<last.count where last[j] > last[best] { best = j }
        rows.append(last); seq.append(Int32(best))
    }
    return (Array(seq[prompt.count...]), rows)
}

/// Cached decoding of `tokens` (the recomputation's own choices), each step's logits.
func cachedLogits(_ m: LlamaModel, prompt: [Int32], tokens: [Int32]) throws -> [[Float]] {
    let session = try DecodeSession(model: m, capacity: prompt.count + tokens.count)
    var rows = [try session.feed(prompt)]
    for t in tokens.dropLast() { rows.append(try session.feed([t])) }
    return rows
}

func maxAbsDifference(_ a: [[Float]], _ b: [[Float]]) -> Float {
    var worst: Float = 0
    for (x, y) in zip(a, b) { for (u, v) in zip(x, y) { worst = max(worst, abs(u - v)) } }
    return a.count == b.count ? worst : .infinity
}

/// A LinearQuantizer for tests: rounds the weight to multiples of 1/32 and counts its calls.
final class RoundingQuantizer: LinearQuantizer {
    var calls = 0
    func effectiveWeight(_ weight: Var) throws -> Var {
        calls += 1
        let w = weight.value.copy()
        for i in 0..<w.count { w.data[i] = (w.data[i] * 32).rounded() / 32 }
        return Var(w)
    }
    var parameters: [(String, Var)] { [] }
    var summary: String { "round to 1/32" }
}

/// A LinearAdapter for tests: delta(x) = x A^T with a fixed random A (out, in).
final class FixedAdapter: LinearAdapter {
    let a: Var
    init(out: Int, in inFeatures: Int, seed: UInt64) throws { a = Var(try Tensor.randn([out, inFeatures], seed: seed, std: 0.05)) }
    func delta(_ x: Var) throws -> Var { try Var.linear(x, weight: a) }
}

/// A random 3-block model: 6 query heads over 2 kv heads, q/k/v biases, rotate-half RoPE.
func randomGQAModel(seed: UInt64) throws -> LlamaModel {
    let config = ModelConfig(architecture: "Qwen2ForCausalLM", vocabSize: 50, hiddenSize: 48, intermediateSize: 64, layerCount: 3,
                             headCount: 6, kvHeadCount: 2, headDim: 8, rmsNormEps: 1e-5, maxPositions: 64, attentionBias: true)
    let shape = BlockShape(hidden: 48, heads: 6, kvHeads: 2, headDim: 8, ffn: 64, rmsEps: 1e-5, ropeTheta: 10000, attentionBias: true)
    let blocks = try (0..<3).map { i -> DecoderBlock in
        let b = try DecoderBlock.random(shape: shape, seed: seed &+ UInt64(100 * i))
        for (_, p) in b.parameters { for j in 0..<p.value.count { p.value.data[j] *= 10 } }   // make the blocks non-trivial
        return b
    }
    return try LlamaModel(config: config, ropeLayout: .halfRotate, embedding: try Tensor.randn([50, 48], seed: seed &+ 7),
                          blocks: blocks, finalNorm: try Tensor.ones([48]), lmHead: try Tensor.randn([50, 48], seed: seed &+ 8), source: "random")
}

@Suite struct GenerationTests {
    /// New rows after `past` cached ones against the Double reference over the whole sequence.
    @Test(arguments: [0, 1, 9, 16])
    func cachedAttentionMatchesTheReference(past: Int) throws {
        let total = 17, hq = 6, hkv = 2, d = 20   // d not a multiple of 8: the dot product's tail runs
        let q = try Tensor.randn([total, hq, d], seed: 1), k = try Tensor.randn([total, hkv, d], seed: 2)
        let v = try Tensor.randn([total, hkv, d], seed: 3)
        let ref = Tensor(zeros: [total, hq, d])
        attentionReference(AttentionShape(b: 1, t: total, hq: hq, hkv: hkv, d: d), q: q.data, k: k.data, v: v.data, out: ref.data)
        let t = total - past
        let out = Tensor(zeros: [t, hq, d])
        cachedAttentionForward(try CachedAttentionShape(t: t, past: past, hq: hq, hkv: hkv, d: d),
                               q: q.data + past * hq * d, k: k.data, v: v.data, out: out.data)
        var worst: Float = 0
        for i in 0..<out.count { worst = max(worst, abs(out.data[i] - ref.data[past * hq * d + i])) }
        #expect(worst < 1e-5, "max abs difference \(worst)")
    }

    /// A block fed its rows one at a time through the cache gives the reference block's rows.
    @Test(arguments: [false, true])
    func cachedBlockRowByRowMatchesTheReferenceBlock(bias: Bool) throws {
        var s = tinyShape; s.attentionBias = bias
        let blk = try DecoderBlock.random(shape: s, seed: 4)
        for (_, p) in blk.parameters { for i in 0..<p.value.count { p.value.data[i] *= 20 } }
        let t = 9
        let x = try Tensor.randn([1, t, s.hidden], seed: 5)
        let ref = referenceBlock(blk, x)
        let cache = try KVCache(blocks: 1, capacity: t, kvHeads: s.kvHeads, headDim: s.headDim)
        let linears = try blk.frozenLinears()
        var scale: Float = 0, worst: Float = 0
        // the first 4 rows as one prefill, then one row at a time
        for (lo, hi) in [(0, 4)] + (4..<t).map({ ($0, $0 + 1) }) {
            let y = try blk.forwardCached(try x.reshaped([t, s.hidden]).sliced(axis: 0, lo, hi), linears: linears, cache: cache, index: 0)
            cache.commit(rows: hi - lo)
            for i in 0..<y.count {
                worst = max(worst, abs(y.data[i] - ref.data[lo * s.hidden + i])); scale = max(scale, abs(ref.data[lo * s.hidden + i]))
            }
        }
        #expect(worst / scale < 1e-5, "max abs difference \(worst), max |y| \(scale)")
    }

    @Test func tinyGreedyDecodingEqualsFullRecomputation() throws {
        let loaded = try ModelLoader.load("tiny")
        let prompt = loaded.tokenizer.encode("The devil is in the", addSpecial: true, parseSpecial: false)
        let (tokens, rows) = try recomputedGreedy(loaded.model, prompt: prompt, tokens: 40)
        let generated = try loaded.model.generate(prompt: prompt, maxTokens: 40, eos: nil)
        #expect(generated.tokens == tokens)
        // logits of every step within 1e-4 of the full forward's last row (tiny's logits are O(10))
        let worst = maxAbsDifference(try cachedLogits(loaded.model, prompt: prompt, tokens: tokens), rows)
        #expect(worst < 1e-4, "max abs logit difference \(worst)")
    }

    @Test func smolLM2GreedyDecodingEqualsFullRecomputation() throws {
        let loaded = try SmolLM2.load()
        let prompt = loaded.tokenizer.encode("The capital of France is", addSpecial: true, parseSpecial: true)
        let (tokens, rows) = try recomputedGreedy(loaded.model, prompt: prompt, tokens: 16)
        let generated = try loaded.model.generate(prompt: prompt, maxTokens: 16, eos: nil)
        #expect(generated.tokens == tokens)
        #expect(loaded.tokenizer.decode(Array(tokens.prefix(1))) == " Paris")
        // the logits budget (ours against the numpy reference) holds here too
        let worst = maxAbsDifference(try cachedLogits(loaded.model, prompt: prompt, tokens: tokens), rows)
        #expect(worst < logitsBudget, "max abs logit difference \(worst)")
    }

    /// Biases, GQA, a quantizer and an adapter on every linear: the cached path computes what
    /// Linear.forward computes, and each quantizer runs once per generation, not once per token.
    @Test func quantizedAdaptedGQAModelDecodesAsTheFullForward() throws {
        let m = try randomGQAModel(seed: 20)
        var quantizers: [RoundingQuantizer] = []
        for (i, b) in m.blocks.enumerated() {
            for (j, l) in b.linears.enumerated() {
                let q = RoundingQuantizer()
                l.quantizer = q; quantizers.append(q)
                l.adapter = try FixedAdapter(out: l.outFeatures, in: l.inFeatures, seed: UInt64(1000 + 10 * i + j))
            }
        }
        let prompt: [Int32] = [3, 14, 15, 9, 26, 5]
        let (tokens, rows) = try recomputedGreedy(m, prompt: prompt, tokens: 20)
        for q in quantizers { q.calls = 0 }
        let generated = try m.generate(prompt: prompt, maxTokens: 20, eos: nil)
        #expect(generated.tokens == tokens)
        #expect(quantizers.allSatisfy { $0.calls == 1 }, "calls: \(quantizers.map(\.calls))")
        var scale: Float = 0
        for r in rows { for x in r { scale = max(scale, abs(x)) } }
        let worst = maxAbsDifference(try cachedLogits(m, prompt: prompt, tokens: tokens), rows)
        #expect(worst / scale < 1e-5, "max abs logit difference \(worst), max |logit| \(scale)")
    }

    @Test func stopsAtEOSAndCountsWhatItMade() throws {
        let loaded = try ModelLoader.load("tiny")
        let prompt = loaded.tokenizer.encode("Hello", addSpecial: true, parseSpecial: false)
        let free = try loaded.model.generate(prompt: prompt, maxTokens: 12, eos: nil)
        #expect(free.tokens.count == 12 && !free.stoppedAtEOS && free.promptTokens == prompt.count)
        // call the third greedy token the EOS: generation ends right after it
        let stopped = try loaded.model.generate(prompt: prompt, maxTokens: 12, eos: free.tokens[2])
        let firstHit = free.tokens.firstIndex(of: free.tokens[2]) ?? 2
        #expect(stopped.stoppedAtEOS && stopped.tokens == Array(free.tokens.prefix(firstHit + 1)))
        #expect(stopped.decodeTokensPerSecond != nil || stopped.tokens.count == 1)
        let one = try loaded.model.generate(prompt: prompt, maxTokens: 1, eos: nil)
        #expect(one.tokens == [free.tokens[0]] && one.decodeTokensPerSecond == nil)
    }

    @Test func contextLongerThanThePositionsIsAnError() throws {
        let m = try ModelLoader.load("tiny").model   // 512 positions
        #expect(m.config.maxPositions == 512)
        let prompt = [Int32](repeating: 65, count: 500)
        _ = try m.generate(prompt: prompt, maxTokens: 13, eos: nil)   // positions 0..<512 run
        #expect(throws: TensorError.self) { try m.generate(prompt: prompt, maxTokens: 14, eos: nil) }
        #expect(throws: TensorError.self) { try m.generate(prompt: [Int32](repeating: 65, count: 513), maxTokens: 1, eos: nil) }
        #expect(throws: TensorError.self) { try m.generate(prompt: [], maxTokens: 4, eos: nil) }
        #expect(throws: TensorError.self) { try m.generate(prompt: [9999], maxTokens: 4, eos: nil) }
    }
}
