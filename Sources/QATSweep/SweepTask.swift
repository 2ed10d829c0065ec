// One task of a sweep: what `sweep status` reads from a task's files, and the tables of its result
// file (file layout in SweepManifest.swift). Running a task's notebook needs the interpreter and
// the verb table, so `SweepTask.run` is in QATToolkit (SweepTaskRun.swift).
import Foundation
import QATIO
import QATResults

#if canImport(Glibc)
import Glibc
#endif

public enum SweepTask {
    public enum Outcome: String { case done, skipped }

    /// The number a variable's text stands for, when it reads as one (else the text is a string,
    /// as `qat VERB key=value` takes shell words): the one rule for task variables and table cells.
    public static func number(_ text: String) -> Double? {
        if let x = Double(text), x.isFinite, !text.contains(where: { $0.isLetter && $0 != "e" && $0 != "E" }) { return x }
        return nil
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
