// Picking the next token from a row of logits: greedy, or seeded sampling with temperature,
// top-k and top-p (nucleus), applied in that order as Hugging Face's generate does.
//
//   temperature 0: the argmax (the lowest id among equal maxima); top_k and top_p are unused.
//   temperature T > 0: weights w_i = exp((z_i - max z) / T) in Double (softmax(z / T) up to its
//     sum); top_k = K > 0 keeps the K largest; top_p = P < 1 then keeps the smallest prefix of
//     the survivors, largest first, whose weight reaches P of theirs (at least one token);
//     one uniform draw u in [0, 1) picks the token whose cumulative weight first exceeds
//     u x (total kept weight). "Largest first" orders by weight, then by lower id, so ties are
//     broken the same way as the argmax: top_k=1, or a tiny top_p, is greedy decoding.
// One draw per token from SeededRandom, on one thread: the same seed gives the same tokens on
// any thread count (the logits themselves do not depend on it).
import QATTensor

public struct SamplingOptions: Sendable, Equatable {
    /// 0 = greedy.
    public var temperature: Double
    /// 0 = no top-k cut.
    public var topK: Int
    /// 1 = no nucleus cut; must be in (0, 1].
    public var topP: Double
    public var seed: UInt64

    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.seed = seed
    }

    public static let greedy = SamplingOptions()

    public var isGreedy: Bool { temperature == 0 }

    /// Throws on a value outside its range, naming it and the range.
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else {
            throw TensorError.invalidArgument(op: "sampling", message: "temperature=\(temperature) must be a finite number >= 0 (0 = greedy)")
        }
        guard topK >= 0 else {
            throw TensorError.invalidArgument(op: "sampling", message: "top_k=\(topK) must be >= 0 (0 = no top-k cut)")
        }
        guard topP > 0, topP <= 1 else {
            throw TensorError.invalidArgument(op: "sampling", message: "top_p=\(topP) must be in (0, 1] (1 = no nucleus cut)")
        }
    }
}

/// The sampler of one generation: its options and its random stream.
public struct TokenSampler {
    public let options: SamplingOptions
    var rng: SeededRandom

    public init(_ options: SamplingOptions) throws {
        try options.validate()
        self.options = options
        self.rng = SeededRandom(seed: options.seed)
    }

    /// The next token from one row of logits.
    public mutating func next(_ logits: UnsafeBufferPointer<Float>) throws -> Int32 {
        guard !logits.isEmpty else { throw TensorError.invalidArgument(op: "sample", message: "the logits row is empty") }
        let best = argmax(logits)
        guard logits[best].isFinite else {
            throw TensorError.invalidArgument(op: "sample", message: "the largest logit is \(logits[best]); the model's output is not finite")
        }
        if options.isGreedy { return Int32(best) }
        let weights = softmaxWeights(logits, max: logits[best])
        let kept = keptTokens(weights)
        let u = Double(rng.next() >> 11) * 0x1p-53   // uniform in [0, 1), 53 bits
        if kept.isEmpty { return Int32(draw(u, weights, ids: weights.indices)) }
        return Int32(draw(u, weights, ids: kept))
    }

    /// Index of the largest logit, the lowest among equals.
    func argmax(_ z: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for j in 1..<z.count where z[j] > z[best] { best = j }
        return best
    }

    /// exp((z_i - max) / T) in Double.
    func softmaxWeights(_ z: UnsafeBufferPointer<Float>, max m: Float) -> [Double] {
        let invT = 1 / options.temperature, top = Double(m)
        return z.map { qexpD((Double($0) - top) * invT) }
    }

    /// The ids top-k and top-p keep, largest first; empty when neither cuts (every id is kept).
    func keptTokens(_ w: [Double]) -> [Int] {
        let k = options.topK > 0 && options.topK < w.count ? options.topK : 0
        if k == 0 && options.topP >= 1 { return [] }
        var ranked = k > 0 ? largest(w, atLeast: k, mass: 0) : largest(w, atLeast: 1, mass: options.topP * w.reduce(0, +))
        if k > 0 { ranked.removeLast(ranked.count - k) }
        guard options.topP < 1 else { return ranked }
        let target = options.topP * ranked.reduce(0) { $0 + w[$1] }
        var cumulative = 0.0, n = 0
        while n < ranked.count {
            cumulative += w[ranked[n]]; n += 1
            if cumulative >= target { break }
        }
        return Array(ranked.prefix(n))
    }

    /// A prefix of the ids ordered largest first, holding at least `count` ids and `mass` weight.
    /// Only ids above a threshold are sorted; the threshold drops until the prefix is big
    /// enough, so a peaked distribution sorts a handful of ids, not the whole vocabulary.
    func largest(_ w: [Double], atLeast count: Int, mass: Double) -> [Int] {
        var threshold = 1e-4   // weights are relative to the largest, which is 1
        while true {
            let above = w.indices.filter { w[$0] >= threshold }
            let sum = above.reduce(0) { $0 + w[$1] }
            if (above.count >= count && sum >= mass) || threshold == 0 {
                return above.sorted { w[$0] != w[$1] ? w[$0] > w[$1] : $0 < $1 }
            }
            threshold = threshold < 1e-300 ? 0 : threshold * 1e-4
        }
    }

    /// The id among `ids` (in their order) whose cumulative weight first exceeds u x their total.
    func draw<C: Collection>(_ u: Double, _ w: [Double], ids: C) -> Int where C.Element == Int {
        let total = ids.reduce(0) { $0 + w[$1] }
        let target = u * total
        var cumulative = 0.0, last = 0
        for id in ids {
            cumulative += w[id]; last = id
            if cumulative > target { return id }
        }
        return last   // rounding left the target at the very end
    }
}
