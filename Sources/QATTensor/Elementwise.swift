// Elementwise arithmetic with NumPy broadcasting, and its reduction back to an operand's shape
// (the backward of a broadcast).
//
// Shapes broadcast from the right: dims are equal or one of them is 1; missing leading dims
// count as 1. Three paths, fastest first: equal shapes (one flat loop), `b` a suffix of `a`
// (a bias over rows), and the general N-d walk. The reference for all of them is the general
// walk, which tests compare the fast paths against.

public enum BinaryOp: String, Sendable, CaseIterable {
    case add, sub, mul, div, maximum, minimum
}

public enum UnaryOp: String, Sendable, CaseIterable {
    case neg, exp, log, sqrt, abs, square, silu, sigmoid, relu, reciprocal
}

extension Shape {
    /// The broadcast shape of `a` and `b`, or a shapeMismatch naming both.
    public static func broadcast(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            guard da == db || da == 1 || db == 1 else {
                throw TensorError.shapeMismatch(op: op, lhs: a, rhs: b,
                    hint: "dimension \(i) is \(da) vs \(db); broadcast dims must be equal or 1")
            }
            out[i] = max(da, db)
        }
        return out
    }

    /// Strides of `shape` seen inside `outShape` (0 on broadcast dims), aligned right.
    static func broadcastStrides(_ shape: [Int], in outShape: [Int]) -> [Int] {
        let own = strides(shape)
        let lead = outShape.count - shape.count
        return (0..<outShape.count).map { i in
            i < lead || shape[i - lead] == 1 ? 0 : own[i - lead]
        }
    }

    static func isSuffix(_ b: [Int], of a: [Int]) -> Bool {
        b.count <= a.count && Array(a.suffix(b.count)) == b
    }
}

@inline(__always)
func applyBinary(_ op: BinaryOp, _ x: Float, _ y: Float) -> Float {
    switch op {
    case .add: return x + y
    case .sub: return x - y
    case .mul: return x * y
    case .div: return x / y
    case .maximum: return max(x, y)
    case .minimum: return min(x, y)
    }
}

@inline(__always)
func applyUnary(_ op: UnaryOp, _ x: Float) -> Float {
    switch op {
    case .neg: return -x
    case .exp: return fastExp(x)
    case .log: return qlog(x)
    case .sqrt: return x.squareRoot()
    case .abs: return Swift.abs(x)
    case .square: return x * x
    case .silu: return x * fastSigmoid(x)
    case .sigmoid: return fastSigmoid(x)
    case .relu: return max(x, 0)
    case .reciprocal: return 1 / x
    }
}

/// Calls `f(outIndex, aIndex, bIndex)` for every element of `outShape`, innermost dim fastest.
@inline(__always)
func walkBroadcast(_ outShape: [Int], _ sa: [Int], _ sb: [Int], _ f: (Int, Int, Int) -> Void) {
    let r = outShape.count
    if r == 0 { f(0, 0, 0); return }
    let total = outShape.reduce(1, *)
    if total == 0 { return }
    var idx = [Int](repeating: 0, count: r)
    var ia = 0, ib = 0
    let inner = outShape[r - 1], saI = sa[r - 1], sbI = sb[r - 1]
    var o = 0
    while o < total {
        for j in 0..<inner { f(o + j, ia + j * saI, ib + j * sbI) }
        o += inner
        // advance the outer counter
        var d = r - 2
        while d >= 0 {
            idx[d] += 1; ia += sa[d]; ib += sb[d]
            if idx[d] < outShape[d] { break }
            ia -= sa[d] * outShape[d]; ib -= sb[d] * outShape[d]; idx[d] = 0
            d -= 1
        }
    }
}

extension Tensor {
    /// a op b with broadcasting.
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let outShape = try Shape.broadcast(a.shape, b.shape, op: op.rawValue)
        let out = Tensor(uninitialized: outShape)
        let pa = a.data, pb = b.data, po = out.data
        if a.shape == b.shape {
            parallelFor(out.count) { r in for i in r { po[i] = applyBinary(op, pa[i], pb[i]) } }
        } else if outShape == a.shape && Shape.isSuffix(b.shape, of: a.shape) && b.count > 0 {
            let n = b.count, rows = a.count / n
            parallelFor(rows, costPerItem: n) { r in
                for row in r { let o = row * n; for j in 0..<n { po[o + j] = applyBinary(op, pa[o + j], pb[j]) } }
            }
        } else {
            binaryReference(op, a, b, into: out)
        }
        return out
    }

    /// The general broadcasting walk: the oracle for the fast paths.
    public static func binaryReference(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, into out: Tensor) {
        let sa = Shape.broadcastStrides(a.shape, in: out.shape)
        let sb = Shape.broadcastStrides(b.shape, in: out.shape)
        let pa = a.data, pb = b.data, po = out.data
        walkBroadcast(out.shape, sa, sb) { o, i, j in po[o] = applyBinary(op, pa[i], pb[j]) }
    }

    /// f(x) for every element.
    public func unary(_ op: UnaryOp) -> Tensor {
        let out = Tensor(uninitialized: shape)
        let p = data, po = out.data
        parallelFor(count) { r in for i in r { po[i] = applyUnary(op, p[i]) } }
        return out
    }

    /// a * s + t for a scalar s and t.
    public func affine(scale s: Float, shift t: Float = 0) -> Tensor {
        let out = Tensor(uninitialized: shape)
        let p = data, po = out.data
        parallelFor(count) { r in for i in r { po[i] = p[i] * s + t } }
        return out
    }

    /// self += alpha * other (same shapes), in place.
    public func addInPlace(_ other: Tensor, alpha: Float = 1) {
        precondition(other.count == count, "addInPlace: internal count mismatch")
        let p = data, q = other.data
        parallelFor(count) { r in for i in r { p[i] += alpha * q[i] } }
    }

    /// Sums `self` (of a broadcast shape) down to `shape`: the gradient of an operand that was
    /// broadcast. `shape` must broadcast to `self.shape`.
    public func reduced(toShape target: [Int]) -> Tensor {
        if target == shape { return copy() }
        let out = Tensor(zeros: target)
        accumulateReduced(into: out)
        return out
    }

    /// out += sum of `self` over the dims where `out` was broadcast.
    public func accumulateReduced(into out: Tensor) {
        let po = out.data, p = data
        if out.shape == shape {
            parallelFor(count) { r in for i in r { po[i] += p[i] } }
        } else if Shape.isSuffix(out.shape, of: shape) && out.count > 0 {
            let n = out.count, rows = count / n
            for row in 0..<rows { let o = row * n; for j in 0..<n { po[j] += p[o + j] } }
        } else {
            let so = Shape.broadcastStrides(out.shape, in: shape)
            walkBroadcast(shape, so, so) { i, j, _ in po[j] += p[i] }
        }
    }
}
