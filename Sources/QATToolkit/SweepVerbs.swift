// Sweep verbs: `sweep NOTEBOOK grid=... out=DIR` runs a notebook over a grid of settings, here
// (backend=local jobs=N) or as a Slurm job array (backend=slurm); the rows `sweep status DIR` and
// `sweep merge DIR` (sub-commands of the `sweep` group, whose own row is the run) follow and
// collect it; `sweep-task DIR INDEX` is one task (what both backends run; kept one word so the
// sbatch scripts and child processes of existing sweeps keep working). Directory and manifest layout: SweepManifest.swift; the sbatch script:
// SweepSlurm.swift; the shared cache: SweepCache.swift.
import Foundation
import QATIO
import QATInterp
import QATResults
import QATSweep
import QATTensor

enum SweepVerbs {
    static var rows: [VerbSpec] { [sweep, sweepStatus, sweepMerge, sweepTask] }

    /// The run row's own keys; any other key is passed to every task as a variable.
    static var sweepKeys: [ArgSpec] {
        [.key("grid", .string, help: "\"name=[v ...] ...\": the product of the lists, the first name varying slowest"),
         .key("points", .string, help: """
             a CSV file of points: a header of variable names, one line per point (crossed with \
             grid=)
             """),
         .key("out", .string, help: "the sweep directory (sweep.json, tasks/, results.*)"),
         .key("backend", .choice(["local", "slurm"]), default: .string("local"), help: "run here, or as a Slurm job array"),
         .key("jobs", .int, default: .number(1), range: 1...256, help: "local: tasks at once (threads per task = threads / jobs)"),
         .key("submit", .bool, default: .number(1), help: "slurm: submit with sbatch (0: only write DIR/sweep.sbatch)"),
         .key("wait", .bool, default: .number(0), help: "slurm: wait until the array has left the queue"),
         .key("cpus", .int, default: .number(1), range: 1...1024, help: "slurm: --cpus-per-task (the task's QAT_THREADS)"),
         .key("mem", .string, help: "slurm: --mem, e.g. 4G"),
         .key("time", .string, help: "slurm: --time, e.g. 02:00:00"),
         .key("partition", .string, help: "slurm: --partition"),
         .key("account", .string, help: "slurm: --account"),
         .key("array_max", .int, range: 1...100_000, help: "slurm: at most this many array tasks at once (--array=...%N)"),
         .key("sbatch_extra", .string, help: "slurm: more #SBATCH options, \";\"-separated: \"--qos=normal;--constraint=avx2\"")]
    }

    static var directoryArgument: ArgSpec { .positional("DIR", .string, help: "the sweep directory (out= of the sweep)") }

    static var sweep: VerbSpec {
        VerbSpec(name: "sweep", synopsis: "sweep NOTEBOOK grid=\"name=[v ...] ...\" out=DIR [backend=local|slurm] [jobs=1] [KEY=VALUE ...]",
                 summary: """
                     Run a notebook over a grid of settings (here or on Slurm), resumable; `sweep \
                     status DIR`, `sweep merge DIR`.
                     """,
                 arguments: [.positional("NOTEBOOK", .string, help: "the notebook (.qat)")] + sweepKeys,
                 help: """
                     Each grid point is a task: the notebook in a fresh session with the point's \
                     variables set (and every KEY=VALUE that is not a sweep option, such as \
                     quick=1), its results tables saved atomically as DIR/tasks/NNNN.h5, its log \
                     beside it. A task whose result exists is skipped, so running the same sweep \
                     again finishes only what is missing or failed. backend=slurm writes \
                     DIR/sweep.sbatch (a job array running `qat sweep-task DIR \
                     $SLURM_ARRAY_TASK_ID`) and submits it. Ends with a key=value summary line. A \
                     notebook named `status` or `merge` needs a path (./status).
                     """,
                 examples: ["sweep Notebooks/quickstart.qat grid=\"seed=[1 2]\" out=/tmp/qs quick=1 jobs=2",
                            "sweep ablation.qat grid=\"bits=[2 3] group=[64 128] seed=[1 2 3]\" out=runs/abl backend=slurm cpus=8 mem=8G time=04:00:00"],
                 openKeys: true) { call in
            try start(call)
            return .none
        }
    }

    static var sweepStatus: VerbSpec {
        VerbSpec(name: "sweep status", summary: "Show each task of a sweep: done, running, queued, failed or missing.",
                 arguments: [directoryArgument],
                 help: """
                     Prints done/running/queued/failed/missing per task (and the Slurm job), \
                     records the statuses in DIR, and ends with a key=value summary line.
                     """,
                 examples: ["sweep status runs/abl"]) { call in
            try status(call)
            return .none
        }
    }

    static var sweepMerge: VerbSpec {
        VerbSpec(name: "sweep merge", summary: "Join every task's tables of a sweep into DIR/results.h5 and DIR/results.csv.",
                 arguments: [directoryArgument,
                             .key("union", .bool, default: .number(0), help: "allow tasks with different columns (empty cells)"),
                             .key("partial", .bool, default: .number(0), help: "merge the tasks that are done, skip the rest")],
                 help: """
                     Joins every task's tables into DIR/results.h5 and DIR/results.csv with the \
                     task's variables as columns (tasks must record the same columns unless \
                     union=1). Ends with merged=... csv=... tables=N rows=N.
                     """,
                 examples: ["sweep merge runs/abl", "sweep merge runs/abl partial=1"]) { call in
            try merge(call)
            return .none
        }
    }

    static var sweepTask: VerbSpec {
        VerbSpec(name: "sweep-task", summary: "Run one task of a sweep (what the backends run; skipped when its result exists).",
                 arguments: [.positional("DIR", .string, help: "the sweep directory"),
                             .positional("INDEX", .int, range: 0...10_000_000, help: "the task's index (Slurm: $SLURM_ARRAY_TASK_ID)"),
                             .key("force", .bool, default: .number(0), help: "run even when the result exists (replacing it)"),
                             .key("echo", .bool, default: .number(0), help: "print the notebook's output too (it always goes to the task's .log)")],
                 help: """
                     Reads DIR/sweep.json, checks the notebook is unchanged, runs it with the \
                     task's variables and writes DIR/tasks/NNNN.h5, .log and .md. A failure writes \
                     DIR/tasks/NNNN.failed and exits with status 1. Ends with task=N \
                     status=done|skipped seconds=S.
                     """,
                 examples: ["sweep-task /tmp/qs 0", "sweep-task runs/abl 7 force=1 echo=1"]) { call in
            let dir = SweepDir(try call.string("DIR")), index = try call.int("INDEX")
            let clock = ContinuousClock(), start = clock.now
            let outcome = try SweepTask.run(dir: dir, index: index, force: try call.bool("force"),
                                            echo: try call.bool("echo") ? { call.out($0) } : nil)
            call.out("task=\(index) status=\(outcome.rawValue) seconds=\(fmt((clock.now - start).inSeconds, digits: 2)) result=\(dir.result(index))")
            return .none
        }
    }

    // MARK: actions

    /// `sweep NOTEBOOK ...`: write or reuse the manifest, then run the backend.
    static func start(_ call: VerbCall) throws {
        let notebook = try call.string("NOTEBOOK")
        guard call.has("out") else {
            throw InterpError.verb("sweep needs out=DIR, the directory for the sweep's tasks and results", hint: "sweep \(notebook) grid=\"bits=[2 3]\" out=runs/bits")
        }
        try OutputCheck.requireWritable(call, keys: ["out"])
        let dir = SweepDir(try call.string("out"))
        var grid = call.has("grid") ? try SweepGrid.parse(try call.string("grid")) : SweepGrid.single
        if call.has("points") { try grid.cross(with: try SweepGrid.load(csv: try call.string("points")), what: "points=") }
        let common = Dictionary(call.extraKeys.map { ($0.key, $0.value.text) }, uniquingKeysWith: { $1 })
        let backend = try call.string("backend")
        var m = try SweepManifest(notebook: notebook, grid: grid, common: common, dir: dir.path, backend: backend)
        try reconcile(&m, dir: dir)
        try dir.makeDirectories()
        try m.write(to: dir)
        let pending = m.tasks.indices.filter { SweepTask.status(dir: dir, index: $0).state != .done }
        call.out("sweep=\(dir.path) tasks=\(m.tasks.count) to_run=\(pending.count) common=\(SweepManifest.keyText(common).replacingOccurrences(of: " ", with: ","))")
        if backend == "slurm" { try startSlurm(call, dir: dir, m, pending: pending) } else { try startLocal(call, dir: dir, m, pending: pending) }
    }

    /// Keeps an existing manifest's job id; refuses one for another notebook text or grid while
    /// it has results.
    static func reconcile(_ m: inout SweepManifest, dir: SweepDir) throws {
        guard FileManager.default.fileExists(atPath: dir.manifest) else { return }
        let old = try SweepManifest.read(from: dir)
        if let why = m.conflict(with: old) {
            let done = old.tasks.indices.filter { FileManager.default.fileExists(atPath: dir.result($0)) }
            guard done.isEmpty else {
                throw InterpError.verb("\(dir.path) holds another sweep: \(why), and \(done.count) of its tasks have results",
                                       hint: "use a new out= directory, or delete \(dir.tasks) to start over")
            }
        } else {
            m.slurmJob = old.slurmJob
        }
    }

    static func startLocal(_ call: VerbCall, dir: SweepDir, _ m: SweepManifest, pending: [Int]) throws {
        let clock = ContinuousClock(), start = clock.now
        let jobs = try call.int("jobs")
        var failed: [Int] = []
        if !pending.isEmpty {
            call.out("backend=local jobs=\(jobs) threads_per_task=\(max(1, Threads.count / jobs))")
            failed = try SweepRunner.runLocal(dir: dir, pending: pending, jobs: jobs, threads: Threads.count,
                                              executable: try SweepRunner.executable()) { call.out($0) }
        }
        let s = SweepRunner.statuses(dir: dir, m)
        try SweepRunner.recordStatuses(dir: dir, s)
        call.out("\(SweepRunner.summary(s)) ran=\(pending.count) seconds=\(fmt((clock.now - start).inSeconds, digits: 1))")
        if !failed.isEmpty {
            throw InterpError.verb("\(failed.count) task(s) failed: \(failed.map(String.init).joined(separator: ", "))",
                                   hint: "read \(dir.task(failed[0], "log")) (and .err); fix, then run the same sweep again: only unfinished tasks run")
        }
    }

    static func startSlurm(_ call: VerbCall, dir: SweepDir, _ m: SweepManifest, pending: [Int]) throws {
        var o = SweepSlurm.Options()
        o.cpus = try call.int("cpus")
        if call.has("mem") { o.mem = try call.string("mem") }
        if call.has("time") { o.time = try call.string("time") }
        if call.has("partition") { o.partition = try call.string("partition") }
        if call.has("account") { o.account = try call.string("account") }
        if call.has("array_max") { o.arrayMax = try call.int("array_max") }
        if call.has("sbatch_extra") {
            o.extra = try call.string("sbatch_extra").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        try SweepSlurm.validate(dir: dir, m, options: o)
        guard !pending.isEmpty else {
            call.out(SweepRunner.summary(SweepRunner.statuses(dir: dir, m)) + " submitted=0")
            return
        }
        try FileManager.default.createDirectory(atPath: dir.slurmOutput, withIntermediateDirectories: true)
        try writeTextAtomically(SweepSlurm.script(dir: dir, m, indices: pending, options: o, executable: try SweepRunner.executable()), to: dir.sbatch)
        call.out("sbatch=\(dir.sbatch) array=\(SweepSlurm.arraySpec(pending))")
        guard try call.bool("submit") else { call.out("submitted=0 (submit with: sbatch \(dir.sbatch))"); return }
        let job = try SweepSlurm.submit(dir.sbatch)
        var updated = try SweepManifest.read(from: dir)
        updated.slurmJob = job
        try updated.write(to: dir)
        call.out("slurm_job=\(job)")
        guard try call.bool("wait") else { return }
        try SweepSlurm.wait(job: job) { call.out($0) }
        let s = SweepRunner.statuses(dir: dir, updated)
        try SweepRunner.recordStatuses(dir: dir, s)
        call.out("\(SweepRunner.summary(s)) slurm_job=\(job)")
    }

    static func status(_ call: VerbCall) throws {
        let dir = SweepDir(try call.string("DIR"))
        let m = try SweepManifest.read(from: dir)
        let s = SweepRunner.statuses(dir: dir, m)
        call.out(SweepRunner.statusTable(m, s).render().trimmingCharacters(in: .newlines))
        try SweepRunner.recordStatuses(dir: dir, s)
        call.out(SweepRunner.summary(s) + (m.slurmJob.map { " slurm_job=\($0)" } ?? ""))
    }

    static func merge(_ call: VerbCall) throws {
        let dir = SweepDir(try call.string("DIR"))
        let tables = try SweepRunner.merge(dir: dir, union: try call.bool("union"), partial: try call.bool("partial"))
        for t in tables { call.out(t.render().trimmingCharacters(in: .newlines)) }
        let paths = try SweepRunner.saveMerged(tables, dir: dir)
        call.out("merged=\(paths[0]) csv=\(paths[1]) tables=\(tables.count) rows=\(tables.map(\.rows.count).reduce(0, +))")
    }
}
