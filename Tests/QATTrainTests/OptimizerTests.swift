// AdamW against torch.optim.AdamW's update written out in Double; the cosine schedule's end points.
import Testing
@testable import QATTrain
import QATAutograd
import QATTensor

@Suite struct OptimizerTests {
    @Test func adamWMatchesTheTorchFormula() throws {
        let p = Var(try Tensor(shape: [3], [0.5, -1, 2]), requiresGrad: true)
        let frozen = Var(try Tensor(shape: [2], [1, 1]), requiresGrad: true)
        let opt = AdamW(groups: [ParameterGroup(name: "w", parameters: [p, frozen], lr: 0.1, weightDecay: 0.01)])
        var ref: [Double] = [0.5, -1, 2], m = [0.0, 0, 0], v = [0.0, 0, 0]
        let grads: [[Float]] = [[0.3, -0.2, 1], [0.1, 0.4, -2], [-0.5, 0.0, 0.25]]
        for (t, g) in grads.enumerated() {
            p.grad = try Tensor(shape: [3], g)
            frozen.grad = nil                      // never gets a gradient: untouched
            opt.step()
            for i in 0..<3 {
                let gi = Double(g[i])
                m[i] = 0.9 * m[i] + 0.1 * gi; v[i] = 0.999 * v[i] + 0.001 * gi * gi
                let mh = m[i] / (1 - qpow(0.9, Double(t + 1))), vh = v[i] / (1 - qpow(0.999, Double(t + 1)))
                ref[i] = ref[i] * (1 - 0.1 * 0.01) - 0.1 * mh / (vh.squareRoot() + 1e-8)
            }
        }
        for i in 0..<3 { #expect(abs(Double(p.value.data[i]) - ref[i]) < 1e-5, "\(i)") }
        #expect(frozen.value.toArray() == [1, 1])
        #expect(opt.state[ObjectIdentifier(frozen)] == nil)
    }

    @Test func cosineScheduleEndPoints() {
        #expect(cosineLR(base: 1e-4, step: 0, total: 100) == 1e-4)
        #expect(abs(cosineLR(base: 1e-4, step: 99, total: 100) - 5e-6) < 1e-12)
        let mid = cosineLR(base: 1e-4, step: 50, total: 101)
        #expect(abs(mid - (5e-6 + (1e-4 - 5e-6) / 2)) < 1e-9)
    }

    @Test func clippingScalesToTheNorm() throws {
        let p = Var(try Tensor(shape: [2], [0, 0]), requiresGrad: true)
        p.grad = try Tensor(shape: [2], [3, 4])
        let opt = AdamW(groups: [ParameterGroup(name: "w", parameters: [p], lr: 0.1)])
        #expect(opt.clipGradients(maxNorm: 1) == 5)
        let g = try #require(p.grad)
        #expect(abs(g.data[0] - 0.6) < 1e-5 && abs(g.data[1] - 0.8) < 1e-5)
    }

    @Test func aFewStepsLowerTheLoss() throws {
        var recipe = TinyRecipe()
        recipe.steps = 1
        let model = try recipe.initialModel()
        let params = model.parameters.map(\.1)
        for p in params { p.requiresGrad = true }
        let opt = AdamW(groups: [ParameterGroup(name: "all", parameters: params, lr: 3e-3)])
        let tokens: [Int32] = (0..<64).map { Int32(($0 * 7) % 50) }
        var losses: [Float] = []
        for _ in 0..<8 {
            let loss = try Var.crossEntropy(model.forward(Array(tokens.dropLast()), batch: 1, seq: 63), targets: Array(tokens.dropFirst()))
            losses.append(loss.value.scalar)
            opt.zeroGrad(); try loss.backward(); opt.step()
        }
        #expect((losses.last ?? 0) < (losses.first ?? 0) - 0.5, "\(losses)")
    }
}
