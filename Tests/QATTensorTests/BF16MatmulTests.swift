// bf16 matmuls (BF16Matmul.swift) against a Double reference, forward and backward.
//
// The bound, per output element c = sum_p a_p b_p over K terms, with S = sum_p |a_p||b_p|:
// each input is rounded to bf16 with relative error at most u = 2^-8, so each product is off by
// at most (2u + u^2)|a_p b_p|; fp32 accumulation of K terms adds at most K 2^-24 S. Hence
//   |c_bf16 - c_exact| <= (2u + u^2 + K 2^-24) S.
// That bf16 inputs are really used is checked against the exact product of the bf16-rounded
// inputs, which the result must match to within the fp32 accumulation term K 2^-24 S alone
// (and the fp32 sgemm result must not).
import Testing
@testable import QATTensor

private let bf16Unit = 1.0 / 256   // u = 2^-8

/// Exact (Double) op(A) op(B) and S = sum |a||b| for each output, with `round` applied to inputs.
private func reference(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>,
                       _ b: UnsafePointer<Float>, round: (Float) -> Float = { $0 }) -> (c: [Double], s: [Double]) {
    var c = [Double](repeating: 0, count: m * n), s = c
    for i in 0..<m {
        for j in 0..<n {
            for p in 0..<k {
                let av = Double(round(ta ? a[p * m + i] : a[i * k + p]))
                let bv = Double(round(tb ? b[j * k + p] : b[p * n + j]))
                c[i * n + j] += av * bv
                s[i * n + j] += abs(av * bv)
            }
        }
    }
    return (c, s)
}

private func roundedToBF16(_ x: Float) -> Float { floatFromBF16(bf16Bits(x)) }

@Suite struct BF16ConversionTests {
    // Hand-derived: bf16 keeps 7 significand bits, so near 1 its spacing is 2^-7.
    @Test func roundsToNearestEven() {
        #expect(bf16Bits(1) == 0x3F80)
        #expect(bf16Bits(-2.5) == 0xC020)
        #expect(bf16Bits(1 + 0x1p-8) == 0x3F80)               // halfway between 1 and 1+2^-7: to even (1)
        #expect(bf16Bits(1 + 3 * 0x1p-8) == 0x3F82)           // halfway between 1+2^-7 and 1+2^-6: to even
        #expect(bf16Bits(1 + 0x1p-8 + 0x1p-20) == 0x3F81)     // just above halfway: up
        #expect(bf16Bits(Float.greatestFiniteMagnitude) == 0x7F80)   // beyond the largest bf16 + half a step
        #expect(bf16Bits(.infinity) == 0x7F80 && bf16Bits(-.infinity) == 0xFF80)
        #expect(bf16Bits(Float(bitPattern: 1)) == 0)           // the smallest subnormal rounds to +0
        #expect(floatFromBF16(0x3F81) == 1 + 0x1p-7)
    }

    @Test func nanStaysNaN() {
        // A NaN whose payload is only in the low 16 bits would round to infinity if rounded naively.
        #expect(floatFromBF16(bf16Bits(Float(bitPattern: 0x7F80_0001))).isNaN)
        #expect(floatFromBF16(bf16Bits(-Float.nan)).isNaN)
    }
}

@Suite(.enabled(if: CPUFeatures.bf16Available, "needs AVX512-BF16"))
struct BF16MatmulTests {
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func forwardWithinBF16ErrorOfExact(ta: Bool, tb: Bool) throws {
        let (m, n, k) = (37, 29, 301)
        let a = randn(ta ? [k, m] : [m, k], 41), b = randn(tb ? [n, k] : [k, n], 42)
        let c = try Tensor.matmul(a, b, transA: ta, transB: tb, precision: .bf16)
        let fp32 = try Tensor.matmul(a, b, transA: ta, transB: tb)
        let exact = reference(ta, tb, m, n, k, a.data, b.data)
        let ofRounded = reference(ta, tb, m, n, k, a.data, b.data, round: roundedToBF16)
        let accumulation = Double(k) * 0x1p-24
        var worst = 0.0, fp32MatchesRounded = true
        for i in 0..<(m * n) {
            worst = max(worst, abs(Double(c.data[i]) - exact.c[i]) / exact.s[i])
            #expect(abs(Double(c.data[i]) - ofRounded.c[i]) <= accumulation * ofRounded.s[i])
            fp32MatchesRounded = fp32MatchesRounded && abs(Double(fp32.data[i]) - ofRounded.c[i]) <= accumulation * ofRounded.s[i]
        }
        #expect(worst <= 2 * bf16Unit + bf16Unit * bf16Unit + accumulation)
        #expect(worst > 1e-4)            // an fp32 result would be ~100x closer
        #expect(!fp32MatchesRounded)
    }

    // dA and dB accumulate (beta = 1) onto existing gradients; shared-B batches fold into M.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func backwardWithinBF16ErrorOfExact(ta: Bool, tb: Bool) throws {
        let (batch, m, n, k) = (3, 11, 17, 130)
        let a = randn(ta ? [batch, k, m] : [batch, m, k], 43), b = randn(tb ? [n, k] : [k, n], 44)
        let plan = try MatmulPlan(a.shape, b.shape, transA: ta, transB: tb)
        let dC = randn([batch, m, n], 45), dA0 = randn(a.shape, 46), dB0 = randn(b.shape, 47)
        let dA = dA0.copy(), dB = dB0.copy()
        matmulBackward(plan, a: a.data, b: b.data, dC: dC.data, dA: dA.data, dB: dB.data, precision: .bf16)
        // dB sums over every batch; dA per batch. References with the same rules, in Double.
        var refB = [Double](repeating: 0, count: b.count), sB = refB
        var worst = 0.0
        for i in 0..<batch {
            let ai = a.data + i * m * k, dci = dC.data + i * m * n
            // dA' (M,K) = dC (M,N) B'^T; stored transposed when ta.
            let gA = ta ? reference(tb, true, k, m, n, b.data, dci)         // (K,M) = B' dC^T
                        : reference(false, !tb, m, k, n, dci, b.data)      // (M,K) = dC B'^T
            for e in 0..<(m * k) {
                let got = Double(dA.data[i * m * k + e]) - Double(dA0.data[i * m * k + e])
                worst = max(worst, abs(got - gA.c[e]) / (gA.s[e] + abs(Double(dA0.data[i * m * k + e]))))
            }
            let gB = tb ? reference(true, ta, n, k, m, dci, ai)            // (N,K) = dC^T A'
                        : reference(!ta, false, k, n, m, ai, dci)          // (K,N) = A'^T dC
            for e in 0..<b.count { refB[e] += gB.c[e]; sB[e] += gB.s[e] }
        }
        for e in 0..<b.count {
            let got = Double(dB.data[e]) - Double(dB0.data[e])
            worst = max(worst, abs(got - refB[e]) / (sB[e] + abs(Double(dB0.data[e]))))
        }
        let accumulation = Double(batch * max(m, n, k)) * 0x1p-24
        #expect(worst <= 2 * bf16Unit + bf16Unit * bf16Unit + accumulation)
        #expect(worst > 1e-4)
    }

    // How the output is split over threads must not change a bit (same numbers on any thread count).
    @Test(arguments: [(false, true, 40, 300, 70), (true, false, 300, 40, 70), (false, false, 5, 7, 3)])
    func chunkingDoesNotChangeBits(ta: Bool, tb: Bool, m: Int, n: Int, k: Int) {
        let a = randn(ta ? [k, m] : [m, k], 48), b = randn(tb ? [n, k] : [k, n], 49)
        let one = Tensor(zeros: [m, n]), three = Tensor(zeros: [m, n])
        for (c, chunks) in [(one, 1), (three, 3)] {
            bf16gemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data, ldb: tb ? k : n,
                     c: c.data, ldc: n, chunks: chunks)
        }
        #expect((0..<(m * n)).allSatisfy { one.data[$0].bitPattern == three.data[$0].bitPattern })
    }
}

@Suite struct BF16FallbackTests {
    // Forced off, precision bf16 runs the fp32 path: bit for bit the sgemm result.
    @Test func forcedFallbackIsExactlyFP32() throws {
        let a = randn([2, 19, 64], 50), b = randn([23, 64], 51)
        let fp32 = try Tensor.matmul(a, b, transB: true)
        let forced = try CPUFeatures.$forceNoBF16.withValue(true) {
            try MatmulPrecision.$current.withValue(.bf16) {
                #expect(MatmulPrecision.inForce == .fp32)
                return try Tensor.matmul(a, b, transB: true, precision: MatmulPrecision.inForce)
            }
        }
        #expect((0..<fp32.count).allSatisfy { fp32.data[$0].bitPattern == forced.data[$0].bitPattern })
        if CPUFeatures.hasAVX512BF16 && !CPUFeatures.bf16ForcedOffByEnvironment {
            let bf16 = try MatmulPrecision.$current.withValue(.bf16) {
                try Tensor.matmul(a, b, transB: true, precision: MatmulPrecision.inForce)
            }
            #expect(!(0..<fp32.count).allSatisfy { fp32.data[$0] == bf16.data[$0] })
        }
    }

    @Test func environmentSwitch() {
        #expect(CPUFeatures.forcesNoBF16("1"))
        #expect(!CPUFeatures.forcesNoBF16(nil) && !CPUFeatures.forcesNoBF16("0") && !CPUFeatures.forcesNoBF16(""))
    }
}
