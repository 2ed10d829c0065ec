// The evaluator: arithmetic, interpolation, loops and branches, sub-commands, error semantics,
// the step limit, `source`, interrupts, and the issue's example script against stub verbs.
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import QATInterp
import QATTensor

extension QATInterpTests { @Suite struct EvaluatorTests {
    @Test(arguments: [
        ("2 + 3 * 4", 14.0), ("(2 + 3) * 4", 20), ("-2 * -3", 6), ("10 - 4 - 3", 3), ("8 / 2 / 2", 2),
        ("1 + 2 < 4", 1), ("2 * 3 >= 7", 0), ("3 != 3", 0), ("3 == 3.0", 1), ("1 <= 1", 1), ("2 > 1", 1),
        ("\"a\" == \"a\"", 1), ("[1 2] == [1 2]", 1), ("[1 2] != [1 3]", 1), (".5 + 1e-1", 0.6), ("-(1 + 2) * 2", -6),
        ("(\n 1 +\n 2\n)", 3),
    ] as [(String, Double)])
    func arithmetic(expr: String, expected: Double) throws {
        let (interp, _) = session()
        try interp.run("r = \(expr)")
        let r = try #require(number(interp.variables["r"]))
        #expect(abs(r - expected) < 1e-12, "\(expr) = \(r)")
    }

    @Test func arithmeticErrors() throws {
        let (interp, _) = session()
        let e = try #require(interpError { try interp.run("s = \"a\"\nx = 1 + $s", file: "t") })
        #expect(e.position == SourcePos(file: "t", line: 2, column: 7) && e.message.contains("needs numbers"))
        let d = try #require(interpError { try interp.run("x = 1 / 0", file: "t") })
        #expect(d.message.contains("division by zero"))
    }

    @Test func interpolationAndPrinting() throws {
        let (interp, out) = session()
        try interp.run("""
        name = "w"
        b = 2
        s = "${name}$b-x \\$ \\"q\\"\\ttab"
        print $s out/$name.h5 [1 "a b" $b] 0.5 1e20
        print "$b" "list [$b]"
        $b
        [1 two]
        x = 7
        """)
        #expect(out.lines == ["w2-x $ \"q\"\ttab out/w.h5 [1 \"a b\" 2] 0.5 1e+20", "2 list [2]", "2", "[1 two]"])
        #expect(interp.variables["s"]?.text == "w2-x $ \"q\"\ttab")
    }

    @Test func loopsAndBranches() throws {
        let (interp, out) = session()
        try interp.run("""
        sum = 0
        for i in [1 2 3] {
          for j in (range 2) {
            sum = $sum + $i * 10 + $j
          }
        }
        for k in [5 15 25] {
          if $k < 10 { print small } else if $k < 20 { print medium } else { print large }
        }
        if 0 { print never }
        if "" { print never } else { print empty-is-false }
        """)
        #expect(number(interp.variables["sum"]) == 123)   // (10+11) + (20+21) + (30+31)
        #expect(number(interp.variables["i"]) == 3)   // the loop variable keeps its last value
        #expect(number(interp.variables["j"]) == 1)
        #expect(out.lines == ["small", "medium", "large", "empty-is-false"])
        let e = try #require(interpError { try interp.run("for x in 5 { }", file: "t") })
        #expect(e.message.contains("for needs a list") && e.position?.column == 10)
    }

    @Test func subCommandValues() throws {
        let (interp, out) = session()
        interp.register([VerbSpec(name: "double", summary: "Twice N.", arguments: [.positional("N", .number, help: "n")]) {
            .number(2 * (try $0.number("N")))
        }])
        try interp.run("x = (double (double 3)) + 1\nprint (double $x) [(double 1) 5]\nl = (range 3)")
        #expect(number(interp.variables["x"]) == 13)
        #expect(out.lines == ["26 [2 5]"])
        if case .list(let l)? = interp.variables["l"] { #expect(l.count == 3) } else { Issue.record("range list") }
    }

    @Test func variablesSurviveAnError() throws {
        let (interp, _) = session()
        try interp.run("keep = 1")
        let e = try #require(interpError { try interp.run("a = 1\nb = $keep + 1\nc = $kep\nd = 4", file: "<stdin>") })
        #expect(e.position == SourcePos(file: "<stdin>", line: 3, column: 5))
        #expect(e.hint?.contains("$keep") == true)
        #expect(number(interp.variables["a"]) == 1 && number(interp.variables["b"]) == 2)
        #expect(interp.variables["c"] == nil && interp.variables["d"] == nil)
        try interp.run("e = $keep + $b")
        #expect(number(interp.variables["e"]) == 3)
        let none = try #require(interpError { try Interpreter(output: { _ in }).run("print $zz") })
        #expect(none.hint?.contains("no variables are set yet") == true)
    }

    @Test func stepLimitStopsRunawayLoops() throws {
        let (interp, _) = session()
        try interp.run("set steplimit=200")
        let e = try #require(interpError { try interp.run("for i in (range 100000) { x = $i }", file: "t") })
        #expect(e.message.contains("step limit of 200"))
        #expect(number(interp.variables["x"]).map { $0 < 200 } == true)
        try interp.run("n = 0\nfor i in (range 50) { n = $n + 1 }")   // each input gets its own budget
        #expect(number(interp.variables["n"]) == 50)
        try interp.run("set steplimit=0\nfor i in (range 1000) { n = $i }")
        #expect(number(interp.variables["n"]) == 999)
    }

    @Test func sourceReportsTheInnerPosition() throws {
        let dir = "/tmp/qat-interp-test-\(getpid())"
        mkdir(dir, 0o755)
        defer { unlink("\(dir)/inner.qat"); unlink("\(dir)/outer.qat"); rmdir(dir) }
        try write("\(dir)/inner.qat", "x = 1\n\nprint $nope_var\n")
        try write("\(dir)/outer.qat", "a = 1\nsource \(dir)/inner.qat\nb = 2\n")
        let (interp, _) = session()
        let e = try #require(interpError { try interp.run("source \(dir)/outer.qat", file: "<stdin>") })
        #expect(e.position == SourcePos(file: "\(dir)/inner.qat", line: 3, column: 7))
        #expect(e.trace == [SourcePos(file: "\(dir)/outer.qat", line: 2, column: 1), SourcePos(file: "<stdin>", line: 1, column: 1)])
        #expect("\(e)".contains("in `source` at \(dir)/outer.qat:2:1"))
        #expect(number(interp.variables["a"]) == 1 && number(interp.variables["x"]) == 1 && interp.variables["b"] == nil)
        try write("\(dir)/inner.qat", "for i in [1 2] {\n")
        let inc = try #require(interpError { try interp.run("source \(dir)/inner.qat") })
        #expect(inc.kind == .syntax && inc.position?.line == 1 && inc.position?.column == 16)
        let missing = try #require(interpError { try interp.run("source \(dir)/none.qat") })
        #expect(missing.message.contains("cannot open"))
    }

    @Test func interruptStopsAtTheNextStatement() throws { try Interrupt.exclusively {
        let (interp, _) = session()
        interp.register([VerbSpec(name: "ctrlc", summary: "Presses Ctrl-C.", hidden: true) { _ in Interrupt.request(); return .none }])
        let e = try #require(interpError { try interp.run("a = 1\nctrlc\nb = 2", file: "t") })
        #expect(e.kind == .interrupted && e.position == SourcePos(file: "t", line: 3, column: 1))
        #expect(!Interrupt.requested && number(interp.variables["a"]) == 1 && interp.variables["b"] == nil)
    } }

    @Test func quitStopsTheInput() throws {
        let (interp, out) = session()
        try interp.run("print a\nquit 3\nprint b")
        #expect(interp.exitStatus == 3 && out.lines == ["a"])
    }

    @Test func issueExampleRunsAgainstStubVerbs() throws {
        let (interp, out) = session()
        let log = Captured()
        interp.register(exampleRows(log: log))
        try interp.run(issueExample, file: "example.qat")
        #expect(out.lines.first?.hasPrefix("tensor [4, 8]") == true)
        #expect(out.lines.contains("20"))   // the top-level ppl's value is printed
        #expect(log.lines == ["dump out/x.h5", "ppl rtn w2g64 /usr/share/common-licenses/GPL-3",
                              "ppl gptq w2g128 devil", "record 2 20", "ppl gptq w3g128 devil", "record 3 20",
                              "ppl gptq w4g128 devil", "record 4 20"])
    }

    @Test func tensorPreview() throws {
        let t = try Tensor(shape: [6, 8], (0..<48).map { Float($0) / 4 - 3 })
        let text = try #require(Value.tensor(t).display)
        #expect(text.split(separator: "\n").map(String.init) == [
            "tensor [6, 8]",
            "  [-3.0000 -2.7500 -2.5000 ... -1.7500 -1.5000 -1.2500]",
            "  [-1.0000 -0.7500 -0.5000 ... 0.2500 0.5000 0.7500]",
            "  ... (2 more rows)",
            "  [5.0000 5.2500 5.5000 ... 6.2500 6.5000 6.7500]",
            "  [7.0000 7.2500 7.5000 ... 8.2500 8.5000 8.7500]",
        ])
    }
}
}

func write(_ path: String, _ text: String) throws {
    guard let f = fopen(path, "w") else { throw InterpError.verb("cannot write \(path)") }
    fputs(text, f)
    fclose(f)
}
