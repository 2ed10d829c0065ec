// The grammar of the command language (documented for users by `help language`).
//
//   script     := (statement? (newline | ';'))*          '#' starts a comment
//   statement  := 'for' NAME 'in' expr block
//               | 'if' expr block ('else' 'if' expr block)* ('else' block)?
//               | NAME '=' rhs                             assignment
//               | VERB arg*                                command
//               | expr                                     its value is printed at top level
//   rhs        := VERB arg*   when it starts with a bare name (`m = load smollm2`)
//               | expr        otherwise (`n = 2 * $b`, `s = "w$b"`, `l = [1 2]`, `v = $x`)
//   arg        := NAME '=' word | word | block              (no blanks around a key's '=')
//   word       := NUMBER | "string" | $var | ${var} | bareword | list | '(' sub ')'
//   list       := '[' word* ']'                            items are words, as in a command
//   sub        := VERB arg* | expr                          a bare name first means a command
//   expr       := sum (('=='|'!='|'<'|'<='|'>'|'>=') sum)?
//   sum        := term (('+'|'-') term)*;  term := unary (('*'|'/') unary)*;  unary := '-' unary | primary
//   primary    := NUMBER | "string" | $var | list | '(' sub ')'
//   block      := '{' script '}'      a block opens on the line of its `for`/`if`/`else`;
//                                     `else` follows the `}` on the same line
//
// Newlines end statements except inside (), [], {} and strings, or after a trailing '\'.
// Input that ends inside one of those is reported as `.incomplete` (the REPL then prompts for
// another line); any other problem is a `.syntax` error.

extension Parser {
    /// Parses a whole text. `firstLine` numbers lines of text that is part of a longer input.
    public static func parse(_ text: String, file: String, firstLine: Int = 1) throws -> Script {
        var p = Parser(text, file: file, firstLine: firstLine)
        let statements = try p.parseStatements(closing: nil)
        return Script(statements: statements, source: p.chars)
    }

    /// Statements up to the end of input, or up to and including the `}` of a block opened at
    /// index `closing`.
    mutating func parseStatements(closing: Int?) throws -> [Statement] {
        var out: [Statement] = []
        while true {
            try skipBlanks(newlines: true)
            while peek() == ";" { i += 1; try skipBlanks(newlines: true) }
            guard let c = peek() else {
                if let open = closing { throw incomplete("'{'", opened: open) }
                return out
            }
            if c == "}" {
                guard closing != nil else { throw syntax("unexpected '}' with no open block") }
                i += 1
                return out
            }
            out.append(try parseStatement())
            try skipBlanks(newlines: false)
            if let d = peek(), d != "\n", d != ";", d != "}" {
                throw syntax("unexpected '\(d)' after the end of a statement",
                             hint: "one statement per line, or separate statements with ';'")
            }
        }
    }

    mutating func parseStatement() throws -> Statement {
        let start = i, p = here
        func made(_ body: Statement.Body) -> Statement { Statement(body: body, position: p, span: start..<i) }
        guard let name = peekName() else { return made(.expression(try parseExpression(nested: false))) }
        switch name {
        case "for": return made(try parseFor())
        case "if": return made(try parseIf())
        case "else":
            throw syntax("'else' without an 'if'", hint: "write '} else {' on the line that closes the if block")
        default: break
        }
        var look = self
        _ = look.scanName()
        while Parser.isBlank(look.peek()) { look.i += 1 }
        if look.peek() == "=" && look.peek(1) != "=" {
            i = look.i + 1
            try skipBlanks(newlines: false)
            return made(.assign(name, try parseRightHandSide()))
        }
        return made(.command(try parseCommand(nested: false)))
    }

    mutating func parseRightHandSide() throws -> Node {
        if let name = peekName() {
            if ["for", "if", "else"].contains(name) {
                throw syntax("'\(name)' cannot be assigned", hint: "assign a command or an expression, e.g. x = 2 * $b")
            }
            return .command(try parseCommand(nested: false))
        }
        guard peek() != nil, peek() != "\n", peek() != ";" else {
            throw syntax("expected a value after '='", hint: "e.g. x = 3, x = \"text\", x = randn 4 8")
        }
        return try parseExpression(nested: false)
    }

    /// `VERB arg*`. Inside parentheses (`nested`) the command may span lines and ends at ')'.
    mutating func parseCommand(nested: Bool) throws -> Command {
        let start = i
        while let c = peek(), !Parser.endsWord(c) { i += 1 }
        let verb = String(chars[start..<i])
        let verbChars = verb.dropFirst().allSatisfy { Parser.isNameChar($0) || $0 == "-" || $0 == "." }
        guard Parser.isNameStart(verb.first), verbChars else {
            throw syntax("'\(verb)' is not a verb name", at: start,
                         hint: "a command starts with a verb (help lists them); quote text: x = \"\(verb)\"")
        }
        var args: [Argument] = []
        while true {
            try skipBlanks(newlines: nested)
            guard let c = peek(), !"\n;})".contains(c) else { break }
            args.append(try parseArgument())
        }
        return Command(verb: verb, position: pos(start), arguments: args)
    }

    mutating func parseArgument() throws -> Argument {
        let start = i
        var look = self
        if let key = look.scanName(), look.peek() == "=", look.peek(1) != "=" {
            i = look.i + 1
            guard let c = peek(), !Parser.isBlank(c), !"\n;})".contains(c) else {
                throw syntax("expected a value right after '\(key)='", hint: "no blanks around '=': \(key)=VALUE")
            }
            return Argument(key: key, value: try parseWord(), position: pos(start))
        }
        if peek() == "{" {
            i += 1
            let body = try parseStatements(closing: start)
            return Argument(key: nil, value: .block(body, pos(start)), position: pos(start))
        }
        return Argument(key: nil, value: try parseWord(), position: pos(start))
    }

    /// One argument word; it must be followed by a blank or a closing bracket.
    mutating func parseWord() throws -> Node {
        let node: Node
        switch peek() {
        case "\"": node = try scanString()
        case "[": node = try parseList()
        case "(": node = try parseParen()
        case "]": throw syntax("unexpected ']' with no open '['")
        case "{": throw syntax("a { block } is not a value here", hint: "only a verb like `time` takes a block")
        default: node = try scanBareWord()
        }
        if let c = peek(), !Parser.isBlank(c), !"\n;})]".contains(c), !(c == "\\" && peek(1) == "\n") {
            throw syntax("expected a blank before '\(c)'", hint: "separate arguments with spaces")
        }
        return node
    }

    mutating func parseList() throws -> Node {
        let start = i
        try enterNesting("lists")
        defer { nesting -= 1 }
        i += 1
        var items: [Node] = []
        while true {
            try skipBlanks(newlines: true)
            guard let c = peek() else { throw incomplete("'['", opened: start) }
            if c == "]" { i += 1; return .list(items, pos(start)) }
            if c == ")" || c == "}" || c == ";" {
                throw syntax("unexpected '\(c)' inside a list opened at \(pos(start))", hint: "close the list with ']'")
            }
            items.append(try parseWord())
        }
    }

    /// `( VERB arg* )` is a sub-command; `( expr )` is an expression.
    mutating func parseParen() throws -> Node {
        let start = i
        try enterNesting("parentheses")
        defer { nesting -= 1 }
        i += 1
        try skipBlanks(newlines: true)
        guard let c = peek() else { throw incomplete("'('", opened: start) }
        if c == ")" { throw syntax("empty parentheses", hint: "put a command or an expression inside: (ppl q data)") }
        let node: Node = Parser.isNameStart(c) ? .command(try parseCommand(nested: true)) : try parseExpression(nested: true)
        try skipBlanks(newlines: true)
        guard let d = peek() else { throw incomplete("'('", opened: start) }
        guard d == ")" else { throw syntax("expected ')' to close the '(' at \(pos(start)), found '\(d)'") }
        i += 1
        return node
    }

    // MARK: for / if

    mutating func parseFor() throws -> Statement.Body {
        i += 3
        try skipBlanks(newlines: false)
        guard let name = scanName() else { throw syntax("expected a loop variable after 'for'", hint: "for x in [1 2 3] { ... }") }
        try skipBlanks(newlines: false)
        guard scanName() == "in" else { throw syntax("expected 'in' after 'for \(name)'", hint: "for \(name) in [1 2 3] { ... }") }
        try skipBlanks(newlines: false)
        let list = try parseExpression(nested: false)
        return .forLoop(variable: name, list: list, body: try parseBlock(after: "for \(name) in ..."))
    }

    mutating func parseIf() throws -> Statement.Body {
        var branches: [(condition: Node, body: [Statement])] = []
        var otherwise: [Statement]?
        repeat {
            i += 2
            try skipBlanks(newlines: false)
            let cond = try parseExpression(nested: false)
            branches.append((cond, try parseBlock(after: "if CONDITION")))
            try skipBlanks(newlines: false)
            guard peekName() == "else" else { break }
            i += 4
            try skipBlanks(newlines: false)
            if peekName() == "if" { continue }
            otherwise = try parseBlock(after: "else")
            break
        } while true
        return .ifElse(branches: branches, otherwise: otherwise)
    }

    /// `{ script }`, opening on the current line.
    mutating func parseBlock(after what: String) throws -> [Statement] {
        try skipBlanks(newlines: false)
        guard peek() == "{" else {
            throw syntax("expected '{' after \(what)", hint: "the block opens on the same line: \(what) {")
        }
        let open = i
        i += 1
        try enterNesting("blocks")
        defer { nesting -= 1 }
        return try parseStatements(closing: open)
    }
}
