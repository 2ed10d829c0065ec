// Softmax and log-softmax over the last axis, forward and backward side by side.
//   x, y, dy, dx: (rows, n)
// softmax:     y = exp(x - max) / sum;       dx = y * (dy - sum(dy * y))
// log-softmax: y = x - max - log(sum exp);   dx = dy - exp(y) * sum(dy)
// The reference versions use libm expf and Double sums; tests compare the two.
// The exps run eight at a time (the SIMD8 fastExp, the scalar one's bits) into the output row;
// the sums stay left to right over that row, so every result has the bits of the plain loop.

// y: (rows, n) = softmax(x: (rows, n))
public func softmaxForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    parallelFor(rows, costPerItem: n) { r in
        for row in r { softmaxRow(x + row * n, y + row * n, n) }
    }
}

@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = maxOf(x, count: n)
    if m == -Float.infinity { for j in 0..<n { y[j] = 0 }; return }   // fully masked row
    fastExpShifted(x, y, count: n, shift: m)
    var s: Float = 0
    for j in 0..<n { s += y[j] }
    let inv = 1 / s
    for j in 0..<n { y[j] *= inv }
}

// dx: (rows, n) += y * (dy - sum(dy*y))
public func softmaxBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    parallelFor(rows, costPerItem: n) { r in
        for row in r {
            let yr = y + row * n, dyr = dy + row * n, dxr = dx + row * n
            var dot: Float = 0
            for j in 0..<n { dot += dyr[j] * yr[j] }
            for j in 0..<n { dxr[j] += yr[j] * (dyr[j] - dot) }
        }
    }
}

// y: (rows, n) = log_softmax(x)
public func logSoftmaxForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    parallelFor(rows, costPerItem: n) { r in
        for row in r {
            let xr = x + row * n, yr = y + row * n
            let m = maxOf(xr, count: n)
            fastExpShifted(xr, yr, count: n, shift: m)   // the exps, summed below, then overwritten
            var s: Float = 0
            for j in 0..<n { s += yr[j] }
            let lse = m + qlog(s)
            for j in 0..<n { yr[j] = xr[j] - lse }
        }
    }
}

// dx: (rows, n) += dy - exp(y) * sum(dy)
public func logSoftmaxBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    parallelFor(rows, costPerItem: n) { r in
        for row in r {
            let yr = y + row * n, dyr = dy + row * n, dxr = dx + row * n
            var s: Float = 0
            for j in 0..<n { s += dyr[j] }
            var j = 0
            while j + 8 <= n { store8(load8(dxr + j) + (load8(dyr + j) - fastExp(load8(yr + j)) * s), dxr + j); j += 8 }
            while j < n { dxr[j] += dyr[j] - fastExp(yr[j]) * s; j += 1 }
        }
    }
}

/// Reference softmax (libm exp, Double sums): the oracle for softmaxForward.
public func softmaxReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    for row in 0..<rows {
        var m = -Double.infinity
        for j in 0..<n { m = max(m, Double(x[row * n + j])) }
        var s = 0.0
        for j in 0..<n { s += qexpD(Double(x[row * n + j]) - m) }
        for j in 0..<n { y[row * n + j] = Float(qexpD(Double(x[row * n + j]) - m) / s) }
    }
}

extension Tensor {
    public func softmax() throws -> Tensor { try lastAxisOp { softmaxForward($0, $1, rows: $2, n: $3) } }
    public func logSoftmax() throws -> Tensor { try lastAxisOp { logSoftmaxForward($0, $1, rows: $2, n: $3) } }

    func lastAxisOp(_ f: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void) throws -> Tensor {
        guard rank >= 1 else { throw TensorError.invalidShape(op: "softmax", shape: shape, hint: "needs at least 1 dim") }
        let n = shape[rank - 1]
        let out = Tensor(uninitialized: shape)
        f(data, out.data, n == 0 ? 0 : count / n, n)
        return out
    }
}
