// Evaluating expressions and argument words.

extension Interpreter {
    public func evaluate(_ node: Node) throws -> Value {
        switch node {
        case .number(let d, _): return .number(d)
        case .string(let s, _), .word(let s, _): return .string(s)
        case .interpolation(let parts, _):
            var s = ""
            for part in parts {
                switch part {
                case .text(let t): s += t
                case .variable(let name, let p): s += try lookup(name, at: p).text
                }
            }
            return .string(s)
        case .variable(let name, let p):
            return try lookup(name, at: p)
        case .list(let items, _):
            return .list(try items.map(evaluate))
        case .command(let c):
            try tick(c.position)
            return try call(c)
        case .block(_, let p):
            throw InterpError(at: p, "a { block } is not a value", hint: "only verbs like `time` take a block")
        case .negate(let e, let p):
            return .number(-(try number(evaluate(e), "-", at: p)))
        case .binary(let op, let l, let r, let p):
            return try binary(op, evaluate(l), evaluate(r), at: p)
        }
    }

    /// A variable's value, or an error suggesting the nearest defined name.
    public func lookup(_ name: String, at p: SourcePos) throws -> Value {
        if let v = variables[name] { return v }
        let hint: String
        if let near = nearest(name, in: Array(variables.keys)) {
            hint = "did you mean $\(near)?"
        } else if variables.isEmpty {
            hint = "no variables are set yet; set one with \(name) = VALUE"
        } else {
            hint = "`vars` lists the variables"
        }
        throw InterpError(at: p, "undefined variable $\(name)", hint: hint)
    }

    func number(_ v: Value, _ op: String, side: String = "", at p: SourcePos) throws -> Double {
        guard case .number(let d) = v else {
            throw InterpError(at: p, "'\(op)' needs numbers, got \(describe(v))\(side)",
                              hint: "build text with interpolation instead: \"$a$b\"")
        }
        return d
    }

    func binary(_ op: BinaryOp, _ a: Value, _ b: Value, at p: SourcePos) throws -> Value {
        switch op {
        case .eq: return .number(Value.same(a, b) ? 1 : 0)
        case .ne: return .number(Value.same(a, b) ? 0 : 1)
        default: break
        }
        let x = try number(a, op.rawValue, side: " on the left", at: p)
        let y = try number(b, op.rawValue, side: " on the right", at: p)
        switch op {
        case .add: return .number(x + y)
        case .sub: return .number(x - y)
        case .mul: return .number(x * y)
        case .div:
            guard y != 0 else { throw InterpError(at: p, "division by zero", hint: "check the divisor before dividing") }
            return .number(x / y)
        case .lt: return .number(x < y ? 1 : 0)
        case .le: return .number(x <= y ? 1 : 0)
        case .gt: return .number(x > y ? 1 : 0)
        case .ge: return .number(x >= y ? 1 : 0)
        case .eq, .ne: return .none
        }
    }
}
