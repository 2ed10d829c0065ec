// The `qfa` verb end to end on the embedded tiny model: sample previews a schedule with the CLT
// spread for uniform sampling, train writes a supernet, search returns a subnet within the budget
// and ends with the held-out numbers,
// subnet writes a checkpoint that `ppl` and `export` accept, and each sub-command refuses the
// keys of the others.
import Foundation
import QATInterp
import QATResults
import QATTrain
import Testing

@testable import QATToolkit

@Suite struct QFAVerbTests {
    func lastLine(_ s: Session) -> String { s.lines.last ?? "" }

    func keyValues(_ line: String) -> [String: String] {
        Dictionary(line.split(separator: " ").compactMap { w -> (String, String)? in
            let p = w.split(separator: "=", maxSplits: 1)
            return p.count == 2 ? (String(p[0]), String(p[1])) : nil
        }, uniquingKeysWith: { a, _ in a })
    }

    @Test func samplePreviewsTheSchedule() throws {
        let s = Session()
        try s.run("u = qfa sample widths=[2 3 4] units=30 period=1000 sampler=uniform")
        let kv = keyValues(lastLine(s))
        let std = try #require(Double(kv["std"] ?? ""))
        #expect(abs(std - (2.0 / 3.0 / 30).squareRoot()) / (2.0 / 3.0 / 30).squareRoot() < 0.1)
        #expect(lastLine(s).hasPrefix("mean="))
        let dir = try ScratchDir("qfa-sample")
        try s.run("b = qfa sample widths=[2 3 4] units=30 period=1000 sampler=balanced bins=8 out=\"\(dir.sub("b.svg"))\"")
        #expect(Double(keyValues(lastLine(s))["std"] ?? "") ?? 0 > 0.4)
        #expect(FileManager.default.fileExists(atPath: dir.sub("b.svg")))
        #expect(s.output.contains("bin_lo"))
        #expect(s.error("qfa sample budget=2") != nil)
        #expect(s.error("qfa sample widths=[1 3]") != nil)
    }

    @Test func trainSearchSubnetOnTheTinyModel() throws {
        let dir = try ScratchDir("qfa-verbs")
        let s = Session()
        let net = dir.sub("net")
        try s.run("qfa train tiny base=rtn rank=4 steps=4 samples=16 val=4 seqlen=32 lr=1e-3 out=\"\(net)\"")
        let train = keyValues(lastLine(s))
        #expect(lastLine(s).hasPrefix("qfa_train steps=4"))
        #expect(Double(train["val_loss_w2"] ?? "") != nil)
        #expect(FileManager.default.fileExists(atPath: net + "/qfa.safetensors"))
        #expect(FileManager.default.fileExists(atPath: net + ".work/train_log.h5"))

        try s.run("w = qfa search \"\(net)\" budget=3 coarse=4 fine=2 val=4 seqlen=32")
        guard case .list(let widths)? = s.interp.variables["w"] else { Issue.record("search returned \(s.interp.variables["w"]?.kindName ?? "nothing")"); return }
        let bits = widths.compactMap { v -> Double? in if case .number(let d) = v { return d }; return nil }
        #expect(bits.count == 4 && bits.reduce(0, +) <= 12)
        #expect(lastLine(s).hasPrefix("qfa_search budget=3"))
        // the summary ends with held-out numbers: the pick, the best random and the uniform subnet, with SEs
        let kv = keyValues(lastLine(s))
        #expect(kv["selection_n"] == "4" && kv["heldout_n"] == "16" && kv["uniform_widths"] == "3,3,3,3")
        for key in ["picked_heldout", "picked_heldout_se", "random_best_heldout", "uniform_heldout", "uniform_heldout_se", "picked_vs_uniform"] {
            #expect(Double(kv[key] ?? "").map(\.isFinite) == true, "\(key)=\(kv[key] ?? "missing")")
        }
        #expect(lastLine(s).split(separator: " ").last?.hasPrefix("picked_beats_") == true)
        // metric=mc: items= selection items, then by default the task's remaining items (capitals: 221 - 100, every item scored since mc follows lm-eval) held out
        try s.run("wm = qfa search \"\(net)\" budget=3 metric=mc coarse=2 fine=0")
        #expect(keyValues(lastLine(s))["selection_n"] == "100" && keyValues(lastLine(s))["heldout_n"] == "121")
        #expect(Double(keyValues(lastLine(s))["picked_heldout"] ?? "").map { (0...1).contains($0) } == true)
        #expect(s.error("qfa search \"\(net)\" budget=3 metric=mc coarse=2 fine=0 items=221").map { "\($0)" }?.contains("at least one held-out item") == true)
        // too many held-out windows for the text's last 10%, and drawn windows, are refused with advice
        #expect(s.error("qfa search \"\(net)\" budget=3 coarse=2 fine=0 val=4 heldout=100000 seqlen=32").map { "\($0)" }?.contains("disjoint windows") == true)
        try s.run("d = calib tiny fortunes samples=4 val=4 seqlen=32")
        #expect(s.error("qfa search \"\(net)\" budget=3 coarse=2 fine=0 calib=$d").map { "\($0)" }?.contains("draws its own disjoint") == true)

        // record_units: one row per unit (4 blocks) with the search's sensitivity and the best's widths
        try s.run("qfa search \"\(net)\" budget=3 coarse=4 fine=2 val=4 seqlen=32 record_units=units")
        guard case .object(let o)? = s.interp.variables["units"], let units = o as? ResultsTable else {
            Issue.record("record_units made no table"); return
        }
        #expect(units.rows.count == 4)
        #expect(units.rows.allSatisfy { $0["sensitivity"] != nil && $0["best_bits"] != nil })
        // a name that holds something else is refused before the search runs (no new search line)
        let searches = s.output.components(separatedBy: "qfa_search budget=").count
        try s.run("taken = 7")
        #expect(s.error("qfa search \"\(net)\" budget=3 coarse=4 fine=2 val=4 seqlen=32 record_units=taken").map { "\($0)" }?.contains("not a table") == true)
        #expect(s.output.components(separatedBy: "qfa_search budget=").count == searches)

        try s.run("""
        m = qfa subnet "\(net)" bits=[4 2 3 2] out="\(dir.sub("sub"))"
        p = ppl m fortunes ctx=32 max_windows=4
        export m format=fp out="\(dir.sub("fp"))"
        q = ppl "\(dir.sub("fp"))" fortunes ctx=32 max_windows=4
        """)
        guard case .number(let p)? = s.interp.variables["p"], case .number(let q)? = s.interp.variables["q"] else {
            Issue.record("ppl did not return numbers"); return
        }
        #expect(p.isFinite && abs(p - q) < 1e-3 * p)
        #expect(s.output.contains("qfa_subnet mean_width=2.750"))
        #expect(s.error("qfa subnet \"\(net)\" bits=[2 3] out=\"\(dir.sub("bad"))\"") != nil)
        #expect(s.error("qfa search \"\(net)\" steps=3 budget=3") != nil)
    }

    /// bases_cache=: the second supernet reads the first one's GPTQ bases, which are bit for bit
    /// the bases a fresh build gives; other windows rebuild and replace the file.
    @Test func basesCacheReusesIdenticalBases() throws {
        let dir = try ScratchDir("qfa-bases-cache")
        let s = Session()
        let cache = dir.sub("bases.safetensors")
        let common = "base=gptq rank=4 steps=2 val=4 seqlen=32 lr=1e-3"
        try s.run("m = load tiny")
        try s.run("qfa train m \(common) samples=16 bases_cache=\"\(cache)\" out=\"\(dir.sub("a"))\"")
        #expect(s.output.contains("bases written to \(cache)"))
        try s.run("qfa train m \(common) samples=16 adapters=shared bases_cache=\"\(cache)\" out=\"\(dir.sub("b"))\"")
        #expect(s.output.contains("qfa: bases from \(cache)"))
        try s.run("qfa train m \(common) samples=16 adapters=shared out=\"\(dir.sub("c"))\"")
        let cached = try QFASupernet.readFile(dir.sub("b") + "/qfa.safetensors").2
        let fresh = try QFASupernet.readFile(dir.sub("c") + "/qfa.safetensors").2
        #expect(!fresh.isEmpty && Set(cached.keys) == Set(fresh.keys))
        for (key, widths) in fresh {
            for (w, f) in widths {
                let c = cached[key]?[w]
                #expect(c?.codes == f.codes && c?.scales == f.scales && c?.zeros == f.zeros, "\(key) w\(w)")
            }
        }
        // other training windows: the cache is rebuilt and replaced, then matches them
        try s.run("qfa train m \(common) samples=12 bases_cache=\"\(cache)\" out=\"\(dir.sub("d"))\"")
        #expect(s.output.contains("other training windows"))
        #expect(s.error("qfa train m base=checkpoint bases=[\"\(dir.sub("a"))\"] bases_cache=\"\(cache)\" steps=1").map { "\($0)" }?.contains("bases_cache= caches GPTQ/RTN bases") == true)
    }
}
