// Source positions and the one error type of the command language.
//
// Every error the interpreter reports carries the file:line:column of the word that caused it,
// a message naming the offending value, and a hint saying what to do next. `source` adds the
// call sites it went through, so an error in a nested script names the inner position first.

/// A place in a script: file name, 1-based line and column (columns count characters).
public struct SourcePos: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file; self.line = line; self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// An error of the command language (syntax, incomplete input, runtime, interrupt).
public struct InterpError: Error, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The text is not valid; more input would not fix it.
        case syntax
        /// The text ends inside an open `{`, `[`, `(`, string or `\` continuation: the REPL
        /// asks for another line; a file reports it as an error at the opening position.
        case incomplete
        /// Evaluation failed (unknown verb or variable, wrong argument, a verb's own error).
        case runtime
        /// Ctrl-C stopped the evaluation.
        case interrupted
    }

    public var kind: Kind
    /// Where it happened; nil until the dispatcher fills in the calling command's position.
    public var position: SourcePos?
    public var message: String
    public var hint: String?
    /// Positions of the `source` commands this error unwound through, innermost first.
    public var trace: [SourcePos] = []

    public init(_ kind: Kind = .runtime, at position: SourcePos? = nil, _ message: String, hint: String? = nil) {
        self.kind = kind; self.position = position; self.message = message; self.hint = hint
    }

    /// A runtime error for a verb to throw; the dispatcher adds the position and verb name.
    public static func verb(_ message: String, hint: String? = nil) -> InterpError {
        InterpError(.runtime, at: nil, message, hint: hint)
    }

    public var description: String {
        var s = position.map { "\($0): " } ?? ""
        s += kind == .interrupted ? message : "error: \(message)"
        if let hint { s += "\n  hint: \(hint)" }
        for p in trace { s += "\n  in `source` at \(p)" }
        return s
    }
}

/// Levenshtein distance, for "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}

/// The candidate nearest to `name`, if it is close enough to be a plausible typo
/// (at most half the name's length in edits, at least 2; a prefix always counts).
func nearest(_ name: String, in candidates: [String]) -> String? {
    if let p = candidates.sorted().first(where: { $0.hasPrefix(name) && !name.isEmpty }) { return p }
    let scored = candidates.map { ($0, editDistance($0.lowercased(), name.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }) else { return nil }
    return best.1 <= max(2, name.count / 2) ? best.0 : nil
}
