// The REPL under a pseudo-terminal: the built `qat` binary driven in tmux (send-keys,
// capture-pane). Checks the prompt, Tab completion of a verb, history recall with Up, Ctrl-C
// during a long command returning to the prompt with variables intact, Ctrl-D, the history
// file, and piped scripts stopping at their first error.
//
// The binary: $QAT_BINARY if set, else `qat` beside this test bundle (same scratch path and
// configuration as the test build), else .build/debug/qat or .build/release/qat under the
// package root. Skipped only when tmux is not installed.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum REPLHarness {
    static let tmux: String? = ["/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func qatBinary() -> String? {
        if let env = ProcessInfo.processInfo.environment["QAT_BINARY"], !env.isEmpty { return env }
        let fm = FileManager.default
        let beside = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("qat").path
        if fm.isExecutableFile(atPath: beside) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for config in ["debug", "release"] {
            let p = root.appendingPathComponent(".build/\(config)/qat").path
            if fm.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// The qat binary, checked to run this interpreter (its hidden `sleep` verb answers `help`).
    static func interpreterBinary() throws -> String {
        let qat = try #require(qatBinary(), "no qat binary: build the package first (swift build)")
        let (status, probe) = try run(qat, ["help", "sleep"])
        try #require(status == 0 && probe.contains("sleep SECONDS"),
                     "\(qat) does not run the interpreter's verb table (no `sleep` verb): is main.swift migrated to REPL.swift?")
        return qat
    }

    /// Runs a program to completion; returns its status and stdout+stderr. posix_spawn, not
    /// Foundation's Process: Process waits for inherited descriptors, which the daemonized tmux
    /// server keeps open. The child gets an empty signal mask and default SIGINT, whatever
    /// the test thread has blocked. `detached` children get /dev/null for every stream.
    @discardableResult
    static func run(_ path: String, _ args: [String], stdin: String? = nil, detached: Bool = false) throws -> (Int32, String) {
        let dir = NSTemporaryDirectory() + "qat-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inPath = dir + "/in", outPath = detached ? "/dev/null" : dir + "/out"
        try Data((stdin ?? "").utf8).write(to: URL(fileURLWithPath: inPath))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, detached ? "/dev/null" : inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
        guard rc == 0 else { throw CocoaError(.executableLoad) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = detached ? "" : ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitCode, output)
    }
}

/// One tmux server on a private socket running one qat session.
struct TmuxSession {
    let tmux: String
    let socket = "qat-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    @discardableResult
    func cmd(_ args: [String]) -> (Int32, String) {
        (try? REPLHarness.run(tmux, ["-L", socket] + args, detached: args.first == "new-session")) ?? (-1, "")
    }

    func send(_ keys: String...) { cmd(["send-keys", "-t", "qat"] + keys) }
    func sendText(_ text: String) { cmd(["send-keys", "-t", "qat", "-l", text]) }

    var screen: String { cmd(["capture-pane", "-p", "-t", "qat"]).1 }

    /// The last non-blank line of the screen, trailing blanks removed.
    var lastLine: String {
        let lines = screen.split(separator: "\n").map { String($0.reversed().drop { $0 == " " }.reversed()) }
        return lines.last { !$0.isEmpty } ?? ""
    }

    var alive: Bool { cmd(["has-session", "-t", "qat"]).0 == 0 }

    /// Polls every 50 ms until `condition` holds or `seconds` pass.
    func wait(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}

extension QATInterpTests {
@Suite struct REPLTests {
    @Test(.enabled(if: REPLHarness.tmux != nil, "tmux is not installed (apt-get install tmux)"))
    func promptCompletionHistoryAndCtrlC() throws {
        let qat = try REPLHarness.interpreterBinary()
        let home = NSTemporaryDirectory() + "qat-repl-home-\(getpid())"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }

        let t = TmuxSession(tmux: try #require(REPLHarness.tmux))
        t.cmd(["new-session", "-d", "-s", "qat", "-x", "120", "-y", "40", "env HOME=\(home) \(qat)"])
        defer { t.cmd(["kill-server"]) }
        #expect(t.wait { t.lastLine == "qat>" }, "prompt shown:\n\(t.screen)")

        t.sendText("v = 42"); t.send("Enter")
        #expect(t.wait { t.screen.components(separatedBy: "qat>").count == 3 }, "second prompt:\n\(t.screen)")

        t.send("Up")
        #expect(t.wait { t.lastLine == "qat> v = 42" }, "Up recalls the previous line:\n\(t.screen)")
        t.send("C-u")

        t.sendText("hel"); t.send("Tab")
        #expect(t.wait { t.lastLine == "qat> help" }, "Tab completes a verb:\n\(t.screen)")
        t.send("C-u")

        t.sendText("time (sleep 30)"); t.send("Enter")
        usleep(500_000)
        let start = Date()
        t.send("C-c")
        #expect(t.wait(10) { t.lastLine == "qat [error]>" }, "Ctrl-C returns to the prompt:\n\(t.screen)")
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(t.screen.contains("interrupted (Ctrl-C) in sleep"))

        t.sendText("print \"v=$v\""); t.send("Enter")
        #expect(t.wait { t.screen.contains("\nv=42\n") && t.lastLine == "qat>" }, "variable kept:\n\(t.screen)")

        t.send("C-d")
        #expect(t.wait { !t.alive }, "Ctrl-D exits")
        let history = (try? String(contentsOfFile: home + "/.qat_history", encoding: .utf8)) ?? ""
        #expect(history.contains("v = 42\n") && history.contains("time (sleep 30)\n"), "history file:\n\(history)")
    }

    @Test func pipedScriptStopsAtItsFirstError() throws {
        let qat = try REPLHarness.interpreterBinary()
        let (ok, okOut) = try REPLHarness.run(qat, [], stdin: "x = 2\nfor i in [1 2] {\n  x = $x * 3\n}\n$x\n")
        #expect(ok == 0 && okOut == "18\n", "\(okOut)")
        let (bad, badOut) = try REPLHarness.run(qat, [], stdin: "print one\nprint $nope\nprint three\n")
        #expect(bad == 1)
        #expect(badOut.contains("one\n") && badOut.contains("<stdin>:2:7: error: undefined variable $nope") && !badOut.contains("three"))
    }
}
}
