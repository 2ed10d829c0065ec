// ResultsTable: rows of named results (`record results bits=2 ppl=12.3`), printed for the terminal
// and saved as CSV, Markdown or HDF5 for plots (Plots/plot_table.py reads the .h5 and .csv forms).
//
// Layout of a table saved as HDF5 (`save(path: "x.h5")`, written atomically by HDF5File):
//   1. /tables/<name>                 group; <name> is the table name with "/" replaced by "_"
//      attributes: name (string)      the table name as given
//                  rows (int)         the number of rows
//                  columns (string)   JSON array of the column names, in column order
//                  datasets (string)  JSON array of the dataset names, same order (see 2)
//                  any others         the table's attributes (`table T out=x.h5 seed=2 config="..."`):
//                                     a number as a double, text as a string; the `table` verb
//                                     always adds qatlab_version
//   2. /tables/<name>/<dataset>       float32 (rows), one per column: the cell's number, NaN where
//      the cell is empty or text. <dataset> is the column name, except that "/" becomes "_", an
//      empty name or "." or ".." becomes "_", and a name already taken gets "~2", "~3", ...
//      attributes: column (string)    the column name as given
//                  index (int)        the column's position, 0-based
//                  values (doubles)   the numbers at full precision (NaN where no number)
//                  text (string)      only when some cell is text: JSON array with one entry per
//                                     row, the text or null (number or empty cell)
// In h5py: `f["/tables/results/ppl"][:]`, or `attrs["values"]` for float64 precision.
// At most 8000 rows (maxHDF5Rows): an HDF5 attribute must fit 64 KiB; larger tables go to .csv.
//
// Layout of a CSV file (RFC 4180): a header line of column names, then one line per row; lines end
// with CRLF; a field containing a comma, quote, CR or LF is quoted, quotes doubled. Numbers are
// written at full precision (integers without ".0"); an empty field is an empty cell. Reading back
// takes a field that parses as a Double as a number, any other non-empty field as text.
import Foundation
import QATIO
import QATTensor

#if canImport(Glibc)
import Glibc
#endif

/// One cell of a results table.
public enum TableValue: Equatable, Sendable {
    case number(Double)
    case text(String)

    /// The cell for the terminal and Markdown: integers exactly (below 1e6), other numbers with
    /// at most 4 decimals, trailing zeros removed; magnitudes >= 1e6 or below 1e-3 in scientific
    /// notation with 4 significant digits ("1.235e+07"); "nan", "inf", "-inf".
    public var display: String {
        switch self {
        case let .text(s): return s
        case let .number(x): return TableValue.format(x)
        }
    }

    /// The cell for CSV: full precision, so reading the file back gives the same Double.
    public var exact: String {
        switch self {
        case let .text(s): return s
        case let .number(x):
            if x.isNaN { return "nan" }
            if x.isInfinite { return x < 0 ? "-inf" : "inf" }
            if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
            return "\(x)"
        }
    }

    static func format(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        if x == 0 { return "0" }
        let a = abs(x)
        if a >= 1e6 || a < 1e-3 { return scientific(x) }
        if x == x.rounded() { return String(Int64(x)) }
        return trimZeros(String(format: "%.4f", x))
    }

    /// "%.3e" with zeros at the end of the mantissa removed: 1.2000e+06 -> 1.2e+06.
    static func scientific(_ x: Double) -> String {
        let s = String(format: "%.3e", x)
        guard let e = s.firstIndex(of: "e") else { return s }
        return trimZeros(String(s[..<e])) + String(s[e...])
    }

    static func trimZeros(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t == "-0" ? "0" : t
    }
}

/// A named table of results: columns appear in the order they are first recorded; a row that
/// lacks a column has an empty cell there.
public final class ResultsTable {
    public let name: String
    public private(set) var columns: [String] = []
    public private(set) var rows: [[String: TableValue]] = []
    /// Run metadata (configuration, seed, software version) written as attributes of the table's
    /// HDF5 group; the CSV and Markdown forms have no place for them.
    public var attributes: [(String, TableValue)] = []
    /// Group attribute names the layout itself uses; an attribute may not take them.
    public static let reservedAttributes: Set<String> = ["name", "rows", "columns", "datasets"]

    public init(name: String) { self.name = name }

    /// Appends a row; columns not seen before are added at the right. A column named twice in
    /// one row keeps the last value.
    public func record(_ values: [(String, TableValue)]) {
        var row: [String: TableValue] = [:]
        for (column, value) in values {
            if !columns.contains(column) { columns.append(column) }
            row[column] = value
        }
        rows.append(row)
    }

    /// The column's numbers, nil where the cell is empty or text. An unknown column gives [].
    public func column(_ name: String) -> [Double?] {
        guard columns.contains(name) else { return [] }
        return rows.map { row in
            if case let .number(x)? = row[name] { return x }
            return nil
        }
    }

    /// Whether every non-empty cell of the column is a number (numbers align right).
    func isNumeric(_ column: String) -> Bool {
        rows.allSatisfy { row in
            if case .text? = row[column] { return false }
            return true
        }
    }

    // MARK: Text forms

    /// An aligned plain-text table for the terminal: a header, a rule, one line per row; numeric
    /// columns align right, text left; a line break in a cell shows as a space.
    public func render() -> String {
        guard !columns.isEmpty else { return "(table \(name) is empty)\n" }
        let cells = rows.map { row in columns.map { oneLine(row[$0]?.display ?? "") } }
        let numeric = columns.map(isNumeric)
        let widths = columns.indices.map { c in cells.reduce(columns[c].count) { max($0, $1[c].count) } }
        func line(_ fields: [String], _ right: [Bool]) -> String {
            let padded = fields.indices.map { c in pad(fields[c], widths[c], right: right[c]) }
            return padded.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = line(columns.map(oneLine), numeric) + "\n"
        out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for r in cells { out += line(r, numeric) + "\n" }
        return out
    }

    /// A GitHub-flavoured Markdown table; "|" in a cell is escaped, line breaks become <br>.
    public func markdown() -> String {
        guard !columns.isEmpty else { return "_(table \(name) is empty)_\n" }
        func cell(_ s: String) -> String {
            s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\r\n", with: "<br>")
                .replacingOccurrences(of: "\n", with: "<br>").replacingOccurrences(of: "\r", with: "<br>")
        }
        var out = "| " + columns.map(cell).joined(separator: " | ") + " |\n"
        out += "|" + columns.map { isNumeric($0) ? " ---: |" : " --- |" }.joined() + "\n"
        for row in rows {
            out += "| " + columns.map { cell(row[$0]?.display ?? "") }.joined(separator: " | ") + " |\n"
        }
        return out
    }

    /// RFC 4180 CSV (see the header comment): header line, CRLF line ends, full-precision numbers.
    public func csv() -> String {
        var out = columns.map(Self.csvField).joined(separator: ",") + "\r\n"
        for row in rows {
            out += columns.map { Self.csvField(row[$0]?.exact ?? "") }.joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private func oneLine(_ s: String) -> String {
        s.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    }

    private func pad(_ s: String, _ width: Int, right: Bool) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? fill + s : s + fill
    }
}

// MARK: Saving and loading

extension ResultsTable {
    /// Saves by extension: .csv, .md (Markdown), .txt (render()), .h5/.hdf5 (layout above).
    /// Every form is written atomically (temporary name, then rename); parent directories are
    /// created.
    public func save(path: String) throws {
        let dir = PathName.parent(path)
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        switch (path as NSString).pathExtension.lowercased() {
        case "csv": try writeTextAtomically(csv(), to: path)
        case "md", "markdown": try writeTextAtomically(markdown(), to: path)
        case "txt": try writeTextAtomically(render(), to: path)
        case "h5", "hdf5":
            let f = try HDF5File.create(path: path)
            try writeHDF5(to: f)
            try f.close()
        default:
            throw FormatError(file: path, "unknown table file extension '.\((path as NSString).pathExtension)'; use .csv, .md, .txt or .h5")
        }
    }

    /// Writes the table as /tables/<name> into an open file (several tables can share a file).
    public func writeHDF5(to f: HDF5File) throws {
        let group = "/tables/" + Self.linkName(name)
        guard rows.count <= Self.maxHDF5Rows else {
            throw FormatError(file: f.path, "\(group): \(rows.count) rows exceed the \(Self.maxHDF5Rows) an HDF5 table holds (its float64 'values' attributes must fit HDF5's 64 KiB attribute limit); save as .csv")
        }
        try f.createGroup(group)
        var taken = Set<String>(), datasets: [String] = []
        for (index, column) in columns.enumerated() {
            let ds = Self.uniqueName(Self.linkName(column), taken)
            taken.insert(ds)
            datasets.append(ds)
            try writeColumn(column, index: index, to: f, at: group + "/" + ds)
        }
        try f.setAttribute("name", .string(name), on: group)
        try f.setAttribute("rows", .int(Int64(rows.count)), on: group)
        try f.setAttribute("columns", .string(try Self.json(columns)), on: group)
        try f.setAttribute("datasets", .string(try Self.json(datasets)), on: group)
        for (key, value) in attributes {
            guard !Self.reservedAttributes.contains(key) else {
                throw FormatError(file: f.path, "\(group): attribute '\(key)' is reserved for the table layout; rename it")
            }
            switch value {
            case .number(let d): try f.setAttribute(key, .double(d), on: group)
            case .text(let t): try f.setAttribute(key, .string(t), on: group)
            }
        }
    }

    private func writeColumn(_ column: String, index: Int, to f: HDF5File, at path: String) throws {
        let values = self.column(column).map { $0 ?? .nan }
        try f.write(Tensor(values.map { Float($0) }), at: path)
        try f.setAttribute("column", .string(column), on: path)
        try f.setAttribute("index", .int(Int64(index)), on: path)
        try f.setAttribute("values", .doubles(values), on: path)
        let text: [String?] = rows.map { row in
            if case let .text(s)? = row[column] { return s }
            return nil
        }
        if text.contains(where: { $0 != nil }) {
            try f.setAttribute("text", .string(try Self.json(text)), on: path)
        }
    }

    /// HDF5 stores an attribute in the object header, at most 64 KiB: 8000 doubles leave room.
    static let maxHDF5Rows = 8000

    /// A table read back from a file written by save(path:): .csv, or .h5 with the table `name`
    /// (nil: the only table in the file).
    public static func load(path: String, name: String? = nil) throws -> ResultsTable {
        switch (path as NSString).pathExtension.lowercased() {
        case "csv":
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw FormatError(file: path, "cannot read the CSV file as UTF-8 (\(error.localizedDescription))")
            }
            return try fromCSV(text, name: name ?? ((path as NSString).lastPathComponent as NSString).deletingPathExtension, file: path)
        case "h5", "hdf5":
            let f = try HDF5File.open(path: path)
            defer { try? f.close() }
            return try readHDF5(from: f, name: name)
        default:
            throw FormatError(file: path, "cannot load a table from '.\((path as NSString).pathExtension)'; use .csv or .h5")
        }
    }

    /// Parses RFC 4180 text (CRLF or LF line ends): the first record names the columns.
    public static func fromCSV(_ text: String, name: String, file: String = "<csv>") throws -> ResultsTable {
        let records = try CSVReader.parse(text, file: file)
        let table = ResultsTable(name: name)
        guard let header = records.first else { return table }
        table.columns = header
        for (i, r) in records.dropFirst().enumerated() {
            guard r.count == header.count else {
                throw FormatError(file: file, "record \(i + 2) has \(r.count) fields but the header has \(header.count); fix the line or re-save the table")
            }
            var row: [String: TableValue] = [:]
            for (c, field) in zip(header, r) where !field.isEmpty {
                row[c] = Double(field).map(TableValue.number) ?? .text(field)
            }
            table.rows.append(row)
        }
        return table
    }

    public static func readHDF5(from f: HDF5File, name: String?) throws -> ResultsTable {
        let groups = f.exists("/tables") ? try f.children(of: "/tables") : []
        let link: String
        if let name { link = linkName(name) } else {
            guard groups.count == 1, let only = groups.first else {
                throw FormatError(file: f.path, "/tables holds \(groups.count) tables (\(groups.joined(separator: ", "))); name the one to load")
            }
            link = only
        }
        let group = "/tables/" + link
        guard groups.contains(link) else { throw FormatError(file: f.path, "\(group): no such table; the file has \(groups)") }
        let tableName = try stringAttribute(f, "name", group)
        let columns = try jsonStrings(f, "columns", group)
        let datasets = try jsonStrings(f, "datasets", group)
        guard case let .int(n)? = try f.attribute("rows", on: group), n >= 0, datasets.count == columns.count else {
            throw FormatError(file: f.path, "\(group): attributes rows/columns/datasets are missing or disagree; the table was not written by QATLab")
        }
        let table = ResultsTable(name: tableName)
        table.columns = columns
        table.rows = Array(repeating: [:], count: Int(n))
        for (column, ds) in zip(columns, datasets) {
            try table.readColumn(column, from: f, at: group + "/" + ds, rows: Int(n))
        }
        return table
    }

    private func readColumn(_ column: String, from f: HDF5File, at path: String, rows n: Int) throws {
        guard case let .doubles(values)? = try f.attribute("values", on: path), values.count == n else {
            throw FormatError(file: f.path, "\(path): attribute 'values' is missing or does not hold \(n) doubles")
        }
        var text: [String?] = Array(repeating: nil, count: n)
        if case let .string(s)? = try f.attribute("text", on: path) {
            guard let t = try? JSONDecoder().decode([String?].self, from: Data(s.utf8)), t.count == n else {
                throw FormatError(file: f.path, "\(path): attribute 'text' is not a JSON array of \(n) strings or nulls")
            }
            text = t
        }
        for i in 0..<n {
            if let s = text[i] { rows[i][column] = .text(s) } else if !values[i].isNaN { rows[i][column] = .number(values[i]) }
        }
    }

    private static func stringAttribute(_ f: HDF5File, _ attr: String, _ path: String) throws -> String {
        guard case let .string(s)? = try f.attribute(attr, on: path) else {
            throw FormatError(file: f.path, "\(path): string attribute '\(attr)' is missing")
        }
        return s
    }

    private static func jsonStrings(_ f: HDF5File, _ attr: String, _ path: String) throws -> [String] {
        let s = try stringAttribute(f, attr, path)
        guard let v = try? JSONDecoder().decode([String].self, from: Data(s.utf8)) else {
            throw FormatError(file: f.path, "\(path): attribute '\(attr)' is not a JSON array of strings")
        }
        return v
    }

    public static func json<T: Encodable>(_ v: T) throws -> String {
        String(decoding: try JSONEncoder().encode(v), as: UTF8.self)
    }

    /// An HDF5 link name for a table or column name (see layout item 2).
    public static func linkName(_ s: String) -> String {
        let t = s.replacingOccurrences(of: "/", with: "_")
        return t.isEmpty || t == "." || t == ".." ? "_" : t
    }

    static func uniqueName(_ base: String, _ taken: Set<String>) -> String {
        guard taken.contains(base) else { return base }
        var k = 2
        while taken.contains(base + "~\(k)") { k += 1 }
        return base + "~\(k)"
    }

}

/// RFC 4180 records: fields split on commas, quoted fields may hold commas, doubled quotes and
/// line breaks; records end at CRLF or LF; a final line end is optional.
public enum CSVReader {
    public static func parse(_ text: String, file: String) throws -> [[String]] {
        var records: [[String]] = [], record: [String] = [], field = ""
        var quoted = false, afterQuote = false, line = 1
        let chars = Array(text.unicodeScalars)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            i += 1
            if quoted {
                if c == "\"" {
                    if i < chars.count, chars[i] == "\"" { field.unicodeScalars.append(c); i += 1 } else { quoted = false; afterQuote = true }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"":
                guard field.isEmpty, !afterQuote else {
                    throw FormatError(file: file, "line \(line): a quote inside an unquoted field; quote the whole field and double inner quotes")
                }
                quoted = true
            case ",":
                record.append(field); field = ""; afterQuote = false
            case "\r" where i < chars.count && chars[i] == "\n":
                continue   // the LF ends the record
            case "\n":
                record.append(field); records.append(record)
                record = []; field = ""; afterQuote = false; line += 1
            default:
                guard !afterQuote else { throw FormatError(file: file, "line \(line): text after a closing quote; quote the whole field") }
                field.unicodeScalars.append(c)
            }
        }
        guard !quoted else { throw FormatError(file: file, "line \(line): a quoted field is not closed before the end of the file") }
        if !field.isEmpty || !record.isEmpty || afterQuote { record.append(field); records.append(record) }
        return records
    }
}
