// ResultsTable tests: column order and missing cells, number display, the terminal and Markdown
// forms, CSV quoting against Python's csv module and HDF5 against h5py (golden files written by
// Golden/make_golden.py), save/load round trips and atomic saving.
import Foundation
import QATIO
import Testing

@testable import QATResults

private let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

/// The table of Golden/make_golden.py, recorded the way the `record` verb would.
private func goldenTable() -> ResultsTable {
    let t = ResultsTable(name: "results")
    t.record([("method", .text("fp16")), ("ppl", .number(12.345)), ("note", .text("baseline"))])
    t.record([("method", .text("rtn")), ("bits", .number(2)), ("ppl", .number(1234567.5)), ("note", .text("says \"hi\", then\nleaves"))])
    t.record([("method", .text("gptq, act-order")), ("bits", .number(3)), ("ppl", .number(0.1 + 0.2))])
    t.record([("bits", .number(4)), ("ppl", .number(1e-05)), ("note", .text("plain"))])
    return t
}

/// A fresh directory under the system temporary directory, removed by `cleanup`.
struct Scratch {
    let dir: String
    init() throws {
        dir = NSTemporaryDirectory() + "/qat-toolkit-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { dir + "/" + name }
    func files() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }
    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }
}

@Suite("Results tables")
struct ResultsTableTests {
    @Test func columnsKeepFirstSeenOrderAndMissingCellsAreEmpty() {
        let t = goldenTable()
        #expect(t.columns == ["method", "ppl", "note", "bits"])
        #expect(t.rows.count == 4)
        #expect(t.rows[0]["bits"] == nil)
        #expect(t.rows[3]["method"] == nil)
        #expect(t.column("bits") == [nil, 2, 3, 4])
        #expect(t.column("method") == [nil, nil, nil, nil])   // text is not a number
        #expect(t.column("nope") == [])
    }

    @Test func aColumnNamedTwiceInOneRowKeepsTheLastValue() {
        let t = ResultsTable(name: "t")
        t.record([("a", .number(1)), ("a", .number(2))])
        #expect(t.columns == ["a"])
        #expect(t.column("a") == [2])
    }

    @Test func numbersDisplayWithFourDecimalsOrScientific() {
        let cases: [(Double, String)] = [
            (2, "2"), (-3, "-3"), (0, "0"), (12.345, "12.345"), (12.34567, "12.3457"), (0.5, "0.5"),
            (999999, "999999"), (1234567.5, "1.235e+06"), (1e-05, "1e-05"), (-0.00012346, "-1.235e-04"), (-0.00012345, "-1.234e-04"),
            (0.001, "0.001"), (0.00004, "4e-05"), (.nan, "nan"), (.infinity, "inf"), (-.infinity, "-inf"),
            (-0.00001, "-1e-05"), (0.00000001, "1e-08"), (-0.0000, "0"),
        ]
        for (x, s) in cases { #expect(TableValue.number(x).display == s, "\(x)") }
        #expect(TableValue.text("a|b").display == "a|b")
    }

    @Test func renderAlignsNumbersAndTheirHeadersRightAndTextLeft() {
        let expected = """
            method                 ppl  note                    bits
            ---------------  ---------  ----------------------  ----
            fp16                12.345  baseline
            rtn              1.235e+06  says "hi", then leaves     2
            gptq, act-order        0.3                             3
                                 1e-05  plain                      4

            """
        #expect(goldenTable().render() == expected)
        #expect(ResultsTable(name: "x").render() == "(table x is empty)\n")
    }

    @Test func markdownEscapesPipesAndLineBreaks() {
        let t = goldenTable()
        t.record([("method", .text("a|b"))])
        let expected = """
            | method | ppl | note | bits |
            | --- | ---: | --- | ---: |
            | fp16 | 12.345 | baseline |  |
            | rtn | 1.235e+06 | says "hi", then<br>leaves | 2 |
            | gptq, act-order | 0.3 |  | 3 |
            |  | 1e-05 | plain | 4 |
            | a\\|b |  |  |  |

            """
        #expect(t.markdown() == expected)
    }

    @Test func csvMatchesPythonsCsvModuleByteForByte() throws {
        let expected = try String(contentsOf: golden.appendingPathComponent("results.csv"), encoding: .utf8)
        #expect(goldenTable().csv() == expected)
    }

    @Test func csvSavesAtomicallyAndLoadsBack() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let t = goldenTable()
        try t.save(path: s.path("deep/dir/results.csv"))
        #expect(try String(contentsOfFile: s.path("deep/dir/results.csv"), encoding: .utf8) == t.csv())
        #expect(s.files() == ["deep"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path("deep/dir")) == ["results.csv"])
        let back = try ResultsTable.load(path: s.path("deep/dir/results.csv"))
        #expect(back.name == "results")
        #expect(back.columns == t.columns)
        #expect(back.rows == t.rows)   // full precision survives: 0.30000000000000004, 1e-05
        let fromPython = try ResultsTable.load(path: golden.appendingPathComponent("results.csv").path)
        #expect(fromPython.rows == t.rows)
    }

    @Test func csvParserHandlesLFAndRejectsBrokenQuotes() throws {
        let t = try ResultsTable.fromCSV("a,b\n1,\"x\"\"y\"\n,\n", name: "t")
        #expect(t.rows == [["a": .number(1), "b": .text("x\"y")], [:]])
        #expect(throws: FormatError.self) { try ResultsTable.fromCSV("a,b\n1,\"open\n", name: "t") }
        #expect(throws: FormatError.self) { try ResultsTable.fromCSV("a,b\n1,x\"y\n", name: "t") }
        #expect(throws: FormatError.self) { try ResultsTable.fromCSV("a,b\n1,2,3\n", name: "t") }
    }

    @Test func hdf5LayoutIsAsDocumented() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let t = goldenTable()
        try t.save(path: s.path("results.h5"))
        #expect(s.files() == ["results.h5"])
        let f = try HDF5File.open(path: s.path("results.h5"))
        defer { try? f.close() }
        let g = "/tables/results"
        #expect(try f.attribute("name", on: g) == .string("results"))
        #expect(try f.attribute("rows", on: g) == .int(4))
        #expect(try f.attribute("columns", on: g) == .string("[\"method\",\"ppl\",\"note\",\"bits\"]"))
        #expect(try f.children(of: g) == ["bits", "method", "note", "ppl"])
        let ppl = try f.readTensor(g + "/ppl")
        #expect(ppl.shape == [4])
        #expect(ppl.toArray() == [12.345, 1234567.5, 0.3, 1e-05].map { Float($0) })
        #expect(try f.attribute("values", on: g + "/ppl") == .doubles([12.345, 1234567.5, 0.1 + 0.2, 1e-05]))
        #expect(try f.attribute("index", on: g + "/ppl") == .int(1))
        #expect(try f.attribute("text", on: g + "/ppl") == nil)
        let bits = try f.readTensor(g + "/bits").toArray()
        #expect(bits[0].isNaN && bits[1...] == [2, 3, 4])
        #expect(try f.attribute("text", on: g + "/method") == .string("[\"fp16\",\"rtn\",\"gptq, act-order\",null]"))
    }

    @Test func hdf5LoadsBackAndReadsTheH5pyGoldenFile() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let t = goldenTable()
        try t.save(path: s.path("results.h5"))
        let back = try ResultsTable.load(path: s.path("results.h5"))
        #expect(back.name == t.name && back.columns == t.columns && back.rows == t.rows)
        let fromPython = try ResultsTable.load(path: golden.appendingPathComponent("results.h5").path, name: "results")
        #expect(fromPython.columns == t.columns && fromPython.rows == t.rows)
        #expect(throws: FormatError.self) { try ResultsTable.load(path: s.path("results.h5"), name: "other") }
    }

    @Test func awkwardNamesGetSafeUniqueDatasetNames() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let t = ResultsTable(name: "a/b")
        t.record([("x/y", .number(1)), ("x_y", .number(2)), ("", .number(3)), ("..", .text("dots"))])
        try t.save(path: s.path("t.h5"))
        let f = try HDF5File.open(path: s.path("t.h5"))
        #expect(try f.children(of: "/tables") == ["a_b"])
        #expect(try f.attribute("datasets", on: "/tables/a_b") == .string("[\"x_y\",\"x_y~2\",\"_\",\"_~2\"]"))
        try f.close()
        let back = try ResultsTable.load(path: s.path("t.h5"))
        #expect(back.name == "a/b" && back.columns == t.columns && back.rows == t.rows)
    }

    @Test func emptyTablesSaveAndUnknownExtensionsAreRefused() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let t = ResultsTable(name: "empty")
        try t.save(path: s.path("e.h5"))
        try t.save(path: s.path("e.md"))
        let back = try ResultsTable.load(path: s.path("e.h5"))
        #expect(back.columns.isEmpty && back.rows.isEmpty)
        #expect(throws: FormatError.self) { try t.save(path: s.path("e.xlsx")) }
        let big = ResultsTable(name: "big")
        for i in 0...ResultsTable.maxHDF5Rows { big.record([("i", .number(Double(i)))]) }
        #expect(throws: FormatError.self) { try big.save(path: s.path("big.h5")) }
        let edge = ResultsTable(name: "edge")
        for i in 0..<ResultsTable.maxHDF5Rows { edge.record([("i", .number(Double(i))), ("s", .text("r\(i)"))]) }
        try edge.save(path: s.path("edge.h5"))
        #expect(try ResultsTable.load(path: s.path("edge.h5")).rows == edge.rows)
        try? FileManager.default.removeItem(atPath: s.path("edge.h5"))
        #expect(s.files() == ["e.h5", "e.md"])
    }
}
