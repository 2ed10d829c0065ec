// The verb table's row type. A verb is one VerbSpec: its name, synopsis, arguments (with kinds,
// defaults and help), help text, examples and action. The dispatcher (Dispatch.swift) checks a
// call against the row before the action runs, so actions see only well-typed values.
import QATTensor

/// What an argument accepts.
public indirect enum ArgKind: Equatable, Sendable, CustomStringConvertible {
    case number
    /// A number with no fraction.
    case int
    /// A string (a number is accepted and written in its shortest form).
    case string
    /// true/false, yes/no, on/off or 1/0.
    case bool
    /// One of these words.
    case choice([String])
    case tensor
    /// An InterpObject whose `kind` is this ("model", "quantized model", "dataset", "table").
    case object(String)
    case list
    case any
    /// Any of these kinds.
    case either([ArgKind])
    /// Not evaluated by the dispatcher: a `(sub-command)` or `{ block }` the verb runs itself
    /// with `VerbCall.run(_:)` (as `time` does).
    case code

    public var description: String {
        switch self {
        case .number: return "a number"
        case .int: return "a whole number"
        case .string: return "a string"
        case .bool: return "true or false"
        case .choice(let words): return "one of " + words.joined(separator: "|")
        case .tensor: return "a tensor"
        case .object(let kind): return "a \(kind)"
        case .list: return "a list"
        case .any: return "any value"
        case .either(let kinds): return kinds.map(\.description).joined(separator: " or ")
        case .code: return "a (sub-command) or { block }"
        }
    }

    /// Short form for the argument table of `help VERB`.
    var shortName: String {
        switch self {
        case .choice(let words): return words.joined(separator: "|")
        case .object(let kind): return kind
        case .either(let kinds): return kinds.map(\.shortName).joined(separator: "|")
        case .code: return "(command)"
        default: return String(description.split(separator: " ").last ?? "")
        }
    }
}

/// One argument of a verb.
public struct ArgSpec {
    public enum Role: Equatable { case positional, variadic(min: Int), key }
    public var name: String
    public var kind: ArgKind
    public var role: Role
    /// Used when the argument is absent; nil with `required` false means "absent is fine".
    public var defaultValue: Value?
    public var required: Bool
    /// Allowed numeric range for .number / .int arguments.
    public var range: ClosedRange<Double>?
    public var help: String

    /// A positional argument; required unless it has a default or `optional` is set.
    public static func positional(_ name: String, _ kind: ArgKind, default value: Value? = nil, optional: Bool = false,
                                  range: ClosedRange<Double>? = nil, help: String) -> ArgSpec {
        ArgSpec(name: name, kind: kind, role: .positional, defaultValue: value, required: value == nil && !optional,
                range: range, help: help)
    }

    /// The trailing positionals, at least `min` of them, collected into a list.
    public static func variadic(_ name: String, _ kind: ArgKind, min: Int = 0, range: ClosedRange<Double>? = nil,
                                help: String) -> ArgSpec {
        ArgSpec(name: name, kind: kind, role: .variadic(min: min), defaultValue: nil, required: min > 0, range: range, help: help)
    }

    /// A `name=value` argument; optional unless `required` is set.
    public static func key(_ name: String, _ kind: ArgKind, default value: Value? = nil, required: Bool = false,
                           range: ClosedRange<Double>? = nil, help: String) -> ArgSpec {
        ArgSpec(name: name, kind: kind, role: .key, defaultValue: value, required: required, range: range, help: help)
    }

    var isPositional: Bool { role != .key }

    /// How the argument appears in a synopsis: MODEL, [N], DIM..., bits=4, [out=PATH].
    var synopsisWord: String {
        switch role {
        case .key:
            if let d = defaultValue { return "[\(name)=\(d.text)]" }
            return required ? "\(name)=\(kind.shortName.uppercased())" : "[\(name)=\(kind.shortName.uppercased())]"
        case .positional:
            return required ? name : "[\(name)]"
        case .variadic(let min):
            return min > 0 ? "\(name)..." : "[\(name)...]"
        }
    }
}

/// One verb: a row of the table. A name of two words ("qfa train") is a sub-command of the
/// group named by its first word; the dispatcher picks the row from a command's second word.
public struct VerbSpec {
    public var name: String
    public var synopsis: String
    /// One sentence, shown by `help`.
    public var summary: String
    public var arguments: [ArgSpec]
    /// Longer text for `help VERB`.
    public var help: String
    public var examples: [String]
    /// Hidden verbs work but are not listed by `help` or completed.
    public var hidden: Bool
    /// Accepts `name=value` keys beyond its rows (any value kind), in `VerbCall.extraKeys`;
    /// `record TABLE bits=2 ppl=12.3` names its columns this way.
    public var openKeys: Bool
    public var run: (VerbCall) throws -> Value

    /// `synopsis` defaults to one built from the arguments.
    public init(name: String, synopsis: String? = nil, summary: String, arguments: [ArgSpec] = [], help: String = "",
                examples: [String] = [], hidden: Bool = false, openKeys: Bool = false, run: @escaping (VerbCall) throws -> Value) {
        self.name = name
        self.synopsis = synopsis ?? ([name] + arguments.map(\.synopsisWord)).joined(separator: " ")
        self.summary = summary
        self.arguments = arguments
        self.help = help
        self.examples = examples
        self.hidden = hidden
        self.openKeys = openKeys
        self.run = run
    }

    /// "qfa train" -> ("qfa", "train"); nil for a one-word name.
    public static func split(_ name: String) -> (group: String, sub: String)? {
        guard let blank = name.firstIndex(of: " ") else { return nil }
        return (String(name[..<blank]), String(name[name.index(after: blank)...]))
    }

    public var keyNames: [String] { arguments.filter { $0.role == .key }.map(\.name) }
    var positionals: [ArgSpec] { arguments.filter(\.isPositional) }
}
