// Expressions: arithmetic and comparisons on numbers (usual precedence: unary minus, then * /,
// then + -, then one comparison). Inside parentheses an expression may span lines.

extension Parser {
    mutating func parseExpression(nested: Bool) throws -> Node {
        let lhs = try parseSum(nested)
        try skipBlanks(newlines: nested)
        let p = here
        let two = String([peek(), peek(1)].compactMap { $0 })
        var op: BinaryOp?
        if let o = BinaryOp(rawValue: two), [.eq, .ne, .le, .ge].contains(o) { op = o; i += 2 }
        else if peek() == "<" { op = .lt; i += 1 }
        else if peek() == ">" { op = .gt; i += 1 }
        else if peek() == "=" { throw syntax("'=' is assignment; compare with '=='") }
        guard let op else { return lhs }
        return .binary(op, lhs, try parseSum(nested), p)
    }

    mutating func parseSum(_ nested: Bool) throws -> Node {
        var lhs = try parseTerm(nested)
        while true {
            try skipBlanks(newlines: nested)
            let p = here
            guard let c = peek(), c == "+" || c == "-" else { return lhs }
            i += 1
            lhs = .binary(c == "+" ? .add : .sub, lhs, try parseTerm(nested), p)
        }
    }

    mutating func parseTerm(_ nested: Bool) throws -> Node {
        var lhs = try parseUnary(nested)
        while true {
            try skipBlanks(newlines: nested)
            let p = here
            guard let c = peek(), c == "*" || c == "/" else { return lhs }
            i += 1
            lhs = .binary(c == "*" ? .mul : .div, lhs, try parseUnary(nested), p)
        }
    }

    mutating func parseUnary(_ nested: Bool) throws -> Node {
        try skipBlanks(newlines: nested)
        if peek() == "-" {
            let p = here
            i += 1
            try enterNesting("'-' signs")
            defer { nesting -= 1 }
            return .negate(try parseUnary(nested), p)
        }
        return try parsePrimary(nested)
    }

    mutating func parsePrimary(_ nested: Bool) throws -> Node {
        guard let c = peek() else {
            throw syntax("expected a value at the end of the input", hint: "an operator needs a value on both sides")
        }
        if (c.isASCII && c.isNumber) || (c == "." && peek(1).map { $0.isASCII && $0.isNumber } == true) {
            return try scanNumber()
        }
        switch c {
        case "\"": return try scanString()
        case "$":
            let (name, p) = try scanVariable()
            return .variable(name, p)
        case "[": return try parseList()
        case "(": return try parseParen()
        case "\n":
            throw syntax("expected a value before the end of the line", hint: "an operator needs a value on both sides")
        default: break
        }
        if let name = peekName() {
            throw syntax("bare word '\(name)' in an expression",
                         hint: "quote text (\"\(name)\"), write variables as $\(name), or run a verb in parentheses: (\(name) ...)")
        }
        throw syntax("expected a value, found '\(c)'")
    }
}
