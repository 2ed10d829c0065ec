// Reductions along one axis: sum, mean, max, argmax; and the whole-tensor sum.
//
// A tensor of shape (outer, n, inner) around the axis reduces to (outer, inner) (or
// (outer, 1, inner) with keepDims). Sums accumulate in Double so long reductions stay exact
// to Float precision.

public enum ReduceOp: String, Sendable { case sum, mean, max }

extension Tensor {
    /// (outer, n, inner) split of the shape around `axis`.
    func splitAround(_ axis: Int) -> (outer: Int, n: Int, inner: Int) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    static func reducedShape(_ shape: [Int], axis: Int, keepDims: Bool) -> [Int] {
        var s = shape
        if keepDims { s[axis] = 1 } else { s.remove(at: axis) }
        return s
    }

    /// Reduces along `axis` (negative counts from the end).
    public func reduce(_ op: ReduceOp, axis: Int, keepDims: Bool = false) throws -> Tensor {
        let ax = try Shape.axis(axis, rank: rank, op: op.rawValue)
        let (outer, n, inner) = splitAround(ax)
        if op == .max && n == 0 {
            throw TensorError.invalidShape(op: "max", shape: shape, hint: "cannot take the max of an empty axis")
        }
        let out = Tensor(uninitialized: Tensor.reducedShape(shape, axis: ax, keepDims: keepDims))
        let p = data, po = out.data
        parallelFor(outer, costPerItem: n * inner) { range in
            for o in range {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    switch op {
                    case .sum, .mean:
                        var s = 0.0
                        for k in 0..<n { s += Double(p[base + k * inner]) }
                        po[o * inner + i] = Float(op == .mean ? s / Double(Swift.max(n, 1)) : s)
                    case .max:
                        var m = -Float.infinity
                        for k in 0..<n { m = Swift.max(m, p[base + k * inner]) }
                        po[o * inner + i] = m
                    }
                }
            }
        }
        return out
    }

    /// Index of the largest element along `axis` (first one on ties), as Int.
    public func argmax(axis: Int) throws -> [Int] {
        let ax = try Shape.axis(axis, rank: rank, op: "argmax")
        let (outer, n, inner) = splitAround(ax)
        guard n > 0 else { throw TensorError.invalidShape(op: "argmax", shape: shape, hint: "empty axis") }
        var result = [Int](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var best = 0, m = data[base]
                for k in 1..<n where data[base + k * inner] > m { m = data[base + k * inner]; best = k }
                result[o * inner + i] = best
            }
        }
        return result
    }

    /// Sum of every element (Double accumulation).
    public func sumAll() -> Double {
        var s = 0.0
        for i in 0..<count { s += Double(data[i]) }
        return s
    }

    /// Largest |a - b| over all elements (same counts required by the caller).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        var m: Float = 0
        for i in 0..<Swift.min(count, other.count) { m = Swift.max(m, Swift.abs(data[i] - other.data[i])) }
        return m
    }
}
