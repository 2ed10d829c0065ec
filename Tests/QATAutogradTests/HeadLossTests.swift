// The fused, vocabulary-chunked LM head + loss (Var.headCrossEntropy / headDistillation) against
// the unfused reference (Var.matmul to (N, V) logits, then Var.crossEntropy / Var.distillation):
// equal loss (relative 1e-6) and gradients dh, dW (absolute 1e-6 plus relative 1e-5), with V not a
// multiple of the chunk, a chunk of 1 and a chunk wider than V; and finite differences.
import Testing
@testable import QATAutograd
import QATTensor

/// Loss and the gradients of every input of `f`, on fresh leaves holding `values`.
private func lossAndGrads(_ values: [Tensor], _ f: ([Var]) throws -> Var) throws -> (Float, [[Float]]) {
    let vars = values.map { Var($0.copy(), requiresGrad: true) }
    let y = try f(vars)
    try y.backward()
    return (y.value.scalar, vars.map { ($0.grad ?? Tensor(zeros: $0.shape)).toArray() })
}

private func expectClose(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    var worst = 0.0
    for (x, y) in zip(a, b) { worst = max(worst, abs(Double(x) - Double(y)) / (1e-6 + 1e-5 * abs(Double(y)))) }
    #expect(worst <= 1, "\(what): worst |fused - reference| / (1e-6 + 1e-5 |reference|) = \(worst)", sourceLocation: sourceLocation)
}

@Suite struct HeadLossTests {
    // rows, hidden, vocab: 37 = 4 chunks of 10 minus 3, so the last chunk is partial
    static let n = 7, c = 5, v = 37

    @Test(arguments: [10, 1, 64])
    func crossEntropyMatchesUnfused(chunk: Int) throws {
        let h = try Tensor.randn([Self.n, Self.c], seed: 11, std: 2), w = try Tensor.randn([Self.v, Self.c], seed: 12)
        let targets: [Int32] = [3, 36, -1, 0, 19, 9, 10]   // chunk edges, the last column, an ignored row
        let fused = try lossAndGrads([h, w]) { try Var.headCrossEntropy($0[0], weight: $0[1], targets: targets, chunk: chunk) }
        let ref = try lossAndGrads([h, w]) { try Var.crossEntropy(Var.matmul($0[0], $0[1], transB: true), targets: targets) }
        #expect(abs(fused.0 - ref.0) <= 1e-6 * abs(ref.0), "loss \(fused.0) vs \(ref.0)")
        expectClose(fused.1[0], ref.1[0], "dh"); expectClose(fused.1[1], ref.1[1], "dW")
    }

    @Test(arguments: [(10, Float(1)), (1, 2), (64, 0.7)])
    func distillationMatchesUnfused(chunk: Int, temperature: Float) throws {
        let h = try Tensor.randn([Self.n, Self.c], seed: 21, std: 2), w = try Tensor.randn([Self.v, Self.c], seed: 22)
        // the teacher has its own hidden size (6): only the vocabulary must match
        let ht = try Tensor.randn([Self.n, 6], seed: 23, std: 2), wt = try Tensor.randn([Self.v, 6], seed: 24)
        let teacherLogits = try Tensor.matmul(ht, wt, transB: true)
        let fused = try lossAndGrads([h, w]) {
            try Var.headDistillation($0[0], weight: $0[1], teacherHidden: ht, teacherWeight: wt, temperature: temperature, chunk: chunk)
        }
        let ref = try lossAndGrads([h, w]) {
            try Var.distillation(Var.matmul($0[0], $0[1], transB: true), teacher: teacherLogits, temperature: temperature)
        }
        #expect(abs(fused.0 - ref.0) <= 1e-6 * abs(ref.0) + 1e-7, "loss \(fused.0) vs \(ref.0)")
        expectClose(fused.1[0], ref.1[0], "dh"); expectClose(fused.1[1], ref.1[1], "dW")
    }

    @Test func teacherEqualToStudentGivesZero() throws {
        let h = try Tensor.randn([Self.n, Self.c], seed: 31, std: 2), w = try Tensor.randn([Self.v, Self.c], seed: 32)
        let kd = try Var.headDistillation(Var(h), weight: Var(w), teacherHidden: h, teacherWeight: w, temperature: 1, chunk: 10)
        #expect(abs(kd.value.scalar) < 1e-6, "KL of a model to itself is \(kd.value.scalar)")
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let targets: [Int32] = [1, 8, -1, 0, 4, 10]
        try expectGrad([param([6, 4], 41, std: 1), param([11, 4], 42)], eps: 1e-3) {
            try Var.headCrossEntropy($0[0], weight: $0[1], targets: targets, chunk: 3)
        }
        let ht = try Tensor.randn([6, 3], seed: 43), wt = try Tensor.randn([11, 3], seed: 44)
        try expectGrad([param([6, 4], 45, std: 1), param([11, 4], 46)], eps: 1e-3) {
            try Var.headDistillation($0[0], weight: $0[1], teacherHidden: ht, teacherWeight: wt, temperature: 2, chunk: 4)
        }
    }

    /// The logits cache (kept by the forward for the backward) gives the recompute path's bits:
    /// the same sgemm calls made the values.
    @Test(arguments: [10, 1, 64])
    func logitsCacheHasTheRecomputedBits(chunk: Int) throws {
        let h = try Tensor.randn([Self.n, Self.c], seed: 61, std: 2), w = try Tensor.randn([Self.v, Self.c], seed: 62)
        let targets: [Int32] = [3, 36, -1, 0, 19, 9, 10]
        let ce = try [true, false].map { cached in
            try lossAndGrads([h, w]) { try Var.headCrossEntropy($0[0], weight: $0[1], targets: targets, chunk: chunk, cacheLogits: cached) }
        }
        #expect(ce[0].0.bitPattern == ce[1].0.bitPattern && ce[0].1.map { $0.map(\.bitPattern) } == ce[1].1.map { $0.map(\.bitPattern) })
        let ht = try Tensor.randn([Self.n, 6], seed: 63, std: 2), wt = try Tensor.randn([Self.v, 6], seed: 64)
        let kd = try [true, false].map { cached in
            try lossAndGrads([h, w]) {
                try Var.headDistillation($0[0], weight: $0[1], teacherHidden: ht, teacherWeight: wt, temperature: 1.5, chunk: chunk, cacheLogits: cached)
            }
        }
        #expect(kd[0].0.bitPattern == kd[1].0.bitPattern && kd[0].1.map { $0.map(\.bitPattern) } == kd[1].1.map { $0.map(\.bitPattern) })
        // both paths are exercised: these logits fit the cache
        #expect(try ChunkedHeadShape(hidden: [Self.n, Self.c], weight: [Self.v, Self.c], chunk: chunk, op: "t").cacheFloats(copies: 2) == Self.n * Self.v)
    }

    /// Under `set precision=bf16` the fused head runs its matmuls in bf16 (inputs rounded, fp32
    /// accumulation), backward included; a CPU without AVX512-BF16 gives the fp32 bits.
    @Test func headFollowsTheMatmulPrecision() throws {
        let h = try Tensor.randn([Self.n, Self.c], seed: 71, std: 2), w = try Tensor.randn([Self.v, Self.c], seed: 72)
        let targets: [Int32] = [3, 36, -1, 0, 19, 9, 10]
        func run(_ p: MatmulPrecision, forceOff: Bool = false) throws -> (Float, [[Float]]) {
            try CPUFeatures.$forceNoBF16.withValue(forceOff) {
                try MatmulPrecision.$current.withValue(p) {
                    try lossAndGrads([h, w]) { try Var.headCrossEntropy($0[0], weight: $0[1], targets: targets, chunk: 10) }
                }
            }
        }
        let fp32 = try run(.fp32), forced = try run(.bf16, forceOff: true)
        #expect(fp32.0.bitPattern == forced.0.bitPattern && fp32.1.map { $0.map(\.bitPattern) } == forced.1.map { $0.map(\.bitPattern) })
        guard CPUFeatures.bf16Available else { return }
        let bf16 = try run(.bf16)
        // bf16 inputs (8 significant bits) move the loss and gradients, but only by bf16's rounding
        #expect(bf16.0 != fp32.0 && abs(bf16.0 - fp32.0) <= 0.02 * abs(fp32.0), "loss bf16 \(bf16.0) vs fp32 \(fp32.0)")
        for (a, b) in zip(bf16.1, fp32.1) {
            let scale = b.map { abs($0) }.max() ?? 1
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 0.05 * scale })
        }
    }

    @Test func badOperandsAreClearErrors() throws {
        let h = Var(try Tensor.randn([3, 4], seed: 51)), w = Var(try Tensor.randn([9, 4], seed: 52))
        #expect(throws: TensorError.self) { try Var.headCrossEntropy(h, weight: Var(Tensor(zeros: [9, 5])), targets: [0, 1, 2]) }
        #expect(throws: TensorError.self) { try Var.headCrossEntropy(h, weight: w, targets: [0, 9, 2]) }
        #expect(throws: TensorError.self) { try Var.headCrossEntropy(h, weight: w, targets: [0, 1, 2], chunk: 0) }
        #expect(throws: TensorError.self) {
            try Var.headDistillation(h, weight: w, teacherHidden: Tensor(zeros: [3, 4]), teacherWeight: Tensor(zeros: [8, 4]), temperature: 1)
        }
    }
}
