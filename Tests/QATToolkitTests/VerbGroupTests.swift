// Verb groups in QATLab's table (issue 25.3): qfa, bench and sweep are groups of rows named
// "GROUP SUB", each with only its own keys. The expected key sets and sub-command lists are written
// out by hand from the issue (not read back from the rows), and each group's every row is shown to
// run its own action: the outcome or the action's own error names that row.
import Foundation
import QATInterp
import Testing

@testable import QATToolkit

@Suite struct VerbGroupTests {
    /// The rows `help` describes after `help GROUP SUB`, by argument label, from the page's table.
    func argumentLabels(_ s: Session, _ topic: String) throws -> [String] {
        let before = s.lines.count
        try s.run("help \(topic)")
        let page = s.lines[before...].joined(separator: "\n").components(separatedBy: "\n")
        guard let start = page.firstIndex(of: "arguments:") else { return [] }
        return page[(start + 1)...].prefix { !$0.isEmpty }.map { line in
            String(line.trimmingCharacters(in: .whitespaces).prefix { $0 != " " && $0 != "=" })
        }
    }

    @Test func helpOfOneSubCommandShowsOnlyItsArguments() throws {
        let s = Session()
        let train = try argumentLabels(s, "qfa train")
        let trainKeys: Set = ["widths", "base", "bases", "bases_cache", "group", "rank", "alpha", "unit", "adapters", "steps", "lr",
                              "batch", "accum", "sampler", "period", "start", "tau", "warmup", "clip", "calib", "samples", "val",
                              "seqlen", "seed", "out", "resume", "overwrite", "checkpoint_every", "max_steps", "memory"]
        #expect(Set(train) == trainKeys.union(["[TARGET]"]))
        #expect(!train.contains("budget") && !train.contains("record_units") && !train.contains("bins"))
        let sample = try argumentLabels(s, "qfa sample")
        #expect(Set(sample) == ["widths", "units", "period", "sampler", "start", "tau", "seed", "bins", "out"])
        let merge = try argumentLabels(s, "sweep merge")
        #expect(merge == ["DIR", "union", "partial"])
        let benchTrain = try argumentLabels(s, "bench train")
        #expect(benchTrain == ["MODEL", "seq", "repeats", "profile", "peers"])
        #expect(try argumentLabels(s, "bench quant").isEmpty)
        // the page is the row's: its synopsis starts with the two words
        let before = s.lines.count
        try s.run("help qfa search")
        #expect(s.lines[before].hasPrefix("qfa search DIR [budget=NUMBER]"))
    }

    @Test func aKeyOfAnotherSubCommandIsRefusedNamingTheRow() throws {
        let s = Session()
        let e = try #require(s.error("qfa train tiny steps=1 budget=3"))
        #expect(e.message == "qfa train: unknown key 'budget'")
        #expect(e.hint?.contains("valid keys: widths,") == true && e.hint?.contains("budget") == false)
        #expect(e.position?.column == 24)
        #expect(s.error("qfa sample record_units=t")?.message == "qfa sample: unknown key 'record_units'")
        #expect(s.error("bench quant repeats=2")?.message.contains("bench quant: unknown key 'repeats'") == true)
        #expect(s.error("sweep status /tmp union=1")?.message.contains("sweep status: unknown key 'union'") == true)
    }

    @Test func helpOfAGroupListsItsSubCommands() throws {
        let s = Session()
        for (group, subs) in [("qfa", ["train", "sample", "search", "subnet"]), ("bench", ["tensor", "model", "quant", "train", "eval", "decode"]),
                              ("sweep", ["status", "merge"])] {
            let before = s.lines.count
            try s.run("help \(group)")
            let page = s.lines[before...].joined(separator: "\n").components(separatedBy: "\n")
            let header = try #require(page.firstIndex(of: "\(group) sub-commands (`help \(group) SUB` for one):"), "help \(group)")
            let listed = page[(header + 1)...].filter { $0.hasPrefix("  \(group) ") }.map { $0.split(separator: " ")[1] }
            #expect(listed.map(String.init) == subs, "help \(group)")
        }
        // the overview lists every sub-command under its group, and no bare `qfa` or `bench` row
        let before = s.lines.count
        try s.run("help")
        let overview = s.lines[before...].joined(separator: "\n")
        for row in ["qfa train", "qfa subnet", "bench eval", "sweep status", "sweep merge"] { #expect(overview.contains("  \(row) ")) }
        #expect(!overview.contains("\n  qfa  ") && !overview.contains("\n  bench  "))
    }

    @Test func anUnknownSubCommandListsTheValidOnes() throws {
        let s = Session()
        let e = try #require(s.error("qfa trian tiny"))
        #expect(e.message == "qfa: unknown sub-command 'trian'")
        #expect(e.hint == "did you mean 'qfa train'? qfa's sub-commands: train, sample, search, subnet (`help qfa`)")
        #expect(s.error("bench")?.hint?.contains("tensor, model, quant, train, eval") == true)
        #expect(s.error("bench steps=3")?.message == "bench needs a sub-command first")
        #expect(s.error("help qfa nosuch")?.hint?.contains("train, sample, search, subnet") == true)
        // a group with a row of its own (sweep NOTEBOOK) takes any other first word as that row
        #expect(s.error("sweep nosuch.qat grid=\"seed=[1]\"")?.message.contains("needs out=DIR") == true)
    }

    @Test func everyRowOfEveryGroupDispatches() throws {
        let dir = try ScratchDir("verb-groups")
        let s = Session()
        // qfa: sample runs; the others reach their own action (its error or check names the row)
        try s.run("t = qfa sample widths=[2 4] units=4 period=8 bins=2 seed=1")
        #expect(s.lines.last?.hasPrefix("mean=") == true)
        #expect(s.error("qfa train base=rtn steps=1")?.message == "qfa train: qfa train needs a MODEL")
        #expect(s.error("qfa search \(dir.sub("none")) budget=3")?.message.hasPrefix("qfa search: ") == true)
        #expect(s.error("qfa subnet \(dir.sub("none")) bits=3")?.message == "qfa subnet: qfa subnet needs out=DIR")
        // bench: quant and the smallest tensor run; model/train/eval reach their loader
        try s.run("bench quant")
        #expect(s.lines.last?.hasPrefix("fakequant_vs_memcpy=") == true)
        try s.run("bench tensor batch=1 seq=2 repeats=1")
        #expect(s.lines.last?.hasPrefix("block_vs_sgemm=") == true)
        for sub in ["model", "train", "eval"] {
            let e = s.error("bench \(sub) \(dir.sub("no-model"))")
            #expect(e?.message.hasPrefix("bench \(sub): ") == true, "bench \(sub): \(e.map { "\($0)" } ?? "ran")")
        }
        // sweep: a scratch sweep of two tasks, one of them run in this process
        let nb = dir.sub("nb.qat")
        try "record results x=$seed\n".write(toFile: nb, atomically: true, encoding: .utf8)
        let out = dir.sub("sweep")
        try s.run("sweep \(nb) grid=\"seed=[1 2]\" out=\(out) backend=slurm submit=0")
        try s.run("sweep-task \(out) 0")
        try s.run("sweep status \(out)")
        #expect(s.lines.last?.hasPrefix("done=1 ") == true && s.lines.last?.contains("total=2") == true)
        try s.run("sweep merge \(out) partial=1")
        #expect(s.lines.last?.hasSuffix("tables=1 rows=1") == true)
    }

    func interpError(_ body: () throws -> Void) -> InterpError? {
        do { try body() } catch let e as InterpError { return e } catch { return nil }
        return nil
    }

    @Test func theShellAndSubCommandValuesReachTheSameRows() throws {
        let s = Session()
        try s.interp.runCommandLine(["qfa", "sample", "widths=2,4", "units=4", "period=8", "bins=2"])
        #expect(s.output.components(separatedBy: "\n").last?.hasPrefix("mean=") == true)
        try s.run("n = (qfa sample widths=[2 4] units=4 period=8 bins=2)")
        if case .object(let o)? = s.interp.variables["n"] { #expect(o.kind == "table") } else { Issue.record("n should be a table") }
        let e = try #require(interpError { try s.interp.runCommandLine(["qfa", "train", "budget=3"]) })
        #expect(e.message == "qfa train: unknown key 'budget'" && e.position?.column == 11)
    }

    @Test func tabCompletesSubCommandsThenTheRowsKeys() throws {
        let s = Session()
        let i = s.interp
        #expect(i.completionContext(before: "qfa ") == .subCommand(group: "qfa"))
        #expect(i.completionCandidates(.subCommand(group: "qfa")) == ["train", "sample", "search", "subnet"])
        #expect(i.completionContext(before: "x = (qfa search d ") == .key(verb: "qfa search"))
        let keys = i.completionCandidates(i.completionContext(before: "qfa search d "))
        #expect(keys.contains("budget=") && !keys.contains("steps="))
        #expect(i.completionContext(before: "sweep nb.qat ") == .key(verb: "sweep"))
        let verbs = i.completionCandidates(.verb)
        #expect(verbs.contains("qfa") && verbs.contains("bench") && !verbs.contains { $0.contains(" ") })
    }
}
