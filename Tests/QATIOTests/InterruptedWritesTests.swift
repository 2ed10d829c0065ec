// InterruptedWrites tests: what a SIGKILLed writer leaves behind (temporaries, a stranded
// X.old-<pid> after a directory replace cut between its renames) is reclaimed by the next write
// or load of X; temporaries of live writers and unrelated names are never touched.
import Foundation
import QATTensor
import Testing

@testable import QATIO

/// The pid of a process that has exited (so `kill(pid, 0)` fails with ESRCH).
private func deadPid() throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/true")
    try p.run()
    p.waitUntilExit()
    return p.processIdentifier
}

private func touch(_ path: String) { _ = FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])) }
private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

@Suite("Interrupted writes")
struct InterruptedWritesTests {
    @Test func aDeadWritersTemporariesAreRemovedByTheNextWrite() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let dead = try deadPid()
        let target = s.path("state.h5")
        let stale = [s.path("state.h5.tmp-\(dead)"), s.path("state.h5.tmp-\(dead)-12345")]
        let live = s.path("state.h5.tmp-\(getpid())-777")     // this process: alive, kept
        let other = s.path("state.h5x.tmp-\(dead)")            // another file's temporary, kept
        for p in stale + [live, other] { touch(p) }
        let f = try HDF5File.create(path: target)
        try f.write(Tensor(shape: [2], [1, 2]), at: "/x")
        try f.close()
        for p in stale { #expect(!exists(p), "\(p) should have been reclaimed") }
        #expect(exists(live) && exists(other) && exists(target))
    }

    @Test func aStrandedPreviousDirectoryIsPutBack() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let dead = try deadPid()
        let target = s.path("ckpt")
        let old = s.path("ckpt.old-\(dead)")
        try FileManager.default.createDirectory(atPath: old, withIntermediateDirectories: true)
        touch(old + "/manifest.json")
        #expect(InterruptedWrites.reclaim(target) == ["ckpt.old-\(dead)"])
        #expect(exists(target + "/manifest.json") && !exists(old))
        // the replace had finished and only the clean-up was cut: the old copy is deleted
        try FileManager.default.createDirectory(atPath: old, withIntermediateDirectories: true)
        InterruptedWrites.reclaim(target + "/")
        #expect(!exists(old) && exists(target + "/manifest.json"))
    }

    /// The REPL survival test found NSString.deletingLastPathComponent trapping on a generated
    /// model name; reclaim now splits paths itself and must take any string.
    @Test func anyStringIsSafe() {
        for s in ["", "/", "//", "a/", "/nonexistent/x", "x\u{0}y", "\u{FFFF}/\u{1F600}", String(repeating: "../", count: 300), "~", "é/ü"] {
            #expect(InterruptedWrites.reclaim(s).isEmpty)
        }
    }

    @Test func onlyWellFormedNamesAreTaken() {
        #expect(InterruptedWrites.parse("a.h5.tmp-12", base: "a.h5")?.1 == 12)
        #expect(InterruptedWrites.parse("a.h5.tmp-12-99", base: "a.h5")?.1 == 12)
        #expect(InterruptedWrites.parse("a.old-7", base: "a")?.0 == .previous)
        for name in ["a.h5.tmp-", "a.h5.tmp-x", "a.h5.tmp-12x", "a.h5.tmp-12-ab", "a.old-7-1", "a.h5", "b.h5.tmp-12", "a.h5.tmp-0"] {
            #expect(InterruptedWrites.parse(name, base: "a.h5") == nil && InterruptedWrites.parse(name, base: "a") == nil, "\(name)")
        }
    }
}
