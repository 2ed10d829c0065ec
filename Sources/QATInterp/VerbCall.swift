// What a verb's action receives: its checked arguments with typed accessors, the interpreter
// (for `source`, options, variables) and the output sink.
import QATTensor

public struct VerbCall {
    public let spec: VerbSpec
    public let interpreter: Interpreter
    /// Where the command was written.
    public let position: SourcePos
    /// Every argument by name (positional names too), defaults filled in; a variadic
    /// argument is a list.
    public internal(set) var values: [String: Value] = [:]
    /// The positional values in order (variadic ones included).
    public internal(set) var positionals: [Value] = []
    /// Names of the arguments the command actually gave.
    public internal(set) var given: Set<String> = []
    /// Keys outside the row of an `openKeys` verb, evaluated, in the order written.
    public internal(set) var extraKeys: [(key: String, value: Value)] = []
    var code: [String: Node] = [:]

    init(spec: VerbSpec, interpreter: Interpreter, position: SourcePos) {
        self.spec = spec; self.interpreter = interpreter; self.position = position
    }

    /// Prints a line (or a block of lines) to the session's output. A line of key=value pairs
    /// (a verb's summary) is also kept as the session's last summary, so scripts can read a
    /// number a verb printed (`summary seconds`) instead of parsing transcripts.
    public func out(_ line: String) {
        interpreter.noteSummary(line)
        interpreter.output(line)
    }

    public func has(_ name: String) -> Bool { given.contains(name) }

    /// The value of an argument, or nil if it is absent and has no default.
    public func value(_ name: String) -> Value? { values[name] }

    /// Positional value `index`, checked against `kind` (for verbs whose rows say `.any`).
    public func positional(_ index: Int, as kind: ArgKind) throws -> Value {
        guard index < positionals.count else {
            throw InterpError.verb("missing argument \(index + 1)", hint: "usage: \(spec.synopsis)")
        }
        let v = positionals[index]
        guard let c = interpreter.conform(v, to: kind) else {
            throw InterpError.verb("argument \(index + 1) must be \(kind), got \(interpreter.describe(v))",
                                   hint: "usage: \(spec.synopsis)")
        }
        return c
    }

    func required(_ name: String) throws -> Value {
        guard let v = values[name] else {
            throw InterpError.verb("\(name) is required here", hint: "usage: \(spec.synopsis)")
        }
        return v
    }

    public func number(_ name: String, default d: Double? = nil) throws -> Double {
        if values[name] == nil, let d { return d }
        guard case .number(let x) = try required(name) else { throw kindError(name, .number) }
        return x
    }

    public func int(_ name: String, default d: Int? = nil) throws -> Int {
        if values[name] == nil, let d { return d }
        guard case .number(let x) = try required(name), x == x.rounded(), abs(x) <= largestExactWholeNumber else { throw kindError(name, .int) }
        return try checkedInt(x, name + "=")
    }

    public func bool(_ name: String, default d: Bool? = nil) throws -> Bool {
        if values[name] == nil, let d { return d }
        guard let v = interpreter.conform(try required(name), to: .bool), case .number(let x) = v else {
            throw kindError(name, .bool)
        }
        return x != 0
    }

    public func string(_ name: String, default d: String? = nil) throws -> String {
        if values[name] == nil, let d { return d }
        guard let v = interpreter.conform(try required(name), to: .string), case .string(let s) = v else {
            throw kindError(name, .string)
        }
        return s
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard case .tensor(let t) = try required(name) else { throw kindError(name, .tensor) }
        return t
    }

    public func list(_ name: String) throws -> [Value] {
        guard case .list(let l) = interpreter.conform(try required(name), to: .list) else { throw kindError(name, .list) }
        return l
    }

    /// A list (or variadic) argument of whole numbers, e.g. a shape.
    public func ints(_ name: String) throws -> [Int] {
        try list(name).map { v in
            guard case .number(let x) = v, x == x.rounded(), abs(x) <= largestExactWholeNumber else { throw kindError(name, .int) }
            return try checkedInt(x, name + "=")
        }
    }

    /// An object argument as its Swift class.
    public func object<T: InterpObject>(_ name: String, as type: T.Type) throws -> T {
        guard case .object(let o) = try required(name), let t = o as? T else {
            throw InterpError.verb("\(name) must be a \(T.self), got \(interpreter.describe(values[name] ?? .none))",
                                   hint: "usage: \(spec.synopsis)")
        }
        return t
    }

    /// Runs a `.code` argument (a sub-command or block) now and returns its value.
    public func run(_ name: String) throws -> Value {
        switch code[name] {
        case .command(let c)?:
            return try interpreter.evaluate(.command(c))
        case .block(let body, _)?:
            return try interpreter.executeBlock(body)
        default:
            throw InterpError.verb("\(name) is required here", hint: "usage: \(spec.synopsis)")
        }
    }

    func kindError(_ name: String, _ kind: ArgKind) -> InterpError {
        InterpError.verb("\(name) must be \(kind), got \(interpreter.describe(values[name] ?? .none))",
                         hint: "usage: \(spec.synopsis)")
    }
}
