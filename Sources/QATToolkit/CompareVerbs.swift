// `compare A B TEXT`: is B's perplexity really different from A's, or within the noise of the few
// windows measured? Both models run the same windows (A through eval's reference cache, so a
// full-precision A is computed once per window across calls); the per-window mean NLLs feed a
// paired bootstrap (QATEval/PairedBootstrap.swift). With mc=TASK the same is done for accuracy,
// paired over the task's items.
import QATEval
import QATInterp
import QATModel
import QATTensor

enum CompareVerbs {
    static var compare: VerbSpec {
        VerbSpec(name: "compare", summary: """
            Perplexity ratio B/A on the same windows with a paired bootstrap interval: is the \
            difference beyond noise?
            """,
                 arguments: [
                    .positional("A", modelKind, help: """
                        the baseline (usually the full-precision model; its logits are cached as \
                        eval's reference)
                        """),
                    .positional("B", modelKind, help: "the model compared with A"),
                    .positional("TEXT", textKind, help: "a `text` dataset, a file, or fortunes / devil / gnu-standards"),
                    .key("ctx", .int, default: .number(512), range: 2...32768, help: "tokens per window (as ppl)"),
                    .key("max_windows", .int, range: 2...1_000_000, help: "at most this many windows (default: all)"),
                    .key("resamples", .int, default: .number(2000), range: 2...1_000_000, help: "bootstrap resamples"),
                    .key("seed", .int, default: .number(1), range: 0...2_147_483_647, help: "the bootstrap's draws (and the task's split, as mc)"),
                    .key("mc", .string, help: """
                        also compare accuracy on this multiple-choice task (see mc), paired over \
                        its items
                        """),
                    .key("limit", .int, range: 2...1_000_000, help: "with mc=: at most this many items"),
                 ],
                 help: """
                     Scores A and B on the same windows and resamples the windows with replacement \
                     (paired: window w's NLL difference B - A stays together), `resamples` times \
                     from `seed` on one thread, so the same seed gives the same interval on any \
                     thread count. Prints `ppl_a=... ppl_a_se=... ppl_b=... ppl_b_se=... \
                     windows=n`, then the summary `ratio=<ppl_B/ppl_A> ratio_lo=<2.5%> \
                     ratio_hi=<97.5%> log_ratio_se=<SE of the mean NLL difference> significant=<1 \
                     if the 95% interval excludes 1> windows=<n> resamples=<r> seed=<s>`. With \
                     mc=TASK a line `acc_a=... acc_b=... acc_diff=<B - A> acc_diff_lo=... \
                     acc_diff_hi=... acc_diff_se=... acc_significant=<1 if the interval excludes 0> \
                     items=<n>` comes before it. Returns the ratio. \(EvalVerbs.pplStderrHelp)
                     """,
                 examples: ["compare m q devil ctx=512 max_windows=8", "compare smollm2 /tmp/q-w3 gnu-standards max_windows=8 resamples=5000 seed=7",
                            "compare m q devil mc=capitals"]) { call in
            let a = try call.model("A"), b = try call.model("B")
            let (label, text) = try call.text("TEXT")
            let ctx = try checkedContext(call, a)
            let resamples = try call.int("resamples"), seed = UInt64(try call.int("seed"))
            let tokens = a.loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            call.out("a=\(a.label) b=\(b.label) text=\(label) tokens_in_text=\(tokens.count) ctx=\(ctx) threads=\(Threads.count)")
            let r = try Divergence.measure(model: b.model, reference: a.model, tokens: tokens, ctx: ctx,
                                           maxWindows: call.has("max_windows") ? try call.int("max_windows") : nil)
            let boot = try PairedBootstrap.perplexityRatio(a: r.referenceWindowNLL, b: r.modelWindowNLL, resamples: resamples, seed: seed)
            call.out("ppl_a=\(fmt(r.referencePerplexity, digits: 4)) ppl_a_se=\(fmt(r.referencePerplexityStderr, digits: 4)) ppl_b=\(fmt(r.modelPerplexity, digits: 4)) ppl_b_se=\(fmt(r.modelPerplexityStderr, digits: 4)) windows=\(r.windows)")
            if call.has("mc") { try compareAccuracy(call, a, b, resamples: resamples, seed: seed) }
            call.out("ratio=\(fmt(boot.ratio, digits: 5)) ratio_lo=\(fmt(boot.low, digits: 5)) ratio_hi=\(fmt(boot.high, digits: 5)) log_ratio_se=\(fmt(boot.logRatioStderr, digits: 5)) significant=\(boot.significant ? 1 : 0) windows=\(boot.windows) resamples=\(boot.resamples) seed=\(seed)")
            return .number(boot.ratio)
        }
    }

    /// Both models on the task's items; per item 1 when the best-scoring choice is the gold one.
    static func compareAccuracy(_ call: VerbCall, _ a: ModelObject, _ b: ModelObject, resamples: Int, seed: UInt64) throws {
        let task = try EvalVerbs.loadTask(call, try call.string("mc"))
        let limit = call.has("limit") ? try call.int("limit") : nil
        func correct(_ m: ModelObject) throws -> [Double] {
            let r = try MultipleChoiceScorer(model: m.model, tokenizer: m.loaded.tokenizer).score(task, shots: 0, seed: seed, limit: limit)
            return r.correct.map { $0 ? 1 : 0 }
        }
        let ca = try correct(a), cb = try correct(b)
        let d = try PairedBootstrap.accuracyDifference(a: ca, b: cb, resamples: resamples, seed: seed)
        let significant = d.low > 0 || d.high < 0
        let mean = { (x: [Double]) in x.reduce(0, +) / Double(x.count) }
        call.out("acc_a=\(fmt(mean(ca), digits: 4)) acc_b=\(fmt(mean(cb), digits: 4)) acc_diff=\(fmt(d.difference, digits: 4)) acc_diff_lo=\(fmt(d.low, digits: 4)) acc_diff_hi=\(fmt(d.high, digits: 4)) acc_diff_se=\(fmt(d.stderr, digits: 4)) acc_significant=\(significant ? 1 : 0) items=\(ca.count) task=\(task.name)")
    }
}
