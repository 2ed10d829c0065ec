// SVGPlot: grouped bar charts and reference lines (the `plot` verb's kind=bars and ref=).
//
// Figure layout, on the line plot's frame (see SVGPlot.swift):
//   1. The x axis is categorical: one slot per category, in the order given, labelled under the
//      axis; inside a slot one bar per series that has a value there, side by side and centred,
//      coloured as the legend (so a series missing from a category leaves no gap).
//   2. Bars rise from the bottom of the plot area (the axis minimum, so on a log axis from the
//      lowest power of ten below the data; a linear axis starts at zero). A non-finite value, or
//      one <= 0 on a log axis, is skipped and counted in the note under the figure.
//   3. A reference line (e.g. the full-precision model's value) is a dashed horizontal line over
//      the whole plot area, listed last in the legend with its label and value; in both line and
//      bar plots.
import Foundation

extension SVGPlot {
    /// A horizontal reference line: the value and what it is ("FP16").
    public struct Reference: Sendable {
        public let label: String, value: Double
        public init(label: String, value: Double) { self.label = label; self.value = value }
    }

    /// Bars of each series' value per category (`values[s][c]`, nil when the table has none).
    public static func bars(categories: [String], series: [(name: String, values: [Double?])], title: String,
                            xLabel: String, yLabel: String, logY: Bool = false, reference: Reference? = nil) -> String {
        var skipped = 0
        let kept: [[Double?]] = series.map { s in
            s.values.map { v in
                guard let v else { return nil }
                guard v.isFinite, !logY || v > 0 else { skipped += 1; return nil }
                return v
            }
        }
        let notes = skipped > 0 ? ["\(skipped) non-finite\(logY ? " or non-positive" : "") value\(skipped == 1 ? "" : "s") skipped"] : []
        var svg = header(title: title)
        let values = kept.flatMap { $0.compactMap { $0 } }
        let refValues = (reference.map { [$0.value] } ?? []).filter { $0.isFinite && (!logY || $0 > 0) }
        guard !categories.isEmpty, !values.isEmpty, let r = Axis.range(values + refValues) else {
            return svg + noData(notes) + "</svg>\n"
        }
        // on a log axis the smallest bar must not sit on the axis minimum (zero height): a factor 2 of room
        let yAxis = Axis(logY ? (r.lo / 2, r.hi) : r, area, vertical: true, log: logY, fromZero: !logY)
        svg += frame(nil, yAxis, xLabel: xLabel, yLabel: yLabel)
        let slot = (area.right - area.left) / Double(categories.count)
        // (series, value) of each category's bars: only the series with a value there, centred in the slot
        let present = categories.indices.map { c in kept.indices.compactMap { s in c < kept[s].count ? kept[s][c].map { (s, $0) } : nil } }
        let barWidth = slot * 0.8 / Double(max(1, present.map(\.count).max() ?? 1))
        let base = area.bottom
        for (c, name) in categories.enumerated() {
            let x0 = area.left + Double(c) * slot
            svg += "<text x=\"\(f(x0 + slot / 2))\" y=\"\(f(area.bottom + 19))\" text-anchor=\"middle\">\(escape(shorten(name, max(4, Int(slot / 7)))))</text>\n"
            let first = x0 + (slot - Double(present[c].count) * barWidth) / 2
            for (k, (s, v)) in present[c].enumerated() {
                let top = min(base, yAxis.pixel(v))
                let x = first + Double(k) * barWidth
                svg += "<rect class=\"bar\" x=\"\(f(x))\" y=\"\(f(top))\" width=\"\(f(max(barWidth - 1, 0.5)))\" height=\"\(f(base - top))\" fill=\"\(palette[s % palette.count])\"><title>\(escape(series[s].name)) \(escape(name)): \(escape(TableValue.number(v).display))</title></rect>\n"
            }
        }
        if let reference { svg += referenceLine(reference, yAxis) + referenceLegend(reference, below: series.count) }
        svg += legend(series.map(\.name), markers: series.map { _ in false })
        svg += note(notes)
        return svg + "</svg>\n"
    }

    /// The dashed line at the reference value, labelled at its right end (nothing when the value
    /// is outside the axis).
    static func referenceLine(_ r: Reference, _ yAxis: Axis) -> String {
        guard r.value.isFinite, r.value >= yAxis.lo, r.value <= yAxis.hi else { return "" }
        let y = yAxis.pixel(r.value), area = yAxis.area
        return "<line x1=\"\(f(area.left))\" y1=\"\(f(y))\" x2=\"\(f(area.right))\" y2=\"\(f(y))\" stroke=\"#333\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>\n"
    }

    /// The reference's legend entry, under the series' `rows` entries: a dashed swatch, label and value.
    static func referenceLegend(_ r: Reference, below rows: Int) -> String {
        let y = area.top + 10 + Double(rows) * 20
        return "<line x1=\"\(f(area.right + 15))\" y1=\"\(f(y))\" x2=\"\(f(area.right + 40))\" y2=\"\(f(y))\" stroke=\"#333\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n"
            + "<text x=\"\(f(area.right + 46))\" y=\"\(f(y + 4))\" font-size=\"12\">\(escape(shorten(r.label, 12))) \(escape(TableValue.number(r.value).display))</text>\n"
    }
}
