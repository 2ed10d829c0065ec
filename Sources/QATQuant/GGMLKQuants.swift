// llama.cpp's reference quantizers of the k-quants (ggml-quants.c quantize_row_q{2..6}_K_ref,
// no importance matrix), written anew from their description: one 256-element super-block ->
// its GGMLBlock. Each is a search for sub-block scales (and mins), then the scales are rounded
// onto the super-block's integer grid against fp16 d (and dmin), then every element is re-rounded
// against its sub-block's now-final scale:
//   q2_k  16 sub-blocks of 16: fitScaleMin(nmax 3, weights |x|, rmin -0.5, rdelta 0.1, 15 steps,
//         absolute error); scales and mins to 4 bits against max/15
//   q3_k  16 sub-blocks of 16: fitSymmetricIterative(nmax 4); scales to 6 signed bits against
//         the scale of largest magnitude / -32
//   q4_k  8 sub-blocks of 32: fitScaleMin(nmax 15, weights sqrt(mean x^2) + |x|, rmin -1,
//         rdelta 0.1, 20 steps, squared error); scales and mins to 6 bits against max/63
//   q5_k  as q4_k with nmax 31, rmin -0.5, 15 steps
//   q6_k  16 sub-blocks of 16: fitSymmetric(nmax 32, weights x^2); scales to int8 against
//         the scale of largest magnitude / -128
// Bit-exactness with the C reference needs every fp32 operation in its order (a*b*c is (a*b)*c,
// an int operand converted first) and C's integer conversions: nearestInt is ggml's nearest_int
// (round half to even through the 1.5 * 2^23 trick), and a value stored into a uint8_t / int8_t
// field wraps (truncatingIfNeeded). Swift does not contract a*b+c into an FMA.
import QATTensor

enum GGMLKQuants {
    /// The element of largest magnitude (the first one on ties, as ggml's loops keep it): its
    /// magnitude and its signed value; (0, 0) when every element is 0.
    static func largestMagnitude(_ x: UnsafePointer<Float>, n: Int) -> (magnitude: Float, value: Float) {
        var amax: Float = 0, value: Float = 0
        for i in 0..<n where x[i].magnitude > amax { amax = x[i].magnitude; value = x[i] }
        return (amax, value)
    }

    /// ggml's nearest_int: round half to even by adding 1.5 * 2^23 (|f| <= 2^22 - 1).
    @inline(__always)
    static func nearestInt(_ f: Float) -> Int {
        let v = f + 12_582_912
        return Int(Int32(bitPattern: v.bitPattern & 0x007F_FFFF)) - 0x0040_0000
    }

    @inline(__always) static func half(_ f: Float) -> UInt16 { HalfFloat.half(from: f) }
    @inline(__always) static func float(_ h: UInt16) -> Float { HalfFloat.float(fromHalf: h) }

    /// make_qkx2_quants: codes 0...nmax and (scale, -min) for x[0..<n] minimising the weighted
    /// error of scale * L + min over nstep + 1 trial scales around nmax / (max - min).
    static func fitScaleMin(_ x: UnsafePointer<Float>, n: Int, nmax: Int, weights w: [Float], L: inout [UInt8], offset: Int,
                            rmin: Float, rdelta: Float, nstep: Int, absolute: Bool) -> (scale: Float, negMin: Float) {
        var lo = x[0], hi = x[0], sumW = w[0], sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lo { lo = x[i] }
            if x[i] > hi { hi = x[i] }
            sumW += w[i]; sumX += w[i] * x[i]
        }
        if lo > 0 { lo = 0 }
        if hi == lo {
            for i in 0..<n { L[offset + i] = 0 }
            return (0, -lo)
        }
        var iscale = Float(nmax) / (hi - lo), scale = 1 / iscale, bestError: Float = 0
        for i in 0..<n {
            L[offset + i] = UInt8(max(0, min(nmax, nearestInt(iscale * (x[i] - lo)))))
            var diff = scale * Float(L[offset + i]) + lo - x[i]
            diff = absolute ? diff.magnitude : diff * diff
            bestError += w[i] * diff
        }
        if nstep < 1 { return (scale, -lo) }
        var aux = [UInt8](repeating: 0, count: n)
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = max(0, min(nmax, nearestInt(iscale * (x[i] - lo))))
                aux[i] = UInt8(l)
                sumL += w[i] * Float(l); sumL2 += w[i] * Float(l) * Float(l); sumXL += w[i] * Float(l) * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            guard D > 0 else { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            if thisMin > 0 { thisMin = 0; thisScale = sumXL / sumL2 }
            var error: Float = 0
            for i in 0..<n {
                var diff = thisScale * Float(aux[i]) + thisMin - x[i]
                diff = absolute ? diff.magnitude : diff * diff
                error += w[i] * diff
            }
            if error < bestError {
                for i in 0..<n { L[offset + i] = aux[i] }
                bestError = error; scale = thisScale; lo = thisMin
            }
        }
        return (scale, -lo)
    }

    /// make_q3_quants with its rmse search: codes -nmax...nmax-1 (stored + nmax) and the scale,
    /// refined by moving single codes while the x^2-weighted fit improves (at most 5 passes).
    static func fitSymmetricIterative(_ x: UnsafePointer<Float>, n: Int, nmax: Int, L: inout [Int], offset: Int) -> Float {
        let (amax, maxv) = largestMagnitude(x, n: n)
        if amax < 1e-15 {
            for i in 0..<n { L[offset + i] = 0 }
            return 0
        }
        let iscale = Float(-nmax) / maxv
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
            L[offset + i] = l
            let w = x[i] * x[i]
            sumLX += w * x[i] * Float(l); sumL2 += w * Float(l) * Float(l)
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i], li = Float(L[offset + i])
                var slx = sumLX - w * x[i] * li
                guard slx > 0 else { continue }
                var sl2 = sumL2 - w * li * li
                let newL = max(-nmax, min(nmax - 1, nearestInt(x[i] * sl2 / slx)))
                guard newL != L[offset + i] else { continue }
                slx += w * x[i] * Float(newL); sl2 += w * Float(newL) * Float(newL)
                if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                    L[offset + i] = newL; sumLX = slx; sumL2 = sl2
                    changed += 1
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { L[offset + i] += nmax }
        return sumL2 > 0 ? sumLX / sumL2 : 0
    }

    /// make_qx_quants with rmse_type 1 (weights x^2): codes -nmax...nmax-1 (stored + nmax) and
    /// the best least-squares scale over 19 trial scales around nmax / max.
    static func fitSymmetric(_ x: UnsafePointer<Float>, n: Int, nmax: Int, L: inout [Int], offset: Int) -> Float {
        let (amax, maxv) = largestMagnitude(x, n: n)
        if amax < 1e-15 {
            for i in 0..<n { L[offset + i] = 0 }
            return 0
        }
        func sums(_ iscale: Float) -> (Float, Float) {
            var sumLX: Float = 0, sumL2: Float = 0
            for i in 0..<n {
                let l = Float(max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))), w = x[i] * x[i]
                sumLX += w * x[i] * l; sumL2 += w * l * l
            }
            return (sumLX, sumL2)
        }
        func setCodes(_ iscale: Float) {
            for i in 0..<n { L[offset + i] = nmax + max(-nmax, min(nmax - 1, nearestInt(iscale * x[i]))) }
        }
        var iscale = Float(-nmax) / maxv
        setCodes(iscale)
        var (sumLX, sumL2) = sums(iscale)
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for trial in -9...9 where trial != 0 {
            iscale = -(Float(nmax) + 0.1 * Float(trial)) / maxv
            (sumLX, sumL2) = sums(iscale)
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                setCodes(iscale)
                scale = sumLX / sumL2; best = scale * sumLX
            }
        }
        return scale
    }
}
