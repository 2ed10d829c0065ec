// The verb table: every domain command QATLab understands, one VerbSpec row each, serving the
// shell (`qat VERB ...`), the REPL and scripts alike. The interpreter (QATInterp) checks every call
// against its row (unknown keys, kinds, ranges) before the action runs, and provides the
// builtins (help, set, source, print, time, vars, range, quit). Adding a capability is adding a row;
// a row named "GROUP SUB" (qfa train, bench tensor, sweep status) is a sub-command of a group.
//
// Verbs that measure or train end with a `key=value` summary line (scripts and CI grep it);
// verbs that make something return it as a value (a tensor, a model object, a dataset, a table).
import QATInterp
import QATIO
import QATQuant
import QATTensor

public enum Verbs {
    public static let version = qatLabVersion

    /// Every QATLab verb, in the order `help` lists them.
    public static var rows: [VerbSpec] {
        coreRows + ModelVerbs.rows + QuantVerbs.rows + TrainVerbs.rows + DataVerbs.rows + TensorVerbs.rows
            + EvalVerbs.rows + ResultVerbs.rows + DumpVerbs.rows + NotebookVerbs.rows + SweepVerbs.rows + QFAVerbs.rows + AblationVerbs.rows + RotateVerbs.rows
    }

    static var coreRows: [VerbSpec] { [version_, threads] + BenchVerbs.rows }

    static var version_: VerbSpec {
        VerbSpec(name: "version", summary: "The QATLab version (`QATLab 0.2.0`).",
                 help: "Returns the text, so `print (version)` and `v = version` work.", examples: ["version"]) { _ in
            .string("QATLab \(version)")
        }
    }

    static var threads: VerbSpec {
        VerbSpec(name: "threads", summary: """
            Show or set the threads for OpenBLAS and QATLab's loops (also `set threads=N`, \
            QAT_THREADS).
            """,
                 arguments: [.positional("N", .int, optional: true, range: 1...64, help: "the new thread count")],
                 help: "Prints threads=N. The count starts at QAT_THREADS or the number of cores.",
                 examples: ["threads", "threads 2"]) { call in
            if call.has("N") { Threads.set(try call.int("N")) }
            call.out("threads=\(Threads.count)")
            return .none
        }
    }
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
