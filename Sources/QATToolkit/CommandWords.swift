// Splitting a command line into words: spaces and tabs separate words; "double quotes" make one
// word that may hold spaces (with \" \\ \n \t escapes); '#' outside quotes starts a comment.
// (The full command language, with variables and blocks, replaces this with the interpreter.)

public enum CommandWords {
    public static func split(_ line: String) throws -> [String] {
        var words: [String] = [], current = "", inWord = false, quoted = false, escape = false
        for ch in line {
            if quoted {
                if escape {
                    switch ch { case "n": current.append("\n"); case "t": current.append("\t"); default: current.append(ch) }
                    escape = false
                } else if ch == "\\" { escape = true
                } else if ch == "\"" { quoted = false
                } else { current.append(ch) }
                continue
            }
            switch ch {
            case " ", "\t", "\r":
                if inWord { words.append(current); current = ""; inWord = false }
            case "#":
                if inWord { words.append(current) }
                return words
            case "\"":
                quoted = true; inWord = true
            default:
                current.append(ch); inWord = true
            }
        }
        if quoted { throw VerbError("unterminated string: a \" opened on this line is never closed") }
        if inWord { words.append(current) }
        return words
    }
}
