// The `qfa` verb: LLM-QFA (once-for-all mixed-bit supernet, Sources/QATTrain/QFA*.swift) in four
// sub-commands, as `bench WHAT`:
//   qfa train MODEL ...      build the bases, train the adapters, write DIR/qfa.safetensors
//   qfa sample ...           preview a sampling schedule without a model (table, plot, mean/std)
//   qfa search DIR budget=B  coarse/fine random search under a mean-width budget, then held-out scoring
//   qfa subnet DIR bits=[..] | budget=B   export a mixed-bit checkpoint with merged adapters
// Each sub-command accepts only its own keys (listed in the help); each ends with a key=value line.
import Foundation
import QATEval
import QATInterp
import QATModel
import QATQuant
import QATTensor
import QATTokenizer
import QATTrain

enum QFAVerbs {
    static var rows: [VerbSpec] { [qfa] }

    static let subKeys: [String: Set<String>] = [
        "train": ["widths", "base", "bases", "bases_cache", "group", "rank", "alpha", "unit", "adapters", "steps", "lr", "batch", "accum",
                  "sampler", "period", "start", "tau", "warmup", "clip", "calib", "samples", "val", "seqlen", "seed",
                  "out", "resume", "overwrite", "checkpoint_every", "max_steps", "memory"],
        "sample": ["widths", "units", "period", "sampler", "start", "tau", "seed", "bins", "out"],
        "search": ["budget", "metric", "coarse", "fine", "pin", "calib", "val", "heldout", "seqlen", "seed", "task", "shots", "items", "heldout_items",
                   "out", "record_units"],
        "subnet": ["bits", "budget", "metric", "coarse", "fine", "pin", "calib", "val", "heldout", "seqlen", "seed", "task", "shots", "items", "heldout_items",
                   "out", "overwrite"],
    ]

    static var qfa: VerbSpec {
        VerbSpec(name: "qfa", summary: "LLM-QFA: train one mixed-bit supernet, preview its sampler, search and export subnets.",
                 arguments: [
                    .positional("SUB", .choice(["train", "sample", "search", "subnet"]), help: "what to do"),
                    .positional("TARGET", modelKind, optional: true, help: "train: the full-precision MODEL; search/subnet: the supernet DIR (out= of qfa train)"),
                    .key("widths", .either([.list, .string]), default: .list([.number(2), .number(3), .number(4)]), help: "train/sample: the bit-width choice set; one width = a dedicated QA-LoRA run"),
                    .key("base", .choice(QFABase.allCases.map(\.rawValue)), default: .string("gptq"), help: "train: base quantizer per width (checkpoint: bases=)"),
                    .key("bases", .either([.list, .string]), help: "train base=checkpoint: one quantized checkpoint directory per width, e.g. [bap-w2 bap-w3 bap-w4]"),
                    .key("bases_cache", .string, help: "train base=gptq|rtn|rtn0: a bases file reused when it was built for the same model, widths, group, base and training windows, else built and written there (supernets of one notebook share their GPTQ bases)"),
                    .key("group", .int, default: .number(32), range: 1...65536, help: "train: quantization group = adapter pooling group"),
                    .key("rank", .int, default: .number(16), range: 1...4096, help: "train: LoRA rank r"),
                    .key("alpha", .number, default: .number(16), range: 0...1e6, help: "train: LoRA alpha (scaling alpha/r)"),
                    .key("unit", .choice(QFAUnit.allCases.map(\.rawValue)), default: .string("block"), help: "train: one width per decoder block or per linear"),
                    .key("adapters", .choice(QFAAdapterMode.allCases.map(\.rawValue)), default: .string("decoupled"), help: "train: per (linear, width), one per linear, or one of rank r x widths"),
                    .key("steps", .int, default: .number(200), range: 1...10_000_000, help: "train: optimizer steps"),
                    .key("lr", .number, default: .number(2e-4), range: 0...1, help: "train: AdamW learning rate (constant after warm-up)"),
                    .key("batch", .int, default: .number(1), range: 1...4096, help: "train: windows per forward"),
                    .key("accum", .int, default: .number(4), range: 1...4096, help: "train: forwards per step"),
                    .key("sampler", .choice(QFASamplerKind.allCases.map(\.rawValue)), default: .string("balanced"), help: "train/sample: balanced (max-entropy tilt), gaussian, uniform"),
                    .key("period", .int, range: 2...100_000_000, help: "train/sample: triangle period in steps (train: 80% of steps; sample: 1000)"),
                    .key("start", .choice(["high", "low"]), default: .string("high"), help: "train/sample: where the triangle wave starts"),
                    .key("tau", .number, default: .number(0.6), range: 0.01...100, help: "train/sample: width of the gaussian sampler in bits"),
                    .key("warmup", .number, default: .number(0.03), range: 0...1, help: "train: warm-up fraction"),
                    .key("clip", .number, default: .number(0.3), range: 0...1e6, help: "train: global gradient-norm clip (0: off)"),
                    .key("units", .int, default: .number(30), range: 1...100_000, help: "sample: number of units L"),
                    .key("bins", .int, default: .number(10), range: 1...1000, help: "sample: histogram bins over [min, max]"),
                 ] + TrainVerbs.dataKeys(val: 16) + [
                    seedKey(42, "sampler, windows and search"),
                    .key("out", .string, help: "train/subnet: the directory to write; sample: the plot (.svg/.png); search: the table (.csv/.md/.h5)"),
                    .key("record_units", .string, help: "search: append one row per unit (budget, unit, sensitivity, best_bits: the width the picked subnet gives it) to this table variable, for the per-block sensitivity plot"),
                    .key("resume", .bool, default: .number(0), help: "train: continue from out=DIR.work"),
                    .key("overwrite", .bool, default: .number(0), help: "train/subnet: replace an existing out= directory"),
                    .key("checkpoint_every", .int, default: .number(16), range: 1...1_000_000, help: "train: steps between resumable checkpoints"),
                    .key("max_steps", .int, range: 1...10_000_000, help: "train: stop after this many steps (the schedule stays that of steps=)"),
                    .key("memory", .either([.string, .number]), help: "train: refuse to start when the estimated peak memory exceeds this budget, e.g. 2G or 1500M"),
                    .key("budget", .number, range: 1...16, help: "search/subnet: the mean-width budget: the mean code width over units (no scales or zeros counted, so not avg_bits)"),
                    .key("bits", .either([.list, .number, .string]), help: "subnet: one width per unit, or one width for all"),
                    .key("metric", .choice(["ppl", "mc"]), default: .string("ppl"), help: "search/subnet: validation perplexity or multiple-choice accuracy"),
                    .key("coarse", .int, default: .number(100), range: 1...100_000, help: "search: random subnets of the coarse stage"),
                    .key("fine", .int, default: .number(50), range: 0...100_000, help: "search: subnets of the fine stage"),
                    .key("pin", .number, default: .number(0.25), range: 0...0.5, help: "search: fraction of units pinned high and low"),
                    .key("task", .string, default: .string("capitals"), help: "metric=mc: the task (capitals, quiz:PATH, a .jsonl)"),
                    .key("shots", .int, default: .number(0), range: 0...64, help: "metric=mc: few-shot examples"),
                    .key("items", .int, default: .number(100), range: 1...1_000_000, help: "metric=mc: selection items scored per subnet (the first of the task's items shuffled with seed=)"),
                    .key("heldout_items", .int, range: 1...1_000_000, help: "metric=mc: held-out items (the next ones after the selection items; never seen by the search); default: all the remaining items"),
                    .key("heldout", .int, default: .number(16), range: 1...100_000, help: "search/subnet metric=ppl: held-out windows, disjoint from the val= selection windows and never seen by the search"),
                 ],
                 help: """
                 qfa train MODEL widths=[2 3 4] base=gptq group=32 rank=16 steps=N sampler=balanced period=N adapters=decoupled calib=... out=DIR: GPTQ (or RTN, or bases=[DIR...]) bases per width, QA-LoRA adapters per (linear, width), one sampled configuration per step; checkpoints into DIR.work (resume=1), log in DIR.work/train_log.h5; ends `qfa_train steps=... widths=... sampler=... val_loss_wB=... tok_per_s=... seconds=... out=...`.
                 qfa sample widths=[2 3 4] units=30 period=1000 sampler=balanced|uniform [out=PLOT.svg]: the histogram of average bits over one period, without a model; ends `mean=<m> std=<s>`.
                 qfa search DIR budget=B [metric=ppl|mc] [coarse=100 fine=50 pin=0.25] [val=16 heldout=16 seqlen=256 calib=fortunes | items=100 heldout_items=REST]: budget is the mean code width over units (not avg_bits). The search scores candidates on selection samples only (ppl: val= windows; mc: items=), cut disjoint from held-out samples (heldout= windows from the same text's last 10%, non-overlapping, seeded; mc: heldout_items= other items). It returns the pick (the best selection score of both stages); then the held-out set scores the pick, the best random (coarse) subnet and the uniform subnet of the budget (lower width everywhere, the units the budget allows at the next width spread evenly by depth: unit i is up when floor((i+1)k/L) > floor(ik/L)). A fine stage that runs out of new subnets says so. Prints every evaluated subnet and ends `qfa_search budget=... picked_selection=... random_median_selection=... fine_evaluated=... widths=... picked_heldout=... picked_heldout_se=... random_best_heldout=... uniform_heldout=... picked_vs_random_best=... picked_vs_random_best_se=... picked_beats_random_best=0|1 ...`. SEs come from the per-sample spread, s/sqrt(n): ppl on log scale (SE of ln ppl; picked_vs_X = ln(ppl_picked/ppl_X), paired per window, < 0 means the pick is better); mc on accuracy (picked_vs_X = acc difference, > 0 means better).
                 qfa subnet DIR bits=[...] | bits=3 | budget=B out=DIR2: merges the chosen adapters into the zero points and writes a mixed-bit checkpoint (ppl, eval, kl, export accept it); returns the model; budget=B searches as `qfa search` does and exports the pick; ends `qfa_subnet mean_width=... widths=... out=...`.
                 Layouts: Sources/QATTrain/QFASupernet.swift (supernet file), QFATrain.swift (checkpoint and log).
                 """,
                 examples: ["qfa sample widths=[2 3 4] units=30 period=1000 sampler=uniform",
                            "qfa train tiny base=rtn steps=8 samples=16 seqlen=64 out=/tmp/qfa-tiny",
                            "qfa search /tmp/qfa-tiny budget=3 coarse=8 fine=4",
                            "q = qfa subnet /tmp/qfa-tiny budget=2.5 coarse=8 fine=4 out=/tmp/qfa-tiny-2.5"]) { call in
            let sub = try call.string("SUB")
            let allowed = subKeys[sub] ?? []
            if let bad = call.spec.keyNames.first(where: { call.has($0) && !allowed.contains($0) }) {
                throw InterpError.verb("qfa \(sub) does not take \(bad)=", hint: "qfa \(sub) takes: \(allowed.sorted().joined(separator: " "))")
            }
            // sample and search write a plot/table, train and subnet a directory: check before any work
            try OutputCheck.requireWritable(call, keys: ["out"])
            switch sub {
            case "sample": return try sample(call)
            case "train": return try train(call)
            case "search": return try search(call)
            default: return try subnet(call)
            }
        }
    }

    static func widths(_ call: VerbCall) throws -> [Int] {
        let w = try intList(call, "widths")
        guard !w.isEmpty, w.allSatisfy({ (2...8).contains($0) }) else {
            throw InterpError.verb("widths=\(w) must be bit widths in 2...8", hint: "e.g. widths=[2 3 4]")
        }
        return w
    }

    /// A list key given as a list ([2 3 4]) or, from the shell, as a word ("2,3,4" or "[2 3 4]").
    static func wordList(_ call: VerbCall, _ key: String) throws -> [String] {
        if case .list(let items)? = call.value(key) {
            return items.map { v -> String in
                switch v {
                case .string(let s): return s
                case .number(let d): return (try? checkedInt(d, key)).map(String.init) ?? String(d)   // 1e19, inf: intList names it
                default: return v.kindName
                }
            }
        }
        let text = try call.string(key).trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
        return text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
    }

    static func intList(_ call: VerbCall, _ key: String) throws -> [Int] {
        try wordList(call, key).map { w in
            guard let v = Int(w) else { throw InterpError.verb("\(key)= holds '\(w)', not a whole number that fits an Int", hint: "e.g. \(key)=[2 3 4] or \(key)=2,3,4") }
            return v
        }
    }

    static func samplerKind(_ call: VerbCall) throws -> QFASamplerKind {
        QFASamplerKind(rawValue: try call.string("sampler")) ?? .balanced
    }

    // ---- sample

    static func sample(_ call: VerbCall) throws -> Value {
        let s = try QFASampler(widths: try widths(call), units: try call.int("units"), kind: try samplerKind(call),
                               period: try call.int("period", default: 1000), startHigh: try call.string("start") == "high",
                               tau: try call.number("tau"), seed: try seed(call))
        let p = s.preview()
        let bins = try call.int("bins"), lo = Double(s.widths[0]), hi = Double(s.widths[s.widths.count - 1])
        let h = p.histogram(bins: bins, lo: lo, hi: hi)
        let table = ResultsTable(name: "qfa_sample")
        for (i, n) in h.enumerated() {
            let a = lo + (hi - lo) * Double(i) / Double(bins), b = lo + (hi - lo) * Double(i + 1) / Double(bins)
            table.record([("bin_lo", .number(a)), ("bin_hi", .number(b)), ("steps", .number(Double(n))),
                          ("fraction", .number(Double(n) / Double(p.averages.count)))])
        }
        call.out("average bits over one period of \(s.period) steps, \(s.units) units, widths \(s.widths), \(s.kind.rawValue) sampling:")
        call.out(table.render())
        if call.has("out") {
            let path = try call.string("out")
            let svg = SVGPlot.histogram(p.averages.map(Float.init), bins: bins, title: "qfa \(s.kind.rawValue): average bits over one period", xLabel: "average bits")
            try writePlot(svg, to: path, call)
        }
        call.out("mean=\(fmt(p.mean, digits: 4)) std=\(fmt(p.std, digits: 4))")
        return .object(table)
    }

    // ---- train

    static func train(_ call: VerbCall) throws -> Value {
        var o = QFAOptions()
        o.widths = try widths(call)
        o.group = try call.int("group"); o.rank = try call.int("rank"); o.alpha = Float(try call.number("alpha"))
        o.unit = QFAUnit(rawValue: try call.string("unit")) ?? .block
        o.adapters = QFAAdapterMode(rawValue: try call.string("adapters")) ?? .decoupled
        o.base = QFABase(rawValue: try call.string("base")) ?? .gptq
        o.seed = try seed(call)
        var t = QFATrainOptions()
        t.steps = try call.int("steps"); t.lr = Float(try call.number("lr"))
        t.batchSize = try call.int("batch"); t.accumulation = try call.int("accum")
        t.sampler = try samplerKind(call)
        t.period = call.has("period") ? try call.int("period") : nil
        t.startHigh = try call.string("start") == "high"
        t.tau = try call.number("tau"); t.warmupRatio = Float(try call.number("warmup")); t.clipGrad = Float(try call.number("clip"))
        t.seed = try seed(call)
        t.maxSteps = call.has("max_steps") ? try call.int("max_steps") : nil
        t.checkpointEvery = try call.int("checkpoint_every")
        let out = call.has("out") ? try call.string("out") : nil
        t.checkpointDir = out.map { $0 + ".work" }
        t.resume = try call.bool("resume")
        guard !t.resume || out != nil else { throw InterpError.verb("resume=1 needs out=DIR (it continues from DIR.work)", hint: "give the out= of the interrupted run") }
        try QFABasesPlan.checkOutput(out, resume: t.resume, overwrite: try call.bool("overwrite"))
        let (net, loaded, data) = try buildSupernet(call, options: o, train: t)
        let r = try QFATrain.run(net, data: data, options: t, log: { call.out($0) })
        if let out {
            try net.save(dir: out, metadata: ["steps": "\(r.steps)", "train": t.fingerprint])
        }
        let vals = o.widths.map { "val_loss_w\($0)=\(fmt(r.finalValidation[$0] ?? .nan, digits: 4))" }.joined(separator: " ")
        call.out("qfa_train steps=\(r.steps) widths=\(o.widths.map(String.init).joined(separator: ",")) sampler=\(t.sampler.rawValue) adapters=\(o.adapters.rawValue) \(vals) tok_per_s=\(fmt(r.tokensPerSecond)) seconds=\(fmt(r.seconds)) peak_rss_mb=\(fmt(r.peakRSSMB)) out=\(out ?? "none")")
        _ = loaded
        return .none
    }

    /// The bases (from DIR.work when resuming, else quantized now and saved there) and the supernet.
    static func buildSupernet(_ call: VerbCall, options o: QFAOptions, train t: QFATrainOptions) throws -> (QFASupernet, LoadedModel, TrainingWindows) {
        let budget = try TrainVerbs.memoryBudget(call)
        // before the bases are built (GPTQ takes minutes): the model and windows are loaded by then
        func checkMemory(_ loaded: LoadedModel, _ data: TrainingWindows) throws {
            guard let budget else { return }
            try MemoryEstimator.qfa(model: loaded.model, seqlen: data.seqlen, batch: t.batchSize, widths: o.widths.count,
                                    group: o.group, rank: o.rank).check(budget: budget, advice: "lower seqlen=, batch=, rank= or the number of widths")
        }
        // which bases, in which order: QFABasesPlan.swift
        if let (source, bases) = try QFABasesPlan.resumed(train: t, options: o), let dir = t.checkpointDir {
            let loaded = QuantCheckpoint.isCheckpoint(source) ? try QuantCheckpoint.load(source).loaded : try ModelLoader.load(source)
            let data = try TrainVerbs.windows(call, loaded, seed: t.seed)
            try checkMemory(loaded, data)
            call.out("qfa: bases from \(QFABasesPlan.resumePath(checkpointDir: dir))")
            return (try QFASupernet(model: loaded.model, source: source, options: o, bases: bases), loaded, data)
        }
        let loaded: LoadedModel, source: String, bases: [String: [Int: QuantizedWeight]]
        var newCache: (path: String, fingerprint: String)?
        if o.base == .checkpoint {
            guard !call.has("bases_cache") else { throw InterpError.verb("bases_cache= caches GPTQ/RTN bases; base=checkpoint reads bases=[DIR ...] instead", hint: "drop bases_cache=") }
            guard call.has("bases") else { throw InterpError.verb("base=checkpoint needs bases=[DIR ...], one quantized checkpoint per width", hint: "e.g. bases=[Models/bap-w2g32 Models/bap-w3g32 Models/bap-w4g32]") }
            let dirs = try wordList(call, "bases")
            let (model, b) = try QFABases.fromCheckpoints(dirs, group: o.group)
            let ck = try QuantCheckpoint.load(dirs[0])
            loaded = LoadedModel(model: model, tokenizer: ck.tokenizer, name: dirs[0]); source = sourceSpec(dirs[0]); bases = b
            try checkMemory(loaded, try TrainVerbs.windows(call, loaded, seed: t.seed))
        } else {
            guard call.has("TARGET") else { throw InterpError.verb("qfa train needs a MODEL", hint: "qfa train smollm2 ...") }
            let (obj, l) = try call.modelToChange("TARGET")
            loaded = l; source = obj.origin
            let data = try TrainVerbs.windows(call, loaded, seed: t.seed)
            try checkMemory(loaded, data)
            let cache = call.has("bases_cache") ? try call.string("bases_cache") : nil
            if let cache, let cached = try QFABasesPlan.cached(cache, options: o, source: source, windows: data, log: { call.out($0) }) {
                bases = cached
            } else {
                bases = try QFABases.build(model: loaded.model, options: o, calibration: try CalibrationSet(windows: data.train), log: { call.out($0) })
                if let cache { newCache = (cache, data.trainFingerprint) }
            }
        }
        let net = try QFASupernet(model: loaded.model, source: source, options: o, bases: bases)
        try QFABasesPlan.keep(net, newCache: newCache, checkpointDir: t.checkpointDir, log: { call.out($0) })
        return (net, loaded, try TrainVerbs.windows(call, loaded, seed: t.seed))
    }

    // ---- search

    /// The scorer of `metric=`: selection and held-out sets drawn disjoint with the seed
    /// (QFAHeldout.swift), and the metric's name in the table and summary.
    static func scorer(_ call: VerbCall, _ loaded: LoadedModel) throws -> (scorer: QFAScorer, name: String, selection: Int, heldout: Int) {
        let s = try seed(call)
        if try call.string("metric") == "ppl" {
            let (selection, heldout) = try QFAEvalWindows.split(tokens: try searchTokens(call, loaded), seqlen: try call.int("seqlen"),
                                                                selection: try call.int("val"), heldout: try call.int("heldout"), seed: s)
            return (QFAScorer.perplexity(selection: selection, heldout: heldout), "ppl", selection.count, heldout.count)
        }
        return try multipleChoiceScorer(call, tokenizer: loaded.tokenizer)
    }

    /// The token stream the search windows come from: calib= as a text name or path, or a text dataset.
    static func searchTokens(_ call: VerbCall, _ loaded: LoadedModel) throws -> [Int32] {
        guard let d = call.dataset("calib") else {
            return loaded.tokenizer.encode(try TextCorpus.load(try call.string("calib")), addSpecial: true, parseSpecial: false)
        }
        guard case let .text(t, tokens) = d.content else {
            throw InterpError.verb("calib=\(d.name) holds windows already drawn; qfa search draws its own disjoint selection and held-out windows from a text",
                                   hint: "give calib=TEXT (a name or path), e.g. calib=fortunes, with val=, heldout= and seqlen=")
        }
        return tokens ?? loaded.tokenizer.encode(t, addSpecial: true, parseSpecial: false)
    }

    // ==== SEAM (metric=mc): the lead's multiple-choice scorer (Sources/QATEval/MultipleChoice.swift).
    // The task's items are shuffled with the seed; the first `items` are the selection items, the
    // next `heldout_items` the held-out items (disjoint). Per item: 1 when the highest-likelihood
    // choice is the gold one (lm-eval's acc), else 0.
    static func multipleChoiceScorer(_ call: VerbCall, tokenizer: any TextTokenizer) throws -> (scorer: QFAScorer, name: String, selection: Int, heldout: Int) {
        let s = try seed(call)
        let task = try MultipleChoiceTasks.load(try call.string("task"), seed: s)
        let nSelection = try call.int("items")
        let nHeldout = call.has("heldout_items") ? try call.int("heldout_items") : task.items.count - nSelection
        guard nHeldout > 0, nSelection + nHeldout <= task.items.count else {
            throw InterpError.verb("task \(task.name) has \(task.items.count) items; items=\(nSelection) selection + heldout_items=\(nHeldout) held-out items need at least one held-out item and at most \(task.items.count) in all",
                                   hint: "lower items= (e.g. items=\(max(1, task.items.count / 2))) or heldout_items=")
        }
        var order = Array(task.items.indices)
        var rng = SeededRandom(seed: s ^ 0xBB67_AE85_84CA_A73B)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var selection = task, heldout = task
        selection.items = order.prefix(nSelection).map { task.items[$0] }
        heldout.items = order.dropFirst(nSelection).prefix(nHeldout).map { task.items[$0] }
        let shots = try call.int("shots")
        let scorer = QFAScorer.accuracy { model, set in
            let t = set == .selection ? selection : heldout
            let r = try MultipleChoiceScorer(model: model, tokenizer: tokenizer).score(t, shots: shots, seed: s)
            return zip(r.logLikelihoods, t.items).map { ll, item in
                let top = ll.indices.first { i in ll.allSatisfy { $0 <= ll[i] } }
                return top == item.gold ? 1 : 0
            }
        }
        return (scorer, "acc", nSelection, nHeldout)
    }

    static func searchOptions(_ call: VerbCall) throws -> QFASearchOptions {
        var o = QFASearchOptions()
        guard call.has("budget") else { throw InterpError.verb("qfa \(try call.string("SUB")) needs budget=B (the mean code width over units)", hint: "e.g. budget=2.5") }
        o.budget = try call.number("budget"); o.coarse = try call.int("coarse"); o.fine = try call.int("fine")
        o.pin = try call.number("pin"); o.seed = try seed(call)
        return o
    }

    static func supernetDir(_ call: VerbCall) throws -> String {
        guard call.has("TARGET") else { throw InterpError.verb("qfa \(try call.string("SUB")) needs the supernet DIR", hint: "the out= of `qfa train`") }
        return try call.string("TARGET")
    }

    static func widthList(_ c: [Int]?) -> String { (c ?? []).map(String.init).joined(separator: ",") }

    static func runSearch(_ call: VerbCall, _ net: QFASupernet, _ loaded: LoadedModel) throws -> QFASearchReport {
        let o = try searchOptions(call)
        // Resolved before the search so a name that is not a table is refused before minutes of work.
        let unitsTable = call.has("record_units") ? try ResultVerbs.sessionTable(try call.string("record_units"), call) : nil
        let (scorer, name, nSelection, nHeldout) = try scorer(call, loaded)
        let r = try QFASearch.run(net, options: o, scorer: scorer, log: { call.out($0) })
        let table = ResultsTable(name: "qfa_search")
        for (i, e) in r.evaluated.enumerated() {
            table.record([("n", .number(Double(i))), ("stage", .text(e.stage)), ("mean_width", .number(e.meanWidth)),
                          ("selection_\(name)", .number(e.score)), ("widths", .text(widthList(e.configuration)))])
        }
        call.out(table.render())
        if call.has("out"), try call.string("SUB") == "search" { try table.save(path: try call.string("out")) }
        if let unitsTable { recordUnits(r, budget: o.budget, into: unitsTable) }
        call.out(summaryLine(r, options: o, name: name, selection: nSelection, heldout: nHeldout))
        return r
    }

    /// `qfa_search ...`: what the search did (counted from the report), then the held-out numbers.
    static func summaryLine(_ r: QFASearchReport, options o: QFASearchOptions, name: String, selection: Int, heldout: Int) -> String {
        func f(_ x: Double?) -> String { fmt(x ?? .nan, digits: 4) }
        let h = r.heldout
        var parts = ["qfa_search budget=\(fmt(o.budget, digits: 3)) metric=\(name)",
                     "selection_n=\(selection) heldout_n=\(heldout)",
                     "picked_stage=\(r.best?.stage ?? "none") picked_mean_width=\(fmt(r.best?.meanWidth ?? .nan, digits: 3))",
                     "picked_selection=\(f(r.best?.score)) random_best_selection=\(f(r.randomBest?.score)) random_median_selection=\(f(r.randomMedian))",
                     "coarse_evaluated=\(r.distinct("coarse")) fine_evaluated=\(r.distinct("fine")) fine_asked=\(o.fine) evaluated=\(r.evaluated.count)",
                     "seconds=\(fmt(r.seconds)) widths=\(widthList(r.best?.configuration)) uniform_widths=\(widthList(h.uniform?.configuration))",
                     "picked_heldout=\(f(h.picked?.score)) picked_heldout_se=\(f(h.picked?.standardError))",
                     "random_best_heldout=\(f(h.randomBest?.score)) random_best_heldout_se=\(f(h.randomBest?.standardError))",
                     "uniform_heldout=\(f(h.uniform?.score)) uniform_heldout_se=\(f(h.uniform?.standardError))"]
        parts.append("picked_vs_random_best=\(f(h.pickedVsRandomBest?.difference)) picked_vs_random_best_se=\(f(h.pickedVsRandomBest?.standardError))")
        parts.append("picked_vs_uniform=\(f(h.pickedVsUniform?.difference)) picked_vs_uniform_se=\(f(h.pickedVsUniform?.standardError))")
        parts.append("picked_beats_random_best=\(h.pickedVsRandomBest.map { $0.aWins ? 1 : 0 } ?? 0) picked_beats_uniform=\(h.pickedVsUniform.map { $0.aWins ? 1 : 0 } ?? 0)")
        return parts.joined(separator: " ")
    }

    /// One row per unit: its sensitivity (the search's correlation of width with the score over the
    /// coarse subnets) and the width the best subnet gives it.
    static func recordUnits(_ r: QFASearchReport, budget: Double, into table: ResultsTable) {
        for (u, sensitivity) in r.sensitivity.enumerated() {
            let bits = r.best.flatMap { u < $0.configuration.count ? Double($0.configuration[u]) : nil }
            table.record([("budget", .number(budget)), ("unit", .number(Double(u))), ("sensitivity", .number(sensitivity))]
                             + (bits.map { [("best_bits", .number($0))] } ?? []))
        }
    }

    static func search(_ call: VerbCall) throws -> Value {
        let (net, loaded) = try QFASupernet.load(dir: try supernetDir(call), log: { call.out($0) })
        let r = try runSearch(call, net, loaded)
        return .list((r.best?.configuration ?? []).map { .number(Double($0)) })
    }

    // ---- subnet

    static func subnet(_ call: VerbCall) throws -> Value {
        let dir = try supernetDir(call)
        guard call.has("out") else { throw InterpError.verb("qfa subnet needs out=DIR", hint: "the checkpoint directory to write") }
        let out = try call.string("out")
        let (net, loaded) = try QFASupernet.load(dir: dir, log: { call.out($0) })
        let config: [Int]
        if call.has("bits") {
            if case .number = call.value("bits") { config = Array(repeating: try call.int("bits"), count: net.unitCount) } else {
                let c = try intList(call, "bits")
                config = c.count == 1 ? Array(repeating: c[0], count: net.unitCount) : c
            }
        } else if call.has("budget") {
            guard let best = try runSearch(call, net, loaded).best else { throw InterpError.verb("the search evaluated no subnet", hint: "raise coarse=") }
            config = best.configuration
        } else {
            throw InterpError.verb("qfa subnet needs bits=[...] (one width per unit) or budget=B (the searched best)", hint: "e.g. bits=3 or budget=2.5")
        }
        do { try net.apply(config) } catch { throw InterpError.verb("\(error)", hint: "bits= needs \(net.unitCount) widths from \(net.options.widths)") }
        try QFAExport.write(net, config: config, to: out, overwrite: try call.bool("overwrite"), metadata: ["supernet": sourceSpec(dir)])
        let ck = try QuantCheckpoint.load(out)
        call.out("qfa_subnet mean_width=\(fmt(meanWidth(config), digits: 3)) widths=\(widthList(config)) out=\(out)")
        return .object(ModelObject(ck.loaded, reloadSpec: out, origin: net.source, method: "qfa mean width \(fmt(meanWidth(config), digits: 3))"))
    }
}
