// Memory of the long runs: the peak resident set measured by the kernel (recorded in each run's
// log), and an estimate made before a run starts, so that `memory=2G` refuses a run that would
// not fit instead of letting it die hours later (or swap a shared node to a halt).
//
// The estimate is the process's resident set now (the loaded model, the windows, the runtime and
// OpenBLAS) plus what the run adds on top, in named parts so a refusal says where the memory
// goes: hidden-state chains, the trained tensors with their gradients and AdamW moments, and the
// activations one forward/backward keeps for the backward pass.
//
// Checked against measured peaks on SmolLM2-135M (2026-12-06; estimate / peak VmHWM, 1 thread):
//   blockap smollm2 bits=2 group=64 samples=128 val=16 seqlen=256 epochs=1   1.18 / 1.12 GiB
//   blockap smollm2 ... samples=8 val=2 (all 30 blocks)                       1.02 / 0.89 GiB
//   e2eqp <a Block-AP w4g128 checkpoint> (128 x 256, batch 1)                 1.95 / 1.82 GiB
//   qfa train smollm2 base=rtn steps=2                                        1.93 / 1.77 GiB
// Re-run: the same line with memory=1M prints the estimate; with memory=100G the run prints peak_rss_mb.
import Foundation
import QATModel
#if canImport(Glibc)
import Glibc
#endif

public enum ResidentMemory {
    /// Peak resident set of this process in bytes (VmHWM; getrusage's ru_maxrss as a fallback).
    public static var peakBytes: Int { statusField("VmHWM:") ?? maxRSSFromRusage }

    /// Current resident set in bytes (VmRSS; the peak when /proc is not mounted).
    public static var currentBytes: Int { statusField("VmRSS:") ?? peakBytes }

    /// Returns the heap's free pages to the kernel (glibc's malloc_trim), so that the resident set
    /// counts live memory only. Loading a model frees far more than it keeps (file buffers,
    /// dequantization temporaries); glibc keeps those pages resident, and an estimate built on the
    /// untrimmed resident set counted them twice (they are reused by the run). No-op without glibc.
    public static func releaseFreeHeap() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(nil, "malloc_trim") else { return }   // nil: RTLD_DEFAULT on glibc
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }

    /// Peak resident set in MB (10^6 bytes), as the logs record it.
    public static var peakMB: Double { Double(peakBytes) / 1e6 }

    static var maxRSSFromRusage: Int {
        var u = rusage()
        return getrusage(RUSAGE_SELF.rawValue, &u) == 0 ? u.ru_maxrss * 1024 : 0
    }

    /// A "Name:   123 kB" line of /proc/self/status, in bytes.
    static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        return statusField(name, in: text)
    }

    /// The field of a /proc/PID/status text in bytes; its lines read "VmRSS:\t  675324 kB" (a tab,
    /// then spaces: splitting on spaces alone once made every field unreadable, and the estimate
    /// took the peak for the current resident set).
    static func statusField(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return digits.map { $0 * 1024 }
        }
        return nil
    }
}

/// A memory estimate in named parts.
public struct MemoryEstimate: Sendable, CustomStringConvertible {
    public var parts: [(name: String, bytes: Int)] = []
    public init() {}

    public mutating func add(_ name: String, _ bytes: Int) { parts.append((name, max(0, bytes))) }
    public var total: Int { parts.reduce(0) { $0 + $1.bytes } }

    /// Adds 10% of what the run adds (every part but the first, the process now) for glibc's free
    /// lists between steps: on SmolLM2 the Block-AP and E2E-QP runs' peaks lie within 10% of their parts.
    func withAllocatorSlack() -> MemoryEstimate {
        var e = self
        e.add("allocator slack", (total - (parts.first?.bytes ?? 0)) / 10)
        return e
    }

    public var description: String {
        "\(formatBytes(total)) (" + parts.map { "\($0.name) \(formatBytes($0.bytes))" }.joined(separator: " + ") + ")"
    }

    /// Throws when the estimate exceeds `budget` bytes; `advice` says what would shrink it.
    public func check(budget: Int, advice: String = "lower samples=, seqlen= or batch=") throws {
        guard total > budget else { return }
        throw TrainingError("the run needs an estimated \(self), more than memory=\(formatBytes(budget)); refusing to start: \(advice), or raise memory=")
    }

    /// Parses "2G", "1500M", "512k", "3e9" (bytes); k/M/G/T are powers of 1024 as in Slurm's --mem.
    public static func parseBudget(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let last = t.last else { return nil }
        let k = 1024.0
        let units: [Character: Double] = ["k": k, "K": k, "m": k * k, "M": k * k, "g": k * k * k, "G": k * k * k, "t": k * k * k * k, "T": k * k * k * k]
        var digits = Substring(t), scale = 1.0
        if let u = units[last] { digits = t.dropLast(); scale = u }
        if digits.hasSuffix("B") || digits.hasSuffix("b"), scale == 1 { return nil }
        guard let v = Double(digits), v.isFinite, v > 0, v * scale < 9e18 else { return nil }
        return Int(v * scale)
    }
}

public func formatBytes(_ b: Int) -> String {
    let x = Double(b), mib = 1024.0 * 1024
    if x >= 1024 * mib { return String(format: "%.2f GiB", x / (1024 * mib)) }
    if x >= mib { return String(format: "%.1f MiB", x / mib) }
    return String(format: "%.0f KiB", x / 1024)
}

/// Estimates for the three long runs; `windows` and `seqlen` are the training data's.
public enum MemoryEstimator {
    /// Float32 values one token's forward through a block saves for the backward pass: the
    /// norms, q/k/v, RoPE'd q/k, attention output, the MLP's gate/up/product, the residuals, and
    /// the attention scores and probabilities per head. The backward of a block holds gradients
    /// of about the same size at the same time.
    static func savedActivationFloats(_ s: BlockShape, seq: Int) -> Int {
        let kv = s.kvHeads * s.headDim
        return 10 * s.hidden + 4 * kv + 5 * s.ffn + 3 * s.heads * seq
    }

    static func blockParameters(_ s: BlockShape) -> Int {
        let kv = s.kvHeads * s.headDim
        return s.hidden * (2 * s.hidden + 2 * kv) + 3 * s.hidden * s.ffn + 2 * s.hidden
    }

    /// The process now plus Block-AP's chains, one block's training state and activations, and
    /// the codes of the `blocks` blocks it finalizes (they stay next to the fp32 weights).
    public static func blockAP(model: LlamaModel, windows: Int, seqlen: Int, batch: Int, evalBatch: Int, half: Bool,
                               blocks: Int? = nil) -> MemoryEstimate {
        let s = model.blockShape
        var e = MemoryEstimate()
        ResidentMemory.releaseFreeHeap()
        e.add("process now", ResidentMemory.currentBytes)
        // fp and q chains, both copies allocated up front (HiddenStates)
        e.add("hidden-state chains", 2 * windows * seqlen * s.hidden * (half ? 2 : 4))
        // W, its fake-quantized copy, gradient, AdamW m and v; plus the block's original weights kept for the q chain
        e.add("block training state", 5 * 4 * blockParameters(s))
        // the block's saved activations and their gradients
        e.add("activations", 4 * max(batch, evalBatch) * seqlen * 2 * savedActivationFloats(s, seq: seqlen))
        // one byte per weight, plus as much again that glibc does not reuse between blocks
        // (measured on SmolLM2: 7.8 MB per 3.5M-weight block)
        e.add("finished blocks' codes", 2 * (blocks ?? model.blocks.count) * blockParameters(s))
        return e.withAllocatorSlack()
    }

    /// The process now plus a full forward/backward on `batch` windows (every block's
    /// activations and the logits with their softmax and gradient) and the trained tensors'
    /// gradient and moments (`trained` values).
    /// With `teacher` (loss=kd/ce+kd) the full-precision teacher's Float32 weights and one forward's
    /// logits are added (its activations are freed block by block under noGrad).
    public static func endToEnd(model: LlamaModel, seqlen: Int, batch: Int, trained: Int, label: String = "trained tensors' grad + AdamW",
                                teacher: Bool = false) -> MemoryEstimate {
        let s = model.blockShape, tokens = batch * max(1, seqlen - 1)
        var e = MemoryEstimate()
        ResidentMemory.releaseFreeHeap()
        e.add("process now", ResidentMemory.currentBytes)
        e.add("dequantized weights", 4 * model.blocks.count * blockParameters(s))
        e.add(label, 3 * 4 * trained)
        // every block's saved activations, the gradients of the block being back-propagated (and
        // one more block's worth of temporaries), the logits with their softmax and gradient
        e.add("activations", 4 * tokens * ((model.blocks.count + 2) * savedActivationFloats(s, seq: seqlen) + 3 * model.vocabSize))
        if teacher {
            e.add("teacher weights", 4 * model.parameterCount)
            e.add("teacher logits", 4 * tokens * model.vocabSize)
        }
        return e.withAllocatorSlack()
    }
}

extension MemoryEstimator {
    /// LLM-QFA: the end-to-end forward/backward plus the frozen bases of every width (one byte
    /// per code, Float32 scales and zeros per group) and the adapters (sized as decoupled, the
    /// largest mode: rank x (in/group + out) per linear and width) with gradients and moments.
    public static func qfa(model: LlamaModel, seqlen: Int, batch: Int, widths: Int, group: Int, rank: Int) -> MemoryEstimate {
        let s = model.blockShape, kv = s.kvHeads * s.headDim
        // (in, out) of the seven linears of a block
        let shapes = [(s.hidden, s.hidden), (s.hidden, kv), (s.hidden, kv), (s.hidden, s.hidden),
                      (s.hidden, s.ffn), (s.hidden, s.ffn), (s.ffn, s.hidden)]
        let adapters = model.blocks.count * widths * shapes.reduce(0) { $0 + rank * (($1.0 + group - 1) / group + $1.1) }
        var e = endToEnd(model: model, seqlen: seqlen, batch: batch, trained: 0)
        // the supernet dequantizes into each linear's own Float32 weight buffer (counted in the process now)
        e.parts.removeAll { ["trained tensors' grad + AdamW", "allocator slack", "dequantized weights"].contains($0.name) }
        let params = model.blocks.count * blockParameters(s)
        e.add("bases", widths * (params + 8 * params / max(1, group)))
        e.add("adapters + grad + AdamW", 4 * 4 * adapters)
        return e.withAllocatorSlack()
    }
}
