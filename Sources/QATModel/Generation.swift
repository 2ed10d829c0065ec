// Generation with a KV cache: the prompt runs once through the batched forward (prefill), each
// block keeping its K and V; every later token runs alone, its attention reading the cache.
//
//   prefill:  prompt (P tokens) -> blocks (cache gets positions 0..<P) -> logits of row P-1
//   step:     token at position n -> blocks (cache gets position n) -> its logits
// Only the last row goes through the final norm and the LM head. Timing follows the usual
// split: prefill = the prompt's forward and the first new token (time to first token); decode =
// every later token (one forward and one draw each), so decode_tok_per_s = (new - 1) / seconds.
// Inference only: the linears are frozen at the start (DecoderBlock+Decode.swift), so a model
// must not be trained while it generates.
import QATAutograd
import QATTensor

/// One sequence being decoded: the frozen linears and the cache.
public final class DecodeSession {
    public let model: LlamaModel
    public let cache: KVCache
    let linears: [FrozenBlockLinears]

    /// A session for up to `capacity` positions (prompt + new tokens).
    public init(model: LlamaModel, capacity: Int) throws {
        guard capacity <= model.config.maxPositions else {
            throw TensorError.invalidArgument(op: "context",
                message: "\(capacity) positions exceed the model's \(model.config.maxPositions) (max_position_embeddings); use a shorter prompt or fewer new tokens")
        }
        if let window = model.config.slidingWindow, capacity > window {
            throw TensorError.invalidArgument(op: "context",
                message: "\(capacity) positions exceed the sliding window \(window), which QATLab does not implement; use a shorter prompt or fewer new tokens")
        }
        self.model = model
        self.cache = try KVCache(model: model, capacity: capacity)
        self.linears = try model.blocks.map { try $0.frozenLinears() }
    }

    /// Runs `tokens` (the prompt, or one new token) at the next positions; returns the logits of
    /// the last of them, (V).
    public func feed(_ tokens: [Int32]) throws -> [Float] {
        guard !tokens.isEmpty else { throw TensorError.invalidArgument(op: "decode", message: "no tokens to run (the prompt is empty)") }
        let t = tokens.count
        var h = try model.embedding.value.gatherRows(tokens, indicesShape: [t])
        for (i, block) in model.blocks.enumerated() {
            h = try block.forwardCached(h, linears: linears[i], cache: cache, index: i)
        }
        cache.commit(rows: t)
        let last = try h.sliced(axis: 0, t - 1, t)
        let n = try last.rmsNorm(weight: model.finalNorm.value, eps: model.blockShape.rmsEps)
        var logits = [Float](repeating: 0, count: model.vocabSize)
        logits.withUnsafeMutableBufferPointer { out in
            guard let y = out.baseAddress else { return }
            matvec((model.lmHead ?? model.embedding).value.data, n.data, y, rows: model.vocabSize, cols: n.count)
        }
        return logits
    }
}

public struct GenerationResult: Sendable {
    /// The new tokens (an EOS that stopped generation is the last of them).
    public var tokens: [Int32]
    public var promptTokens: Int
    public var stoppedAtEOS: Bool
    /// The prompt's forward and the first new token.
    public var prefillSeconds: Double
    /// Every new token after the first.
    public var decodeSeconds: Double

    public var prefillTokensPerSecond: Double { Double(promptTokens) / prefillSeconds }
    /// Tokens after the first per second; nil when only one token was made.
    public var decodeTokensPerSecond: Double? { tokens.count > 1 ? Double(tokens.count - 1) / decodeSeconds : nil }
}

extension LlamaModel {
    /// Continues `prompt` by up to `maxTokens` tokens with a KV cache, stopping after `eos`.
    /// `onToken` sees each token as it is made (to print it). The prompt and the new tokens must
    /// fit in the model's positions.
    public func generate(prompt: [Int32], maxTokens: Int, eos: Int32?, sampling: SamplingOptions = .greedy,
                         onToken: ((Int32) throws -> Void)? = nil) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw TensorError.invalidArgument(op: "prompt", message: "the prompt is empty") }
        guard maxTokens >= 1 else { throw TensorError.invalidArgument(op: "new tokens", message: "tokens=\(maxTokens) must be at least 1") }
        for (i, t) in prompt.enumerated() where t < 0 || Int(t) >= vocabSize {
            throw TensorError.invalidArgument(op: "prompt", message: "token \(t) at position \(i) is outside the vocabulary 0..<\(vocabSize)")
        }
        guard prompt.count <= config.maxPositions else {
            throw TensorError.invalidArgument(op: "context",
                message: "the prompt has \(prompt.count) tokens, more than the model's \(config.maxPositions) positions; shorten it")
        }
        guard prompt.count + maxTokens - 1 <= config.maxPositions else {
            throw TensorError.invalidArgument(op: "context",
                message: "a prompt of \(prompt.count) tokens and \(maxTokens) new tokens need \(prompt.count + maxTokens - 1) positions, more than the model's \(config.maxPositions); use tokens=\(config.maxPositions - prompt.count + 1) or less, or a shorter prompt")
        }
        var sampler = try TokenSampler(sampling)
        let clock = ContinuousClock(), start = clock.now
        // the last new token is never fed back, so the cache needs one position fewer
        let session = try DecodeSession(model: self, capacity: prompt.count + maxTokens - 1)
        var logits = try session.feed(prompt)
        var result = GenerationResult(tokens: [], promptTokens: prompt.count, stoppedAtEOS: false, prefillSeconds: 0, decodeSeconds: 0)
        var decodeStart = start
        while result.tokens.count < maxTokens {
            try Interrupt.check()   // Ctrl-C in the REPL stops between tokens
            if !result.tokens.isEmpty { logits = try session.feed([result.tokens[result.tokens.count - 1]]) }
            let token = try logits.withUnsafeBufferPointer { try sampler.next($0) }
            result.tokens.append(token)
            if result.tokens.count == 1 {
                decodeStart = clock.now
                result.prefillSeconds = (decodeStart - start).inSeconds
            }
            try onToken?(token)
            if let eos, token == eos { result.stoppedAtEOS = true; break }
        }
        result.decodeSeconds = (clock.now - decodeStart).inSeconds
        return result
    }
}
