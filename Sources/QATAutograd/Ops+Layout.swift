// Differentiable layout ops. Each backward is the inverse layout op:
//   reshape: reshape back   permute: permute by the inverse   slice: add into the slice
//   concat: slice each part's gradient out   embedding (gather rows): scatter-add rows
import QATTensor

extension Var {
    /// Same elements, new shape; shares memory with the input (no copy), as a view.
    public func reshaped(_ shape: [Int]) throws -> Var {
        let a = self
        return Var.result(try value.view(shape), "reshape", [a]) { g in
            a.gradBuffer().addInPlace(g)   // same element order
        }
    }

    public func permuted(_ perm: [Int]) throws -> Var {
        let a = self
        var inverse = [Int](repeating: 0, count: perm.count)
        let y = try value.permuted(perm)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return Var.result(y, "permute", [a]) { g in
            if let back = try? g.permuted(inverse) { a.gradBuffer().addInPlace(back) }
        }
    }

    public func transposed(_ x: Int = -2, _ y: Int = -1) throws -> Var {
        let ax = try Shape.axis(x, rank: value.rank, op: "transpose"), ay = try Shape.axis(y, rank: value.rank, op: "transpose")
        var perm = Array(0..<value.rank)
        perm.swapAt(ax, ay)
        return try permuted(perm)
    }

    public func sliced(axis: Int, _ start: Int, _ end: Int) throws -> Var {
        let a = self
        let ax = try Shape.axis(axis, rank: value.rank, op: "slice")
        return Var.result(try value.sliced(axis: ax, start, end), "slice", [a]) { g in
            a.gradBuffer().accumulateSlice(g, axis: ax, start: start)
        }
    }

    public static func concat(_ parts: [Var], axis: Int) throws -> Var {
        let y = try Tensor.concat(parts.map(\.value), axis: axis)
        let ax = try Shape.axis(axis, rank: y.rank, op: "concat")
        return result(y, "concat", parts) { g in
            var offset = 0
            for p in parts {
                let len = p.value.shape[ax]
                if p.requiresGrad, let piece = try? g.sliced(axis: ax, offset, offset + len) { p.gradBuffer().addInPlace(piece) }
                offset += len
            }
        }
    }

    /// Embedding lookup: rows of the (vocab, width) table `self` at `indices`.
    public func embedding(_ indices: [Int32], shape: [Int]) throws -> Var {
        let table = self
        return Var.result(try value.gatherRows(indices, indicesShape: shape), "embedding", [table]) { g in
            table.gradBuffer().scatterAddRows(g, indices: indices)
        }
    }
}
