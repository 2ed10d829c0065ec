// SVGPlot: dependency-free SVG line plots and histograms (the `plot` verb's figures; grouped bars
// and reference lines are in SVGPlot+Bars.swift).
//
// Figure layout (SVG 1.1, user units = pixels, 760 x 480):
//   1. Title centred on the figure at the top, at 16 px or smaller so that it fits the width
//      (estimated at 0.6 em per character, DejaVu Sans' mean advance; shortened with "…" below
//      10 px); the plot area is the rectangle (80, 50)-(580, 400), or
//      (80, 50)-(730, 400) for a histogram, which has no legend.
//   2. Axes on the left and bottom with 4-8 ticks at "nice" values (1, 2 or 5 x 10^k) and a light
//      grid; on a log axis the ticks are the powers of ten (with 2 and 5 between when the data
//      spans fewer than three decades). Axis labels under the x axis and rotated left of the y axis.
//   3. Legend right of the plot area: one colour swatch and name per series (Tableau 10 colours,
//      repeating after ten series); names at 12 px, or down to 9 px so the longest fits the
//      figure, and shortened with "…" only when 9 px is still too wide.
//   4. Lines join consecutive finite points; a skipped point (NaN, infinity, or <= 0 on a log
//      axis) breaks the line. Points get circle markers when a series has at most 200 of them.
//   5. A note under the x label counts skipped values; a figure with nothing to draw says
//      "no data" and is still a valid SVG.
import Foundation
import QATIO

/// SVG figures as strings; `write` saves one atomically.
public enum SVGPlot {
    static let width = 760.0, height = 480.0
    /// The plot area of a line plot (the legend goes right of it) and of a histogram (no legend).
    static let area = Box(left: 80, top: 50, right: 580, bottom: 400)
    static let wideArea = Box(left: 80, top: 50, right: 730, bottom: 400)
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
    static let maxMarkedPoints = 200

    /// A line plot of each series' y against x (pairs beyond the shorter array are ignored).
    public static func lines(_ series: [(name: String, x: [Double], y: [Double])], title: String,
                             xLabel: String, yLabel: String, logY: Bool = false, reference: Reference? = nil) -> String {
        var nonFinite = 0, nonPositive = 0
        let kept: [[(Double, Double)?]] = series.map { s in
            zip(s.x, s.y).map { x, y in
                guard x.isFinite, y.isFinite else { nonFinite += 1; return nil }
                guard !logY || y > 0 else { nonPositive += 1; return nil }
                return (x, y)
            }
        }
        var notes: [String] = []
        if nonFinite > 0 { notes.append("\(nonFinite) non-finite point\(nonFinite == 1 ? "" : "s") skipped") }
        if nonPositive > 0 { notes.append("\(nonPositive) non-positive value\(nonPositive == 1 ? "" : "s") skipped (log scale)") }
        let points = kept.flatMap { $0.compactMap { $0 } }
        var svg = header(title: title)
        let refValues = (reference.map { [$0.value] } ?? []).filter { $0.isFinite && (!logY || $0 > 0) }
        guard let xs = Axis.range(points.map { $0.0 }), let ys = Axis.range(points.map { $0.1 } + refValues) else {
            return svg + noData(notes) + "</svg>\n"
        }
        let xAxis = Axis(xs, area, vertical: false), yAxis = Axis(ys, area, vertical: true, log: logY)
        svg += frame(xAxis, yAxis, xLabel: xLabel, yLabel: yLabel)
        for (i, s) in kept.enumerated() {
            svg += seriesPath(s, colour: palette[i % palette.count], xAxis, yAxis)
        }
        if let reference { svg += referenceLine(reference, yAxis) + referenceLegend(reference, below: series.count) }
        svg += legend(series.map { $0.name }, markers: kept.map { $0.lazy.compactMap { $0 }.count <= maxMarkedPoints })
        svg += note(notes)
        return svg + "</svg>\n"
    }

    /// A histogram of the finite values in `bins` equal-width bins spanning their range.
    public static func histogram(_ values: [Float], bins: Int = 50, title: String, xLabel: String) -> String {
        let finite = values.lazy.filter { $0.isFinite }.map(Double.init)
        let skipped = values.count - finite.count
        let notes = skipped > 0 ? ["\(skipped) non-finite value\(skipped == 1 ? "" : "s") skipped"] : []
        var svg = header(title: title)
        guard var r = Axis.range(Array(finite)) else { return svg + noData(notes) + "</svg>\n" }
        if r.hi == r.lo { r = (r.lo - 0.5, r.hi + 0.5) }   // one value: a bin of width 1/bins around it
        let n = max(1, bins)
        var counts = [Int](repeating: 0, count: n)
        let w = (r.hi - r.lo) / Double(n)
        for v in finite { counts[min(n - 1, max(0, Int((v - r.lo) / w)))] += 1 }
        let xAxis = Axis(r, wideArea, vertical: false)
        let yAxis = Axis((0, Double(counts.max() ?? 1)), wideArea, vertical: true, fromZero: true)
        svg += frame(xAxis, yAxis, xLabel: xLabel, yLabel: "count")
        svg += "<g fill=\"\(palette[0])\" stroke=\"white\" stroke-width=\"0.5\">\n"
        for (i, c) in counts.enumerated() where c > 0 {
            let x0 = xAxis.pixel(r.lo + Double(i) * w), x1 = xAxis.pixel(r.lo + Double(i + 1) * w)
            let y0 = yAxis.pixel(Double(c)), y1 = yAxis.pixel(0)
            svg += "<rect class=\"bar\" x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(max(x1 - x0, 0.5)))\" height=\"\(f(y1 - y0))\"/>\n"
        }
        svg += "</g>\n"
        svg += note(["\(finite.count) values, \(n) bins"] + notes)
        return svg + "</svg>\n"
    }

    /// Writes the SVG to "<path>.tmp-<pid>" and renames it into place; creates the directory.
    public static func write(_ svg: String, to path: String) throws {
        let dir = PathName.parent(path)
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try writeTextAtomically(svg, to: path)
    }

    // MARK: Pieces

    static func header(title: String) -> String {
        let titleFit = fit(title, room: width - 20, preferred: 16, minimum: 10)
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="30" text-anchor="middle" font-size="\(f(titleFit.size))">\(escape(titleFit.text))</text>\n
        """
    }

    /// The estimated width of `text` at `size` px (DejaVu Sans averages ~0.6 em per character).
    static func textWidth(_ text: String, size: Double) -> Double { Double(text.count) * size * 0.6 }

    /// The largest size in [minimum, preferred] at which `text` fits `room` px, and the text,
    /// shortened with "…" when even `minimum` is too wide.
    static func fit(_ text: String, room: Double, preferred: Double, minimum: Double) -> (text: String, size: Double) {
        let size = max(minimum, min(preferred, room / max(1, textWidth(text, size: 1))))
        let chars = Int((room / (size * 0.6)).rounded(.down))
        return (textWidth(text, size: size) <= room ? text : shorten(text, max(chars, 2)), size)
    }

    static func noData(_ notes: [String]) -> String {
        "<text x=\"\(f((area.left + area.right) / 2))\" y=\"\(f(height / 2))\" text-anchor=\"middle\" font-size=\"20\" fill=\"#888\">no data</text>\n"
            + note(notes)
    }

    static func note(_ lines: [String]) -> String {
        guard !lines.isEmpty else { return "" }
        return "<text x=\"\(f(area.left))\" y=\"\(f(height - 12))\" font-size=\"11\" fill=\"#a33\">\(escape(lines.joined(separator: "; ")))</text>\n"
    }

    /// Grid, axes, tick labels and axis labels.
    /// Without `xAxis` (a bar chart's categories) there are no x ticks; the caller labels the categories.
    static func frame(_ xAxis: Axis?, _ yAxis: Axis, xLabel: String, yLabel: String) -> String {
        let area = yAxis.area
        // (pixel, label) of each x tick
        let xTicks = xAxis.map { a in a.ticks.map { (a.pixel($0), a.label($0)) } } ?? []
        var s = "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n"
        for (x, _) in xTicks { s += "<line x1=\"\(f(x))\" y1=\"\(f(area.top))\" x2=\"\(f(x))\" y2=\"\(f(area.bottom))\"/>\n" }
        for t in yAxis.ticks { s += "<line x1=\"\(f(area.left))\" y1=\"\(f(yAxis.pixel(t)))\" x2=\"\(f(area.right))\" y2=\"\(f(yAxis.pixel(t)))\"/>\n" }
        s += "</g>\n<g stroke=\"black\" stroke-width=\"1\" fill=\"none\">\n"
        s += "<rect x=\"\(f(area.left))\" y=\"\(f(area.top))\" width=\"\(f(area.right - area.left))\" height=\"\(f(area.bottom - area.top))\"/>\n"
        for (x, _) in xTicks { s += "<line x1=\"\(f(x))\" y1=\"\(f(area.bottom))\" x2=\"\(f(x))\" y2=\"\(f(area.bottom + 5))\"/>\n" }
        for t in yAxis.ticks { s += "<line x1=\"\(f(area.left - 5))\" y1=\"\(f(yAxis.pixel(t)))\" x2=\"\(f(area.left))\" y2=\"\(f(yAxis.pixel(t)))\"/>\n" }
        s += "</g>\n<g fill=\"black\">\n"
        for (x, label) in xTicks {
            s += "<text x=\"\(f(x))\" y=\"\(f(area.bottom + 19))\" text-anchor=\"middle\">\(escape(label))</text>\n"
        }
        for t in yAxis.ticks {
            s += "<text x=\"\(f(area.left - 8))\" y=\"\(f(yAxis.pixel(t) + 4))\" text-anchor=\"end\">\(escape(yAxis.label(t)))</text>\n"
        }
        let midY = (area.top + area.bottom) / 2
        s += "<text x=\"\(f((area.left + area.right) / 2))\" y=\"\(f(area.bottom + 42))\" text-anchor=\"middle\" font-size=\"13\">\(escape(xLabel))</text>\n"
        s += "<text x=\"18\" y=\"\(f(midY))\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 \(f(midY)))\">\(escape(yLabel))</text>\n"
        return s + "</g>\n"
    }

    /// Polylines through runs of kept points, then markers when the series is small.
    static func seriesPath(_ points: [(Double, Double)?], colour: String, _ xAxis: Axis, _ yAxis: Axis) -> String {
        var runs: [[(Double, Double)]] = [[]]
        for p in points {
            if let p { runs[runs.count - 1].append((xAxis.pixel(p.0), yAxis.pixel(p.1))) } else if !(runs.last?.isEmpty ?? true) { runs.append([]) }
        }
        var s = "<g stroke=\"\(colour)\" fill=\"\(colour)\">\n"
        for run in runs where run.count > 1 {
            s += "<polyline fill=\"none\" stroke-width=\"1.8\" points=\"" + run.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ") + "\"/>\n"
        }
        let all = runs.flatMap { $0 }
        if all.count <= maxMarkedPoints {
            for p in all { s += "<circle cx=\"\(f(p.0))\" cy=\"\(f(p.1))\" r=\"3\"/>\n" }
        }
        return s + "</g>\n"
    }

    /// The room right of the swatches, in px.
    static var legendRoom: Double { width - (area.right + 46) - 6 }

    static func legend(_ names: [String], markers: [Bool]) -> String {
        let longest = names.max { $0.count < $1.count } ?? ""
        let size = fit(longest, room: legendRoom, preferred: 12, minimum: 9).size
        var s = "<g font-size=\"\(f(size))\">\n"
        for (i, name) in names.enumerated() {
            let y = area.top + 10 + Double(i) * 20
            let c = palette[i % palette.count]
            s += "<line x1=\"\(f(area.right + 15))\" y1=\"\(f(y))\" x2=\"\(f(area.right + 40))\" y2=\"\(f(y))\" stroke=\"\(c)\" stroke-width=\"2.5\"/>\n"
            if markers[i] { s += "<circle cx=\"\(f(area.right + 27.5))\" cy=\"\(f(y))\" r=\"3\" fill=\"\(c)\"/>\n" }
            s += "<text x=\"\(f(area.right + 46))\" y=\"\(f(y + 4))\">\(escape(fit(name, room: legendRoom, preferred: size, minimum: size).text))</text>\n"
        }
        return s + "</g>\n"
    }

    /// Text safe inside an XML element or attribute; control characters other than tab become spaces
    /// (XML 1.0 forbids them).
    static func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(u.value < 0x20 && u != "\t" ? " " : u)
            }
        }
        return out
    }

    static func shorten(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

    /// A coordinate with two decimals.
    static func f(_ v: Double) -> String { TableValue.trimZeros(String(format: "%.2f", v)) }
}

/// A rectangle in SVG user units.
struct Box {
    let left: Double, top: Double, right: Double, bottom: Double
}

/// One axis: the data range widened to nice ticks, and the mapping to pixels.
struct Axis {
    let lo: Double, hi: Double, log: Bool, vertical: Bool
    let area: Box
    let ticks: [Double]
    /// Decimals for tick labels of a linear axis (from the tick step).
    let decimals: Int

    /// The axis for data spanning `r` (finite, lo <= hi; positive when `log`). A vertical axis maps
    /// lo to the bottom of the plot area. `fromZero` starts a linear axis at 0.
    init(_ r: (lo: Double, hi: Double), _ area: Box, vertical: Bool, log: Bool = false, fromZero: Bool = false) {
        self.area = area
        self.log = log
        self.vertical = vertical
        if log {
            var a = Foundation.log10(r.lo), b = Foundation.log10(r.hi)
            if b - a < 1e-9 { a -= 0.5; b += 0.5 }
            a = a.rounded(.down); b = b.rounded(.up)
            lo = Foundation.pow(10, a); hi = Foundation.pow(10, b)
            ticks = Axis.logTicks(Int(a), Int(b))
            decimals = 0
        } else {
            var a = fromZero ? min(0, r.lo) : r.lo, b = r.hi
            if b - a <= max(abs(a), abs(b)) * 1e-12 { let d = a == 0 ? 1 : abs(a) * 0.1; a -= d; b += d }
            let s = Axis.niceStep((b - a) / 5)
            let lo = (a / s).rounded(.down) * s, hi = (b / s).rounded(.up) * s
            self.lo = lo; self.hi = hi
            let n = ((hi - lo) / s).rounded()
            ticks = n.isFinite && n <= 50 ? (0...Int(n)).map { lo + Double($0) * s } : [lo, hi]   // 50: beyond any nice step's reach
            decimals = max(0, -Int(Foundation.log10(s).rounded(.down)))
        }
    }

    /// The smallest range holding every value, nil when there is none.
    static func range(_ v: [Double]) -> (lo: Double, hi: Double)? {
        guard let lo = v.min(), let hi = v.max() else { return nil }
        return (lo, hi)
    }

    /// 1, 2 or 5 x 10^k, the smallest not below `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw.isFinite, raw > 0 else { return 1 }
        let p = Foundation.pow(10, Foundation.log10(raw).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * p >= raw * (1 - 1e-9) { return m * p }
        return 10 * p
    }

    /// Powers of ten from 10^a to 10^b; 2 and 5 multiples too when that is fewer than four ticks;
    /// every second power when there are more than ten.
    static func logTicks(_ a: Int, _ b: Int) -> [Double] {
        let every = b - a > 10 ? (b - a + 9) / 10 : 1
        var t: [Double] = []
        for k in stride(from: a, through: b, by: every) {
            let p = Foundation.pow(10, Double(k))
            t.append(p)
            if b - a < 3, k < b { t += [2 * p, 5 * p] }
        }
        return t
    }

    /// Pixel coordinate of a value inside the plot area.
    func pixel(_ v: Double) -> Double {
        let u = log ? (Foundation.log10(v) - Foundation.log10(lo)) / (Foundation.log10(hi) - Foundation.log10(lo))
                    : (v - lo) / (hi - lo)
        return vertical ? area.bottom - u * (area.bottom - area.top) : area.left + u * (area.right - area.left)
    }

    /// The tick label: fixed decimals from the step on a linear axis, "0.01"..."1000" or "1e-5"
    /// style on a log axis; scientific when the magnitudes are extreme.
    func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if log {
            if a >= 1e-3 && a < 1e5 { return TableValue.trimZeros(String(format: "%.3f", v)) }
            return TableValue.scientific(v).replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e-0", with: "e-")
                .replacingOccurrences(of: "e+", with: "e")
        }
        if a >= 1e6 || (a < 1e-3 && decimals > 4) { return TableValue.scientific(v) }
        return String(format: "%.\(decimals)f", v)
    }
}
