// quantize MODEL format=F: the summary counts what was installed (formats per linear, avg_bits
// derived here by hand), llama.cpp's fallback covers rows that are not whole super-blocks (q5_0
// for q4_k, q4_0 for q2_k and q3_k, exported byte for byte), and
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

    /// A model in a llama.cpp format exports its own blocks: attn_v (no RoPE permutation) is
    /// stored as the quantizer's bytes, byte for byte, and the re-loaded GGUF gives the same
    /// perplexity up to float rounding (1e-6 relative: a GGUF model applies RoPE in llama.cpp's
    /// interleaved layout to permuted q/k rows, which rounds differently from rotate-half).
    @Test func aFormatModelExportsItsOwnBlocks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-fmt-export-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("q4_0.gguf").path
        let s = Session()
        try s.run("q = quantize tiny format=q4_0")
        try s.run("export q format=gguf out=\(file)")
        guard case .object(let o)? = s.interp.variables["q"], let m = o as? ModelObject,
              let v = m.model.blocks.first?.linears.first(where: { $0.name.hasSuffix("v_proj") }),
              let q = v.quantizer as? GGMLQuantizer else {
            Issue.record("q is not a model with a q4_0 v_proj"); return
        }
        let gguf = try GGUFFile(path: file)
        let info = try #require(gguf.info(named: "blk.0.attn_v.weight"))
        #expect(info.type.name == "Q4_0")
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect([UInt8](data[info.offset ..< info.offset + info.byteCount]) == q.bytes)
        guard case .number(let before) = try s.run("ppl q devil ctx=64 max_windows=2"),
              case .number(let after) = try s.run("ppl (load \(file)) devil ctx=64 max_windows=2") else {
            Issue.record("ppl did not return numbers"); return
        }
        #expect(abs(after / before - 1) < 1e-6, "\(before) vs \(after)")
    }

    /// q2_k and q3_k on tiny: 128-input linears in llama.cpp's q4_0 fallback (4.5 bits), down_proj
    /// (256 inputs) in the k-quant. avg_bits by hand per block: (114,688 * 4.5 + 32,768 * b) / 147,456
    /// = 4.0833 for q2_k (b = 2.625), 4.2639 for q3_k (b = 3.4375). The exported file stores both
    /// types as the quantizers' bytes, byte for byte, and re-loads to the same perplexity (1e-6
    /// relative, as for q4_0 above).
    @Test(arguments: [("q2_k", "Q2_K", "4.083"), ("q3_k", "Q3_K", "4.264")])
    func lowBitKQuantsFallBackToQ4_0AndExportBothTypes(format: String, type: String, bits: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-iq4nl-export-\(getpid())-\(format)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("\(format).gguf").path
        let s = Session()
        try s.run("q = quantize tiny format=\(format)")
        #expect(QuantizeVerbTests.field("linears", in: s.lines) == "q4_0:24,\(format):4")
        #expect(QuantizeVerbTests.field("avg_bits", in: s.lines) == bits)
        try s.run("export q format=gguf out=\(file)")
        guard case .object(let o)? = s.interp.variables["q"], let m = o as? ModelObject, let block = m.model.blocks.first else {
            Issue.record("q is not a model"); return
        }
        let gguf = try GGUFFile(path: file)
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        for (tensor, linear, want) in [("blk.0.attn_v.weight", "v_proj", "Q4_0"), ("blk.0.ffn_down.weight", "down_proj", type)] {
            let info = try #require(gguf.info(named: tensor))
            let q = try #require(block.linears.first(where: { $0.name.hasSuffix(linear) })?.quantizer as? GGMLQuantizer)
            #expect(info.type.name == want)
            #expect([UInt8](data[info.offset ..< info.offset + info.byteCount]) == q.bytes, "\(tensor)")
        }
        guard case .number(let before) = try s.run("ppl q devil ctx=64 max_windows=2"),
              case .number(let after) = try s.run("ppl (load \(file)) devil ctx=64 max_windows=2") else {
            Issue.record("ppl did not return numbers"); return
        }
        #expect(abs(after / before - 1) < 1e-6, "\(before) vs \(after)")
    }

    @Test func refusals() throws {
        let s = Session()
        for bad in ["quantize tiny format=q4_0 bits=3", "quantize tiny format=q4_0 policy=w4g32", "quantize tiny method=awq format=q4_0 group=32",
                    "quantize tiny method=rtn0 format=q4_0", "quantize tiny method=gptq format=q8_0"] {
            #expect(s.error(bad) != nil, "\(bad)")
        }
        #expect(s.error("quantize tiny format=q7_k") != nil)
        // q6_k's fallback for tiny's 128-input linears is q8_0, which GPTQ has no codes for
        let q6 = try #require(s.error("quantize tiny method=gptq format=q6_k samples=2 seqlen=16"))
        #expect(q6.message.contains("q8_0"), "\(q6.message)")
    }

    /// GPTQ and AWQ in a k-quant: the same plan as RTN (128-input linears in the q4_0 fallback,
    /// down_proj in the k-quant), counted from what was installed.
    @Test(arguments: ["gptq", "awq"])
    func calibratedMethodsQuantizeInAKQuant(method: String) throws {
        let s = Session()
        try s.run("q = quantize tiny method=\(method) format=q2_k samples=4 seqlen=32")
        #expect(QuantizeVerbTests.field("linears", in: s.lines) == "q4_0:24,q2_k:4")
        #expect(QuantizeVerbTests.field("avg_bits", in: s.lines) == "4.083")
    }
}

extension GGMLFormatVerbTests {
    /// e2eqp on a model object in a format trains a copy (the object keeps its bytes), the copy
    /// stays in the format with moved fp16 fields, and out= is refused before any training.
    @Test func e2eqpOnAFormatObjectTrainsACopyInTheFormat() throws {
        let s = Session()
        try s.run("q = quantize tiny format=q4_1")
        func blocks(_ name: String) throws -> [GGMLQuantizer] {
            guard case .object(let o)? = s.interp.variables[name], let m = o as? ModelObject else { throw InterpError.verb("no \(name)", hint: "") }
            return m.model.blocks.flatMap(\.linears).compactMap { $0.quantizer as? GGMLQuantizer }
        }
        let before = try blocks("q").map(\.bytes)
        try s.run("e = e2eqp q samples=8 seqlen=32 max_steps=2 batch=1 accum=1 lr=1e-4 zeros=1")
        #expect(try blocks("q").map(\.bytes) == before, "the object is not changed")
        let trained = try blocks("e")
        #expect(trained.count == 28 && trained.allSatisfy { $0.format == .q4_1 })
        #expect(trained.map(\.bytes) != before)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("qat-e2e-format-\(getpid())").path
        let refused = try #require(s.error("e2eqp q samples=8 seqlen=32 max_steps=1 out=\(out)"))
        #expect(refused.message.contains("export format=gguf"), "\(refused.message)")
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".work"), "nothing written")
    }
}
