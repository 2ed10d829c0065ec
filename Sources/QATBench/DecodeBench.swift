// `qat bench decode [MODEL] [prompt=16] [tokens=64]`: generation speed with the KV cache, the
// prefill (the prompt's batched forward and the first new token) and the decode (every later
// token) apart, as `generate` reports them, on seeded random prompt tokens with greedy decoding
// and no EOS stop (so every run makes exactly `tokens` tokens).
//
// A decode step multiplies one row by every weight, so it is bound by memory bandwidth, not by
// sgemm: the roof printed beside it is the read bandwidth measured in the same run,
//   ideal decode tok/s = read GB/s / (4 bytes x parameters in matmuls),
// the matmul parameters being every linear weight plus the LM head (as in bench model).
import QATModel
import QATTensor
#if canImport(Glibc)
import Glibc
#endif

public struct DecodeBenchResult: Sendable {
    public var cpu = "", threads = 0
    public var promptTokens = 0, newTokens = 0
    public var prefillTokensPerSecond = 0.0, decodeTokensPerSecond = 0.0
    /// Bytes of matmul weights one decode step reads, and the read bandwidth measured.
    public var weightBytesPerToken = 0.0, readGBPerSecond = 0.0
    public var idealDecodeTokensPerSecond: Double { readGBPerSecond * 1e9 / weightBytesPerToken }
}

/// The decode measurement alone (best of `repeats` runs after one warm-up), for a caller that
/// prints it beside another engine's numbers.
public func measureDecode(_ m: LlamaModel, prompt: Int, tokens: Int, repeats: Int) throws -> DecodeBenchResult {
    var r = DecodeBenchResult()
    let cpu = CPUDescription.current()
    r.cpu = "\(cpu.modelName) (family \(cpu.family), model \(cpu.model))"; r.threads = Threads.count
    var rng = SeededRandom(seed: 11)
    let ids = (0..<prompt).map { _ in Int32(rng.next() % UInt64(m.vocabSize)) }
    for _ in 0..<(repeats + 1) {
        let g = try m.generate(prompt: ids, maxTokens: tokens, eos: nil)
        r.promptTokens = g.promptTokens; r.newTokens = g.tokens.count
        r.prefillTokensPerSecond = max(r.prefillTokensPerSecond, g.prefillTokensPerSecond)
        r.decodeTokensPerSecond = max(r.decodeTokensPerSecond, g.decodeTokensPerSecond ?? 0)
    }
    let c = m.config
    r.weightBytesPerToken = 4 * Double(m.blockShape.linearParameterCount * c.layerCount + c.vocabSize * c.hiddenSize)
    r.readGBPerSecond = try measureReadBandwidth(repeats: repeats)
    return r
}

/// Returns the decode rate for the torch peer (TorchComparison.swift).
@discardableResult
public func benchDecode(model load: () throws -> LoadedModel, prompt: Int, tokens: Int, repeats: Int, log: (String) -> Void) throws -> [PeerComparable] {
    let loaded = try load()
    let r = try measureDecode(loaded.model, prompt: prompt, tokens: tokens, repeats: repeats)
    log("cpu: \(r.cpu), threads=\(r.threads)")
    log("model \(loaded.name): \(fmt(r.weightBytesPerToken / 1e6)) MB of matmul weights read per decode step; read bandwidth \(fmt(r.readGBPerSecond)) GB/s")
    log("prompt_tokens=\(r.promptTokens) new_tokens=\(r.newTokens) prefill_tok_per_s=\(fmt(r.prefillTokensPerSecond)) decode_tok_per_s=\(fmt(r.decodeTokensPerSecond)) ideal_decode_tok_per_s=\(fmt(r.idealDecodeTokensPerSecond)) decode_vs_ideal=\(fmt(r.decodeTokensPerSecond / r.idealDecodeTokensPerSecond, digits: 3))")
    return [decodePeer(source: loaded.model.source, prompt: prompt, newTokens: tokens, tokensPerSecond: r.decodeTokensPerSecond, repeats: repeats)]
}

/// GB/s of summing a 256 MB buffer (larger than any cache) on every thread, best of `repeats`.
func measureReadBandwidth(repeats: Int) throws -> Double {
    let n = 1 << 26
    let buffer = try Tensor.full([n], 1)
    let clock = ContinuousClock()
    var best = Double.infinity, total: Float = 0
    for _ in 0..<(repeats + 1) {
        let t = clock.measure { total += sumAll(buffer.data, n) }
        best = min(best, t.inSeconds)
    }
    guard total > 0 else { throw TensorError.invalidArgument(op: "bench decode", message: "the bandwidth probe summed to \(total)") }
    return Double(4 * n) / best / 1e9
}

/// Sum of n floats, split over the threads (partial sums in SIMD lanes, so the loop vectorizes).
func sumAll(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    let chunks = max(1, Threads.count)
    var partial = [Float](repeating: 0, count: chunks)
    partial.withUnsafeMutableBufferPointer { out in
        let box = UncheckedBox(out)
        parallelFor(chunks, costPerItem: n / chunks) { range in
            for c in range {
                let lo = n * c / chunks, hi = n * (c + 1) / chunks
                var acc = SIMD16<Float>(repeating: 0), i = lo
                while i + 16 <= hi { acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self); i += 16 }
                var s = acc.sum()
                while i < hi { s += p[i]; i += 1 }
                box.value[c] = s
            }
        }
    }
    return partial.reduce(0, +)
}

