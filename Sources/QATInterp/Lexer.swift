// The character level of the parser: positions, blanks and comments, names, numbers, strings
// with escapes and `$var` / `${var}` interpolation, and bare words.
//
// The language is scanned in two modes (see Parser.swift for the grammar): in a command, a bare
// word runs to the next blank or bracket, so `out/x.h5` and `-3` are single words; in an
// expression, `/` and `-` are operators and bare words are not allowed.

/// The parser's cursor over one source text.
public struct Parser {
    let chars: [Character]
    let file: String
    let firstLine: Int
    var lineStarts: [Int] = [0]
    var i = 0
    /// Open (), [], {} and unary minuses around the current position: the parser recurses once
    /// per level, so a fuzzed "((((..." thousands deep would overflow the stack; past
    /// `maxNesting` it is a syntax error instead.
    var nesting = 0
    static let maxNesting = 100

    init(_ text: String, file: String, firstLine: Int) {
        // "\r\n" is one Character in Swift; treat it as a newline.
        chars = text.map { $0 == "\r\n" ? "\n" : $0 }
        self.file = file
        self.firstLine = firstLine
        for (k, c) in chars.enumerated() where c == "\n" { lineStarts.append(k + 1) }
    }

    /// Enters one level of nesting (balanced by `nesting -= 1` in a defer), refusing the 101st.
    mutating func enterNesting(_ what: String) throws {
        nesting += 1
        guard nesting <= Parser.maxNesting else {
            throw syntax("\(what) nested more than \(Parser.maxNesting) deep", hint: "split the expression: assign inner parts to variables first")
        }
    }

    // MARK: positions and errors

    func pos(_ at: Int) -> SourcePos {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= at { lo = mid } else { hi = mid - 1 }
        }
        return SourcePos(file: file, line: firstLine + lo, column: at - lineStarts[lo] + 1)
    }

    var here: SourcePos { pos(i) }

    func syntax(_ message: String, at: Int? = nil, hint: String? = nil) -> InterpError {
        InterpError(.syntax, at: pos(at ?? i), message, hint: hint)
    }

    /// The input ended inside something opened at `opened` (a brace, bracket, quote...).
    func incomplete(_ what: String, opened: Int) -> InterpError {
        InterpError(.incomplete, at: pos(opened), "\(what) opened here is not closed",
                    hint: "close it, or check for a missing '}', ']', ')' or '\"' earlier")
    }

    // MARK: characters

    var atEnd: Bool { i >= chars.count }
    func peek(_ k: Int = 0) -> Character? { i + k < chars.count ? chars[i + k] : nil }

    static func isNameStart(_ c: Character?) -> Bool { c.map { $0 == "_" || ($0.isASCII && $0.isLetter) } ?? false }
    static func isNameChar(_ c: Character?) -> Bool { c.map { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) } ?? false }
    static func isBlank(_ c: Character?) -> Bool { c == " " || c == "\t" || c == "\r" }
    /// Characters that end a bare word.
    static func endsWord(_ c: Character) -> Bool {
        switch c {
        case " ", "\t", "\r", "\n", ";", "{", "}", "[", "]", "(", ")", "\"": return true
        default: return false
        }
    }

    /// Skips blanks, `\`-newline continuations and `#` comments; newlines too when `newlines`.
    mutating func skipBlanks(newlines: Bool) throws {
        while let c = peek() {
            if Parser.isBlank(c) || (newlines && c == "\n") {
                i += 1
            } else if c == "\\" && (peek(1) == "\n" || peek(1) == nil) {
                if peek(1) == nil { throw incomplete("a '\\' line continuation", opened: i) }
                i += 2
            } else if c == "#" {
                while let d = peek(), d != "\n" { i += 1 }
            } else {
                return
            }
        }
    }

    /// A name: [A-Za-z_][A-Za-z0-9_]*, or nil (nothing consumed) if none starts here.
    mutating func scanName() -> String? {
        guard Parser.isNameStart(peek()) else { return nil }
        let start = i
        while Parser.isNameChar(peek()) { i += 1 }
        return String(chars[start..<i])
    }

    /// Looks at the name starting here without consuming it.
    func peekName() -> String? {
        var copy = self
        return copy.scanName()
    }

    // MARK: numbers

    static func isNumberLiteral(_ s: String) -> Bool {
        var cs = Array(s)[...]
        if cs.first == "-" || cs.first == "+" { cs = cs.dropFirst() }
        var digits = 0, k = cs.startIndex
        while k < cs.endIndex, cs[k].isASCII, cs[k].isNumber { digits += 1; k += 1 }
        if k < cs.endIndex, cs[k] == "." {
            k += 1
            while k < cs.endIndex, cs[k].isASCII, cs[k].isNumber { digits += 1; k += 1 }
        }
        guard digits > 0 else { return false }
        if k < cs.endIndex, cs[k] == "e" || cs[k] == "E" {
            k += 1
            if k < cs.endIndex, cs[k] == "-" || cs[k] == "+" { k += 1 }
            var exp = 0
            while k < cs.endIndex, cs[k].isASCII, cs[k].isNumber { exp += 1; k += 1 }
            guard exp > 0 else { return false }
        }
        return k == cs.endIndex
    }

    /// A number in an expression: digits, an optional fraction and exponent.
    mutating func scanNumber() throws -> Node {
        let start = i
        while let c = peek(), c.isASCII, c.isNumber || c == "." { i += 1 }
        if peek() == "e" || peek() == "E" {
            let save = i
            i += 1
            if peek() == "-" || peek() == "+" { i += 1 }
            if let c = peek(), c.isASCII, c.isNumber { while let c = peek(), c.isASCII, c.isNumber { i += 1 } } else { i = save }
        }
        let text = String(chars[start..<i])
        guard Parser.isNumberLiteral(text), let d = Double(text), !Parser.isNameChar(peek()) else {
            while Parser.isNameChar(peek()) || peek() == "." { i += 1 }
            throw syntax("'\(String(chars[start..<i]))' is not a number", at: start,
                         hint: "numbers look like 3, -0.5 or 1e-4")
        }
        return .number(d, pos(start))
    }

    // MARK: variables, strings, bare words

    /// `$name` or `${name}`; the cursor is on the `$`.
    mutating func scanVariable() throws -> (String, SourcePos) {
        let start = i
        i += 1
        if peek() == "{" {
            i += 1
            guard let name = scanName() else {
                if atEnd { throw incomplete("'${'", opened: start) }
                throw syntax("'${' must be followed by a variable name and '}'", at: start)
            }
            guard peek() == "}" else {
                if atEnd { throw incomplete("'${'", opened: start) }
                throw syntax("'${\(name)' must be closed by '}'", hint: "write ${\(name)}")
            }
            i += 1
            return (name, pos(start))
        }
        guard let name = scanName() else {
            throw syntax("'$' must be followed by a variable name", at: start,
                         hint: "variables look like $x or ${x}; write \\$ inside a string for a dollar sign")
        }
        return (name, pos(start))
    }

    /// A "double-quoted string" with escapes \n \t \r \\ \" \$ and $var interpolation.
    /// It may span lines.
    mutating func scanString() throws -> Node {
        let start = i
        i += 1
        var parts: [TextPart] = [], lit = ""
        while true {
            guard let c = peek() else { throw incomplete("a string", opened: start) }
            switch c {
            case "\"":
                i += 1
                if !lit.isEmpty || parts.isEmpty { parts.append(.text(lit)) }
                // A quoted string is always a string, even "$x" alone.
                if parts.count == 1, case .text(let s) = parts[0] { return .string(s, pos(start)) }
                return .interpolation(parts, pos(start))
            case "\\":
                guard let e = peek(1) else { throw incomplete("a string", opened: start) }
                let map: [Character: String] = ["n": "\n", "t": "\t", "r": "\r", "\\": "\\", "\"": "\"", "$": "$", "\n": ""]
                guard let s = map[e] else {
                    throw syntax("unknown escape '\\\(e)' in a string", hint: "use \\n \\t \\r \\\\ \\\" or \\$")
                }
                lit += s
                i += 2
            case "$":
                if !lit.isEmpty { parts.append(.text(lit)); lit = "" }
                let (name, p) = try scanVariable()
                parts.append(.variable(name, p))
            default:
                lit.append(c)
                i += 1
            }
        }
    }

    /// A bare word in a command: runs to a blank or bracket; `$var` inside it interpolates.
    /// All-literal words that look like numbers are numbers.
    mutating func scanBareWord() throws -> Node {
        let start = i
        var parts: [TextPart] = [], lit = ""
        while let c = peek(), !Parser.endsWord(c) {
            if c == "\\" && peek(1) == "\n" { break }
            if c == "$" {
                if !lit.isEmpty { parts.append(.text(lit)); lit = "" }
                let (name, p) = try scanVariable()
                parts.append(.variable(name, p))
            } else {
                lit.append(c)
                i += 1
            }
        }
        if !lit.isEmpty { parts.append(.text(lit)) }
        if parts.isEmpty { throw syntax("expected a word here") }
        if parts.count == 1, case .text(let s) = parts[0], Parser.isNumberLiteral(s), let d = Double(s) {
            return .number(d, pos(start))
        }
        if parts.count == 1, case .text(let s) = parts[0] { return .word(s, pos(start)) }
        return Parser.node(parts, pos(start))
    }

    /// Literal parts become a string; one variable stays a variable (its value keeps its kind).
    static func node(_ parts: [TextPart], _ p: SourcePos) -> Node {
        if parts.count == 1 {
            switch parts[0] {
            case .text(let s): return .string(s, p)
            case .variable(let name, let vp): return .variable(name, vp)
            }
        }
        return .interpolation(parts, p)
    }
}
