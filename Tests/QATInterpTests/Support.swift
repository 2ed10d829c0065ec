// Shared helpers: a session whose output is captured, and error capture.
import Testing
@testable import QATInterp
import QATTensor

final class Captured {
    var lines: [String] = []
    var text: String { lines.joined(separator: "\n") }
}

func session() -> (Interpreter, Captured) {
    let out = Captured()
    let interp = Interpreter(output: { out.lines.append($0) })
    return (interp, out)
}

/// The InterpError `body` throws, or nil.
func interpError(_ body: () throws -> Void) -> InterpError? {
    do { try body() } catch let e as InterpError { return e } catch { return nil }
    return nil
}

/// The parse error of `text`, or nil if it parses.
func parseError(_ text: String) -> InterpError? {
    interpError { _ = try Parser.parse(text, file: "t.qat") }
}

func number(_ v: Value?) -> Double? {
    if case .number(let d)? = v { return d }
    return nil
}

/// A stand-in for the toolkit's objects.
final class FakeObject: InterpObject {
    let kind: String
    let summary: String
    init(_ kind: String, _ summary: String) { self.kind = kind; self.summary = summary }
}

/// Stub rows shaped like the domain verbs of the issue's example script, recording each call.
func exampleRows(log: Captured) -> [VerbSpec] {
    let model = ArgKind.either([.object("model"), .object("quantized model")])
    return [
        VerbSpec(name: "randn", summary: "A tensor of normal values.",
                 arguments: [.variadic("DIM", .int, min: 1, range: 1...4096, help: "sizes"),
                             .key("seed", .int, default: .number(0), help: "seed")]) { call in
            .tensor(try Tensor.randn(try call.ints("DIM"), seed: UInt64(try call.int("seed"))))
        },
        VerbSpec(name: "show", summary: "Show a tensor.", arguments: [.positional("T", .tensor, help: "tensor")]) { call in
            call.out(Value.tensor(try call.tensor("T")).display ?? ""); return .none
        },
        VerbSpec(name: "dump", summary: "Dump.", arguments: [.positional("FILE", .string, help: "path"),
                                                            .variadic("T", .tensor, min: 1, help: "tensors")]) { call in
            log.lines.append("dump \(try call.string("FILE"))"); return .none
        },
        VerbSpec(name: "load", summary: "Load.", arguments: [.positional("NAME", .string, help: "model")]) { call in
            .object(FakeObject("model", try call.string("NAME")))
        },
        VerbSpec(name: "quantize", summary: "Quantize.",
                 arguments: [.positional("MODEL", .object("model"), help: "model"),
                             .key("method", .choice(["rtn", "gptq", "awq"]), default: .string("rtn"), help: "method"),
                             .key("bits", .int, default: .number(4), range: 2...8, help: "bits"),
                             .key("group", .int, default: .number(128), help: "group"),
                             .key("calib", .string, help: "calibration set")]) { call in
            .object(FakeObject("quantized model", "\(try call.string("method")) w\(try call.int("bits"))g\(try call.int("group"))"))
        },
        VerbSpec(name: "ppl", summary: "Perplexity.",
                 arguments: [.positional("MODEL", model, help: "model"), .positional("DATA", .string, help: "text"),
                             .key("ctx", .int, default: .number(512), help: "context")]) { call in
            guard case .object(let o)? = call.value("MODEL") else { return .none }
            log.lines.append("ppl \(o.summary) \(try call.string("DATA"))")
            return .number(o.kind == "model" ? 10 : 20)
        },
        VerbSpec(name: "record", summary: "Record a row.",
                 arguments: [.positional("TABLE", .string, help: "table"), .key("bits", .any, help: "x"),
                             .key("ppl", .any, help: "y")]) { call in
            log.lines.append("record \(call.value("bits")?.text ?? "-") \(call.value("ppl")?.text ?? "-")"); return .none
        },
        VerbSpec(name: "table", summary: "Print a table.", arguments: [.positional("NAME", .string, help: "table")]) { _ in .none },
        VerbSpec(name: "plot", summary: "Plot.",
                 arguments: [.positional("TABLE", .string, help: "table"), .key("x", .string, required: true, help: "x"),
                             .key("y", .string, required: true, help: "y"), .key("out", .string, help: "path")]) { _ in .none },
    ]
}

let issueExample = """
x = randn 4 8 seed=1          # a 4x8 tensor
show x
dump out/x.h5 x               # writes /x with shape attributes
m = load smollm2
q = quantize m method=rtn bits=2 group=64
ppl q "/usr/share/common-licenses/GPL-3" ctx=512
for b in [2 3 4] {
  q = quantize m method=gptq bits=$b group=128 calib=fortunes
  record results bits=$b ppl=(ppl q devil ctx=512)
}
table results
plot results x=bits y=ppl out=Plots/ppl_vs_bits.png
"""

/// The parent of every suite here, serialized: the Ctrl-C flag is process-wide, and a test that
/// raises it must not have a concurrent test's statement consume it.
@Suite(.serialized) struct QATInterpTests {}
