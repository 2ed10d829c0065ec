// Every registered verb's row: non-empty summary, help page and examples that parse; an unknown
// key is an error naming the valid keys (except the two open-key verbs, record and dump, which
// take any column or value name); an argument of the wrong kind is an error naming the expected
// kind, raised by the dispatcher before the verb runs (so no model is loaded here).
import Foundation
import QATInterp
import Testing

@testable import QATToolkit

@Suite struct WorkbenchVerbTableTests {
    /// A value literal of `kind` that needs no model: tensors come from $t, tables from $tab.
    static func placeholder(_ kind: ArgKind) -> String? {
        switch kind {
        case .tensor: return "$t"
        case .number, .int, .bool: return "1"
        case .string, .any: return "x"
        case .choice(let words): return words.first
        case .list: return "[1]"
        case .object("table"): return "$tab"
        case .object: return nil
        case .code: return "(version)"
        case .either(let kinds):
            if kinds.contains(.string) { return "x" }
            return kinds.lazy.compactMap(placeholder).first
        }
    }

    /// A literal that `kind` rejects.
    static func wrong(_ kind: ArgKind) -> String? {
        switch kind {
        case .number, .int, .tensor, .list, .object: return "\"abc\""
        case .bool: return "maybe"
        case .choice: return "zz_not_a_choice"
        case .string: return "[1 2]"
        case .code: return "3"
        case .any: return nil
        case .either(let kinds):
            if kinds.contains(.string) || kinds.contains(.any) { return kinds.contains(.list) || kinds.contains(.any) ? nil : "[1 2]" }
            return "\"abc\""
        }
    }

    /// The required positionals and keys of a row, each filled with a placeholder.
    static func requiredWords(_ spec: VerbSpec, except skip: String? = nil) -> [String]? {
        var words: [String] = []
        for a in spec.arguments where a.required && a.name != skip {
            guard let p = placeholder(a.kind) else { return nil }
            switch a.role {
            case .key: words.append("\(a.name)=\(p)")
            case .positional: words.append(p)
            case .variadic(let min): words += Array(repeating: p, count: max(min, 1))
            }
        }
        return words
    }

    func session() throws -> Session {
        let s = Session()
        try s.run("t = randn 2 3 seed=1\nrecord tab a=1")
        return s
    }

    @Test func everyVerbHasSummaryHelpAndParsableExamples() throws {
        let s = try session()
        let names = s.interp.visibleVerbNames
        #expect(names.count >= 45)
        for name in names {
            let spec = try #require(s.interp.verb(name))
            #expect(!spec.summary.isEmpty, "\(name): empty summary")
            #expect(!spec.examples.isEmpty, "\(name): no example")
            for a in spec.arguments { #expect(!a.help.isEmpty, "\(name): argument \(a.name) has no help") }
            for ex in spec.examples {
                #expect(throws: Never.self, "\(name): example does not parse: \(ex)") { _ = try Parser.parse(ex, file: "<example>") }
            }
            let before = s.lines.count
            try s.run("help \(name)")
            let page = s.lines[before...].joined(separator: "\n")
            #expect(page.hasPrefix(spec.synopsis) && page.contains(spec.summary), "\(name): help page")
        }
        for name in Verbs.rows.map(\.name) where name != "make-tiny" {
            #expect(!(s.interp.verb(name)?.help.isEmpty ?? true), "\(name): no help text")
        }
    }

    @Test func unknownKeysAreErrorsExceptForOpenKeyVerbs() throws {
        let s = try session()
        var open: [String] = []
        for name in s.interp.visibleVerbNames {
            let spec = try #require(s.interp.verb(name))
            if spec.openKeys { open.append(name); continue }
            guard let words = Self.requiredWords(spec) else { continue }
            let text = ([name] + words + ["zzkey=1"]).joined(separator: " ")
            let e = try #require(s.error(text), "\(text) should fail")
            #expect(e.message.contains("unknown key 'zzkey'"), "\(text): \(e.message)")
            #expect(e.position?.column == text.count - "zzkey=1".count + 1, "\(text): column of the key")
            if !spec.keyNames.isEmpty { #expect(e.hint?.contains("valid keys") == true, "\(text): hint \(e.hint ?? "")") }
        }
        #expect(open.sorted() == ["default", "dump", "notebook", "record", "run", "sweep", "table"])
    }

    @Test func wrongKindsAreErrorsBeforeTheVerbRuns() throws {
        let s = try session()
        var checked = 0
        for name in s.interp.visibleVerbNames where name != "quit" {
            let spec = try #require(s.interp.verb(name))
            for arg in spec.arguments {
                guard let bad = Self.wrong(arg.kind), let rest = Self.requiredWords(spec, except: arg.name) else { continue }
                var words = rest
                switch arg.role {
                case .key: words.append("\(arg.name)=\(bad)")
                case .positional, .variadic:
                    // every positional up to this one, and the required ones after it, are present
                    let ps = spec.arguments.filter { $0.role != .key }
                    guard let idx = ps.firstIndex(where: { $0.name == arg.name }) else { continue }
                    var pos: [String] = [], complete = true
                    for (k, p) in ps.enumerated() {
                        if k == idx { pos.append(bad) } else if k < idx || p.required {
                            guard let ph = Self.placeholder(p.kind) else { complete = false; break }
                            pos.append(ph)
                        }
                    }
                    guard complete else { continue }
                    words = pos + rest.filter { $0.contains("=") }
                }
                let text = ([name] + words).joined(separator: " ")
                let e = try #require(s.error(text), "\(text) should fail")
                #expect(e.message.contains("must be") && e.message.contains(arg.kind.description), "\(text): \(e.message)")
                checked += 1
            }
        }
        #expect(checked >= 100)
    }

    @Test func rangesAndMissingArgumentsAreChecked() throws {
        let s = try session()
        #expect(s.error("quantize tiny bits=9")?.message.contains("outside 2...8") == true)
        #expect(s.error("randn")?.message.contains("missing DIM") == true)
        #expect(s.error("export tiny")?.message.contains("missing out=") == true)
        #expect(s.error("quantize tiny method=gtpq")?.hint == "did you mean gptq?")
        #expect(s.error("quantise tiny")?.hint?.contains("did you mean 'quantize'") == true)
        #expect(s.error("blockap tiny epoch=1")?.hint?.contains("did you mean 'epochs'") == true)
        // a method's own options are refused with another method, before any calibration runs
        #expect(s.error("quantize tiny method=gptq search_windows=8")?.message.contains("search_windows= applies to method=awq, not method=gptq") == true)
        #expect(s.error("quantize tiny method=awq act_order=1")?.hint == "drop act_order= or use method=gptq")
    }
}
