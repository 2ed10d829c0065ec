// SiLU and the fused SwiGLU gate, forward and backward side by side.
//   silu(x) = x * sigmoid(x);   silu'(x) = s * (1 + x * (1 - s)),  s = sigmoid(x)
//   swiglu(g, u) = silu(g) * u: g, u, y: (N)   dg += dy * u * silu'(g);  du += dy * silu(g)

public func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count) { r in for i in r { y[i] = x[i] * fastSigmoid(x[i]) } }
}

public func siluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count) { r in
        for i in r { let s = fastSigmoid(x[i]); dx[i] += dy[i] * s * (1 + x[i] * (1 - s)) }
    }
}

// y: (N) = silu(g) * u
public func swigluForward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    parallelFor(count) { r in for i in r { y[i] = g[i] * fastSigmoid(g[i]) * u[i] } }
}

// dg, du: (N) += ...; either may be nil.
public func swigluBackward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                           dg: UnsafeMutablePointer<Float>?, du: UnsafeMutablePointer<Float>?, count: Int) {
    parallelFor(count) { r in
        for i in r {
            let s = fastSigmoid(g[i]), silu = g[i] * s
            if let dg { dg[i] += dy[i] * u[i] * s * (1 + g[i] * (1 - s)) }
            if let du { du[i] += dy[i] * silu }
        }
    }
}
