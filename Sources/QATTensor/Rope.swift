// Rotary position embedding, forward and backward side by side.
//   x, y: (B, T, H, D), D even; position of token t is t + offset; freq_i = theta^(-2i/D)
// Two layouts pair the dims differently:
//   .halfRotate  (Hugging Face rotate_half): pair (i, i + D/2)
//   .interleaved (GGUF / llama.cpp "normal" rope): pair (2i, 2i + 1)
// A pair (a, b) rotates by angle pos*freq_i: (a cos - b sin, b cos + a sin). The backward is the
// rotation by minus the angle, so it is the same kernel with sin negated.

public enum RopeLayout: String, Sendable, CaseIterable { case halfRotate, interleaved }

/// cos and sin of pos * freq_i for pos in 0..<T, i in 0..<D/2: each (T, D/2), computed in Double.
public struct RopeTable: Sendable {
    public let t: Int, halfDim: Int
    public let cos: [Float], sin: [Float]

    public init(positions t: Int, headDim d: Int, theta: Double, offset: Int = 0) {
        self.t = t; self.halfDim = d / 2
        var c = [Float](repeating: 0, count: t * (d / 2)), s = c
        for p in 0..<t {
            for i in 0..<(d / 2) {
                let freq = 1.0 / qpow(theta, Double(2 * i) / Double(d))
                let angle = Double(p + offset) * freq
                c[p * (d / 2) + i] = Float(qcos(angle)); s[p * (d / 2) + i] = Float(qsin(angle))
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
        let out = Tensor(uninitialized: shape)
        let table = RopeTable(positions: shape[1], headDim: shape[3], theta: theta, offset: offset)
        ropeApply(data, out.data, table: table, b: shape[0], t: shape[1], h: shape[2], d: shape[3],
                  layout: layout, inverse: false, accumulate: false)
        return out
    }
}
