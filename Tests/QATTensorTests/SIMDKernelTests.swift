// The SIMD8 paths (FastMath.swift's fastExp/fastSigmoid overloads, and the activation, softmax
// and loss-gradient loops built on them) against the scalar definitions, bit for bit: the suite and the notebooks
// reproduce their fp32 numbers to the last digit only if the vector code changes nothing.
import Testing
@testable import QATTensor

/// Inputs where exp's branches meet: the clamp bounds and their neighbours, infinities, NaN,
/// zeros, denormals, and values where n = round(x * log2 e) changes.
let expEdgeInputs: [Float] = {
    var xs: [Float] = [-.infinity, .infinity, .nan, -.nan, 0, -0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
                       .leastNormalMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                       Float(bitPattern: 0x007F_FFFF), -Float(bitPattern: 0x007F_FFFF)]
    for edge: Float in [88.72283, -87.33654, 88.7, -87.3, 88.0, -88.0, 87.33654, -88.72283, 0.34657359, -0.34657359] {
        var x = edge
        for _ in 0..<40 { x = x.nextDown }
        for _ in 0..<80 { xs.append(x); x = x.nextUp }
    }
    return xs
}()

/// Every 4099th bit pattern of the 2^32 (over a million floats of every sign and exponent) and the edges.
let expSweepInputs: [Float] = {
    var xs = expEdgeInputs
    var bits: UInt64 = 0
    while bits < 1 << 32 { xs.append(Float(bitPattern: UInt32(truncatingIfNeeded: bits))); bits += 4099 }
    return xs
}()

/// The lanes of f applied to xs eight at a time (a tail padded with zeros).
func eightAtATime(_ xs: [Float], _ f: (SIMD8<Float>) -> SIMD8<Float>) -> [Float] {
    var out: [Float] = []
    var i = 0
    while i < xs.count {
        var v = SIMD8<Float>(repeating: 0)
        for lane in 0..<min(8, xs.count - i) { v[lane] = xs[i + lane] }
        let y = f(v)
        for lane in 0..<min(8, xs.count - i) { out.append(y[lane]) }
        i += 8
    }
    return out
}

/// Indices where a and b differ in their bits. Any NaN equals any NaN: which operand's NaN an
/// x86 multiply passes on depends on the operand order LLVM picks (fmul commutes), for the
/// scalar loop as much as for the vector one, so a NaN's sign and payload are not pinned.
func bitMismatches(_ a: [Float], _ b: [Float]) -> [Int] {
    zip(a, b).enumerated().filter { !($0.element.0.bitPattern == $0.element.1.bitPattern || ($0.element.0.isNaN && $0.element.1.isNaN)) }
        .map(\.offset)
}

/// "" when a and b have the same bits, else how many elements differ and the first.
func bitDifference(_ a: [Float], _ b: [Float]) -> String {
    let bad = bitMismatches(a, b)
    guard let first = bad.first else { return a.count == b.count ? "" : "\(a.count) vs \(b.count) elements" }
    return "\(bad.count) of \(a.count) differ, first at \(first): \(a[first]) vs \(b[first])"
}

@Suite struct SIMDKernelTests {
    @Test func simdExpHasTheScalarBits() {
        let simd = eightAtATime(expSweepInputs, fastExp), scalar = expSweepInputs.map { fastExp($0) }
        let bad = bitMismatches(simd, scalar)
        #expect(bad.count == 0, "\(bad.count) inputs differ, first x=\(bad.first.map { expSweepInputs[$0].bitPattern } ?? 0) (bits)")
    }

    @Test func simdSigmoidHasTheScalarBits() {
        let simd = eightAtATime(expSweepInputs, fastSigmoid), scalar = expSweepInputs.map { fastSigmoid($0) }
        let bad = bitMismatches(simd, scalar)
        #expect(bad.count == 0, "\(bad.count) inputs differ, first x=\(bad.first.map { expSweepInputs[$0].bitPattern } ?? 0) (bits)")
    }

    /// Lengths that leave a tail of 1..7, and one split over two threads with odd chunk edges.
    @Test(arguments: [1, 7, 8, 13, 100_003])
    func activationsHaveTheScalarLoopsBits(count: Int) throws {
        let g = randn([count], 71, std: 6), u = randn([count], 72), dy = randn([count], 73)
        // a few edge values among the inputs
        for (i, x) in expEdgeInputs.enumerated() where i < count { g.data[(i * 7919) % count] = x }
        let y = Tensor(zeros: [count]), dg = randn([count], 74), du = randn([count], 75)
        let ey = Tensor(zeros: [count]), edg = dg.copy(), edu = du.copy()
        swigluForward(g.data, u.data, y.data, count: count)
        swigluBackward(g.data, u.data, dy.data, dg: dg.data, du: du.data, count: count)
        for i in 0..<count {   // the scalar definitions, element by element
            let s = fastSigmoid(g.data[i]), silu = g.data[i] * s
            ey.data[i] = g.data[i] * fastSigmoid(g.data[i]) * u.data[i]
            edg.data[i] += dy.data[i] * u.data[i] * s * (1 + g.data[i] * (1 - s))
            edu.data[i] += dy.data[i] * silu
        }
        #expect(bitDifference(y.toArray(), ey.toArray()) == "")
        #expect(bitDifference(dg.toArray(), edg.toArray()) == "")
        #expect(bitDifference(du.toArray(), edu.toArray()) == "")
        let sy = Tensor(zeros: [count]), sdx = randn([count], 76), esy = Tensor(zeros: [count]), esdx = sdx.copy()
        siluForward(g.data, sy.data, count: count)
        siluBackward(g.data, dy.data, sdx.data, count: count)
        for i in 0..<count {
            let x = g.data[i], s = fastSigmoid(x)
            esy.data[i] = x * fastSigmoid(x)
            esdx.data[i] += dy.data[i] * s * (1 + x * (1 - s))
        }
        #expect(bitDifference(sy.toArray(), esy.toArray()) == "")
        #expect(bitDifference(sdx.toArray(), esdx.toArray()) == "")
    }

    /// softmax and log-softmax rows against the plain loops (max, exp, left-to-right sum).
    @Test(arguments: [1, 5, 8, 77, 1000])
    func softmaxHasThePlainLoopsBits(n: Int) throws {
        let rows = 9, x = randn([rows, n], 81, std: 5), dy = randn([rows, n], 82)
        if n > 1 { x.data[1] = -.infinity }   // a masked score
        let y = try x.softmax(), ly = try x.logSoftmax(), dx = randn([rows, n], 83), edx = dx.copy()
        logSoftmaxBackward(ly.data, dy.data, dx.data, rows: rows, n: n)
        var ey = [Float](repeating: 0, count: rows * n), ely = ey
        for r in 0..<rows {
            let row = Array(x.toArray()[(r * n)..<((r + 1) * n)])
            var m = -Float.infinity
            for v in row { m = max(m, v) }
            if m == -.infinity { continue }   // never: every row has a finite score
            var s: Float = 0
            for j in 0..<n { let e = fastExp(row[j] - m); ey[r * n + j] = e; s += e }
            let inv = 1 / s
            for j in 0..<n { ey[r * n + j] *= inv; ely[r * n + j] = row[j] - (m + qlog(s)) }
            var sdy: Float = 0
            for j in 0..<n { sdy += dy.data[r * n + j] }
            for j in 0..<n { edx.data[r * n + j] += dy.data[r * n + j] - fastExp(ly.data[r * n + j]) * sdy }
        }
        #expect(bitDifference(y.toArray(), ey) == "")
        #expect(bitDifference(ly.toArray(), ely) == "")
        #expect(bitDifference(dx.toArray(), edx.toArray()) == "")
    }

    /// The loss gradients' exp loops (cross-entropy, distillation, their chunked versions).
    @Test(arguments: [3, 8, 1001])
    func lossExpLoopsHaveThePlainLoopsBits(n: Int) {
        let x = randn([n], 91, std: 8), z = randn([n], 92, std: 8), y0 = randn([n], 93)
        let shift: Float = 2.5, scale: Float = 0.37, t: Float = 1.7, lz: Float = -0.8
        for accumulate in [false, true] {
            let y = y0.copy(), ey = y0.copy(), d = y0.copy(), ed = y0.copy()
            scaledFastExp(x.data, y.data, count: n, shift: shift, scale: scale, accumulate: accumulate)
            scaledExpDifference(x.data, z.data, d.data, count: n, t: t, ls: shift, lz: lz, scale: scale, accumulate: accumulate)
            for j in 0..<n {
                let e = scale * fastExp(x.data[j] - shift)
                ey.data[j] = accumulate ? ey.data[j] + e : e
                let g = scale * (fastExp(x.data[j] / t - shift) - fastExp(z.data[j] / t - lz))
                ed.data[j] = accumulate ? ed.data[j] + g : g
            }
            #expect(bitDifference(y.toArray(), ey.toArray()) == "")
            #expect(bitDifference(d.toArray(), ed.toArray()) == "")
        }
    }
    /// The chunked losses' forward: the online log-sum-exp of x / tau carried over chunks, and
    /// distillation's exp-weighted difference sum, against their plain loops (tau 1 is cross-entropy).
    @Test(arguments: [1, 8, 13, 1001])
    func onlineLogSumExpHasThePlainLoopsBits(n: Int) {
        let x = randn([3 * n], 94, std: 8), y = randn([n], 95, std: 8)
        x.data[n / 2] = .nan   // NaN logits are skipped by the max as by the loop, and poison the sum alike
        for tau: Float in [1, 0.7, 2] {
            var m = -Float.infinity, s = 0.0, em = -Float.infinity, es = 0.0
            for c in 0..<3 {   // three chunks, so the running max and its rescale are exercised
                let r = onlineLogSumExp(x.data + c * n, divisor: tau, count: n, m: &m, s: &s)
                let er = onlineLogSumExpReference(x.data + c * n, divisor: tau, count: n, m: &em, s: &es)
                #expect(m.bitPattern == em.bitPattern && s.bitPattern == es.bitPattern && r.bitPattern == er.bitPattern, "tau \(tau) chunk \(c)")
            }
            var plain = 0.0
            for j in 0..<n { plain += Double(fastExp(y.data[j] / tau - 1.25)) * Double(y.data[j] / tau - x.data[n + j] / tau) }
            #expect(expWeightedDifferenceSum(y.data, x.data + n, divisor: tau, shift: 1.25, count: n).bitPattern == plain.bitPattern)
        }
    }
}
