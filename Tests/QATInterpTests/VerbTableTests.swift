// The verb table: validation of every built-in verb before it runs, suggestions, help text,
// session options, the shell entry, and completion contexts.
import Testing
@testable import QATInterp
import QATTensor

extension QATInterpTests {
@Suite struct VerbTableTests {
    /// (command, expected fragment of the message or hint) for each built-in verb's checks.
    @Test(arguments: [
        ("help foo=1", "takes no key=value"), ("help [1]", "VERB must be a string, got list"), ("help a b c", "too many arguments"),
        ("help quantise", "no verb named 'quantise'"),
        ("set thread=2", "did you mean 'threads'?"), ("set threads=abc", "threads= must be a whole number, got string \"abc\""),
        ("set threads=0", "outside 1...64"), ("set verbosity=1.5", "must be a whole number"), ("set 3", "too many arguments"),
        ("source", "missing FILE"), ("source [a]", "FILE must be a string, got list"), ("source f x=1", "unknown key 'x'"),
        ("print a k=1", "takes no key=value"),
        ("time", "missing COMMAND"), ("time 5", "COMMAND must be a (sub-command) or { block }"), ("time (sleep 0) x", "too many"),
        ("vars 1", "too many arguments"), ("vars all=1", "takes no key=value"),
        ("range", "missing A"), ("range x", "A must be a whole number, got string \"x\""), ("range 3 stp=2", "did you mean 'step'?"),
        ("range 1.5", "must be a whole number"), ("range 3 step=0", "step=0 never ends"),
        ("quit x", "STATUS must be a whole number"), ("quit 300", "outside 0...255"), ("quit code=1", "takes no key=value"),
        ("sleep", "missing SECONDS"), ("sleep -1", "outside 0...86400"), ("sleep soon", "must be a number"),
        ("set threads=2 threads=3", "given twice"),
    ] as [(String, String)])
    func builtinValidation(command: String, fragment: String) throws {
        let (interp, _) = session()
        let e = try #require(interpError { try interp.run(command, file: "t") }, "\(command) should fail")
        #expect("\(e)".contains(fragment), "\(command): \(e)")
        #expect(e.position?.file == "t" && e.position?.line == 1)
        #expect(interp.exitStatus == nil)
    }

    @Test func validationHappensBeforeTheVerbRuns() throws {
        let (interp, _) = session()
        var ran = 0
        interp.register([VerbSpec(name: "count", summary: "Counts.", arguments: [.key("n", .int, help: "n")]) { _ in ran += 1; return .none }])
        _ = interpError { try interp.run("count m=(count)") }   // misspelled key: nothing evaluated, nothing run
        _ = interpError { try interp.run("count n=x") }
        #expect(ran == 0)
        try interp.run("count n=2")
        #expect(ran == 1)
    }

    @Test func unknownVerbSuggestsTheNearest() throws {
        let (interp, _) = session()
        let e = try #require(interpError { try interp.run("x = 1\n  hlep", file: "t") })
        #expect(e.position == SourcePos(file: "t", line: 2, column: 3))
        #expect(e.message == "unknown verb 'hlep'" && e.hint?.contains("did you mean 'help'?") == true)
        let v = try #require(interpError { try interp.run("x") })
        #expect(v.hint?.contains("write $x") == true)
    }

    @Test func domainRowsAreCheckedByKind() throws {
        let (interp, _) = session()
        interp.register(exampleRows(log: Captured()))
        try interp.run("m = load tiny\nt = randn 2 3")
        func failure(_ s: String) -> String { interpError { try interp.run(s) }.map { "\($0)" } ?? "no error" }
        #expect(failure("quantize $t") .contains("MODEL must be a model, got tensor"))
        #expect(failure("quantize m method=gtpq").contains("did you mean gptq?"))
        #expect(failure("quantize m bit=2").contains("did you mean 'bits'? valid keys: method, bits, group, calib"))
        #expect(failure("quantize m bits=9").contains("outside 2...8"))
        #expect(failure("quantize mm").contains("no variable is named mm; did you mean m?"))
        #expect(failure("show tt").contains("T must be a tensor, got string \"tt\""))
        #expect(failure("plot results x=bits").contains("missing y="))
        #expect(failure("randn").contains("missing DIM"))
        #expect(failure("randn 2 x").contains("DIM must be a whole number"))
        try interp.run("q = quantize m bits=3\nshow t\nppl q data\nppl $m data")   // bare words name variables
        if case .object(let q)? = interp.variables["q"] { #expect(q.kind == "quantized model" && q.summary == "rtn w3g128") }
        else { Issue.record("q should be an object") }
    }

    @Test func everyRowHasHelp() throws {
        let (interp, out) = session()
        interp.register(exampleRows(log: Captured()))
        for name in interp.verbOrder {
            let spec = try #require(interp.verb(name))
            #expect(!spec.summary.isEmpty && !spec.synopsis.isEmpty, "\(name)")
            for a in spec.arguments { #expect(!a.help.isEmpty, "\(name) \(a.name)") }
            out.lines = []
            try interp.run("help \(name)")
            #expect(out.text.hasPrefix(spec.synopsis) && out.text.contains(spec.summary), "\(name)")
        }
        for builtin in ["help", "set", "source", "print", "time", "vars", "range", "quit"] {
            let spec = try #require(interp.verb(builtin))
            #expect(!spec.help.isEmpty && !spec.examples.isEmpty, "\(builtin)")
        }
        out.lines = []
        try interp.run("help")
        #expect(out.text.contains("quantize") && out.text.contains("time") && !out.text.contains("sleep"))
        out.lines = []
        try interp.run("help language")
        #expect(out.text.contains("for b in [2 3 4]"))
        #expect(interp.verb("set")?.synopsis == "set [NAME=VALUE ...]")
        #expect(interp.verb("range")?.synopsis == "range A [B] [step=1]")
    }

    @Test func sessionOptions() throws {
        let (interp, out) = session()
        let before = Threads.count
        defer { Threads.set(before) }
        try interp.run("set threads=1 seed=42 verbosity=0")
        #expect(Threads.count == 1 && interp.seed == 42 && interp.verbosity == 0)
        try interp.run("set")
        #expect(out.lines.contains { $0.hasPrefix("seed=42 ") } && out.lines.contains { $0.hasPrefix("threads=1 ") })
        var log = 0
        interp.register(options: [OptionSpec(name: "plots", kind: .string, help: "where plots go",
                                             get: { _ in .string("Plots") }, set: { _, _ in log += 1 })])
        try interp.run("set plots=out")
        #expect(log == 1)
    }

    @Test func timeReturnsTheValueAndVarsLists() throws {
        let (interp, out) = session()
        try interp.run("l = time (range 3)\nt = time { a = 1; range 2 }\nvars")
        if case .list(let l)? = interp.variables["l"] { #expect(l.count == 3) } else { Issue.record("time's value") }
        if case .list(let l)? = interp.variables["t"] { #expect(l.count == 2) } else { Issue.record("time block's value") }
        #expect(out.lines.filter { $0.hasPrefix("time: ") && $0.hasSuffix(" s") }.count == 2)
        #expect(out.lines.contains { $0.hasPrefix("a ") && $0.contains("number") })
    }

    @Test func commandLineRunsTheSameRows() throws {
        let (interp, out) = session()
        try interp.runCommandLine(["range", "2", "8", "step=3"])
        try interp.runCommandLine(["print", "a b", "-1.5", "x/=y"])
        #expect(out.lines == ["[2 5]", "a b -1.5 x/=y"])
        let e = try #require(interpError { try interp.runCommandLine(["range", "3", "stp=2"]) })
        #expect(e.position == SourcePos(file: "<command line>", line: 1, column: 9) && e.hint?.contains("'step'") == true)
    }

    /// `qat eval m texts=[devil gnu-standards]`: the shell hands a list over as one word.
    @Test func shellWordsConformToLists() throws {
        let (interp, _) = session()
        func items(_ s: String) -> [String]? {
            guard case .list(let l)? = interp.conform(.string(s), to: .list) else { return nil }
            return l.map { v -> String in
                switch v { case .string(let w): return "s:" + w; case .number(let d): return "n:" + Value.format(d); default: return "?" }
            }
        }
        #expect(items("[devil gnu-standards]") == ["s:devil", "s:gnu-standards"])
        #expect(items("[2,3 4]") == ["n:2", "n:3", "n:4"])
        #expect(items("[]") == [])
        #expect(items("devil") == nil)
    }

    @Test(arguments: [
        ("", CompletionContext.verb), ("x = ", .verb), ("print (", .verb), ("for i in [1] { ", .verb), ("a; ", .verb),
        ("print $", .variable), ("print ${", .variable), ("quantize m ", .key(verb: "quantize")),
        ("x = range 3 ", .key(verb: "range")), ("plot r out=", .path), ("print \"a ", .path), ("x=print ", .key(verb: "print")),
    ] as [(String, CompletionContext)])
    func completionContext(before: String, expected: CompletionContext) {
        #expect(Interpreter.completionContext(before: before) == expected, "\(before)")
    }

    @Test func completionCandidates() throws {
        let (interp, _) = session()
        try interp.run("alpha = 1\nbeta = 2")
        #expect(interp.completionCandidates(.variable) == ["alpha", "beta"])
        #expect(interp.completionCandidates(.key(verb: "range")) == ["step="])
        #expect(interp.completionCandidates(.verb).contains("help") && !interp.completionCandidates(.verb).contains("sleep"))
    }
}
}
