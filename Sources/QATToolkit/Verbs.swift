// The verb table: every domain command QATLab understands, one VerbSpec row each, serving the
// shell (`qat VERB ...`), the REPL and scripts alike. The interpreter (QATInterp) checks every call
// against its row (unknown keys, kinds, ranges) before the action runs, and provides the
// builtins (help, set, source, print, time, vars, range, quit). Adding a capability is adding a row.
//
// Verbs that measure or train end with a `key=value` summary line (scripts and CI grep it);
// verbs that make something return it as a value (a tensor, a model object, a dataset, a table).
import QATInterp
import QATQuant
import QATTensor

public enum Verbs {
    public static let version = "0.2.0"

    /// Every QATLab verb, in the order `help` lists them.
    public static var rows: [VerbSpec] {
        coreRows + ModelVerbs.rows + QuantVerbs.rows + TrainVerbs.rows + DataVerbs.rows + TensorVerbs.rows
            + EvalVerbs.rows + ResultVerbs.rows + DumpVerbs.rows + NotebookVerbs.rows + SweepVerbs.rows + QFAVerbs.rows + AblationVerbs.rows
    }

    static var coreRows: [VerbSpec] { [version_, threads, bench] }

    static var version_: VerbSpec {
        VerbSpec(name: "version", summary: "The QATLab version (`QATLab 0.2.0`).",
                 help: "Returns the text, so `print (version)` and `v = version` work.", examples: ["version"]) { _ in
            .string("QATLab \(version)")
        }
    }

    static var threads: VerbSpec {
        VerbSpec(name: "threads", summary: "Show or set the threads for OpenBLAS and QATLab's loops (also `set threads=N`, QAT_THREADS).",
                 arguments: [.positional("N", .int, optional: true, range: 1...64, help: "the new thread count")],
                 help: "Prints threads=N. The count starts at QAT_THREADS or the number of cores.",
                 examples: ["threads", "threads 2"]) { call in
            if call.has("N") { Threads.set(try call.int("N")) }
            call.out("threads=\(Threads.count)")
            return .none
        }
    }

    static var bench: VerbSpec {
        VerbSpec(name: "bench", summary: "Measure kernels, a model's forward, fake quantization or training throughput.",
                 arguments: [
                    .positional("WHAT", .choice(["tensor", "model", "quant", "train", "eval"]), help: "what to measure"),
                    .positional("MODEL", .string, optional: true, help: "the model for `model` and `eval` (default smollm2) and `train` (default default)"),
                    .key("batch", .int, default: .number(4), range: 1...64, help: "bench tensor: windows per block forward"),
                    .key("seq", .int, range: 2...8192, help: "tokens per window (bench tensor: 512, bench train: 256)"),
                    .key("ctx", .int, default: .number(512), range: 2...32768, help: "bench model: tokens in the window"),
                    .key("repeats", .int, default: .number(3), range: 1...100, help: "timed repeats (best is kept; one more warms up)"),
                    .key("windows", .int, default: .number(4), range: 1...10000, help: "bench eval: perplexity windows of ctx tokens"),
                    .key("items", .int, default: .number(40), range: 1...100000, help: "bench eval: capitals items scored"),
                    .key("shots", .int, default: .number(0), range: 0...64, help: "bench eval: few-shot examples per item"),
                 ],
                 help: "bench tensor: OpenBLAS sgemm GFLOP/s and the forward+backward of one SmolLM2-shaped LLaMA block in the same run (last line block_vs_sgemm=<ratio>). bench model [MODEL] [ctx=512]: forward tokens/s of a real model against the sgemm-bound ideal. bench quant: fake-quant forward+backward over a 1536x576 weight in ns/element against memcpy. bench train [MODEL] [seq=256]: Block-AP and E2E-QP tokens/s and their fraction of the sgemm peak. bench eval [MODEL] [ctx=512] [items=40] [shots=0]: perplexity tokens/s and capitals items/s (and forward tokens/s) against the sgemm-bound ideal.",
                 examples: ["bench tensor repeats=2", "bench model smollm2 ctx=256", "bench quant", "bench train tiny seq=128", "bench eval smollm2 items=40"]) { call in
            let repeats = try call.int("repeats")
            let log: (String) -> Void = { call.out($0) }
            switch try call.string("WHAT") {
            case "tensor":
                _ = try benchTensor(batch: try call.int("batch"), seq: try call.int("seq", default: 512), repeats: repeats, log: log)
            case "quant":
                try benchQuant(log: log)
            case "train":
                try benchTrain(spec: try call.string("MODEL", default: "default"), seq: try call.int("seq", default: 256), repeats: repeats, log: log)
            case "eval":
                try benchEval(spec: try call.string("MODEL", default: "smollm2"), ctx: try call.int("ctx"), windows: try call.int("windows"),
                              items: try call.int("items"), shots: try call.int("shots"), repeats: repeats, log: log)
            default:
                try benchModel(spec: try call.string("MODEL", default: "smollm2"), ctx: try call.int("ctx"), repeats: repeats, log: log)
            }
            return .none
        }
    }
}

/// An error of a verb's own (the dispatcher prefixes the verb's name and the position).
public struct VerbError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `seed=` when given; otherwise the session seed (`set seed=N`) when it is not 0; otherwise the
/// row's default for seed=.
func seed(_ call: VerbCall) throws -> UInt64 {
    if call.has("seed") || call.interpreter.seed == 0 { return UInt64(try call.int("seed")) }
    return UInt64(call.interpreter.seed)
}

/// A seed= key with its default.
func seedKey(_ d: Int, _ what: String = "random draws") -> ArgSpec {
    .key("seed", .int, default: .number(Double(d)), range: 0...Double(Int32.max), help: "seed of the \(what) (else `set seed=N` when not 0)")
}
