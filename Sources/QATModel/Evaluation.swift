// Perplexity (generation with a KV cache is in Generation.swift).
//
// Perplexity follows the GPTQ / EfficientQAT convention: the text is tokenized as one stream
// (one BOS at its start when the tokenizer adds one), cut into non-overlapping windows of `ctx`
// tokens (a last partial window is dropped), each window run on its own; the NLL of every
// predicted token (positions 1..ctx-1 of each window, predicted from the tokens before it) is
// averaged, and ppl = exp(mean NLL). Each window's own mean NLL is kept too, for the standard
// error over windows (PerplexitySpread.swift).
import QATAutograd
import QATTensor
import QATTokenizer

public struct PerplexityResult: Sendable {
    public var meanNLL: Double
    public var scoredTokens: Int
    public var windows: Int
    public var ctx: Int
    public var seconds: Double
    /// Mean NLL of each window's ctx-1 scored tokens, in window order.
    public var windowMeanNLL: [Double]
    public var perplexity: Double { qexpD(meanNLL) }
    /// Standard error of `perplexity` over windows (PerplexitySpread); nan with one window.
    public var perplexityStderr: Double { PerplexitySpread.perplexityStderr(perplexity: perplexity, windowMeanNLL: windowMeanNLL) }
    /// Tokens run through the model per second (every token of every window).
    public var tokensPerSecond: Double { Double(windows * ctx) / seconds }
}

extension LlamaModel {
    /// Sum of next-token NLL over a window's positions 0..<T-1 (predicting tokens 1..<T), in Double.
    /// The head is fused with the loss in vocabulary chunks (QATTensor/ChunkedLoss.swift), so the
    /// (T, V) logits are never formed.
    public func windowNLL(_ tokens: [Int32]) throws -> Double {
        guard tokens.count >= 2 else {
            throw TensorError.invalidArgument(op: "ppl", message: "a window of \(tokens.count) token(s) predicts nothing; use ctx >= 2")
        }
        let t = tokens.count
        let hidden = try noGrad { try features(tokens, batch: 1, seq: t) }.value   // (T, C); row T-1 predicts nothing
        var s = try ChunkedHeadShape(hidden: [t - 1, config.hiddenSize], weight: headWeight.shape, chunk: defaultVocabChunk, op: "ppl")
        s.precision = MatmulPrecision.inForce   // the head at the blocks' precision (bf16 under set precision=bf16)
        let targets = Array(tokens.dropFirst())
        try validateTargets(targets, rows: t - 1, v: vocabSize)
        let lse = Tensor(uninitialized: [t - 1])
        var rowNLL = [Double](repeating: 0, count: t - 1)
        rowNLL.withUnsafeMutableBufferPointer { out in
            _ = chunkedCrossEntropyForward(s, h: hidden.data, w: headWeight.value.data, targets: targets, lse: lse.data, rowNLL: out.baseAddress)
        }
        if Profile.isRecording { Profile.mark(.loss, backward: false) }   // charge the fused head + loss to loss/softmax
        return rowNLL.reduce(0, +)
    }

    /// Perplexity of a token stream in windows of `ctx`; `maxWindows` caps the work (nil = all).
    public func perplexity(tokens: [Int32], ctx: Int, maxWindows: Int? = nil,
                           progress: ((Int, Int) -> Void)? = nil) throws -> PerplexityResult {
        guard ctx >= 2 else { throw TensorError.invalidArgument(op: "ppl", message: "ctx=\(ctx) is too small; use ctx >= 2") }
        var windows = tokens.count / ctx
        if let maxWindows { windows = min(windows, maxWindows) }
        guard windows > 0 else {
            throw TensorError.invalidArgument(op: "ppl", message: "the text has \(tokens.count) tokens, fewer than one window of ctx=\(ctx); use a smaller ctx or a longer text")
        }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= vocabSize {
            throw TensorError.invalidArgument(op: "ppl", message: "token \(t) at position \(i) is outside the vocabulary 0..<\(vocabSize)")
        }
        let clock = ContinuousClock(), start = clock.now
        var total = 0.0, windowMeans: [Double] = []
        for w in 0..<windows {
            try Interrupt.check()   // Ctrl-C in the REPL stops between windows
            let sum = try windowNLL(Array(tokens[(w * ctx)..<((w + 1) * ctx)]))
            total += sum   // summed in window order as before: the perplexity is unchanged to the bit
            windowMeans.append(sum / Double(ctx - 1))
            progress?(w + 1, windows)
        }
        let d = clock.now - start
        let secs = d.inSeconds
        let scored = windows * (ctx - 1)
        return PerplexityResult(meanNLL: total / Double(scored), scoredTokens: scored, windows: windows, ctx: ctx, seconds: secs,
                                windowMeanNLL: windowMeans)
    }
}
