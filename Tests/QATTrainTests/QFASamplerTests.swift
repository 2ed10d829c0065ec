// LLM-QFA's resource-balanced sampler: the probabilities hit the triangle wave's target mean, a
// balanced period covers the whole average-bit range, and uniform sampling has the CLT spread
// sqrt(var/L) the paper criticises.
import Testing
@testable import QATTrain
import QATTensor

@Suite struct QFASamplerTests {
    @Test func triangleWaveRunsBetweenTheExtremeWidths() throws {
        let high = try QFASampler(widths: [4, 2, 3], units: 4, period: 100, startHigh: true)
        #expect(high.widths == [2, 3, 4])
        #expect(high.targetMean(step: 0) == 4)
        #expect(high.targetMean(step: 50) == 2)
        #expect(high.targetMean(step: 25) == 3)
        #expect(high.targetMean(step: 100) == 4)
        let low = try QFASampler(widths: [2, 3, 4], units: 4, period: 100, startHigh: false)
        #expect(low.targetMean(step: 0) == 2 && low.targetMean(step: 50) == 4)
    }

    @Test(arguments: [QFASamplerKind.balanced, .gaussian])
    func probabilitiesSumToOneAndHitTheTargetMean(kind: QFASamplerKind) throws {
        for widths in [[2, 3, 4], [2, 4], [2, 3, 4, 8]] {
            let s = try QFASampler(widths: widths, units: 30, kind: kind, period: 1000)
            for t in 0..<1000 {
                let p = s.probabilities(step: t)
                #expect(abs(p.reduce(0, +) - 1) < 1e-12)
                #expect(p.allSatisfy { $0 >= 0 })
                let mean = zip(p, s.widths).reduce(0.0) { $0 + $1.0 * Double($1.1) }
                #expect(abs(mean - s.targetMean(step: t)) < 1e-6, "t=\(t) widths=\(widths) mean \(mean) target \(s.targetMean(step: t))")
            }
        }
    }

    @Test func tiltIsOneHotAtTheEndsAndUniformInTheMiddle() {
        #expect(QFASampler.tilt(widths: [2, 3, 4], mean: 2) == [1, 0, 0])
        #expect(QFASampler.tilt(widths: [2, 3, 4], mean: 4) == [0, 0, 1])
        let mid = QFASampler.tilt(widths: [2, 3, 4], mean: 3)
        #expect(mid.allSatisfy { abs($0 - 1.0 / 3) < 1e-9 })
    }

    @Test func balancedPeriodCoversTheRangeUniformConcentrates() throws {
        let units = 30
        let balanced = try QFASampler(widths: [2, 3, 4], units: units, kind: .balanced, period: 1000, seed: 1).preview()
        let h = balanced.histogram(bins: 8, lo: 2, hi: 4)
        #expect(h.allSatisfy { $0 > 0 }, "balanced histogram \(h) leaves a bin of [2, 4] empty")
        #expect((balanced.averages.min() ?? 9) <= 2.0 + 1e-9 && (balanced.averages.max() ?? 0) >= 4.0 - 1e-9)

        let uniform = try QFASampler(widths: [2, 3, 4], units: units, kind: .uniform, period: 1000, seed: 1).preview()
        let expected = (2.0 / 3.0 / Double(units)).squareRoot()
        #expect(abs(uniform.std - expected) / expected < 0.10, "uniform std \(uniform.std), CLT \(expected)")
        #expect(abs(uniform.mean - 3) < 0.05)
        #expect(balanced.std > 3 * uniform.std)
    }

    @Test func configurationsDependOnlyOnSeedAndStep() throws {
        let s = try QFASampler(widths: [2, 3, 4], units: 12, kind: .uniform, period: 10, seed: 5)
        #expect(s.configuration(step: 7) == s.configuration(step: 7))
        #expect(s.configuration(step: 7) != s.configuration(step: 8))
        #expect(throws: TrainingError.self) { try QFASampler(widths: [], units: 3) }
        #expect(throws: TrainingError.self) { try QFASampler(widths: [2, 3], units: 3, period: 1) }
    }

    @Test func randomSubnetsMeetTheBudgetAndUseIt() throws {
        var rng = SeededRandom(seed: 3)
        for budget in [2.0, 2.5, 3.0, 3.5, 4.0] {
            for _ in 0..<50 {
                let c = try QFASearch.randomSubnet(widths: [2, 3, 4], units: 30, budget: budget, rng: &rng)
                let total = c.reduce(0, +)
                #expect(Double(total) <= budget * 30 + 1e-9)
                #expect(Double(total) > budget * 30 - 1, "budget \(budget): \(total) bits leaves room for another step up")
            }
        }
        let pinned = try QFASearch.randomSubnet(widths: [2, 3, 4], units: 8, budget: 3, pinned: [0: 4, 1: 2], rng: &rng)
        #expect(pinned[0] == 4 && pinned[1] == 2)
        #expect(throws: TrainingError.self) { try QFASearch.randomSubnet(widths: [2, 3, 4], units: 4, budget: 2, pinned: [0: 4], rng: &rng) }
    }
}
