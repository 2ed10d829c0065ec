// The dispatcher: checks a command against its verb's row, then runs it.
//
// Order of checks, all before the verb's action runs: the verb exists (else the nearest name);
// for a group (rows named "qfa train", "qfa search", ...) the first argument, a plain word, names
// one of its sub-commands and that row is checked from here on (a group with a row of its own,
// like `sweep NOTEBOOK`, takes any other first argument; else the error lists the sub-commands);
// every key is one of the row's keys (any key for an `openKeys` verb) and appears once (else the
// valid keys and the nearest);
// the number of positionals fits; required arguments are present; then the arguments are
// evaluated and each value is checked against its kind and range.
import QATTensor

extension Interpreter {
    func call(_ cmd: Command) throws -> Value {
        let (spec, arguments) = try resolve(cmd)
        var positional: [Argument] = [], keyed: [String: Argument] = [:]
        for a in arguments {
            guard let key = a.key else { positional.append(a); continue }
            guard spec.keyNames.contains(key) || spec.openKeys else { throw unknownKey(key, spec, at: a.position) }
            guard keyed[key] == nil else {
                throw InterpError(at: a.position, "\(spec.name): \(key)= is given twice", hint: "give each key once")
            }
            keyed[key] = a
        }
        try checkArity(spec, positional, keyed, at: cmd.position)
        var call = VerbCall(spec: spec, interpreter: self, position: cmd.position)
        try bindPositionals(spec, positional, into: &call)
        for arg in spec.arguments where arg.role == .key {
            if let a = keyed[arg.name] {
                try bind(arg, a.value, as: "\(arg.name)=", into: &call)
                call.given.insert(arg.name)
            } else if let d = arg.defaultValue {
                call.values[arg.name] = d
            }
        }
        for a in arguments {
            guard let key = a.key, !spec.keyNames.contains(key) else { continue }
            call.extraKeys.append((key, try argumentValue(a.value, .any)))
            call.given.insert(key)
        }
        return try invoke(spec, call)
    }

    /// The row a command runs and the arguments left for it: a group's sub-command word is
    /// consumed by the choice of row.
    func resolve(_ cmd: Command) throws -> (VerbSpec, [Argument]) {
        guard let subs = groups[cmd.verb] else {
            guard let spec = verbs[cmd.verb] else { throw unknownVerb(cmd) }
            return (spec, cmd.arguments)
        }
        let first = cmd.arguments.first
        let word = first.flatMap { $0.key == nil ? Self.plainWord($0.value) : nil }
        if let word, subs.contains(word), let spec = verbs[cmd.verb + " " + word] {
            return (spec, Array(cmd.arguments.dropFirst()))
        }
        if let bare = verbs[cmd.verb] { return (bare, cmd.arguments) }
        var hint = "\(cmd.verb)'s sub-commands: " + subCommands(of: cmd.verb).joined(separator: ", ") + " (`help \(cmd.verb)`)"
        guard let word else {
            throw InterpError(at: first?.position ?? cmd.position, "\(cmd.verb) needs a sub-command first", hint: hint)
        }
        if let near = nearest(word, in: subCommands(of: cmd.verb)) { hint = "did you mean '\(cmd.verb) \(near)'? " + hint }
        throw InterpError(at: first?.position ?? cmd.position, "\(cmd.verb): unknown sub-command '\(word)'", hint: hint)
    }

    /// The text of a bare word or a shell word (`qat qfa train ...`); nil for anything computed.
    static func plainWord(_ node: Node) -> String? {
        switch node {
        case .word(let w, _), .string(let w, _): return w
        default: return nil
        }
    }

    func checkArity(_ spec: VerbSpec, _ positional: [Argument], _ keyed: [String: Argument], at p: SourcePos) throws {
        let specs = spec.positionals
        if case .variadic(let min)? = specs.last?.role {
            let fixed = specs.count - 1
            if positional.count < fixed + min {
                let missing = positional.count < fixed ? specs[positional.count].name : specs[fixed].name
                throw InterpError(at: p, "\(spec.name): missing \(missing)", hint: "usage: \(spec.synopsis)")
            }
        } else {
            if positional.count > specs.count {
                let extra = positional[specs.count]
                throw InterpError(at: extra.position, "\(spec.name): too many arguments (it takes \(specs.count) positional)",
                                  hint: "usage: \(spec.synopsis)")
            }
            if let missing = specs.dropFirst(positional.count).first(where: \.required) {
                throw InterpError(at: p, "\(spec.name): missing \(missing.name)", hint: "usage: \(spec.synopsis)")
            }
        }
        for arg in spec.arguments where arg.role == .key && arg.required && keyed[arg.name] == nil {
            throw InterpError(at: p, "\(spec.name): missing \(arg.name)=", hint: "usage: \(spec.synopsis)")
        }
    }

    func bindPositionals(_ spec: VerbSpec, _ positional: [Argument], into call: inout VerbCall) throws {
        for (k, arg) in spec.positionals.enumerated() {
            if case .variadic = arg.role {
                var items: [Value] = []
                for a in positional.dropFirst(k) {
                    let v = try check(argumentValue(a.value, arg.kind), arg, label: arg.name, spec: spec, at: a.value.position)
                    items.append(v)
                    call.positionals.append(v)
                }
                call.values[arg.name] = .list(items)
                call.given.insert(arg.name)
            } else if k < positional.count {
                try bind(arg, positional[k].value, as: arg.name, into: &call)
                call.positionals.append(call.values[arg.name] ?? .none)
                call.given.insert(arg.name)
            } else if let d = arg.defaultValue {
                call.values[arg.name] = d
            }
        }
    }

    /// Evaluates one argument (or keeps its code) and checks it against the row.
    func bind(_ arg: ArgSpec, _ node: Node, as label: String, into call: inout VerbCall) throws {
        if arg.kind == .code {
            switch node {
            case .command, .block: call.code[arg.name] = node
            default:
                throw InterpError(at: node.position, "\(call.spec.name): \(label) must be \(ArgKind.code)",
                                  hint: "e.g. \(call.spec.name) (sleep 1)")
            }
            return
        }
        call.values[arg.name] = try check(argumentValue(node, arg.kind), arg, label: label, spec: call.spec, at: node.position)
    }

    /// An argument's value. A bare word where the kind takes no string names a variable, so
    /// `show x` and `quantize m` work like `show $x` and `quantize $m`.
    func argumentValue(_ node: Node, _ kind: ArgKind) throws -> Value {
        if case .word(let name, _) = node, conform(.string(name), to: kind) == nil, let v = variables[name] {
            return v
        }
        return try evaluate(node)
    }

    /// Checks a value against an argument's kind and range; returns it converted (a number
    /// given for a string becomes its text; a bool becomes 1 or 0).
    func check(_ v: Value, _ arg: ArgSpec, label: String, spec: VerbSpec, at p: SourcePos) throws -> Value {
        guard let converted = conform(v, to: arg.kind) else {
            var hint = "usage: \(spec.synopsis)"
            if case .choice(let words) = arg.kind, case .string(let s) = v, let near = nearest(s, in: words) {
                hint = "did you mean \(near)?"
            } else if case .string(let s) = v, Parser.isNameStart(s.first), s.allSatisfy(Parser.isNameChar) {
                hint = "no variable is named \(s)" + (nearest(s, in: Array(variables.keys)).map { "; did you mean \($0)?" } ?? "")
            }
            throw InterpError(at: p, "\(spec.name): \(label) must be \(arg.kind), got \(describe(v))", hint: hint)
        }
        if let r = arg.range, case .number(let d) = converted, !r.contains(d) {
            throw InterpError(at: p, "\(spec.name): \(label) is \(Value.format(d)), outside \(Value.format(r.lowerBound))...\(Value.format(r.upperBound))",
                              hint: "usage: \(spec.synopsis)")
        }
        return converted
    }

    func conform(_ v: Value, to kind: ArgKind) -> Value? {
        switch (kind, v) {
        case (.any, _), (.number, .number), (.string, .string), (.tensor, .tensor), (.list, .list):
            return v
        case (.int, .number(let d)):
            return d == d.rounded() && abs(d) <= largestExactWholeNumber ? v : nil
        case (.string, .number(let d)):
            return .string(Value.format(d))
        case (.bool, .number(let d)) where d == 0 || d == 1:
            return v
        case (.bool, .string(let s)):
            if ["true", "yes", "on"].contains(s) { return .number(1) }
            if ["false", "no", "off"].contains(s) { return .number(0) }
            return nil
        case (.choice(let words), .string(let s)):
            return words.contains(s) ? v : nil
        case (.choice(let words), .number(let d)):
            return words.contains(Value.format(d)) ? .string(Value.format(d)) : nil
        case (.object(let k), .object(let o)):
            return o.kind == k ? v : nil
        case (.list, .string(let s)):
            // From the shell a list arrives as one word, "[devil gnu-standards]" or "[2,3]".
            guard s.hasPrefix("["), s.hasSuffix("]"), s.count >= 2 else { return nil }
            let words = s.dropFirst().dropLast().split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" })
            return .list(words.map { w in Double(w).map(Value.number) ?? .string(String(w)) })
        case (.either(let kinds), _):
            return kinds.lazy.compactMap { self.conform(v, to: $0) }.first
        default:
            return nil
        }
    }

    /// Runs the action; errors without a position get the command's position and verb name.
    func invoke(_ spec: VerbSpec, _ call: VerbCall) throws -> Value {
        do {
            return try MatmulPrecision.$current.withValue(precision) { try spec.run(call) }
        } catch var e as InterpError {
            if e.position == nil {
                e.position = call.position
                e.message = "\(spec.name): \(e.message)"
            }
            throw e
        } catch is Interrupted {
            throw InterpError(.interrupted, at: call.position, "interrupted (Ctrl-C) in \(spec.name)",
                              hint: "variables keep their values")
        } catch let q as QuitSignal {
            throw q
        } catch {
            throw InterpError(at: call.position, "\(spec.name): \(error)")
        }
    }

    func unknownVerb(_ cmd: Command) -> InterpError {
        var hint = "`help` lists the verbs"
        if let near = nearest(cmd.verb, in: visibleFirstWords) { hint = "did you mean '\(near)'? " + hint }
        if variables[cmd.verb] != nil { hint = "to use the variable, write $\(cmd.verb)" }
        return InterpError(at: cmd.position, "unknown verb '\(cmd.verb)'", hint: hint)
    }

    func unknownKey(_ key: String, _ spec: VerbSpec, at p: SourcePos) -> InterpError {
        let keys = spec.keyNames
        guard !keys.isEmpty else {
            return InterpError(at: p, "\(spec.name): unknown key '\(key)'; it takes no key=value arguments",
                               hint: "usage: \(spec.synopsis)")
        }
        var hint = "valid keys: " + keys.joined(separator: ", ")
        if let near = nearest(key, in: keys) { hint = "did you mean '\(near)'? " + hint }
        return InterpError(at: p, "\(spec.name): unknown key '\(key)'", hint: hint)
    }
}
