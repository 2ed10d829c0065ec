// One row through a weight matrix: the matmuls of a decoding step.
//   w: (rows, cols) row-major (a linear's (out, in) weight)   x: (cols)   y: (rows) = w x
// A decoding step reads every weight once for one row, so it is bound by memory bandwidth: a
// plain threaded loop of dot products streams each weight once (sgemm's packing of the weight
// buys nothing for one row; the two were not compared here).
// Threads split the rows and each y[i] is one dot product computed the same way whatever the
// split, so the bits do not depend on the thread count.

public func matvec(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    parallelFor(rows, costPerItem: cols) { range in
        for i in range { y[i] = wideDot(w + i * cols, x, cols) }
    }
}

/// Sum of a[e] * b[e] with four independent eight-lane accumulators (one would stall on the
/// latency of its own fused multiply-adds), then an eight-lane and a scalar tail.
@inline(__always)
func wideDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b), stride = MemoryLayout<Float>.stride
    var s0 = SIMD8<Float>(repeating: 0), s1 = s0, s2 = s0, s3 = s0
    var e = 0
    while e + 32 <= n {
        s0 = s0.addingProduct(ra.loadUnaligned(fromByteOffset: e * stride, as: SIMD8<Float>.self),
                              rb.loadUnaligned(fromByteOffset: e * stride, as: SIMD8<Float>.self))
        s1 = s1.addingProduct(ra.loadUnaligned(fromByteOffset: (e + 8) * stride, as: SIMD8<Float>.self),
                              rb.loadUnaligned(fromByteOffset: (e + 8) * stride, as: SIMD8<Float>.self))
        s2 = s2.addingProduct(ra.loadUnaligned(fromByteOffset: (e + 16) * stride, as: SIMD8<Float>.self),
                              rb.loadUnaligned(fromByteOffset: (e + 16) * stride, as: SIMD8<Float>.self))
        s3 = s3.addingProduct(ra.loadUnaligned(fromByteOffset: (e + 24) * stride, as: SIMD8<Float>.self),
                              rb.loadUnaligned(fromByteOffset: (e + 24) * stride, as: SIMD8<Float>.self))
        e += 32
    }
    while e + 8 <= n {
        s0 = s0.addingProduct(ra.loadUnaligned(fromByteOffset: e * stride, as: SIMD8<Float>.self),
                              rb.loadUnaligned(fromByteOffset: e * stride, as: SIMD8<Float>.self))
        e += 8
    }
    var total = ((s0 + s1) + (s2 + s3)).sum()
    while e < n { total += a[e] * b[e]; e += 1 }
    return total
}

/// The plain loop in Double that matvec is tested against.
public func matvecReference(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    for i in 0..<rows {
        var s = 0.0
        for e in 0..<cols { s += Double(w[i * cols + e]) * Double(x[e]) }
        y[i] = Float(s)
    }
}
