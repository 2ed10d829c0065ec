// quantize MODEL format=F: the summary counts what was installed (formats per linear, avg_bits
// derived here by hand), llama.cpp's fallback covers rows that are not whole super-blocks, and
// what a format cannot do is refused before the model changes.
import Foundation
import QATInterp
import QATIO
import QATQuant
import Testing

@testable import QATToolkit

@Suite struct GGMLFormatVerbTests {
    @Test func q4KOnTinyFallsBackToQ5_0AndCountsTheStoredBits() throws {
        let s = Session()
        try s.run("quantize tiny format=q4_k")
        // tiny: q/k/v/o/gate/up have 128 inputs (not whole 256-element super-blocks: llama.cpp's
        // q5_0 fallback, 5.5 bits), down_proj 256 inputs (q4_k, 4.5 bits); per block 114,688
        // weights at 5.5 and 32,768 at 4.5: 778,240 / 147,456 = 5.2777...
        #expect(QuantizeVerbTests.field("linears", in: s.lines) == "q5_0:24,q4_k:4")
        #expect(QuantizeVerbTests.field("avg_bits", in: s.lines) == "5.278")
        #expect(QuantizeVerbTests.field("format", in: s.lines) == "q4_k")
    }

    @Test func q4_0CoversEveryLinear() throws {
        let s = Session()
        try s.run("quantize tiny format=q4_0")
        #expect(QuantizeVerbTests.field("linears", in: s.lines) == "q4_0:28")
        #expect(QuantizeVerbTests.field("avg_bits", in: s.lines) == "4.500")
    }

    /// A model in a llama.cpp format exports its own blocks: the GGUF re-loads to the same
    /// weights bit for bit, so the same perplexity to the last digit (q/k rows go through
    /// llama.cpp's RoPE permutation and back). The type check catches an export that stores the
    /// same weights as floats instead.
    @Test func aFormatModelExportsItsOwnBlocks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-fmt-export-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("q4_0.gguf").path
        let s = Session()
        try s.run("q = quantize tiny format=q4_0")
        try s.run("export q format=gguf out=\(file)")
        let before = try s.run("ppl q devil ctx=64 max_windows=2")
        let after = try s.run("ppl (load \(file)) devil ctx=64 max_windows=2")
        #expect("\(before)" == "\(after)", "\(before) vs \(after)")
        let types = try GGUFFile(path: file).tensors.filter { $0.name.hasSuffix("attn_q.weight") }.map(\.type.name)
        #expect(!types.isEmpty && types.allSatisfy { $0 == "Q4_0" }, "\(types)")
    }

    @Test func refusals() throws {
        let s = Session()
        let noFallback = try #require(s.error("quantize tiny format=q2_k"))
        #expect(noFallback.message.contains("blocks.0.q_proj has 128 inputs"), "\(noFallback.message)")
        for bad in ["quantize tiny format=q4_0 bits=3", "quantize tiny format=q4_0 policy=w4g32", "quantize tiny method=gptq format=q4_0"] {
            #expect(s.error(bad) != nil, "\(bad)")
        }
        #expect(s.error("quantize tiny format=q7_k") != nil)
    }
}
