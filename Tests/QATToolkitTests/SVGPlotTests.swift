// SVGPlot tests: the output is well-formed XML (FoundationXML's parser), names and labels appear,
// skipped values (non-finite, non-positive on a log axis) are counted and not drawn, empty input
// gives a "no data" figure, histogram bins, nice ticks, and atomic writing.
// The suite stays in QATToolkitTests: its SVGDocument parser also checks the `plot` verb's files
// (WorkbenchScriptTests).
import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

@testable import QATResults

/// Elements (name, attributes) and the text of each <text> element, from a parsed SVG.
final class SVGDocument: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var texts: [String] = []
    private var current: String?

    /// nil when the parser rejects the document.
    static func parse(_ svg: String) -> SVGDocument? {
        let d = SVGDocument()
        let p = XMLParser(data: Data(svg.utf8))
        p.delegate = d
        return p.parse() ? d : nil
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append((name, attributes))
        if name == "text" { current = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text", let c = current { texts.append(c); current = nil }
    }

    func count(_ name: String) -> Int { elements.filter { $0.name == name }.count }
}

@Suite("SVG plots")
struct SVGPlotTests {
    @Test func linePlotIsWellFormedWithNamesLabelsAndLegend() throws {
        let svg = SVGPlot.lines([(name: "rtn <w2>", x: [2, 3, 4], y: [900, 40, 15]),
                                 (name: "gptq & co", x: [2, 3, 4], y: [300, 25, 13])],
                                title: "PPL vs bits", xLabel: "bits", yLabel: "perplexity")
        let doc = try #require(SVGDocument.parse(svg))
        #expect(doc.elements.first?.name == "svg")
        for s in ["PPL vs bits", "bits", "perplexity", "rtn <w2>", "gptq & co"] { #expect(doc.texts.contains(s), "\(s)") }
        #expect(doc.count("polyline") == 2)
        #expect(doc.count("circle") == 6 + 2)   // 3 markers per series + a legend marker each
        let strokes = Set(doc.elements.filter { $0.name == "g" }.compactMap { $0.attributes["stroke"] })
        #expect(strokes.contains("#4e79a7") && strokes.contains("#f28e2b"))
        // nice linear ticks: y 13...900 -> 0, 200, ..., 1000; x 2...4 -> 2, 2.5, ..., 4
        for label in ["0", "200", "1000", "2.0", "2.5", "4.0"] { #expect(doc.texts.contains(label), "\(label)") }
    }

    /// Long titles and series names stay inside the 760-px figure (the qfa_search figure once
    /// lost both ends of its title and the tail of a legend name). Widths are estimated as the
    /// writer does, 0.6 em per character; a 23-character name fits the legend at 9 px.
    @Test func longTitleAndLegendNamesFitTheFigure() throws {
        let title = "searched pick vs best random vs uniform subnet: held-out perplexity vs mean-width budget"
        let names = ["picked_heldout_ppl", "random_best_heldout_ppl", "uniform_heldout_ppl"]
        let svg = SVGPlot.lines(names.map { (name: $0, x: [2.5, 3, 3.5], y: [180, 80, 47]) },
                                title: title, xLabel: "budget", yLabel: "ppl")
        let doc = try #require(SVGDocument.parse(svg))
        for name in names + [title] { #expect(doc.texts.contains(name), "\(name) drawn in full") }
        let sizes = doc.elements.filter { $0.name == "text" || $0.name == "g" }
        var groupSize = 12.0
        var textIndex = 0
        for e in sizes {
            if e.name == "g" { groupSize = e.attributes["font-size"].flatMap(Double.init) ?? groupSize; continue }
            defer { textIndex += 1 }
            let text = doc.texts[textIndex]
            guard text == title || names.contains(text) else { continue }
            let size = e.attributes["font-size"].flatMap(Double.init) ?? groupSize
            let x = try #require(e.attributes["x"].flatMap(Double.init))
            let w = Double(text.count) * size * 0.6
            let (lo, hi) = e.attributes["text-anchor"] == "middle" ? (x - w / 2, x + w / 2) : (x, x + w)
            #expect(lo >= 0 && hi <= 760, "\(text) spans \(lo)...\(hi) px at \(size) px")
        }
    }

    @Test func logScaleSkipsNonPositiveValuesWithANote() throws {
        let svg = SVGPlot.lines([(name: "loss", x: [0, 1, 2, 3, 4], y: [1, 0.1, 0, -1, 0.001])],
                                title: "t", xLabel: "step", yLabel: "loss", logY: true)
        let doc = try #require(SVGDocument.parse(svg))
        #expect(doc.count("circle") == 3 + 1)
        #expect(doc.count("polyline") == 1)   // (0,1)-(1,0.1); the point after the gap stands alone
        #expect(doc.texts.contains("2 non-positive values skipped (log scale)"))
        for label in ["0.001", "0.01", "0.1", "1"] { #expect(doc.texts.contains(label), "\(label)") }
    }

    @Test func nonFiniteValuesAreSkippedAndCounted() throws {
        let svg = SVGPlot.lines([(name: "a", x: [0, 1, .nan, 3], y: [1, .infinity, 2, 3])], title: "t", xLabel: "x", yLabel: "y")
        let doc = try #require(SVGDocument.parse(svg))
        #expect(doc.count("circle") == 2 + 1)
        #expect(doc.count("polyline") == 0)
        #expect(doc.texts.contains("2 non-finite points skipped"))
        #expect(!svg.contains("nan") && !svg.contains("inf"))
    }

    @Test func emptyInputGivesNoDataFigure() throws {
        for svg in [SVGPlot.lines([], title: "empty", xLabel: "x", yLabel: "y"),
                    SVGPlot.lines([(name: "s", x: [1], y: [-1])], title: "empty", xLabel: "x", yLabel: "y", logY: true),
                    SVGPlot.histogram([], title: "empty", xLabel: "v"),
                    SVGPlot.histogram([.nan], title: "empty", xLabel: "v")] {
            let doc = try #require(SVGDocument.parse(svg))
            #expect(doc.texts.contains("no data"))
            #expect(doc.texts.contains("empty"))
        }
    }

    @Test func histogramBinsTheFiniteValues() throws {
        // 0...9 in 10 bins: one value per bin, all bars the same height
        let svg = SVGPlot.histogram((0..<10).map(Float.init) + [.nan], bins: 10, title: "w grad", xLabel: "value")
        let doc = try #require(SVGDocument.parse(svg))
        let bars = doc.elements.filter { $0.attributes["class"] == "bar" }
        #expect(bars.count == 10)
        #expect(Set(bars.compactMap { $0.attributes["height"] }).count == 1)
        #expect(doc.texts.contains("10 values, 10 bins; 1 non-finite value skipped"))
        #expect(doc.texts.contains("count") && doc.texts.contains("value") && doc.texts.contains("w grad"))
        // a single repeated value still draws one bar
        let one = try #require(SVGDocument.parse(SVGPlot.histogram([3, 3, 3], bins: 5, title: "c", xLabel: "v")))
        #expect(one.elements.filter { $0.attributes["class"] == "bar" }.count == 1)
    }

    /// Bars: one per value present, heights ordered as the values (log axis), centred per category
    /// with no gap for a missing series, and the dashed reference line labelled with its value.
    @Test func barsAreOnePerValueWithAReferenceLine() throws {
        let svg = SVGPlot.bars(categories: ["w2g64", "w3g128"], series: [(name: "rtn", values: [1000, 100]), (name: "both", values: [10, nil])],
                               title: "phases", xLabel: "weight format", yLabel: "perplexity", logY: true,
                               reference: SVGPlot.Reference(label: "FP16", value: 4))
        let doc = try #require(SVGDocument.parse(svg))
        let bars = doc.elements.filter { $0.attributes["class"] == "bar" }
        #expect(bars.count == 3)
        let heights = bars.compactMap { $0.attributes["height"].flatMap(Double.init) }
        // drawn per category, then per series: rtn 1000, both 10 | rtn 100
        #expect(heights.count == 3 && heights[0] > heights[2] && heights[2] > heights[1] && heights[1] > 0)
        // log axis: 1000, 100 and 10 are a decade apart: equal steps
        #expect(abs((heights[0] - heights[2]) - (heights[2] - heights[1])) < 0.05)
        // the lone bar of w3g128 is centred in its slot
        let x = bars.compactMap { $0.attributes["x"].flatMap(Double.init) }, w = bars.compactMap { $0.attributes["width"].flatMap(Double.init) }
        let slot = (SVGPlot.area.right - SVGPlot.area.left) / 2
        #expect(abs(x[2] + (w[2] + 1) / 2 - (SVGPlot.area.left + 1.5 * slot)) < 0.05)
        #expect(doc.elements.contains { $0.name == "line" && $0.attributes["stroke-dasharray"] != nil })
        for t in ["FP16 4", "w2g64", "w3g128", "weight format", "perplexity", "rtn", "both"] { #expect(doc.texts.contains(t), "\(t)") }
        // non-positive on a log axis is skipped with a note; nothing at all is "no data"
        let skipped = try #require(SVGDocument.parse(SVGPlot.bars(categories: ["a"], series: [(name: "s", values: [0])], title: "t", xLabel: "x", yLabel: "y", logY: true)))
        #expect(skipped.texts.contains("no data") && skipped.texts.contains("1 non-finite or non-positive value skipped"))
    }

    @Test func ticksAreNiceNumbers() {
        #expect(Axis.niceStep(0.13) == 0.2)
        #expect(Axis.niceStep(3) == 5)
        #expect(Axis.niceStep(20) == 20)
        #expect(Axis.niceStep(0.7) == 1)
        let a = Axis((0.13, 9.7), SVGPlot.area, vertical: false)
        #expect(a.ticks == [0, 2, 4, 6, 8, 10])
        #expect(Axis((1e-5, 3), SVGPlot.area, vertical: true, log: true).ticks == [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10])
        #expect(Axis((0.5, 8), SVGPlot.area, vertical: true, log: true).ticks == [0.1, 0.2, 0.5, 1, 2, 5, 10])
        #expect(Axis((0.5, 30), SVGPlot.area, vertical: true, log: true).ticks == [0.1, 1, 10, 100])
        #expect(a.pixel(0) == SVGPlot.area.left && a.pixel(10) == SVGPlot.area.right)
    }

    @Test func controlCharactersAndMarkupInTextStayWellFormed() throws {
        let svg = SVGPlot.lines([(name: "a\u{1}b", x: [1, 2], y: [1, 2])], title: "<b>\"x\" & 'y'</b>", xLabel: "x", yLabel: "y")
        let doc = try #require(SVGDocument.parse(svg))
        #expect(doc.texts.contains("<b>\"x\" & 'y'</b>"))
        #expect(doc.texts.contains("a b"))
    }

    @Test func writeCreatesTheDirectoryAndLeavesNoTemporary() throws {
        let s = try ScratchDir("svg-write")
        let svg = SVGPlot.lines([(name: "a", x: [1, 2], y: [1, 2])], title: "t", xLabel: "x", yLabel: "y")
        try SVGPlot.write(svg, to: s.sub("Plots/sub/a.svg"))
        #expect(try String(contentsOfFile: s.sub("Plots/sub/a.svg"), encoding: .utf8) == svg)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.sub("Plots/sub")) == ["a.svg"])
    }
}
