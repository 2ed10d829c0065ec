// Vectorizable exp for the hot loops (softmax, SiLU, cross-entropy).
//
// libm's expf is an opaque call that stops the loop from vectorizing; this version is plain
// arithmetic (Cody-Waite range reduction x = n*ln2 + r, a degree-6 polynomial for e^r on
// |r| <= ln2/2, and 2^n put into the exponent bits), so LLVM turns a loop of it into AVX2 code.
// Relative error below 2e-7 on [-87, 88] (tested against expf in FastMathTests); inputs below
// -87.3 give 0 and above 88.7 give +inf, and NaN gives NaN, as expf does. A NaN never reaches
// the Int32 conversion (which would trap): the clamp below is written so that it yields a number
// for NaN (Swift's max(a, b) returns a when b >= a fails), and the last select puts the NaN back.

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
