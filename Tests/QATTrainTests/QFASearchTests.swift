// QFA search with held-out scoring (QFASearch.swift, QFAHeldout.swift), mostly with synthetic
// scorers that record which set they are asked for: the held-out set is scored only after the
// selection is over and only for the reported subnets; the reported numbers are held-out
// numbers; the pick is the selection-best even when held-out disagrees (and the report says it
// loses); the uniform subnet follows the documented rule; fine-stage exhaustion is logged; the
// selection and held-out windows share no token.
import Foundation
import Testing
@testable import QATTrain
import QATTensor

/// A scorer whose value depends only on the applied configuration, recording every call.
final class RecordingScorer: @unchecked Sendable {
    var calls: [(set: QFAScoreSet, configuration: [Int])] = []
    /// Lower is better: sum over units of weight_u * (4 - width_u), weights decreasing with u, so
    /// the first units matter most and the sensitivity stage can find them.
    static func selectionValue(_ c: [Int]) -> Double {
        c.enumerated().reduce(0) { $0 + Double(c.count - $1.offset) * Double(4 - $1.element) }
    }

    func scorer(_ net: QFASupernet, heldout: @escaping ([Int]) -> Double) -> QFAScorer {
        QFAScorer(lowerIsBetter: true, samples: { [self] _, set in
            let c = net.configuration
            calls.append((set, c))
            let v = set == .selection ? Self.selectionValue(c) : heldout(c)
            return [v - 1, v, v + 1, v + 3]   // mean v + 0.75, spread for an SE
        }, aggregate: QFAStats.mean)
    }
}

@Suite struct QFASearchTests {
    func options(budget: Double, coarse: Int, fine: Int) -> QFASearchOptions {
        var o = QFASearchOptions()
        o.budget = budget; o.coarse = coarse; o.fine = fine; o.pin = 0.25; o.seed = 5
        return o
    }

    /// Held-out anti-correlated with selection: the pick (a fine subnet, best on selection) must
    /// lose to the best random subnet on held-out, and the report must say so.
    @Test func pickIsSelectionBestAndCanLoseOnHeldout() throws {
        let (net, _) = try tinySupernet(unit: .linear)   // 28 units: a large space
        let rec = RecordingScorer()
        var lines: [String] = []
        let r = try QFASearch.run(net, options: options(budget: 3, coarse: 12, fine: 8),
                                  scorer: rec.scorer(net, heldout: { -RecordingScorer.selectionValue($0) }), log: { lines.append($0) })
        let pick = try #require(r.best), random = try #require(r.randomBest)
        // the pick is the minimum selection score over both stages, and here a fine subnet
        #expect(pick.score == r.evaluated.map(\.score).min())
        try #require(pick.stage == "fine" && pick.score < random.score, "the fine stage should beat the coarse one on selection")
        // every selection call precedes every held-out call; held-out scores only the reported subnets
        let firstHeldout = try #require(rec.calls.firstIndex { $0.set == .heldout })
        #expect(rec.calls[firstHeldout...].allSatisfy { $0.set == .heldout })
        #expect(rec.calls.filter { $0.set == .selection }.count == r.evaluated.count)
        let uniform = try #require(r.heldout.uniform)
        #expect(Set(rec.calls[firstHeldout...].map(\.configuration)) == Set([pick.configuration, random.configuration, uniform.configuration]))
        // the reported numbers are held-out numbers: -selectionValue + 0.75
        let p = try #require(r.heldout.picked), b = try #require(r.heldout.randomBest)
        #expect(p.score == -RecordingScorer.selectionValue(pick.configuration) + 0.75)
        #expect(b.score == -RecordingScorer.selectionValue(random.configuration) + 0.75)
        #expect(uniform.score == -RecordingScorer.selectionValue(uniform.configuration) + 0.75)
        // SE of [v-1, v, v+1, v+3]: s^2 = (3.0625 + 0.5625 + 0.0625 + 5.0625) / 3, SE = sqrt(s^2 / 4)
        #expect(abs(p.standardError - (8.75 / 3 / 4).squareRoot()) < 1e-12)
        let c = try #require(r.heldout.pickedVsRandomBest)
        #expect(!c.aWins && c.difference > 0 && c.standardError == 0)   // paired: the spread cancels
        #expect(lines.contains { $0.contains("the pick does NOT beat the best random subnet") })
        #expect(net.configuration == pick.configuration)
    }

    /// Held-out equal to selection: the pick wins or ties, so the verdict above is not hard-wired.
    @Test func pickBeatsRandomBestWhenHeldoutAgrees() throws {
        let (net, _) = try tinySupernet(unit: .linear)
        let rec = RecordingScorer()
        var lines: [String] = []
        let r = try QFASearch.run(net, options: options(budget: 3, coarse: 12, fine: 8),
                                  scorer: rec.scorer(net, heldout: RecordingScorer.selectionValue), log: { lines.append($0) })
        #expect(r.heldout.pickedVsRandomBest?.aWins == true)
        #expect(lines.contains { $0.contains("the pick BEATS the best random subnet") })
    }

    @Test func fineStageExhaustionIsLogged() throws {
        let (net, _) = try tinySupernet()   // 4 block units at 2.5: pinning leaves one subnet, already drawn
        let rec = RecordingScorer()
        var lines: [String] = []
        let r = try QFASearch.run(net, options: options(budget: 2.5, coarse: 6, fine: 4),
                                  scorer: rec.scorer(net, heldout: RecordingScorer.selectionValue), log: { lines.append($0) })
        let fine = r.distinct("fine")
        #expect(fine < 4)
        #expect(lines.contains { $0.contains("qfa search fine: ran out of new subnets: \(fine) distinct of 4 asked after 80 draws") })
        #expect(!lines.contains { $0.contains("qfa search coarse: ran out") })
        #expect(Set(r.evaluated.map(\.configuration)).count == r.evaluated.count)
    }

    /// Hand-derived: k = (floor(B L) - lower L) / (upper - lower) units at upper, unit i up when
    /// floor((i+1)k/L) > floor(ik/L).
    @Test func uniformSubnetFollowsTheRule() throws {
        let w = [2, 3, 4]
        #expect(try QFAHeldout.uniformSubnet(widths: w, units: 30, budget: 2.5) == (0..<30).map { $0 % 2 == 1 ? 3 : 2 })
        #expect(try QFAHeldout.uniformSubnet(widths: w, units: 30, budget: 3) == Array(repeating: 3, count: 30))
        #expect(try QFAHeldout.uniformSubnet(widths: w, units: 4, budget: 3.5) == [3, 4, 3, 4])
        #expect(try QFAHeldout.uniformSubnet(widths: w, units: 10, budget: 2.2) == [2, 2, 2, 2, 3, 2, 2, 2, 2, 3])
        #expect(try QFAHeldout.uniformSubnet(widths: w, units: 7, budget: 2.9) == [2, 3, 3, 3, 3, 3, 3])  // cap 20: k = 6
        #expect(try QFAHeldout.uniformSubnet(widths: [2, 4], units: 4, budget: 3) == [2, 4, 2, 4])
        #expect(try QFAHeldout.uniformSubnet(widths: w, units: 5, budget: 8) == Array(repeating: 4, count: 5))
        #expect(throws: TrainingError.self) { try QFAHeldout.uniformSubnet(widths: w, units: 5, budget: 1.5) }
        for b in stride(from: 2.0, through: 4.0, by: 0.05) {
            let c = try QFAHeldout.uniformSubnet(widths: w, units: 30, budget: b)
            #expect(meanWidth(c) <= b + 1e-9 && meanWidth(c) > b - 1.0 / 30 - 1e-9, "budget \(b): \(meanWidth(c))")
        }
    }

    @Test func selectionAndHeldoutWindowsShareNoToken() throws {
        let tokens = (0..<2000).map(Int32.init)   // every position its own token
        let (sel, held) = try QFAEvalWindows.split(tokens: tokens, seqlen: 16, selection: 5, heldout: 6, seed: 3)
        #expect(sel.count == 5 && held.count == 6 && (sel + held).allSatisfy { $0.count == 16 })
        let a = Set(sel.flatMap { $0 }), b = Set(held.flatMap { $0 })
        #expect(a.isDisjoint(with: b) && a.count == 80 && b.count == 96)
        #expect((a.union(b)).allSatisfy { $0 >= 1800 })   // the last 10%, which training never reads
        let again = try QFAEvalWindows.split(tokens: tokens, seqlen: 16, selection: 5, heldout: 6, seed: 3)
        let other = try QFAEvalWindows.split(tokens: tokens, seqlen: 16, selection: 5, heldout: 6, seed: 4)
        #expect(again.selection == sel && again.heldout == held && other.selection != sel)
        // 200 tokens hold 12 windows of 16
        #expect(throws: TrainingError.self) { try QFAEvalWindows.split(tokens: tokens, seqlen: 16, selection: 6, heldout: 7, seed: 3) }
    }
}
