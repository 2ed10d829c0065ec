// Fast kernels against their plain reference versions.
import Testing
@testable import QATTensor

// Budgets: Float32 kernels vs Double references.
let matmulBudget: Float = 1e-4
let softmaxBudget: Float = 1e-6
let normBudget: Float = 1e-5
let attentionBudget: Float = 1e-5

@Suite struct MatmulTests {
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func sgemmMatchesReference(ta: Bool, tb: Bool) throws {
        let m = 37, n = 29, k = 53
        let a = randn(ta ? [k, m] : [m, k], 1), b = randn(tb ? [n, k] : [k, n], 2)
        let c = try Tensor.matmul(a, b, transA: ta, transB: tb)
        #expect(c.shape == [m, n])
        let ref = Tensor(zeros: [m, n])
        sgemmReference(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: ta ? m : k, b: b.data, ldb: tb ? k : n,
                       c: ref.data, ldc: n)
        #expect(maxRelError(c.data, ref.data, m * n) < matmulBudget)
    }

    @Test func batchedAndSharedWeights() throws {
        let a = randn([3, 5, 7], 3), w = randn([4, 7], 4), bb = randn([3, 7, 6], 5)
        let shared = try Tensor.matmul(a, w, transB: true)       // (3,5,4): a linear layer
        let batched = try Tensor.matmul(a, bb)                  // (3,5,6)
        #expect(shared.shape == [3, 5, 4] && batched.shape == [3, 5, 6])
        for i in 0..<3 {
            let ref = Tensor(zeros: [5, 4]), ref2 = Tensor(zeros: [5, 6])
            sgemmReference(transA: false, transB: true, m: 5, n: 4, k: 7, a: a.data + i * 35, lda: 7, b: w.data, ldb: 7, c: ref.data, ldc: 4)
            sgemmReference(transA: false, transB: false, m: 5, n: 6, k: 7, a: a.data + i * 35, lda: 7, b: bb.data + i * 42, ldb: 6, c: ref2.data, ldc: 6)
            #expect(maxRelError(shared.data + i * 20, ref.data, 20) < matmulBudget)
            #expect(maxRelError(batched.data + i * 30, ref2.data, 30) < matmulBudget)
        }
    }

    @Test func mismatchNamesBothShapes() {
        #expect(throws: TensorError.self) { try Tensor.matmul(randn([2, 3], 1), randn([4, 5], 2)) }
        do { _ = try Tensor.matmul(randn([2, 3], 1), randn([4, 5], 2)); Issue.record("no error") } catch {
            let text = "\(error)"
            #expect(text.contains("[2, 3]") && text.contains("[4, 5]"))
        }
    }
}

@Suite struct NNKernelTests {
    @Test func fastExpMatchesLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let r = qexp(x)
            worst = max(worst, abs(fastExp(x) - r) / r)
            x += 0.01237
        }
        #expect(worst < 2e-7)
        #expect(fastExp(-100) == 0 && fastExp(100) == .infinity)
        // a diverging run feeds it NaN and infinities: expf's answers, never a trap
        #expect(fastExp(.nan).isNaN && fastExp(.infinity) == .infinity && fastExp(-.infinity) == 0)
        #expect(fastSigmoid(.nan).isNaN)
    }

    @Test func softmaxMatchesReference() throws {
        let x = randn([13, 77], 11, std: 4)
        let y = try x.softmax(), ref = Tensor(zeros: x.shape)
        softmaxReference(x.data, ref.data, rows: 13, n: 77)
        #expect(y.maxAbsDifference(ref) < softmaxBudget)
        let ls = try x.logSoftmax()
        for i in 0..<x.count { #expect(abs(qexp(ls.data[i]) - ref.data[i]) < 1e-6) }
    }

    @Test func rmsnormMatchesReference() throws {
        let x = randn([9, 64], 12), w = randn([64], 13)
        let y = try x.rmsNorm(weight: w, eps: 1e-5), ref = Tensor(zeros: x.shape)
        rmsnormReference(x.data, w.data, eps: 1e-5, ref.data, rows: 9, c: 64)
        #expect(maxRelError(y.data, ref.data, y.count) < normBudget)
        #expect(throws: TensorError.self) { try x.rmsNorm(weight: randn([63], 1), eps: 1e-5) }
    }

    @Test func rmsnormGainGradientIsTheSameOnAnyThreadCount() throws {
        // 1,000 x 64 is above the parallel threshold; a per-thread split of the row sum gave
        // different bits at 1 and 3 threads, so Block-AP results depended on QAT_THREADS.
        let rows = 1000, c = 64
        let x = randn([rows, c], 21), w = randn([c], 22), dy = randn([rows, c], 23)
        let rstd = Tensor(zeros: [rows]), y = Tensor(zeros: [rows, c])
        rmsnormForward(x.data, w.data, eps: 1e-5, y.data, rstd.data, rows: rows, c: c)
        func gainGradient(threads: Int) -> [Float] {
            let dw = Tensor(zeros: [c])
            Threads.set(threads)
            rmsnormBackward(x.data, w.data, rstd.data, dy.data, dx: nil, dw: dw.data, rows: rows, c: c)
            return Array(UnsafeBufferPointer(start: dw.data, count: c))
        }
        let before = Threads.count
        defer { Threads.set(before) }
        let one = gainGradient(threads: 1), three = gainGradient(threads: 3), eight = gainGradient(threads: 8)
        let differing = (0..<c).filter { one[$0] != three[$0] || one[$0] != eight[$0] }.count
        #expect(differing == 0, "\(differing) of \(c) gain-gradient entries differ between 1, 3 and 8 threads")
        for j in 0..<c {   // and the sum is right: sum_rows dy * x * rstd in Double
            var s = 0.0
            for r in 0..<rows { s += Double(dy.data[r * c + j]) * Double(x.data[r * c + j]) * Double(rstd.data[r]) }
            #expect(abs(Double(one[j]) - s) <= 1e-4 * max(1, abs(s)))
        }
    }

    @Test(arguments: RopeLayout.allCases)
    func ropeMatchesReference(layout: RopeLayout) throws {
        let x = randn([2, 11, 3, 16], 14)
        let y = try x.rope(theta: 10000, layout: layout), ref = Tensor(zeros: x.shape)
        ropeReference(x.data, ref.data, b: 2, t: 11, h: 3, d: 16, theta: 10000, layout: layout)
        #expect(y.maxAbsDifference(ref) < 1e-5)
        // position 0 is the identity
        #expect(maxRelError(y.data, x.data, 48) < 1e-7)
    }

    @Test func ropeLayoutsAgreeUnderThePairPermutation() throws {
        // interleaved on dims (0,1,2,3,...) equals halfRotate on dims reordered (0,2,4,...,1,3,5,...)
        let d = 8
        let x = randn([1, 5, 2, d], 15)
        let perm = (0..<d / 2).map { 2 * $0 } + (0..<d / 2).map { 2 * $0 + 1 }
        let xh = Tensor(zeros: x.shape)
        for row in 0..<10 { for i in 0..<d { xh.data[row * d + i] = x.data[row * d + perm[i]] } }
        let yi = try x.rope(theta: 500, layout: .interleaved), yh = try xh.rope(theta: 500, layout: .halfRotate)
        for row in 0..<10 { for i in 0..<d { #expect(abs(yh.data[row * d + i] - yi.data[row * d + perm[i]]) < 1e-6) } }
    }

    @Test(arguments: [(4, 4), (6, 2), (6, 1)])
    func attentionMatchesReference(hq: Int, hkv: Int) throws {
        let s = AttentionShape(b: 2, t: 9, hq: hq, hkv: hkv, d: 8)
        let q = randn([2, 9, hq, 8], 16), k = randn([2, 9, hkv, 8], 17), v = randn([2, 9, hkv, 8], 18)
        let y = try Tensor.causalAttention(q: q, k: k, v: v), ref = Tensor(zeros: q.shape)
        attentionReference(s, q: q.data, k: k.data, v: v.data, out: ref.data)
        #expect(y.maxAbsDifference(ref) < attentionBudget)
        // causality: changing the last token's k/v leaves every earlier output unchanged
        k.data[(1 * 9 + 8) * hkv * 8] += 3; v.data[(1 * 9 + 8) * hkv * 8] -= 2
        let y2 = try Tensor.causalAttention(q: q, k: k, v: v)
        for i in 0..<(9 + 8) * hq * 8 { #expect(y2.data[i] == y.data[i]) }
    }

    @Test func attentionShapeErrors() {
        #expect(throws: TensorError.self) { try Tensor.causalAttention(q: randn([1, 4, 3, 8], 1), k: randn([1, 4, 2, 8], 2), v: randn([1, 4, 2, 8], 3)) }
        #expect(throws: TensorError.self) { try Tensor.causalAttention(q: randn([1, 4, 2, 8], 1), k: randn([1, 5, 2, 8], 2), v: randn([1, 5, 2, 8], 3)) }
    }

    @Test func crossEntropyMatchesLogSoftmax() throws {
        let x = randn([5, 11], 19, std: 3)
        let targets: [Int32] = [3, -1, 0, 10, 7]
        let lse = Tensor(zeros: [5])
        let (loss, kept) = targets.withUnsafeBufferPointer { crossEntropyForward(x.data, targets: $0.baseAddress!, rows: 5, v: 11, lse: lse.data) }
        let ls = try x.logSoftmax()
        var expect = 0.0
        for (r, t) in targets.enumerated() where t >= 0 { expect -= Double(ls.data[r * 11 + Int(t)]) }
        #expect(kept == 4)
        #expect(abs(loss - expect / 4) < 1e-5)
        #expect(throws: TensorError.self) { try validateTargets([0, 11, 0, 0, 0], rows: 5, v: 11) }
    }
}
