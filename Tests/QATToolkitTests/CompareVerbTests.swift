// `compare` and the standard-error columns of `ppl` / `eval` through the command language, on the
// tiny model: a model against itself gives ratio 1 and significant=0, a 2-bit copy significant=1,
// and eval's row carries ppl_TEXT_se beside each perplexity.
import Foundation
import QATInterp
import QATToolkit
import Testing

@Suite struct CompareVerbTests {
    /// The value of `key=` in the last printed line that has it.
    func field(_ s: Session, _ key: String) -> String? {
        for line in s.lines.reversed() {
            for part in line.split(separator: " ") where part.hasPrefix(key + "=") { return String(part.dropFirst(key.count + 1)) }
        }
        return nil
    }

    @Test func modelAgainstItselfIsNotSignificant() throws {
        let s = Session()
        let ratio = try s.run("m = load tiny\ncompare m m devil ctx=64 max_windows=6 resamples=200 seed=3")
        if case .number(let x) = ratio { #expect(x == 1) } else { Issue.record("compare returned \(ratio), not a number") }
        #expect(field(s, "significant") == "0" && field(s, "ratio") == "1.00000" && field(s, "ratio_lo") == "1.00000")
        #expect(field(s, "windows") == "6" && field(s, "resamples") == "200" && field(s, "seed") == "3")
        #expect(field(s, "ppl_a") == field(s, "ppl_b") && field(s, "ppl_a_se").map { Double($0) ?? 0 > 0 } == true)
    }

    @Test func twoBitCopyIsSignificantAndSameSeedRepeats() throws {
        let s = Session()
        try s.run("m = load tiny\nq = quantize m method=rtn bits=2 group=32\ncompare m q devil ctx=64 max_windows=6 resamples=300 seed=5")
        #expect(field(s, "significant") == "1", "\(s.output)")
        let first = [field(s, "ratio_lo"), field(s, "ratio_hi")]
        try s.run("compare m q devil ctx=64 max_windows=6 resamples=300 seed=5")
        #expect([field(s, "ratio_lo"), field(s, "ratio_hi")] == first)
        #expect((Double(field(s, "ratio") ?? "") ?? 0) > 1)
    }

    @Test func accuracyIsPairedOverItems() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qat-compare-\(getpid()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let items = (0..<12).map { #"{"context": "Item \#($0): the sky is", "choices": [" blue", " green"], "gold": \#($0 % 2)}"# }
        try items.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let s = Session()
        try s.run("m = load tiny\ncompare m m devil ctx=64 max_windows=2 resamples=100 mc=\"\(path)\"")
        // 12 items, every one scored by both models (0-shot scores all items, as lm-eval)
        #expect(field(s, "items") == "12" && field(s, "acc_diff") == "0.0000" && field(s, "acc_significant") == "0", "\(s.output)")
        #expect(field(s, "acc_a") == field(s, "acc_b") && field(s, "acc_diff_lo") == "0.0000" && field(s, "acc_diff_hi") == "0.0000")
    }

    /// A quantized copy keeps its source's loaded name; eval and compare must not label it with it
    /// (they labelled GPTQ and QAT rows alike as the full-precision file).
    @Test func quantizedRowsAreLabelledByHowTheyWereMade() throws {
        let s = Session()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-label-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try s.run("m = load tiny\nq = quantize m method=rtn bits=2 group=32\nc = quantize m method=rtn bits=3 group=32 out=\"\(dir)\"")
        try s.run("eval q mc=[] texts=[devil] ctx=64 max_windows=2")
        #expect(field(s, "model") == "rtn-w2g32", "\(s.output)")
        try s.run("compare m c devil ctx=64 max_windows=2 resamples=50")
        #expect(field(s, "b") == dir && field(s, "a") != dir, "\(s.output)")
    }

    @Test func oneWindowIsAClearError() throws {
        let s = Session()
        let e = s.error("m = load tiny\ncompare m m devil ctx=64 max_windows=1")
        #expect(e?.message.contains("max_windows") == true, "\(String(describing: e?.message))")
    }

    @Test func pplAndEvalReportTheStandardError() throws {
        let s = Session()
        try s.run("m = load tiny\nppl m devil ctx=64 max_windows=4")
        #expect(field(s, "windows") == "4" && (Double(field(s, "ppl_se") ?? "") ?? 0) > 0)
        try s.run("eval m mc=[] texts=[devil] ctx=64 max_windows=4")
        #expect((Double(field(s, "ppl_devil_se") ?? "") ?? 0) > 0, "\(s.output)")
        try s.run("eval m ref=m mc=[] texts=[devil] ctx=64 max_windows=4")
        #expect((Double(field(s, "ppl_devil_se") ?? "") ?? 0) > 0, "\(s.output)")
    }
}
