// `qat bench quant`: the fused fake-quant forward+backward over SmolLM2's up_proj shape
// (1536 x 576, w3g128: 4 groups of 128 and one of 64 per row), in ns per weight element, against
// a plain memcpy of the same 1536*576 floats measured in the same run, so the ratio means the
// same on any machine. The backward produces dW, ds and dz (everything trainable, Block-AP).
// Best of several repeats after one warm-up. Last line: `fakequant_vs_memcpy=<ratio>`.
import QATTensor
#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds of the fastest of `repeats` runs of `body` (after one warm-up run).
func bestNanoseconds(repeats: Int, _ body: () -> Void) -> Double {
    let clock = ContinuousClock()
    var best = Double.infinity
    for _ in 0...repeats {
        let d = clock.measure(body)
        best = min(best, d.inSeconds * 1e9)
    }
    return best
}

public func benchQuant(log: (String) -> Void) throws {
    let rows = 1536, cols = 576, n = rows * cols, repeats = 20
    let spec = try QuantSpec(bits: 3, groupSize: 128)
    let l = QuantLayout(rows: rows, cols: cols, spec: spec)
    let w = try Tensor.randn([rows, cols], seed: 11, std: 0.02), g = try Tensor.randn([rows, cols], seed: 12)
    let (s, z) = try initialQuantParameters(weight: w, spec: spec, range: .minMax)
    let out = Tensor(zeros: [rows, cols]), dw = Tensor(zeros: [rows, cols])
    let ds = Tensor(zeros: s.shape), dz = Tensor(zeros: z.shape), copy = Tensor(zeros: [rows, cols])

    let copyNs = bestNanoseconds(repeats: repeats) { memcpy(copy.data, w.data, n * MemoryLayout<Float>.size) }
    let fwdNs = bestNanoseconds(repeats: repeats) { fakeQuantForward(w.data, scales: s.data, zeros: z.data, out.data, layout: l) }
    let bwdNs = bestNanoseconds(repeats: repeats) {
        fakeQuantBackward(w.data, scales: s.data, zeros: z.data, g.data, dw: dw.data, ds: ds.data, dz: dz.data, layout: l)
    }
    let perElement = { (ns: Double) in ns / Double(n) }
    let ratio = (fwdNs + bwdNs) / copyNs
    log("fake-quant \(spec) on \(rows)x\(cols), \(Threads.count) threads, best of \(repeats)")
    log("memcpy \(n * 4 / 1024) KiB:      \(fmt3(perElement(copyNs))) ns/element")
    log("forward:               \(fmt3(perElement(fwdNs))) ns/element")
    log("backward (dW, ds, dz): \(fmt3(perElement(bwdNs))) ns/element")
    log("forward+backward:      \(fmt3(perElement(fwdNs + bwdNs))) ns/element, \(fmt3(ratio))x memcpy")
    log("fakequant_vs_memcpy=\(fmt3(ratio))")
}

/// Three decimals, without Foundation.
func fmt3(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    let r = (x * 1000).rounded() / 1000
    var s = "\(r)"
    if let dot = s.firstIndex(of: "."), s.distance(from: dot, to: s.endIndex) > 4 { s = String(s[..<s.index(dot, offsetBy: 4)]) }
    return s
}
