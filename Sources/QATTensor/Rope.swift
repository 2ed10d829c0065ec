// Rotary position embedding, forward and backward side by side.
//   x, y: (B, T, H, D), D even; position of token t is t + offset;
//   freq_i = theta^(-2i/D) / factor_i, factor_i = 1 without scaling (ropeInverseFrequencies, the
//   one definition: forward, backward, KV-cache decoding and GGUF export all take its numbers)
// Two layouts pair the dims differently:
//   .halfRotate  (Hugging Face rotate_half): pair (i, i + D/2)
//   .interleaved (GGUF / llama.cpp "normal" rope): pair (2i, 2i + 1)
// A pair (a, b) rotates by angle pos*freq_i: (a cos - b sin, b cos + a sin). The backward is the
// rotation by minus the angle, so it is the same kernel with sin negated.

public enum RopeLayout: String, Sendable, CaseIterable { case halfRotate, interleaved }

/// How a model's RoPE frequencies differ from theta^(-2i/D): a divisor factor_i per frequency.
public enum RopeScaling: Codable, Equatable, Sendable {
    /// Llama-3.1's rope_type "llama3": wavelengths 2 pi / freq longer than
    /// originalMaxPositions / lowFreqFactor are slowed down by `factor`, those shorter than
    /// originalMaxPositions / highFreqFactor kept, and the band between interpolated smoothly.
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
    /// llama.cpp's `rope_freqs` tensor (what its converter writes for a "llama3" model): the
    /// D/2 divisors themselves.
    case frequencyFactors([Double])

    /// The divisor of each of the D/2 base frequencies theta^(-2i/D).
    public func factors(headDim d: Int, theta: Double) -> [Double] {
        switch self {
        case let .frequencyFactors(f): return f
        case let .llama3(factor, low, high, original):
            let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
            return (0..<(d / 2)).map { i in
                let wavelength = 2 * Double.pi * qpow(theta, Double(2 * i) / Double(d))
                if wavelength < highWavelength { return 1 }
                if wavelength > lowWavelength { return factor }
                // smooth in 0...1 across the band: the frequency moves linearly from freq/factor to freq
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return 1 / ((1 - smooth) / factor + smooth)
            }
        }
    }

    /// Why these parameters cannot scale a head of dimension d, nil when they can.
    public func problem(headDim d: Int) -> String? {
        switch self {
        case let .frequencyFactors(f):
            if f.count != d / 2 { return "\(f.count) rope frequency factors for head dimension \(d); expected \(d / 2)" }
            if let bad = f.first(where: { !($0 > 0 && $0.isFinite) }) { return "rope frequency factor \(bad) must be positive" }
        case let .llama3(factor, low, high, original):
            for (name, v) in [("factor", factor), ("low_freq_factor", low), ("high_freq_factor", high)] where !(v > 0 && v.isFinite) {
                return "llama3 rope \(name) = \(v) must be positive"
            }
            if !(high > low) { return "llama3 rope high_freq_factor = \(high) must exceed low_freq_factor = \(low)" }
            if original <= 0 { return "llama3 rope original_max_position_embeddings = \(original) must be positive" }
        }
        return nil
    }
}

/// freq_i = theta^(-2i/D) / factor_i for i in 0..<D/2: the frequencies every RoPE table uses.
public func ropeInverseFrequencies(headDim d: Int, theta: Double, scaling: RopeScaling?) -> [Double] {
    let factors = scaling?.factors(headDim: d, theta: theta)
    return (0..<(d / 2)).map { i in
        let base = 1.0 / qpow(theta, Double(2 * i) / Double(d))
        guard let factors, i < factors.count else { return base }
        return base / factors[i]
    }
}

/// cos and sin of pos * freq_i for pos in 0..<T, i in 0..<D/2: each (T, D/2), computed in Double.
public struct RopeTable: Sendable {
    public let t: Int, halfDim: Int
    public let cos: [Float], sin: [Float]

    /// Plain RoPE: freq_i = theta^(-2i/D).
    public init(positions t: Int, headDim d: Int, theta: Double, offset: Int = 0) {
        self.init(positions: t, inverseFrequencies: ropeInverseFrequencies(headDim: d, theta: theta, scaling: nil), offset: offset)
    }

    /// The table of given frequencies (D/2 of them, ropeInverseFrequencies).
    public init(positions t: Int, inverseFrequencies freqs: [Double], offset: Int = 0) {
        let half = freqs.count
        self.t = t; self.halfDim = half
        var c = [Float](repeating: 0, count: t * half), s = c
        for p in 0..<t {
            for (i, freq) in freqs.enumerated() {
                let angle = Double(p + offset) * freq
                c[p * half + i] = Float(qcos(angle)); s[p * half + i] = Float(qsin(angle))
            }
        }
        cos = c; sin = s
    }
}

/// y = rope(x) (inverse: false) or its transpose (inverse: true; used by backward, where y += ).
public func ropeApply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, table: RopeTable,
                      b: Int, t: Int, h: Int, d: Int, layout: RopeLayout, inverse: Bool, accumulate: Bool) {
    let half = d / 2, sign: Float = inverse ? -1 : 1
    table.cos.withUnsafeBufferPointer { cosT in table.sin.withUnsafeBufferPointer { sinT in
        let cp = UncheckedBox(cosT), sp = UncheckedBox(sinT)
        parallelFor(b * t, costPerItem: h * d) { range in
            for bt in range {
                let pos = bt % t
                let c = cp.value.baseAddress! + pos * half, s = sp.value.baseAddress! + pos * half
                for head in 0..<h {
                    let xr = x + (bt * h + head) * d, yr = y + (bt * h + head) * d
                    for i in 0..<half {
                        let (ia, ib) = layout == .halfRotate ? (i, i + half) : (2 * i, 2 * i + 1)
                        let a = xr[ia], bv = xr[ib], sn = sign * s[i]
                        let ra = a * c[i] - bv * sn, rb = bv * c[i] + a * sn
                        if accumulate { yr[ia] += ra; yr[ib] += rb } else { yr[ia] = ra; yr[ib] = rb }
                    }
                }
            }
        }
    }}
}

/// Reference RoPE straight from the definition (Double angles per element): the test oracle.
public func ropeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, b: Int, t: Int, h: Int, d: Int,
                          theta: Double, layout: RopeLayout, offset: Int = 0) {
    for bt in 0..<(b * t) {
        let pos = Double(bt % t + offset)
        for head in 0..<h {
            let base = (bt * h + head) * d
            for i in 0..<(d / 2) {
                let angle = pos / qpow(theta, Double(2 * i) / Double(d))
                let (ia, ib) = layout == .halfRotate ? (i, i + d / 2) : (2 * i, 2 * i + 1)
                let a = Double(x[base + ia]), bv = Double(x[base + ib])
                y[base + ia] = Float(a * qcos(angle) - bv * qsin(angle))
                y[base + ib] = Float(bv * qcos(angle) + a * qsin(angle))
            }
        }
    }
}

extension Tensor {
    /// RoPE on x: (B, T, H, D).
    public func rope(theta: Double, layout: RopeLayout, offset: Int = 0) throws -> Tensor {
        guard rank == 4, shape[3] % 2 == 0 else {
            throw TensorError.invalidShape(op: "rope", shape: shape, hint: "expects (B, T, H, D) with even D")
        }
        return try rope(table: RopeTable(positions: shape[1], headDim: shape[3], theta: theta, offset: offset), layout: layout)
    }

    /// RoPE on x: (B, T, H, D) with a table for T positions and D/2 frequencies.
    public func rope(table: RopeTable, layout: RopeLayout) throws -> Tensor {
        guard rank == 4, shape[3] % 2 == 0, table.t == shape[1], table.halfDim * 2 == shape[3] else {
            throw TensorError.invalidShape(op: "rope", shape: shape, hint: "expects (B, T, H, D) with T = \(table.t), D = \(table.halfDim * 2)")
        }
        let out = Tensor(uninitialized: shape)
        ropeApply(data, out.data, table: table, b: shape[0], t: shape[1], h: shape[2], d: shape[3],
                  layout: layout, inverse: false, accumulate: false)
        return out
    }
}
