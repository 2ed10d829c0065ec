// Every ablation notebook of issue 10 (Notebooks/*.qat but the quickstart and the workbench
// example) run with quick=1 on the tiny model into a scratch directory: each must write its HDF5
// table with the columns Notebooks/README.md documents and the run attributes (configuration,
// seed, software version), its CSV and its transcript. Plus the verbs added for them.
import Foundation
import QATIO
import QATInterp
import QATQuant
import QATResults
import QATTensor
import Testing

@testable import QATToolkit

/// Columns each notebook's table must hold (Notebooks/README.md, "Columns"); `eval` adds its own.
let ablationColumns: [String: [String]] = [
    "phases": ["method", "wbits", "group", "bits", "ppl_devil", "ppl_devil_se", "kl_devil", "acc_capitals", "stderr_capitals"],
    "blockap_trainables": ["train", "norms", "bits", "ppl_devil", "ppl_devil_se", "final_val_mse"],
    "e2eqp_params": ["train", "bits", "bits_paper", "ppl_devil", "ppl_devil_se"],
    "samples": ["phase", "windows", "epochs", "train_loss", "val_loss", "gap", "rel_gap", "ppl_devil", "ppl_devil_se"],
    "group_size": ["wbits", "group", "bits", "ppl_devil", "ppl_devil_se"],
    "calibration_source": ["calib", "calib_n", "wbits", "ppl_fortunes", "ppl_devil", "ppl_devil_se", "ppl_gnu_standards"],
    "same_budget": ["method", "windows", "ppl_devil", "ppl_devil_se"],
    "full_model_qat": ["method", "wbits", "train_seconds", "ppl_devil", "ppl_devil_se"],
    "e2eqp_init": ["init", "stage", "e2eqp", "ppl_devil", "ppl_devil_se"],
    "qfa_sampling": ["sampler", "wbits", "ppl_devil", "ppl_devil_se"],
    "qfa_adapters": ["adapters", "wbits", "ppl_devil", "ppl_devil_se"],
    "qfa_period": ["period_fraction", "period", "wbits", "ppl_devil", "ppl_devil_se"],
    "qfa_search": ["budget", "picked_heldout_ppl", "picked_heldout_se_ln", "random_best_heldout_ppl", "random_best_heldout_se_ln",
                   "uniform_heldout_ppl", "uniform_heldout_se_ln", "ln_picked_over_random_best", "ln_picked_over_random_best_se", "widths"],
    "inspect": ["tensor", "step", "count", "mean", "std", "absmax"],
    "beat_ptq": ["spec", "method", "kind", "wall", "bits", "ppl_devil", "ppl_devil_se", "kl_devil", "ppl_gnu_standards", "acc_capitals", "stderr_capitals"],
    "llamacpp": ["type", "method", "bytes", "wall", "bits", "ppl_devil", "ppl_devil_se", "kl_devil", "ppl_gnu_standards"],
]

/// Notebooks with no full run committed yet (their index row in Notebooks/README.md says "not
/// yet run in full"): the quick run is checked, the transcript's provenance is not.
let notRunInFull: Set<String> = ["beat_ptq", "llamacpp"]

@Suite(.serialized) struct NotebookAblationTests {
    @Test func everyAblationNotebookIsListed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: "Notebooks").filter { $0.hasSuffix(".qat") }
            .map { String($0.dropLast(4)) }.filter { !["quickstart", "workbench_example"].contains($0) }
        #expect(Set(files) == Set(ablationColumns.keys))
        let readme = try String(contentsOfFile: "Notebooks/README.md", encoding: .utf8)
        for name in notRunInFull {
            #expect(readme.split(separator: "\n").contains { $0.hasPrefix("| `\(name)` |") && $0.contains("not yet run in full") },
                    "\(name): its index row must say it is not yet run in full")
        }
    }

    /// Notebooks/README.md: one six-cell index row per notebook, and one two-cell Columns row
    /// naming the notebook's own columns (a bulk edit once pasted index rows over Columns rows).
    @Test func readmeIndexAndColumnsTablesHaveOneRowEach() throws {
        let readme = try String(contentsOfFile: "Notebooks/README.md", encoding: .utf8)
        let parts = [NotebookProvenance.section("Index", of: readme), NotebookProvenance.section("Columns", of: readme)]
        try #require(parts.allSatisfy { !$0.isEmpty }, "Notebooks/README.md needs an '## Index' and a '## Columns' section")
        func rows(_ text: String, _ name: String) -> [[String]] {
            text.split(separator: "\n").filter { $0.hasPrefix("| `\(name)` |") }
                .map { $0.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map(String.init) }
        }
        let evalColumns: Set<String> = ["bits", "ppl_devil", "ppl_devil_se", "kl_devil", "acc_capitals", "stderr_capitals", "ppl_fortunes", "ppl_gnu_standards"]
        for (name, columns) in ablationColumns {
            let index = rows(parts[0], name), own = rows(parts[1], name)
            #expect(index.count == 1 && index.first?.count == 6, "\(name): index rows \(index.map(\.count))")
            #expect(own.count == 1 && own.first?.count == 2, "\(name): Columns rows \(own.map(\.count))")
            for c in columns where !evalColumns.contains(c) {
                #expect(own.first?.last?.contains("`\(c)`") == true, "\(name): Columns row does not name `\(c)`")
            }
        }
    }

    @Test(arguments: ablationColumns.keys.sorted())
    func quickRunWritesTableCSVAndTranscript(_ name: String) throws {
        let dir = try ScratchDir("ablation-\(name)")
        let s = Session()
        // Training polls the process-wide Ctrl-C flag, which a Block-AP test raises: one at a time.
        try Interrupt.exclusively {
            try s.run("notebook Notebooks/\(name).qat quick=1 outdir=\(dir.path) plotdir=\(dir.path) out=\(dir.sub(name + ".md"))")
        }
        let t = try ResultsTable.load(path: dir.sub(name + ".h5"))
        #expect(!t.rows.isEmpty)
        for c in ablationColumns[name] ?? [] { #expect(t.columns.contains(c), "\(name): no column \(c)") }
        if !notRunInFull.contains(name) { try NotebookProvenance.checkColumns(name, quickColumns: t.columns) }
        let f = try HDF5File.open(path: dir.sub(name + ".h5"))
        defer { try? f.close() }
        let g = "/tables/res"
        #expect(try f.attribute("qatlab_version", on: g) == .string(Verbs.version))
        #expect(try f.attribute("notebook", on: g) == .string(name))
        #expect(try f.attribute("seed", on: g) == .double(2))
        #expect(try f.attribute("quick", on: g) == .double(1))
        #expect(try f.attribute("model", on: g) == .string("tiny"))
        // the FP16 reference line of Plots/plot_notebooks.py: the full-precision model's devil perplexity
        guard case .double(let fp)? = try f.attribute("fp_ppl_devil", on: g) else {
            Issue.record("\(name): no numeric fp_ppl_devil attribute"); return
        }
        #expect(fp.isFinite && fp > 1, "\(name): fp_ppl_devil \(fp)")
        // and its standard error over the evaluation windows
        guard case .double(let se)? = try f.attribute("fp_ppl_devil_se", on: g) else {
            Issue.record("\(name): no numeric fp_ppl_devil_se attribute"); return
        }
        #expect(se.isFinite && se > 0 && se < fp, "\(name): fp_ppl_devil_se \(se)")
        #expect(FileManager.default.fileExists(atPath: dir.sub(name + ".csv")))
        // Plots/plot_notebooks.py redraws the notebook's figure(s) from the .h5 alone
        let (status, drawn) = try runPython3(["Plots/plot_notebooks.py", name, "--dir", dir.path, "--out", dir.sub("py")])
        let pngs = drawn.split(separator: "\n").map(String.init).filter { $0.hasSuffix(".png") }
        #expect(status == 0 && !pngs.isEmpty, "\(name): plot_notebooks.py: \(drawn)")
        for png in pngs { #expect(FileManager.default.fileExists(atPath: png), "\(name): \(png) not written") }
        let md = try String(contentsOfFile: dir.sub(name + ".md"), encoding: .utf8)
        #expect(md.contains("Paper") && md.contains("CPU budget") && !md.contains("**error**"))
        if name == "qfa_search" {
            // the per-block table behind the sensitivity plots: every unit of every budget, widths in the supernet's set
            let u = try ResultsTable.load(path: dir.sub("qfa_search_units.h5"))
            let units = Set(u.column("unit").compactMap { $0 }), budgets = Set(u.column("budget").compactMap { $0 })
            #expect(budgets == [2.5, 3, 3.5] && !units.isEmpty && u.rows.count == units.count * budgets.count)
            #expect(u.column("best_bits").allSatisfy { $0.map { [2, 3, 4].contains($0) } ?? false })
            #expect(u.column("sensitivity").allSatisfy { $0.map { abs($0) <= 1 + 1e-9 } ?? true })
            for plot in ["qfa_search_sensitivity.png", "qfa_search_widths.png"] {
                #expect(FileManager.default.fileExists(atPath: dir.sub(plot)) || FileManager.default.fileExists(atPath: dir.sub(plot.replacingOccurrences(of: ".png", with: ".svg"))))
            }
        }
    }

    /// model= runs the notebooks on another model, and its outputs go beside SmolLM2's, never over them.
    @Test func modelVariableMovesTheOutputs() throws {
        func text(_ s: Session, _ name: String) -> String? {
            if case .string(let v)? = s.interp.variables[name] { return v }
            return nil
        }
        let s = Session()
        try s.run("model = \"tiny\"\nsource Notebooks/lib/setup.qat")
        #expect(text(s, "outdir") == "Notebooks/results/tiny" && text(s, "plotdir") == "Plots/tiny" && text(s, "workdir") == "Notebooks/results/tiny/work")
        // quick=1 is always the tiny model into results/quick, whatever model= says
        let t = Session()
        try t.run("model = \"smollm2\"\nquick = 1\nsource Notebooks/lib/setup.qat")
        #expect(text(t, "outdir") == "Notebooks/results/quick" && text(t, "model") == "tiny")
    }

    @Test func defaultSummaryCellAndTableAttributes() throws {
        let dir = try ScratchDir("ablation-verbs")
        let s = Session()
        try s.run("""
        quick = 1
        default quick=0 other=5
        m = load tiny
        stats (tensor [1 2 3])
        x = summary max
        record r a=$x b=(cell (eval m texts=[devil] mc=[] ctx=32 max_windows=1) ppl_devil)
        table r out=\(dir.sub("r.h5")) seed=7 config="w2g64 tiny"
        """)
        #expect(s.interp.variables["quick"].map { Value.same($0, .number(1)) } == true)
        #expect(s.interp.variables["other"].map { Value.same($0, .number(5)) } == true)
        #expect(s.interp.variables["x"].map { Value.same($0, .number(3)) } == true)
        let f = try HDF5File.open(path: dir.sub("r.h5"))
        defer { try? f.close() }
        #expect(try f.attribute("seed", on: "/tables/r") == .double(7))
        #expect(try f.attribute("config", on: "/tables/r") == .string("w2g64 tiny"))
        #expect(s.error("table r out=\(dir.sub("q.h5")) rows=3") != nil)
        #expect(s.error("summary no_such_key") != nil)
    }

    @Test func e2eqpTrainsZerosOnlyAndFullQATStopsOnItsBudget() throws { try Interrupt.exclusively {
        let dir = try ScratchDir("ablation-train")
        let s = Session()
        try s.run("""
        m = load tiny
        d = calib m fortunes samples=8 val=2 seqlen=32
        r = quantize m method=rtn bits=2 group=64
        e = e2eqp r calib=$d train=z max_steps=1 out=\(dir.sub("e")) 
        f = fullqat m bits=2 group=64 calib=$d max_steps=1
        """)
        #expect(s.output.contains("e2eqp: 28 tensors trained"))   // 4 blocks x 7 zero tensors, no scales
        // the zeros train as real numbers (the paper's fp16 zero): they leave the integers, and the
        // model counts a 16-bit zero per group: 2 + 32/64 bits, the paper's 2.50
        guard case .object(let o)? = s.interp.variables["e"], let e = o as? ModelObject,
              let h = e.model.blocks[0].linears[0].quantizer as? HardQuantizer else { Issue.record("e is not a hard-quantized model"); return }
        #expect(h.fractionalZeros && h.zeros.value.toArray().contains { $0 != $0.rounded() })
        #expect(abs(e.averageBits - 2.5) < 1e-9, "\(e.averageBits)")
        // reloaded, the fractional zeros stay trainable (a HardQuantizer, not the frozen merged-adapter one)
        try s.run("e2 = load \"\(dir.sub("e"))\"")
        guard case .object(let o2)? = s.interp.variables["e2"], let e2 = o2 as? ModelObject,
              let h2 = e2.model.blocks[0].linears[0].quantizer as? HardQuantizer else { Issue.record("reloaded e is not hard-quantized"); return }
        #expect(h2.fractionalZeros && h2.zeros.value.toArray() == h.zeros.value.toArray())
        #expect(abs(e2.averageBits - 2.5) < 1e-9, "\(e2.averageBits)")
        #expect(s.output.contains("fullqat spec=w2g64 steps=1 stopped_by=max_steps"))
        let log = try s.run("cell (trainlog \(dir.sub("e.work/train_log.h5")) what=summary) steps")
        #expect(Value.same(log, .number(1)))
        #expect(s.error("e2eqp r calib=$d train=z zeros=1") != nil)
        #expect(s.error("fullqat m train=q") != nil)
    } }
}
