// The verbs the language itself provides: help, set, source, print, time, vars, range, quit
// (and the hidden exit and sleep). The toolkit adds the domain verbs with Interpreter.register.
import QATTensor
#if canImport(Glibc)
import Glibc
#endif

enum Builtins {
    static var rows: [VerbSpec] { [help, source, printRow, time, vars, range, quit, exitRow, sleep] }

    static var help: VerbSpec {
        VerbSpec(name: "help", summary: "List the verbs, or describe one verb or `help language`.",
                 arguments: [.positional("VERB", .string, optional: true, help: "a verb name, or `language` for the syntax"),
                             .positional("SUB", .string, optional: true, help: "a sub-command of a group: `help qfa train`")],
                 help: """
                     Without an argument, lists every verb with its summary. With a verb, prints \
                     its synopsis, arguments (kinds, defaults, help) and examples. With a group \
                     (qfa, bench, sweep), lists its sub-commands; `help GROUP SUB` describes one.
                     """,
                 examples: ["help", "help quantize", "help qfa", "help qfa train", "help language"]) { call in
            let interp = call.interpreter
            guard call.has("VERB") else { call.out(Help.overview(interp)); return .none }
            let name = try call.string("VERB")
            if Help.topics.contains(name) && !call.has("SUB") { call.out(Help.language); return .none }
            let full = call.has("SUB") ? name + " " + (try call.string("SUB")) : name
            if let spec = interp.verb(full) {
                let subs = interp.subCommands(of: full)
                call.out(Help.describe(spec) + (subs.isEmpty ? "" : "\n\n" + Help.group(interp, full)))
            } else if !interp.subCommands(of: full).isEmpty {
                call.out(Help.group(interp, full))
            } else {
                throw unknownTopic(interp, name, sub: call.has("SUB") ? try call.string("SUB") : nil)
            }
            return .none
        }
    }

    static func unknownTopic(_ interp: Interpreter, _ name: String, sub: String?) -> InterpError {
        let subs = interp.subCommands(of: name)
        if let sub, !subs.isEmpty {
            var hint = "\(name)'s sub-commands: " + subs.joined(separator: ", ")
            if let near = nearest(sub, in: subs) { hint = "did you mean 'help \(name) \(near)'? " + hint }
            return InterpError.verb("\(name) has no sub-command '\(sub)'", hint: hint)
        }
        if let sub, interp.verb(name) != nil {
            return InterpError.verb("\(name) has no sub-commands ('\(sub)')", hint: "help \(name)")
        }
        var hint = "`help` lists the verbs; `help language` describes the syntax"
        if let near = nearest(name, in: interp.visibleFirstWords) { hint = "did you mean '\(near)'? " + hint }
        return InterpError.verb("no verb named '\(name)'", hint: hint)
    }

    static func setRow(_ options: [OptionSpec]) -> VerbSpec {
        VerbSpec(name: "set", synopsis: "set [NAME=VALUE ...]", summary: "Show the session options, or set some.",
                 arguments: options.map { .key($0.name, $0.kind, range: $0.range, help: $0.help) },
                 help: "Session options: " + options.map(\.name).joined(separator: ", ") + ". An unknown option is an error.",
                 examples: ["set", "set threads=2 seed=7", "set verbosity=0", "set precision=bf16"]) { call in
            let interp = call.interpreter
            if call.given.isEmpty {
                let width = (options.map(\.name.count).max() ?? 0) + 12
                for o in options { call.out(Help.pad("\(o.name)=\(o.get(interp).text)", width) + o.help) }
                return .none
            }
            for o in options where call.has(o.name) {
                try o.set(interp, call.value(o.name) ?? .none)
            }
            return .none
        }
    }

    // The setters' Int(d) are safe: `set` checks each value against its row's .int kind and range first.
    static var options: [OptionSpec] {
        [
            OptionSpec(name: "threads", kind: .int, range: 1...64, help: "threads for OpenBLAS and QATLab's loops",
                       get: { _ in .number(Double(Threads.count)) },
                       set: { _, v in if case .number(let d) = v { Threads.set(Int(d)) } }),
            OptionSpec(name: "seed", kind: .int, range: 0...9e15, help: "default seed of verbs that draw random numbers",
                       get: { .number(Double($0.seed)) },
                       set: { i, v in if case .number(let d) = v { i.seed = Int(d) } }),
            OptionSpec(name: "verbosity", kind: .int, range: 0...3, help: "0 quiet, 1 normal, 2 chatty, 3 debug",
                       get: { .number(Double($0.verbosity)) },
                       set: { i, v in if case .number(let d) = v { i.verbosity = Int(d) } }),
            OptionSpec(name: "precision", kind: .choice(MatmulPrecision.allCases.map(\.rawValue)),
                       help: "model matmuls: fp32, or bf16 inputs with fp32 accumulation (CPUs with AVX512-BF16)",
                       get: { .string($0.precision.rawValue) },
                       set: { i, v in
                           guard case .string(let name) = v, let p = MatmulPrecision(rawValue: name) else { return }
                           if p == .bf16 && !CPUFeatures.bf16Available {
                               i.output(CPUFeatures.bf16UnavailableMessage)
                               i.precision = .fp32
                           } else {
                               i.precision = p
                           }
                       }),
            OptionSpec(name: "steplimit", kind: .int, range: 0...9e15, help: "statements per input before a runaway-loop error (0: none)",
                       get: { .number(Double($0.stepLimit)) },
                       set: { i, v in if case .number(let d) = v { i.stepLimit = Int(d) } }),
        ]
    }

    static var source: VerbSpec {
        VerbSpec(name: "source", summary: "Run the commands of a script file in this session.",
                 arguments: [.positional("FILE", .string, help: "the script's path, relative to the current directory")],
                 help: """
                     Runs FILE as if its lines were typed here: variables it sets stay set and \
                     top-level values are printed. An error inside names the file, line and column, \
                     then where it was sourced from.
                     """,
                 examples: ["source Notebooks/quickstart.qat"]) { call in
            try call.interpreter.runFile(try call.string("FILE"), calledFrom: call.position)
            return .none
        }
    }

    static var printRow: VerbSpec {
        VerbSpec(name: "print", summary: "Print values on one line, separated by spaces.",
                 arguments: [.variadic("VALUE", .any, help: "values to print (strings without quotes)")],
                 help: "Inside loops and blocks values are not printed by themselves; print them.",
                 examples: ["print \"bits=$b\" (ppl q devil)", "print $x"]) { call in
            call.out(call.positionals.map(\.text).joined(separator: " "))
            return .none
        }
    }

    static var time: VerbSpec {
        VerbSpec(name: "time", summary: "Run a sub-command or block and print how long it took.",
                 arguments: [.positional("COMMAND", .code, help: "a (sub-command) or { block } to measure")],
                 help: """
                     Prints `time: SECONDS s` and returns the command's value, so `x = time (randn \
                     512 512)` still sets x.
                     """,
                 examples: ["time (ppl q devil ctx=512)", "time { for b in [2 3 4] { q = quantize m bits=$b } }"]) { call in
            let start = ContinuousClock.now
            let v = try call.run("COMMAND")
            let seconds = (ContinuousClock.now - start).inSeconds
            call.out("time: \(Help.fixed(seconds, 3)) s")
            return v
        }
    }

    static var vars: VerbSpec {
        VerbSpec(name: "vars", summary: "List the session's variables with their kinds and values.",
                 help: "Variables live for the whole session; an error never removes them.",
                 examples: ["vars"]) { call in
            let interp = call.interpreter
            if interp.variables.isEmpty { call.out("no variables"); return .none }
            let width = (interp.variables.keys.map(\.count).max() ?? 0) + 2
            for name in interp.variables.keys.sorted() {
                let v = interp.variables[name] ?? .none
                var t = v.text
                if t.count > 60 { t = String(t.prefix(57)) + "..." }
                call.out(Help.pad(name, width) + Help.pad(v.kindName, 16) + t)
            }
            return .none
        }
    }

    static var range: VerbSpec {
        VerbSpec(name: "range", summary: "A list of whole numbers: range N is 0..N-1; range A B is A..B-1.",
                 arguments: [.positional("A", .int, help: "the count, or the first number when B is given"),
                             .positional("B", .int, optional: true, help: "one past the last number"),
                             .key("step", .int, default: .number(1), help: "the increment (not 0)")],
                 help: """
                     A negative step counts down: range 5 0 step=-1 is [5 4 3 2 1]. Lists are \
                     capped at 10000000 numbers.
                     """,
                 examples: ["for i in (range 3) { print $i }", "range 2 10 step=2"]) { call in
            let a = try call.int("A"), step = try call.int("step")
            let (lo, hi) = call.has("B") ? (a, try call.int("B")) : (0, a)
            guard step != 0 else { throw InterpError.verb("step=0 never ends", hint: "use a step of 1 or -1") }
            let n = step > 0 ? max(0, (hi - lo + step - 1) / step) : max(0, (lo - hi - step - 1) / -step)
            guard n <= 10_000_000 else { throw InterpError.verb("\(n) numbers is too many", hint: "at most 10000000") }
            return .list((0..<n).map { .number(Double(lo + $0 * step)) })
        }
    }

    static var quit: VerbSpec {
        VerbSpec(name: "quit", summary: "Leave the session (Ctrl-D does the same at the prompt).",
                 arguments: [.positional("STATUS", .int, default: .number(0), range: 0...255, help: "the exit status")],
                 help: "In a script, stops it; `qat` then exits with STATUS. At the prompt, ends the session.",
                 examples: ["quit", "quit 1"]) { call in
            call.interpreter.requestExit(Int32(try call.int("STATUS")))
            throw QuitSignal()
        }
    }

    static var exitRow: VerbSpec {
        var row = quit
        row.name = "exit"
        row.synopsis = "exit [STATUS]"
        row.hidden = true
        return row
    }

    static var sleep: VerbSpec {
        VerbSpec(name: "sleep", summary: "Wait SECONDS, checking Ctrl-C every 10 ms (for tests of interrupts).",
                 arguments: [.positional("SECONDS", .number, range: 0...86400, help: "how long to wait")],
                 examples: ["time (sleep 0.5)"], hidden: true) { call in
            let end = ContinuousClock.now + .milliseconds(Int64(try call.number("SECONDS") * 1000))
            while ContinuousClock.now < end {
                try Interrupt.check()
                usleep(10_000)
            }
            try Interrupt.check()
            return .none
        }
    }
}
