// LLM-QFA subnet search under a mean-width budget (docs/qfa_baselines.md A.5), "[coarse, fine]":
//
//  1. coarse: `coarse` random subnets meeting the budget (default 100), each scored;
//  2. sensitivity: per unit, the Pearson correlation over the coarse subnets between its width and
//     the score (oriented so that higher is better); the `pin` fraction of units with the largest
//     correlation is pinned to the largest width and the same number with the smallest to the
//     smallest width (the pinning rule is ours; high pins are dropped, least sensitive first,
//     while the budget cannot be met);
//  3. fine: `fine` random subnets (default 50) in the reduced space. A draw that repeats an already
//     scored configuration is not scored again; when 20 x `fine` draws give no more new subnets
//     the stage stops and says how many distinct subnets it scored.
// The pick is the subnet of both stages with the best SELECTION score (what the method returns).
//
// The budget is a mean code width over units, (1/L) sum_l b_l (`meanWidth`): no scales or zero
// points are counted, so it is not the model's avg_bits.
//
// Selection and held-out: every score above is on the scorer's selection set only. After the
// search, and only then, the held-out set (disjoint from the selection set, never seen by the
// search) scores three subnets: the pick, the best RANDOM subnet (the coarse subnet with the best
// selection score) and the uniform subnet of the same budget (QFAHeldout.uniformSubnet). A pick
// scored on the windows it was selected on beats any random draw by construction; on held-out
// windows it can lose, and the report says so.
//
// A random subnet meeting budget B over L units: each free unit draws from the max-entropy tilt
// whose mean is B (QFASampler.tilt), then random units step down one width while the total width
// exceeds floor(B L), then random units step up one width while that still fits: every subnet
// uses the budget as fully as the widths allow. Draws depend only on the seed.
import Foundation
import QATAutograd
import QATModel
import QATTensor

public struct QFASearchOptions: Sendable {
    /// The mean-width budget (mean code width over units).
    public var budget = 3.0
    public var coarse = 100, fine = 50
    /// Fraction of the units pinned at each end after the coarse stage.
    public var pin = 0.25
    public var seed: UInt64 = 7
    public init() {}
}

/// One subnet scored on the selection set.
public struct QFASubnetScore: Sendable {
    public let stage: String
    public let configuration: [Int]
    public let score: Double
    public var meanWidth: Double { QATTrain.meanWidth(configuration) }
}

public struct QFASearchReport: Sendable {
    /// Every subnet the search scored, on the selection set, in order.
    public var evaluated: [QFASubnetScore] = []
    public var sensitivity: [Double] = []
    public var pinnedHigh: [Int] = [], pinnedLow: [Int] = []
    public var lowerIsBetter = true
    /// Draws per stage (repeats included) and distinct subnets scored per stage.
    public var draws: [String: Int] = [:]
    public var heldout = QFAHeldoutReport()
    public var seconds = 0.0

    func best(_ stage: String?) -> QFASubnetScore? {
        let pool = evaluated.filter { stage == nil || $0.stage == stage }
        return lowerIsBetter ? pool.min { $0.score < $1.score } : pool.max { $0.score < $1.score }
    }
    /// The best selection score of both stages: what the search returns.
    public var best: QFASubnetScore? { best(nil) }
    /// The coarse (random) subnet with the best selection score.
    public var randomBest: QFASubnetScore? { best("coarse") }
    public var fineBest: QFASubnetScore? { best("fine") }
    public func distinct(_ stage: String) -> Int { evaluated.filter { $0.stage == stage }.count }
    /// Median selection score of the coarse (random) stage.
    public var randomMedian: Double {
        let s = evaluated.filter { $0.stage == "coarse" }.map(\.score).sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }
}

public enum QFASearch {
    /// floor(budget * units): the most total width a subnet may use. The budget is range-checked
    /// (`budgetCap` throws outside 1...64) so the conversion cannot trap.
    public static func budgetCap(_ budget: Double, units: Int) throws -> Int {
        guard budget.isFinite, (1...64).contains(budget), units > 0, units < 1 << 40 else {
            throw TrainingError("qfa search: budget \(budget) over \(units) units is not a mean width in 1...64; give budget= between the smallest and largest width")
        }
        return Int((budget * Double(units) + 1e-9).rounded(.down))
    }

    /// A random configuration of `units` widths with total width <= floor(budget * units); `pinned`
    /// units keep their width. Throws when the pins alone break the budget.
    public static func randomSubnet(widths: [Int], units: Int, budget: Double, pinned: [Int: Int] = [:], rng: inout SeededRandom) throws -> [Int] {
        let cap = try budgetCap(budget, units: units)
        let free = (0..<units).filter { pinned[$0] == nil }
        let floorWidth = pinned.values.reduce(0, +) + free.count * widths[0]
        guard floorWidth <= cap else {
            throw TrainingError("qfa search: budget \(budget) is below the smallest reachable mean width \(Double(floorWidth) / Double(units)) (widths \(widths)); raise budget=")
        }
        let p = QFASampler.tilt(widths: widths, mean: min(max(budget, Double(widths[0])), Double(widths[widths.count - 1])))
        var c = (0..<units).map { pinned[$0] ?? QFASampler.draw(p, widths, &rng) }
        func step(_ i: Int, _ dir: Int) -> Int? {
            guard let k = widths.firstIndex(of: c[i]), widths.indices.contains(k + dir) else { return nil }
            return widths[k + dir]
        }
        func pick(_ candidates: [Int]) -> Int { candidates[Int(rng.next() % UInt64(candidates.count))] }
        while c.reduce(0, +) > cap {
            let down = free.filter { step($0, -1) != nil }
            guard !down.isEmpty else { break }
            let i = pick(down); c[i] = step(i, -1) ?? c[i]
        }
        while true {
            let total = c.reduce(0, +)
            let up = free.filter { i in step(i, 1).map { total - c[i] + $0 <= cap } ?? false }
            guard !up.isEmpty else { break }
            let i = pick(up); c[i] = step(i, 1) ?? c[i]
        }
        return c
    }

    /// Pearson correlation of each unit's width with the (higher-is-better) score; 0 for a unit whose width never varied.
    public static func sensitivity(_ scored: [QFASubnetScore], units: Int, lowerIsBetter: Bool) -> [Double] {
        let n = Double(scored.count)
        guard scored.count >= 2 else { return [Double](repeating: 0, count: units) }
        let y = scored.map { lowerIsBetter ? -$0.score : $0.score }
        let my = y.reduce(0, +) / n
        return (0..<units).map { u in
            let x = scored.map { Double($0.configuration[u]) }
            let mx = x.reduce(0, +) / n
            var sxy = 0.0, sxx = 0.0, syy = 0.0
            for (a, b) in zip(x, y) { sxy += (a - mx) * (b - my); sxx += (a - mx) * (a - mx); syy += (b - my) * (b - my) }
            return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
        }
    }

    /// Scores up to `count` new random subnets on the selection set; repeats are drawn again, at
    /// most 20 x count draws in all.
    static func stage(_ name: String, _ count: Int, pinned: [Int: Int], net: QFASupernet, options o: QFASearchOptions,
                      scorer: QFAScorer, seen: inout Set<[Int]>, rng: inout SeededRandom, report: inout QFASearchReport, log: (String) -> Void) throws {
        var tries = 0, done = 0
        while done < count && tries < 20 * count {
            try Interrupt.check()
            tries += 1
            let c = try randomSubnet(widths: net.options.widths, units: net.unitCount, budget: o.budget, pinned: pinned, rng: &rng)
            guard seen.insert(c).inserted else { continue }
            try net.apply(c)
            let s = scorer.aggregate(try noGrad { try scorer.samples(net.model, .selection) })
            report.evaluated.append(QFASubnetScore(stage: name, configuration: c, score: s))
            done += 1
            if done % 10 == 0 || done == count { log("qfa search \(name) \(done)/\(count): best \(fmtE(report.best(name)?.score ?? s))") }
        }
        report.draws[name] = tries
        if done < count {
            log("qfa search \(name): ran out of new subnets: \(done) distinct of \(count) asked after \(tries) draws (a draw repeating a scored configuration is not scored again)")
        }
    }

    /// The pins after the coarse stage: the most sensitive units high, the least sensitive low.
    static func pins(_ report: inout QFASearchReport, widths: [Int], units: Int, options o: QFASearchOptions) throws -> [Int: Int] {
        let k = Int((o.pin * Double(units)).rounded())   // pin is in 0...0.5 (the verb's range), units small
        let s = report.sensitivity
        let ranked = (0..<units).sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }
        var high = Array(ranked.prefix(k))
        let low = Array(ranked.suffix(k)).filter { !high.contains($0) }
        func pinned() -> [Int: Int] {
            var p: [Int: Int] = [:]
            for u in high { p[u] = widths[widths.count - 1] }
            for u in low { p[u] = widths[0] }
            return p
        }
        let cap = try budgetCap(o.budget, units: units)
        while !high.isEmpty, pinned().values.reduce(0, +) + (units - high.count - low.count) * widths[0] > cap { high.removeLast() }
        report.pinnedHigh = high.sorted(); report.pinnedLow = low.sorted()
        return pinned()
    }

    public static func run(_ net: QFASupernet, options o: QFASearchOptions, scorer: QFAScorer, log: (String) -> Void) throws -> QFASearchReport {
        guard (0...0.5).contains(o.pin) else { throw TrainingError("qfa search: pin=\(o.pin) must be a fraction in 0...0.5") }
        let widths = net.options.widths, units = net.unitCount
        var rng = SeededRandom(seed: o.seed)
        var report = QFASearchReport()
        report.lowerIsBetter = scorer.lowerIsBetter
        var seen = Set<[Int]>()
        let clock = ContinuousClock(), start = clock.now
        try stage("coarse", o.coarse, pinned: [:], net: net, options: o, scorer: scorer, seen: &seen, rng: &rng, report: &report, log: log)
        report.sensitivity = sensitivity(report.evaluated, units: units, lowerIsBetter: scorer.lowerIsBetter)
        let pinned = try pins(&report, widths: widths, units: units, options: o)
        log("qfa search: pinned \(report.pinnedHigh.count) units high \(report.pinnedHigh), \(report.pinnedLow.count) low \(report.pinnedLow)")
        try stage("fine", o.fine, pinned: pinned, net: net, options: o, scorer: scorer, seen: &seen, rng: &rng, report: &report, log: log)
        // selection is over: only now does the held-out set score anything
        report.heldout = try QFAHeldout.score(report, net: net, budget: o.budget, scorer: scorer, log: log)
        report.seconds = (clock.now - start).inSeconds
        if let b = report.best { try net.apply(b.configuration) }
        return report
    }
}
