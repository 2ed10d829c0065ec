// GPTQ: the Cholesky factor against a direct solve, the blocked Float implementation against a
// plain column-by-column Double reference (the OBS form with explicit inverse updates, which the
// Cholesky form is algebraically equal to), identity Hessian = RTN, act-order g_idx, dead
// inputs, calibration windows and captures; and the acceptance check on SmolLM2's real weights:
// GPTQ's per-layer output error below RTN's at w3g128 and w2g64 on every linear of blocks 0-2.
import Foundation
import Testing
@testable import QATModel
@testable import QATQuant
import QATAutograd
import QATIO
import QATTensor
import QATTokenizer

// MARK: shared helpers (also used by AWQTests)

/// SmolLM2 (CI installs it with setup.sh); a missing file fails with the loader's hint.
func ptqLoadSmolLM2() throws -> LoadedModel {
    do { return try ModelLoader.load("smollm2") } catch {
        Issue.record("SmolLM2 is required for this test and could not be loaded: \(error). Run `bash setup.sh` first.")
        throw error
    }
}

/// 16 windows of 256 tokens of `fortunes`, seed 0.
func ptqCalibration(_ tokenizer: any TextTokenizer, count: Int = 16, seqlen: Int = 256) throws -> CalibrationSet {
    do { return try CalibrationSet.load(text: "fortunes", tokenizer: tokenizer, count: count, seqlen: seqlen, seed: 0) } catch {
        Issue.record("the fortunes text is required: \(error). Run `bash setup.sh` first.")
        throw error
    }
}

/// A small random LLaMA model: hidden 64, 4 heads of 16, ffn 160, vocab 97, embeddings with a
/// few loud channels (as real models have) so that activation-aware scaling has work to do.
func ptqTinyModel(kvHeads: Int, layers: Int = 2, seed: UInt64) throws -> LlamaModel {
    let shape = BlockShape(hidden: 64, heads: 4, kvHeads: kvHeads, headDim: 16, ffn: 160, rmsEps: 1e-5, ropeTheta: 10000, ropeLayout: .halfRotate)
    let config = ModelConfig(vocabSize: 97, hiddenSize: 64, intermediateSize: 160, layerCount: layers, headCount: 4, kvHeadCount: kvHeads,
                             headDim: 16, ropeTheta: 10000, rmsNormEps: 1e-5, maxPositions: 512, tieWordEmbeddings: true)
    let blocks = try (0..<layers).map { try DecoderBlock.random(shape: shape, seed: seed &+ UInt64($0) * 1000) }
    let emb = try Tensor.randn([97, 64], seed: seed &+ 7)
    for r in 0..<97 { for c in [3, 17, 40] { emb.data[r * 64 + c] *= 8 } }
    return try LlamaModel(config: config, ropeLayout: .halfRotate, embedding: emb, blocks: blocks,
                          finalNorm: try Tensor.ones([64]), lmHead: nil, source: "tiny-random")
}

func ptqRandomCalibration(vocab: Int, count: Int, seqlen: Int, seed: UInt64) throws -> CalibrationSet {
    var rng = SeededRandom(seed: seed)
    return try CalibrationSet(windows: (0..<count).map { _ in (0..<seqlen).map { _ in Int32(rng.next() % UInt64(vocab)) } })
}

/// Rows of every micro-batch as one (N, features) tensor.
func ptqFlatten(_ xs: [Tensor]) throws -> Tensor {
    guard let c = xs.first?.shape.last else { return Tensor(uninitialized: [0, 0]) }
    let n = xs.reduce(0) { $0 + $1.count / c }
    let out = Tensor(uninitialized: [n, c])
    var off = 0
    for x in xs { (out.data + off).update(from: x.data, count: x.count); off += x.count }
    return out
}

/// sum over tokens and outputs of (X W^T - X W-hat^T)^2.
func ptqOutputError(_ x: Tensor, _ w: Tensor, _ wq: Tensor) throws -> Double {
    let a = try Tensor.matmul(x, w, transB: true), b = try Tensor.matmul(x, wq, transB: true)
    var e = 0.0
    for i in 0..<a.count { let d = Double(a.data[i]) - Double(b.data[i]); e += d * d }
    return e
}

/// Independent RTN with GPTQ's quantizer (range forced to include 0), dequantized.
func ptqRTNIncludingZero(_ w: Tensor, spec: QuantSpec) -> Tensor {
    let rows = w.shape[0], cols = w.shape[1], g = spec.groupSize == -1 ? cols : spec.groupSize, qmax = Float(spec.qmax)
    let out = Tensor(uninitialized: [rows, cols])
    for r in 0..<rows {
        for start in stride(from: 0, to: cols, by: g) {
            let cs = start..<min(start + g, cols)
            var lo: Float = 0, hi: Float = 0
            for c in cs { lo = min(lo, w.data[r * cols + c]); hi = max(hi, w.data[r * cols + c]) }
            if lo == 0 && hi == 0 { lo = -1; hi = 1 }
            let s = max((hi - lo) / qmax, 1e-4), z = (-lo / s).rounded(.toNearestOrEven)
            for c in cs { out.data[r * cols + c] = (min(max((w.data[r * cols + c] / s).rounded(.toNearestOrEven) + z, 0), qmax) - z) * s }
        }
    }
    return out
}

/// A well-conditioned SPD Hessian 2/N X^T X from random inputs with correlated channels.
func ptqHessian(cols: Int, tokens: Int, seed: UInt64) throws -> (h: [Double], x: Tensor) {
    let base = try Tensor.randn([tokens, cols], seed: seed)
    let mix = try Tensor.randn([cols, cols], seed: seed &+ 1, std: 0.3)
    for i in 0..<cols { mix.data[i * cols + i] += 1 }
    let x = try Tensor.matmul(base, mix)
    let acc = HessianAccumulator(features: cols)
    try acc.add(x)
    return (acc.hessian, x)
}

// MARK: plain references

/// H^-1 by Gauss-Jordan elimination with partial pivoting.
func ptqInverse(_ h: [Double], n: Int) -> [Double] {
    var a = h, inv = [Double](repeating: 0, count: n * n)
    for i in 0..<n { inv[i * n + i] = 1 }
    for c in 0..<n {
        let p = (c..<n).max { abs(a[$0 * n + c]) < abs(a[$1 * n + c]) } ?? c
        for j in 0..<n { a.swapAt(c * n + j, p * n + j); inv.swapAt(c * n + j, p * n + j) }
        let d = a[c * n + c]
        for j in 0..<n { a[c * n + j] /= d; inv[c * n + j] /= d }
        for r in 0..<n where r != c {
            let f = a[r * n + c]
            if f == 0 { continue }
            for j in 0..<n { a[r * n + j] -= f * a[c * n + j]; inv[r * n + j] -= f * inv[c * n + j] }
        }
    }
    return inv
}

/// Column-by-column GPTQ in Double with explicit inverse downdates (no Cholesky, no blocks),
/// dynamic groups refit on the current columns; returns the dequantized weight.
func ptqReferenceGPTQ(_ weight: Tensor, _ hessian: [Double], spec: QuantSpec, damp: Double, actOrder: Bool) -> [Double] {
    let rows = weight.shape[0], n = weight.shape[1], g = spec.groupSize == -1 ? n : spec.groupSize, qmax = Double(spec.qmax)
    var h = hessian, w = (0..<(rows * n)).map { Double(weight.data[$0]) }
    for i in 0..<n where h[i * n + i] == 0 { h[i * n + i] = 1; for r in 0..<rows { w[r * n + i] = 0 } }
    let order = actOrder ? (0..<n).sorted { h[$0 * n + $0] != h[$1 * n + $1] ? h[$0 * n + $0] > h[$1 * n + $1] : $0 < $1 } : Array(0..<n)
    let mean = (0..<n).reduce(0.0) { $0 + h[$1 * n + $1] } / Double(n)
    for i in 0..<n { h[i * n + i] += damp * mean }
    var hinv = ptqInverse(h, n: n)
    var out = [Double](repeating: 0, count: rows * n)
    var s = [Double](repeating: 1, count: rows), z = [Double](repeating: 0, count: rows)
    for (pos, i) in order.enumerated() {
        let rest = order[(pos + 1)...]
        for r in 0..<rows {
            if pos % g == 0 {
                let cols = order[pos..<min(pos + g, n)]
                var lo = min(cols.map { w[r * n + $0] }.min() ?? 0, 0), hi = max(cols.map { w[r * n + $0] }.max() ?? 0, 0)
                if lo == 0 && hi == 0 { lo = -1; hi = 1 }
                s[r] = Double(max(Float((hi - lo) / qmax), 1e-4)); z[r] = (-lo / s[r]).rounded(.toNearestOrEven)
            }
            let x = w[r * n + i]
            let q = (min(max((x / s[r]).rounded(.toNearestOrEven) + z[r], 0), qmax) - z[r]) * s[r]
            out[r * n + i] = q
            let e = (x - q) / hinv[i * n + i]
            for j in rest { w[r * n + j] -= e * hinv[i * n + j] }
        }
        let d = hinv[i * n + i], row = (0..<n).map { hinv[i * n + $0] }
        for a in rest { for b in rest { hinv[a * n + b] -= hinv[a * n + i] * row[b] / d } }
    }
    return out
}

// MARK: tests

@Suite struct GPTQTests {
    @Test func choleskyFactorOfTheInverseMatchesADirectSolve() throws {
        let n = 40
        var (h, _) = try ptqHessian(cols: n, tokens: 200, seed: 11)
        // exactly symmetric, whatever sgemm's rounding: Gauss-Jordan below reads both triangles
        #expect((0..<n).allSatisfy { i in (0..<n).allSatisfy { h[i * n + $0] == h[$0 * n + i] } })
        // dampened as GPTQ does before factoring (1% of the mean diagonal): without it this H is
        // near singular (its mixing matrix I + 0.3 G may have singular values near 0)
        let damp = 0.01 * (0..<n).map { h[$0 * n + $0] }.reduce(0, +) / Double(n)
        for i in 0..<n { h[i * n + i] += damp }
        let u = try upperCholeskyOfInverse(h, n: n)
        let inv = ptqInverse(h, n: n)
        var worst = 0.0, scale = 0.0
        for i in 0..<n {
            for j in 0..<n {
                if j < i { #expect(u[i * n + j] == 0) }
                var utu = 0.0
                for k in 0..<n { utu += u[k * n + i] * u[k * n + j] }
                worst = max(worst, abs(utu - inv[i * n + j])); scale = max(scale, abs(inv[i * n + j]))
            }
            #expect(u[i * n + i] > 0)
        }
        #expect(worst <= 1e-10 * scale, "U^T U vs H^-1: max difference \(worst), max |H^-1| \(scale)")
        var notPD = [Double](repeating: 0, count: 4); notPD[0] = 1; notPD[3] = -1
        #expect(throws: TensorError.self) { try upperCholeskyOfInverse(notPD, n: 2) }
    }

    @Test func choleskyFactorHasTheSameBitsOnAnyThreadCount() throws {
        // 576 (SmolLM2's width) is large enough for OpenBLAS's threaded dpotrf, whose blocking
        // differs from the single-threaded one: before the fix half of the factor's entries
        // differed between 1 and 2 threads, and GPTQ's w3 perplexity by ~10%.
        let n = 576
        let (h, _) = try ptqHessian(cols: n, tokens: 2 * n, seed: 12)
        let before = Threads.count
        defer { Threads.set(before) }
        Threads.set(1)
        let one = try upperCholeskyOfInverse(h, n: n)
        Threads.set(2)
        let two = try upperCholeskyOfInverse(h, n: n)
        #expect(Threads.blasCount == Threads.blasThreads || Threads.singleThreadedBLASActive, "OpenBLAS's thread count is restored after the factorization (unless another test's single-threaded section runs now)")
        // a count, not `one == two`: the failure message of #expect on two 331,776-entry arrays
        // computes their edit difference, which runs for many minutes
        let differing = zip(one, two).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(n * n) entries of the factor differ between 1 and 2 threads")
    }

    @Test func identityHessianGivesRTN() throws {
        let w = try Tensor.randn([24, 200], seed: 3, std: 0.05)
        var h = [Double](repeating: 0, count: 200 * 200)
        for i in 0..<200 { h[i * 200 + i] = 2.5 }
        for spec in [try QuantSpec(bits: 3, groupSize: 64), try QuantSpec(bits: 2, groupSize: -1), try QuantSpec(bits: 4, groupSize: 128)] {
            for opts in [GPTQOptions(blockSize: 32), GPTQOptions(actOrder: true), GPTQOptions(staticGroups: true)] {
                let q = try gptqQuantize(weight: w, hessian: h, spec: spec, options: opts).quantized.dequantized()
                #expect(q.toArray() == ptqRTNIncludingZero(w, spec: spec).toArray(), "\(spec) \(opts)")
            }
        }
    }

    @Test(arguments: [(false, 16, 24), (false, 128, 64), (true, 32, 40), (false, 20, -1)])
    func blockedFloatGPTQMatchesThePlainReference(actOrder: Bool, blockSize: Int, group: Int) throws {
        let cols = 96, spec = try QuantSpec(bits: 3, groupSize: group)
        let w = try Tensor.randn([20, cols], seed: 5, std: 0.05)
        let (h, x) = try ptqHessian(cols: cols, tokens: 400, seed: 9)
        let got = try gptqQuantize(weight: w, hessian: h, spec: spec, options: GPTQOptions(blockSize: blockSize, actOrder: actOrder)).quantized.dequantized()
        let want = ptqReferenceGPTQ(w, h, spec: spec, damp: 0.01, actOrder: actOrder)
        let same = (0..<want.count).filter { abs(Double(got.data[$0]) - want[$0]) < 1e-5 }.count
        #expect(Double(same) >= 0.99 * Double(want.count), "\(want.count - same) of \(want.count) weights differ")
        let wantT = try Tensor(shape: [20, cols], want.map { Float($0) })
        let eGot = try ptqOutputError(x, w, got), eWant = try ptqOutputError(x, w, wantT)
        #expect(abs(eGot - eWant) <= 0.01 * eWant, "output error \(eGot) vs reference \(eWant)")
        let eRTN = try ptqOutputError(x, w, ptqRTNIncludingZero(w, spec: spec))
        #expect(eGot < eRTN)
    }

    @Test func actOrderSetsGroupIndexByRank() throws {
        let cols = 100, spec = try QuantSpec(bits: 4, groupSize: 32)
        let w = try Tensor.randn([8, cols], seed: 21, std: 0.05)
        var (h, _) = try ptqHessian(cols: cols, tokens: 300, seed: 22)
        for i in 0..<cols { h[i * cols + i] *= 1 + Double((i * 37) % cols) / 10 }   // distinct, shuffled diagonal
        let rank = (0..<cols).sorted { h[$0 * cols + $0] > h[$1 * cols + $1] }
        var expected = [Int32](repeating: 0, count: cols)
        for (p, i) in rank.enumerated() { expected[i] = Int32(p / 32) }
        let qw = try gptqQuantize(weight: w, hessian: h, spec: spec, options: GPTQOptions(actOrder: true)).quantized
        #expect(qw.groupIndex == expected)
        #expect(qw.groupCount == 4)   // 32, 32, 32 and a ragged 4
        // static groups keep g_idx = i / g, with parameters fitted on the original weight
        let st = try gptqQuantize(weight: w, hessian: h, spec: spec, options: GPTQOptions(actOrder: true, staticGroups: true)).quantized
        #expect(st.groupIndex == nil)
        let rtn = try roundToNearest(weight: w, spec: spec, range: .includeZero)
        #expect(st.scales == rtn.scales && st.zeros == rtn.zeros)
        let noAct = try gptqQuantize(weight: w, hessian: h, spec: spec).quantized
        #expect(noAct.groupIndex == nil)
    }

    @Test func deadInputsAreZeroedAndHarmless() throws {
        let cols = 64, spec = try QuantSpec(bits: 3, groupSize: 32)
        let w = try Tensor.randn([16, cols], seed: 31, std: 0.05)
        let x = try Tensor.randn([300, cols], seed: 32)
        let dead = [0, 5, 33, 63]
        for t in 0..<300 { for c in dead { x.data[t * cols + c] = 0 } }
        let acc = HessianAccumulator(features: cols)
        try acc.add(x)
        let q = try gptqQuantize(weight: w, hessian: acc.hessian, spec: spec, options: GPTQOptions(actOrder: true)).quantized.dequantized()
        #expect(q.toArray().allSatisfy { $0.isFinite })
        for r in 0..<16 { for c in dead { #expect(q.data[r * cols + c] == 0) } }
        let eq = try ptqOutputError(x, w, q), er = try ptqOutputError(x, w, ptqRTNIncludingZero(w, spec: spec))
        #expect(eq < er)
    }

    @Test func calibrationWindowsAndCaptures() throws {
        let tokens = (0..<1000).map { Int32($0) }
        let a = try CalibrationSet.sample(tokens: tokens, count: 5, seqlen: 100, seed: 4)
        let b = try CalibrationSet.sample(tokens: tokens, count: 5, seqlen: 100, seed: 4)
        #expect(a.windows == b.windows && a.tokenCount == 500)
        for win in a.windows { #expect(win == Array(tokens[Int(win[0])..<(Int(win[0]) + 100)])) }
        #expect(throws: TensorError.self) { try CalibrationSet.sample(tokens: [1, 2], count: 1, seqlen: 3, seed: 0) }

        let model = try ptqTinyModel(kvHeads: 2, seed: 40)
        let calib = try ptqRandomCalibration(vocab: 97, count: 3, seqlen: 32, seed: 41)
        let x = try Calibration.blockInputs(model: model, calibration: calib)
        let rope = model.ropeTable(positions: 32)
        let acts = try Calibration.activations(block: model.blocks[0], input: x[0], rope: rope)
        let direct = try noGrad { try model.blocks[0].forward(Var(x[0]), rope: rope).value }
        #expect(acts.output.toArray() == direct.toArray())
        #expect(acts.attentionOut.shape == [3, 32, 64] && acts.mlpHidden.shape == [3, 32, 160])
        let down = try Tensor.matmul(acts.mlpHidden, model.blocks[0].down.weight.value, transB: true)
        #expect(try Calibration.activation(at: .mlpIn, block: model.blocks[0], input: x[0], rope: rope).toArray() == acts.mlpIn.toArray())
        #expect(down.shape == [3, 32, 64])
    }

    @Test func tinyModelEveryLayerBeatsRTN() throws {
        let model = try ptqTinyModel(kvHeads: 2, seed: 50)
        let calib = try ptqRandomCalibration(vocab: 97, count: 4, seqlen: 64, seed: 51)
        let spec = try QuantSpec(bits: 3, groupSize: 32)
        let reports = try quantizeGPTQ(model: model, calibration: calib, policy: spec)
        #expect(reports.count == 14)
        for r in reports { #expect(r.outputError < r.rtnError, "blocks.\(r.block).\(r.linear): \(r.outputError) vs RTN \(r.rtnError)") }
        for b in model.blocks { for l in b.linears { #expect(l.quantizer is HardQuantizer) } }
    }

    /// The acceptance check, with every error recomputed here from the re-collected inputs, the
    /// model's own (HardQuantizer) weights and an independent RTN.
    @Test func smolLM2GPTQBeatsRTNOnEveryLinearOfTheFirstThreeBlocks() throws {
        let loaded = try ptqLoadSmolLM2()
        let model = loaded.model
        let calib = try ptqCalibration(loaded.tokenizer)
        let original = model.blocks[0..<3].map { b in b.linears.map { $0.weight.value.toArray() } }
        var table = ["spec  layer                 GPTQ error      RTN error   ratio"]
        for spec in [try QuantSpec(bits: 3, groupSize: 128), try QuantSpec(bits: 2, groupSize: 64)] {
            let start = ContinuousClock.now
            let reports = try quantizeGPTQ(model: model, calibration: calib, policy: spec, options: GPTQOptions(blocks: 0..<3))
            let elapsed = ContinuousClock.now - start
            #expect(reports.count == 21)
            var x = try Calibration.blockInputs(model: model, calibration: calib)
            let rope = model.ropeTable(positions: calib.seqlen)
            for bi in 0..<3 {
                let block = model.blocks[bi]
                let acts = try x.map { try Calibration.activations(block: block, input: $0, rope: rope) }
                for (li, role) in BlockLinear.allCases.enumerated() {
                    let lin = role.linear(in: block)
                    #expect(lin.weight.value.toArray() == original[bi][li], "GPTQ must not change the full-precision weight")
                    let xs = try ptqFlatten(acts.map { $0[role.site] })
                    let wq = try lin.effectiveWeight().value
                    let eq = try ptqOutputError(xs, lin.weight.value, wq)
                    let er = try ptqOutputError(xs, lin.weight.value, ptqRTNIncludingZero(lin.weight.value, spec: spec))
                    #expect(eq < er, "\(spec) blocks.\(bi).\(lin.name): GPTQ \(eq) vs RTN \(er)")
                    if let rep = reports.first(where: { $0.block == bi && $0.linear == lin.name }) {
                        #expect(abs(rep.outputError - eq) <= 1e-2 * eq, "reported \(rep.outputError) vs recomputed \(eq)")
                    }
                    table.append("\(spec)  blocks.\(bi).\(lin.name.padding(toLength: 10, withPad: " ", startingAt: 0))  \(String(format: "%12.5g  %12.5g  %.3f", eq, er, eq / er))")
                }
                x = acts.map(\.output)
            }
            table.append("\(spec): quantizeGPTQ on 3 blocks took \(elapsed)")
        }
        print(table.joined(separator: "\n"))
    }
}
