// What a bench hands to its torch peer, and the lines the comparison prints after the bench's own
// (the peer runner and the line format are in TorchPeer.swift):
//   cpu: AMD EPYC (family 25, model 17), avx512_bf16=yes        always
//   torch prefill: 502.3 tok/s (fp32, 2 threads, torch.mm 176.0 GFLOP/s); QATLab/torch = 0.737
//   torch ppl=... on the same tokens (QATLab ppl=...)           eval: both scored the same model
// Without the venv, one line says how to make it; a peer that fails prints one line and the bench
// still succeeds (its own measurement is already printed).
import Foundation
import QATTensor

/// One QATLab measurement the torch peer repeats: the workload name of torch_peer.py, QATLab's
/// tokens/s, and the peer's shape arguments (--seq, --windows, ...).
public struct PeerComparable: Sendable {
    public var modelSource: String
    public var workload: String
    public var tokensPerSecond: Double
    public var arguments: [String]
    /// eval: the tokens QATLab scored, so the peer scores the same ones and its perplexity checks
    /// that both ran the same model.
    public var tokens: [Int32]?
    public var perplexity: Double?

    public init(modelSource: String, workload: String, tokensPerSecond: Double, arguments: [String],
                tokens: [Int32]? = nil, perplexity: Double? = nil) {
        self.modelSource = modelSource; self.workload = workload; self.tokensPerSecond = tokensPerSecond
        self.arguments = arguments; self.tokens = tokens; self.perplexity = perplexity
    }
}

/// bench train's two rows: Block-AP on 2 windows and E2E-QP on 1, both w2g64 (TrainBench.swift).
func trainPeers(source: String, seq: Int, blockAP: Double, e2eqp: Double, repeats: Int) -> [PeerComparable] {
    let shape = ["--seq", "\(seq)", "--bits", "2", "--group", "64", "--repeats", "\(repeats)"]
    return [PeerComparable(modelSource: source, workload: "blockap", tokensPerSecond: blockAP, arguments: shape + ["--windows", "2"]),
            PeerComparable(modelSource: source, workload: "e2eqp", tokensPerSecond: e2eqp, arguments: shape)]
}

/// Greedy decoding after a `prompt`-token prompt, `newTokens` generated: for a decode bench to
/// hand to compareWithTorch (`tokensPerSecond` is its decode rate, prefill excluded).
public func decodePeer(source: String, prompt: Int, newTokens: Int, tokensPerSecond: Double, repeats: Int) -> PeerComparable {
    PeerComparable(modelSource: source, workload: "decode", tokensPerSecond: tokensPerSecond,
                   arguments: ["--prompt", "\(prompt)", "--new-tokens", "\(newTokens)", "--repeats", "\(repeats)"])
}

/// Prints the CPU, then (peers on) runs each row's torch peer and prints QATLab/torch.
/// `venv` is for tests (a stand-in python); the verbs use the default.
public func compareWithTorch(_ rows: [PeerComparable], peers: Bool, venv: String = TorchPeer.venvPath, log: (String) -> Void) {
    log(CPUDescription.current().line)
    guard peers else { return }
    let peer: TorchPeer
    switch TorchPeer.locate(venv: venv) {
    case .success(let p): peer = p
    case .failure(let e): log(e.description); return
    }
    for row in rows {
        guard let file = TorchPeer.modelFile(source: row.modelSource) else {
            log("torch peer: skipped; \(row.modelSource) is not a .gguf file or a Hugging Face directory torch can load (use a GGUF or `export ... format=fp`)")
            continue
        }
        do {
            let result = try runPeer(peer, row, file)
            log(torchComparisonLine(result, ours: row.tokensPerSecond))
            if let ours = row.perplexity, let theirs = result.number("ppl") {
                log("torch ppl=\(fmt(theirs, digits: 4)) on the same tokens (QATLab ppl=\(fmt(ours, digits: 4)))")
            }
        } catch {
            log("torch peer \(row.workload): \(error)")
        }
    }
}

private func runPeer(_ peer: TorchPeer, _ row: PeerComparable, _ file: String) throws -> TorchPeerResult {
    var arguments = row.arguments
    var tokenFile: String?
    if let tokens = row.tokens {
        let path = NSTemporaryDirectory() + "qat-torch-peer-\(getpid())-\(UUID().uuidString).tokens"
        try writeTokens(tokens, to: path)
        arguments += ["--tokens", path]
        tokenFile = path
    }
    defer { if let tokenFile { try? FileManager.default.removeItem(atPath: tokenFile) } }
    return try peer.run(workload: row.workload, model: file, threads: Threads.count, arguments: arguments)
}

/// Raw little-endian Int32 token ids, the layout torch_peer.py --tokens reads.
func writeTokens(_ tokens: [Int32], to path: String) throws {
    let data = tokens.map(\.littleEndian).withUnsafeBufferPointer { buf in
        Data(buffer: UnsafeBufferPointer(start: buf.baseAddress, count: buf.count))
    }
    guard FileManager.default.createFile(atPath: path, contents: data) else {
        throw TorchPeerError("cannot write the peer's token file \(path); is the temporary directory writable?")
    }
}
