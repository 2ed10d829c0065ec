// Fuzz target `interp`: the command language end to end: lexer, parser and evaluator, on a
// fresh interpreter per input with the builtin verbs plus stub verbs taking every argument kind
// (numbers, ints with ranges, strings, bools, choices, tensors, objects, lists, variadics, code).
// The step limit is set low (20,000) so a fuzzed `for` cannot hang; `source` and `sleep` are
// replaced by stubs (a fuzzed `source /dev/zero` or `sleep 86400` is the OS's business, not the
// parser's). Seeds: every line and whole file of Notebooks/*.qat, and the verbs' examples.
import QATInterp
import QATTensor

final class StubObject: InterpObject {
    let kind: String, summary: String
    init(_ kind: String, _ summary: String) { self.kind = kind; self.summary = summary }
}

func stubRows() -> [VerbSpec] {
    [
        VerbSpec(name: "randn", summary: "tensor", arguments: [.variadic("DIM", .int, min: 1, range: 1...64, help: ""),
                                                               .key("seed", .int, default: .number(0), range: 0...1e9, help: "")]) { c in
            .tensor(try Tensor.randn(try c.ints("DIM"), seed: UInt64(try c.int("seed"))))
        },
        VerbSpec(name: "show", summary: "show", arguments: [.positional("T", .tensor, help: "")]) { c in
            c.out(Value.tensor(try c.tensor("T")).display ?? ""); return .none
        },
        VerbSpec(name: "load", summary: "model", arguments: [.positional("NAME", .string, help: "")]) { c in
            .object(StubObject("model", try c.string("NAME")))
        },
        VerbSpec(name: "quantize", summary: "q", arguments: [
            .positional("MODEL", .object("model"), help: ""), .key("method", .choice(["rtn", "gptq"]), default: .string("rtn"), help: ""),
            .key("bits", .int, default: .number(4), range: 2...8, help: ""), .key("scale", .number, range: -1e6...1e6, help: ""),
            .key("flag", .bool, default: .number(0), help: ""), .key("xs", .list, help: ""), .key("any", .any, help: ""),
        ]) { c in
            .object(StubObject("quantized model", "\(try c.string("method")) \(try c.int("bits")) \(try c.bool("flag"))"))
        },
        VerbSpec(name: "ppl", summary: "ppl", arguments: [
            .positional("MODEL", .either([.object("model"), .object("quantized model")]), help: ""),
            .positional("TEXT", .string, help: ""), .key("ctx", .int, default: .number(512), range: 1...8192, help: ""),
        ]) { c in .number(Double(try c.int("ctx")) / 100) },
        VerbSpec(name: "record", summary: "rec", arguments: [.positional("TABLE", .string, help: "")], openKeys: true) { _ in .none },
        VerbSpec(name: "twice", summary: "code", arguments: [.positional("BODY", .code, help: "")]) { c in
            _ = try c.run("BODY"); return try c.run("BODY")
        },
        VerbSpec(name: "sum", summary: "sum", arguments: [.variadic("X", .number, help: "")]) { c in
            .number(try c.list("X").reduce(0) { acc, v in if case .number(let d) = v { return acc + d }; return acc })
        },
        VerbSpec(name: "source", summary: "stub", arguments: [.positional("FILE", .string, help: "")]) { _ in .none },
        VerbSpec(name: "sleep", summary: "stub", arguments: [.positional("S", .number, help: "")], hidden: true) { _ in .none },
    ]
}

func fuzzOne(_ data: [UInt8]) {
    let interp = Interpreter(output: { _ in })
    interp.register(stubRows())
    interp.stepLimit = 20_000
    let text = String(decoding: data, as: UTF8.self)
    _ = try? interp.run(text, file: "fuzz.qat")
    // A second input in the same session, as at the prompt: earlier state must still work.
    _ = try? interp.run("vars\nprint $x", file: "fuzz2.qat")
}

func makeSeeds(into dir: String) {
    var k = 0
    for nb in ["quickstart.qat", "workbench_example.qat"] {
        let text = String(decoding: readFile("\(repoRoot)/Notebooks/\(nb)"), as: UTF8.self)
        writeFile("\(dir)/\(nb)", text)
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            writeFile("\(dir)/line\(k)", String(line)); k += 1
        }
    }
    let extra = [
        "for b in [2 3 4] {\n  q = quantize (load m) bits=$b\n  record t bits=$b ppl=(ppl q devil ctx=512)\n}",
        "x = randn 4 8 seed=1\nshow x\nif (1 < 2) { print \"a${x}b\" } else { print no }",
        "twice { y = 1 + 2 * 3 / 4 - -5 }\nsum 1 2 3 4",
        "set steplimit=100 seed=3 verbosity=2\nfor i in (range 100) { for j in (range 100) { z = $i } }",
        "help quantize\nhelp language\nvars\ntime (sum 1 2)\nquit 3",
    ]
    for (i, e) in extra.enumerated() { writeFile("\(dir)/extra\(i).qat", e) }
}
