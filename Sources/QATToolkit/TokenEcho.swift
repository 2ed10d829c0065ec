// Generated text printed as it is made, straight to stdout when stdout is a terminal (the REPL
// or `qat generate` in a shell). Not through the session's output: that one takes whole lines
// (notebooks and the `summary` verb read it), and a token is a fragment of a line.
//
// A byte-level token can end in the middle of a UTF-8 character, so tokens wait until their text
// decodes without a trailing U+FFFD (at most four tokens, then they are printed as they are).
import QATTokenizer
#if canImport(Glibc)
import Glibc
#endif

struct TokenEcho {
    let tokenizer: any TextTokenizer
    /// Tokens made but not printed yet.
    var pending: [Int32] = []

    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) != 0 }

    init(tokenizer: any TextTokenizer) { self.tokenizer = tokenizer }

    mutating func add(_ token: Int32) {
        pending.append(token)
        let text = tokenizer.decode(pending)
        if text.unicodeScalars.last == "\u{FFFD}" && pending.count < 4 { return }
        write(text)
        pending = []
    }

    /// Prints what is left and ends the line.
    mutating func finish() {
        write(tokenizer.decode(pending) + "\n")
        pending = []
    }

    private func write(_ text: String) {
        fflush(nil)   // whatever the session printed before comes first
        var bytes = text
        bytes.withUTF8 { _ = Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }
}
