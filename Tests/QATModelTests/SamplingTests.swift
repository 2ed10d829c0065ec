// Sampling: seeded and reproducible (also across thread counts), top_k=1 and a tiny top_p are
// greedy, and the draws follow softmax(logits / T) (cut by top-k / top-p) on a fixed small
// distribution whose probabilities the test works out itself.
import Testing
@testable import QATModel
import QATTensor
import QATTokenizer

/// Frequencies of `n` draws of the sampler from `logits`.
func drawFrequencies(_ logits: [Float], _ options: SamplingOptions, n: Int) throws -> [Double] {
    var sampler = try TokenSampler(options)
    var counts = [Int](repeating: 0, count: logits.count)
    for _ in 0..<n {
        let t = try logits.withUnsafeBufferPointer { try sampler.next($0) }
        counts[Int(t)] += 1
    }
    return counts.map { Double($0) / Double(n) }
}

/// softmax(z / T) over the ids in `kept` (0 elsewhere), in Double.
func expectedProbabilities(_ z: [Float], temperature: Double, kept: Set<Int>) -> [Double] {
    let w = z.indices.map { kept.contains($0) ? qexpD(Double(z[$0]) / temperature) : 0 }
    let s = w.reduce(0, +)
    return w.map { $0 / s }
}

/// Every frequency within 5 standard errors of its probability: a false alarm has odds below
/// 1e-6 per id (the draws are seeded, so the test is deterministic anyway).
func expectWithinFiveSigma(_ freq: [Double], _ p: [Double], n: Int, _ label: String) {
    for (i, (f, q)) in zip(freq, p).enumerated() {
        let bound = 5 * (q * (1 - q) / Double(n)).squareRoot()
        #expect(abs(f - q) <= max(bound, 0), "\(label): id \(i) drawn \(f), expected \(q) +- \(bound)")
    }
}

@Suite(.serialized) struct SamplingTests {
    // ids 0..5; by logit: 2 > 0 > 4 > 1 > 5 > 3
    let logits: [Float] = [1.5, 0.2, 2.0, -1.0, 0.9, -0.3]
    let draws = 40_000

    @Test func temperatureSamplingDrawsFromTheSoftmax() throws {
        for t in [0.5, 1.0, 2.0] {
            let freq = try drawFrequencies(logits, SamplingOptions(temperature: t, seed: 7), n: draws)
            expectWithinFiveSigma(freq, expectedProbabilities(logits, temperature: t, kept: Set(0..<6)), n: draws, "T=\(t)")
        }
    }

    @Test func topKAndTopPDrawOnlyFromTheirCandidates() throws {
        let k3 = try drawFrequencies(logits, SamplingOptions(temperature: 1, topK: 3, seed: 8), n: draws)
        expectWithinFiveSigma(k3, expectedProbabilities(logits, temperature: 1, kept: [2, 0, 4]), n: draws, "top_k=3")
        // at T=1 the probabilities of 2, 0, 4, 1, ... are 0.4435, 0.2690, 0.1476, 0.0733, ...:
        // top_p=0.6 keeps {2, 0} (0.7125 >= 0.6), top_p=0.75 keeps {2, 0, 4} (0.8601)
        let p6 = try drawFrequencies(logits, SamplingOptions(temperature: 1, topP: 0.6, seed: 9), n: draws)
        expectWithinFiveSigma(p6, expectedProbabilities(logits, temperature: 1, kept: [2, 0]), n: draws, "top_p=0.6")
        let p75 = try drawFrequencies(logits, SamplingOptions(temperature: 1, topP: 0.75, seed: 10), n: draws)
        expectWithinFiveSigma(p75, expectedProbabilities(logits, temperature: 1, kept: [2, 0, 4]), n: draws, "top_p=0.75")
        // top-k first, then top-p on what it kept: of {2, 0, 4} (0.516, 0.313, 0.172), 0.8 keeps {2, 0} (0.828)
        let both = try drawFrequencies(logits, SamplingOptions(temperature: 1, topK: 3, topP: 0.8, seed: 11), n: draws)
        expectWithinFiveSigma(both, expectedProbabilities(logits, temperature: 1, kept: [2, 0]), n: draws, "top_k=3 top_p=0.8")
    }

    @Test func sameSeedSameTextOtherSeedOtherText() throws {
        let loaded = try ModelLoader.load("tiny")
        let prompt = loaded.tokenizer.encode("It was a dark", addSpecial: true, parseSpecial: false)
        func run(_ seed: UInt64) throws -> [Int32] {
            try loaded.model.generate(prompt: prompt, maxTokens: 32, eos: nil,
                                      sampling: SamplingOptions(temperature: 1.2, topK: 50, topP: 0.95, seed: seed)).tokens
        }
        let a = try run(1)
        #expect(try run(1) == a)
        #expect(try run(2) != a)
        let threads = Threads.count
        defer { Threads.set(threads) }
        Threads.set(1)
        let oneThread = try run(1)
        Threads.set(2)
        let twoThreads = try run(1)
        #expect(oneThread == a && twoThreads == a)
    }

    @Test func topKOneAndTinyTopPAreGreedy() throws {
        let loaded = try ModelLoader.load("tiny")
        let prompt = loaded.tokenizer.encode("Once upon a", addSpecial: true, parseSpecial: false)
        let greedy = try loaded.model.generate(prompt: prompt, maxTokens: 24, eos: nil).tokens
        for seed: UInt64 in [1, 2, 3] {
            let k1 = try loaded.model.generate(prompt: prompt, maxTokens: 24, eos: nil, sampling: SamplingOptions(temperature: 2, topK: 1, seed: seed))
            let p0 = try loaded.model.generate(prompt: prompt, maxTokens: 24, eos: nil, sampling: SamplingOptions(temperature: 2, topP: 1e-9, seed: seed))
            #expect(k1.tokens == greedy && p0.tokens == greedy)
        }
        // ties go to the lower id, as the argmax does
        var sampler = try TokenSampler(SamplingOptions(temperature: 1, topK: 1, seed: 1))
        let tied: [Float] = [0, 3, 1, 3]
        #expect(try tied.withUnsafeBufferPointer { try sampler.next($0) } == 1)
    }

    @Test func badOptionsAreErrors() throws {
        for bad in [SamplingOptions(temperature: -0.1), SamplingOptions(temperature: .infinity), SamplingOptions(topK: -1),
                    SamplingOptions(topP: 0), SamplingOptions(topP: 1.5), SamplingOptions(topP: .nan)] {
            #expect(throws: TensorError.self) { try TokenSampler(bad) }
        }
        var sampler = try TokenSampler(.greedy)
        let broken: [Float] = [.nan, .nan]
        #expect(throws: TensorError.self) { try broken.withUnsafeBufferPointer { try sampler.next($0) } }
    }
}
