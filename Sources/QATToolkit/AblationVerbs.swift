// Verbs the ablation notebooks (Notebooks/*.qat, issue 10) need beyond training and evaluation:
//   default KEY=VALUE ...   a script's defaults for variables the caller may set (quick=0)
//   summary KEY             a number or word from the last key=value line a verb printed
//   cell TABLE COLUMN       one cell of a table (a row from `eval` or `trainlog`)
//   trainlog FILE.h5        a training log (OUT.work/train_log.h5) as a table, per step or per block
//   fullqat MODEL ...       full-model QAT: W, s, z end to end with cross-entropy for a wall-time budget
// Each exists so a notebook stays a list of verbs: no values copied by hand from a transcript.
import Foundation
import QATInterp
import QATIO
import QATQuant
import QATResults
import QATTensor
import QATTrain

enum AblationVerbs {
    static var rows: [VerbSpec] { [defaultRow, summary, cell, trainlog, fullqat] }

    static var defaultRow: VerbSpec {
        VerbSpec(name: "default", synopsis: "default KEY=VALUE ...",
                 summary: "Set variables that are not set yet (a script's defaults for `qat notebook FILE quick=1`).",
                 help: """
                     A variable the caller already set (from the shell, `notebook FILE KEY=VALUE`, \
                     a sweep's grid) keeps its value, so `default quick=0` lets one script serve \
                     both budgets.
                     """,
                 examples: ["default quick=0", "default quick=0 outdir=Notebooks/results"], openKeys: true) { call in
            guard !call.extraKeys.isEmpty else { throw InterpError.verb("nothing to default", hint: "give KEY=VALUE pairs: default quick=0") }
            for (key, value) in call.extraKeys where call.interpreter.variables[key] == nil {
                call.interpreter.variables[key] = value
            }
            return .none
        }
    }

    static var summary: VerbSpec {
        VerbSpec(name: "summary", summary: "The value of KEY in the last key=value summary line a verb printed.",
                 arguments: [.positional("KEY", .string, help: "a key of the line, e.g. seconds, final_val_mse, random_median")],
                 help: """
                     Verbs that train or measure end with a line of key=value pairs (`blockap ... \
                     seconds=12.3`); this returns one of them, as a number when it is one. Lines \
                     with fewer than two key=value words (progress, tables) do not replace the last \
                     summary.
                     """,
                 examples: ["b = blockap m bits=2 group=64; t = summary seconds", "record r gap=((summary final_val_loss) - (summary initial_val_loss))"]) { call in
            let key = try call.string("KEY")
            let pairs = call.interpreter.lastSummary
            guard let v = pairs.last(where: { $0.key == key })?.value else {
                throw InterpError.verb("the last summary has no \(key)=",
                                       hint: pairs.isEmpty ? "run a verb that prints a key=value summary first" : "its keys: " + pairs.map(\.key).joined(separator: " "))
            }
            if let d = Double(v) { return .number(d) }
            return .string(v)
        }
    }

    static var cell: VerbSpec {
        VerbSpec(name: "cell", summary: "One cell of a results table (default: the last row).",
                 arguments: [.positional("TABLE", .either([.object("table"), .string]), help: "a table value or variable"),
                             .positional("COLUMN", .string, help: "the column"),
                             .key("row", .int, default: .number(-1), range: -1_000_000...1_000_000, help: "the row, 0-based; negative counts from the end")],
                 help: "Returns the number or text; an empty cell is an error naming the row.",
                 examples: ["cell (eval q) ppl_devil", "cell log train_loss row=0"]) { call in
            let t = try ResultVerbs.tableVariable(call, create: false)
            let column = try call.string("COLUMN")
            guard t.columns.contains(column) else {
                throw InterpError.verb("table \(t.name) has no column \(column)", hint: "columns: " + t.columns.joined(separator: ", "))
            }
            let r = try call.int("row"), i = r < 0 ? t.rows.count + r : r
            guard t.rows.indices.contains(i) else { throw InterpError.verb("row \(r) is outside the table's \(t.rows.count) rows", hint: "rows count from 0; -1 is the last") }
            switch t.rows[i][column] {
            case .number(let d)?: return .number(d)
            case .text(let s)?: return .string(s)
            case nil: throw InterpError.verb("row \(r) has no value in column \(column)", hint: "choose another row or column")
            }
        }
    }

    static var trainlog: VerbSpec {
        VerbSpec(name: "trainlog", summary: "A training log (OUT.work/train_log.h5 of blockap/e2eqp out=OUT) as a table.",
                 arguments: [.positional("FILE", .string, help: "the train_log.h5 (layout: Sources/QATTrain/TrainingLog.swift)"),
                             .key("what", .choice(["steps", "summary"]), default: .string("steps"), help: "one row per step, or one per Block-AP block and one for E2E-QP")],
                 help: """
                     steps: columns phase, block (Block-AP only), step, loss, lr, grad_norm. \
                     summary: phase, block, steps, start_val_loss (RTN validation MSE / E2E-QP's \
                     initial loss), train_loss (mean step loss over the last epoch of a block, over \
                     the last tenth of E2E-QP's steps), val_loss (the final validation loss), gap = \
                     val_loss - train_loss, seconds.
                     """,
                 examples: ["log = trainlog Models/bap.work/train_log.h5", "s = trainlog Models/bap.work/train_log.h5 what=summary; cell s gap"]) { call in
            let path = try call.string("FILE")
            guard FileManager.default.fileExists(atPath: path) else {
                throw InterpError.verb("no training log at \(path)", hint: "train with out=DIR; the log is DIR.work/train_log.h5")
            }
            let f = try HDF5File.open(path: path)
            defer { try? f.close() }
            let steps = try call.string("what") == "steps"
            let t = ResultsTable(name: steps ? "trainlog" : "trainlog_summary")
            if f.exists("/blockap") {
                for child in try f.children(of: "/blockap").sorted() where child.hasPrefix("block_") {
                    let g = "/blockap/" + child
                    let block = Double(child.dropFirst(6)).map { TableValue.number($0) } ?? .text(child)
                    let loss = try f.readTensor(g + "/loss").toArray()
                    if steps {
                        let lr = try f.readTensor(g + "/lr").toArray(), gn = try f.readTensor(g + "/grad_norm").toArray()
                        for i in loss.indices { t.record(stepRow("blockap", block, i, loss, lr, gn)) }
                    } else {
                        let val = try f.readTensor(g + "/val_mse").toArray()
                        let perEpoch = val.isEmpty ? loss.count : max(1, loss.count / val.count)
                        t.record(summaryRow("blockap", block, loss: loss, tail: perEpoch, start: try double(f, "rtn_val_mse", g),
                                            final: val.last.map(Double.init), seconds: try double(f, "seconds", g)))
                    }
                }
            }
            if f.exists("/e2eqp") {
                let loss = try f.readTensor("/e2eqp/loss").toArray()
                if steps {
                    let lr = try f.readTensor("/e2eqp/lr").toArray(), gn = try f.readTensor("/e2eqp/grad_norm").toArray()
                    for i in loss.indices { t.record(stepRow("e2eqp", nil, i, loss, lr, gn)) }
                } else {
                    t.record(summaryRow("e2eqp", nil, loss: loss, tail: max(1, loss.count / 10), start: try double(f, "initial_val_loss", "/e2eqp"),
                                        final: try double(f, "final_val_loss", "/e2eqp"), seconds: try double(f, "seconds", "/e2eqp")))
                }
            }
            guard !t.rows.isEmpty else { throw InterpError.verb("\(path) holds no /blockap or /e2eqp log", hint: "is it a train_log.h5?") }
            call.out("trainlog rows=\(t.rows.count) columns=\(t.columns.joined(separator: ","))")
            return .object(t)
        }
    }

    static func stepRow(_ phase: String, _ block: TableValue?, _ i: Int, _ loss: [Float], _ lr: [Float], _ gn: [Float]) -> [(String, TableValue)] {
        var row: [(String, TableValue)] = [("phase", .text(phase))]
        if let block { row.append(("block", block)) }
        row += [("step", .number(Double(i))), ("loss", .number(Double(loss[i])))]
        if i < lr.count { row.append(("lr", .number(Double(lr[i])))) }
        if i < gn.count { row.append(("grad_norm", .number(Double(gn[i])))) }
        return row
    }

    static func summaryRow(_ phase: String, _ block: TableValue?, loss: [Float], tail: Int, start: Double?, final: Double?, seconds: Double?) -> [(String, TableValue)] {
        var row: [(String, TableValue)] = [("phase", .text(phase))]
        if let block { row.append(("block", block)) }
        row.append(("steps", .number(Double(loss.count))))
        if let start { row.append(("start_val_loss", .number(start))) }
        let last = loss.suffix(tail)
        let train = last.isEmpty ? nil : last.reduce(0.0) { $0 + Double($1) } / Double(last.count)
        if let train { row.append(("train_loss", .number(train))) }
        if let final { row.append(("val_loss", .number(final))) }
        if let train, let final { row.append(("gap", .number(final - train))) }
        if let seconds { row.append(("seconds", .number(seconds))) }
        return row
    }

    static func double(_ f: HDF5File, _ name: String, _ path: String) throws -> Double? {
        switch try f.attribute(name, on: path) {
        case .double(let d)?: return d
        case .int(let i)?: return Double(i)
        default: return nil
        }
    }

    static var fullqat: VerbSpec {
        VerbSpec(name: "fullqat", summary: """
            Full-model QAT: W, s, z of every linear trained end to end (cross-entropy and/or distillation), for a \
            wall-time budget.
            """,
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp + " (an object is not changed)"),
                    .key("bits", .int, default: .number(2), range: 2...8, help: "bits per weight"),
                    .key("group", .int, default: .number(64), range: -1...65536, help: "columns per group"),
                    .key("policy", .string, help: "per-block/linear overrides, e.g. \"w2g64,down_proj=w4g64\""),
                 ] + TrainVerbs.dataKeys(val: 16) + [
                    .key("seconds", .number, range: 0.001...1e7, help: "stop after this much wall time (e.g. Block-AP's: summary seconds)"),
                    .key("max_steps", .int, range: 1...10_000_000, help: "stop after this many optimizer steps"),
                    .key("epochs", .int, default: .number(1), range: 1...1000, help: "passes over the windows at most"),
                    .key("batch", .int, default: .number(1), range: 1...4096, help: "windows per forward"),
                    .key("accum", .int, default: .number(4), range: 1...4096, help: "forwards per optimizer step"),
                 ] + TrainVerbs.trainableKeys + [
                    .key("clip", .number, default: .number(0.3), range: 0...1e6, help: "global gradient-norm clip (0: off)"),
                    seedKey(42, "training order"),
                    TrainVerbs.initKey,
                 ] + TrainVerbs.distillationKeys + QuantVerbs.methodOptionKeys,
                 help: """
                     Installs min/max fake quantizers on every linear (as Block-AP does per block; \
                     with init= a PTQ solution's s, z and dequantized W instead, so a PTQ model is \
                     the start: a quantized MODEL alone would be re-initialised by min/max), \
                     trains W, s, z and the norm gains against next-token cross-entropy (or, with \
                     loss=kd or ce+kd, distillation from the full-precision teacher, by default \
                     MODEL itself as loaded) with \
                     Block-AP's learning rates (warm-up, then constant: the run may stop at any \
                     step), stops at seconds=, max_steps= or epochs=, then hardens every linear to \
                     integer codes. The reviewers' question \"is block-wise training needed?\" runs \
                     it for Block-AP's wall time. Memory: weights, gradients and two AdamW moments \
                     of the whole model plus one forward's activations. Ends with `fullqat spec=... \
                     steps=... stopped_by=time|max_steps|epochs loss=... initial_val_loss=... \
                     final_val_loss=... tok_per_s=... seconds=...`.
                     """,
                 examples: ["b = blockap m bits=2 group=64 samples=32 seqlen=128; f = fullqat m bits=2 group=64 samples=32 seqlen=128 seconds=(summary seconds)"]) { call in
            let (source, loaded) = try call.modelToChange("MODEL")
            let (qspec, policy) = try TrainVerbs.quantPolicy(call)
            let t = try TrainVerbs.trainables(call)
            var o = FullQATOptions(policy: policy)
            o.trainWeights = t.weights; o.trainScales = t.scales; o.trainZeros = t.zeros; o.trainNorms = t.norms
            o.weightLR = t.weightLR; o.quantLR = t.quantLR
            o.clipGrad = Float(try call.number("clip"))
            o.batchSize = try call.int("batch"); o.accumulation = try call.int("accum"); o.epochs = try call.int("epochs")
            o.seconds = call.has("seconds") ? try call.number("seconds") : nil
            o.maxSteps = call.has("max_steps") ? try call.int("max_steps") : nil
            o.seed = try seed(call)
            let initChoice = try PTQInitChoice(call)
            let data = try TrainVerbs.windows(call, loaded, seed: 2)
            let (objective, teacher) = try TrainVerbs.distillation(call, student: source, verb: "fullqat")
            o.objective = objective
            let start = try initChoice.start(source: source, model: loaded.model, policy: policy, data: data, log: { call.out($0) })
            let r = try FullQAT.run(model: loaded.model, data: data, options: o, teacher: teacher, start: start, log: { call.out($0) })
            call.out("fullqat spec=\(qspec) steps=\(r.steps) stopped_by=\(r.stoppedBy) loss=\(o.objective.kind.rawValue) initial_val_loss=\(r.initialValidationLoss) final_val_loss=\(r.finalValidationLoss) tok_per_s=\(fmt(Double(r.trainTokens) / max(r.seconds, 1e-9))) seconds=\(fmt(r.seconds))")
            return .object(ModelObject(loaded, reloadSpec: nil, origin: source.origin,
                                       method: "fullqat \(qspec)" + (initChoice.label == "minmax" ? "" : " init=\(initChoice.label)")))
        }
    }
}
