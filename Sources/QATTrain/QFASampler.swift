// LLM-QFA's resource-balanced sampling (docs/qfa_baselines.md A.3): which bit width each unit (a decoder
// block, or one linear) runs at in a training step.
//
// The target mean bits follow a triangle wave of period SL steps between the smallest width b_1
// and the largest b_N:
//   start high: mu(t) = b_1 + (b_N - b_1) * |2 ((t mod SL) / SL) - 1|     (b_N at t = 0, b_1 at SL/2)
//   start low:  mu(t) = b_N - (b_N - b_1) * |2 ((t mod SL) / SL) - 1|
// and per-unit probabilities p_b(t) come from mu(t) in one of two ways (the paper does not say
// which; both are ours):
//   tilt      max-entropy tilt p_b ∝ exp(lambda b), lambda by bisection so that sum p_b b = mu(t):
//             one-hot on b_1 at mu = b_1, uniform at the middle, one-hot on b_N at mu = b_N
//   gaussian  discretised Gaussian p_b ∝ exp(-(b - c)^2 / tau^2); the centre c is solved by
//             bisection so that sum p_b b = mu(t) too (c = mu(t) would pull the mean towards the
//             middle of the choice set near the ends)
//   uniform   p_b = 1/N at every step (the ablation; the average bits then concentrate around the
//             middle with std sqrt(var/L), the bias the paper's scheduler removes)
// Every unit draws independently from p(t). A step's draws depend only on (seed, step), so a
// resumed run draws the same configurations as an uninterrupted one.
import QATTensor

public enum QFASamplerKind: String, Sendable, CaseIterable {
    case balanced, gaussian, uniform
}

public struct QFASampler: Sendable {
    /// The choice set, ascending.
    public let widths: [Int]
    public let units: Int
    public let kind: QFASamplerKind
    /// Steps per triangle period (SL).
    public let period: Int
    /// true: mu starts at the largest width (the paper's high -> low -> high).
    public let startHigh: Bool
    /// Width of the discretised Gaussian, in bits.
    public let tau: Double
    public let seed: UInt64

    public init(widths: [Int], units: Int, kind: QFASamplerKind = .balanced, period: Int = 1000,
                startHigh: Bool = true, tau: Double = 0.6, seed: UInt64 = 0) throws {
        let w = Array(Set(widths)).sorted()
        guard !w.isEmpty, w.allSatisfy({ (2...8).contains($0) }) else {
            throw TrainingError("qfa: widths \(widths) must be a non-empty list of bit widths in 2...8, e.g. [2 3 4]")
        }
        guard units >= 1 else { throw TrainingError("qfa: units=\(units); a supernet needs at least one unit") }
        guard period >= 2 else { throw TrainingError("qfa: period=\(period) steps is too short for a triangle wave; use period >= 2") }
        guard tau > 0 else { throw TrainingError("qfa: tau=\(tau) must be positive (0.5-0.7 bits is typical)") }
        self.widths = w; self.units = units; self.kind = kind; self.period = period
        self.startHigh = startHigh; self.tau = tau; self.seed = seed
    }

    var low: Double { Double(widths[0]) }
    var high: Double { Double(widths[widths.count - 1]) }

    /// The target mean bits at step t (the triangle wave).
    public func targetMean(step t: Int) -> Double {
        let phase = Double(t % period) / Double(period)
        let tri = abs(2 * phase - 1)
        return startHigh ? low + (high - low) * tri : high - (high - low) * tri
    }

    /// Per-width probabilities at step t (order of `widths`).
    public func probabilities(step t: Int) -> [Double] {
        switch kind {
        case .uniform: return [Double](repeating: 1 / Double(widths.count), count: widths.count)
        case .balanced: return QFASampler.tilt(widths: widths, mean: targetMean(step: t))
        case .gaussian: return QFASampler.gaussian(widths: widths, mean: targetMean(step: t), tau: tau)
        }
    }

    /// The configuration (one width per unit) of step t.
    public func configuration(step t: Int) -> [Int] {
        let p = probabilities(step: t)
        var rng = SeededRandom(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(t + 1))
        return (0..<units).map { _ in QFASampler.draw(p, widths, &rng) }
    }

    static func draw(_ p: [Double], _ widths: [Int], _ rng: inout SeededRandom) -> Int {
        let u = Double(rng.next() >> 11) * 0x1p-53
        var acc = 0.0
        for (i, pi) in p.enumerated() {
            acc += pi
            if u < acc { return widths[i] }
        }
        return widths[widths.count - 1]
    }

    /// Softmax of the logits, in Double, shifted by the largest.
    static func normalized(_ logits: [Double]) -> [Double] {
        let m = logits.max() ?? 0
        let e = logits.map { qexpD($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func mean(_ p: [Double], _ widths: [Int]) -> Double {
        zip(p, widths).reduce(0) { $0 + $1.0 * Double($1.1) }
    }

    /// Solves f(x) = target for an increasing f on [lo, hi] by bisection (Double precision).
    static func bisect(_ lo: Double, _ hi: Double, target: Double, _ f: (Double) -> Double) -> Double {
        var a = lo, b = hi
        for _ in 0..<200 {
            let m = 0.5 * (a + b)
            if f(m) < target { a = m } else { b = m }
            if b - a < 1e-13 { break }
        }
        return 0.5 * (a + b)
    }

    /// The max-entropy tilt p_b ∝ exp(lambda b) whose mean is `mean` (clamped to the widths' range).
    public static func tilt(widths: [Int], mean: Double) -> [Double] {
        let lo = Double(widths[0]), hi = Double(widths[widths.count - 1])
        if widths.count == 1 || mean <= lo { return oneHot(widths.count, 0) }
        if mean >= hi { return oneHot(widths.count, widths.count - 1) }
        let p = { (l: Double) in normalized(widths.map { l * Double($0) }) }
        let lambda = bisect(-500, 500, target: mean) { Self.mean(p($0), widths) }
        return p(lambda)
    }

    /// The discretised Gaussian p_b ∝ exp(-(b - c)^2 / tau^2) whose mean is `mean`.
    public static func gaussian(widths: [Int], mean: Double, tau: Double) -> [Double] {
        let lo = Double(widths[0]), hi = Double(widths[widths.count - 1])
        if widths.count == 1 || mean <= lo { return oneHot(widths.count, 0) }
        if mean >= hi { return oneHot(widths.count, widths.count - 1) }
        let p = { (c: Double) in normalized(widths.map { -(Double($0) - c) * (Double($0) - c) / (tau * tau) }) }
        let c = bisect(lo - 200 * tau * tau, hi + 200 * tau * tau, target: mean) { Self.mean(p($0), widths) }
        return p(c)
    }

    static func oneHot(_ n: Int, _ i: Int) -> [Double] { (0..<n).map { $0 == i ? 1 : 0 } }
}

/// The mean code width of a configuration, (1/L) sum_l b_l: QFA's budget. No scales or zero points
/// are counted, so this is not a model's avg_bits.
public func meanWidth(_ config: [Int]) -> Double {
    config.isEmpty ? 0 : Double(config.reduce(0, +)) / Double(config.count)
}

/// What `qfa sample` previews: the average bits of every step of one period.
public struct QFASchedulePreview: Sendable {
    public let averages: [Double]
    public let targets: [Double]
    public var mean: Double { averages.reduce(0, +) / Double(max(averages.count, 1)) }
    public var std: Double {
        let m = mean
        return (averages.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(averages.count, 1))).squareRoot()
    }

    /// Counts of the averages in `bins` equal bins over [lo, hi] (the top edge goes to the last bin).
    public func histogram(bins: Int, lo: Double, hi: Double) -> [Int] {
        var h = [Int](repeating: 0, count: max(bins, 1))
        for a in averages {
            let i = hi > lo ? Int((a - lo) / (hi - lo) * Double(bins)) : 0
            h[min(max(i, 0), h.count - 1)] += 1
        }
        return h
    }
}

extension QFASampler {
    /// The configurations' average bits over steps start..<start+period.
    public func preview(start: Int = 0) -> QFASchedulePreview {
        let steps = start..<(start + period)
        return QFASchedulePreview(averages: steps.map { meanWidth(configuration(step: $0)) },
                                  targets: steps.map { targetMean(step: $0) })
    }
}
