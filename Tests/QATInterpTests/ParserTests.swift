// The parser: statements, words, expressions, positions of errors, incomplete input.
import Testing
@testable import QATInterp

extension QATInterpTests { @Suite struct ParserTests {
    @Test func issueExampleParses() throws {
        let script = try Parser.parse(issueExample, file: "example.qat")
        #expect(script.statements.count == 9)
        guard case .assign("x", .command(let randn)) = script.statements[0].body else { Issue.record("x = randn"); return }
        #expect(randn.verb == "randn" && randn.arguments.count == 3 && randn.arguments[2].key == "seed")
        guard case .command(let ppl) = script.statements[5].body else { Issue.record("ppl"); return }
        #expect(ppl.arguments.count == 3)
        if case .string(let path, _) = ppl.arguments[1].value { #expect(path == "/usr/share/common-licenses/GPL-3") }
        else { Issue.record("quoted path") }
        guard case .forLoop("b", .list(let items, _), let body) = script.statements[6].body else { Issue.record("for"); return }
        #expect(items.count == 3 && body.count == 2)
        guard case .command(let record) = body[1].body, case .command(let sub)? = record.arguments.last?.value else {
            Issue.record("record ... ppl=(ppl ...)"); return
        }
        #expect(record.arguments.last?.key == "ppl" && sub.verb == "ppl")
        #expect(script.statements[6].position == SourcePos(file: "example.qat", line: 7, column: 1))
        #expect(script.text(of: script.statements[3]) == "m = load smollm2")
    }

    @Test func wordsAndKinds() throws {
        let s = try Parser.parse("f a 3 -2.5 1e-3 out/x.h5 \"q s\" $v ${w} p/$v.h5 [1 b] (g 1) k=v", file: "t")
        guard case .command(let c) = s.statements[0].body else { Issue.record("command"); return }
        #expect(c.arguments.count == 12)
        let v = c.arguments.map(\.value)
        if case .word("a", _) = v[0] {} else { Issue.record("bare word") }
        if case .number(3, _) = v[1] {} else { Issue.record("3") }
        if case .number(-2.5, _) = v[2] {} else { Issue.record("-2.5") }
        if case .number(0.001, _) = v[3] {} else { Issue.record("1e-3") }
        if case .word("out/x.h5", _) = v[4] {} else { Issue.record("path word") }
        if case .string("q s", _) = v[5] {} else { Issue.record("quoted") }
        if case .variable("v", _) = v[6] {} else { Issue.record("$v") }
        if case .variable("w", _) = v[7] {} else { Issue.record("${w}") }
        if case .interpolation(let parts, _) = v[8] { #expect(parts.count == 3) } else { Issue.record("p/$v.h5") }
        if case .list(let l, _) = v[9] { #expect(l.count == 2) } else { Issue.record("list") }
        if case .command(let g) = v[10] { #expect(g.verb == "g") } else { Issue.record("sub-command") }
        #expect(c.arguments[11].key == "k")
        #expect(c.arguments[11].position == SourcePos(file: "t", line: 1, column: 60))
    }

    @Test func commandOrExpressionAfterAssignment() throws {
        let s = try Parser.parse("a = load m\nb = 2 * $c\nc = \"t\"\nd = [1 2]\ne = $a\nf = (2 + 3)\ng=3", file: "t")
        var kinds: [String] = []
        for st in s.statements {
            guard case .assign(_, let rhs) = st.body else { Issue.record("assignment"); return }
            switch rhs {
            case .command: kinds.append("command")
            case .binary: kinds.append("binary")
            case .number: kinds.append("number")
            default: kinds.append("value")
            }
        }
        #expect(kinds == ["command", "binary", "value", "value", "value", "binary", "number"])
    }

    @Test(arguments: [
        ("x = 2 +\n", 1, 8, "expected a value"),
        ("}", 1, 1, "unexpected '}'"),
        ("for x [1 2] {}", 1, 7, "expected 'in'"),
        ("if 1 { print a }\nelse { print b }", 2, 1, "'else' without an 'if'"),
        ("quantize m bits= 3", 1, 17, "expected a value right after 'bits='"),
        ("x = out/x.h5", 1, 5, "is not a verb name"),
        ("if $a = 1 { }", 1, 7, "compare with '=='"),
        ("x = 3 y", 1, 7, "unexpected 'y'"),
        ("print \"a\\qb\"", 1, 9, "unknown escape"),
        ("x = 2 * rtn", 1, 9, "bare word 'rtn'"),
        ("print a\"b\"", 1, 8, "expected a blank"),
        ("for x in [1]\n{ }", 1, 13, "expected '{'"),
        ("x = 12abc", 1, 5, "is not a number"),
        ("print $", 1, 7, "'$' must be followed"),
        ("a = (1 + 2]", 1, 11, "expected ')'"),
    ] as [(String, Int, Int, String)])
    func syntaxErrorPositions(text: String, line: Int, column: Int, message: String) throws {
        let e = try #require(parseError(text))
        #expect(e.kind == .syntax)
        #expect(e.position == SourcePos(file: "t.qat", line: line, column: column), "\(e)")
        #expect(e.message.contains(message), "\(e.message)")
    }

    @Test(arguments: [
        ("print \"abc", 1, 7),
        ("for x in [1 2] {\n  print $x\n", 1, 16),
        ("x = (1 +\n 2", 1, 5),
        ("l = [1 2\n3", 1, 5),
        ("print ${x", 1, 7),
        ("print a \\", 1, 9),
        ("if 1 {\n for y in [1] {\n print $y\n }\n", 1, 6),
        ("s = \"two\nlines", 1, 5),
        ("time { sleep 1", 1, 6),
    ] as [(String, Int, Int)])
    func incompleteInput(text: String, line: Int, column: Int) throws {
        let e = try #require(parseError(text))
        #expect(e.kind == .incomplete, "\(e)")
        #expect(e.position == SourcePos(file: "t.qat", line: line, column: column), "\(e)")
    }

    @Test func completeMultiLineInput() throws {
        let s = try Parser.parse("for x in [1\n 2] {\n  if $x > 1 {\n    print $x\n  } else { print no }\n}\n", file: "t")
        #expect(s.statements.count == 1)
        let t = try Parser.parse("print a \\\n  b   # comment\nx = [1 # c\n2]; y = 3", file: "t")
        #expect(t.statements.count == 3)
    }

    @Test func firstLineOffsetsPositions() throws {
        let e = try #require(interpError { _ = try Parser.parse("a = 1\n}", file: "<stdin>", firstLine: 10) })
        #expect(e.position == SourcePos(file: "<stdin>", line: 11, column: 1))
    }

    /// The fuzz finding Tests/Fuzz/regressions/interp/deep-parentheses-stack-overflow.qat: the
    /// parser recursed once per '(' and a few thousand of them overflowed the stack. Nesting past
    /// Parser.maxNesting is now a syntax error; 100 levels still parse and evaluate.
    @Test(arguments: [("x = ", "(", ")"), ("x = ", "[", "]"), ("x = ", "-", ""), ("", "if 1 {\n", "\n}")])
    func nestingIsBoundedNotAStackOverflow(lead: String, open: String, close: String) throws {
        let deep = lead + String(repeating: open, count: 20_000) + "1" + String(repeating: close, count: 20_000)
        let e = try #require(parseError(deep))
        #expect(e.kind == .syntax && e.message.contains("nested more than 100 deep"), "\(e)")
        let fine = lead + String(repeating: open, count: Parser.maxNesting - 1) + "1" + String(repeating: close, count: Parser.maxNesting - 1)
        _ = try Parser.parse(fine, file: "t.qat")
    }

    /// A long flat sum builds a left-deep tree: it must evaluate (and be freed) without deep recursion trouble.
    @Test func aLongFlatSumEvaluates() throws {
        let (interp, _) = session()
        let terms = 5_000
        let v = try interp.run("1" + String(repeating: " + 1", count: terms - 1), file: "t.qat")
        #expect(number(v) == Double(terms))
    }
}
}
