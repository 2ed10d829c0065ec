// Differentiable elementwise ops and reductions. Derivative rules, one per op:
//   add: da = g, db = g        sub: da = g, db = -g
//   mul: da = g*b, db = g*a    div: da = g/b, db = -g*a/b^2
// each summed back over the dims where that operand was broadcast.
//   neg: -g   exp: g*y   log: g/x   sqrt: g/(2y)   square: 2xg   sigmoid: g*y(1-y)   relu: g*[x>0]
//   silu: fused kernel (Activation.swift)   reciprocal: -g*y^2
//   sum: g broadcast   mean: g/n broadcast   max(axis): g to the first argmax
import QATTensor

extension Var {
    public static func + (a: Var, b: Var) throws -> Var { try binary(.add, a, b) }
    public static func - (a: Var, b: Var) throws -> Var { try binary(.sub, a, b) }
    public static func * (a: Var, b: Var) throws -> Var { try binary(.mul, a, b) }
    public static func / (a: Var, b: Var) throws -> Var { try binary(.div, a, b) }

    public static func binary(_ op: BinaryOp, _ a: Var, _ b: Var) throws -> Var {
        guard op != .maximum && op != .minimum else {
            throw TensorError.invalidArgument(op: op.rawValue, message: "not differentiable here; use relu or a mask")
        }
        let y = try Tensor.binary(op, a.value, b.value)
        return result(y, op.rawValue, [a, b]) { g in
            if a.requiresGrad {
                let ga: Tensor
                switch op {
                case .add, .sub: ga = g
                case .mul: ga = (try? Tensor.binary(.mul, g, b.value)) ?? g
                default: ga = (try? Tensor.binary(.div, g, b.value)) ?? g
                }
                ga.accumulateReduced(into: a.gradBuffer())
            }
            if b.requiresGrad {
                let gb: Tensor
                switch op {
                case .add: gb = g
                case .sub: gb = g.affine(scale: -1)
                case .mul: gb = (try? Tensor.binary(.mul, g, a.value)) ?? g
                default:   // d(a/b)/db = -a/b^2 = -y/b
                    gb = ((try? Tensor.binary(.div, Tensor.binary(.mul, g, y), b.value)) ?? g).affine(scale: -1)
                }
                gb.accumulateReduced(into: b.gradBuffer())
            }
        }
    }

    /// self * s + t for scalars.
    public func affine(scale s: Float, shift t: Float = 0) -> Var {
        let a = self
        return Var.result(value.affine(scale: s, shift: t), "affine", [a]) { g in
            a.gradBuffer().addInPlace(g, alpha: s)
        }
    }

    public func unary(_ op: UnaryOp) -> Var {
        let a = self, y = value.unary(op)
        return Var.result(y, op.rawValue, [a]) { g in
            let dx = a.gradBuffer().data, x = a.value.data, yv = y.data, gp = g.data
            switch op {
            case .silu: siluBackward(x, gp, dx, count: g.count)
            default:
                parallelFor(g.count) { r in
                    for i in r {
                        let d: Float
                        switch op {
                        case .neg: d = -1
                        case .exp: d = yv[i]
                        case .log: d = 1 / x[i]
                        case .sqrt: d = 0.5 / yv[i]
                        case .abs: d = x[i] > 0 ? 1 : (x[i] < 0 ? -1 : 0)
                        case .square: d = 2 * x[i]
                        case .sigmoid: d = yv[i] * (1 - yv[i])
                        case .relu: d = x[i] > 0 ? 1 : 0
                        case .reciprocal: d = -yv[i] * yv[i]
                        case .silu: d = 0
                        }
                        dx[i] += gp[i] * d
                    }
                }
            }
        }
    }

    public func silu() -> Var { unary(.silu) }

    /// Sum of every element (a scalar of shape []).
    public func sum() -> Var {
        let a = self
        let y = Tensor(uninitialized: [])
        y.data[0] = Float(value.sumAll())
        return Var.result(y, "sum", [a]) { g in
            let dx = a.gradBuffer(), gv = g.data[0]
            parallelFor(dx.count) { r in for i in r { dx.data[i] += gv } }
        }
    }

    /// Mean of every element.
    public func mean() -> Var { sum().affine(scale: 1 / Float(max(value.count, 1))) }

    /// sum / mean / max along one axis.
    public func reduce(_ op: ReduceOp, axis: Int, keepDims: Bool = false) throws -> Var {
        let a = self
        let ax = try Shape.axis(axis, rank: value.rank, op: op.rawValue)
        let y = try value.reduce(op, axis: ax, keepDims: keepDims)
        let argmax = op == .max ? try value.argmax(axis: ax) : []
        return Var.result(y, op.rawValue, [a]) { g in
            let dx = a.gradBuffer()
            let n = a.value.shape[ax]
            let inner = a.value.shape[(ax + 1)...].reduce(1, *), outer = a.value.shape[..<ax].reduce(1, *)
            let k: Float = op == .mean ? 1 / Float(max(n, 1)) : 1
            for o in 0..<outer {
                for i in 0..<inner {
                    let gv = g.data[o * inner + i] * k
                    if op == .max {
                        dx.data[(o * n + argmax[o * inner + i]) * inner + i] += gv
                    } else {
                        for j in 0..<n { dx.data[(o * n + j) * inner + i] += gv }
                    }
                }
            }
        }
    }
}
