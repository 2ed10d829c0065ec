// Evaluation verbs beyond `ppl`: `kl` (drift from a reference model), `mc` (multiple-choice
// accuracy as lm-evaluation-harness scores it) and `eval` (all of them into one results-table row).
// The scoring lives in QATEval; these rows only parse arguments and print.
import Foundation
import QATEval
import QATInterp
import QATModel
import QATResults
import QATTensor

enum EvalVerbs {
    static var rows: [VerbSpec] { [kl, mc, eval, CompareVerbs.compare] }

    static let refCacheHelp = "The reference's logits are kept per window (up to QAT_REF_CACHE_MB MiB, default 2048; 0 turns it off), so later calls against the same unchanged full-precision reference run only MODEL's forward, with the same numbers."

    static let pplStderrHelp = "ppl_se, the perplexity's standard error over windows, is ppl * sd(per-window mean NLL) / sqrt(windows) (delta method, sd with windows - 1; nan with one window): windows, not tokens, are the sampling unit."

    static let taskHelp = "capitals (the bsdgames country/capital quiz, 4 choices), quiz:PATH (any bsdgames quiz file), or a .jsonl file (generic context/choices/gold, PIQA, HellaSwag, ARC or WinoGrande fields: see Data/README.md)"

    static var kl: VerbSpec {
        VerbSpec(name: "kl", summary: "KL divergence of a model's next-token distribution from a reference model's, on a text.",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp),
                    .positional("REF", modelKind, help: "the reference (usually the full-precision model MODEL came from)"),
                    .positional("TEXT", textKind, help: "a `text` dataset, a file, or fortunes / devil / gnu-standards"),
                    .key("ctx", .int, default: .number(512), range: 2...32768, help: "tokens per window (non-overlapping, as ppl)"),
                    .key("max_windows", .int, range: 1...1_000_000, help: "at most this many windows (default: all)"),
                 ],
                 help: """
                     Runs both models over the same windows, one window at a time, and prints \
                     `kl=<mean KL(ref||model) per token, nats> kl_p99=<99th percentile> \
                     kl_max=<max> top1=<fraction of tokens whose argmax agrees> ppl=<model> \
                     ppl_se=<its standard error> ref_ppl=<reference> tokens=<scored>`. Returns the \
                     mean KL. \(pplStderrHelp) \(refCacheHelp)
                     """,
                 examples: ["kl q m devil ctx=512 max_windows=16", "kl /tmp/q-w4 smollm2 devil"]) { call in
            let m = try call.model("MODEL"), ref = try call.model("REF")
            let (label, text) = try call.text("TEXT")
            let ctx = try checkedContext(call, m)
            let tokens = m.loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            call.out("model=\(m.label) ref=\(ref.label) text=\(label) tokens_in_text=\(tokens.count) ctx=\(ctx) threads=\(Threads.count)")
            let r = try Divergence.measure(model: m.model, reference: ref.model, tokens: tokens, ctx: ctx,
                                           maxWindows: call.has("max_windows") ? try call.int("max_windows") : nil)
            call.out("kl=\(fmt(r.meanKL, digits: 5)) kl_p99=\(fmt(r.p99KL, digits: 5)) kl_max=\(fmt(r.maxKL, digits: 4)) top1=\(fmt(r.top1Agreement, digits: 4)) ppl=\(fmt(r.modelPerplexity, digits: 4)) ppl_se=\(fmt(r.modelPerplexityStderr, digits: 4)) ref_ppl=\(fmt(r.referencePerplexity, digits: 4)) tokens=\(r.tokens)")
            return .number(r.meanKL)
        }
    }

    static var mc: VerbSpec {
        VerbSpec(name: "mc", summary: "Multiple-choice accuracy (acc, acc_norm) of a model on a task, 0-shot or k-shot.",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp),
                    .positional("TASK", .string, help: taskHelp),
                    .key("shots", .int, default: .number(0), range: 0...64, help: """
                        solved examples before each item: from the task's train/validation split \
                        when it has one, else from its other items
                        """),
                    .key("seed", .int, default: .number(1), range: 0...2_147_483_647, help: "distractors, choice order and few-shot draws"),
                    .key("limit", .int, range: 1...1_000_000, help: "score only the first N items"),
                    .key("template", .string, help: """
                        a quiz task's prompt: {q} the question, {qtitle}/{atitle} the column titles \
                        (capitals: \"The capital of {q} is\")
                        """),
                    .key("cols", .list, help: """
                        a quiz task's question and answer columns, e.g. cols=[1 0] asks capital -> \
                        country
                        """),
                 ],
                 help: """
                     Scores each choice by the log-likelihood of its continuation (the context run \
                     once per item); acc takes the best total, acc_norm the best per byte. Every \
                     item is scored, as lm-evaluation-harness does. Few-shot examples come from the \
                     task's train split when it has one (NAME_test.jsonl, NAME_validation.jsonl and \
                     the like, with _, - or . before the split name, use NAME_train.jsonl beside \
                     them; a test file without one uses NAME_validation.jsonl), otherwise from the \
                     task's other items (never the item itself), drawn per item with the seed; the \
                     first line names the source (shots_from=). Last line: `acc=<a> acc_norm=<b> \
                     n=<items scored> stderr=<s>` (stderr of acc; acc_norm's is printed before). \
                     Returns acc.
                     """,
                 examples: ["mc m capitals", "mc m capitals shots=5", "mc m quiz:/usr/share/games/bsdgames/quiz/state cols=[0 1]", "mc m piqa_valid.jsonl limit=200"]) { call in
            let m = try call.model("MODEL")
            let task = try loadTask(call, try call.string("TASK"))
            let shots = try call.int("shots")
            let source = task.fewShotSource.map { "\($0) (\(task.fewShotSplit.count) items)" } ?? "other_items"
            call.out("model=\(m.label) task=\(task.name) items=\(task.items.count) shots=\(shots) shots_from=\(source) threads=\(Threads.count)")
            let r = try MultipleChoiceScorer(model: m.model, tokenizer: m.loaded.tokenizer)
                .score(task, shots: shots, seed: UInt64(try call.int("seed")), limit: call.has("limit") ? try call.int("limit") : nil)
            call.out("acc_norm_stderr=\(fmt(r.accNormStderr, digits: 4)) items_per_s=\(fmt(r.itemsPerSecond, digits: 2)) seconds=\(fmt(r.seconds, digits: 1))")
            call.out("acc=\(fmt(r.acc, digits: 4)) acc_norm=\(fmt(r.accNorm, digits: 4)) n=\(r.items) stderr=\(fmt(r.accStderr, digits: 4))")
            return .number(r.acc)
        }
    }

    static var eval: VerbSpec {
        VerbSpec(name: "eval", summary: """
            Evaluate a model: perplexity per text, KL to a reference, multiple-choice accuracy, \
            average bits: one table row.
            """,
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp),
                    .key("texts", .list, default: .list([.string("devil"), .string("gnu-standards")]), help: "texts for perplexity (and KL when ref= is given)"),
                    .key("mc", .list, default: .list([.string("capitals")]), help: "multiple-choice tasks ([] for none)"),
                    .key("ref", modelKind, help: "a reference model: adds kl_TEXT and top1_TEXT"),
                    .key("ctx", .int, default: .number(512), range: 2...32768, help: "tokens per perplexity window"),
                    .key("max_windows", .int, range: 1...1_000_000, help: "at most this many windows per text"),
                    .key("shots", .int, default: .number(0), range: 0...64, help: "few-shot examples per multiple-choice item"),
                    .key("limit", .int, range: 1...1_000_000, help: "at most this many items per task"),
                    .key("seed", .int, default: .number(1), range: 0...2_147_483_647, help: "the tasks' seed (see mc)"),
                 ],
                 help: """
                     Returns a one-row table (columns: model, bits = average bits per weight of the \
                     linears, ppl_TEXT and its standard error ppl_TEXT_se per text, kl_TEXT and \
                     top1_TEXT with ref=, acc_TASK / acc_norm_TASK / stderr_TASK per task, seconds) \
                     for `record results (eval q ref=m) method=rtn`, `table` and `plot`. From the \
                     shell the last line is the row as key=value pairs. \(pplStderrHelp) \
                     stderr_TASK is acc's, sqrt(acc (1 - acc) / (n - 1)). Two rows differ beyond \
                     noise only by more than about 2 standard errors; `compare` tests a perplexity \
                     or accuracy difference paired over the same windows or items. \(refCacheHelp)
                     """,
                 examples: ["eval q ref=m", "eval q texts=[devil] mc=[capitals] ctx=256 max_windows=8 limit=40", "record results (eval q ref=m) method=gptq"]) { call in
            let row = try evaluate(call)
            let table = ResultsTable(name: "eval")
            table.record(row)
            call.out(row.map { "\($0.0)=\(cell($0.1))" }.joined(separator: " "))
            return .object(table)
        }
    }

    static func cell(_ v: TableValue) -> String {
        switch v {
        case .number(let d): return fmt(d, digits: d.magnitude >= 100 ? 2 : 4)
        case .text(let s): return s.contains(" ") ? "\"\(s)\"" : s
        }
    }

    /// The row of `eval`: texts first (KL when a reference is given), then tasks.
    static func evaluate(_ call: VerbCall) throws -> [(String, TableValue)] {
        let m = try call.model("MODEL")
        let ref = call.has("ref") ? try call.model("ref") : nil
        let ctx = try checkedContext(call, m)
        let maxWindows = call.has("max_windows") ? try call.int("max_windows") : nil
        let clock = ContinuousClock(), start = clock.now
        var row: [(String, TableValue)] = [("model", .text(m.label)), ("bits", .number(m.averageBits))]
        for spec in try call.list("texts").map(\.text) {
            let text = try TextCorpus.load(spec)
            let tokens = m.loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            let name = columnName(spec)
            if let ref {
                let r = try Divergence.measure(model: m.model, reference: ref.model, tokens: tokens, ctx: ctx, maxWindows: maxWindows)
                row += [("ppl_\(name)", .number(r.modelPerplexity)), ("ppl_\(name)_se", .number(r.modelPerplexityStderr)),
                        ("kl_\(name)", .number(r.meanKL)), ("top1_\(name)", .number(r.top1Agreement))]
                call.out("text=\(spec) ppl=\(fmt(r.modelPerplexity, digits: 4)) ppl_se=\(fmt(r.modelPerplexityStderr, digits: 4)) windows=\(r.windows) ref_ppl=\(fmt(r.referencePerplexity, digits: 4)) kl=\(fmt(r.meanKL, digits: 5)) top1=\(fmt(r.top1Agreement, digits: 4))")
            } else {
                let r = try m.model.perplexity(tokens: tokens, ctx: ctx, maxWindows: maxWindows)
                row += [("ppl_\(name)", .number(r.perplexity)), ("ppl_\(name)_se", .number(r.perplexityStderr))]
                call.out("text=\(spec) ppl=\(fmt(r.perplexity, digits: 4)) ppl_se=\(fmt(r.perplexityStderr, digits: 4)) windows=\(r.windows) tok_per_s=\(fmt(r.tokensPerSecond, digits: 1))")
            }
        }
        let scorer = MultipleChoiceScorer(model: m.model, tokenizer: m.loaded.tokenizer)
        for spec in try call.list("mc").map(\.text) {
            let task = try loadTask(call, spec)
            let r = try scorer.score(task, shots: try call.int("shots"), seed: UInt64(try call.int("seed")),
                                     limit: call.has("limit") ? try call.int("limit") : nil)
            let name = columnName(spec)
            row += [("acc_\(name)", .number(r.acc)), ("acc_norm_\(name)", .number(r.accNorm)), ("stderr_\(name)", .number(r.accStderr))]
            call.out("task=\(spec) acc=\(fmt(r.acc, digits: 4)) acc_norm=\(fmt(r.accNorm, digits: 4)) n=\(r.items) stderr=\(fmt(r.accStderr, digits: 4))")
        }
        let d = clock.now - start
        row.append(("seconds", .number(d.inSeconds)))
        return row
    }

    /// A column-name part from a text or task spec: its file name without extension, `-` -> `_`.
    static func columnName(_ spec: String) -> String {
        let base = ((spec.hasPrefix("quiz:") ? String(spec.dropFirst(5)) : spec) as NSString).lastPathComponent
        return (base as NSString).deletingPathExtension.replacingOccurrences(of: "-", with: "_")
    }

    static func loadTask(_ call: VerbCall, _ spec: String) throws -> MultipleChoiceTask {
        var columns: (Int, Int)?
        if call.has("cols") {
            let c = try call.ints("cols")
            guard c.count == 2 else { throw InterpError.verb("cols= takes two column numbers, got \(c)", hint: "e.g. cols=[0 1]") }
            columns = (c[0], c[1])
        }
        let template = call.has("template") ? try call.string("template") : nil
        let seed = UInt64(try call.int("seed"))
        let task = try MultipleChoiceTasks.load(spec, seed: seed, template: template, columns: columns)
        return task
    }
}
