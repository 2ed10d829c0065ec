// Group-wise weight quantization kernels (EfficientQAT, docs/efficientqat.md 2.3-2.5), forward and backward side by
// side, each fast kernel next to its plain per-element reference (the test oracle). These are the
// `.asymmetric` kernels the QuantGrid rows int_asym and int_asym_fractional_zero select
// (QuantGrid.swift; the layout's roundsZeros comes from the row).
//
//   w, out, g, dw: (rows, cols)   s, z, ds, dz: (rows, groups), groups = ceil(cols / gsize); the
//   last group of a row is shorter when gsize does not divide cols. codes: (rows, cols) UInt8.
//
// Fake quantization (Block-AP):
//   s' = clamp(s, 1e-4, 1e4)   z' = clamp(round(z), 0, qmax)   x = w / s'   r = round(x)
//   u = r + z'   c = clamp(u, 0, qmax)   out = (c - z') * s'        round: half to even
// Its backward (docs/efficientqat.md 2.4, LSQ+ form without LSQ's gradient scale). The round of x and the clamps
// and round of s and z are straight-through; the clamp of u is a true clamp, inclusive inside:
//   inside (0 <= u <= qmax):  dw += g    ds += g * (r - x)       dz += 0
//   below  (u < 0):           dw += 0    ds += g * (-z')         dz += g * (-s')
//   above  (u > qmax):        dw += 0    ds += g * (qmax - z')   dz += g * (-s')
// dz outside is -s' (the autograd result of the reference code; the paper's "-1" is a typo).
// Since c - z' is r inside, -z' below and qmax - z' above: ds += g * ((c - z') - (inside ? x : 0)).
//
// Hard quantization (E2E-QP): codes q = c above, stored as integers; out = (q - z') * s'. Nothing
// rounds in that forward, so its gradients are ds += g * (q - z') and dz += g * (-s'). E2E-QP
// trains s only (docs/efficientqat.md 4.1); dz is there for the paper's "train z too" ablation and matches the
// fake-mode dz outside the range (z' enters out as -z' * s' either way).
//
// Fast kernels run in parallel over rows and in SIMD8 lanes over a group (the ds/dz sums are
// lane-wise, so they vectorize without reassociation flags); per element they compute exactly
// the reference's operations, so forward outputs and codes are bit-identical to the reference and
// gradients differ only by summation order.
import QATTensor

/// Rows, columns and the group geometry of one (out, in) weight.
public struct QuantLayout: Sendable, Equatable {
    public let rows: Int, cols: Int
    /// Columns per group (the last group may be shorter) and groups per row.
    public let groupSize: Int
    public private(set) var groups: Int
    /// Largest code, 2^bits - 1.
    public let qmax: Int
    /// false: zero points are used as stored, clamped to [0, qmax] but not rounded (E2E-QP training
    /// z as a real number, the paper's fp16 zero; hard dequantization only). The grid's kernel
    /// selection (QuantGrid.roundsZeros); a plain Bool so the kernels' inner loops stay as they were.
    public var roundsZeros = true

    /// Contiguous groups of `spec.groupSize` columns (-1: whole rows), on `grid`'s kernel.
    public init(rows: Int, cols: Int, spec: QuantSpec, grid: QuantGrid = .intAsym) {
        self.rows = rows; self.cols = cols
        self.roundsZeros = grid.roundsZeros
        self.groupSize = max(1, spec.effectiveGroupSize(inFeatures: cols))
        self.groups = cols == 0 ? 0 : spec.groupCount(inFeatures: cols)
        self.qmax = spec.qmax
    }

    /// A layout whose groups are given by a column -> group map (GPTQ act-order): `groups` per row.
    public init(rows: Int, cols: Int, spec: QuantSpec, groups: Int, grid: QuantGrid = .intAsym) {
        self.init(rows: rows, cols: cols, spec: spec, grid: grid)
        self.groups = groups
    }

    /// Scale / zero elements: rows * groups.
    public var parameterCount: Int { rows * groups }

    /// z' as the dequantization uses it: clamp(round(z), 0, qmax), or clamp(z, 0, qmax) when the
    /// zero points are fractional.
    @inline(__always)
    public func zero(_ z: Float) -> Float { effectiveZero(z, qmax: qmax, fractional: !roundsZeros) }

    /// Columns of group `g` of every row.
    @inline(__always)
    public func columns(ofGroup g: Int) -> Range<Int> { (g * groupSize)..<min((g + 1) * groupSize, cols) }
}

/// s' = clamp(s, 1e-4, 1e4): the scale the forward uses.
@inline(__always)
public func effectiveScale(_ s: Float) -> Float { min(max(s, 1e-4), 1e4) }

/// z' = clamp(round(z), 0, qmax): the zero point the forward uses.
@inline(__always)
public func effectiveZero(_ z: Float, qmax: Int) -> Float { min(max(z.rounded(.toNearestOrEven), 0), Float(qmax)) }

/// z' for hard dequantization: clamp(z, 0, qmax) when the zero points are fractional (E2E-QP
/// training z), else clamp(round(z), 0, qmax).
@inline(__always)
public func effectiveZero(_ z: Float, qmax: Int, fractional: Bool) -> Float {
    fractional ? min(max(z, 0), Float(qmax)) : effectiveZero(z, qmax: qmax)
}

typealias F8 = SIMD8<Float>

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> F8 { UnsafeRawPointer(p).loadUnaligned(as: F8.self) }
@inline(__always) func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self) }

/// clamp(u, 0, qmax) lane-wise, inline (SIMD.clamped calls out of line).
@inline(__always) func clampCode(_ u: F8, _ qv: F8) -> F8 { u.replacing(with: 0, where: u .< 0).replacing(with: qv, where: u .> qv) }

// MARK: - Fake quantization

/// out = fakequant(w); w, out: (rows, cols); s, z: (rows, groups).
public func fakeQuantForward(_ w: UnsafePointer<Float>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                             _ out: UnsafeMutablePointer<Float>, layout l: QuantLayout) {
    parallelFor(l.rows, costPerItem: 4 * l.cols) { rows in
        for row in rows {
            for gi in 0..<l.groups {
                let cols = l.columns(ofGroup: gi), p = row * l.groups + gi
                fakeQuantSpan(w + row * l.cols + cols.lowerBound, out + row * l.cols + cols.lowerBound, n: cols.count,
                              s: effectiveScale(s[p]), z: effectiveZero(z[p], qmax: l.qmax), qmax: Float(l.qmax))
            }
        }
    }
}

/// One group: out[j] = (clamp(round(w[j] / s) + z, 0, qmax) - z) * s, s and z already effective.
@inline(__always)
func fakeQuantSpan(_ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, n: Int, s: Float, z: Float, qmax: Float) {
    let sv = F8(repeating: s), zv = F8(repeating: z), qv = F8(repeating: qmax)
    var j = 0
    while j + 8 <= n {
        let c = clampCode((load8(w + j) / sv).rounded(.toNearestOrEven) + zv, qv)
        store8((c - zv) * sv, out + j)
        j += 8
    }
    while j < n {
        let c = min(max((w[j] / s).rounded(.toNearestOrEven) + z, 0), qmax)
        out[j] = (c - z) * s
        j += 1
    }
}

/// Accumulates dw (rows, cols), ds and dz (rows, groups) from g (rows, cols) in one pass over w.
/// Any of dw, ds, dz may be nil (frozen).
public func fakeQuantBackward(_ w: UnsafePointer<Float>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                              _ g: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>?, ds: UnsafeMutablePointer<Float>?,
                              dz: UnsafeMutablePointer<Float>?, layout l: QuantLayout) {
    if dw == nil && ds == nil && dz == nil { return }
    parallelFor(l.rows, costPerItem: 6 * l.cols) { rows in
        for row in rows {
            for gi in 0..<l.groups {
                let cols = l.columns(ofGroup: gi), p = row * l.groups + gi, off = row * l.cols + cols.lowerBound
                let sp = effectiveScale(s[p])
                let zp = effectiveZero(z[p], qmax: l.qmax), n = cols.count, qmax = Float(l.qmax)
                // two inlined copies, so the loop has no per-element test of whether dW is wanted
                let sums: (Float, Float)
                if let dw { sums = fakeQuantBackwardSpan(w + off, g + off, dw: dw + off, n: n, s: sp, z: zp, qmax: qmax) }
                else { sums = fakeQuantBackwardSpan(w + off, g + off, dw: nil, n: n, s: sp, z: zp, qmax: qmax) }
                let (dsSum, outsideSum) = sums
                ds?[p] += dsSum
                dz?[p] += -sp * outsideSum
            }
        }
    }
}

/// One group: accumulates dw and returns (sum of g * dW-hat/ds, sum of g over the elements outside the range).
@inline(__always)
func fakeQuantBackwardSpan(_ w: UnsafePointer<Float>, _ g: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>?,
                           n: Int, s: Float, z: Float, qmax: Float) -> (Float, Float) {
    let sv = F8(repeating: s), zv = F8(repeating: z), qv = F8(repeating: qmax)
    var dsAcc = F8(), outAcc = F8()
    var j = 0
    while j + 8 <= n {
        let x = load8(w + j) / sv
        let u = x.rounded(.toNearestOrEven) + zv
        let inside = (u .>= 0) .& (u .<= qv)
        let gv = load8(g + j)
        let gOut = gv.replacing(with: 0, where: inside)
        dsAcc += gv * ((clampCode(u, qv) - zv) - F8(repeating: 0).replacing(with: x, where: inside))
        outAcc += gOut
        if let dw { store8(load8(dw + j) + F8(repeating: 0).replacing(with: gv, where: inside), dw + j) }
        j += 8
    }
    var dsSum = dsAcc.sum(), outSum = outAcc.sum()
    while j < n {
        let x = w[j] / s
        let u = x.rounded(.toNearestOrEven) + z
        let inside = u >= 0 && u <= qmax
        dsSum += g[j] * ((min(max(u, 0), qmax) - z) - (inside ? x : 0))
        if inside { dw?[j] += g[j] } else { outSum += g[j] }
        j += 1
    }
    return (dsSum, outSum)
}

/// Reference forward: the spec's formula per element, group found per column.
public func fakeQuantForwardReference(_ w: UnsafePointer<Float>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                                      _ out: UnsafeMutablePointer<Float>, layout l: QuantLayout) {
    let qmax = Float(l.qmax)
    for row in 0..<l.rows {
        for col in 0..<l.cols {
            let p = row * l.groups + col / l.groupSize
            let sp = min(max(s[p], 1e-4), 1e4)
            let zp = min(max(z[p].rounded(.toNearestOrEven), 0), qmax)
            let q = min(max((w[row * l.cols + col] / sp).rounded(.toNearestOrEven) + zp, 0), qmax)
            out[row * l.cols + col] = (q - zp) * sp
        }
    }
}

/// Reference backward: the spec's three-case table per element, sums in Double.
public func fakeQuantBackwardReference(_ w: UnsafePointer<Float>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                                       _ g: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>?, ds: UnsafeMutablePointer<Float>?,
                                       dz: UnsafeMutablePointer<Float>?, layout l: QuantLayout) {
    let qmax = Float(l.qmax)
    var dsD = [Double](repeating: 0, count: l.parameterCount), dzD = dsD
    for row in 0..<l.rows {
        for col in 0..<l.cols {
            let i = row * l.cols + col, p = row * l.groups + col / l.groupSize
            let sp = min(max(s[p], 1e-4), 1e4)
            let zp = min(max(z[p].rounded(.toNearestOrEven), 0), qmax)
            let x = w[i] / sp, r = x.rounded(.toNearestOrEven), u = r + zp, gi = Double(g[i])
            if u < 0 {
                dsD[p] += gi * Double(-zp); dzD[p] += gi * Double(-sp)
            } else if u > qmax {
                dsD[p] += gi * Double(qmax - zp); dzD[p] += gi * Double(-sp)
            } else {
                dw?[i] += g[i]
                dsD[p] += gi * (Double(r) - Double(x))
            }
        }
    }
    for p in 0..<l.parameterCount {
        ds?[p] += Float(dsD[p]); dz?[p] += Float(dzD[p])
    }
}

// MARK: - Hard quantization

/// codes = clamp(round(w / s') + z', 0, qmax) as integers; the exact codes of fakeQuantForward.
public func quantizeCodes(_ w: UnsafePointer<Float>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                          _ codes: UnsafeMutablePointer<UInt8>, layout l: QuantLayout) {
    let qmax = Float(l.qmax)
    parallelFor(l.rows, costPerItem: 4 * l.cols) { rows in
        for row in rows {
            for gi in 0..<l.groups {
                let p = row * l.groups + gi, sp = effectiveScale(s[p]), zp = effectiveZero(z[p], qmax: l.qmax)
                for col in l.columns(ofGroup: gi) {
                    let c = min(max((w[row * l.cols + col] / sp).rounded(.toNearestOrEven) + zp, 0), qmax)
                    codes[row * l.cols + col] = UInt8(c)   // safe: c in 0...qmax, inputs finite (hardQuantize checks)
                }
            }
        }
    }
}

/// out = (q - z') * s'; codes, out: (rows, cols). `groupIndex` (cols), when given, maps each
/// column to its group (GPTQ act-order); otherwise groups are contiguous as in `l`.
public func dequantForward(_ codes: UnsafePointer<UInt8>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                           groupIndex: UnsafePointer<Int32>?, _ out: UnsafeMutablePointer<Float>, layout l: QuantLayout) {
    parallelFor(l.rows, costPerItem: 2 * l.cols) { rows in
        for row in rows {
            let q = codes + row * l.cols, o = out + row * l.cols, sr = s + row * l.groups, zr = z + row * l.groups
            if let groupIndex {
                for col in 0..<l.cols {
                    let p = Int(groupIndex[col])
                    let zp = l.zero(zr[p])
                    o[col] = (Float(q[col]) - zp) * effectiveScale(sr[p])
                }
                continue
            }
            for gi in 0..<l.groups {
                let sp = effectiveScale(sr[gi]), zp = l.zero(zr[gi])
                for col in l.columns(ofGroup: gi) { o[col] = (Float(q[col]) - zp) * sp }
            }
        }
    }
}

/// Reference dequantization: (q - z') * s' per element, group found per column.
public func dequantForwardReference(_ codes: UnsafePointer<UInt8>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                                    groupIndex: UnsafePointer<Int32>?, _ out: UnsafeMutablePointer<Float>, layout l: QuantLayout) {
    for row in 0..<l.rows {
        for col in 0..<l.cols {
            let p = row * l.groups + (groupIndex.map { Int($0[col]) } ?? col / l.groupSize)
            let sp = min(max(s[p], 1e-4), 1e4), zp = min(max(l.roundsZeros ? z[p].rounded(.toNearestOrEven) : z[p], 0), Float(l.qmax))
            out[row * l.cols + col] = (Float(codes[row * l.cols + col]) - zp) * sp
        }
    }
}

/// Accumulates ds += g * (q - z') and dz += g * (-s') (rows, groups); either may be nil.
public func dequantBackward(_ codes: UnsafePointer<UInt8>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                            groupIndex: UnsafePointer<Int32>?, _ g: UnsafePointer<Float>, ds: UnsafeMutablePointer<Float>?,
                            dz: UnsafeMutablePointer<Float>?, layout l: QuantLayout) {
    if ds == nil && dz == nil { return }
    parallelFor(l.rows, costPerItem: 3 * l.cols) { rows in
        for row in rows {
            let q = codes + row * l.cols, gr = g + row * l.cols, p0 = row * l.groups
            if let groupIndex {
                for col in 0..<l.cols {
                    let p = p0 + Int(groupIndex[col])
                    ds?[p] += gr[col] * (Float(q[col]) - l.zero(z[p]))
                    dz?[p] += gr[col] * -effectiveScale(s[p])
                }
                continue
            }
            for gi in 0..<l.groups {
                let cols = l.columns(ofGroup: gi)
                let (gq, gSum) = dotCodes(q + cols.lowerBound, gr + cols.lowerBound, n: cols.count)
                let zp = l.zero(z[p0 + gi])
                ds?[p0 + gi] += gq - zp * gSum          // sum g * (q - z') = sum g*q - z' * sum g
                dz?[p0 + gi] += -effectiveScale(s[p0 + gi]) * gSum
            }
        }
    }
}

/// (sum g[j] * q[j], sum g[j]) over one group, lane-wise.
@inline(__always)
func dotCodes(_ q: UnsafePointer<UInt8>, _ g: UnsafePointer<Float>, n: Int) -> (Float, Float) {
    var gqAcc = F8(), gAcc = F8()
    var j = 0
    while j + 8 <= n {
        let gv = load8(g + j)
        gqAcc += gv * F8(UnsafeRawPointer(q + j).loadUnaligned(as: SIMD8<UInt8>.self))
        gAcc += gv
        j += 8
    }
    var gq = gqAcc.sum(), gs = gAcc.sum()
    while j < n { gq += g[j] * Float(q[j]); gs += g[j]; j += 1 }
    return (gq, gs)
}

/// Reference dequantization backward: ds += g * (q - z'), dz += g * (-s') per element, in Double.
public func dequantBackwardReference(_ codes: UnsafePointer<UInt8>, scales s: UnsafePointer<Float>, zeros z: UnsafePointer<Float>,
                                     groupIndex: UnsafePointer<Int32>?, _ g: UnsafePointer<Float>, ds: UnsafeMutablePointer<Float>?,
                                     dz: UnsafeMutablePointer<Float>?, layout l: QuantLayout) {
    var dsD = [Double](repeating: 0, count: l.parameterCount), dzD = dsD
    for row in 0..<l.rows {
        for col in 0..<l.cols {
            let i = row * l.cols + col
            let p = row * l.groups + (groupIndex.map { Int($0[col]) } ?? col / l.groupSize)
            let sp = min(max(s[p], 1e-4), 1e4), zp = min(max(l.roundsZeros ? z[p].rounded(.toNearestOrEven) : z[p], 0), Float(l.qmax))
            dsD[p] += Double(g[i]) * (Double(codes[i]) - Double(zp))
            dzD[p] += Double(g[i]) * Double(-sp)
        }
    }
    for p in 0..<l.parameterCount { ds?[p] += Float(dsD[p]); dz?[p] += Float(dzD[p]) }
}
