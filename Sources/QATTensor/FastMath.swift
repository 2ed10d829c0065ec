// Vectorizable exp for the hot loops (softmax, SiLU, cross-entropy).
//
// libm's expf is an opaque call that stops the loop from vectorizing; this version is plain
// arithmetic (Cody-Waite range reduction x = n*ln2 + r, a degree-6 polynomial for e^r on
// |r| <= ln2/2, and 2^n put into the exponent bits). Relative error below 2e-7 on [-87, 88]
// (tested against expf in NNKernelTests); inputs below -87.3 give 0 and above 88.7 give +inf,
// and NaN gives NaN, as expf does. A NaN never reaches the Int32 conversion (which would trap):
// the clamp below is written so that it yields a number for NaN (Swift's max(a, b) returns a
// when b >= a fails), and the last select puts the NaN back.
//
// The scalar fastExp is the definition. LLVM does not vectorize loops over it (the rounding,
// the Int32 conversion and the selects stay scalar: ~3.6 ns per SwiGLU element), so the
// SIMD8 overloads below do the same IEEE operations lane by lane (same constants, same order,
// no fused multiply-add, the rounding to an integer and the 2^n bits computed exactly another
// way), and give the same bits: FastMathTests checks every lane against the scalar function.

@inline(__always)
public func fastExp(_ x: Float) -> Float {
    let xc = min(88.72283, max(-87.33654, x))
    let n = (xc * 1.442695041).rounded(.toNearestOrEven)
    // r = x - n*ln2 in two steps, so r keeps its low bits.
    var r = xc - n * 0.693359375
    r = r - n * (-2.12194440e-4)
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = (p * r * r) + r + 1
    let bits = UInt32(bitPattern: Int32(n) + 127) << 23
    let scaled = er * Float(bitPattern: bits)
    return x < -87.33654 ? 0 : (x > 88.72283 ? Float.infinity : (x.isNaN ? x : scaled))
}

/// Logistic sigmoid 1/(1+e^-x), through fastExp.
@inline(__always)
public func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }

/// Eight lanes of fastExp, bit for bit.
@inline(__always)
public func fastExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo = SIMD8<Float>(repeating: -87.33654), hi = SIMD8<Float>(repeating: 88.72283)
    // the scalar clamp's selects: max(lo, x) is x where x >= lo (so NaN gives lo), min(hi, .) below
    var xc = lo
    xc.replace(with: x, where: x .>= lo)
    xc.replace(with: hi, where: .!(xc .< hi))
    let n = (xc * 1.442695041).rounded(.toNearestOrEven)
    var r = xc - n * 0.693359375
    r = r - n * (-2.12194440e-4)
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = (p * r * r) + r + 1
    // 2^n: n + 127 is a whole number in 1...255, so (n + 127) + 2^23 is exact and its low
    // mantissa bits are n + 127; the scalar path gets the same integer through Int32(n).
    let biased = unsafeBitCast(n + 127 + 8_388_608, to: SIMD8<UInt32>.self) &- 0x4B00_0000
    let scaled = er * unsafeBitCast(biased &<< 23, to: SIMD8<Float>.self)
    var result = scaled
    result.replace(with: x, where: x .!= x)                    // NaN stays NaN
    result.replace(with: .infinity, where: x .> hi)
    result.replace(with: 0, where: x .< lo)
    return result
}

/// Eight lanes of fastSigmoid, bit for bit. The negation flips the sign bit as the scalar `-x`
/// does: SIMD8's prefix minus is 0 - x, which keeps a NaN's sign.
@inline(__always)
public func fastSigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let negated = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) ^ 0x8000_0000, to: SIMD8<Float>.self)
    return 1 / (1 + fastExp(negated))
}

/// Unaligned SIMD8 load and store for the kernels' loops over raw buffers.
@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self) }

/// y[i] = fastExp(x[i] - shift) for i in 0..<count (y may be x).
@inline(__always)
func fastExpShifted(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, shift: Float) {
    var i = 0
    while i + 8 <= count { store8(fastExp(load8(x + i) - shift), y + i); i += 8 }
    while i < count { y[i] = fastExp(x[i] - shift); i += 1 }
}

/// y[i] = scale * fastExp(x[i] - shift) + (accumulate ? y[i] : 0), i in 0..<count, element by
/// element as the plain loop `y[i] += scale * fastExp(x[i] - shift)` (or `=`) computes it.
@inline(__always)
func scaledFastExp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, shift: Float, scale: Float, accumulate: Bool) {
    var i = 0
    while i + 8 <= count {
        let e = scale * fastExp(load8(x + i) - shift)
        store8(accumulate ? load8(y + i) + e : e, y + i)
        i += 8
    }
    while i < count { let e = scale * fastExp(x[i] - shift); y[i] = accumulate ? y[i] + e : e; i += 1 }
}

/// y[i] = scale * (fastExp(x[i] / t - ls) - fastExp(z[i] / t - lz)) + (accumulate ? y[i] : 0):
/// distillation's gradient (p - q) element by element, as the plain loop computes it (y may be x).
@inline(__always)
func scaledExpDifference(_ x: UnsafePointer<Float>, _ z: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                         t: Float, ls: Float, lz: Float, scale: Float, accumulate: Bool) {
    var i = 0
    while i + 8 <= count {
        let d = scale * (fastExp(load8(x + i) / t - ls) - fastExp(load8(z + i) / t - lz))
        store8(accumulate ? load8(y + i) + d : d, y + i)
        i += 8
    }
    while i < count {
        let d = scale * (fastExp(x[i] / t - ls) - fastExp(z[i] / t - lz))
        y[i] = accumulate ? y[i] + d : d
        i += 1
    }
}

/// fastExpShifted, returning the sum of the y[i] accumulated in eight lanes (so not the
/// left-to-right sum of a scalar loop: for kernels whose rounding is not pinned, like attention).
@inline(__always)
func fastExpShiftedSum(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= count {
        let e = fastExp(load8(x + i) - shift)
        store8(e, y + i)
        acc += e
        i += 8
    }
    var sum = acc.sum()
    while i < count { let e = fastExp(x[i] - shift); y[i] = e; sum += e; i += 1 }
    return sum
}

/// The largest of x[0..<count], -inf when count is 0. NaNs are skipped, as the loop
/// `m = max(m, x[j])` skips them (Swift's max(a, b) keeps a unless b >= a); the maximum itself
/// does not depend on the order it is taken in.
@inline(__always)
func maxOf(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    while i + 8 <= count { let v = load8(x + i); acc.replace(with: v, where: v .>= acc); i += 8 }
    var m = -Float.infinity
    for lane in 0..<8 { m = max(m, acc[lane]) }
    while i < count { m = max(m, x[i]); i += 1 }
    return m
}
