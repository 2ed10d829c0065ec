// `qat bench model [MODEL] [ctx=512]`: forward tokens/s of a real model on one window of ctx
// tokens, against the sgemm-bound ideal measured in the same run:
//   ideal tokens/s = sgemm GFLOP/s / (2 x parameters in matmuls per token)
// where the matmul parameters are every linear weight plus the LM head (the embedding lookup
// is not a matmul). Attention's T x T work is reported on its own line.
import QATAutograd
import QATModel
import QATTensor

/// `load` gives the model (the bench verb passes QATToolkit's loadModel, which also takes a
/// QATLab or GPTQ checkpoint). Returns the prefill rate for the torch peer (TorchComparison.swift).
@discardableResult
public func benchModel(model load: () throws -> LoadedModel, ctx: Int, repeats: Int, profile: Bool = false, log: (String) -> Void) throws -> [PeerComparable] {
    let loaded = try load()
    let m = loaded.model, c = m.config
    let ctx = min(ctx, c.maxPositions)
    let peak = try measureSgemm(m: 2048, n: 2048, k: 2048, transB: false, repeats: repeats)
    log("sgemm 2048x2048x2048: \(fmt(peak)) GFLOP/s")
    log(matmulPrecisionLine())
    var rng = SeededRandom(seed: 9)
    let tokens = (0..<ctx).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) }
    let clock = ContinuousClock()
    var best = (embed: Double.infinity, blocks: Double.infinity, head: Double.infinity)
    for _ in 0..<(repeats + 1) {
        try noGrad {
            var h: Var?
            let te = try clock.measure { h = try m.embed(tokens, batch: 1, seq: ctx) }
            let rope = m.ropeTable(positions: ctx)
            let tb = try clock.measure { for i in m.blocks.indices { h = try m.runBlock(i, h!, rope: rope) } }
            let th = try clock.measure { _ = try m.head(h!) }
            best = (min(best.embed, te.inSeconds), min(best.blocks, tb.inSeconds), min(best.head, th.inSeconds))
        }
    }
    let total = best.embed + best.blocks + best.head
    let matmulParams = Double(m.blockShape.linearParameterCount * c.layerCount + c.vocabSize * c.hiddenSize)
    let attentionFlops = 4 * Double(c.layerCount * c.headCount) * Double(ctx) * Double(ctx) * Double(c.headDim)
    let ideal = peak * 1e9 / (2 * matmulParams)
    let tps = Double(ctx) / total
    log("model \(loaded.name): \(c.layerCount) blocks, \(m.parameterCount) parameters, ctx=\(ctx), threads=\(Threads.count)")
    log("forward: embed \(fmt(best.embed * 1e3)) ms, blocks \(fmt(best.blocks * 1e3)) ms, head \(fmt(best.head * 1e3)) ms")
    log("attention T x T work: \(fmt(attentionFlops / 1e9)) GFLOP per window (not in the ideal)")
    log("tok_per_s=\(fmt(tps)) ideal_tok_per_s=\(fmt(ideal)) forward_vs_ideal=\(fmt(tps / ideal, digits: 3))")
    if profile { try logProfile("forward 1 x \(ctx)", log: log) { _ = try m.logits(tokens) } }
    return [PeerComparable(modelSource: m.source, workload: "prefill", tokensPerSecond: tps,
                           arguments: ["--seq", "\(ctx)", "--repeats", "\(repeats)"])]
}
