// qat: the QATLab executable.
//   qat                 the REPL (readline when stdin is a terminal; plain lines otherwise)
//   qat VERB ARGS...    one verb from the shell, e.g. `qat bench tensor`
// Verbs come from QATToolkit's table; this file only reads lines and reports errors.
import CReadline
import QATToolkit
#if canImport(Glibc)
import Glibc
#endif

func printError(_ error: Error) {
    var text = "error: \(error)\n"
    text.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

func readLineInteractive(prompt: String) -> String? {
    guard let p = readline(prompt) else { return nil }
    defer { free(p) }
    let line = String(cString: p)
    if !line.trimmingCharacters(in: " \t").isEmpty { add_history(p) }
    return line
}

extension String {
    func trimmingCharacters(in set: String) -> Substring {
        let chars = Set(set)
        var s = self[...]
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return s
    }
}

func repl() -> Int32 {
    let interactive = isatty(STDIN_FILENO) != 0
    if interactive { print("QATLab \(Verbs.version). `help` lists the verbs; Ctrl-D quits.") }
    var status: Int32 = 0
    while let line = interactive ? readLineInteractive(prompt: "qat> ") : Swift.readLine() {
        do {
            let w = try CommandWords.split(line)
            if w.first == "quit" || w.first == "exit" { break }
            try Verbs.run(w) { print($0) }
        } catch {
            printError(error)
            if !interactive { status = 1; break }   // a script stops at its first error
        }
    }
    return status
}

qat_line_buffer_stdout()
let args = Array(CommandLine.arguments.dropFirst())
if args.isEmpty {
    exit(repl())
}
do {
    try Verbs.run(args) { print($0) }
} catch {
    printError(error)
    exit(1)
}
