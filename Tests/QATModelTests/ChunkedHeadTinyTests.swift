// The fused, vocabulary-chunked head + loss on the embedded tiny model (vocabulary 258, chunks of
// 100, so the last is partial) against the unfused path: the model's logits, then cross-entropy;
// and windowNLL (perplexity) against the log-sum-exp of the full logits, computed here in Double.
import Foundation
import Testing
import QATAutograd
import QATModel
import QATTensor

@Suite struct ChunkedHeadTinyTests {
    @Test func crossEntropyAndGradientsMatchUnfused() throws {
        let m = try ModelLoader.load("tiny").model
        let tokens: [Int32] = (0..<33).map { Int32(($0 * 37 + 5) % m.vocabSize) }
        let inputs = Array(tokens.dropLast()), targets = Array(tokens.dropFirst())
        let hidden = try noGrad { try m.features(inputs, batch: 1, seq: inputs.count) }.value
        func run(_ f: (Var, Var) throws -> Var) throws -> (Float, [Float], [Float]) {
            let h = Var(hidden.copy(), requiresGrad: true), w = Var(m.headWeight.value.copy(), requiresGrad: true)
            let y = try f(h, w)
            try y.backward()
            return (y.value.scalar, (h.grad ?? Tensor(zeros: h.shape)).toArray(), (w.grad ?? Tensor(zeros: w.shape)).toArray())
        }
        let fused = try run { try Var.headCrossEntropy($0, weight: $1, targets: targets, chunk: 100) }
        let ref = try run { try Var.crossEntropy(Var.matmul($0, $1, transB: true), targets: targets) }
        #expect(m.vocabSize % 100 != 0)
        #expect(abs(fused.0 - ref.0) <= 1e-6 * abs(ref.0), "loss \(fused.0) vs \(ref.0)")
        #expect(worstRatio(fused.1, ref.1) <= 1, "dh: worst ratio \(worstRatio(fused.1, ref.1))")
        #expect(worstRatio(fused.2, ref.2) <= 1, "dW: worst ratio \(worstRatio(fused.2, ref.2))")
        // the model's own entry point (default chunk) gives the same loss
        let viaModel = try noGrad { try m.crossEntropy(inputs, targets: targets, batch: 1, seq: inputs.count) }.value.scalar
        #expect(abs(viaModel - ref.0) <= 1e-6 * abs(ref.0))
    }

    @Test func windowNLLMatchesFullLogits() throws {
        let m = try ModelLoader.load("tiny").model
        let tokens: [Int32] = (0..<40).map { Int32(($0 * 91 + 3) % m.vocabSize) }
        let logits = try m.logits(tokens).toArray(), v = m.vocabSize
        var expected = 0.0
        for i in 0..<(tokens.count - 1) {
            let row: [Double] = logits[(i * v)..<((i + 1) * v)].map { Double($0) }
            let top: Double = row.max() ?? 0
            var sum = 0.0
            for x in row { sum += exp(x - top) }
            expected += top + log(sum) - row[Int(tokens[i + 1])]
        }
        let got = try m.windowNLL(tokens)
        #expect(abs(got - expected) <= 1e-6 * abs(expected), "windowNLL \(got) vs \(expected)")
    }
}

/// max over elements of |a - b| / (1e-6 + 1e-5 |b|): at most 1 when a matches the reference b.
private func worstRatio(_ a: [Float], _ b: [Float]) -> Double {
    var worst = 0.0
    for (x, y) in zip(a, b) {
        let diff: Double = abs(Double(x) - Double(y)), bound: Double = 1e-6 + 1e-5 * abs(Double(y))
        worst = max(worst, diff / bound)
    }
    return a.count == b.count ? worst : .infinity
}
