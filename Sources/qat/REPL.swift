// The REPL and the shell entry of the qat executable.
//
//   qat                 stdin a terminal: the interactive prompt on GNU readline;
//                       otherwise the commands on stdin, no prompts (`qat < script.qat`): a
//                       script stops at its first error with exit status 1
//   qat VERB ARG...     one command from the shell through the same verb table
//
// At the prompt: history in ~/.qat_history (read at start, appended per line; a missing or
// unwritable file is ignored); Tab completes verb names (first word), variables (after `$`),
// a group's sub-commands (after `qfa `), the current row's `key=` names, and file names otherwise; `...> ` while a block, bracket,
// parenthesis or string is open; the prompt shows the last status (`qat> ` / `qat [error]> `);
// Ctrl-D exits; Ctrl-C at the prompt discards the line, during a command interrupts it.
//
// Signals: readline is used through its callback interface (as CPython does) so that Ctrl-C at
// the prompt can discard the input: Interrupt's SIGINT handler, installed for the whole
// interactive session, sets a flag; poll() on stdin returns EINTR and the loop cancels the line.
// While a command runs the same flag is polled by the interpreter between statements and by
// long verbs (Interrupt.check()), so the session and its variables survive.
import CReadline
import QATInterp
import QATTensor
#if canImport(Glibc)
import Glibc
#endif

/// `qat` with its arguments: no arguments runs the REPL (or a script on stdin), otherwise one
/// command. Returns the process exit status.
func qatMain(_ interp: Interpreter, _ args: [String], banner: String) -> Int32 {
    guard !args.isEmpty else { return REPL(interp).run(banner: banner) }
    do {
        try interp.runCommandLine(args)
    } catch {
        reportError(error)
        return 1
    }
    return interp.exitStatus ?? 0
}

/// Writes an error to stderr after flushing what was printed before it.
func reportError(_ error: Error) {
    fflush(nil)
    var text = (error is InterpError ? "\(error)" : "error: \(error)") + "\n"
    text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

final class REPL {
    enum Outcome { case needMore, done, failed }

    let interp: Interpreter
    /// Lines of an entry still open (a block, list, string...).
    var buffer = ""
    var bufferFirstLine = 1
    var lineNumber = 0

    init(_ interp: Interpreter) { self.interp = interp }

    func run(banner: String) -> Int32 {
        isatty(STDIN_FILENO) != 0 ? interactive(banner: banner) : plain()
    }

    /// Adds a line to the entry; runs the entry once it is complete.
    func submit(_ line: String) -> Outcome {
        lineNumber += 1
        if buffer.isEmpty { bufferFirstLine = lineNumber }
        buffer += line + "\n"
        let script: Script
        do {
            script = try Parser.parse(buffer, file: "<stdin>", firstLine: bufferFirstLine)
        } catch let e as InterpError where e.kind == .incomplete {
            return .needMore
        } catch {
            buffer = ""
            reportError(error)
            return .failed
        }
        buffer = ""
        Interrupt.clear()
        do {
            try interp.run(script)
            return .done
        } catch {
            reportError(error)
            return .failed
        }
    }

    /// stdin is not a terminal: no prompts; the first error ends the run with status 1.
    func plain() -> Int32 {
        while let line = readLine(strippingNewline: true) {
            if submit(line) == .failed { return 1 }
            if let status = interp.exitStatus { return status }
        }
        guard buffer.isEmpty else {
            do { _ = try Parser.parse(buffer, file: "<stdin>", firstLine: bufferFirstLine) } catch { reportError(error) }
            return 1
        }
        return interp.exitStatus ?? 0
    }

    func interactive(banner: String) -> Int32 {
        let history = LineEditor.setUp(completingWith: interp)
        Interrupt.installHandler()
        defer { Interrupt.removeHandler() }
        print(banner)
        var failed = false
        while interp.exitStatus == nil {
            let prompt = !buffer.isEmpty ? "...> " : failed ? "qat [error]> " : "qat> "
            switch LineEditor.read(prompt: prompt) {
            case .eof:
                print("")
                return 0
            case .interrupted:
                buffer = ""
            case .line(let line):
                history.record(line)
                switch submit(line) {
                case .needMore: break
                case .done: failed = false
                case .failed: failed = true
                }
            }
        }
        return interp.exitStatus ?? 0
    }
}

// MARK: readline

// State the C callbacks reach: they cannot capture context. Only the main thread touches it.
nonisolated(unsafe) var completionInterpreter: Interpreter?
nonisolated(unsafe) var completionWords: [String] = []
nonisolated(unsafe) var completionIndex = 0
nonisolated(unsafe) var receivedLine: UnsafeMutablePointer<CChar>?
nonisolated(unsafe) var lineDone = false

enum LineEditor {
    enum Result { case line(String), eof, interrupted }

    /// ~/.qat_history, appended to per line; failures are ignored (history is a convenience).
    struct History {
        let path: String?
        func record(_ line: String) {
            guard line.contains(where: { $0 != " " && $0 != "\t" }) else { return }
            add_history(line)
            if let path { _ = append_history(1, path) }
        }
    }

    static func setUp(completingWith interp: Interpreter) -> History {
        completionInterpreter = interp
        qat_rl_set_readline_name(strdup("qat"))
        qat_rl_set_attempted_completion(attemptCompletion)
        using_history()
        guard let home = getenv("HOME") else { return History(path: nil) }
        let path = String(cString: home) + "/.qat_history"
        if access(path, F_OK) == 0 {
            _ = read_history(path)
            _ = history_truncate_file(path, 2000)
        } else {
            _ = write_history(path)   // creates it, so append_history has a file to append to
        }
        return History(path: path)
    }

    /// One line from readline's callback interface; Ctrl-C discards the line being edited.
    static func read(prompt: String) -> Result {
        lineDone = false
        receivedLine = nil
        rl_callback_handler_install(prompt, lineHandler)
        while !lineDone {
            if Interrupt.requested { return cancel() }
            var fds = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            let r = poll(&fds, 1, -1)
            if r < 0 {
                if errno == EINTR { continue }
                rl_callback_handler_remove()
                return .eof
            }
            rl_callback_read_char()
        }
        guard let p = receivedLine else { return .eof }
        defer { free(p) }
        return .line(String(cString: p))
    }

    static func cancel() -> Result {
        Interrupt.clear()
        print("^C")   // after the text typed so far, which stays visible
        rl_free_line_state()
        rl_callback_sigcleanup()
        rl_cleanup_after_signal()
        rl_callback_handler_remove()
        return .interrupted
    }

    static let lineHandler: @convention(c) (UnsafeMutablePointer<CChar>?) -> Void = { line in
        receivedLine = line
        lineDone = true
        rl_callback_handler_remove()
    }

    static let generator: @convention(c) (UnsafePointer<CChar>?, Int32) -> UnsafeMutablePointer<CChar>? = { text, state in
        if state == 0 { completionIndex = 0 }
        let prefix = text.map { String(cString: $0) } ?? ""
        while completionIndex < completionWords.count {
            let w = completionWords[completionIndex]
            completionIndex += 1
            if w.hasPrefix(prefix) { return strdup(w) }   // readline free()s it
        }
        return nil
    }

    /// Picks verbs, variables, keys or (by returning nil) readline's file-name completion.
    static let attemptCompletion: @convention(c) (UnsafePointer<CChar>?, Int32, Int32)
        -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = { text, start, _ in
        guard let interp = completionInterpreter, let before = rl_copy_text(0, start) else { return nil }
        let context = interp.completionContext(before: String(cString: before))
        free(before)
        let prefix = text.map { String(cString: $0) } ?? ""
        completionWords = interp.completionCandidates(context)
        let any = completionWords.contains { $0.hasPrefix(prefix) }
        switch context {
        case .key:
            guard any else { return nil }                     // no key fits: complete a file name
            qat_rl_set_completion_suppress_append(1)          // `bits=` takes its value right after
        case .subCommand:
            guard any else { return nil }                     // `sweep NOTEBOOK`: a file name
        default: break
        }
        if context == .path { return nil }
        qat_rl_set_attempted_completion_over(1)
        return rl_completion_matches(text, generator)
    }
}
