// Held-out scoring of QFA subnets (QFASearch.swift): the two disjoint sample sets, the scorer seam,
// the uniform-width subnet of a budget, and the held-out comparison the search reports.
//
// Windows (metric=ppl): the text is tokenized as one stream; its last 10% (the validation part of
// TrainingWindows, which supernet training never reads) is cut into consecutive non-overlapping
// `seqlen`-token slots; a seeded Fisher-Yates shuffle orders the slots; the first `selection`
// slots are the selection windows, the next `heldout` the held-out windows. No token is in both.
//
// Per-sample values: ppl: each window's mean NLL per predicted token (nats); the score is
// exp(mean), the perplexity. mc: 1 for an item answered right, else 0; the score is their mean.
// Standard errors come from the per-sample spread, s / sqrt(n) with the n-1 sample deviation s:
// for ppl it is the SE of ln(ppl) (the mean NLL), for mc the SE of the accuracy. A comparison of
// two subnets is paired (same samples): the mean and SE of the per-sample differences, which for
// ppl is ln(ppl_a / ppl_b).
//
// Uniform subnet of budget B over L units: with cap = floor(B L), lower = the largest width w with
// w L <= cap, upper = the next larger width; k = min(L, (cap - lower L) / (upper - lower)) units
// (integer division: the most that fit) go to upper, the others stay at lower. The
// upper units are spread evenly across depth by the Bresenham rule: unit i (0-based) is at upper
// exactly when floor((i + 1) k / L) > floor(i k / L). A budget at or above the largest width puts
// every unit there; an integral budget that is a width puts every unit at it (k = 0).
import Foundation
import QATAutograd
import QATModel
import QATTensor

/// Which set a scorer is asked for.
public enum QFAScoreSet: String, Sendable { case selection, heldout }

/// The score of the model at the applied configuration, as per-sample values on one set.
public struct QFAScorer {
    public var lowerIsBetter: Bool
    public var samples: (LlamaModel, QFAScoreSet) throws -> [Double]
    /// The score from per-sample values: perplexity exp(mean) or accuracy mean.
    public var aggregate: ([Double]) -> Double

    public init(lowerIsBetter: Bool, samples: @escaping (LlamaModel, QFAScoreSet) throws -> [Double], aggregate: @escaping ([Double]) -> Double) {
        self.lowerIsBetter = lowerIsBetter; self.samples = samples; self.aggregate = aggregate
    }

    /// Perplexity: per window its mean NLL per predicted token; lower is better.
    public static func perplexity(selection: [[Int32]], heldout: [[Int32]]) -> QFAScorer {
        QFAScorer(lowerIsBetter: true, samples: { model, set in
            try (set == .selection ? selection : heldout).map { try model.windowNLL($0) / Double($0.count - 1) }
        }, aggregate: { qexpD(QFAStats.mean($0)) })
    }

    /// Accuracy from per-item 0/1 values; higher is better.
    public static func accuracy(_ samples: @escaping (LlamaModel, QFAScoreSet) throws -> [Double]) -> QFAScorer {
        QFAScorer(lowerIsBetter: false, samples: samples, aggregate: { QFAStats.mean($0) })
    }
}

public enum QFAStats {
    public static func mean(_ x: [Double]) -> Double { x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count) }
    /// s / sqrt(n) with the n-1 sample deviation; nan below two samples.
    public static func standardError(_ x: [Double]) -> Double {
        guard x.count >= 2 else { return .nan }
        let m = mean(x)
        let s2 = x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)
        return (s2 / Double(x.count)).squareRoot()
    }
}

public enum QFAEvalWindows {
    /// Disjoint selection and held-out windows from the validation part of `tokens` (the header's rule).
    public static func split(tokens: [Int32], seqlen: Int, selection: Int, heldout: Int, seed: UInt64) throws -> (selection: [[Int32]], heldout: [[Int32]]) {
        guard seqlen > 1, selection > 0, heldout > 0 else {
            throw TrainingError("qfa search: needs seqlen > 1 and at least one selection and one held-out window (seqlen=\(seqlen) val=\(selection) heldout=\(heldout))")
        }
        let start = tokens.count * 9 / 10
        let slots = (tokens.count - start) / seqlen
        guard slots >= selection + heldout else {
            throw TrainingError("qfa search: the text's last 10% (\(tokens.count - start) tokens) holds \(slots) disjoint windows of \(seqlen) tokens, fewer than val=\(selection) + heldout=\(heldout); lower val=, heldout= or seqlen=, or use a longer text")
        }
        var order = Array(0..<slots)
        var rng = SeededRandom(seed: seed ^ 0x6A09_E667_F3BC_C909)
        for i in stride(from: slots - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        func window(_ slot: Int) -> [Int32] { Array(tokens[(start + slot * seqlen)..<(start + (slot + 1) * seqlen)]) }
        return (order.prefix(selection).map(window), order.dropFirst(selection).prefix(heldout).map(window))
    }
}

/// One subnet scored on the held-out set.
public struct QFAHeldoutScore: Sendable {
    public let configuration: [Int]
    public let samples: [Double]
    public let score: Double
    /// ppl: SE of ln(ppl); mc: SE of the accuracy.
    public var standardError: Double { QFAStats.standardError(samples) }
    public var meanWidth: Double { QATTrain.meanWidth(configuration) }
}

/// A paired comparison on the held-out samples: mean and SE of a - b per sample (ppl: ln(ppl_a / ppl_b)).
public struct QFAComparison: Sendable {
    public let difference: Double, standardError: Double
    /// Whether a scored better than b (strictly).
    public let aWins: Bool

    init(_ a: QFAHeldoutScore, _ b: QFAHeldoutScore, lowerIsBetter: Bool) {
        let d = zip(a.samples, b.samples).map { $0 - $1 }
        difference = QFAStats.mean(d); standardError = QFAStats.standardError(d)
        aWins = lowerIsBetter ? a.score < b.score : a.score > b.score
    }
}

public struct QFAHeldoutReport: Sendable {
    public var picked: QFAHeldoutScore?, randomBest: QFAHeldoutScore?, uniform: QFAHeldoutScore?
    public var lowerIsBetter = true
    /// Distinct configurations the held-out set scored (the pick may be the random best, or uniform).
    public var scoredConfigurations = 0
    public var pickedVsRandomBest: QFAComparison? { compare(picked, randomBest) }
    public var pickedVsUniform: QFAComparison? { compare(picked, uniform) }
    func compare(_ a: QFAHeldoutScore?, _ b: QFAHeldoutScore?) -> QFAComparison? {
        guard let a, let b else { return nil }
        return QFAComparison(a, b, lowerIsBetter: lowerIsBetter)
    }
}

public enum QFAHeldout {
    /// The uniform-width subnet of `budget` (the header's rule).
    public static func uniformSubnet(widths: [Int], units: Int, budget: Double) throws -> [Int] {
        let cap = try QFASearch.budgetCap(budget, units: units)
        guard let lowest = widths.first, lowest * units <= cap else {
            throw TrainingError("qfa search: budget \(budget) is below the smallest width \(widths.first ?? 0) (widths \(widths)); raise budget=")
        }
        let lower = widths.last { $0 * units <= cap } ?? lowest
        guard let upper = widths.first(where: { $0 > lower }) else { return Array(repeating: lower, count: units) }
        let k = min(units, (cap - lower * units) / (upper - lower))
        return (0..<units).map { i in (i + 1) * k / units > i * k / units ? upper : lower }
    }

    /// After the search: the pick, the best random subnet and the uniform subnet on the held-out set.
    static func score(_ r: QFASearchReport, net: QFASupernet, budget: Double, scorer: QFAScorer, log: (String) -> Void) throws -> QFAHeldoutReport {
        var out = QFAHeldoutReport()
        out.lowerIsBetter = scorer.lowerIsBetter
        var cache: [[Int]: QFAHeldoutScore] = [:]
        func heldout(_ c: [Int]) throws -> QFAHeldoutScore {
            if let s = cache[c] { return s }
            try Interrupt.check()
            try net.apply(c)
            let v = try noGrad { try scorer.samples(net.model, .heldout) }
            let s = QFAHeldoutScore(configuration: c, samples: v, score: scorer.aggregate(v))
            cache[c] = s
            return s
        }
        out.picked = try r.best.map { try heldout($0.configuration) }
        out.randomBest = try r.randomBest.map { try heldout($0.configuration) }
        out.uniform = try heldout(try uniformSubnet(widths: net.options.widths, units: net.unitCount, budget: budget))
        out.scoredConfigurations = cache.count
        for (role, s) in [("picked", out.picked), ("random best", out.randomBest), ("uniform", out.uniform)] {
            guard let s else { continue }
            log("qfa search held-out \(role): \(fmtE(s.score)) ± \(fmtE(s.standardError)) (\(scorer.lowerIsBetter ? "SE of ln ppl" : "SE of acc")) mean width \(fmt2(s.meanWidth)) widths \(s.configuration.map(String.init).joined(separator: ","))")
        }
        if let c = out.pickedVsRandomBest, let p = out.picked {
            let verdict = p.configuration == out.randomBest?.configuration ? "IS the best random subnet (a coarse draw)"
                : c.aWins ? "BEATS the best random subnet" : "does NOT beat the best random subnet"
            log("qfa search held-out: the pick \(verdict) (\(scorer.lowerIsBetter ? "ln ppl ratio" : "acc difference") \(fmtE(c.difference)) ± \(fmtE(c.standardError)))")
        }
        return out
    }
}
