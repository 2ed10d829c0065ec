// Layout ops: permute/transpose, slice, concat, gather (embedding lookup) and its scatter-add
// backward. Each returns a new contiguous tensor; the backward of each is another layout op
// (permute by the inverse, slice's pad-back, concat's split, gather's scatter-add).

extension Tensor {
    /// Dims reordered: out.shape[i] = shape[perm[i]].
    public func permuted(_ perm: [Int]) throws -> Tensor {
        guard perm.count == rank, Set(perm) == Set(0..<rank) else {
            throw TensorError.invalidArgument(op: "permute", message: "\(perm) is not a permutation of 0..<\(rank) for shape \(shape)")
        }
        let outShape = perm.map { shape[$0] }
        let out = Tensor(uninitialized: outShape)
        if count == 0 { return out }
        let inStrides = Shape.strides(shape)
        let srcStrides = perm.map { inStrides[$0] }
        let p = data, po = out.data
        // walk the output in order, the source by permuted strides
        walkBroadcast(outShape, srcStrides, srcStrides) { o, i, _ in po[o] = p[i] }
        return out
    }

    /// Swaps two axes.
    public func transposed(_ a: Int = -2, _ b: Int = -1) throws -> Tensor {
        let x = try Shape.axis(a, rank: rank, op: "transpose"), y = try Shape.axis(b, rank: rank, op: "transpose")
        var perm = Array(0..<rank)
        perm.swapAt(x, y)
        return try permuted(perm)
    }

    /// Elements [start, end) along `axis`.
    public func sliced(axis: Int, _ start: Int, _ end: Int) throws -> Tensor {
        let ax = try Shape.axis(axis, rank: rank, op: "slice")
        guard 0 <= start, start <= end, end <= shape[ax] else {
            throw TensorError.invalidArgument(op: "slice", message: "range \(start)..<\(end) is outside 0..<\(shape[ax]) on axis \(ax) of shape \(shape)")
        }
        let (outer, n, inner) = splitAround(ax)
        var outShape = shape; outShape[ax] = end - start
        let out = Tensor(uninitialized: outShape)
        let len = (end - start) * inner
        for o in 0..<outer {
            (out.data + o * len).update(from: data + o * n * inner + start * inner, count: len)
        }
        return out
    }

    /// Adds `grad` (shape of a slice [start, end) on `axis`) into the matching part of `self`.
    public func accumulateSlice(_ grad: Tensor, axis ax: Int, start: Int) {
        let (outer, n, inner) = splitAround(ax)
        let len = grad.shape[ax] * inner
        for o in 0..<outer {
            let dst = data + o * n * inner + start * inner, src = grad.data + o * len
            for j in 0..<len { dst[j] += src[j] }
        }
    }

    /// Joins tensors along `axis`; all other dims must agree.
    public static func concat(_ parts: [Tensor], axis: Int) throws -> Tensor {
        guard let first = parts.first else { throw TensorError.invalidArgument(op: "concat", message: "needs at least one tensor") }
        let ax = try Shape.axis(axis, rank: first.rank, op: "concat")
        var outShape = first.shape; outShape[ax] = 0
        for p in parts {
            var a = p.shape, b = first.shape
            guard a.count == b.count else {
                throw TensorError.shapeMismatch(op: "concat", lhs: first.shape, rhs: p.shape, hint: "ranks differ")
            }
            a[ax] = 0; b[ax] = 0
            guard a == b else {
                throw TensorError.shapeMismatch(op: "concat", lhs: first.shape, rhs: p.shape, hint: "all dims except axis \(ax) must match")
            }
            outShape[ax] += p.shape[ax]
        }
        let out = Tensor(uninitialized: outShape)
        let (outer, total, inner) = out.splitAround(ax)
        var offset = 0
        for p in parts {
            let len = p.shape[ax] * inner
            for o in 0..<outer { (out.data + o * total * inner + offset).update(from: p.data + o * len, count: len) }
            offset += len
        }
        return out
    }

    /// Rows of a (rows, width) table picked by `indices`: out shape indicesShape + [width].
    /// This is the embedding lookup.
    public func gatherRows(_ indices: [Int32], indicesShape: [Int]) throws -> Tensor {
        guard rank == 2 else { throw TensorError.invalidShape(op: "gather", shape: shape, hint: "the table must be 2-d (rows, width)") }
        let rows = shape[0], width = shape[1]
        guard try Shape.validate(indicesShape, op: "gather") == indices.count else {
            throw TensorError.shapeMismatch(op: "gather", lhs: indicesShape, rhs: [indices.count], hint: "index shape and index count differ")
        }
        for (k, i) in indices.enumerated() where i < 0 || Int(i) >= rows {
            throw TensorError.invalidArgument(op: "gather", message: "index \(i) at position \(k) is outside 0..<\(rows)")
        }
        let out = Tensor(uninitialized: indicesShape + [width])
        for (k, i) in indices.enumerated() {
            (out.data + k * width).update(from: data + Int(i) * width, count: width)
        }
        return out
    }

    /// table[indices[k]] += grad[k]: the backward of gatherRows (indices already validated).
    public func scatterAddRows(_ grad: Tensor, indices: [Int32]) {
        let width = shape[1]
        for (k, i) in indices.enumerated() {
            let dst = data + Int(i) * width, src = grad.data + k * width
            for j in 0..<width { dst[j] += src[j] }
        }
    }
}
