// How far a (quantized) model's next-token distribution drifts from a reference model's, as
// llama.cpp's --kl-divergence, on the perplexity windows: the text is one token stream cut into
// non-overlapping windows of ctx tokens (a last partial window dropped); both models run each
// window; rows 0..ctx-2 of each window (the ones `ppl` scores) give, per token,
//   KL(ref || model) = sum_v p_ref(v) (log p_ref(v) - log p_model(v))
// and whether both argmaxes agree. One window's logits of the model are held at a time; the
// reference's come from (and go to) a ReferenceLogitsCache, so repeated calls against one
// reference run only the model's forward. Both models' per-window mean NLLs are kept for the
// perplexity standard error (QATModel/PerplexitySpread.swift) and paired comparisons.
import QATModel
import QATTensor

public struct DivergenceResult: Sendable {
    public var meanKL: Double, p99KL: Double, maxKL: Double
    public var top1Agreement: Double
    public var modelNLL: Double, referenceNLL: Double
    public var tokens: Int, windows: Int, seconds: Double
    /// Per window, in order: the mean NLL of its ctx-1 scored tokens under each model.
    public var modelWindowNLL: [Double], referenceWindowNLL: [Double]
    public var modelPerplexity: Double { qexpD(modelNLL) }
    public var referencePerplexity: Double { qexpD(referenceNLL) }
    public var modelPerplexityStderr: Double { PerplexitySpread.perplexityStderr(perplexity: modelPerplexity, windowMeanNLL: modelWindowNLL) }
    public var referencePerplexityStderr: Double { PerplexitySpread.perplexityStderr(perplexity: referencePerplexity, windowMeanNLL: referenceWindowNLL) }
}

/// Per row statistics of one window.
struct RowDivergence { var kl = 0.0, agree = false, modelNLL = 0.0, refNLL = 0.0 }

public enum Divergence {
    public static func measure(model: LlamaModel, reference: LlamaModel, tokens: [Int32], ctx: Int, maxWindows: Int? = nil,
                               cache: ReferenceLogitsCache = .shared,
                               progress: ((Int, Int) -> Void)? = nil) throws -> DivergenceResult {
        guard model.vocabSize == reference.vocabSize else {
            throw TensorError.invalidArgument(op: "kl", message: "the model's vocabulary (\(model.vocabSize)) differs from the reference's (\(reference.vocabSize)); compare a model with its own full-precision source")
        }
        guard ctx >= 2 else { throw TensorError.invalidArgument(op: "kl", message: "ctx=\(ctx) is too small; use ctx >= 2") }
        var windows = tokens.count / ctx
        if let maxWindows { windows = min(windows, maxWindows) }
        guard windows > 0 else {
            throw TensorError.invalidArgument(op: "kl", message: "the text has \(tokens.count) tokens, fewer than one window of ctx=\(ctx); use a smaller ctx or a longer text")
        }
        let clock = ContinuousClock(), start = clock.now
        let fingerprint = cache.fingerprint(reference)   // nil: the reference runs every window
        var rows: [RowDivergence] = [], modelWindows: [Double] = [], refWindows: [Double] = []
        rows.reserveCapacity(windows * (ctx - 1))
        for w in 0..<windows {
            try Interrupt.check()
            let window = Array(tokens[(w * ctx)..<((w + 1) * ctx)])
            let ref = try cache.logits(fingerprint: fingerprint, window: window) { try reference.logits(window) }
            let mod = try model.logits(window)
            let windowRows = compare(reference: ref, model: mod, targets: window, vocab: model.vocabSize)
            modelWindows.append(windowRows.reduce(0) { $0 + $1.modelNLL } / Double(ctx - 1))
            refWindows.append(windowRows.reduce(0) { $0 + $1.refNLL } / Double(ctx - 1))
            rows += windowRows
            progress?(w + 1, windows)
        }
        let d = clock.now - start
        let kls = rows.map(\.kl).sorted(), n = Double(rows.count)
        return DivergenceResult(meanKL: kls.reduce(0, +) / n, p99KL: percentile(kls, 0.99), maxKL: kls.last ?? 0,
                                top1Agreement: Double(rows.filter(\.agree).count) / n,
                                modelNLL: rows.reduce(0) { $0 + $1.modelNLL } / n, referenceNLL: rows.reduce(0) { $0 + $1.refNLL } / n,
                                tokens: rows.count, windows: windows,
                                seconds: d.inSeconds,
                                modelWindowNLL: modelWindows, referenceWindowNLL: refWindows)
    }

    /// The value below which a fraction q of the sorted values lie (linear interpolation, numpy's default).
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let pos = q * Double(sorted.count - 1), lo = Int(pos), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
    }

    // reference, model: (T, V) logits; targets: the window's T tokens. Rows 0..<T-1.
    static func compare(reference: Tensor, model: Tensor, targets: [Int32], vocab v: Int) -> [RowDivergence] {
        let t = targets.count
        var out = [RowDivergence](repeating: RowDivergence(), count: t - 1)
        out.withUnsafeMutableBufferPointer { buffer in
            let box = UncheckedBox(buffer), (rp, mp) = (UncheckedBox(reference.data), UncheckedBox(model.data))
            parallelFor(t - 1, costPerItem: 4 * v) { range in
                for i in range {
                    box.value[i] = row(rp.value + i * v, mp.value + i * v, target: Int(targets[i + 1]), vocab: v)
                }
            }
        }
        return withExtendedLifetime((reference, model)) { out }
    }

    /// KL, argmax agreement and both NLLs of one row of logits.
    static func row(_ r: UnsafePointer<Float>, _ m: UnsafePointer<Float>, target: Int, vocab v: Int) -> RowDivergence {
        var rmax = -Float.infinity, mmax = -Float.infinity, rarg = 0, marg = 0
        for j in 0..<v {
            if r[j] > rmax { rmax = r[j]; rarg = j }
            if m[j] > mmax { mmax = m[j]; marg = j }
        }
        // One pass. With e_j = e^(r_j - rmax), f_j = e^(m_j - mmax), d_j = (r_j - rmax) - (m_j - mmax):
        //   KL = sum_j (e_j / rsum) (log(e_j / rsum) - log(f_j / msum)) = (sum_j e_j d_j) / rsum - (log rsum - log msum).
        // d_j is taken relative to each row's maximum, so a constant offset between the two rows'
        // logits cancels per term, and the KL is exactly 0 when the rows are equal. The e_j d_j
        // terms add up in Float (vectorized).
        var rsum = 0.0, msum = 0.0, weighted: Float = 0
        for j in 0..<v {
            let a = r[j] - rmax, b = m[j] - mmax, e = fastExp(a)
            rsum += Double(e); msum += Double(fastExp(b))
            weighted += e * (a - b)
        }
        let rlog = Double(rmax) + qlogD(rsum), mlog = Double(mmax) + qlogD(msum)
        let kl = Double(weighted) / rsum - (qlogD(rsum) - qlogD(msum))
        return RowDivergence(kl: max(kl, 0), agree: rarg == marg, modelNLL: mlog - Double(m[target]), refNLL: rlog - Double(r[target]))
    }
}
