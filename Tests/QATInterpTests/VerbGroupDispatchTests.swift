// Verb groups in the dispatcher, on rows made here: `grp` has a row of its own (`grp FILE`) and
// the sub-commands `grp one` and `grp two`; `pair` has only sub-commands. Which action ran is
// recorded by the actions themselves, so each expectation says which row a command reached.
import Testing
@testable import QATInterp
import QATTensor

extension QATInterpTests {
@Suite struct VerbGroupDispatchTests {
    final class Ran { var rows: [String] = [] }

    func rows(_ ran: Ran) -> [VerbSpec] {
        func row(_ name: String, _ args: [ArgSpec]) -> VerbSpec {
            VerbSpec(name: name, summary: "The \(name) row.", arguments: args, examples: [name]) { call in
                ran.rows.append(call.spec.name + " " + call.positionals.map(\.text).joined(separator: ","))
                return .number(Double(call.positionals.count))
            }
        }
        return [row("grp", [.positional("FILE", .string, help: "a file")]),
                row("grp one", [.positional("DIR", .string, help: "a dir"), .key("a", .int, help: "a")]),
                row("grp two", [.key("b", .int, help: "b")]),
                row("pair left", []), row("pair right", [.key("c", .number, help: "c")])]
    }

    @Test func theSecondWordPicksTheRowAndIsConsumed() throws {
        let (interp, _) = session()
        let ran = Ran()
        interp.register(rows(ran))
        try interp.run("grp one d a=1\ngrp two b=2\ngrp x.qat\npair right c=0.5\nv = (grp one e)")
        #expect(ran.rows == ["grp one d", "grp two ", "grp x.qat", "pair right ", "grp one e"])
        #expect(number(interp.variables["v"]) == 1)
        try interp.runCommandLine(["grp", "one", "f", "a=3"])
        #expect(ran.rows.last == "grp one f")
        // a computed first word is an argument of the bare row, never a sub-command
        try interp.run("w = \"one\"\ngrp $w")
        #expect(ran.rows.last == "grp one")
    }

    @Test func keysAreCheckedPerRow() throws {
        let (interp, _) = session()
        interp.register(rows(Ran()))
        #expect(interpError { try interp.run("grp one d b=1") }?.message == "grp one: unknown key 'b'")
        #expect(interpError { try interp.run("grp two a=1") }?.hint == "did you mean 'b'? valid keys: b")
        #expect(interpError { try interp.run("grp one") }?.message == "grp one: missing DIR")
        #expect(interpError { try interp.run("pair left c=1") }?.message.contains("pair left: unknown key 'c'; it takes no key=value") == true)
    }

    @Test func aGroupWithoutARowOfItsOwnNeedsAKnownSubCommand() throws {
        let (interp, _) = session()
        interp.register(rows(Ran()))
        let e = try #require(interpError { try interp.run("pair lef", file: "t") })
        #expect(e.message == "pair: unknown sub-command 'lef'")
        #expect(e.hint == "did you mean 'pair left'? pair's sub-commands: left, right (`help pair`)")
        #expect(e.position?.column == 6)
        #expect(interpError { try interp.run("pair c=1") }?.message == "pair needs a sub-command first")
        #expect(interpError { try interp.run("pari left") }?.hint?.hasPrefix("did you mean 'pair'?") == true)
    }

    @Test func helpListsAGroupAndDescribesOneRow() throws {
        let (interp, out) = session()
        interp.register(rows(Ran()))
        try interp.run("help pair")
        #expect(out.lines.last == "pair sub-commands (`help pair SUB` for one):\n  pair left   The pair left row.\n  pair right  The pair right row.")
        try interp.run("help grp one")
        #expect(out.lines.last?.hasPrefix("grp one DIR [a=NUMBER]\n") == true && out.lines.last?.contains("b=") == false)
        try interp.run("help grp")
        #expect(out.lines.last?.hasPrefix("grp FILE\n") == true && out.lines.last?.hasSuffix("  grp two  The grp two row.") == true)
        #expect(interpError { try interp.run("help grp three") }?.hint == "grp's sub-commands: one, two")
        try interp.run("help")
        let overview = out.lines.last ?? ""
        #expect(overview.contains("  grp         The grp row.\n  grp one     The grp one row.\n  grp two     The grp two row.\n  pair left "))
    }

    @Test func completionOffersSubCommandsThenTheRowsKeys() throws {
        let (interp, _) = session()
        interp.register(rows(Ran()))
        #expect(interp.completionContext(before: "grp ") == .subCommand(group: "grp"))
        #expect(interp.completionCandidates(.subCommand(group: "grp")) == ["one", "two"])
        #expect(interp.completionContext(before: "grp two ") == .key(verb: "grp two"))
        #expect(interp.completionCandidates(interp.completionContext(before: "x = (grp two ")) == ["b="])
        #expect(interp.completionContext(before: "grp f.qat ") == .key(verb: "grp"))
        #expect(interp.completionContext(before: "range 3 ") == .key(verb: "range"))
        let verbs = interp.completionCandidates(.verb)
        #expect(verbs.contains("grp") && verbs.contains("pair") && !verbs.contains("pair left"))
    }
}
}
