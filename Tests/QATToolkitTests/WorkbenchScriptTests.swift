// Scripts over the tensor, results and model verbs, checked against values worked out by hand
// (small integer matrices) and against the Tensor API the verbs wrap; record/table/plot write a
// table and a figure whose content is checked; model verbs run on the embedded tiny model.
import Foundation
import QATInterp
import QATResults
import QATTensor
import Testing

@testable import QATToolkit

@Suite struct WorkbenchScriptTests {
    @Test func tensorVerbsComputeWhatTheySay() throws {
        let s = Session()
        try s.run("""
        a = tensor [[1 2] [3 4]]
        b = tensor [10 20]
        p = matmul a a
        pt = matmul a a tb=1
        s1 = add a b
        s2 = sub a 1
        s3 = mul 2 a
        s4 = div a b
        c = slice (arange 12) start=3 end=7
        r = tensor [1 2 3 4 5 6] shape=[2 3]
        col = slice r axis=-1 start=1 end=3
        z = zeros 2 2
        o = ones 3
        n = add 2 3
        x = randn 4 8 seed=1
        u = rand 1000 seed=3 low=-1 high=1
        """)
        #expect(s.tensor("p") == [7, 10, 15, 22])
        #expect(s.tensor("pt") == [5, 11, 11, 25])
        #expect(s.tensor("s1") == [11, 22, 13, 24])
        #expect(s.tensor("s2") == [0, 1, 2, 3])
        #expect(s.tensor("s3") == [2, 4, 6, 8])
        #expect(s.tensor("s4") == [0.1, 0.1, 0.3, 0.2])
        #expect(s.tensor("c") == [3, 4, 5, 6])
        #expect(s.tensor("col") == [2, 3, 5, 6])
        #expect(s.tensor("z") == [0, 0, 0, 0] && s.tensor("o") == [1, 1, 1])
        if case .number(5)? = s.interp.variables["n"] {} else { Issue.record("add on numbers gives a number") }
        let reference = try Tensor.randn([4, 8], seed: 1)
        #expect(s.tensor("x") == reference.toArray())
        let u = try #require(s.tensor("u"))
        #expect(u.allSatisfy { $0 >= -1 && $0 < 1 } && u.min()! < -0.9 && u.max()! > 0.9)
    }

    @Test func showAndStatsPrintShapeDtypeAndStatistics() throws {
        let s = Session()
        try s.run("t = tensor [[1 -2] [3 6]]\nshow t\nstats t")
        // mean 2, deviations -1 -4 1 4: variance (1+16+1+16)/4 = 8.5
        #expect(s.lines[0] == "shape=[2, 2] dtype=float32 count=4 min=-2 max=6 mean=2 std=2.9155 absmax=6")
        #expect(s.lines[1] == "tensor [2, 2]\n  [1.0000 -2.0000]\n  [3.0000 6.0000]")
        #expect(s.lines[2] == "count=4 min=-2 max=6 mean=2 std=2.9155 absmax=6")
    }

    @Test func shapeErrorsNameTheShapes() throws {
        let s = Session()
        #expect(s.error("matmul (zeros 2 3) (zeros 2 3)") != nil)
        #expect(s.error("add (zeros 2 3) (zeros 4)") != nil)
        #expect(s.error("tensor [1 2 3] shape=[2 2]")?.message.contains("does not hold 3 values") == true)
        #expect(s.error("tensor [[1 2] [3]]")?.message.contains("ragged") == true)
        #expect(s.error("slice (zeros 4) start=3 end=9")?.message.contains("not a range") == true)
    }

    @Test func recordTablePlotWriteTheTableAndAFigure() throws {
        let dir = try ScratchDir("script")
        let s = Session()
        try s.run("""
        for b in [2 3 4] {
          record results method=rtn bits=$b ppl=(mul 10 $b)
          record results method=gptq bits=$b ppl=(add 5 $b)
        }
        table results out=\(dir.sub("r.csv"))
        plot results x=bits y=ppl group=method out=\(dir.sub("plots/ppl.svg"))
        hist (randn 1000 seed=2) bins=20 out=\(dir.sub("h.svg"))
        """)
        let table = try #require(s.interp.variables["results"])
        #expect(table.kindName == "table")
        #expect(s.lines[0] == """
        method  bits  ppl
        ------  ----  ---
        rtn        2   20
        gptq       2    7
        rtn        3   30
        gptq       3    8
        rtn        4   40
        gptq       4    9
        """)
        let csv = try String(contentsOfFile: dir.sub("r.csv"), encoding: .utf8)
        #expect(csv == "method,bits,ppl\r\nrtn,2,20\r\ngptq,2,7\r\nrtn,3,30\r\ngptq,3,8\r\nrtn,4,40\r\ngptq,4,9\r\n")
        #expect(s.lines.contains("plot=\(dir.sub("plots/ppl.svg"))") && s.lines.contains("plot=\(dir.sub("h.svg"))"))
        let svg = try #require(SVGDocument.parse(try String(contentsOfFile: dir.sub("plots/ppl.svg"), encoding: .utf8)))
        #expect(svg.texts.contains("rtn") && svg.texts.contains("gptq") && svg.texts.contains("ppl vs bits"))
        #expect(svg.count("circle") >= 6)
        let hist = try #require(SVGDocument.parse(try String(contentsOfFile: dir.sub("h.svg"), encoding: .utf8)))
        #expect(hist.elements.filter { $0.attributes["class"] == "bar" }.count >= 15)
    }

    /// kind=bars: categories from the x column in order of first appearance, one series per group,
    /// the reference line, and the axis labels given.
    @Test func plotKindBarsGroupsByCategory() throws {
        let dir = try ScratchDir("bars")
        let s = Session()
        try s.run("""
        record res method=fp spec=fp16 ppl=40
        for g in [64 128] {
          record res method=rtn spec="w2g$g" ppl=(mul 10 $g)
          record res method=both spec="w2g$g" ppl=(add 50 $g)
        }
        plot res x=spec y=ppl group=method kind=bars logy=1 ref=(cell res ppl row=0) ref_label=FP16 xlabel="weight format" ylabel="perplexity (devil)" out=\(dir.sub("b.svg"))
        """)
        let svg = try #require(SVGDocument.parse(try String(contentsOfFile: dir.sub("b.svg"), encoding: .utf8)))
        #expect(svg.elements.filter { $0.attributes["class"] == "bar" }.count == 5)
        for t in ["fp16", "w2g64", "w2g128", "FP16 40", "weight format", "perplexity (devil)", "fp", "rtn", "both"] { #expect(svg.texts.contains(t), "\(t)") }
        guard case .object(let o)? = s.interp.variables["res"], let table = o as? ResultsTable else { Issue.record("res is not a table"); return }
        let b = ResultVerbs.barSeries(table, x: "spec", ys: ["ppl"], group: "method")
        #expect(b.categories == ["fp16", "w2g64", "w2g128"])
        #expect(b.series.map(\.name) == ["fp", "rtn", "both"])
        #expect(ResultVerbs.seriesLabel("norms", "1") == "norms=1" && ResultVerbs.seriesLabel("method", "rtn") == "rtn")
        #expect(b.series[1].values == [nil, 640, 1280] && b.series[2].values == [nil, 114, 178])
        #expect(s.error("plot res x=spec y=ppl kind=pie out=/tmp/never.svg") != nil)
        // a saved table comes back with `load table` (to re-plot a notebook's results without re-running it)
        for ext in ["h5", "csv"] {
            try s.run("table res out=\(dir.sub("res.\(ext)"))\nback = load table \(dir.sub("res.\(ext)"))")
            guard case .object(let o)? = s.interp.variables["back"], let t = o as? ResultsTable else { Issue.record("load table \(ext) gave no table"); continue }
            #expect(t.columns == table.columns && t.rows.count == 5, "\(ext)")
            #expect(ResultVerbs.barSeries(t, x: "spec", ys: ["ppl"], group: "method").series.map(\.values) == b.series.map(\.values), "\(ext)")
        }
        #expect(s.error("load table \(dir.sub("b.svg"))")?.description.contains("use .csv or .h5") == true)
    }

    /// `append` joins tables saved by separate runs: rows in order, columns matched by name, a
    /// column only one side has left empty on the other's rows.
    @Test func appendJoinsSavedTables() throws {
        let dir = try ScratchDir("append")
        let s = Session()
        try s.run("""
        record a spec=w2 ppl=10
        record a spec=w2 ppl=11
        record b spec=w3 ppl=7 wall=5
        table a out=\(dir.sub("a.csv"))
        table b out=\(dir.sub("b.h5"))
        append all (load table \(dir.sub("a.csv")))
        append all (load table \(dir.sub("b.h5")))
        """)
        #expect(s.lines.contains("appended=2 rows=2") && s.lines.contains("appended=1 rows=3"))
        guard case .object(let o)? = s.interp.variables["all"], let t = o as? ResultsTable else { Issue.record("all is not a table"); return }
        #expect(t.columns == ["spec", "ppl", "wall"])
        #expect(t.column("ppl") == [10, 11, 7] && t.column("wall") == [nil, nil, 5])
        #expect(s.error("append all all")?.message.contains("to itself") == true)
        try s.run("x = 3")
        #expect(s.error("append x (load table \(dir.sub("a.csv")))")?.message.contains("not a table") == true)
    }

    @Test func recordAndPlotRejectBadInput() throws {
        let s = Session()
        try s.run("x = 3")
        #expect(s.error("record x a=1")?.message.contains("holds a number, not a table") == true)
        #expect(s.error("record t")?.message.contains("nothing to record") == true)
        #expect(s.error("table nosuch")?.message.contains("no table named nosuch") == true)
        try s.run("record t a=1 b=2")
        #expect(s.error("plot t x=a y=c out=/tmp/never.svg")?.message.contains("no column c") == true)
        #expect(s.error("plot t x=a y=b out=/tmp/never.gif")?.message.contains("cannot write a plot as .gif") == true)
    }

    @Test func modelVerbsOnTheTinyModel() throws {
        let s = Session()
        try s.run("""
        m = load tiny
        ids = tokenize m "hi"
        fp = ppl m devil ctx=64 max_windows=2
        q = quantize m method=rtn bits=2 group=64
        fq = ppl q devil ctx=64 max_windows=2
        fp2 = ppl m devil ctx=64 max_windows=2
        w = weight q block=1 linear=down_proj
        info q
        """)
        // the byte tokenizer: BOS 256, then the bytes
        if case .string(let ids)? = s.interp.variables["ids"] { #expect(ids == "256 104 105") } else { Issue.record("tokenize") }
        guard case .number(let fp)? = s.interp.variables["fp"], case .number(let fq)? = s.interp.variables["fq"],
              case .number(let fp2)? = s.interp.variables["fp2"] else { Issue.record("ppl values"); return }
        #expect(fp > 1 && fq > fp, "2-bit RTN is worse than full precision")
        #expect(fp2 == fp, "quantize left the full-precision model unchanged")
        #expect(s.interp.variables["m"]?.kindName == "model" && s.interp.variables["q"]?.kindName == "quantized model")
        // 2-bit codes: every row of a group of 64 holds at most 4 distinct values
        let w = try #require(s.tensor("w"))
        #expect(w.count == 128 * 256 && Set(w[0..<64]).count <= 4)
        #expect(s.output.contains("blocks 0-3: all linears w2g64 hard"))
        #expect(s.output.contains("avg_bits=2.281"))   // 2 + (2 + 16) / 64
    }
}
