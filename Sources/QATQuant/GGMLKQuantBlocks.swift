// The k-quant super-block quantizers over the fits of GGMLKQuants.swift (see its header for the
// algorithm and why every operation is written in the reference's order). A sub-block whose
// final scale d * sc is 0 keeps the codes its fit chose, as the reference does.
import QATTensor

extension GGMLKQuants {
    static let q2_k: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { x in
        var L = [UInt8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16), mins = scales
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<16 {
            let w = (0..<16).map { x[16 * j + $0].magnitude }
            (scales[j], mins[j]) = fitScaleMin(x + 16 * j, n: 16, nmax: 3, weights: w, L: &L, offset: 16 * j,
                                               rmin: -0.5, rdelta: 0.1, nstep: 15, absolute: true)
            if scales[j] > maxScale { maxScale = scales[j] }
            if mins[j] > maxMin { maxMin = mins[j] }
        }
        // the packed byte per sub-block as the reference builds it: scale, then min << 4 OR'd in
        var packed = [UInt8](repeating: 0, count: 16)
        var block = GGMLBlock()
        if maxScale > 0 {
            let iscale = 15 / maxScale
            for j in 0..<16 { packed[j] = UInt8(truncatingIfNeeded: nearestInt(iscale * scales[j])) }
            block.d = half(maxScale / 15)
        }
        if maxMin > 0 {
            let iscale = 15 / maxMin
            for j in 0..<16 { packed[j] |= UInt8(truncatingIfNeeded: nearestInt(iscale * mins[j]) << 4) }
            block.m = half(maxMin / 15)
        }
        block.scales = packed.map { Int($0 & 0x0F) }
        block.mins = packed.map { Int($0 >> 4) }
        for j in 0..<16 {
            let d = float(block.d) * Float(block.scales[j])
            if d == 0 { continue }
            let dm = float(block.m) * Float(block.mins[j])
            for i in 0..<16 { L[16 * j + i] = UInt8(max(0, min(3, nearestInt((x[16 * j + i] + dm) / d)))) }
        }
        block.codes = L
        return block
    }

    static let q3_k: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { x in
        var L = [Int](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        for j in 0..<16 {
            scales[j] = fitSymmetricIterative(x + 16 * j, n: 16, nmax: 4, L: &L, offset: 16 * j)
        }
        let maxScale = scales.withUnsafeBufferPointer { p in p.baseAddress.map { largestMagnitude($0, n: 16).value } ?? 0 }
        var block = GGMLBlock(scales: [Int](repeating: 0, count: 16))
        if maxScale != 0 {
            let iscale = -32 / maxScale
            for j in 0..<16 {
                let l = Int(Int8(truncatingIfNeeded: nearestInt(iscale * scales[j])))
                block.scales[j] = max(-32, min(31, l)) + 32
            }
            block.d = half(1 / iscale)
        }
        for j in 0..<16 {
            let d = float(block.d) * Float(block.scales[j] - 32)
            if d == 0 { continue }
            for i in 0..<16 { L[16 * j + i] = max(-4, min(3, nearestInt(x[16 * j + i] / d))) + 4 }
        }
        block.codes = L.map { UInt8(truncatingIfNeeded: $0) }
        return block
    }

    /// q4_k and q5_k: eight sub-blocks of 32 with 6-bit scales and mins.
    static func scaleMinBlock(_ x: UnsafePointer<Float>, nmax: Int, rmin: Float, nstep: Int) -> GGMLBlock {
        var L = [UInt8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 8), mins = scales
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            var sumX2: Float = 0
            for l in 0..<32 { sumX2 += x[32 * j + l] * x[32 * j + l] }
            let avX = (sumX2 / 32).squareRoot()
            let w = (0..<32).map { avX + x[32 * j + $0].magnitude }
            (scales[j], mins[j]) = fitScaleMin(x + 32 * j, n: 32, nmax: nmax, weights: w, L: &L, offset: 32 * j,
                                               rmin: rmin, rdelta: 0.1, nstep: nstep, absolute: false)
            if scales[j] > maxScale { maxScale = scales[j] }
            if mins[j] > maxMin { maxMin = mins[j] }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0, invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        var block = GGMLBlock()
        // stored into uint8_t fields, then capped at 63
        block.scales = scales.map { Int(min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * $0)))) }
        block.mins = mins.map { Int(min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * $0)))) }
        block.d = half(maxScale / 63); block.m = half(maxMin / 63)
        for j in 0..<8 {
            let d = float(block.d) * Float(block.scales[j])
            if d == 0 { continue }
            let dm = float(block.m) * Float(block.mins[j])
            for i in 0..<32 { L[32 * j + i] = UInt8(max(0, min(nmax, nearestInt((x[32 * j + i] + dm) / d)))) }
        }
        block.codes = L
        return block
    }

    static let q4_k: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { scaleMinBlock($0, nmax: 15, rmin: -1, nstep: 20) }
    static let q5_k: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { scaleMinBlock($0, nmax: 31, rmin: -0.5, nstep: 15) }

    static let q6_k: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { x in
        var L = [Int](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        for j in 0..<16 {
            scales[j] = fitSymmetric(x + 16 * j, n: 16, nmax: 32, L: &L, offset: 16 * j)
        }
        let (maxAbs, maxScale) = scales.withUnsafeBufferPointer { p in p.baseAddress.map { largestMagnitude($0, n: 16) } ?? (0, 0) }
        // an all-zero super-block: every byte 0
        guard maxAbs >= 1e-15 else {
            return GGMLBlock(scales: [Int](repeating: 0, count: 16), codes: [UInt8](repeating: 0, count: 256))
        }
        let iscale = -128 / maxScale
        var block = GGMLBlock(d: half(1 / iscale))
        block.scales = scales.map { Int(Int8(truncatingIfNeeded: min(127, nearestInt(iscale * $0)))) }
        for j in 0..<16 {
            let d = float(block.d) * Float(block.scales[j])
            if d == 0 { continue }
            for i in 0..<16 { L[16 * j + i] = max(-32, min(31, nearestInt(x[16 * j + i] / d))) + 32 }
        }
        block.codes = L.map { UInt8(truncatingIfNeeded: $0) }
        return block
    }
}
