// The verb table: every command QATLab understands, one row each, serving the shell
// (`qat VERB ...`), the REPL and scripts alike. A row names the verb, its synopsis, the keys it
// accepts (anything else is an error, never silently ignored), its help and its action.
// Adding a capability is adding a row.
import QATQuant
import QATTensor

public struct VerbError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Words of one command: positional arguments and key=value options.
public struct VerbArguments {
    public var positional: [String] = []
    public var options: [String: String] = [:]

    public init(words: [String]) {
        for w in words {
            if let eq = w.firstIndex(of: "="), eq != w.startIndex {
                options[String(w[..<eq])] = String(w[w.index(after: eq)...])
            } else {
                positional.append(w)
            }
        }
    }

    public func int(_ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let s = options[key] else { return value }
        guard let v = Int(s), range.contains(v) else {
            throw VerbError("\(key)=\(s) is not valid: expected a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }
}

public struct Verb: Sendable {
    public let name: String
    public let synopsis: String
    public let keys: [String]
    public let help: String
    public let run: @Sendable (VerbArguments, _ out: (String) -> Void) throws -> Void
}

public enum Verbs {
    public static let table: [Verb] = coreRows + ModelVerbs.rows + QuantVerbs.rows + TrainVerbs.rows

    static let coreRows: [Verb] = [
        Verb(name: "help", synopsis: "help [VERB]", keys: [],
             help: "List the verbs, or describe one.") { args, out in
            if let name = args.positional.first {
                guard let v = find(name) else { throw unknownVerb(name) }
                out("\(v.synopsis)\n  \(v.help)")
            } else {
                out("QATLab verbs (help VERB for details):")
                for v in table { out("  \(v.synopsis.padded(to: 44)) \(v.help.prefix { $0 != "." })") }
            }
        },
        Verb(name: "bench", synopsis: "bench tensor|model|quant|train [MODEL] [batch=4] [seq=512] [ctx=512] [repeats=3]", keys: ["batch", "seq", "ctx", "repeats"],
             help: "bench tensor: OpenBLAS sgemm GFLOP/s and the forward+backward of one SmolLM2-shaped LLaMA block in the same run (last line block_vs_sgemm=<ratio>). bench model [MODEL] [ctx=512]: forward tokens/s of a real model against the sgemm-bound ideal. bench quant: fake-quant forward+backward over a 1536x576 weight in ns/element against memcpy. bench train [MODEL] [seq=256]: Block-AP and E2E-QP tokens/s and their fraction of the sgemm peak.") { args, out in
            let repeats = try args.int("repeats", default: 3, range: 1...100)
            switch args.positional.first {
            case "tensor":
                _ = try benchTensor(batch: try args.int("batch", default: 4, range: 1...64),
                                    seq: try args.int("seq", default: 512, range: 1...8192), repeats: repeats, log: out)
            case "quant":
                try benchQuant(log: out)
            case "train":
                try benchTrain(spec: args.positional.count > 1 ? args.positional[1] : "default",
                               seq: try args.int("seq", default: 256, range: 2...8192), repeats: repeats, log: out)
            case "model":
                try benchModel(spec: args.positional.count > 1 ? args.positional[1] : "smollm2",
                               ctx: try args.int("ctx", default: 512, range: 2...32768), repeats: repeats, log: out)
            default:
                throw VerbError("bench: say what to measure: bench tensor | model [MODEL] | quant | train [MODEL]")
            }
        },
        Verb(name: "threads", synopsis: "threads [N]", keys: [],
             help: "Show or set the number of threads for OpenBLAS and QATLab's own loops (also QAT_THREADS).") { args, out in
            if let s = args.positional.first {
                guard let n = Int(s), (1...64).contains(n) else { throw VerbError("threads: \(s) is not a number in 1...64") }
                Threads.set(n)
            }
            out("threads=\(Threads.count)")
        },
        Verb(name: "notebook", synopsis: "notebook FILE", keys: [],
             help: "Run the commands of a script file, one per line ('#' starts a comment); stops at the first error, naming the file and line.") { args, out in
            guard let path = args.positional.first else { throw VerbError("notebook: give the script's path, e.g. notebook Notebooks/quickstart.qat") }
            try runScript(path: path, out: out)
        },
        Verb(name: "version", synopsis: "version", keys: [], help: "Print the QATLab version.") { _, out in
            out("QATLab \(version)")
        },
    ]

    public static let version = "0.1.0"

    public static func find(_ name: String) -> Verb? { table.first { $0.name == name } }

    /// Runs one command given as words.
    public static func run(_ words: [String], out: (String) -> Void) throws {
        guard let name = words.first else { return }
        guard let verb = find(name) else { throw unknownVerb(name) }
        let args = VerbArguments(words: Array(words.dropFirst()))
        for key in args.options.keys.sorted() where !verb.keys.contains(key) {
            let known = verb.keys.isEmpty ? "it takes no key=value options" : "known keys: \(verb.keys.joined(separator: ", "))"
            throw VerbError("\(name): unknown key '\(key)'; \(known)")
        }
        try verb.run(args, out)
    }

    static func unknownVerb(_ name: String) -> VerbError {
        let nearest = table.map(\.name).min { editDistance($0, name) < editDistance($1, name) } ?? "help"
        return VerbError("unknown verb '\(name)'; did you mean '\(nearest)'? (`help` lists the verbs)")
    }
}

/// Runs a script file line by line through the verb table.
func runScript(path: String, out: (String) -> Void) throws {
    guard let text = readTextFile(path) else { throw VerbError("notebook: cannot read '\(path)'; check the path") }
    for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
        out("qat> " + trimmed)
        do { try Verbs.run(try CommandWords.split(String(line)), out: out) } catch {
            throw VerbError("\(path):\(i + 1): \(error)")
        }
    }
}

/// Levenshtein distance, for "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var prev = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var cur = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return a.isEmpty ? b.count : prev[b.count]
}

extension String {
    func padded(to n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
