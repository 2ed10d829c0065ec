// The text of `help`: the verb list, one verb's page, and the language summary.
import QATTensor

enum Help {
    static let topics: Set<String> = ["language", "syntax", "for", "if", "else"]

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

    /// `d` with exactly `digits` decimals (no Foundation here).
    /// The one fixed-point formatting (QATTensor's `fmt`).
    static func fixed(_ d: Double, _ digits: Int) -> String { fmt(d, digits: digits) }

    static func overview(_ interp: Interpreter) -> String {
        let names = interp.visibleVerbNames
        let width = (names.map(\.count).max() ?? 0) + 2
        var lines = ["QATLab verbs (`help VERB` for one verb, `help GROUP SUB` for a sub-command, `help language` for the syntax):"]
        // a group's rows together where the group first appears: its own row, then its sub-commands
        var listed: Set<String> = []
        for n in names {
            let first = VerbSpec.split(n)?.group ?? n
            let rows = [first] + interp.subCommands(of: first).map { first + " " + $0 }
            for r in rows where !listed.contains(r) && interp.verb(r)?.hidden == false {
                listed.insert(r)
                if let v = interp.verb(r) { lines.append("  " + pad(r, width) + v.summary) }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `help qfa`: the group's sub-commands, one line each.
    static func group(_ interp: Interpreter, _ name: String) -> String {
        let subs = interp.subCommands(of: name)
        let width = (subs.map { name.count + 1 + $0.count }.max() ?? 0) + 2
        var lines = ["\(name) sub-commands (`help \(name) SUB` for one):"]
        for sub in subs {
            if let v = interp.verb(name + " " + sub) { lines.append("  " + pad(name + " " + sub, width) + v.summary) }
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ v: VerbSpec) -> String {
        var lines = [v.synopsis, "  " + v.summary]
        if !v.help.isEmpty { lines += ["", "  " + v.help] }
        if !v.arguments.isEmpty {
            lines += ["", "arguments:"]
            let labels = v.arguments.map(label)
            let w1 = (labels.map(\.count).max() ?? 0) + 2
            let kinds = v.arguments.map(kindText)
            let w2 = (kinds.map(\.count).max() ?? 0) + 2
            for (k, a) in v.arguments.enumerated() { lines.append("  " + pad(labels[k], w1) + pad(kinds[k], w2) + a.help) }
        }
        if !v.examples.isEmpty { lines += ["", "examples:"] + v.examples.map { "  " + $0 } }
        return lines.joined(separator: "\n")
    }

    static func label(_ a: ArgSpec) -> String {
        switch a.role {
        case .key: return a.defaultValue.map { "\(a.name)=\($0.text)" } ?? "\(a.name)=" + (a.required ? " (required)" : "")
        case .positional: return a.defaultValue.map { "\(a.name) (default \($0.text))" } ?? (a.required ? a.name : "[\(a.name)]")
        case .variadic: return a.name + "..."
        }
    }

    static func kindText(_ a: ArgSpec) -> String {
        var s = a.kind.shortName
        if let r = a.range { s += " \(Value.format(r.lowerBound))...\(Value.format(r.upperBound))" }
        return s
    }

    static let language = """
    The QATLab command language
      One command per line:   verb positional key=value ...      (no blanks around '=')
                              quantize m method=rtn bits=2 group=64
      Variables:              m = load smollm2      x = 2 * $b      print $x ${x}
                              one session scope; a for variable keeps its last value
      Values:                 numbers 3 -0.5 1e-4, "strings", bare words (text), lists [2 3 4],
                              tensors, models, quantized models, datasets, tables, none
      Strings:                "bits=$b in ${name}\\n"   escapes \\n \\t \\r \\\\ \\" \\$
                              a bare word may hold $var too: out/$name.h5
      Bare words:             text (`method=rtn`, `out/x.h5`), except where a verb expects a
                              tensor, model or other object: there a bare word names a
                              variable, so `show x` is `show $x` and `quantize m` is `quantize $m`
      Sub-commands:           record results ppl=(ppl q devil ctx=512)
      Verb groups:            qfa train ..., bench tensor, sweep status DIR: the second word
                              picks the row; `help qfa` lists them, `help qfa train` shows one
      Arithmetic:             + - * / on numbers, usual precedence; comparisons == != < <= > >=
                              give 1 or 0; == and != also compare strings and lists
      Command or expression?  after `name =` and inside ( ), a bare word first means a verb:
                              x = randn 4 8 is a command; x = 2 * $b, x = "text", x = [1 2],
                              x = $y are expressions. In an expression, quote text: "rtn"
      Loops and branches:     for b in [2 3 4] { ... }        for i in (range 10) { ... }
                              if $b > 2 { ... } else if $b == 2 { ... } else { ... }
                              a block opens on its line; `else` follows the `}` on its line
      Truth:                  nonzero numbers, non-empty strings and lists, tensors, objects
      Comments:               # to the end of the line (at the start of a word)
      Continuation:           newlines inside ( ) [ ] { } and strings, or after a trailing \\
      Printing:               at top level a command's or expression's value is printed unless
                              it is assigned or none; inside blocks use print
      Scripts:                source FILE; `qat < FILE` or `qat source FILE` from the shell; a
                              script stops at its first error (exit status 1)
      Errors:                 FILE:LINE:COLUMN: error: message, then a hint; at the prompt every
                              variable survives an error; Ctrl-C stops the running verb
      Limits:                 set steplimit=N caps the statements one input may run (0: none)
    """
}
