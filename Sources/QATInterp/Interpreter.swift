// The evaluator: one session scope of variables, the verb table, session options, the step
// limit and Ctrl-C checks.
//
// Semantics (also in `help language`):
// - One scope: every assignment, at any depth, sets a session variable. A `for` variable keeps
//   its last value after the loop (as in Tcl).
// - At top level (a REPL entry, a script, a sourced file, `qat VERB ...`) the value of a
//   command or expression statement is printed, unless it is none; assignments, loops and
//   values inside blocks print nothing (use `print`).
// - An error stops the current input; variables keep the values they had when it happened.
// - Each statement and each loop iteration is a step; more than `stepLimit` steps in one
//   top-level input is an error (0 means no limit), so a runaway loop cannot hang a session.
// - Interrupt.take() is checked before every step (the REPL's Ctrl-C).
import QATTensor

/// A session option set with `set NAME=VALUE` and listed by `set`.
public struct OptionSpec {
    public var name: String
    public var kind: ArgKind
    public var range: ClosedRange<Double>?
    public var help: String
    public var get: (Interpreter) -> Value
    public var set: (Interpreter, Value) throws -> Void

    public init(name: String, kind: ArgKind, range: ClosedRange<Double>? = nil, help: String,
                get: @escaping (Interpreter) -> Value, set: @escaping (Interpreter, Value) throws -> Void) {
        self.name = name; self.kind = kind; self.range = range; self.help = help; self.get = get; self.set = set
    }
}

/// Thrown by `quit` to unwind to the top level.
struct QuitSignal: Error {}

public final class Interpreter {
    /// The session's variables.
    public var variables: [String: Value] = [:]
    /// Where printed lines go (one line or a multi-line block per call).
    public var output: (String) -> Void
    /// The session seed verbs use when no seed= is given (`set seed=N`).
    public var seed: Int = 0
    /// 0 quiet, 1 normal, 2 chatty, 3 debug (`set verbosity=N`).
    public var verbosity: Int = 1
    /// The matmul precision every verb runs at (`set precision=fp32|bf16`; bound as
    /// MatmulPrecision.current around each verb). Never .bf16 where bf16 does not run.
    public var precision: MatmulPrecision = .fp32
    /// Steps allowed per top-level input; 0 means no limit (`set steplimit=N`).
    public var stepLimit: Int = 10_000_000
    /// Set by `quit`: the status the session should exit with.
    public private(set) var exitStatus: Int32?

    /// The key=value pairs of the last summary line a verb printed (see noteSummary), in order.
    public private(set) var lastSummary: [(key: String, value: String)] = []

    /// Keeps `text`'s last line as the last summary when at least two of its space-separated
    /// words are key=value (progress lines and tables are not): `blockap spec=w2g64 seconds=12`.
    public func noteSummary(_ text: String) {
        guard let line = text.split(separator: "\n").last else { return }
        let pairs = line.split(separator: " ").compactMap { word -> (key: String, value: String)? in
            guard let eq = word.firstIndex(of: "="), eq != word.startIndex else { return nil }
            let key = word[..<eq]
            guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            return (String(key), String(word[word.index(after: eq)...]))
        }
        if pairs.count >= 2 { lastSummary = pairs }
    }

    /// Ends the session after the current statement with `status` (what `quit` does).
    public func requestExit(_ status: Int32) { exitStatus = status }

    public private(set) var verbs: [String: VerbSpec] = [:]
    public private(set) var verbOrder: [String] = []
    /// Groups of sub-command rows: a row named "qfa train" makes `qfa` a group with the
    /// sub-command `train`. Sub-commands are kept in the order their rows were registered.
    public private(set) var groups: [String: [String]] = [:]
    public private(set) var options: [OptionSpec] = []

    var steps = 0
    var depth = 0
    var sourceDepth = 0

    public init(output: @escaping (String) -> Void = { print($0) }) {
        self.output = output
        register(Builtins.rows)
        register(options: Builtins.options)
    }

    /// Adds verb rows; a row with the name of an existing one replaces it.
    public func register(_ rows: [VerbSpec]) {
        for row in rows {
            if verbs[row.name] == nil { verbOrder.append(row.name) }
            verbs[row.name] = row
            if let (group, sub) = VerbSpec.split(row.name), groups[group]?.contains(sub) != true {
                groups[group, default: []].append(sub)
            }
        }
    }

    /// Adds session options (and rebuilds the `set` row so it accepts them as keys).
    public func register(options rows: [OptionSpec]) {
        for row in rows {
            options.removeAll { $0.name == row.name }
            options.append(row)
        }
        register([Builtins.setRow(options)])
    }

    public func verb(_ name: String) -> VerbSpec? { verbs[name] }

    /// Names `help` lists, sub-command rows by their full name ("qfa train").
    public var visibleVerbNames: [String] { verbOrder.filter { verbs[$0]?.hidden == false } }

    /// The first words of the visible rows, each once: what a command may start with.
    public var visibleFirstWords: [String] {
        var seen: Set<String> = []
        return visibleVerbNames.map { VerbSpec.split($0)?.group ?? $0 }.filter { seen.insert($0).inserted }
    }

    /// A group's visible sub-commands, in registration order (empty for a plain verb).
    public func subCommands(of group: String) -> [String] {
        (groups[group] ?? []).filter { verbs[group + " " + $0]?.hidden == false }
    }

    // MARK: running text

    /// Parses `text` and runs it; returns the last statement's value.
    @discardableResult
    public func run(_ text: String, file: String = "<input>", firstLine: Int = 1, printValues: Bool = true) throws -> Value {
        try run(try Parser.parse(text, file: file, firstLine: firstLine), printValues: printValues)
    }

    /// Runs parsed statements at top level.
    @discardableResult
    public func run(_ script: Script, printValues: Bool = true) throws -> Value {
        var last = Value.none
        for s in script.statements {
            last = try execute(s, printValues: printValues)
            if exitStatus != nil { break }
        }
        return last
    }

    /// Runs one top-level statement, printing its value if it is a command or an expression.
    @discardableResult
    public func execute(_ statement: Statement, printValues: Bool = true) throws -> Value {
        if depth == 0 { steps = 0 }
        depth += 1
        defer { depth -= 1 }
        do {
            let v = try execute(statement)
            if printValues, let text = v.display {
                switch statement.body {
                case .command, .expression: output(text)
                default: break
                }
            }
            return v
        } catch is QuitSignal {
            if depth > 1 { throw QuitSignal() }
            return .none
        }
    }

    /// `qat VERB ARG...` from the shell: each argv word is one argument (NAME=VALUE a key);
    /// words that look like numbers are numbers. The value is printed like a REPL command's.
    @discardableResult
    public func runCommandLine(_ argv: [String]) throws -> Value {
        guard let verb = argv.first else { return .none }
        var column = verb.count + 2
        var args: [Argument] = []
        for word in argv.dropFirst() {
            let p = SourcePos(file: "<command line>", line: 1, column: column)
            column += word.count + 1
            var key: String?, text = word
            if let eq = word.firstIndex(of: "="), eq != word.startIndex,
               word[..<eq].allSatisfy(Parser.isNameChar), Parser.isNameStart(word.first) {
                key = String(word[..<eq]); text = String(word[word.index(after: eq)...])
            }
            let node: Node = Parser.isNumberLiteral(text) ? .number(Double(text) ?? 0, p) : .string(text, p)
            args.append(Argument(key: key, value: node, position: p))
        }
        let cmd = Command(verb: verb, position: SourcePos(file: "<command line>", line: 1, column: 1), arguments: args)
        // From the shell a verb that printed its own lines (its key=value summary last, for
        // scripts that read it) does not get its value printed after them; one that printed
        // nothing (range, a bare expression) does, as at the prompt.
        let shellOutput = output
        var printed = false
        output = { printed = true; shellOutput($0) }
        defer { output = shellOutput }
        let v = try execute(Statement(body: .command(cmd), position: cmd.position, span: 0..<0), printValues: false)
        if !printed, let text = v.display { shellOutput(text) }
        return v
    }

    /// `source FILE`: runs a file in this session; errors keep the inner position and gain
    /// this call site in their trace.
    @discardableResult
    public func runFile(_ path: String, calledFrom site: SourcePos? = nil) throws -> Value {
        guard sourceDepth < 64 else {
            throw InterpError.verb("scripts nested 64 deep", hint: "does '\(path)' source itself?")
        }
        let text = try readTextFile(path)
        sourceDepth += 1
        defer { sourceDepth -= 1 }
        do {
            return try run(try Parser.parse(text, file: path), printValues: true)
        } catch var e as InterpError {
            if e.kind == .incomplete { e.kind = .syntax }
            if let site { e.trace.append(site) }
            throw e
        }
    }

    // MARK: statements

    /// Counts a step and honours Ctrl-C.
    func tick(_ p: SourcePos) throws {
        steps += 1
        if stepLimit > 0 && steps > stepLimit {
            throw InterpError(at: p, "step limit of \(stepLimit) reached",
                              hint: "a loop may not end; raise the limit with `set steplimit=N` (0 = none)")
        }
        if Interrupt.take() {
            throw InterpError(.interrupted, at: p, "interrupted (Ctrl-C)", hint: "variables keep their values")
        }
    }

    func execute(_ s: Statement) throws -> Value {
        try tick(s.position)
        switch s.body {
        case .command(let c):
            return try call(c)
        case .expression(let e):
            return try evaluate(e)
        case .assign(let name, let rhs):
            variables[name] = try evaluate(rhs)
            return .none
        case .forLoop(let name, let listNode, let body):
            let listValue = try evaluate(listNode)
            guard case .list(let items) = listValue else {
                throw InterpError(at: listNode.position, "for needs a list, got \(describe(listValue))",
                                  hint: "loop over [1 2 3] or (range 10)")
            }
            for item in items {
                try tick(s.position)
                variables[name] = item
                try executeBlock(body)
            }
            return .none
        case .ifElse(let branches, let otherwise):
            for b in branches where try evaluate(b.condition).isTrue {
                try executeBlock(b.body)
                return .none
            }
            if let otherwise { try executeBlock(otherwise) }
            return .none
        }
    }

    /// Runs a block's statements; the value is the last one's (used by `time { ... }`).
    @discardableResult
    func executeBlock(_ body: [Statement]) throws -> Value {
        var last = Value.none
        for s in body { last = try execute(s) }
        return last
    }

    /// "number 3", "string \"abc\"", "list [1 2]", "model <summary>".
    func describe(_ v: Value) -> String {
        var t = v.text
        if t.count > 40 { t = String(t.prefix(37)) + "..." }
        if case .string = v { t = "\"" + t + "\"" }
        if case .object = v { return t }
        return "\(v.kindName) \(t)"
    }
}
