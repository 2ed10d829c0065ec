// Results verbs: `record` a row into a table variable, `append` every row of another table (one
// read back with `load table`), print/save it with `table`, draw its
// columns with `plot`. Tables are ResultsTable objects (layouts of the saved forms in
// ResultsTable.swift); figures are SVGPlot's SVG, or PNG through rsvg-convert (Debian
// librsvg2-bin). Plots/*.py draw the same figures with matplotlib from a table saved as .h5 or .csv.
//
// Every verb that writes a figure prints `plot=PATH`; `qat notebook` links those files.
import Foundation
import QATInterp
import QATIO
import QATResults

enum ResultVerbs {
    static var rows: [VerbSpec] { [record, append, table, plot] }

    static var record: VerbSpec {
        VerbSpec(name: "record", synopsis: "record TABLE [ROW] COLUMN=VALUE ...",
                 summary: "Append a row to a results table (the variable TABLE is created on first use).",
                 arguments: [.positional("TABLE", .either([.object("table"), .string]), help: "the table variable's name (or $table)"),
                             .positional("ROW", .object("table"), optional: true, help: "a table whose last row's columns come first, e.g. (eval q ref=m)")],
                 help: """
                     Any key names a column; columns appear in the order first recorded. Values are \
                     numbers, text, or a sub-command's value: record results bits=$b ppl=(ppl q \
                     devil). A ROW table (what `eval` returns) adds its last row's columns before \
                     the key=value ones.
                     """,
                 examples: ["record results method=rtn bits=2 ppl=(ppl q devil ctx=512)", "record runs seed=$s loss=$l",
                            "record results (eval q ref=m max_windows=8) method=rtn"],
                 openKeys: true) { call in
            let t = try tableVariable(call, create: true)
            var row: [(String, TableValue)] = []
            if case .object(let o)? = call.value("ROW"), let source = o as? ResultsTable, let last = source.rows.last {
                row = source.columns.compactMap { c in last[c].map { (c, $0) } }
            }
            guard !call.extraKeys.isEmpty || !row.isEmpty else {
                throw InterpError.verb("nothing to record", hint: "give columns as key=value: record \(t.name) bits=2 ppl=12.3")
            }
            for (key, value) in call.extraKeys {
                switch value {
                case .number(let d): row.append((key, .number(d)))
                case .string(let s): row.append((key, .text(s)))
                case .none: throw InterpError.verb("\(key)= has no value (the command gave none)", hint: "record numbers, text, or a verb's value such as (ppl q devil)")
                default: row.append((key, .text(value.text)))
                }
            }
            t.record(row)
            return .none
        }
    }

    static var append: VerbSpec {
        VerbSpec(name: "append", synopsis: "append TABLE ROWS",
                 summary: "Append every row of a table (e.g. one read with `load table`) to a results table (created on first use).",
                 arguments: [.positional("TABLE", .either([.object("table"), .string]), help: "the table variable's name (or $table)"),
                             .positional("ROWS", .object("table"), help: "the table whose rows are appended, in order, e.g. (load table Notebooks/results/beat_ptq_w3g128.h5)")],
                 help: """
                     Joins tables saved by separate runs (one sitting per setting) into one, to save or \
                     plot together. Columns are matched by name; a column new to TABLE is added at the \
                     right, and a row lacking a column has an empty cell there. Prints the row count \
                     appended as `appended=N rows=M`.
                     """,
                 examples: ["append res (load table Notebooks/results/beat_ptq_w2g64.h5)"]) { call in
            let t = try tableVariable(call, create: true)
            guard let source = call.objectArgument("ROWS", as: ResultsTable.self) else {
                throw InterpError.verb("ROWS is not a table", hint: "give a table value, e.g. (load table FILE)")
            }
            guard source !== t else {
                throw InterpError.verb("append \(t.name) to itself", hint: "append another table's rows")
            }
            for row in source.rows { t.record(source.columns.compactMap { c in row[c].map { (c, $0) } }) }
            call.out("appended=\(source.rows.count) rows=\(t.rows.count)")
            return .none
        }
    }

    /// The table a TABLE argument names; created (and stored in the variable) when asked to.
    static func tableVariable(_ call: VerbCall, create: Bool) throws -> ResultsTable {
        if let t = call.objectArgument("TABLE", as: ResultsTable.self) { return t }
        return try sessionTable(try call.string("TABLE"), call, create: create)
    }

    /// The table in variable `name`; created (empty) when `create` and the name is free.
    static func sessionTable(_ name: String, _ call: VerbCall, create: Bool = true) throws -> ResultsTable {
        if case .object(let o)? = call.interpreter.variables[name], let t = o as? ResultsTable { return t }
        if let v = call.interpreter.variables[name] {
            throw InterpError.verb("$\(name) holds a \(v.kindName), not a table", hint: "use another name for the table")
        }
        guard create else {
            throw InterpError.verb("no table named \(name)", hint: "record a row first: record \(name) key=value ...")
        }
        let t = ResultsTable(name: name)
        call.interpreter.variables[name] = .object(t)
        return t
    }

    static var table: VerbSpec {
        VerbSpec(name: "table", summary: "Print a results table, and save it with out=.",
                 arguments: [.positional("TABLE", .either([.object("table"), .string]), help: "the table variable"),
                             .key("out", .string, help: """
                                 save as .csv, .md, .txt or .h5 (layouts in \
                                 Sources/QATResults/ResultsTable.swift)
                                 """)],
                 help: """
                     Files are written atomically and their directories created. Saving prints \
                     saved=PATH. Every other KEY=VALUE is kept as the table's attribute \
                     (configuration, seed) and written on its HDF5 group, with qatlab_version \
                     added; the CSV and Markdown forms have no attributes.
                     """,
                 examples: ["table results", "table results out=Plots/results.csv", "table results out=out/results.h5",
                            "table results out=out/phases.h5 seed=2 model=smollm2 config=\"w2g64 samples=128\""],
                 openKeys: true) { call in
            let t = try tableVariable(call, create: false)
            call.out(t.render().trimmingCharacters(in: .newlines))
            if !call.extraKeys.isEmpty || call.has("out") {
                var attrs = t.attributes.filter { a in !call.extraKeys.contains { $0.0 == a.0 } && a.0 != "qatlab_version" }
                for (key, value) in call.extraKeys {
                    guard !ResultsTable.reservedAttributes.contains(key) else {
                        throw InterpError.verb("\(key)= names a part of the table layout, not an attribute", hint: "choose another name than name, rows, columns, datasets")
                    }
                    if case .number(let d) = value { attrs.append((key, .number(d))) } else { attrs.append((key, .text(value.text))) }
                }
                t.attributes = attrs + [("qatlab_version", .text(Verbs.version))]
            }
            if call.has("out") {
                let path = try call.string("out")
                try t.save(path: path)
                call.out("saved=\(path)")
            }
            return .none
        }
    }

    static var plot: VerbSpec {
        VerbSpec(name: "plot", summary: "Line or grouped bar plot of a table's columns, written as SVG (or PNG).",
                 arguments: [.positional("TABLE", .either([.object("table"), .string]), help: "the table variable"),
                             .key("x", .string, required: true, help: """
                                 the column on the x axis (with kind=bars: the categories, text or \
                                 numbers)
                                 """),
                             .key("y", .either([.list, .string]), required: true, help: "the column (or a list of columns) on the y axis"),
                             .key("group", .string, help: "one line (or bar per category) per value of this column"),
                             .key("kind", .choice(["line", "bars"]), default: .string("line"), help: """
                                 line: points joined in order of x; bars: one bar per group side by \
                                 side for each x value
                                 """),
                             .key("logy", .bool, default: .number(0), help: "logarithmic y axis"),
                             .key("xlabel", .string, help: "the x axis label, with its unit (default: the column name)"),
                             .key("ylabel", .string, help: "the y axis label, with its unit (default: the column names)"),
                             .key("ref", .number, help: """
                                 draw a dashed reference line at this y value (e.g. the \
                                 full-precision model's)
                                 """),
                             .key("ref_label", .string, default: .string("reference"), help: "the reference line's label"),
                             .key("out", .string, required: true, help: "Plots/NAME.svg, or .png (needs rsvg-convert)"),
                             .key("title", .string, help: "the figure's title (default: \"y vs x\")")],
                 help: """
                     kind=line joins points in order of x; rows whose x or y is empty or text are \
                     skipped. kind=bars puts the x values in order of first appearance as \
                     categories and draws one bar per group (or y column) in each. A .png is drawn \
                     as SVG beside it (same name, .svg) and converted with rsvg-convert; without it \
                     the .svg is kept and reported. For matplotlib figures: save the table as .h5 \
                     or .csv and run Plots/plot_table.py. Prints plot=PATH.
                     """,
                 examples: ["plot results x=bits y=ppl out=Plots/ppl_vs_bits.svg", "plot results x=bits y=ppl group=method logy=1 out=Plots/ppl.png",
                            "plot res x=spec y=ppl_devil group=method kind=bars logy=1 ref=42.06 ref_label=FP16 ylabel=\"perplexity (devil)\" out=Plots/phases.png"]) { call in
            let t = try tableVariable(call, create: false)
            let x = try call.string("x")
            let ys: [String] = try { if case .list(let l)? = call.value("y") { return l.map(\.text) } else { return [try call.string("y")] } }()
            let group = call.has("group") ? try call.string("group") : nil
            for c in [x] + ys + (group.map { [$0] } ?? []) where !t.columns.contains(c) {
                throw InterpError.verb("table \(t.name) has no column \(c)", hint: "columns: " + t.columns.joined(separator: ", "))
            }
            let title = call.has("title") ? try call.string("title") : "\(ys.joined(separator: ", ")) vs \(x)"
            let xLabel = call.has("xlabel") ? try call.string("xlabel") : x
            let yLabel = call.has("ylabel") ? try call.string("ylabel") : ys.joined(separator: ", ")
            let reference = call.has("ref") ? SVGPlot.Reference(label: try call.string("ref_label"), value: try call.number("ref")) : nil
            let svg: String
            if try call.string("kind") == "bars" {
                let b = barSeries(t, x: x, ys: ys, group: group)
                svg = SVGPlot.bars(categories: b.categories, series: b.series, title: title, xLabel: xLabel, yLabel: yLabel,
                                   logY: try call.bool("logy"), reference: reference)
            } else {
                svg = SVGPlot.lines(try lineSeries(t, x: x, ys: ys, group: group), title: title, xLabel: xLabel, yLabel: yLabel,
                                    logY: try call.bool("logy"), reference: reference)
            }
            try writePlot(svg, to: try call.string("out"), call)
            return .none
        }
    }

    /// Rows grouped by a column's displayed value, groups in order of first appearance (one group
    /// of every row without a column).
    static func rowGroups(_ t: ResultsTable, by column: String?) -> [(label: String, rows: [Int])] {
        guard let column else { return [("", Array(t.rows.indices))] }
        var groups: [(label: String, rows: [Int])] = []
        for (i, row) in t.rows.enumerated() {
            let key = row[column]?.display ?? "(none)"
            if let k = groups.firstIndex(where: { $0.label == key }) { groups[k].rows.append(i) } else { groups.append((key, [i])) }
        }
        return groups
    }

    /// A group's legend name: its value, as "COLUMN=value" when the value is a number (a legend
    /// of bare "0" and "1" says nothing).
    static func seriesLabel(_ group: String?, _ value: String) -> String {
        guard let group, Double(value) != nil else { return value }
        return "\(group)=\(value)"
    }

    /// Categories (x values, in order of first appearance) and one series per y column and group:
    /// the first row's value for each category, nil when no row has one.
    static func barSeries(_ t: ResultsTable, x: String, ys: [String], group: String?) -> (categories: [String], series: [(name: String, values: [Double?])]) {
        let categories = rowGroups(t, by: x).map(\.label)
        var series: [(name: String, values: [Double?])] = []
        for y in ys {
            let yv = t.column(y)
            for (label, rows) in rowGroups(t, by: group) {
                let values = categories.map { c in rows.first { t.rows[$0][x]?.display == c && yv[$0] != nil }.flatMap { yv[$0] } }
                guard values.contains(where: { $0 != nil }) else { continue }
                let name = [ys.count > 1 || label.isEmpty ? y : nil, label.isEmpty ? nil : seriesLabel(group, label)].compactMap { $0 }.joined(separator: " ")
                series.append((name, values))
            }
        }
        return (categories, series)
    }

    /// One series per y column (and per group value), points sorted by x.
    static func lineSeries(_ t: ResultsTable, x: String, ys: [String], group: String?) throws -> [(name: String, x: [Double], y: [Double])] {
        let xs = t.column(x)
        let groups = rowGroups(t, by: group)
        var out: [(name: String, x: [Double], y: [Double])] = []
        for y in ys {
            let yv = t.column(y)
            for (label, rows) in groups {
                let pts = rows.compactMap { i -> (Double, Double)? in
                    guard let a = xs[i], let b = yv[i] else { return nil }
                    return (a, b)
                }.sorted { $0.0 < $1.0 }
                let name = [ys.count > 1 || label.isEmpty ? y : nil, label.isEmpty ? nil : seriesLabel(group, label)].compactMap { $0 }.joined(separator: " ")
                out.append((name, pts.map(\.0), pts.map(\.1)))
            }
        }
        return out
    }
}

/// Writes a figure: .svg as is; .png as an SVG beside it converted by rsvg-convert (when that is
/// missing, the SVG is kept and reported instead). Prints plot=PATH for notebooks.
func writePlot(_ svg: String, to path: String, _ call: VerbCall) throws {
    let ext = (path as NSString).pathExtension.lowercased()
    switch ext {
    case "svg":
        try SVGPlot.write(svg, to: path)
        call.out("plot=\(path)")
    case "png":
        let svgPath = (path as NSString).deletingPathExtension + ".svg"
        try SVGPlot.write(svg, to: svgPath)
        guard let tool = executableInPath("rsvg-convert") else {
            call.out("note: rsvg-convert is not installed (Debian librsvg2-bin); wrote the SVG instead of \(path)")
            call.out("plot=\(svgPath)")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = ["--background-color=white", "-o", path, svgPath]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw InterpError.verb("rsvg-convert failed (status \(p.terminationStatus)) converting \(svgPath)", hint: "the SVG is there; convert it by hand")
        }
        call.out("plot=\(path)")
    default:
        throw InterpError.verb("cannot write a plot as .\(ext)", hint: "use out=Plots/NAME.svg or .png")
    }
}

/// "Plots/x_hist.svg" -> "x_hist".
func baseName(_ path: String) -> String { ((path as NSString).lastPathComponent as NSString).deletingPathExtension }
