// Multiple-choice scoring as lm-evaluation-harness scores a `multiple_choice` task.
//
// Each request (context, continuation) is encoded as lm-eval's `_encode_pair`: trailing spaces of
// the context move to the continuation; context tokens = encode(context); continuation tokens =
// encode(context + continuation) after the first len(context tokens). No BOS is added (lm-eval's
// default for causal models); an empty context becomes BOS (or EOS). A prompt longer than the
// model's positions loses context tokens from the left.
// The log-likelihood of a continuation is the sum of log p(token | everything before it). An
// item's distinct contexts are each run once (KV cache, CachedForward.swift), then its choices run
// together in one forward of their own tokens (each attending the context and itself only).
//   acc      = mean over items of [argmax_i LL_i == gold]
//   acc_norm = mean over items of [argmax_i LL_i / bytes(continuation_i) == gold]
//   stderr   = sqrt(p (1 - p) / (n - 1)), lm-eval's standard error of a mean of 0/1 scores.
import Foundation
import QATModel
import QATTensor
import QATTokenizer

public struct MultipleChoiceResult: Sendable {
    public var acc: Double, accNorm: Double, items: Int
    public var accStderr: Double, accNormStderr: Double
    public var seconds: Double
    /// Per item: the log-likelihood of each choice.
    public var logLikelihoods: [[Double]]
    /// Per item: whether acc counted it (the best total log-likelihood is the gold choice's).
    public var correct: [Bool]

    public var itemsPerSecond: Double { Double(items) / max(seconds, 1e-9) }

    static func stderr(_ p: Double, _ n: Int) -> Double { n > 1 ? (p * (1 - p) / Double(n - 1)).squareRoot() : 0 }
}

public struct MultipleChoiceScorer {
    public let model: LlamaModel
    public let tokenizer: any TextTokenizer

    public init(model: LlamaModel, tokenizer: any TextTokenizer) { self.model = model; self.tokenizer = tokenizer }

    /// Scores every item of `task` (the first `limit`) with `shots` solved examples each, drawn
    /// as MultipleChoiceTasks.swift describes.
    public func score(_ task: MultipleChoiceTask, shots: Int, seed: UInt64, limit: Int? = nil,
                      progress: ((Int, Int) -> Void)? = nil) throws -> MultipleChoiceResult {
        let items = Array(task.items.prefix(limit ?? task.items.count))
        guard !items.isEmpty else { throw TensorError.invalidArgument(op: "mc", message: "the task \(task.name) has no items to score") }
        let clock = ContinuousClock(), start = clock.now
        var correct = 0, correctNorm = 0, all: [[Double]] = [], perItem: [Bool] = []
        for i in items.indices {
            try Interrupt.check()
            let item = try MultipleChoiceTasks.prompt(task, index: i, shots: shots, seed: seed)
            let ll = try logLikelihoods(item)
            all.append(ll)
            perItem.append(argmax(ll) == item.gold)
            if argmax(ll) == item.gold { correct += 1 }
            let norm = zip(ll, item.requests).map { $0 / Double(max(1, $1.continuation.utf8.count)) }
            if argmax(norm) == item.gold { correctNorm += 1 }
            progress?(i + 1, items.count)
        }
        let d = clock.now - start
        let n = items.count, acc = Double(correct) / Double(n), accNorm = Double(correctNorm) / Double(n)
        return MultipleChoiceResult(acc: acc, accNorm: accNorm, items: n,
                                    accStderr: MultipleChoiceResult.stderr(acc, n), accNormStderr: MultipleChoiceResult.stderr(accNorm, n),
                                    seconds: d.inSeconds,
                                    logLikelihoods: all, correct: perItem)
    }

    /// The first index of the largest value (numpy's argmax).
    func argmax(_ v: [Double]) -> Int {
        var best = 0
        for i in v.indices where v[i] > v[best] { best = i }
        return best
    }

    /// lm-eval's `_encode_pair`: (context tokens, continuation tokens).
    public func encodePair(context: String, continuation: String) -> ([Int32], [Int32]) {
        var ctx = context, cont = continuation
        while let last = ctx.last, last == " " { ctx.removeLast(); cont = " " + cont }
        var ctxTokens = tokenizer.encode(ctx, addSpecial: false, parseSpecial: false)
        let whole = tokenizer.encode(ctx + cont, addSpecial: false, parseSpecial: false)
        var contTokens = whole.count > ctxTokens.count ? Array(whole[ctxTokens.count...]) : []
        if contTokens.isEmpty { contTokens = tokenizer.encode(cont, addSpecial: false, parseSpecial: false) }
        if ctxTokens.isEmpty, let start = tokenizer.bosId ?? tokenizer.eosId { ctxTokens = [start] }
        return (ctxTokens, contTokens)
    }

    /// The log-likelihood of each request's continuation. For context c_0..c_{L-1} the prefix
    /// c_0..c_{L-2} is run once per distinct context (KV cache); then all the choices sharing it
    /// run together in one forward, choice i as the segment [c_{L-1}] + k_0..k_{m-2}, whose m
    /// rows predict k_0..k_{m-1}.
    public func logLikelihoods(_ item: MultipleChoiceItem) throws -> [Double] {
        let limit = model.config.maxPositions
        var groups: [[Int32]: [(request: Int, input: [Int32], targets: [Int32])]] = [:], order: [[Int32]] = []
        for (i, request) in item.requests.enumerated() {
            let (ctxTokens, cont) = encodePair(context: request.context, continuation: request.continuation)
            guard !cont.isEmpty, cont.count < limit else {
                throw TensorError.invalidArgument(op: "mc", message: "choice \(i) has \(cont.count) tokens; a continuation needs 1..<\(limit)")
            }
            let ctx = Array(ctxTokens.suffix(limit - cont.count + 1))
            let prefix = Array(ctx.dropLast())
            if groups[prefix] == nil { order.append(prefix) }
            groups[prefix, default: []].append((i, [ctx[ctx.count - 1]] + cont.dropLast(), cont))
        }
        var out = [Double](repeating: 0, count: item.requests.count)
        for prefix in order {
            let group = groups[prefix] ?? []
            let cache = prefix.isEmpty ? KVCache.empty : try model.forwardCached(prefix, after: .empty).cache
            let hidden = try model.forwardCached(segments: group.map(\.input), after: cache).hidden
            let logp = try model.targetLogProbs(hidden: hidden, rows: Array(0..<group.reduce(0) { $0 + $1.targets.count }),
                                                targets: group.flatMap(\.targets))
            var row = 0
            for g in group {
                out[g.request] = logp[row..<(row + g.targets.count)].reduce(0, +)
                row += g.targets.count
            }
        }
        return out
    }
}
