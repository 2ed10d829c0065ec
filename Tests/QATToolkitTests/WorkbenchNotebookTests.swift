// `notebook FILE.qat` on a small script over the tiny model: the transcript beside the script
// holds the comments as prose, each statement's source, its printed output, a link to the plot
// it wrote (relative to the transcript) and, for a failing script, the error with
// file:line:column, after which the run stops.
import Foundation
import QATBench
import QATInterp
import Testing

@testable import QATToolkit

@Suite struct WorkbenchNotebookTests {
    @Test func notebookWritesTheTranscript() throws {
        let dir = try ScratchDir("notebook")
        let script = dir.sub("nb/try.qat")
        try FileManager.default.createDirectory(atPath: dir.sub("nb"), withIntermediateDirectories: true)
        try """
        # A small notebook.
        # Second line of prose.
        m = load tiny
        fp = ppl m devil ctx=64 max_windows=1

        # The table and its plot.
        record r bits=16 ppl=$fp
        for b in [2 4] {
          q = quantize m method=rtn bits=$b group=64
          record r bits=$b ppl=(ppl q devil ctx=64 max_windows=1)
        }
        table r
        plot r x=bits y=ppl out=\(dir.sub("plots/p.svg"))
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let s = Session()
        try s.run("notebook \(script)")
        #expect(s.lines.last == "notebook=\(dir.sub("nb/try.md"))")
        let md = try String(contentsOfFile: dir.sub("nb/try.md"), encoding: .utf8)
        #expect(md.hasPrefix("# try.qat\n"))
        // the header names the CPU the wall times were measured on, as /proc/cpuinfo has it
        let cpu = CPUDescription.current()
        #expect(md.contains(", \(cpu.modelName) (family \(cpu.family), model \(cpu.model)), "))
        #expect(cpu.modelName != "unknown" && cpu.family != "?")
        #expect(md.contains("\nA small notebook.\nSecond line of prose.\n\n```qat\nm = load tiny\n```\n"))
        #expect(md.contains("```qat\nfp = ppl m devil ctx=64 max_windows=1\n```\n```text\nmodel="))
        #expect(md.contains("The table and its plot.\n\n```qat\nrecord r bits=16 ppl=$fp\n```"))
        // the loop is one statement, shown whole; its prints are the quantize and ppl lines
        #expect(md.contains("```qat\nfor b in [2 4] {\n  q = quantize m method=rtn bits=$b group=64\n  record r bits=$b ppl=(ppl q devil ctx=64 max_windows=1)\n}\n```\n```text\nmethod=rtn spec=w2g64"))
        #expect(md.contains("```qat\ntable r\n```\n```text\nbits      ppl\n----  -------\n  16  "))
        #expect(md.contains("![p](../plots/p.svg)"))
        #expect(FileManager.default.fileExists(atPath: dir.sub("plots/p.svg")))
    }

    @Test func aFailingStatementStopsTheNotebookWithItsPosition() throws {
        let dir = try ScratchDir("notebook-fail")
        let script = dir.sub("bad.qat")
        try "x = randn 2 2\nshow x\ny = matmul x (zeros 3 3)\nprint never\n".write(toFile: script, atomically: true, encoding: .utf8)
        let s = Session()
        let e = try #require(s.error("notebook \(script)"))
        #expect(e.position == SourcePos(file: script, line: 3, column: 5))
        let md = try String(contentsOfFile: dir.sub("bad.md"), encoding: .utf8)
        #expect(md.contains("**error**\n\n```text\n\(script):3:5: error: matmul:"))
        #expect(!md.contains("never"))
        #expect(md.contains("```qat\nshow x\n```\n```text\nshape=[2, 2] dtype=float32"))
    }

    @Test func runIsSourceForScripts() throws {
        let dir = try ScratchDir("run")
        try "a = 2\nb = (mul $a 21)\n".write(toFile: dir.sub("s.qat"), atomically: true, encoding: .utf8)
        let s = Session()
        try s.run("run \(dir.sub("s.qat"))")
        if case .number(42)? = s.interp.variables["b"] {} else { Issue.record("run sets variables in the session") }
        #expect(NotebookVerbs.transcriptPath("a/b.qat") == "a/b.md" && NotebookVerbs.transcriptPath("c.txt") == "c.txt.md")
        #expect(relativePath("/x/Plots/p.svg", from: "/x/Notebooks") == "../Plots/p.svg")
    }
}
