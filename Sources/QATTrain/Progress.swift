// Progress of a long phase: on a terminal one line rewritten in place on stderr (block i/N,
// step, loss, ETA); nothing extra when stderr is not a terminal (the per-block and every-8-steps
// log lines already go to the output).
import QATTensor
#if canImport(Glibc)
import Glibc
#endif

public struct Progress {
    let label: String, total: Int
    let interactive = isatty(STDERR_FILENO) != 0
    let clock = ContinuousClock()
    let start: ContinuousClock.Instant

    public init(label: String, total: Int) {
        self.label = label; self.total = max(total, 1); start = clock.now
    }

    /// Rewrites the progress line after `done` of `total` units.
    public func update(_ done: Int, loss: Float) {
        guard interactive else { return }
        let elapsed = (clock.now - start).inSeconds
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let bar = String(repeating: "#", count: 20 * done / total) + String(repeating: ".", count: 20 - 20 * done / total)
        var line = "\r\(label) [\(bar)] \(done)/\(total) loss \(fmtE(Double(loss))) eta \(Int(eta)) s   "
        line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// Clears the line.
    public func finish() {
        guard interactive else { return }
        var line = "\r" + String(repeating: " ", count: 78) + "\r"
        line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
