// The sweep directory and its manifest, DIR/sweep.json.
//
// Layout of a sweep directory (DIR is made absolute when the sweep is written):
//   1. DIR/sweep.json       the manifest (JSON, keys sorted, written atomically by `sweep` and
//                           `sweep status`; tasks only read it):
//        format             "qatlab-sweep/1"
//        version            the QATLab version that wrote it (qatLabVersion)
//        notebook           the notebook's absolute path
//        notebook_fnv1a64   FNV-1a 64 of the notebook's bytes, 16 hex digits; a task refuses to
//                           run a notebook that changed since
//        cwd                the directory tasks run in (relative paths in the notebook start here)
//        variables          the grid's variable names, in order (the merged table's first columns)
//        common             {name: value} set in every task as well (keys such as quick=1)
//        cache              the SharedCache directory the tasks share (default DIR/cache)
//        backend            "local" or "slurm"
//        slurm_job          the job id of the last submitted array (slurm only)
//        tasks              [{index, vars: {name: value}, status}]; status as of the last
//                           `sweep` or `sweep status` (the files below are the truth)
//   2. DIR/tasks/NNNN.h5      task NNNN's result (NNNN = index, 4 digits or more): every results
//                             table its session held, as /tables/<name> (layout in
//                             ResultsTable.swift), root attributes task (int) and vars (JSON).
//                             Written under a temporary name and renamed: present means done.
//      DIR/tasks/NNNN.log     everything the notebook printed
//      DIR/tasks/NNNN.md      the notebook transcript (as `qat notebook` writes it)
//      DIR/tasks/NNNN.running "pid=P host=H started=ISO8601" while the task runs
//      DIR/tasks/NNNN.failed  "status=S" and the error, after a failed run (removed on success)
//      DIR/tasks/NNNN.err     stderr of a local-backend child process (kept only when not empty)
//   3. DIR/sweep.sbatch, DIR/slurm/JOB_TASK.out   the Slurm array script and its tasks' output
//   4. DIR/results.h5, DIR/results.csv            `sweep merge`
//   5. DIR/cache/                                 SharedCache entries (SweepCache.swift)
import Foundation
import QATIO

public struct SweepManifest: Codable, Equatable {
    public var format = "qatlab-sweep/1"
    public var version: String
    public var notebook: String
    public var notebookHash: String
    public var cwd: String
    public var variables: [String]
    public var common: [String: String]
    public var cache: String
    public var backend: String
    public var slurmJob: String?
    public var tasks: [SweepTaskEntry]

    enum CodingKeys: String, CodingKey {
        case format, version, notebook, notebookHash = "notebook_fnv1a64", cwd, variables, common, cache, backend
        case slurmJob = "slurm_job", tasks
    }

    /// A manifest for running `notebook` at every point of `grid`.
    public init(notebook: String, grid: SweepGrid, common: [String: String], dir: String, backend: String) throws {
        version = qatLabVersion
        self.notebook = absolutePath(notebook)
        notebookHash = try Self.hash(ofNotebook: self.notebook)
        cwd = FileManager.default.currentDirectoryPath
        variables = grid.names
        self.common = common
        cache = absolutePath(dir) + "/cache"
        self.backend = backend
        tasks = grid.points.indices.map { i in
            SweepTaskEntry(index: i, vars: Dictionary(uniqueKeysWithValues: grid.variables(i)), status: "missing")
        }
    }

    /// The notebook's content hash (16 hex digits of FNV-1a 64).
    public static func hash(ofNotebook path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VerbError("cannot read the notebook '\(path)'; check the path (relative paths start at the current directory)")
        }
        return hex16(fnv1a64(data))
    }

    /// The task's variables in grid order, then the common ones it does not override.
    public func variables(of task: Int) -> [(String, String)] {
        let vars = tasks[task].vars
        return variables.compactMap { n in vars[n].map { (n, $0) } }
            + common.keys.sorted().filter { vars[$0] == nil }.compactMap { n in common[n].map { (n, $0) } }
    }

    /// "bits=2 seed=1": the task's grid variables for messages.
    public func label(of task: Int) -> String {
        variables.map { "\($0)=\(tasks[task].vars[$0] ?? "")" }.joined(separator: " ")
    }

    public func write(to dir: SweepDir) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try enc.encode(self)
        try writeTextAtomically(String(decoding: data, as: UTF8.self) + "\n", to: dir.manifest)
    }

    public static func read(from dir: SweepDir) throws -> SweepManifest {
        guard let data = FileManager.default.contents(atPath: dir.manifest) else {
            throw VerbError("\(dir.manifest): no such file; is \(dir.path) a sweep directory? `sweep NOTEBOOK grid=... out=\(dir.path)` writes one")
        }
        let m: SweepManifest
        do { m = try JSONDecoder().decode(SweepManifest.self, from: data) } catch {
            throw VerbError("\(dir.manifest): not a sweep manifest (\(error)); it is written by `sweep`, do not edit it by hand")
        }
        guard m.format == "qatlab-sweep/1" else {
            throw VerbError("\(dir.manifest): format '\(m.format)', expected qatlab-sweep/1; was it written by a newer QATLab?")
        }
        for (i, t) in m.tasks.enumerated() where t.index != i {
            throw VerbError("\(dir.manifest): task \(i) has index \(t.index); the manifest is damaged, write the sweep again in a new directory")
        }
        return m
    }

    /// Why an existing manifest cannot be reused for this sweep, or nil when it can (the same
    /// notebook text, variables, points and common keys).
    public func conflict(with old: SweepManifest) -> String? {
        if old.notebook != notebook { return "it sweeps \(old.notebook), not \(notebook)" }
        if old.notebookHash != notebookHash { return "the notebook changed since (hash \(old.notebookHash), now \(notebookHash))" }
        if old.variables != variables || old.tasks.map(\.vars) != tasks.map(\.vars) {
            return "its grid differs (\(old.tasks.count) points over [\(old.variables.joined(separator: " "))], now \(tasks.count) over [\(variables.joined(separator: " "))])"
        }
        if old.common != common { return "its common keys differ (\(Self.keyText(old.common)) against \(Self.keyText(common)))" }
        return nil
    }

    public static func keyText(_ d: [String: String]) -> String {
        d.isEmpty ? "none" : d.keys.sorted().map { "\($0)=\(d[$0] ?? "")" }.joined(separator: " ")
    }
}

public struct SweepTaskEntry: Codable, Equatable {
    public var index: Int
    public var vars: [String: String]
    public var status: String
}

/// Paths inside a sweep directory (layout at the top of this file).
public struct SweepDir {
    public let path: String

    public init(_ path: String) { self.path = absolutePath(path) }

    public var manifest: String { path + "/sweep.json" }
    public var tasks: String { path + "/tasks" }
    public var slurmOutput: String { path + "/slurm" }
    public var sbatch: String { path + "/sweep.sbatch" }

    /// DIR/tasks/NNNN.<ext>.
    public func task(_ index: Int, _ ext: String) -> String {
        let n = String(index)
        return tasks + "/" + String(repeating: "0", count: max(0, 4 - n.count)) + n + "." + ext
    }

    public func result(_ index: Int) -> String { task(index, "h5") }

    public func makeDirectories() throws {
        try FileManager.default.createDirectory(atPath: tasks, withIntermediateDirectories: true)
    }
}

/// `path` from the current directory when relative, with "." and ".." resolved.
func absolutePath(_ path: String) -> String {
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return URL(fileURLWithPath: full).standardizedFileURL.path
}

/// The machine's host name (for .running markers).
public func hostName() -> String {
    var buf = [CChar](repeating: 0, count: 256)
    guard gethostname(&buf, buf.count - 1) == 0 else { return "unknown" }
    let name = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: name, as: UTF8.self)
}
