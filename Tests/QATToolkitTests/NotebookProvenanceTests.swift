// Every committed notebook result must be what its committed script produces (issue 24.5). For
// each ablation notebook, either
//   - its transcript Notebooks/NAME.md holds exactly the commands of Notebooks/NAME.qat, and its
//     committed table Notebooks/results/NAME.h5 has exactly the columns that the script's quick
//     run records today (NotebookAblationTests calls `checkColumns` after each quick run), or
//   - it is marked as made by an earlier version of the script: a row of the "Provenance" table in
//     Notebooks/README.md names the commit whose script produced the transcript, and the
//     transcript itself opens with the same mark. With git at hand the test checks the claim:
//     the script at that commit holds exactly the transcript's commands (a row that says the run's
//     script was "never committed" may differ from that commit's in `table` lines only).
// "Commands" are the non-blank, non-comment lines of the script, and of the transcript's ```qat
// blocks (the notebook writer copies each statement into one).
import Foundation
import QATResults
import Testing

@testable import QATToolkit

enum NotebookProvenance {
    /// The script's statements: lines that are neither blank nor comments.
    static func commands(script: String) -> [String] {
        script.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).trimmingTrailingSpaces }
            .filter { let t = $0.trimmingCharacters(in: .whitespaces); return !t.isEmpty && !t.hasPrefix("#") }
    }

    /// The statements a transcript shows: the lines of its ```qat blocks, by the same rule.
    static func commands(transcript: String) -> [String] {
        var out: [String] = [], inBlock = false
        for line in transcript.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```") { inBlock = line == "```qat"; continue }
            if inBlock { out += commands(script: line) }
        }
        return out
    }

    /// Notebooks/README.md's "Provenance" rows: notebook name -> the commit named in its second cell.
    static func staleMarks() throws -> [String: String] {
        let readme = try String(contentsOfFile: "Notebooks/README.md", encoding: .utf8)
        var marks: [String: String] = [:]
        for row in section("Provenance", of: readme).split(separator: "\n") where row.hasPrefix("| `") {
            let cells = row.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3 else { continue }
            marks[cells[1].trimmingCharacters(in: ["`"])] = cells[2].trimmingCharacters(in: ["`"])
        }
        return marks
    }

    /// The whole Provenance row of NAME.
    static func markText(_ name: String) throws -> String {
        let readme = try String(contentsOfFile: "Notebooks/README.md", encoding: .utf8)
        return section("Provenance", of: readme).split(separator: "\n").first { $0.hasPrefix("| `\(name)` |") }.map(String.init) ?? ""
    }

    /// The text of "## TITLE" up to the next "## " heading.
    static func section(_ title: String, of text: String) -> String {
        guard let start = text.range(of: "\n## \(title)") else { return "" }
        let rest = text[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)])
    }

    /// The script of NAME at COMMIT, or nil when git or the commit is not at hand.
    static func script(_ name: String, at commit: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "show", "\(commit):Notebooks/\(name).qat"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }

    /// Called after NAME's quick run: the committed table's columns must be the ones the script
    /// records now, unless NAME is marked as made by an earlier script.
    static func checkColumns(_ name: String, quickColumns: [String]) throws {
        guard try staleMarks()[name] == nil else { return }
        let committed = try ResultsTable.load(path: "Notebooks/results/\(name).h5")
        #expect(Set(committed.columns) == Set(quickColumns),
                "\(name): the committed table's columns differ from what the script records now (only committed: \(Set(committed.columns).subtracting(quickColumns).sorted()), only now: \(Set(quickColumns).subtracting(committed.columns).sorted())): re-run the notebook or add it to Notebooks/README.md's Provenance table")
    }
}

private extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s.removeLast() }
        return s
    }
}

@Suite struct NotebookProvenanceTests {
    @Test(arguments: ablationColumns.keys.filter { !notRunInFull.contains($0) }.sorted())
    func transcriptIsTheScriptOrMarkedWithItsCommit(_ name: String) throws {
        let transcript = try String(contentsOfFile: "Notebooks/\(name).md", encoding: .utf8)
        let shown = NotebookProvenance.commands(transcript: transcript)
        #expect(!shown.isEmpty, "\(name).md shows no commands")
        guard let commit = try NotebookProvenance.staleMarks()[name] else {
            let script = try String(contentsOfFile: "Notebooks/\(name).qat", encoding: .utf8)
            #expect(shown == NotebookProvenance.commands(script: script),
                    "\(name).md was not made by the current \(name).qat: re-run it, or mark it in Notebooks/README.md's Provenance table with the commit whose script made it")
            return
        }
        #expect(commit.count >= 7 && commit.allSatisfy(\.isHexDigit), "\(name): provenance commit '\(commit)' is not a commit hash")
        // the transcript carries the same mark in its first lines, so a reader of it alone sees it
        let head = transcript.split(separator: "\n").prefix(6).joined(separator: "\n")
        #expect(head.contains("Made by an earlier version") && head.contains(commit), "\(name).md does not open with its provenance mark (commit \(commit))")
        if let old = NotebookProvenance.script(name, at: commit) {
            let then = NotebookProvenance.commands(script: old)
            if try NotebookProvenance.markText(name).contains("never committed") {
                // a run of a hand-edited script: it may differ from the named commit's in `table` lines only
                func statements(_ c: [String]) -> [String] { c.filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("table ") } }
                #expect(statements(then) == statements(shown), "\(name): the script at \(commit) differs from \(name).md beyond its table lines")
            } else {
                #expect(then == shown, "\(name): the script at \(commit) is not what made \(name).md")
            }
        }
    }

    @Test func extractionRulesOnASmallExample() {
        let script = "# a comment\nx = 1\n\n  # indented comment\nfor b in [2 3] {\n  print $b   \n}\n"
        let md = "# title\n\nprose\n\n```qat\nx = 1\n```\n```text\nx = 1\n```\n```qat\nfor b in [2 3] {\n  # kept comment is dropped\n  print $b\n}\n```\n"
        #expect(NotebookProvenance.commands(script: script) == ["x = 1", "for b in [2 3] {", "  print $b", "}"])
        #expect(NotebookProvenance.commands(transcript: md) == NotebookProvenance.commands(script: script))
    }
}
