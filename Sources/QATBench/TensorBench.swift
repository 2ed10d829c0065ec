// `qat bench tensor`: OpenBLAS sgemm GFLOP/s and one LLaMA block's forward+backward, measured
// in the same run so the ratio between them is meaningful on any machine.
//
// The block has SmolLM2-135M's shape (hidden 576, 9 heads, 3 KV heads, head dim 64, MLP 1536)
// on batch 4 x 512 tokens, random weights, loss = MSE to a random target (Block-AP's loss).
// FLOPs counted are the matmul work the kernels execute: linears 2NP forward and 4NP backward
// (input and weight gradients), attention 2 sgemms forward and 4 backward of 2*B*Hq*T*T*D each
// (full T x T scores: the causal half is computed, then masked). Then the kernel rows of
// KernelBench.swift: causal attention and SwiGLU alone on one window.
import QATAutograd
import QATModel
import QATTensor

public struct TensorBenchResult: Sendable {
    public var sgemmPeak = 0.0, sgemmByShape: [(String, Double)] = []
    public var forwardSeconds = 0.0, backwardSeconds = 0.0, flops = 0.0
    public var blockGflops: Double { flops / (forwardSeconds + backwardSeconds) / 1e9 }
    public var ratio: Double { blockGflops / sgemmPeak }
}

/// `precision=fp32`, or `precision=bf16 (oneDNN avx512_core_bf16)`: what the model's matmuls run
/// at in this bench (`set precision=`); the sgemm rate stays the fp32 reference either way.
func matmulPrecisionLine() -> String {
    let p = MatmulPrecision.inForce
    return "precision=\(p.rawValue)" + (p == .bf16 ? " (oneDNN \(CPUFeatures.oneDNNISA))" : "")
}

/// Best-of-`repeats` GFLOP/s of C(m,n) = A(m,k) B(k,n) (or B^T when transB).
func measureSgemm(m: Int, n: Int, k: Int, transB: Bool, repeats: Int) throws -> Double {
    let a = try Tensor.randn([m, k], seed: 1), b = try Tensor.randn(transB ? [n, k] : [k, n], seed: 2)
    let c = Tensor(zeros: [m, n])
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<(repeats + 1) {   // first run warms up the threads and caches
        let t = clock.measure {
            sgemm(transA: false, transB: transB, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: transB ? k : n, c: c.data, ldc: n)
        }
        best = min(best, t.inSeconds)
    }
    return 2 * Double(m) * Double(n) * Double(k) / best / 1e9
}

public func benchTensor(batch: Int = 4, seq: Int = 512, repeats: Int = 3, log: (String) -> Void) throws -> TensorBenchResult {
    var r = TensorBenchResult()
    let s = BlockShape.smolLM2, tokens = batch * seq
    let shapes: [(String, Int, Int, Int, Bool)] = [
        ("2048x2048x2048", 2048, 2048, 2048, false),
        ("\(tokens)x\(s.ffn)x\(s.hidden) (up proj)", tokens, s.ffn, s.hidden, true),
        ("\(tokens)x\(s.hidden)x\(s.ffn) (down proj)", tokens, s.hidden, s.ffn, true),
    ]
    for (label, m, n, k, tb) in shapes {
        let g = try measureSgemm(m: m, n: n, k: k, transB: tb, repeats: repeats)
        r.sgemmByShape.append((label, g))
        r.sgemmPeak = max(r.sgemmPeak, g)
        log("sgemm \(label): \(fmt(g)) GFLOP/s")
    }

    let block = try DecoderBlock.random(shape: s, seed: 3)
    let x = Var(try Tensor.randn([batch, seq, s.hidden], seed: 4))
    let target = Var(try Tensor.randn([batch, seq, s.hidden], seed: 5))
    let table = block.ropeTable(positions: seq)
    let clock = ContinuousClock()
    var bestF = Double.infinity, bestB = Double.infinity
    for _ in 0..<(repeats + 1) {
        for (_, p) in block.parameters { p.zeroGrad() }
        var loss: Var?
        let tf = try clock.measure { loss = try Var.mse(block.forward(x, rope: table), target) }
        let tb = try clock.measure { try loss?.backward() }
        bestF = min(bestF, tf.inSeconds); bestB = min(bestB, tb.inSeconds)
    }
    r.forwardSeconds = bestF; r.backwardSeconds = bestB
    let linear = Double(tokens) * Double(s.linearParameterCount)
    let attention = 2 * Double(batch * s.heads) * Double(seq * seq) * Double(s.headDim)
    r.flops = 2 * linear + 4 * linear + 6 * attention
    log("block (\(batch)x\(seq) tokens, SmolLM2-135M shape): forward \(fmt(bestF * 1e3)) ms, backward \(fmt(bestB * 1e3)) ms")
    log("block forward+backward: \(fmt(r.flops / 1e9)) GFLOP in \(fmt((bestF + bestB) * 1e3)) ms = \(fmt(r.blockGflops)) GFLOP/s")
    try benchKernels(seq: seq, repeats: repeats, log: log)
    log("threads=\(Threads.count) sgemm_peak=\(fmt(r.sgemmPeak)) block_gflops=\(fmt(r.blockGflops))")
    log("block_vs_sgemm=\(fmt(r.ratio, digits: 3))")
    return r
}
