// `qat bench train [MODEL]`: Block-AP and E2E-QP throughput in tokens/s, with the fraction of the
// sgemm peak measured in the same run. FLOPs counted: 6 x (matmul parameters) per token (forward,
// input gradient, weight gradient: E2E-QP needs the weight gradient to reach the step sizes) plus
// the attention matmuls (2 forward + 4 backward of 2*Hq*T*T*D per window).
import QATAutograd
import QATModel
import QATQuant
import QATTensor
import QATTrain

/// `load` gives the model (the bench verb passes QATToolkit's loadModel, which also takes a
/// QATLab or GPTQ checkpoint). Returns both rates for the torch peers (TorchComparison.swift).
@discardableResult
public func benchTrain(model load: () throws -> LoadedModel, seq: Int, repeats: Int, profile: Bool = false, log: (String) -> Void) throws -> [PeerComparable] {
    let peak = try measureSgemm(m: 2048, n: 2048, k: 2048, transB: false, repeats: repeats)
    log("sgemm 2048x2048x2048: \(fmt(peak)) GFLOP/s")
    log(matmulPrecisionLine())
    let loaded = try load()
    let m = loaded.model, s = m.blockShape, c = m.config
    let clock = ContinuousClock()
    func attention(_ windows: Int) -> Double { 6 * 2 * Double(windows * s.heads) * Double(seq * seq) * Double(s.headDim) }

    // Block-AP: one block, fake quant w2g64, batch 2 windows, MSE to a target
    let block = m.blocks[0]
    try QuantPolicy(try QuantSpec(bits: 2, groupSize: 64)).apply(to: block, index: 0, blockCount: m.blocks.count, mode: .fake, init: .minMax)
    let x = Var(try Tensor.randn([2, seq, s.hidden], seed: 1)), target = Var(try Tensor.randn([2, seq, s.hidden], seed: 2))
    let rope = m.ropeTable(positions: seq)
    var best = Double.infinity
    for _ in 0..<(repeats + 1) {
        let t = try clock.measure { try Var.mse(block.forward(x, rope: rope), target).backward() }
        best = min(best, t.inSeconds)
    }
    let bapFlops = 6 * Double(2 * seq) * Double(s.linearParameterCount) + attention(2)
    let bapRate = bapFlops / best / 1e9, bapSeconds = best
    log("block-ap step (1 block, w2g64 fake quant, 2 x \(seq) tokens): \(fmt(best * 1e3)) ms, tok_per_s=\(fmt(Double(2 * seq) / best)), \(fmt(bapRate)) GFLOP/s")
    if profile { try logProfile("block-ap step", log: log) { try Var.mse(block.forward(x, rope: rope), target).backward() } }

    // E2E-QP: the whole model with hard quantizers, gradients to the scales, 1 window; the head is
    // fused with the cross-entropy in vocabulary chunks, as in the trainers' step
    try QuantPolicy(try QuantSpec(bits: 2, groupSize: 64)).apply(to: m, mode: .hard, init: .minMax)
    let tokens = (0..<(seq + 1)).map { Int32($0 * 7919 % c.vocabSize) }
    best = .infinity
    for _ in 0..<(repeats + 1) {
        let t = try clock.measure {
            try m.crossEntropy(Array(tokens.dropLast()), targets: Array(tokens.dropFirst()), batch: 1, seq: seq).backward()
        }
        best = min(best, t.inSeconds)
    }
    let params = Double(s.linearParameterCount * c.layerCount + c.vocabSize * c.hiddenSize)
    let e2eFlops = 6 * Double(seq) * params + Double(c.layerCount) * attention(1)
    let e2eRate = e2eFlops / best / 1e9
    if profile {
        try logProfile("e2e-qp step", log: log) {
            try m.crossEntropy(Array(tokens.dropLast()), targets: Array(tokens.dropFirst()), batch: 1, seq: seq).backward()
        }
    }
    log("e2e-qp step (\(c.layerCount) blocks + head, 1 x \(seq) tokens): \(fmt(best * 1e3)) ms, tok_per_s=\(fmt(Double(seq) / best)), \(fmt(e2eRate)) GFLOP/s")
    log("blockap_vs_sgemm=\(fmt(bapRate / peak, digits: 3)) e2eqp_vs_sgemm=\(fmt(e2eRate / peak, digits: 3))")
    return trainPeers(source: m.source, seq: seq, blockAP: Double(2 * seq) / bapSeconds, e2eqp: Double(seq) / best, repeats: repeats)
}
