// What the REPL's Tab should offer at the cursor, decided from the text before the word being
// completed (readline's word breaks include blanks, '$', '{', '(', '=' and quotes).

public enum CompletionContext: Equatable, Sendable {
    /// The first word of a command: verb and group names.
    case verb
    /// After `$` or `${`: variable names.
    case variable
    /// A later word of a command: that verb's `key=` names (or a path when none fits).
    case key(verb: String)
    /// The word after a group's name (`qfa `): its sub-commands.
    case subCommand(group: String)
    /// Anything else: file names.
    case path
}

extension Interpreter {
    /// As the static form, knowing the groups: after `qfa ` the sub-commands, after
    /// `qfa train ` train's keys.
    public func completionContext(before: String) -> CompletionContext {
        let context = Self.completionContext(before: before)
        guard case .key(let group) = context, !subCommands(of: group).isEmpty else { return context }
        let words = Self.commandWords(before: before) ?? []
        guard words.count >= 2 else { return .subCommand(group: group) }
        return verbs[group + " " + words[1]] != nil ? .key(verb: group + " " + words[1]) : context
    }

    /// The context of the word that starts right after `before` (the line up to the word).
    public static func completionContext(before: String) -> CompletionContext {
        if before.hasSuffix("$") || before.hasSuffix("${") { return .variable }
        if before.hasSuffix("=") { return .path }
        guard let words = commandWords(before: before) else { return .path }
        guard let verb = words.first else { return .verb }
        if ["for", "if", "else"].contains(verb) { return .path }
        return .key(verb: verb)
    }

    /// The finished words of the command being typed, its verb first (nil inside a string).
    static func commandWords(before: String) -> [String]? {
        // The current command starts after the last '(' '{' ';' outside a string.
        var segment = "", quoted = false
        for c in before {
            if c == "\"" { quoted.toggle() }
            if !quoted && "({;".contains(c) { segment = "" } else { segment.append(c) }
        }
        if quoted { return nil }
        var words = segment.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if words.count >= 2 && words[1] == "=" { words.removeFirst(2) }
        else if let first = words.first, let eq = first.firstIndex(of: "="), eq != first.startIndex,
                first[..<eq].allSatisfy(Parser.isNameChar) {
            let rest = String(first[first.index(after: eq)...])   // `x=verb` or `x= verb`
            if rest.isEmpty { words.removeFirst() } else { words[0] = rest }
        }
        return words
    }

    /// The candidates for a context (not yet filtered by the typed prefix).
    public func completionCandidates(_ context: CompletionContext) -> [String] {
        switch context {
        case .verb: return visibleFirstWords + ["for", "if"]
        case .subCommand(let group): return subCommands(of: group)
        case .variable: return variables.keys.sorted()
        case .key(let verb): return (verbs[verb]?.keyNames ?? []).map { $0 + "=" }
        case .path: return []
        }
    }
}
