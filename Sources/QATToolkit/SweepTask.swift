// One task of a sweep (`qat sweep-task DIR INDEX`, what both backends run): the notebook in a
// fresh interpreter with the task's variables set, its results tables saved atomically as
// DIR/tasks/NNNN.h5, and the markers that `sweep status` reads (file layout in
// SweepManifest.swift). A task whose result exists is skipped.
import Foundation
import QATIO
import QATInterp
import QATTensor

#if canImport(Glibc)
import Glibc
#endif

public enum SweepTask {
    public enum Outcome: String { case done, skipped }

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
        if let x = Double(text), x.isFinite, !text.contains(where: { $0.isLetter && $0 != "e" && $0 != "E" }) { return .number(x) }
        return .string(text)
    }

    /// The tables of one task's result file.
    static func loadTables(_ path: String) throws -> [ResultsTable] {
        let f = try HDF5File.open(path: path)
        defer { try? f.close() }
        guard f.exists("/tables") else { return [] }
        return try f.children(of: "/tables").map { link in
            guard case .string(let name)? = try f.attribute("name", on: "/tables/" + link) else {
                throw FormatError(file: path, "/tables/\(link) has no name attribute; the file was not written by QATLab")
            }
            return try ResultsTable.readHDF5(from: f, name: name)
        }
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

// MARK: Status

/// What `sweep status` says about a task.
public enum SweepTaskState: String, CaseIterable {
    case done, running, queued, failed, missing
}

public struct SweepTaskStatus {
    public var index: Int
    public var state: SweepTaskState
    /// Why (a failure's message, the pid and host of a running task).
    public var detail: String
}

extension SweepTask {
    /// A task's state from its files and, when given, Slurm's view of the array (task -> state).
    public static func status(dir: SweepDir, index: Int, queue: [Int: String]? = nil) -> SweepTaskStatus {
        let fm = FileManager.default
        if fm.fileExists(atPath: dir.result(index)) { return SweepTaskStatus(index: index, state: .done, detail: "") }
        if let q = queue?[index] {
            return SweepTaskStatus(index: index, state: q == "PENDING" ? .queued : .running, detail: "slurm \(q)")
        }
        if let marker = try? String(contentsOfFile: dir.task(index, "running"), encoding: .utf8) {
            let text = marker.trimmingCharacters(in: .whitespacesAndNewlines)
            if let dead = deadOwner(marker) {
                return SweepTaskStatus(index: index, state: .failed, detail: "died without a result (\(dead))")
            }
            return SweepTaskStatus(index: index, state: .running, detail: text)
        }
        if let failed = try? String(contentsOfFile: dir.task(index, "failed"), encoding: .utf8) {
            let oneLine = failed.split(separator: "\n").joined(separator: " ")
            return SweepTaskStatus(index: index, state: .failed, detail: oneLine)
        }
        return SweepTaskStatus(index: index, state: .missing, detail: "")
    }

    /// For a .running marker written on this host by a process that is gone: "pid P on H".
    static func deadOwner(_ marker: String) -> String? {
        var fields: [String: String] = [:]
        for word in marker.split(whereSeparator: \.isWhitespace) {
            let kv = word.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        guard let host = fields["host"], host == hostName(), let pid = fields["pid"].flatMap({ Int32($0) }) else { return nil }
        if kill(pid, 0) == 0 || errno == EPERM { return nil }
        return "pid \(pid) on \(host) is gone"
    }
}
