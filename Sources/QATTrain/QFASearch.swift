// LLM-QFA subnet search under an average-bit budget (qfa_baselines.md A.5), "[coarse, fine]":
//
//  1. coarse: `coarse` random subnets meeting the budget (default 100), each scored;
//  2. sensitivity: per unit, the Pearson correlation over the coarse subnets between its width and
//     the score (oriented so that higher is better); the `pin` fraction of units with the largest
//     correlation is pinned to the largest width and the same number with the smallest to the
//     smallest width (the pinning rule is ours; high pins are dropped, least sensitive first,
//     while the budget cannot be met);
//  3. fine: `fine` random subnets (default 50) in the reduced space; the best subnet seen is returned.
//
// A random subnet meeting budget B over L units: each free unit draws from the max-entropy tilt
// whose mean is B (QFASampler.tilt), then random units step down one width while the total bits
// exceed floor(B L), then random units step up one width while that still fits: every subnet
// uses the budget as fully as the widths allow. Draws depend only on the seed.
//
// The score is a closure over the model at the applied configuration, so any metric plugs in:
// `pplScore` (validation perplexity of held-aside windows, lower is better) now; the lead's
// multiple-choice scorer (Sources/QATModel/MultipleChoice.swift) goes through the same seam with
// lowerIsBetter = false.
import Foundation
import QATAutograd
import QATModel
import QATTensor

public struct QFASearchOptions: Sendable {
    public var budget = 3.0
    public var coarse = 100, fine = 50
    /// Fraction of the units pinned at each end after the coarse stage.
    public var pin = 0.25
    public var seed: UInt64 = 7
    public init() {}
}

public struct QFASubnetScore: Sendable {
    public let stage: String
    public let configuration: [Int]
    public let score: Double
    public var averageBits: Double { QATTrain.averageBits(configuration) }
}

public struct QFASearchReport: Sendable {
    public var evaluated: [QFASubnetScore] = []
    public var sensitivity: [Double] = []
    public var pinnedHigh: [Int] = [], pinnedLow: [Int] = []
    public var lowerIsBetter = true
    public var seconds = 0.0

    func best(_ stage: String?) -> QFASubnetScore? {
        let pool = evaluated.filter { stage == nil || $0.stage == stage }
        return lowerIsBetter ? pool.min { $0.score < $1.score } : pool.max { $0.score < $1.score }
    }
    /// The best subnet of both stages: what the search returns.
    public var best: QFASubnetScore? { best(nil) }
    public var randomBest: QFASubnetScore? { best("coarse") }
    public var fineBest: QFASubnetScore? { best("fine") }
    /// Median score of the coarse (random) stage: what a random subnet gets.
    public var randomMedian: Double {
        let s = evaluated.filter { $0.stage == "coarse" }.map(\.score).sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }
}

public enum QFASearch {
    /// Validation perplexity of `windows` (lower is better).
    public static func pplScore(windows: [[Int32]]) -> (LlamaModel) throws -> Double {
        { model in qexpD(try E2EQP.validationLoss(model: model, windows: windows)) }
    }

    /// A random configuration of `units` widths with total bits <= floor(budget * units); `pinned`
    /// units keep their width. Throws when the pins alone break the budget.
    public static func randomSubnet(widths: [Int], units: Int, budget: Double, pinned: [Int: Int] = [:], rng: inout SeededRandom) throws -> [Int] {
        let cap = Int((budget * Double(units) + 1e-9).rounded(.down))
        let free = (0..<units).filter { pinned[$0] == nil }
        let floorBits = pinned.values.reduce(0, +) + free.count * widths[0]
        guard floorBits <= cap else {
            throw TrainingError("qfa search: budget \(budget) bits is below the smallest reachable average \(Double(floorBits) / Double(units)) (widths \(widths)); raise budget=")
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

    public static func run(_ net: QFASupernet, options o: QFASearchOptions, lowerIsBetter: Bool = true,
                           score: (LlamaModel) throws -> Double, log: (String) -> Void) throws -> QFASearchReport {
        let widths = net.options.widths, units = net.unitCount
        var rng = SeededRandom(seed: o.seed)
        var report = QFASearchReport()
        report.lowerIsBetter = lowerIsBetter
        var seen = Set<[Int]>()
        let clock = ContinuousClock(), start = clock.now
        func stage(_ name: String, _ count: Int, pinned: [Int: Int]) throws {
            var tries = 0
            var done = 0
            while done < count && tries < 20 * count {
                try Interrupt.check()
                tries += 1
                let c = try randomSubnet(widths: widths, units: units, budget: o.budget, pinned: pinned, rng: &rng)
                guard seen.insert(c).inserted else { continue }
                try net.apply(c)
                let s = try noGrad { try score(net.model) }
                report.evaluated.append(QFASubnetScore(stage: name, configuration: c, score: s))
                done += 1
                if done % 10 == 0 || done == count { log("qfa search \(name) \(done)/\(count): best \(fmtE(report.best(name)?.score ?? s))") }
            }
        }
        try stage("coarse", o.coarse, pinned: [:])
        report.sensitivity = sensitivity(report.evaluated, units: units, lowerIsBetter: lowerIsBetter)
        let k = Int((o.pin * Double(units)).rounded())
        let ranked = (0..<units).sorted { report.sensitivity[$0] > report.sensitivity[$1] || (report.sensitivity[$0] == report.sensitivity[$1] && $0 < $1) }
        var high = Array(ranked.prefix(k)), low = Array(ranked.suffix(k)).filter { !high.contains($0) }
        func pins() -> [Int: Int] {
            var p: [Int: Int] = [:]
            for u in high { p[u] = widths[widths.count - 1] }
            for u in low { p[u] = widths[0] }
            return p
        }
        let cap = Int((o.budget * Double(units) + 1e-9).rounded(.down))
        while !high.isEmpty, pins().values.reduce(0, +) + (units - high.count - low.count) * widths[0] > cap { high.removeLast() }
        report.pinnedHigh = high.sorted(); report.pinnedLow = low.sorted()
        log("qfa search: pinned \(high.count) units high \(report.pinnedHigh), \(low.count) low \(report.pinnedLow)")
        try stage("fine", o.fine, pinned: pins())
        report.seconds = QFABases.seconds(clock.now - start)
        if let b = report.best { try net.apply(b.configuration) }
        return report
    }
}
