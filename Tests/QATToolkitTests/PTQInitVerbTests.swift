// blockap's and fullqat's init=: a PTQ start runs end to end from the command language, and the
// values that cannot start a run (an unknown name, a checkpoint of other bits, a method option
// with another start) stop it before any work with a message that names them.
import Foundation
import QATInterp
import Testing

@testable import QATToolkit

@Suite struct PTQInitVerbTests {
    static let small = "samples=4 seqlen=32 val=2"

    @Test func aGPTQStartRunsAndTheSummarySaysWhatWasKept() throws {
        let s = Session()
        try s.run("b = blockap tiny bits=3 group=32 init=gptq epochs=0 \(Self.small)")
        #expect(QuantizeVerbTests.field("init", in: s.lines) == "gptq")
        // epochs=0: nothing trained, every block keeps its GPTQ start
        #expect(QuantizeVerbTests.field("kept_start", in: s.lines) == "4")
        #expect(s.lines.filter { $0.hasSuffix("kept=start (validation windows)") }.count == 4)
        // a PTQ model is E2E-QP's and fullqat's start as it is (fullqat through init=)
        try s.run("e = e2eqp (quantize tiny method=gptq bits=3 group=32 samples=4 seqlen=32) max_steps=1 \(Self.small)")
        try s.run("f = fullqat tiny bits=3 group=32 init=awq search_windows=2 max_steps=1 \(Self.small)")
        #expect(s.lines.contains { $0.hasPrefix("fullqat spec=w3g32 steps=1") })
    }

    @Test func badStartsAreRefusedByName() throws {
        let s = Session()
        let e = try #require(s.error("blockap tiny init=nonsense \(Self.small)"))
        #expect(e.message.contains("init=nonsense is not a start: there is no method or directory called nonsense"), "\(e.message)")
        #expect(e.hint?.contains("init=minmax") == true)
        let o = try #require(s.error("blockap tiny init=minmax act_order=1 \(Self.small)"))
        #expect(o.message.contains("act_order= applies with init=gptq, not init=minmax"), "\(o.message)")
        let a = try #require(s.error("blockap tiny init=gptq act_order=1 \(Self.small)"))
        #expect(a.message.contains("act_order=1 gives GPTQ groups by column rank"), "\(a.message)")

        let dir = try ScratchDir("ptqinit")
        try s.run("quantize tiny method=rtn bits=4 group=32 out=\(dir.sub("q4"))")
        let b = try #require(s.error("blockap tiny bits=2 group=32 init=\(dir.sub("q4")) \(Self.small)"))
        #expect(b.message.contains("quantizes blocks.0.q_proj to w4g32, this run to w2g32; give bits=4 group=32"), "\(b.message)")
        // the same checkpoint at its own bits is a start
        try s.run("blockap tiny bits=4 group=32 init=\(dir.sub("q4")) epochs=0 \(Self.small)")
        #expect(QuantizeVerbTests.field("kept_start", in: s.lines) == "4")
    }
}
