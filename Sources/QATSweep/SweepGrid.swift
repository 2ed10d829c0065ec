// Sweep grids: the points at which `sweep` runs a notebook, and the content hash that ties a
// sweep directory to the notebook's text.
//
// A grid is text (the `grid=` argument): `name=[v1 v2 ...] name=v ...`. It expands to the
// Cartesian product of the lists, the first name varying slowest:
//   "bits=[2 3] seed=[1 2]"  ->  (2,1) (2,2) (3,1) (3,2)
// A value is a bare word (no blanks, `]` or `,`) or a "double-quoted string"; list items are
// separated by blanks or commas. A single value (`name=v`) is a list of one.
//
// A points file (`points=FILE.csv`) lists the points explicitly: RFC 4180 CSV, a header line of
// variable names, then one line per point (the same reader as ResultsTable's CSV form). With both
// grid= and points=, every point of the file is crossed with the grid.
//
// Values stay text here; a task sets a value that reads as a number as a number variable.
import Foundation
import QATResults

/// The variable names of a sweep and one row of values per point, aligned with the names.
public struct SweepGrid: Equatable, Sendable {
    public var names: [String]
    public var points: [[String]]

    /// A grid of one point with no variables (the product's unit).
    public static let single = SweepGrid(names: [], points: [[]])

    /// Refuses to expand past this: a sweep of more tasks is a mistake in the grid text.
    static let maxPoints = 100_000

    public init(names: [String], points: [[String]]) {
        self.names = names; self.points = points
    }

    /// Parses `name=[v ...] ...` text and expands the product.
    public static func parse(_ text: String) throws -> SweepGrid {
        var scanner = GridScanner(text: Array(text))
        var grid = SweepGrid.single
        while let (name, values) = try scanner.nextAxis() {
            try grid.cross(with: SweepGrid(names: [name], points: values.map { [$0] }), what: "grid=\"\(text)\"")
        }
        return grid
    }

    /// The points listed in a CSV file (header: the variable names).
    public static func load(csv path: String) throws -> SweepGrid {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw VerbError("points=\(path): cannot read the file as UTF-8 text (\(error.localizedDescription)); give a CSV file whose header names the variables")
        }
        let records = try CSVReader.parse(text, file: path).filter { $0 != [""] }
        guard let header = records.first, !header.isEmpty else {
            throw VerbError("points=\(path): the file is empty; expected a header line of variable names, then one line per point")
        }
        for name in header { try checkName(name, in: "points=\(path)") }
        var points: [[String]] = []
        for (i, r) in records.dropFirst().enumerated() {
            guard r.count == header.count else {
                throw VerbError("points=\(path): line \(i + 2) has \(r.count) fields but the header names \(header.count) variables; fix the line")
            }
            points.append(r)
        }
        guard !points.isEmpty else { throw VerbError("points=\(path): the header has no points under it; add one line per point") }
        return SweepGrid(names: header, points: points)
    }

    /// Replaces the points by every combination of a point of self with a point of `other`.
    public mutating func cross(with other: SweepGrid, what: String) throws {
        if let dup = other.names.first(where: names.contains) {
            throw VerbError("\(what): the variable \(dup) is given twice; give each variable one list")
        }
        guard points.count * other.points.count <= Self.maxPoints else {
            throw VerbError("\(what): \(points.count * other.points.count) points exceed \(Self.maxPoints); split the sweep")
        }
        points = points.flatMap { p in other.points.map { p + $0 } }
        names += other.names
    }

    /// The variables of point `i` as (name, value) pairs.
    public func variables(_ i: Int) -> [(String, String)] { Array(zip(names, points[i])) }

    static func checkName(_ name: String, in what: String) throws {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter),
              name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else {
            throw VerbError("\(what): '\(name)' is not a variable name; use letters, digits and _ (not starting with a digit)")
        }
    }
}

/// Reads `name=[values]` axes one at a time from grid text.
struct GridScanner {
    let text: [Character]
    var i = 0

    init(text: [Character]) { self.text = text }

    /// The next axis, or nil at the end of the text.
    mutating func nextAxis() throws -> (String, [String])? {
        skipBlanks()
        guard i < text.count else { return nil }
        let start = i
        while i < text.count, text[i] != "=", !text[i].isWhitespace { i += 1 }
        let name = String(text[start..<i])
        try SweepGrid.checkName(name, in: "grid")
        guard i < text.count, text[i] == "=" else { throw error("expected \(name)=[values]") }
        i += 1
        guard i < text.count, text[i] == "[" else { return (name, [try value()]) }
        i += 1
        var values: [String] = []
        while true {
            while i < text.count, text[i].isWhitespace || text[i] == "," { i += 1 }
            guard i < text.count else { throw error("the list of \(name) is not closed with ]") }
            if text[i] == "]" { i += 1; break }
            values.append(try value())
        }
        guard !values.isEmpty else { throw error("\(name)=[] has no values") }
        return (name, values)
    }

    /// A bare word or a quoted string.
    mutating func value() throws -> String {
        guard i < text.count else { throw error("a value is missing at the end") }
        if text[i] == "\"" {
            i += 1
            let start = i
            while i < text.count, text[i] != "\"" { i += 1 }
            guard i < text.count else { throw error("a quoted value is not closed") }
            defer { i += 1 }
            return String(text[start..<i])
        }
        let start = i
        while i < text.count, !text[i].isWhitespace, text[i] != "]", text[i] != "," { i += 1 }
        guard i > start else { throw error("a value is missing") }
        return String(text[start..<i])
    }

    mutating func skipBlanks() { while i < text.count, text[i].isWhitespace { i += 1 } }

    func error(_ message: String) -> VerbError {
        VerbError("grid=\"\(String(text))\": \(message) at column \(i + 1); write it as grid=\"bits=[2 3] group=[64 128]\"")
    }
}

/// FNV-1a 64 of the bytes: the content hash of notebooks and cache entries (not cryptographic:
/// it detects edits and torn files, not tampering).
public func fnv1a64<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
}

/// 16 lowercase hex digits.
public func hex16(_ x: UInt64) -> String {
    let s = String(x, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}
