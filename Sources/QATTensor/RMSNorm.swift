// RMSNorm, forward and backward side by side.
//   x, y, dy, dx: (rows, C);  w, dw: (C);  rstd: (rows) saved by forward for backward
// y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2) + eps)
// With xh = x * rstd:  dw += sum_rows(dy * xh);  dx += rstd * (dy*w - xh * mean(dy*w*xh))

public func rmsnormForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, eps: Float,
                           _ y: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>, rows: Int, c: Int) {
    parallelFor(rows, costPerItem: c) { r in
        for row in r {
            let xr = x + row * c, yr = y + row * c
            var ss: Float = 0
            for j in 0..<c { ss += xr[j] * xr[j] }
            let rs = 1 / (ss / Float(c) + eps).squareRoot()
            rstd[row] = rs
            for j in 0..<c { yr[j] = xr[j] * rs * w[j] }
        }
    }
}

/// dx: (rows, C) += ...; dw: (C) += ... (dw may be nil when the gain is frozen).
public func rmsnormBackward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                            _ dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?,
                            rows: Int, c: Int) {
    if let dx {
        parallelFor(rows, costPerItem: c) { r in
            for row in r {
                let xr = x + row * c, dyr = dy + row * c, dxr = dx + row * c, rs = rstd[row]
                var dot: Float = 0
                for j in 0..<c { dot += dyr[j] * w[j] * xr[j] }
                let k = dot * rs * rs / Float(c)
                for j in 0..<c { dxr[j] += rs * (dyr[j] * w[j] - xr[j] * k) }
            }
        }
    }
    if let dw {
        // Threads split the columns, not the rows: each column's sum runs over the rows in order
        // on one thread, so dw has the same bits on any thread count (a per-thread row split
        // made Block-AP's results depend on QAT_THREADS).
        parallelFor(c, costPerItem: rows) { cols in
            let n = cols.count
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: n)   // (n): this range's column sums
            acc.initialize(repeating: 0, count: n)
            defer { acc.deallocate() }
            for row in 0..<rows {
                let xr = x + row * c + cols.lowerBound, dyr = dy + row * c + cols.lowerBound, rs = rstd[row]
                for j in 0..<n { acc[j] += dyr[j] * xr[j] * rs }
            }
            for j in 0..<n { dw[cols.lowerBound + j] += acc[j] }
        }
    }
}

/// Reference RMSNorm in Double: the oracle for rmsnormForward.
public func rmsnormReference(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, eps: Float,
                             _ y: UnsafeMutablePointer<Float>, rows: Int, c: Int) {
    for row in 0..<rows {
        var ss = 0.0
        for j in 0..<c { ss += Double(x[row * c + j]) * Double(x[row * c + j]) }
        let rs = 1 / (ss / Double(c) + Double(eps)).squareRoot()
        for j in 0..<c { y[row * c + j] = Float(Double(x[row * c + j]) * rs * Double(w[j])) }
    }
}

extension Tensor {
    /// RMSNorm over the last axis with gain `weight` (C).
    public func rmsNorm(weight: Tensor, eps: Float) throws -> Tensor {
        guard let c = shape.last, weight.shape == [c] else {
            throw TensorError.shapeMismatch(op: "rmsnorm", lhs: shape, rhs: weight.shape, hint: "the gain must have shape [last dim]")
        }
        let out = Tensor(uninitialized: shape)
        let rows = c == 0 ? 0 : count / c
        let rstd = Tensor(uninitialized: [rows])
        rmsnormForward(data, weight.data, eps: eps, out.data, rstd.data, rows: rows, c: c)
        return out
    }
}
