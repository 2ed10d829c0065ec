// memory= and peak_rss_mb (issue 12, part 6): a budget below the estimate refuses the run before
// training, naming the estimate and its parts; a generous one runs, and the run records its peak
// resident memory on the summary line and in train_log.h5.
import Foundation
import QATIO
import QATInterp
import QATModel
@testable import QATTrain
import Testing

@testable import QATToolkit

@Suite struct MemoryBudgetTests {
    static let blockap = "blockap tiny bits=2 group=32 samples=4 val=2 seqlen=32 epochs=1"

    @Test func budgetsParse() {
        #expect(MemoryEstimate.parseBudget("2G") == 2 << 30)
        #expect(MemoryEstimate.parseBudget("1500M") == 1500 << 20)
        #expect(MemoryEstimate.parseBudget("512k") == 512 << 10)
        #expect(MemoryEstimate.parseBudget("1000000") == 1_000_000)
        for bad in ["", "G", "-1G", "2GB", "abc", "1e30T", "nan"] { #expect(MemoryEstimate.parseBudget(bad) == nil, "\(bad)") }
    }

    @Test func procStatusFieldsAreRead() {
        let status = "Name:\tqat\nVmHWM:\t 1539464 kB\nVmRSS:\t  675324 kB\nRssAnon:\t  646416 kB\n"
        #expect(ResidentMemory.statusField("VmRSS:", in: status) == 675_324 * 1024)
        #expect(ResidentMemory.statusField("VmHWM:", in: status) == 1_539_464 * 1024)
        #expect(ResidentMemory.statusField("VmSwap:", in: status) == nil)
        // this process: the live fields are read (not the getrusage fallback), and the current set is at most the peak
        #expect(ResidentMemory.statusField("VmRSS:") != nil && ResidentMemory.statusField("VmHWM:") != nil)
        #expect(ResidentMemory.currentBytes <= ResidentMemory.peakBytes)
    }

    @Test func aTinyBudgetIsRefusedWithTheEstimate() throws {
        let s = Session()
        for line in [Self.blockap + " memory=1M", "e2eqp (quantize tiny method=rtn bits=4 group=32) samples=8 val=2 seqlen=32 memory=1M",
                     "qfa train tiny base=rtn steps=2 samples=8 val=2 seqlen=32 memory=1M"] {
            let e = try #require(s.error(line))
            #expect(e.description.contains("needs an estimated"), "\(e)")
            #expect(e.description.contains("more than memory=1.0 MiB") && e.description.contains("activations"), "\(e)")
            #expect(!s.output.contains("block 0/"), "training started: \(s.output)")
        }
        #expect(s.error(Self.blockap + " memory=lots")?.description.contains("not a size") == true)
    }

    @Test func aBigBudgetRunsAndThePeakIsRecorded() throws {
        let dir = try ScratchDir("memory")
        let s = Session()
        try s.run(Self.blockap + " memory=8G out=\"\(dir.sub("bap"))\"")
        let summary = try #require(s.lines.last { $0.hasPrefix("blockap ") })
        let peak = try #require(summary.split(separator: " ").first { $0.hasPrefix("peak_rss_mb=") }.flatMap { Double($0.dropFirst(12)) })
        #expect(peak > 1 && peak < 100_000)
        let log = try HDF5File.open(path: dir.sub("bap.work/train_log.h5"))
        guard case .double(let logged)? = try log.attribute("peak_rss_mb", on: "/blockap") else {
            Issue.record("train_log.h5 has no /blockap peak_rss_mb attribute"); return
        }
        #expect(logged > 1)
        // the estimate is the process now plus what the run adds, so it is never below the resident set
        let model = try ModelLoader.load("tiny").model
        let e = MemoryEstimator.blockAP(model: model, windows: 6, seqlen: 32, batch: 2, evalBatch: 4, half: false)
        #expect(e.total >= ResidentMemory.currentBytes)
    }
}
