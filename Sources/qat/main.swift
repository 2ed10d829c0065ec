// qat: the QATLab executable. `qat` alone is the REPL (or reads a script on stdin); `qat VERB ...`
// runs one command. The verbs are QATToolkit's table; REPL.swift is the prompt and the shell entry.
import CReadline
import QATInterp
import QATToolkit
#if canImport(Glibc)
import Glibc
#endif

qat_line_buffer_stdout()
let interpreter = Interpreter()
interpreter.register(Verbs.rows)
exit(qatMain(interpreter, Array(CommandLine.arguments.dropFirst()),
             banner: "QATLab \(Verbs.version). `help` lists the verbs, `help language` the syntax; Ctrl-D quits."))
