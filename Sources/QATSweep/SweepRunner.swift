// Running a sweep on this machine, its status, and merging its results.
//
// Local backend: up to `jobs` child processes `qat sweep-task DIR INDEX` at once, each with
// QAT_THREADS = threads / jobs (threads: the session's count, all cores by default), so the tasks
// share the cores instead of fighting over them. A child's stdout is dropped (the task writes its
// own log), its stderr goes to DIR/tasks/NNNN.err (kept only when not empty). A child that dies
// without writing its .failed marker (a signal, a crash) gets one from here.
//
// Merge: every task's tables, in task order, into one table per table name with the columns
// `task`, then the grid variables (a variable is left out when the notebook recorded a column of
// that name itself: the notebook's own value wins), then the table's columns. Tasks whose tables
// have different columns are an error naming the task and the columns, unless union=1: then the
// columns are the union in order of appearance, and a task's missing cells stay empty.
import Foundation
import QATIO
import QATResults
import QATTensor

public enum SweepRunner {
    /// Runs the tasks not yet done with `jobs` child processes; calls `report` as each ends.
    /// Returns the indices that failed.
    public static func runLocal(dir: SweepDir, pending: [Int], jobs: Int, threads: Int, executable: String,
                                report: (String) -> Void) throws -> [Int] {
        let m = try SweepManifest.read(from: dir)
        try dir.makeDirectories()
        let perTask = max(1, threads / max(1, jobs))
        var queue = pending[...], running: [(Int, Process, ContinuousClock.Instant)] = [], failed: [Int] = []
        let clock = ContinuousClock()
        while !queue.isEmpty || !running.isEmpty {
            while running.count < jobs, let i = queue.popFirst() {
                running.append((i, try launch(dir: dir, index: i, threads: perTask, executable: executable), clock.now))
            }
            Thread.sleep(forTimeInterval: 0.05)
            for (i, p, start) in running where !p.isRunning {
                let ok = finish(dir: dir, index: i, process: p)
                if !ok { failed.append(i) }
                let why = ok ? "" : " (" + SweepTask.status(dir: dir, index: i).detail + ")"
                report("task \(i) \(ok ? "done" : "failed") \(fmt((clock.now - start).inSeconds, digits: 1)) s \(m.label(of: i))\(why)")
            }
            running.removeAll { !$0.1.isRunning }
        }
        return failed
    }

    static func launch(dir: SweepDir, index: Int, threads: Int, executable: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["sweep-task", dir.path, String(index)]
        var env = ProcessInfo.processInfo.environment
        env["QAT_THREADS"] = String(threads)
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        let errPath = dir.task(index, "err")
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)   // a failure falls back to the null device below
        p.standardError = FileHandle(forWritingAtPath: errPath) ?? FileHandle.nullDevice
        do { try p.run() } catch {
            throw VerbError("cannot start \(executable) sweep-task (\(error.localizedDescription)); is the qat binary there and executable?")
        }
        return p
    }

    /// After a child ends: drop an empty .err, mark a silent death as failed. True when done.
    static func finish(dir: SweepDir, index: Int, process p: Process) -> Bool {
        let errPath = dir.task(index, "err")
        if let a = try? FileManager.default.attributesOfItem(atPath: errPath), (a[.size] as? NSNumber)?.intValue == 0 {
            try? FileManager.default.removeItem(atPath: errPath)
        }
        if p.terminationStatus == 0 && p.terminationReason == .exit { return true }
        if !FileManager.default.fileExists(atPath: dir.task(index, "failed")) {
            let how = p.terminationReason == .uncaughtSignal ? "killed by signal \(p.terminationStatus)" : "exit status \(p.terminationStatus)"
            try? writeTextAtomically("status=\(p.terminationStatus)\nerror=the task process ended (\(how)) without a result; see \(errPath)\n",
                                     to: dir.task(index, "failed"))
        }
        try? FileManager.default.removeItem(atPath: dir.task(index, "running"))
        return false
    }

    /// The `qat` binary that children and Slurm tasks run: $QAT_EXECUTABLE, this process when it
    /// is `qat`, a `qat` beside this process's binary (the test runner's case), or `qat` on $PATH.
    public static func executable() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let e = env["QAT_EXECUTABLE"], FileManager.default.isExecutableFile(atPath: e) { return absolutePath(e) }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        if (me as NSString).lastPathComponent == "qat" { return absolutePath(me) }
        let sibling = PathName.parent(me) + "/qat"
        if FileManager.default.isExecutableFile(atPath: sibling) { return absolutePath(sibling) }
        if let onPath = executableInPath("qat") { return absolutePath(onPath) }
        throw VerbError("cannot find the qat executable to run tasks with (this process is \(me)); build it (swift build -c release) or set QAT_EXECUTABLE=/path/to/qat")
    }

    // MARK: status

    /// Every task's status (Slurm's queue consulted when the sweep has a job id and squeue runs).
    public static func statuses(dir: SweepDir, _ m: SweepManifest) -> [SweepTaskStatus] {
        let queue = m.slurmJob.flatMap { SweepSlurm.queue(job: $0) }
        return m.tasks.indices.map { SweepTask.status(dir: dir, index: $0, queue: queue) }
    }

    /// "done=3 running=0 queued=0 failed=1 missing=0 total=4".
    public static func summary(_ s: [SweepTaskStatus]) -> String {
        SweepTaskState.allCases.map { st in "\(st.rawValue)=\(s.filter { $0.state == st }.count)" }.joined(separator: " ")
            + " total=\(s.count)"
    }

    /// The status table: task, its variables, state, detail.
    public static func statusTable(_ m: SweepManifest, _ s: [SweepTaskStatus]) -> ResultsTable {
        let t = ResultsTable(name: "status")
        for st in s {
            var row: [(String, TableValue)] = [("task", .number(Double(st.index)))]
            row += m.variables.map { ($0, cell(m.tasks[st.index].vars[$0] ?? "")) }
            row += [("status", .text(st.state.rawValue)), ("detail", .text(st.detail))]
            t.record(row)
        }
        return t
    }

    /// Records the statuses in the manifest (a snapshot for people reading sweep.json).
    public static func recordStatuses(dir: SweepDir, _ s: [SweepTaskStatus]) throws {
        var m = try SweepManifest.read(from: dir)
        for st in s where m.tasks.indices.contains(st.index) { m.tasks[st.index].status = st.state.rawValue }
        try m.write(to: dir)
    }

    static func cell(_ text: String) -> TableValue {
        SweepTask.number(text).map { .number($0) } ?? .text(text)
    }
}

// MARK: merge

extension SweepRunner {
    /// The merged tables, one per table name in order of first appearance. Without `partial`,
    /// every task must be done.
    public static func merge(dir: SweepDir, union: Bool, partial: Bool) throws -> [ResultsTable] {
        let m = try SweepManifest.read(from: dir)
        // a task killed while a resumed copy finished may leave its temporary; its writer is dead now
        for i in m.tasks.indices { InterruptedWrites.reclaim(dir.result(i)) }
        let done = m.tasks.indices.filter { FileManager.default.fileExists(atPath: dir.result($0)) }
        let notDone = m.tasks.indices.filter { !done.contains($0) }
        guard partial || notDone.isEmpty else {
            let list = notDone.prefix(10).map(String.init).joined(separator: ", ") + (notDone.count > 10 ? ", ..." : "")
            throw VerbError("\(notDone.count) of \(m.tasks.count) tasks in \(dir.path) have no result (tasks \(list)); see `sweep status \(dir.path)`, run the sweep again to finish them, or merge what is there with partial=1")
        }
        guard !done.isEmpty else { throw VerbError("no task in \(dir.path) has a result yet; run the sweep first") }
        var merged: [(name: String, table: ResultsTable, first: Int, columns: [String])] = []
        for i in done {
            let tables = try SweepTask.loadTables(dir.result(i))
            for t in tables {
                if let k = merged.firstIndex(where: { $0.name == t.name }) {
                    try checkColumns(t, task: i, against: merged[k].columns, firstTask: merged[k].first, m, union: union)
                    merged[k].columns += t.columns.filter { !merged[k].columns.contains($0) }
                    append(t, task: i, m, to: merged[k].table)
                } else {
                    if !union, i != done[0] {
                        throw VerbError("task \(i) (\(m.label(of: i))) has a table \(t.name) that task \(done[0]) does not have; every point must record the same tables (or merge with union=1)")
                    }
                    let out = ResultsTable(name: t.name)
                    merged.append((t.name, out, i, t.columns))
                    append(t, task: i, m, to: out)
                }
            }
            if !union, let missing = merged.first(where: { e in !tables.contains { $0.name == e.name } }) {
                throw VerbError("task \(i) (\(m.label(of: i))) has no table \(missing.name), which task \(missing.first) has; every point must record the same tables (or merge with union=1)")
            }
        }
        return merged.map(\.table)
    }

    static func checkColumns(_ t: ResultsTable, task i: Int, against ref: [String], firstTask: Int, _ m: SweepManifest, union: Bool) throws {
        guard !union, Set(t.columns) != Set(ref) else { return }
        let missing = ref.filter { !t.columns.contains($0) }, extra = t.columns.filter { !ref.contains($0) }
        throw VerbError("task \(i) (\(m.label(of: i))): table \(t.name) has columns [\(t.columns.joined(separator: " "))] but task \(firstTask) has [\(ref.joined(separator: " "))]"
            + (missing.isEmpty ? "" : "; missing: \(missing.joined(separator: " "))")
            + (extra.isEmpty ? "" : "; extra: \(extra.joined(separator: " "))")
            + ". Make every point record the same columns, or merge with union=1 (empty cells where a task lacks a column)")
    }

    /// The task's rows with its index and variables in front.
    static func append(_ t: ResultsTable, task i: Int, _ m: SweepManifest, to out: ResultsTable) {
        let vars = m.variables.filter { !t.columns.contains($0) && $0 != "task" }
        for row in t.rows {
            var cells: [(String, TableValue)] = [("task", .number(Double(i)))]
            cells += vars.map { ($0, cell(m.tasks[i].vars[$0] ?? "")) }
            cells += t.columns.compactMap { c in row[c].map { (c, $0) } }
            out.record(cells)
        }
    }

    /// Writes DIR/results.h5 (every table) and DIR/results.csv (the first table; the others as
    /// DIR/results_<name>.csv). Returns the paths written.
    public static func saveMerged(_ tables: [ResultsTable], dir: SweepDir) throws -> [String] {
        let h5 = dir.path + "/results.h5"
        let f = try HDF5File.create(path: h5)
        for t in tables { try t.writeHDF5(to: f) }
        try f.close()
        var paths = [h5]
        for (k, t) in tables.enumerated() {
            let csv = dir.path + (k == 0 ? "/results.csv" : "/results_\(ResultsTable.linkName(t.name)).csv")
            try t.save(path: csv)
            paths.append(csv)
        }
        return paths
    }
}
