// Running one task of a sweep (`qat sweep-task DIR INDEX`, what both backends run): the notebook in
// a fresh interpreter with the task's variables set, its results tables saved atomically as
// DIR/tasks/NNNN.h5, and the markers that `sweep status` reads (file layout in
// QATSweep/SweepManifest.swift). A task whose result exists is skipped.
import Foundation
import QATInterp
import QATIO
import QATResults
import QATSweep
import QATTensor

#if canImport(Glibc)
import Glibc
#endif

extension SweepTask {
    /// Runs task `index` of the sweep in `dir` unless its result exists (or `force`). Notebook
    /// output goes to DIR/tasks/NNNN.log and to `echo` when given. A failure leaves a .failed
    /// marker and is rethrown; no result appears under the final name.
    @discardableResult
    public static func run(dir: SweepDir, index: Int, force: Bool = false, echo: ((String) -> Void)? = nil) throws -> Outcome {
        let m = try SweepManifest.read(from: dir)
        guard m.tasks.indices.contains(index) else {
            throw VerbError("task \(index) is not in \(dir.manifest): the sweep has tasks 0...\(m.tasks.count - 1)")
        }
        if !force && FileManager.default.fileExists(atPath: dir.result(index)) {
            InterruptedWrites.reclaim(dir.result(index))   // temporaries of a killed earlier attempt
            return .skipped
        }
        try dir.makeDirectories()
        try writeTextAtomically("pid=\(getpid()) host=\(hostName()) started=\(ISO8601DateFormatter().string(from: Date()))\n",
                                to: dir.task(index, "running"))
        try? FileManager.default.removeItem(atPath: dir.task(index, "failed"))
        let log = LogFile(dir.task(index, "log"))
        do {
            try runNotebook(m, dir: dir, index: index) { line in log.write(line); echo?(line) }
            try? FileManager.default.removeItem(atPath: dir.task(index, "running"))
            return .done
        } catch {
            log.write("error: \(error)")
            try? writeTextAtomically("status=1\nerror=\(error)\n", to: dir.task(index, "failed"))
            try? FileManager.default.removeItem(atPath: dir.task(index, "running"))
            throw error
        }
    }

    /// The notebook in a fresh session, then its tables into the result file.
    static func runNotebook(_ m: SweepManifest, dir: SweepDir, index: Int, output: @escaping (String) -> Void) throws {
        let hash = try SweepManifest.hash(ofNotebook: m.notebook)
        guard hash == m.notebookHash else {
            throw VerbError("\(m.notebook) changed since the sweep in \(dir.path) was written (hash \(m.notebookHash), now \(hash)); sweep it again into a new out= directory, or restore the notebook")
        }
        if FileManager.default.currentDirectoryPath != m.cwd {
            guard FileManager.default.changeCurrentDirectoryPath(m.cwd) else {
                throw VerbError("cannot enter the sweep's working directory \(m.cwd); on a cluster it must be on the shared file system")
            }
        }
        let session = Interpreter(output: output)
        session.register(Verbs.rows)
        for (name, text) in m.variables(of: index) { session.variables[name] = scriptValue(text) }
        output("# sweep task \(index): \(m.variables(of: index).map { "\($0.0)=\($0.1)" }.joined(separator: " ")) threads=\(Threads.count)")
        let previousCache = SharedCache.current
        SharedCache.current = try SharedCache(directory: m.cache)
        defer { SharedCache.current = previousCache }
        try Notebook(interpreter: session, script: m.notebook).run(writingTo: dir.task(index, "md"))
        if let status = session.exitStatus, status != 0 {
            throw VerbError("the notebook quit with status \(status)")
        }
        try saveTables(of: session, m, dir: dir, index: index)
    }

    /// Every results table the session holds, in name order, into DIR/tasks/NNNN.h5.
    static func saveTables(of session: Interpreter, _ m: SweepManifest, dir: SweepDir, index: Int) throws {
        let tables = session.variables.values.compactMap { v -> ResultsTable? in
            if case .object(let o) = v { return o as? ResultsTable }
            return nil
        }.sorted { $0.name < $1.name }
        guard !tables.isEmpty else {
            throw VerbError("\(m.notebook) recorded no results table, so task \(index) has nothing to merge; record one, e.g. `record results bits=$bits ppl=(ppl q devil)`")
        }
        let f = try HDF5File.create(path: dir.result(index))
        for t in tables { try t.writeHDF5(to: f) }
        try f.setAttribute("task", .int(Int64(index)), on: "/")
        try f.setAttribute("vars", .string(try ResultsTable.json(m.tasks[index].vars)), on: "/")
        try f.close()
    }

    /// A variable's value from its text: a number when it reads as one, else a string (as
    /// `qat VERB key=value` does with shell words).
    static func scriptValue(_ text: String) -> Value {
        SweepTask.number(text).map { .number($0) } ?? .string(text)
    }
}

/// A task's log: lines appended as they are printed, so a killed task leaves what it got to.
final class LogFile {
    private let handle: FileHandle?

    init(_ path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: nil)   // a failure leaves handle nil (no log)
        handle = FileHandle(forWritingAtPath: path)
    }

    func write(_ line: String) {
        handle?.write(Data((line + "\n").utf8))
    }

    deinit { try? handle?.close() }
}
