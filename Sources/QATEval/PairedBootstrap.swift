// A paired bootstrap over windows for the perplexity ratio of two models scored on the SAME
// windows (`compare`). With a_w, b_w the two models' mean NLL on window w (w = 0..<n) and
// d_w = b_w - a_w:
//   ratio          = exp(mean d) = ppl_B / ppl_A up to rounding (every window scores the same token count)
//   one resample   = n window indices drawn with replacement, index = next() % n from
//                    SeededRandom(seed) (xoshiro256**), the draws of resample r following those of
//                    r - 1; its ratio = exp(mean of d over the drawn indices, summed in draw order)
//   interval       = the (1-level)/2 and (1+level)/2 percentiles of the resampled ratios
//                    (linear interpolation between order statistics, numpy's default)
//   significant    = the interval excludes 1
// For accuracy (`compare mc=TASK`) a_w, b_w are items' 0/1 scores and the same draws give the
// interval of mean d itself, the accuracy difference B - A (significant: it excludes 0).
// Pairing matters: both models find the same windows hard, so the spread of d is much smaller
// than the spread of either model's NLL. The draws run on one thread: the same seed gives the
// same interval on any thread count. Tests/Oracles/bootstrap_oracle.py recomputes all of it.
import QATModel
import QATTensor

public struct PairedBootstrapResult: Sendable, Equatable {
    public var ratio: Double, low: Double, high: Double
    /// Standard error of mean d (PerplexitySpread.stderrOfMean of the differences): the log ratio's SE.
    public var logRatioStderr: Double
    public var windows: Int, resamples: Int, level: Double
    public var significant: Bool { low > 1 || high < 1 }
}

public enum PairedBootstrap {
    /// The mean of `values` over `resamples` draws of n indices with replacement (see the header).
    static func resampledMeans(_ values: [Double], resamples: Int, seed: UInt64) -> [Double] {
        let n = values.count
        var rng = SeededRandom(seed: seed)
        return (0..<resamples).map { _ in
            var sum = 0.0
            for _ in 0..<n { sum += values[Int(rng.next() % UInt64(n))] }
            return sum / Double(n)
        }
    }

    /// The ratio B/A of two perplexities with its bootstrap interval; `a`, `b` are per-window mean NLLs.
    public static func perplexityRatio(a: [Double], b: [Double], resamples: Int, seed: UInt64,
                                       level: Double = 0.95) throws -> PairedBootstrapResult {
        try checkPaired(a.count, b.count, unit: "windows", resamples: resamples, level: level)
        let d = zip(b, a).map { $0 - $1 }, n = d.count
        let ratios = resampledMeans(d, resamples: resamples, seed: seed).map(qexpD).sorted()
        return PairedBootstrapResult(ratio: qexpD(d.reduce(0, +) / Double(n)),
                                     low: Divergence.percentile(ratios, (1 - level) / 2),
                                     high: Divergence.percentile(ratios, (1 + level) / 2),
                                     logRatioStderr: PerplexitySpread.stderrOfMean(d),
                                     windows: n, resamples: resamples, level: level)
    }

    /// The accuracy difference B - A over the same items (`a`, `b`: 1 for a correct item, else 0),
    /// with the same resampling over items; `significant` here means the interval excludes 0.
    public static func accuracyDifference(a: [Double], b: [Double], resamples: Int, seed: UInt64,
                                          level: Double = 0.95) throws -> (difference: Double, low: Double, high: Double, stderr: Double) {
        try checkPaired(a.count, b.count, unit: "items", resamples: resamples, level: level)
        let d = zip(b, a).map { $0 - $1 }
        let means = resampledMeans(d, resamples: resamples, seed: seed).sorted()
        return (d.reduce(0, +) / Double(d.count), Divergence.percentile(means, (1 - level) / 2),
                Divergence.percentile(means, (1 + level) / 2), PerplexitySpread.stderrOfMean(d))
    }

    static func checkPaired(_ na: Int, _ nb: Int, unit: String, resamples: Int, level: Double) throws {
        guard na == nb else {
            throw TensorError.invalidArgument(op: "compare", message: "the two models were scored on \(na) and \(nb) \(unit); a paired comparison needs the same \(unit)")
        }
        guard na >= 2 else {
            throw TensorError.invalidArgument(op: "compare", message: "\(na) \(unit) give no spread to resample; use 2 or more (max_windows=2+, a longer text or a smaller ctx; limit=2+ for a task)")
        }
        guard resamples >= 2 else {
            throw TensorError.invalidArgument(op: "compare", message: "resamples=\(resamples) is too few; use 2 or more (e.g. 2000)")
        }
        guard level > 0, level < 1 else {
            throw TensorError.invalidArgument(op: "compare", message: "level=\(level) is not a confidence level; use a value in (0, 1), e.g. 0.95")
        }
    }
}
