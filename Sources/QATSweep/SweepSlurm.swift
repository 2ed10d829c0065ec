// The Slurm backend: one job array per sweep, one array task per grid point not yet done.
//
// DIR/sweep.sbatch (a bash script; every path in it absolute):
//   #SBATCH --job-name=qat-sweep-<DIR's last component>
//   #SBATCH --array=<pending indices, ranges compacted: 0-3 or 1,4-6>[%<array_max>]
//   #SBATCH --cpus-per-task=<cpus>   --output=DIR/slurm/%A_%a.out   --chdir=<the sweep's cwd>
//   #SBATCH --mem= --time= --partition= --account=   only when given
//   #SBATCH <each line of sbatch_extra=, ";"-separated>
//   export QAT_THREADS=${SLURM_CPUS_PER_TASK:-1}       (threads per task = the cores Slurm gave)
//   exec <qat> sweep-task DIR $SLURM_ARRAY_TASK_ID
// The task skips itself when its result exists, so submitting the script again by hand is safe.
// Submission is `sbatch --parsable`; the job id goes into sweep.json (slurm_job), and
// `sweep status` asks `squeue -h -r -j JOB -o "%K %T"` which array tasks are pending or running.
import Foundation
import QATIO
import QATTensor

public enum SweepSlurm {
    public struct Options {
        public var cpus = 1
        public var mem: String?
        public var time: String?
        public var partition: String?
        public var account: String?
        public var arrayMax: Int?
        public var extra: [String] = []
        public init() {}
    }

    /// The sbatch script for the given task indices.
    public static func script(dir: SweepDir, _ m: SweepManifest, indices: [Int], options o: Options, executable: String) -> String {
        var lines = ["#!/bin/bash",
                     "# Written by `qat sweep` (QATLab \(qatLabVersion)) for \(dir.path): one array task per grid point not yet done.",
                     "# A task whose result exists skips itself, so `sbatch \(dir.sbatch)` again is safe.",
                     "#SBATCH --job-name=qat-sweep-\((dir.path as NSString).lastPathComponent)",
                     "#SBATCH --array=\(arraySpec(indices))\(o.arrayMax.map { "%\($0)" } ?? "")",
                     "#SBATCH --cpus-per-task=\(o.cpus)",
                     "#SBATCH --output=\(dir.slurmOutput)/%A_%a.out",
                     "#SBATCH --chdir=\(m.cwd)"]
        if let v = o.mem { lines.append("#SBATCH --mem=\(v)") }
        if let v = o.time { lines.append("#SBATCH --time=\(v)") }
        if let v = o.partition { lines.append("#SBATCH --partition=\(v)") }
        if let v = o.account { lines.append("#SBATCH --account=\(v)") }
        lines += o.extra.map { "#SBATCH \($0)" }
        lines += ["", "export QAT_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"",
                  "exec \(shellQuote(executable)) sweep-task \(shellQuote(dir.path)) \"$SLURM_ARRAY_TASK_ID\"", ""]
        return lines.joined(separator: "\n")
    }

    /// "0-3", "1,4-6": sorted indices with runs compacted.
    public static func arraySpec(_ indices: [Int]) -> String {
        var parts: [String] = [], sorted = indices.sorted()[...]
        while let lo = sorted.popFirst() {
            var hi = lo
            while sorted.first == hi + 1 { hi = sorted.removeFirst() }
            parts.append(lo == hi ? "\(lo)" : "\(lo)-\(hi)")
        }
        return parts.joined(separator: ",")
    }

    /// Checks what sbatch would choke on before anything is written.
    public static func validate(dir: SweepDir, _ m: SweepManifest, options o: Options) throws {
        for (what, path) in [("out=", dir.path), ("the working directory", m.cwd)] where path.contains(where: \.isWhitespace) {
            throw VerbError("\(what) \(path) contains a blank, which #SBATCH lines cannot hold; use a path without blanks")
        }
        for line in o.extra where !line.hasPrefix("-") {
            throw VerbError("sbatch_extra line '\(line)' is not an sbatch option; give options such as \"--qos=normal;--constraint=avx2\"")
        }
    }

    /// Submits the script; returns the job id.
    public static func submit(_ scriptPath: String) throws -> String {
        let (status, out, err) = try runTool("sbatch", ["--parsable", scriptPath])
        guard status == 0 else {
            throw VerbError("sbatch \(scriptPath) failed (status \(status)): \(err.trimmingCharacters(in: .whitespacesAndNewlines)); fix the options, or write the script only with submit=0 and submit it by hand")
        }
        let id = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw VerbError("sbatch printed '\(out)' where a job id was expected; check `squeue` by hand")
        }
        return id
    }

    /// Array task -> Slurm state for the tasks of `job` still in the queue; nil when squeue
    /// cannot be asked (not installed, no controller).
    public static func queue(job: String) -> [Int: String]? {
        guard let (status, out, _) = try? runTool("squeue", ["-h", "-r", "-j", job, "-o", "%K %T"]) else { return nil }
        guard status == 0 else { return [:] }   // an unknown (finished, purged) job: nothing queued
        var q: [Int: String] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 2, let i = Int(f[0]) else { continue }
            let state = String(f[1])
            if ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED"].contains(state) { q[i] = state }
        }
        return q
    }

    /// Polls squeue until no task of `job` is queued or running (Ctrl-C stops waiting).
    public static func wait(job: String, poll: Double = 2, report: (String) -> Void) throws {
        var last = ""
        while true {
            guard let q = queue(job: job) else {
                throw VerbError("squeue does not answer, so the job \(job) cannot be watched; check the Slurm controller, then `sweep status`")
            }
            if q.isEmpty { return }
            let now = "waiting: job \(job) has \(q.values.filter { $0 == "PENDING" }.count) pending, \(q.values.filter { $0 != "PENDING" }.count) running"
            if now != last { report(now); last = now }
            if Interrupt.take() {
                throw VerbError("stopped waiting (Ctrl-C); the job \(job) keeps running: `sweep status` follows it")
            }
            Thread.sleep(forTimeInterval: poll)
        }
    }

    /// Runs a program from $PATH; its exit status, stdout and stderr.
    static func runTool(_ name: String, _ args: [String]) throws -> (Int32, String, String) {
        guard let tool = executableInPath(name) else {
            throw VerbError("\(name) is not on PATH; is this a Slurm login node? (Debian: apt-get install slurm-client)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
