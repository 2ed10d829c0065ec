// The syntax tree the parser builds and the evaluator walks. Every node keeps the position of
// its first character, so errors can name file:line:column.

/// One piece of an interpolated string or of a bare word holding `$var`.
public enum TextPart {
    case text(String)
    case variable(String, SourcePos)
}

public enum BinaryOp: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/"
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
}

/// An expression or an argument word.
public indirect enum Node {
    case number(Double, SourcePos)
    case string(String, SourcePos)
    /// A bare word: a string, except where a verb expects a tensor, model or other non-string
    /// value: there it names a variable (`show x` means `show $x`).
    case word(String, SourcePos)
    /// "a $b c" or out/$name.h5: the parts are concatenated into a string.
    case interpolation([TextPart], SourcePos)
    case variable(String, SourcePos)
    case list([Node], SourcePos)
    /// A parenthesised sub-command: its value is the command's value.
    case command(Command)
    /// `{ ... }` given to a verb argument of kind `.code` (run by the verb, e.g. `time`).
    case block([Statement], SourcePos)
    case negate(Node, SourcePos)
    case binary(BinaryOp, Node, Node, SourcePos)

    public var position: SourcePos {
        switch self {
        case .number(_, let p), .string(_, let p), .word(_, let p), .interpolation(_, let p), .variable(_, let p),
             .list(_, let p), .block(_, let p), .negate(_, let p), .binary(_, _, _, let p):
            return p
        case .command(let c):
            return c.position
        }
    }
}

/// One argument of a command: positional (key nil) or `key=value`.
public struct Argument {
    public var key: String?
    public var value: Node
    public var position: SourcePos
}

/// `verb arg arg key=value ...`
public struct Command {
    public var verb: String
    public var position: SourcePos
    public var arguments: [Argument]
}

/// One statement; `span` is its character range in the source text (for transcripts).
public struct Statement {
    public enum Body {
        case command(Command)
        /// `name = command` or `name = expression`.
        case assign(String, Node)
        /// A bare expression (`$x`, `2 * 3`, `(ppl q data)`): its value is printed at top level.
        case expression(Node)
        case forLoop(variable: String, list: Node, body: [Statement])
        /// `if c { } else if c { } else { }`: the branches in order, then the else block.
        case ifElse(branches: [(condition: Node, body: [Statement])], otherwise: [Statement]?)
    }

    public var body: Body
    public var position: SourcePos
    public var span: Range<Int>
}

/// A parsed script: its statements and the text they came from.
public struct Script {
    public var statements: [Statement]
    public var source: [Character]

    /// The source text of one statement (what a notebook transcript shows).
    public func text(of statement: Statement) -> String {
        let lo = max(0, min(statement.span.lowerBound, source.count))
        let hi = max(lo, min(statement.span.upperBound, source.count))
        return String(source[lo..<hi])
    }
}
