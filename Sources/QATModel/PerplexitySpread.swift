// How far a perplexity measured on a few windows can move by chance: its standard error over
// windows. One definition, used by `ppl`, `kl`, `eval` and `compare`:
//   x_w     = mean NLL of window w's ctx-1 scored tokens (every window scores the same count, so
//             the mean of the x_w is the tokens-weighted mean NLL that perplexity is exp of)
//   se_nll  = sd(x) / sqrt(n), sd with n - 1 in the denominator (the SE of a mean of n windows)
//   ppl_se  = ppl * se_nll (delta method: d exp(m) = exp(m) dm)
// Windows are the sampling unit because the tokens inside a window are strongly correlated; a
// per-token SE would be far too small. With one window there is no spread to measure: nan.
import QATTensor

public enum PerplexitySpread {
    /// Standard error of the mean of `values` (sample sd with n - 1, over sqrt(n)); nan below 2 values.
    public static func stderrOfMean(_ values: [Double]) -> Double {
        let n = values.count
        guard n >= 2 else { return .nan }
        let mean = values.reduce(0, +) / Double(n)
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (squares / Double(n - 1) / Double(n)).squareRoot()
    }

    /// The standard error of a perplexity from its windows' mean NLLs (delta method, see above).
    public static func perplexityStderr(perplexity: Double, windowMeanNLL: [Double]) -> Double {
        perplexity * stderrOfMean(windowMeanNLL)
    }
}
