// Running sweeps: a task skips itself when its result exists, a failing or killed task leaves a
// marker and no result, merge joins tasks with their variables and refuses mismatched columns
// with a clear error, the local backend runs tasks as parallel child processes, and concurrent
// writers to the shared cache never leave a corrupt entry. All on the embedded tiny model.
import Foundation
import QATInterp
import QATResults
import QATTensor
import Testing

@testable import QATSweep
@testable import QATToolkit

/// Tests/Slurm/sweep_quick.qat: GPTQ on the tiny model at $bits with calibration seed $seed.
private let quickNotebook = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Slurm/sweep_quick.qat").path

/// A sweep directory written for `notebook` (a path, or text to write as DIR/../nb.qat).
private func makeSweep(_ dir: ScratchDir, notebook: String? = nil, text: String? = nil, grid: String) throws -> (SweepDir, SweepManifest) {
    var nb = notebook ?? dir.sub("nb.qat")
    if let text { nb = dir.sub("nb.qat"); try text.write(toFile: nb, atomically: true, encoding: .utf8) }
    let sd = SweepDir(dir.sub("sweep"))
    let m = try SweepManifest(notebook: nb, grid: try SweepGrid.parse(grid), common: [:], dir: sd.path, backend: "local")
    try sd.makeDirectories()
    try m.write(to: sd)
    return (sd, m)
}

private func inode(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.systemFileNumber] as? Int
}

@Suite struct SweepRunTests {
    @Test func aTaskWithAResultIsSkipped() throws {
        let dir = try ScratchDir("sweep-skip")
        let (sd, _) = try makeSweep(dir, notebook: quickNotebook, grid: "bits=[3] seed=[1 2]")
        #expect(SweepTask.status(dir: sd, index: 1).state == .missing)
        #expect(try SweepTask.run(dir: sd, index: 1) == .done)
        #expect(SweepTask.status(dir: sd, index: 1).state == .done)
        let first = inode(sd.result(1))
        #expect(first != nil)
        #expect(try SweepTask.run(dir: sd, index: 1) == .skipped)
        #expect(inode(sd.result(1)) == first)
        #expect(!FileManager.default.fileExists(atPath: sd.task(1, "running")))
        let tables = try SweepTask.loadTables(sd.result(1))
        #expect(tables.map(\.name) == ["results"])
        #expect(tables[0].column("ppl").count == 1)
        #expect(try String(contentsOfFile: sd.task(1, "log"), encoding: .utf8).contains("ppl="))
        #expect(FileManager.default.fileExists(atPath: sd.task(1, "md")))
        #expect(SweepTask.status(dir: sd, index: 0).state == .missing)
        #expect(try SweepTask.run(dir: sd, index: 1, force: true) == .done)
        #expect(inode(sd.result(1)) != first)
    }

    @Test func aFailingTaskLeavesAMarkerAndNoResult() throws {
        let dir = try ScratchDir("sweep-fail")
        let (sd, _) = try makeSweep(dir, text: "record results a=$x\nb = nosuchverb 1\n", grid: "x=[1]")
        #expect(throws: (any Error).self) { try SweepTask.run(dir: sd, index: 0) }
        #expect(!FileManager.default.fileExists(atPath: sd.result(0)))
        let st = SweepTask.status(dir: sd, index: 0)
        #expect(st.state == .failed)
        #expect(st.detail.contains("nosuchverb"))
        #expect(try String(contentsOfFile: sd.task(0, "log"), encoding: .utf8).contains("error:"))

        let dir2 = try ScratchDir("sweep-notable")
        let (sd2, _) = try makeSweep(dir2, text: "y = 2\n", grid: "x=[1]")
        do { try SweepTask.run(dir: sd2, index: 0); Issue.record("a notebook without a table must fail") } catch {
            #expect("\(error)".contains("recorded no results table"))
        }
    }

    @Test func anEditedNotebookIsRefused() throws {
        let dir = try ScratchDir("sweep-edited")
        let (sd, m) = try makeSweep(dir, text: "record results a=$x\n", grid: "x=[1]")
        try "record results a=$x b=2\n".write(toFile: m.notebook, atomically: true, encoding: .utf8)
        do { try SweepTask.run(dir: sd, index: 0); Issue.record("an edited notebook must be refused") } catch {
            #expect("\(error)".contains("changed since the sweep"))
        }
    }

    /// Writes a task's result by hand: one row per value of `column`.
    private func writeResult(_ sd: SweepDir, _ task: Int, _ columns: [(String, Double)]) throws {
        let t = ResultsTable(name: "results")
        t.record(columns.map { ($0.0, .number($0.1)) })
        try t.save(path: sd.result(task))
    }

    @Test func mergeJoinsTasksWithTheirVariables() throws {
        let dir = try ScratchDir("sweep-merge")
        let (sd, _) = try makeSweep(dir, text: "record results a=1\n", grid: "bits=[2 3] seed=[1]")
        try writeResult(sd, 0, [("seed", 11), ("ppl", 20.5)])
        try writeResult(sd, 1, [("seed", 12), ("ppl", 18.25)])
        let merged = try SweepRunner.merge(dir: sd, union: false, partial: false)
        #expect(merged.count == 1)
        let t = merged[0]
        // the notebook's own seed column wins over the variable of the same name
        #expect(t.columns == ["task", "bits", "seed", "ppl"])
        #expect(t.column("bits") == [2, 3])
        #expect(t.column("seed") == [11, 12])
        #expect(t.column("ppl") == [20.5, 18.25])
        let paths = try SweepRunner.saveMerged(merged, dir: sd)
        #expect(paths == [sd.path + "/results.h5", sd.path + "/results.csv"])
        #expect(try ResultsTable.load(path: paths[0]).rows.count == 2)
        #expect(try String(contentsOfFile: paths[1], encoding: .utf8) == "task,bits,seed,ppl\r\n0,2,11,20.5\r\n1,3,12,18.25\r\n")
    }

    @Test func mergeWithMismatchedColumnsIsAClearError() throws {
        let dir = try ScratchDir("sweep-mismatch")
        let (sd, _) = try makeSweep(dir, text: "record results a=1\n", grid: "seed=[1 2 3]")
        try writeResult(sd, 0, [("ppl", 20), ("loss", 1)])
        try writeResult(sd, 1, [("loss", 2), ("ppl", 21)])   // same columns, other order: fine
        try writeResult(sd, 2, [("ppl", 22), ("acc", 0.5)])
        do { _ = try SweepRunner.merge(dir: sd, union: false, partial: false); Issue.record("mismatched columns must fail") } catch {
            let text = "\(error)"
            #expect(text.contains("task 2 (seed=3)"))
            #expect(text.contains("missing: loss"))
            #expect(text.contains("extra: acc"))
            #expect(text.contains("union=1"))
        }
        let t = try SweepRunner.merge(dir: sd, union: true, partial: false)[0]
        #expect(t.columns == ["task", "seed", "ppl", "loss", "acc"])
        #expect(t.column("loss") == [1, 2, nil])
        #expect(t.column("acc") == [nil, nil, 0.5])

        try FileManager.default.removeItem(atPath: sd.result(1))
        do { _ = try SweepRunner.merge(dir: sd, union: true, partial: false); Issue.record("a missing task must fail") } catch {
            #expect("\(error)".contains("have no result (tasks 1)"))
        }
        #expect(try SweepRunner.merge(dir: sd, union: true, partial: true)[0].column("task") == [0, 2])
    }

    @Test func localBackendRunsTasksAsChildProcesses() throws {
        let dir = try ScratchDir("sweep-local")
        let out = dir.sub("sweep")
        let s = Session()
        try s.run("sweep \(quickNotebook) grid=\"bits=[2 3] seed=[1 2]\" out=\(out) jobs=2 quick=1")
        #expect(s.lines.contains("backend=local jobs=2 threads_per_task=\(max(1, Threads.count / 2))"))
        #expect(s.lines.last?.hasPrefix("done=4 running=0 queued=0 failed=0 missing=0 total=4 ran=4") == true)
        try s.run("sweep merge \(out)")
        let t = try ResultsTable.load(path: out + "/results.csv")
        #expect(t.columns == ["task", "bits", "seed", "ppl"])
        #expect(t.column("bits") == [2, 2, 3, 3])
        #expect(t.column("seed") == [1, 2, 1, 2])
        #expect(t.column("ppl").allSatisfy { ($0 ?? 0) > 1 })
        // every task tokenized the same calibration text: one shared cache entry, no temporaries
        let cache = try FileManager.default.contentsOfDirectory(atPath: out + "/cache")
        #expect(cache.count == 1 && cache[0].hasPrefix("tokens-"), "cache holds \(cache)")
        // running it again runs nothing
        try s.run("sweep \(quickNotebook) grid=\"bits=[2 3] seed=[1 2]\" out=\(out) jobs=2 quick=1")
        #expect(s.lines.contains("sweep=\(out) tasks=4 to_run=0 common=quick=1"))
        try s.run("sweep status \(out)")
        #expect(s.lines.last == "done=4 running=0 queued=0 failed=0 missing=0 total=4")
        #expect(s.error("sweep \(quickNotebook) grid=\"bits=[4]\" out=\(out)")?.message.contains("holds another sweep") == true)
    }

    @Test func aKilledTaskLeavesNoResult() throws {
        let dir = try ScratchDir("sweep-kill")
        // the whole Devil's Dictionary on one thread: many seconds, so the kill lands mid-run
        let (sd, _) = try makeSweep(dir, text: "m = load tiny\nrecord results a=$x\nz = ppl m devil ctx=64\n", grid: "x=[1]")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try SweepRunner.executable())
        p.arguments = ["sweep-task", sd.path, "0"]
        p.environment = ProcessInfo.processInfo.environment.merging(["QAT_THREADS": "1"]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: sd.task(0, "log")) { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(SweepTask.status(dir: sd, index: 0).state == .running)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: sd.result(0)))
        let st = SweepTask.status(dir: sd, index: 0)
        #expect(st.state == .failed)
        #expect(st.detail.contains("died without a result"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: sd.tasks).allSatisfy { !$0.contains(".h5") })
    }

    @Test func notebookAndRunSetExtraKeysAsVariables() throws {
        let dir = try ScratchDir("sweep-vars")
        let s = Session()
        try s.run("notebook \(quickNotebook) bits=4 seed=3 out=\(dir.sub("nb.md"))")
        if case .number(let b)? = s.interp.variables["bits"] { #expect(b == 4) } else { Issue.record("bits is not set") }
        #expect(s.interp.variables["results"] != nil)
        let r = Session()
        try r.run("run \(quickNotebook) bits=2 seed=1")
        if case .object(let o)? = r.interp.variables["results"], let t = o as? ResultsTable {
            #expect(t.rows.count == 1)
        } else { Issue.record("run did not record results") }
    }
}

/// Counts from several threads.
private final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    func add(_ k: String) { lock.lock(); counts[k, default: 0] += 1; lock.unlock() }
    subscript(_ k: String) -> Int { lock.lock(); defer { lock.unlock() }; return counts[k, default: 0] }
}

@Suite struct SweepCacheTests {
    @Test func concurrentWritersNeverLeaveACorruptEntry() throws {
        let dir = try ScratchDir("sweep-cache")
        let cache = try SharedCache(directory: dir.sub("cache"))
        // different payloads under one key: the worst case (real writers write the same bytes)
        let payloads = (0..<4).map { k in (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* (2 * k + 3) &+ k) } }
        let key = "tokens/test/vocab258/fortunes/0123"
        let tally = Tally()
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for r in 0..<25 {
                if t % 2 == 0 {
                    do { try cache.put(key, payloads[(t + r) % 4]); tally.add("put") } catch { tally.add("put error") }
                } else if let got = cache.get(key) {
                    tally.add(payloads.contains(got) ? "good read" : "corrupt read")
                }
            }
        }
        #expect(tally["put"] == 100)
        #expect(tally["put error"] == 0)
        #expect(tally["corrupt read"] == 0)
        #expect(tally["good read"] > 0)
        #expect(cache.get(key).map { payloads.contains($0) } == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.directory) == [(cache.path(for: key) as NSString).lastPathComponent])
    }

    @Test func aTornOrForeignFileReadsAsAbsent() throws {
        let dir = try ScratchDir("sweep-cache-torn")
        let cache = try SharedCache(directory: dir.sub("cache"))
        try cache.put("a/1", [1, 2, 3, 4, 5])
        #expect(cache.get("a/1") == [1, 2, 3, 4, 5])
        let bytes = try #require(FileManager.default.contents(atPath: cache.path(for: "a/1")))
        try bytes.dropLast(2).write(to: URL(fileURLWithPath: cache.path(for: "a/1")))
        #expect(cache.get("a/1") == nil)
        var flipped = [UInt8](bytes)
        flipped[flipped.count - 1] ^= 0xff
        try Data(flipped).write(to: URL(fileURLWithPath: cache.path(for: "a/1")))
        #expect(cache.get("a/1") == nil)
        #expect(cache.get("b/2") == nil)
        #expect(try cache.value("a/1") { [9] } == [9])
        #expect(cache.get("a/1") == [9])
    }
}
