// The `qfa` group's actions: LLM-QFA (once-for-all mixed-bit supernet, Sources/QATTrain/QFA*.swift)
// in four sub-commands, each its own row (QFARows.swift):
//   qfa train MODEL ...      build the bases, train the adapters, write DIR/qfa.safetensors
//   qfa sample ...           preview a sampling schedule without a model (table, plot, mean/std)
//   qfa search DIR budget=B  coarse/fine random search under a mean-width budget, then held-out scoring
//   qfa subnet DIR bits=[..] | budget=B   export a mixed-bit checkpoint with merged adapters
// Each row accepts only its own keys (the dispatcher checks them); each ends with a key=value line.
import Foundation
import QATEval
import QATInterp
import QATModel
import QATQuant
import QATResults
import QATTensor
import QATTokenizer
import QATTrain

enum QFAVerbs {
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
        call.out("mean code width (bits per unit) over one period of \(s.period) steps, \(s.units) units, widths \(s.widths), \(s.kind.rawValue) sampling:")
        call.out(table.render())
        if call.has("out") {
            let path = try call.string("out")
            let svg = SVGPlot.histogram(p.averages.map(Float.init), bins: bins, title: "qfa \(s.kind.rawValue): mean code width over one period", xLabel: "mean code width (bits per unit)")
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
        guard call.has("budget") else { throw InterpError.verb("\(call.spec.name) needs budget=B (the mean code width over units)", hint: "e.g. budget=2.5") }
        o.budget = try call.number("budget"); o.coarse = try call.int("coarse"); o.fine = try call.int("fine")
        o.pin = try call.number("pin"); o.seed = try seed(call)
        return o
    }

    static func supernetDir(_ call: VerbCall) throws -> String {
        try call.string("DIR")
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
        if call.has("out"), call.spec.name == "qfa search" { try table.save(path: try call.string("out")) }
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
