// The `qfa` group's rows (LLM-QFA): qfa train, qfa sample, qfa search, qfa subnet, each its own
// VerbSpec with only the keys it reads, so the dispatcher refuses any other key naming the row.
// Keys two rows share are defined once below; the actions (and what each does) are in QFAVerbs.swift.
import QATInterp
import QATTrain

extension QFAVerbs {
    static var rows: [VerbSpec] { [trainRow, sampleRow, searchRow, subnetRow] }

    static let layouts = "Layouts: Sources/QATTrain/QFASupernet.swift (supernet file), QFATrain.swift (checkpoint and log)."

    // ---- keys shared by two or more rows

    static func widthsKey(_ help: String) -> ArgSpec {
        .key("widths", .either([.list, .string]), default: .list([.number(2), .number(3), .number(4)]), help: help)
    }

    static var scheduleKeys: [ArgSpec] {
        [.key("sampler", .choice(QFASamplerKind.allCases.map(\.rawValue)), default: .string("balanced"), help: "balanced (max-entropy tilt), gaussian, uniform"),
         .key("start", .choice(["high", "low"]), default: .string("high"), help: "where the triangle wave starts"),
         .key("tau", .number, default: .number(0.6), range: 0.01...100, help: "width of the gaussian sampler in bits")]
    }

    static func periodKey(_ byDefault: String) -> ArgSpec {
        .key("period", .int, range: 2...100_000_000, help: "triangle period in steps (default \(byDefault))")
    }

    static func overwriteKey() -> ArgSpec {
        .key("overwrite", .bool, default: .number(0), help: "replace an existing out= directory")
    }

    /// What `qfa search` and `qfa subnet budget=B` search with, and how subnets are scored.
    static var searchKeys: [ArgSpec] {
        [.key("budget", .number, range: 1...16, help: """
            the mean-width budget: the mean code width over units (no scales or zeros counted, so \
            not avg_bits)
            """),
         .key("metric", .choice(["ppl", "mc"]), default: .string("ppl"), help: "validation perplexity or multiple-choice accuracy"),
         .key("coarse", .int, default: .number(100), range: 1...100_000, help: "random subnets of the coarse stage"),
         .key("fine", .int, default: .number(50), range: 0...100_000, help: "subnets of the fine stage"),
         .key("pin", .number, default: .number(0.25), range: 0...0.5, help: "fraction of units pinned high and low"),
    ] + TrainVerbs.dataKeys(val: 16).filter { $0.name != "samples" } + [   // metric=ppl: selection windows from calib=
         .key("heldout", .int, default: .number(16), range: 1...100_000, help: """
             metric=ppl: held-out windows, disjoint from the val= selection windows and never seen \
             by the search
             """),
         .key("task", .string, default: .string("capitals"), help: "metric=mc: the task (capitals, quiz:PATH, a .jsonl)"),
         .key("shots", .int, default: .number(0), range: 0...64, help: "metric=mc: few-shot examples"),
         .key("items", .int, default: .number(100), range: 1...1_000_000, help: """
             metric=mc: selection items scored per subnet (the first of the task's items shuffled \
             with seed=)
             """),
         .key("heldout_items", .int, range: 1...1_000_000, help: """
             metric=mc: held-out items (the next ones after the selection items; never seen by the \
             search); default: all the remaining items
             """),
         seedKey(42, "search and the window/item draws")]
    }

    static var supernetDirArgument: ArgSpec {
        .positional("DIR", .string, help: "the supernet directory (out= of qfa train)")
    }

    // ---- rows

    static var trainRow: VerbSpec {
        VerbSpec(name: "qfa train", summary: """
            LLM-QFA: train one mixed-bit supernet (bases per width, QA-LoRA adapters, one sampled \
            configuration per step).
            """,
                 arguments: [
                    .positional("TARGET", modelKind, optional: true, help: "the full-precision MODEL (not with base=checkpoint, which reads bases=)"),
                    widthsKey("the bit-width choice set; one width = a dedicated QA-LoRA run"),
                    .key("base", .choice(QFABase.allCases.map(\.rawValue)), default: .string("gptq"), help: "base quantizer per width (checkpoint: bases=)"),
                    .key("bases", .either([.list, .string]), help: """
                        base=checkpoint: one quantized checkpoint directory per width, e.g. [bap-w2 \
                        bap-w3 bap-w4]
                        """),
                    .key("bases_cache", .string, help: """
                        base=gptq|rtn|rtn0: a bases file reused when it was built for the same \
                        model, widths, group, base and training windows, else built and written \
                        there (supernets of one notebook share their GPTQ bases)
                        """),
                    .key("group", .int, default: .number(32), range: 1...65536, help: "quantization group = adapter pooling group"),
                    .key("rank", .int, default: .number(16), range: 1...4096, help: "LoRA rank r"),
                    .key("alpha", .number, default: .number(16), range: 0...1e6, help: "LoRA alpha (scaling alpha/r)"),
                    .key("unit", .choice(QFAUnit.allCases.map(\.rawValue)), default: .string("block"), help: "one width per decoder block or per linear"),
                    .key("adapters", .choice(QFAAdapterMode.allCases.map(\.rawValue)), default: .string("decoupled"), help: "per (linear, width), one per linear, or one of rank r x widths"),
                    .key("steps", .int, default: .number(200), range: 1...10_000_000, help: "optimizer steps"),
                    .key("lr", .number, default: .number(2e-4), range: 0...1, help: "AdamW learning rate (constant after warm-up)"),
                    .key("batch", .int, default: .number(1), range: 1...4096, help: "windows per forward"),
                    .key("accum", .int, default: .number(4), range: 1...4096, help: "forwards per step"),
                 ] + scheduleKeys + [
                    periodKey("80% of steps"),
                    .key("warmup", .number, default: .number(0.03), range: 0...1, help: "warm-up fraction"),
                    .key("clip", .number, default: .number(0.3), range: 0...1e6, help: "global gradient-norm clip (0: off)"),
                 ] + TrainVerbs.dataKeys(val: 16) + [
                    seedKey(42, "sampler and windows"),
                    .key("out", .string, help: "the supernet directory to write"),
                    .key("resume", .bool, default: .number(0), help: "continue from out=DIR.work"),
                    overwriteKey(),
                    .key("checkpoint_every", .int, default: .number(16), range: 1...1_000_000, help: "steps between resumable checkpoints"),
                    .key("max_steps", .int, range: 1...10_000_000, help: "stop after this many steps (the schedule stays that of steps=)"),
                    .key("memory", .either([.string, .number]), help: """
                        refuse to start when the estimated peak memory exceeds this budget, e.g. 2G \
                        or 1500M
                        """),
                 ],
                 help: """
                 GPTQ (or RTN, or bases=[DIR...]) bases per width, QA-LoRA adapters per (linear, width), one sampled configuration per step; checkpoints into DIR.work (resume=1), log in DIR.work/train_log.h5; ends `qfa_train steps=... widths=... sampler=... val_loss_wB=... tok_per_s=... seconds=... out=...`. \(layouts)
                 """,
                 examples: ["qfa train tiny base=rtn steps=8 samples=16 seqlen=64 out=/tmp/qfa-tiny"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])   // a directory: checked before any work
            return try train(call)
        }
    }

    static var sampleRow: VerbSpec {
        VerbSpec(name: "qfa sample", summary: """
            LLM-QFA: preview a sampling schedule without a model (histogram of the mean code \
            width, mean/std).
            """,
                 arguments: [
                    widthsKey("the bit-width choice set"),
                    .key("units", .int, default: .number(30), range: 1...100_000, help: "number of units L"),
                    periodKey("1000"),
                 ] + scheduleKeys + [
                    seedKey(42, "sampler"),
                    .key("bins", .int, default: .number(10), range: 1...1000, help: "histogram bins over [min, max]"),
                    .key("out", .string, help: "the plot (.svg/.png)"),
                 ],
                 help: """
                     The histogram of the sampled configurations' mean code width (bits per unit, \
                     not avg_bits) over one period, without a model; returns the table and ends \
                     `mean=<m> std=<s>`.
                     """,
                 examples: ["qfa sample widths=[2 3 4] units=30 period=1000 sampler=uniform"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])
            return try sample(call)
        }
    }

    static var searchRow: VerbSpec {
        VerbSpec(name: "qfa search", summary: """
            LLM-QFA: search the supernet's subnets under a mean-width budget, then score the pick \
            on held-out data.
            """,
                 arguments: [supernetDirArgument] + searchKeys + [
                    .key("out", .string, help: "the table of evaluated subnets (.csv/.md/.h5)"),
                    .key("record_units", .string, help: """
                        append one row per unit (budget, unit, sensitivity, best_bits: the width \
                        the picked subnet gives it) to this table variable, for the per-block \
                        sensitivity plot
                        """),
                 ],
                 help: """
                 budget= (required) is the mean code width over units (not avg_bits). The search scores candidates on selection samples only (ppl: val= windows; mc: items=), cut disjoint from held-out samples (heldout= windows from the same text's last 10%, non-overlapping, seeded; mc: heldout_items= other items). It returns the pick (the best selection score of both stages); then the held-out set scores the pick, the best random (coarse) subnet and the uniform subnet of the budget (lower width everywhere, the units the budget allows at the next width spread evenly by depth: unit i is up when floor((i+1)k/L) > floor(ik/L)). A fine stage that runs out of new subnets says so. Prints every evaluated subnet and ends `qfa_search budget=... picked_selection=... random_median_selection=... fine_evaluated=... widths=... picked_heldout=... picked_heldout_se=... random_best_heldout=... uniform_heldout=... picked_vs_random_best=... picked_vs_random_best_se=... picked_beats_random_best=0|1 ...`. SEs come from the per-sample spread, s/sqrt(n): ppl on log scale (SE of ln ppl; picked_vs_X = ln(ppl_picked/ppl_X), paired per window, < 0 means the pick is better); mc on accuracy (picked_vs_X = acc difference, > 0 means better). \(layouts)
                 """,
                 examples: ["qfa search /tmp/qfa-tiny budget=3 coarse=8 fine=4"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])
            return try search(call)
        }
    }

    static var subnetRow: VerbSpec {
        VerbSpec(name: "qfa subnet", summary: """
            LLM-QFA: export one subnet (given widths, or the searched best of a budget) as a \
            mixed-bit checkpoint.
            """,
                 arguments: [supernetDirArgument,
                             .key("bits", .either([.list, .number, .string]), help: "one width per unit, or one width for all")]
                    + searchKeys + [
                    .key("out", .string, help: "the checkpoint directory to write"),
                    overwriteKey(),
                 ],
                 help: """
                     qfa subnet DIR bits=[...] | bits=3 | budget=B out=DIR2: merges the chosen \
                     adapters into the zero points and writes a mixed-bit checkpoint (ppl, eval, \
                     kl, export accept it); returns the model; budget=B searches as `qfa search` \
                     does (same keys) and exports the pick; ends `qfa_subnet mean_width=... \
                     widths=... out=...`. \(layouts)
                     """,
                 examples: ["q = qfa subnet /tmp/qfa-tiny budget=2.5 coarse=8 fine=4 out=/tmp/qfa-tiny-2.5"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])
            return try subnet(call)
        }
    }
}
