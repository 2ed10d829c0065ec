// Var.matmul at `MatmulPrecision.current = .bf16`: the backward runs at the precision the forward
// was bound to, and a CPU without AVX512-BF16 (forced) gives the fp32 bits exactly.
import Testing
import QATAutograd
import QATTensor

private func run(_ precision: MatmulPrecision, forceOff: Bool = false) throws -> (y: Tensor, dx: Tensor, dw: Tensor) {
    let x = param([2, 9, 40], 60), w = param([13, 40], 61)
    let y = try CPUFeatures.$forceNoBF16.withValue(forceOff) {
        try MatmulPrecision.$current.withValue(precision) { try Var.linear(x, weight: w) }
    }
    try y.sum().backward()          // outside the binding: must still use the forward's precision
    return (y.value, x.grad ?? Tensor(zeros: [0]), w.grad ?? Tensor(zeros: [0]))
}

private func sameBits(_ a: Tensor, _ b: Tensor) -> Bool {
    a.count == b.count && (0..<a.count).allSatisfy { a.data[$0].bitPattern == b.data[$0].bitPattern }
}

@Suite struct BF16GradTests {
    @Test func forcedFallbackGivesFP32Bits() throws {
        let fp32 = try run(.fp32), forced = try run(.bf16, forceOff: true)
        #expect(sameBits(fp32.y, forced.y) && sameBits(fp32.dx, forced.dx) && sameBits(fp32.dw, forced.dw))
    }

    @Test(.enabled(if: CPUFeatures.bf16Available, "needs AVX512-BF16"))
    func backwardKeepsTheForwardPrecision() throws {
        let fp32 = try run(.fp32), bf16 = try run(.bf16)
        // dx = ones . W: W is rounded to bf16 in the backward too, so dx differs from fp32's and
        // equals the column sums of the bf16-rounded weight (ones are exact in bf16).
        #expect(!sameBits(fp32.dx, bf16.dx) && !sameBits(fp32.dw, bf16.dw))
        let w = param([13, 40], 61).value
        for col in 0..<40 {
            var s: Float = 0, magnitude: Float = 0
            for row in 0..<13 {
                let r = floatFromBF16(bf16Bits(w.data[row * 40 + col]))
                s += r; magnitude += abs(r)
            }
            #expect(abs(bf16.dx.data[col] - s) <= 2 * 13 * 0x1p-24 * magnitude)
        }
    }
}
