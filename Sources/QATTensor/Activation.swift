// SiLU and the fused SwiGLU gate, forward and backward side by side.
//   silu(x) = x * sigmoid(x);   silu'(x) = s * (1 + x * (1 - s)),  s = sigmoid(x)
//   swiglu(g, u) = silu(g) * u: g, u, y: (N)   dg += dy * u * silu'(g);  du += dy * silu(g)
// Eight elements at a time through the SIMD8 fastSigmoid (the same bits as the scalar one, and
// the same operations in the same order per element), the tail of fewer than eight scalar.

/// Runs `lanes` over the SIMD8-wide part of each thread's range and `scalar` over the rest:
/// every element gets the same operations either way.
@inline(__always)
func elementwise8(_ count: Int, lanes: (Int) -> Void, scalar: (Int) -> Void) {
    parallelFor(count) { r in
        var i = r.lowerBound
        while i + 8 <= r.upperBound { lanes(i); i += 8 }
        while i < r.upperBound { scalar(i); i += 1 }
    }
}

public func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    elementwise8(count, lanes: { i in let v = load8(x + i); store8(v * fastSigmoid(v), y + i) },
                 scalar: { i in y[i] = x[i] * fastSigmoid(x[i]) })
}

public func siluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count: Int) {
    elementwise8(count, lanes: { i in
        let v = load8(x + i), s = fastSigmoid(v)
        store8(load8(dx + i) + load8(dy + i) * s * (1 + v * (1 - s)), dx + i)
    }, scalar: { i in
        let s = fastSigmoid(x[i]); dx[i] += dy[i] * s * (1 + x[i] * (1 - s))
    })
}

// y: (N) = silu(g) * u
public func swigluForward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    elementwise8(count, lanes: { i in let v = load8(g + i); store8(v * fastSigmoid(v) * load8(u + i), y + i) },
                 scalar: { i in y[i] = g[i] * fastSigmoid(g[i]) * u[i] })
}

// dg, du: (N) += ...; either may be nil.
public func swigluBackward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                           dg: UnsafeMutablePointer<Float>?, du: UnsafeMutablePointer<Float>?, count: Int) {
    elementwise8(count, lanes: { i in
        let gv = load8(g + i), s = fastSigmoid(gv), dyv = load8(dy + i)
        if let dg { store8(load8(dg + i) + dyv * load8(u + i) * s * (1 + gv * (1 - s)), dg + i) }
        if let du { store8(load8(du + i) + dyv * (gv * s), du + i) }
    }, scalar: { i in
        let s = fastSigmoid(g[i]), silu = g[i] * s
        if let dg { dg[i] += dy[i] * u[i] * s * (1 + g[i] * (1 - s)) }
        if let du { du[i] += dy[i] * silu }
    })
}
