// The quiz(6) pattern syntax, the real Debian files (installed by setup.sh / .ci/run), and errors.
import Foundation
import QATIO
import Testing
@testable import QATEval

@Suite struct QuizPatternTests {
    @Test(arguments: [
        ("Vienna|Wien", "Vienna"),
        ("Central Africa{n Rep{ublic}}", "Central African Republic"),
        ("{The }Gambia", "The Gambia"),
        ("Bahr[a|e]in", "Bahrain"),
        ("R['e|e'|e]union", "Réunion"),
        ("C[^o|o^|o]te d'Ivoire", "Côte d'Ivoire"),
        ("S[~a|a~|a]o Tom['e|e'|e]", "São Tomé"),
        ("Mo[z|,c|c,|c]ambique", "Mozambique"),
        ("Port[-| ]au[-| ]Prince", "Port-au-Prince"),
        ("Malagasy{ Rep{ublic}}|Madagascar", "Malagasy Republic"),
        ("M[iddle{-}Earth|E]", "Middle-Earth"),
        ("a\\:b\\|c", "a:b|c"),
        ("St. John's", "St. John's"),
    ])
    func canonicalForm(pattern: String, expected: String) throws {
        #expect(try Quiz.canonical(pattern) == expected)
    }

    @Test func malformedPatternsNameFileAndLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-quiz-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, bad) in ["Fran{ce:Paris", "Spain]:Madrid", "Ital[y|ie:Rome"].enumerated() {
            let file = dir.appendingPathComponent("bad\(i)").path
            try "Austria:Vienna\n\(bad)\n".write(toFile: file, atomically: true, encoding: .utf8)
            let q = try Quiz.load(path: file)
            #expect(q.facts == [["Austria", "Vienna"]], "the bad line is skipped")
            #expect(q.problems.count == 1 && q.problems[0].description.contains(file) && q.problems[0].description.contains("line 2"), "\(q.problems)")
            // a file of bad lines only is an error naming the file and line
            try "\(bad)\n".write(toFile: file, atomically: true, encoding: .utf8)
            #expect(throws: FormatError.self) { try Quiz.load(path: file) }
        }
    }

    @Test func continuationLinesJoin() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("qat-quiz-cont-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "Austria:Vie\\\nnna\n:empty question\nPeru:\n".write(toFile: file, atomically: true, encoding: .utf8)
        let q = try Quiz.load(path: file)
        #expect(q.facts[0] == ["Austria", "Vienna"])
        #expect(q.titles == ["column0", "column1"])
    }
}

@Suite struct DebianQuizFilesTests {
    /// Every file the index names parses, and the capitals files have their titles and known facts.
    @Test func everyInstalledQuizFileParses() throws {
        let index = Quiz.directory + "/index"
        guard FileManager.default.fileExists(atPath: index) else {
            Issue.record("bsdgames is not installed (\(index) missing): run `bash setup.sh`")
            return
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: Quiz.directory).filter { $0 != "index" }
        #expect(files.count >= 30)
        var problems: [String] = []
        for f in files { problems += try Quiz.load(path: Quiz.directory + "/" + f).problems.map(\.description) }
        // Debian's one malformed fact: seq-hard line 10 (`[Squares|n[**|^]2} base 8`)
        #expect(problems.count == 1 && problems[0].contains("seq-hard: line 10"), "\(problems)")
        let europe = try Quiz.load(path: Quiz.directory + "/europe")
        #expect(europe.titles == ["European", "capital"])
        #expect(europe.facts.contains(["Austria", "Vienna"]))
        let africa = try Quiz.load(path: Quiz.directory + "/africa")
        #expect(africa.facts.contains(["Côte d'Ivoire", "Yamoussoukro"]))
        #expect(africa.facts.contains(["The Gambia", "Banjul"]))
    }

    @Test func capitalsTaskIsSeededAndScoresEveryFact() throws {
        guard FileManager.default.fileExists(atPath: Quiz.directory + "/europe") else {
            Issue.record("bsdgames is not installed: run `bash setup.sh`"); return
        }
        let a = try MultipleChoiceTasks.load("capitals", seed: 1), b = try MultipleChoiceTasks.load("capitals", seed: 1)
        let c = try MultipleChoiceTasks.load("capitals", seed: 2)
        #expect(a.items == b.items && a.items != c.items)
        // no split of its own: all 221 facts are scored, shots come from the other items
        #expect(a.items.count == 221 && a.fewShotSplit.isEmpty && a.fewShotSource == nil)
        for item in a.items {
            #expect(item.requests.count == 4)
            #expect(Set(item.requests.map(\.continuation)).count == 4, "distractors must differ from the answer and each other")
            #expect(item.requests[0].context.hasPrefix("The capital of "))
        }
        // an item about Austria has Vienna as its gold continuation
        let austria = a.items.first { $0.requests[0].context == "The capital of Austria is" }
        #expect(austria.map { $0.requests[$0.gold].continuation } == " Vienna")
    }
}
