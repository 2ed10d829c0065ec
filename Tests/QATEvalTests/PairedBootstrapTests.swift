// The perplexity standard error over windows and the paired bootstrap of `compare`: hand-computed
// values, an independent numpy recomputation (Tests/Oracles/bootstrap_oracle.py, which
// re-implements the seeded generator), reproducibility by seed, and the two ends on the tiny
// model (a model against itself is never significant; a 2-bit copy is).
import Foundation
import QATModel
import QATQuant
import QATTensor
import Testing
@testable import QATEval

@Suite struct PairedBootstrapTests {
    // Eight windows' mean NLLs shaped like SmolLM2's on devil (one hard window, a paired shift).
    let a = [3.91, 3.62, 4.05, 3.77, 4.40, 3.58, 3.86, 3.70]
    let b = [3.99, 3.66, 4.21, 3.80, 4.61, 3.60, 3.95, 3.79]

    @Test func stderrOfMeanIsHandComputed() {
        // mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; sd^2 = 5/3; SE = sqrt(5/3/4)
        #expect(abs(PerplexitySpread.stderrOfMean([1, 2, 3, 4]) - 0.6454972243679028) < 1e-15)
        #expect(abs(PerplexitySpread.perplexityStderr(perplexity: 20, windowMeanNLL: [1, 2, 3, 4]) - 12.909944487358056) < 1e-12)
        #expect(PerplexitySpread.stderrOfMean([3.2]).isNaN)
        #expect(PerplexitySpread.stderrOfMean([2, 2, 2]) == 0)
    }

    @Test func numpyOracleAgrees() throws {
        let boot = try PairedBootstrap.perplexityRatio(a: a, b: b, resamples: 500, seed: 7)
        let acc = try PairedBootstrap.accuracyDifference(a: a, b: b, resamples: 500, seed: 7)
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("qat-boot-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: json) }
        try JSONSerialization.data(withJSONObject: ["a": a, "b": b, "resamples": 500, "seed": 7, "level": 0.95] as [String: Any]).write(to: json)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root.appendingPathComponent("Tests/Oracles/bootstrap_oracle.py").path, json.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let o = try JSONSerialization.jsonObject(with: data) as? [String: Double] else {
            Issue.record("bootstrap_oracle.py failed (status \(p.terminationStatus)); it needs python3 with numpy: run `bash setup.sh`"); return
        }
        let pplA = qexpD(a.reduce(0, +) / Double(a.count))
        let ours: [String: Double] = ["ppl_a_se": PerplexitySpread.perplexityStderr(perplexity: pplA, windowMeanNLL: a),
                                      "ratio": boot.ratio, "low": boot.low, "high": boot.high, "log_ratio_se": boot.logRatioStderr,
                                      "acc_diff": acc.difference, "acc_low": acc.low, "acc_high": acc.high, "acc_se": acc.stderr]
        for (key, value) in ours {
            let theirs = o[key] ?? .nan
            #expect(abs(value - theirs) <= 1e-12 * max(1, abs(theirs)), "\(key): \(value) vs numpy \(theirs)")
        }
        #expect(boot.significant && boot.low > 1, "every window is worse under b: \(boot)")
    }

    @Test func sameSeedSameIntervalAndItHoldsTheEstimate() throws {
        let first = try PairedBootstrap.perplexityRatio(a: a, b: b, resamples: 2000, seed: 3)
        let again = try PairedBootstrap.perplexityRatio(a: a, b: b, resamples: 2000, seed: 3)
        let other = try PairedBootstrap.perplexityRatio(a: a, b: b, resamples: 2000, seed: 4)
        #expect(first == again)
        #expect(first.low != other.low || first.high != other.high)
        #expect(first.low <= first.ratio && first.ratio <= first.high)
        // a noisy difference (signs mixed) is not significant
        let mixed = try PairedBootstrap.perplexityRatio(a: a, b: zip(a, [0.2, -0.2, 0.1, -0.1, 0.15, -0.15, 0.05, -0.06]).map(+), resamples: 2000, seed: 3)
        #expect(!mixed.significant && mixed.low < 1 && mixed.high > 1, "\(mixed)")
        #expect(throws: TensorError.self) { try PairedBootstrap.perplexityRatio(a: a, b: Array(b.prefix(7)), resamples: 10, seed: 1) }
        #expect(throws: TensorError.self) { try PairedBootstrap.perplexityRatio(a: [1], b: [2], resamples: 10, seed: 1) }
    }

    func stream() throws -> [Int32] {
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. Fortune favours the bold. ", count: 20)
        return try tiny().tokenizer.encode(text, addSpecial: true, parseSpecial: false)
    }

    @Test func modelAgainstItselfIsNotSignificantAndTwoBitsIs() throws {
        let m = try tiny().model
        let same = try Divergence.measure(model: m, reference: m, tokens: try stream(), ctx: 64, maxWindows: 8, cache: ReferenceLogitsCache(capacityBytes: 0))
        let sameBoot = try PairedBootstrap.perplexityRatio(a: same.referenceWindowNLL, b: same.modelWindowNLL, resamples: 1000, seed: 1)
        #expect(same.windows == 8 && sameBoot.ratio == 1 && sameBoot.low == 1 && sameBoot.high == 1 && !sameBoot.significant)
        let broken = try ModelLoader.load("tiny").model
        try QuantPolicy(try QuantSpec(bits: 2, groupSize: 32)).apply(to: broken, mode: .hard)
        let r = try Divergence.measure(model: broken, reference: m, tokens: try stream(), ctx: 64, maxWindows: 8, cache: ReferenceLogitsCache(capacityBytes: 0))
        let boot = try PairedBootstrap.perplexityRatio(a: r.referenceWindowNLL, b: r.modelWindowNLL, resamples: 1000, seed: 1)
        #expect(boot.significant && boot.ratio > 1, "\(boot)")
        // the ratio is the two perplexities' ratio
        #expect(abs(boot.ratio - r.modelPerplexity / r.referencePerplexity) < 1e-9 * boot.ratio)
    }

    @Test func perplexityValueUnchangedAndWindowMeansKept() throws {
        let m = try tiny().model, tokens = try stream(), ctx = 64
        let r = try m.perplexity(tokens: tokens, ctx: ctx, maxWindows: 8)
        let sums = try (0..<8).map { try m.windowNLL(Array(tokens[($0 * ctx)..<(($0 + 1) * ctx)])) }
        // the old definition, bit for bit: window sums added in order, over the scored tokens
        #expect(r.meanNLL == sums.reduce(0, +) / Double(8 * (ctx - 1)))
        #expect(r.windowMeanNLL == sums.map { $0 / Double(ctx - 1) })
        #expect(r.perplexityStderr == r.perplexity * PerplexitySpread.stderrOfMean(r.windowMeanNLL) && r.perplexityStderr > 0)
        // kl/eval's windows carry the same per-window NLLs, up to float32 rounding: they run the
        // windows in batches, and on some CPUs (Zen 3's OpenBLAS kernels) a row's sgemm bits depend
        // on the batch's row count (1.7e-8 seen on NLLs near 2; budget 1e-7 relative)
        let d = try Divergence.measure(model: m, reference: m, tokens: tokens, ctx: ctx, maxWindows: 8, cache: ReferenceLogitsCache(capacityBytes: 0))
        for (x, y) in zip(d.modelWindowNLL, r.windowMeanNLL) { #expect(abs(x - y) < 1e-7 * y) }
        #expect(abs(d.modelPerplexityStderr - r.perplexityStderr) < 1e-6 * r.perplexityStderr)
    }
}
