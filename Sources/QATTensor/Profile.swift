// Where the time goes: wall time per kernel family, split into forward and backward.
//
// The profiler is mark-based: every autograd op calls `Profile.mark` right after its forward
// kernel (Var.result) and right after its backward closure (Var.backward), charging the time
// since the previous mark to that op's family. Each interval is charged exactly once, so the
// families add up to the wall time of the recorded body; work between ops (tape building,
// Tensor-level code such as perplexity's log-sum-exp) goes to the next mark, or to `other`
// when the body ends. Only the thread that started the recording is measured (kernels thread
// inside themselves, so that is the thread that calls them).
//
// Off (the default) it costs one load and branch per op. Recordings do not nest.
#if canImport(Glibc)
import Glibc
#endif

/// A kernel family in the profile breakdown.
public enum KernelFamily: Int, CaseIterable, Sendable {
    case matmul, attention, norm, rope, activation, elementwise, quantizer, loss, copy, other

    public var label: String {
        switch self {
        case .matmul: return "matmul"
        case .attention: return "attention"
        case .norm: return "norms"
        case .rope: return "rope"
        case .activation: return "activations"
        case .elementwise: return "elementwise (residual adds, scales)"
        case .quantizer: return "quantizer"
        case .loss: return "loss/softmax"
        case .copy: return "copies/layout/embedding"
        case .other: return "other (tape, glue, Tensor-level code)"
        }
    }

    /// The family of an autograd op by the name it records (Var.result / Var.custom).
    public static func of(op name: String) -> KernelFamily {
        switch name {
        case "matmul": return .matmul
        case "attention": return .attention
        case "rmsnorm": return .norm
        case "rope": return .rope
        case "swiglu", "silu", "sigmoid", "relu": return .activation
        case "add", "sub", "mul", "div", "affine", "neg", "exp", "log", "sqrt", "abs", "square", "reciprocal",
             "sum", "mean", "max": return .elementwise
        case "fake_quant", "hard_dequant": return .quantizer
        case "cross_entropy", "distillation", "mse", "softmax", "log_softmax": return .loss
        case "reshape", "permute", "slice", "concat", "embedding": return .copy
        default: return .other
        }
    }
}

/// Nanoseconds per (phase, family) of one recording.
public struct ProfileReport: Sendable, Equatable {
    /// Indexed by KernelFamily.rawValue.
    public var forwardNanos: [UInt64]
    public var backwardNanos: [UInt64]

    public init() {
        forwardNanos = [UInt64](repeating: 0, count: KernelFamily.allCases.count)
        backwardNanos = forwardNanos
    }

    public var totalNanos: UInt64 { forwardNanos.reduce(0, +) + backwardNanos.reduce(0, +) }

    public static func + (a: ProfileReport, b: ProfileReport) -> ProfileReport {
        var r = a
        for i in r.forwardNanos.indices { r.forwardNanos[i] += b.forwardNanos[i]; r.backwardNanos[i] += b.backwardNanos[i] }
        return r
    }

    /// One line per family with any time: forward ms, backward ms, total ms and % of the total.
    public func lines(title: String) -> [String] {
        let total = Double(max(totalNanos, 1))
        func ms(_ n: UInt64) -> String { fixed(Double(n) / 1e6, 1) }
        var out = ["profile \(title): total \(ms(totalNanos)) ms (forward \(ms(forwardNanos.reduce(0, +))), backward \(ms(backwardNanos.reduce(0, +))))"]
        let order = KernelFamily.allCases.sorted {
            forwardNanos[$0.rawValue] + backwardNanos[$0.rawValue] > forwardNanos[$1.rawValue] + backwardNanos[$1.rawValue]
        }
        for f in order {
            let fw = forwardNanos[f.rawValue], bw = backwardNanos[f.rawValue]
            guard fw + bw > 0 else { continue }
            let pct = fixed(100 * Double(fw + bw) / total, 1)
            out.append("  \(f.label): \(ms(fw + bw)) ms (\(pct)%; fwd \(ms(fw)), bwd \(ms(bw)))")
        }
        return out
    }

    private func fixed(_ x: Double, _ digits: Int) -> String {
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let r = (x * p).rounded() / p
        var s = "\(r)"
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        }
        return s
    }
}

public enum Profile {
    // Written only by `record` on its own thread; read by every op (a plain branch when off).
    nonisolated(unsafe) private static var active = false
    nonisolated(unsafe) private static var owner: pthread_t = pthread_self()
    nonisolated(unsafe) private static var last: UInt64 = 0
    nonisolated(unsafe) private static var report = ProfileReport()

    @inline(__always) public static var isRecording: Bool { active }

    /// Charges the time since the previous mark to `family` (forward or backward). A no-op when
    /// not recording or on a thread other than the recording one.
    @inline(__always)
    public static func mark(_ family: KernelFamily, backward: Bool) {
        guard active else { return }
        chargeSlow(family, backward: backward)
    }

    @inline(never)
    private static func chargeSlow(_ family: KernelFamily, backward: Bool) {
        guard pthread_equal(pthread_self(), owner) != 0 else { return }
        let now = monotonicNanos()
        let spent = now &- last
        last = now
        if backward { report.backwardNanos[family.rawValue] += spent } else { report.forwardNanos[family.rawValue] += spent }
    }

    /// Runs `body` with the profiler on and returns its result with the breakdown of its time.
    /// Time after the last mark is charged to `other` (forward). A nested call just runs `body`
    /// and returns an empty report (the outer recording keeps counting).
    public static func record<T>(_ body: () throws -> T) rethrows -> (T, ProfileReport) {
        if active { return (try body(), ProfileReport()) }
        report = ProfileReport(); owner = pthread_self(); last = monotonicNanos(); active = true
        defer { active = false }
        let value = try body()
        mark(.other, backward: false)
        return (value, report)
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(truncatingIfNeeded: ts.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: ts.tv_nsec)
    }
}
