// Scripts as notebooks: `run FILE.qat` runs a script in the session; `notebook FILE.qat` runs it
// and writes FILE.md beside it: a research notebook of what ran and what it printed.
//
// Transcript layout (Markdown, written atomically when the script ends or stops):
//   1. "# FILE.qat" and a line with the QATLab version, threads, the CPU (model name, family,
//      model: the wall times are this machine's) and the total wall time.
//   2. Per top-level statement, in order: the `#` comment lines written just above it, as prose
//      (the "# " stripped); the statement's source text in a ```qat block; everything it printed
//      in a ```text block (omitted when it printed nothing); a Markdown image link for every file
//      a verb reported writing as `plot=PATH`, relative to the transcript's directory; and the
//      statement's wall time when it took at least 0.1 s.
//   3. When a statement fails: its error (file:line:column, message, hint) in a ```text block
//      under "**error**"; the run then stops and `qat` exits with status 1.
import Foundation
import QATBench
import QATIO
import QATInterp
import QATTensor

enum NotebookVerbs {
    static var rows: [VerbSpec] { [notebook, run] }

    static var run: VerbSpec {
        VerbSpec(name: "run", summary: "Run a script file in this session (as `source`).",
                 arguments: [.positional("FILE", .string, help: "the .qat script")],
                 help: """
                     From the shell, `qat run FILE.qat` runs the script and exits with status 1 at \
                     its first error, naming file:line:column. Every other KEY=VALUE is set as a \
                     variable before the script runs (`qat run FILE.qat quick=1`).
                     """,
                 examples: ["run Notebooks/quickstart.qat", "run Notebooks/quickstart.qat quick=1"], openKeys: true) { call in
            setScriptVariables(call)
            try call.interpreter.runFile(try call.string("FILE"), calledFrom: call.position)
            return .none
        }
    }

    static var notebook: VerbSpec {
        VerbSpec(name: "notebook", summary: "Run a script and write a Markdown transcript beside it (FILE.md).",
                 arguments: [.positional("FILE", .string, help: "the .qat script"),
                             .key("out", .string, help: "the transcript's path (default: FILE with .md for .qat)")],
                 help: """
                     With quick=1 and no out= the transcript goes to DIR/results/quick/NAME.md (DIR \
                     = the script's directory), beside the quick run's results. The transcript \
                     holds each statement, the comments above it, its printed output and links to \
                     the plots it wrote (verbs print plot=PATH). Output is also printed as the \
                     script runs. A failing statement ends the run after its error is written into \
                     the transcript. Every other KEY=VALUE is set as a variable before the script \
                     runs (`qat notebook FILE.qat quick=1`; `sweep` sets a grid point's variables \
                     the same way).
                     """,
                 examples: ["notebook Notebooks/quickstart.qat", "notebook /tmp/try.qat out=/tmp/try.md", "notebook Notebooks/quickstart.qat quick=1"],
                 openKeys: true) { call in
            setScriptVariables(call)
            let path = try call.string("FILE")
            let quick = call.extraKeys.contains { $0.0 == "quick" && $0.1.isTrue }
            let out = call.has("out") ? try call.string("out") : transcriptPath(path, quick: quick)
            let outDir = PathName.parent(out)
            if !outDir.isEmpty { try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true) }
            try Notebook(interpreter: call.interpreter, script: path).run(writingTo: out)
            call.out("notebook=\(out)")
            return .none
        }
    }

    /// The KEY=VALUE arguments beyond the row's own, as session variables for the script.
    static func setScriptVariables(_ call: VerbCall) {
        for (key, value) in call.extraKeys { call.interpreter.variables[key] = value }
    }

    /// FILE.md beside the script; for a quick run (quick=1, the ablation notebooks' CI budget)
    /// DIR/results/quick/NAME.md instead, so it never overwrites the committed full-run transcript.
    static func transcriptPath(_ script: String, quick: Bool = false) -> String {
        let md = (script as NSString).pathExtension == "qat" ? (script as NSString).deletingPathExtension + ".md" : script + ".md"
        guard quick else { return md }
        let dir = PathName.parent(script)
        return ((dir.isEmpty ? "" : dir + "/") + "results/quick/") + (md as NSString).lastPathComponent
    }
}

/// Runs one script statement by statement, capturing what each prints.
struct Notebook {
    let interpreter: Interpreter
    let script: String

    func run(writingTo out: String) throws {
        let text = try readTextFile(script)
        let clock = ContinuousClock(), start = clock.now
        var body: [String] = []
        var failure: Error?
        do {
            let parsed = try Parser.parse(text, file: script)
            var previousEnd = 0
            for s in parsed.statements {
                body += prose(parsed, from: previousEnd, to: s.span.lowerBound)
                previousEnd = s.span.upperBound
                let (lines, error, secs) = capture(s)
                body += section(parsed.text(of: s), lines, error: error, seconds: secs, transcript: out)
                if let error { failure = error; break }
                if interpreter.exitStatus != nil { break }
            }
        } catch {
            failure = error   // a syntax error: nothing ran
            body += ["**error**", "", "```text", "\(error)", "```", ""]
        }
        // the CPU beside the wall time: the timings in a transcript are this machine's
        let cpu = CPUDescription.current()
        let header = ["# \((script as NSString).lastPathComponent)", "",
                      "_QATLab \(Verbs.version), threads=\(Threads.count), \(cpu.modelName) (family \(cpu.family), model \(cpu.model)), \(fmt((clock.now - start).inSeconds)) s in all; written by `qat notebook \(script)`._", ""]
        try writeTextAtomically((header + body).joined(separator: "\n"), to: out)
        if let failure { throw failure }
    }

    /// Runs a statement with the session's output captured (and still shown).
    func capture(_ s: Statement) -> (lines: [String], error: Error?, seconds: Double) {
        var lines: [String] = []
        let shown = interpreter.output
        interpreter.output = { text in lines.append(text); shown(text) }
        defer { interpreter.output = shown }
        let clock = ContinuousClock(), start = clock.now
        do {
            try interpreter.execute(s)
            return (lines, nil, (clock.now - start).inSeconds)
        } catch {
            return (lines, error, (clock.now - start).inSeconds)
        }
    }

    /// The comment lines between two statements, as Markdown prose.
    func prose(_ parsed: Script, from lo: Int, to hi: Int) -> [String] {
        guard lo < hi, hi <= parsed.source.count else { return [] }
        let between = String(parsed.source[lo..<hi])
        var out: [String] = []
        for raw in between.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            guard line.hasPrefix("#") else { if out.last?.isEmpty == false { out.append("") }; continue }
            out.append(String(line.dropFirst().drop { $0 == " " }))
        }
        while out.first?.isEmpty == true { out.removeFirst() }
        while out.last?.isEmpty == true { out.removeLast() }
        return out.isEmpty ? [] : out + [""]
    }

    func section(_ source: String, _ lines: [String], error: Error?, seconds secs: Double, transcript: String) -> [String] {
        var md = ["```qat", source, "```"]
        let printed = lines.joined(separator: "\n")
        if !printed.isEmpty { md += ["```text", printed, "```"] }
        if let error { md += ["", "**error**", "", "```text", "\(error)", "```"] }
        for plot in plots(in: lines) {
            md += ["", "![\(baseName(plot))](\(relativePath(plot, from: PathName.parent(transcript))))"]
        }
        if secs >= 0.1 { md += ["", "_\(fmt(secs)) s_"] }
        return md + [""]
    }

    /// Files that lines report as `plot=PATH`.
    func plots(in lines: [String]) -> [String] {
        lines.flatMap { $0.split(separator: "\n") }.flatMap { $0.split(separator: " ") }
            .filter { $0.hasPrefix("plot=") }.map { String($0.dropFirst(5)) }
    }
}

/// `path` relative to the directory `dir` (both taken from the current directory when relative).
func relativePath(_ path: String, from dir: String) -> String {
    let cwd = FileManager.default.currentDirectoryPath
    func parts(_ p: String) -> [String] {
        let abs = p.hasPrefix("/") ? p : cwd + "/" + p
        var out: [String] = []
        for c in abs.split(separator: "/") where c != "." {
            if c == ".." { if !out.isEmpty { out.removeLast() } } else { out.append(String(c)) }
        }
        return out
    }
    let target = parts(path), base = parts(dir.isEmpty ? "." : dir)
    var common = 0
    while common < min(target.count, base.count) && target[common] == base[common] { common += 1 }
    let up = Array(repeating: "..", count: base.count - common)
    return (up + target[common...]).joined(separator: "/")
}
