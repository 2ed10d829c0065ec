// `qat bench eval [MODEL] [ctx=512] [items=40] [shots=0]`: the evaluation paths' speed beside the
// sgemm peak measured in the same run.
//   ppl: tokens/s over `windows` windows of ctx tokens of `devil` (every token of every window);
//   mc:  items/s on the first `items` items of `capitals`, and the forward tokens/s that means
//        (per item: its context once + every choice's continuation, as the scorer runs them).
// Both are compared with the sgemm-bound ideal of bench model:
//   ideal tokens/s = sgemm GFLOP/s / (2 x parameters in matmuls per token).
// mc runs short forwards (a context of ~10 tokens and 4 segments of 2-5 tokens), so it sits far
// below the ideal: its matmuls are matrix-vector shaped and the LM head runs per scored row.
import QATEval
import QATModel
import QATTensor

/// `load` gives the model (the bench verb passes QATToolkit's loadModel, which also takes a
/// QATLab or GPTQ checkpoint). Returns the perplexity rate for the torch peer (TorchComparison.swift).
@discardableResult
public func benchEval(model load: () throws -> LoadedModel, ctx: Int, windows: Int, items: Int, shots: Int, repeats: Int,
                      profile: Bool = false, log: (String) -> Void) throws -> [PeerComparable] {
    let loaded = try load()
    let m = loaded.model, c = m.config
    let ctx = min(ctx, c.maxPositions)
    let peak = try measureSgemm(m: 2048, n: 2048, k: 2048, transB: false, repeats: repeats)
    let matmulParams = Double(m.blockShape.linearParameterCount * c.layerCount + c.vocabSize * c.hiddenSize)
    let ideal = peak * 1e9 / (2 * matmulParams)
    log("sgemm 2048x2048x2048: \(fmt(peak)) GFLOP/s; model \(loaded.name), ideal \(fmt(ideal)) tok/s, threads=\(Threads.count)")

    let tokens = loaded.tokenizer.encode(try TextCorpus.load("devil"), addSpecial: true, parseSpecial: false)
    var pplRate = 0.0, ppl: PerplexityResult?
    for _ in 0..<repeats {
        let r = try m.perplexity(tokens: tokens, ctx: ctx, maxWindows: windows)
        pplRate = max(pplRate, r.tokensPerSecond); ppl = r
    }
    let scoredWindows = ppl?.windows ?? 0
    log("ppl devil: \(scoredWindows) windows x \(ctx) tokens, \(fmt(pplRate)) tok/s")
    if profile { try logProfile("ppl \(scoredWindows) x \(ctx)", log: log) { _ = try m.perplexity(tokens: tokens, ctx: ctx, maxWindows: windows) } }

    let task = try MultipleChoiceTasks.load("capitals", seed: 1)
    let scorer = MultipleChoiceScorer(model: m, tokenizer: loaded.tokenizer)
    var forwardTokens = 0
    for i in task.items.prefix(items).indices {
        let item = try MultipleChoiceTasks.prompt(task, index: i, shots: shots, seed: 1)
        var contexts = Set<[Int32]>()
        for r in item.requests {
            let (ctxTokens, cont) = scorer.encodePair(context: r.context, continuation: r.continuation)
            contexts.insert(ctxTokens)
            forwardTokens += cont.count
        }
        forwardTokens += contexts.reduce(0) { $0 + $1.count }
    }
    var best = Double.infinity, n = 0
    for _ in 0..<repeats {
        let r = try scorer.score(task, shots: shots, seed: 1, limit: items)
        best = min(best, r.seconds); n = r.items
    }
    let mcTokens = Double(forwardTokens) / best
    log("mc capitals: \(n) items, \(shots) shots, \(forwardTokens) forward tokens, \(fmt(best, digits: 2)) s")
    log("ppl_tok_per_s=\(fmt(pplRate)) ppl_vs_ideal=\(fmt(pplRate / ideal, digits: 3)) mc_items_per_s=\(fmt(Double(n) / best, digits: 2)) mc_tok_per_s=\(fmt(mcTokens)) mc_vs_ideal=\(fmt(mcTokens / ideal, digits: 3)) sgemm_gflops=\(fmt(peak))")
    return [PeerComparable(modelSource: m.source, workload: "eval", tokensPerSecond: pplRate,
                           arguments: ["--seq", "\(ctx)", "--windows", "\(scoredWindows)", "--repeats", "\(repeats)"],
                           tokens: Array(tokens.prefix(scoredWindows * ctx)), perplexity: ppl?.perplexity)]
}
