// `export format=gguf` (GGUFExport.swift): round trips through QATLab's own GGUF loader, the
// stated tolerance of the exact types, convert=, and bad input. The independent check with the
// `gguf` package is GGUFExportOracleTests.
//
// Tolerance of the exact types: a block stores d = fp16(s) and m = fp16(-s*z). When s has at most
// 6 significant bits and z is an integer of at most 5 bits, d and m are fp16 values and every
// product and sum of the decoding is exact in fp32, so the reloaded weights and logits equal
// QATLab's bit for bit (`exactParameters`). With any fp32 s (RTN's) each weight moves by at most
// 2^-11 (1 + 2^-10) (q |s| + |s z|) plus fp32 rounding (`fp32ScalesStayInsideTheBudget`).
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor
import QATTokenizer
import Testing

enum GGUFExportFixtures {
    /// A 258-token model (the byte tokenizer's vocabulary), llama or qwen2.
    static func model(seed: UInt64, layout: RopeLayout = .interleaved, qwen2: Bool = false, tied: Bool = true,
                      bias: Bool = false) throws -> LlamaModel {
        let m = try TinyModels.model(seed: seed, vocab: 258, blocks: 2, ffn: 96, tied: tied, bias: bias || qwen2,
                                     layout: qwen2 ? .halfRotate : layout)
        guard qwen2 else { return m }
        var c = m.config
        c.architecture = ModelArchitecture.qwen2.name
        return try LlamaModel(config: c, ropeLayout: .halfRotate, embedding: m.embedding.value, blocks: m.blocks,
                              finalNorm: m.finalNorm.value, lmHead: m.lmHead?.value, source: m.source)
    }

    /// HardQuantizers whose d = s and m = -s*z are fp16 values (s = k/1024, k < 64; integer z),
    /// so every exact type decodes to QATLab's weight bit for bit. `zero` fixes every zero;
    /// `halfZeros` draws zeros in steps of 1/2 (E2E-QP's fractional zeros; s*z stays fp16-exact).
    static func quantizeExactly(_ model: LlamaModel, bits: Int, group: Int, zero: Float? = nil, halfZeros: Bool = false,
                                seed: UInt64) throws {
        var d = Draw(seed: seed)
        let spec = try QuantSpec(bits: bits, groupSize: group)
        for (b, block) in model.blocks.enumerated() {
            for l in block.linears {
                let groups = spec.groupCount(inFeatures: l.inFeatures), n = l.outFeatures * groups
                let codes = (0..<(l.outFeatures * l.inFeatures)).map { _ in UInt8(d.int(spec.qmax + 1)) }
                let scales = (0..<n).map { _ in Float(16 + d.int(48)) / 1024 }
                let zeros = (0..<n).map { _ in zero ?? (halfZeros ? Float(d.int(2 * spec.qmax + 1)) / 2 : Float(d.int(spec.qmax + 1))) }
                let qw = try QuantizedWeight(spec: spec, rows: l.outFeatures, cols: l.inFeatures, codes: codes, scales: scales, zeros: zeros)
                l.quantizer = try HardQuantizer(qw, name: "blocks.\(b).\(l.name)")
            }
        }
    }

    static func export(_ model: LlamaModel, to path: String, fp: GGMLType = .f32, convert: GGUFConvert = .none,
                       overwrite: Bool = false) throws -> GGUFExportReport {
        var o = GGUFExportOptions()
        o.floatType = fp; o.convert = convert; o.overwrite = overwrite
        return try GGUFExport.write(model, tokenizer: ByteTokenizer(addBOS: true), tokenizerSource: nil, to: path, options: o)
    }

    static let tokens: [Int32] = (0..<24).map { Int32(($0 * 37 + 5) % 258) }

    static func linearTypes(_ path: String) throws -> Set<String> {
        let f = try GGUFFile(path: path)
        return Set(f.tensors.filter { $0.name.hasPrefix("blk.") && $0.name.hasSuffix(".weight") && !$0.name.contains("norm") }.map(\.type.name))
    }
}

@Suite struct GGUFExportTests {
    typealias F = GGUFExportFixtures

    struct Case: Sendable, CustomTestStringConvertible {
        let bits: Int, group: Int, zero: Float?, type: String
        var fp: String = "F32"
        var halfZeros = false
        var testDescription: String { "w\(bits)g\(group)\(zero.map { " z=\($0)" } ?? "")\(halfZeros ? " fractional z" : "") -> \(type) fp=\(fp)" }
    }

    static let exactCases = [
        Case(bits: 4, group: 32, zero: nil, type: "Q4_1"),
        Case(bits: 4, group: -1, zero: nil, type: "Q4_1", fp: "F16"),
        Case(bits: 5, group: 64, zero: nil, type: "Q5_1", fp: "BF16"),
        Case(bits: 4, group: 64, zero: 8, type: "Q4_0"),
        Case(bits: 5, group: 32, zero: 16, type: "Q5_0"),
        Case(bits: 8, group: 32, zero: 128, type: "Q8_0"),
        Case(bits: 4, group: 64, zero: nil, type: "Q4_1", halfZeros: true),
    ]

    /// Exported, reloaded with ModelLoader: the linears are the expected type and the logits equal
    /// QATLab's bit for bit (fp=F32), or equal those of the model whose float tensors were rounded
    /// like the file's (F16/BF16 embedding: checked through the embedding itself).
    @Test(arguments: exactCases)
    func exactParameters(_ c: Case) throws {
        let tmp = try ScratchDir(), path = tmp.sub("m.gguf")
        let model = try F.model(seed: 11)
        try F.quantizeExactly(model, bits: c.bits, group: c.group, zero: c.zero, halfZeros: c.halfZeros, seed: 5)
        #expect(model.blocks[0].linears.allSatisfy { ($0.quantizer as? HardQuantizer)?.fractionalZeros == c.halfZeros })
        let fp = try #require(GGMLType.named(c.fp))
        let report = try F.export(model, to: path, fp: fp)
        #expect(try F.linearTypes(path) == [c.type])
        #expect(report.tensors.filter { $0.how == "exact" }.allSatisfy { $0.maxAbsDiff == 0 })
        let back = try ModelLoader.load(path)
        if fp == .f32 {
            #expect(try back.model.logits(F.tokens).toArray().map(\.bitPattern) == model.logits(F.tokens).toArray().map(\.bitPattern))
        } else {
            let rounded = model.embedding.value.toArray().map { fp == .f16 ? HalfFloat.float(fromHalf: HalfFloat.half(from: $0))
                                                                              : HalfFloat.float(fromBFloat16: HalfFloat.bfloat16(from: $0)) }
            #expect(back.model.embedding.value.toArray() == rounded)
        }
    }

    /// RTN (fp32 scales): every reloaded weight within the fp16 budget of d and m; logits close.
    /// Every other linear carries Block-AP's FakeQuantizer (the same min/max start), which the
    /// export hardens to the same codes.
    @Test func fp32ScalesStayInsideTheBudget() throws {
        let tmp = try ScratchDir(), path = tmp.sub("rtn.gguf")
        let model = try F.model(seed: 3)
        var budgetRatio: Float = 0
        var weights: [String: (Tensor, Tensor)] = [:]   // module -> (QATLab weight, per-element budget)
        for (b, block) in model.blocks.enumerated() {
            for l in block.linears {
                let spec = try QuantSpec(bits: 4, groupSize: 32)
                let qw = try roundToNearest(weight: l.weight.value, spec: spec, range: .minMax)
                l.quantizer = l.name.hasSuffix("_proj") && (b + l.name.count) % 2 == 0
                    ? try FakeQuantizer(weight: l.weight.value, spec: spec) : try HardQuantizer(qw)
                let budget = Tensor(uninitialized: [qw.rows, qw.cols])
                for o in 0..<qw.rows {
                    for i in 0..<qw.cols {
                        let g = o * qw.groupCount + qw.group(ofColumn: i), w = abs((Float(qw.codes[o * qw.cols + i]) - qw.zeros[g]) * qw.scales[g])
                        budget.data[o * qw.cols + i] = 0x1.002p-11 * (Float(qw.codes[o * qw.cols + i]) * abs(qw.scales[g]) + abs(qw.scales[g] * qw.zeros[g]))
                            + 0x1p-23 * w + 0x1p-24
                    }
                }
                weights["blocks.\(b).\(l.name)"] = (qw.dequantized(), budget)
            }
        }
        _ = try F.export(model, to: path)
        let file = try GGUFFile(path: path)
        let names = ["q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
                     "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"]
        for (b, block) in model.blocks.enumerated() {
            for l in block.linears {
                let got = try file.tensor(named: "blk.\(b).\(names[l.name] ?? "").weight")
                let (want, budget) = try #require(weights["blocks.\(b).\(l.name)"])
                for i in 0..<want.count { budgetRatio = max(budgetRatio, abs(got.data[i] - want.data[i]) / budget.data[i]) }
            }
        }
        #expect(budgetRatio <= 1, "worst |w_gguf - w_qat| / budget = \(budgetRatio)")
        #expect(budgetRatio > 0, "fp32 scales must use part of the budget, or this test checks nothing")
        let a = try model.logits(F.tokens).toArray(), b = try ModelLoader.load(path).model.logits(F.tokens).toArray()
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-3, "max |logit difference| \(worst)")
    }

    /// A model in rotate-half order (from a Hugging Face directory) is permuted into llama.cpp's
    /// interleaved q/k rows; qwen2 keeps rotate-half (with its biases). Both reload to the same function.
    @Test(arguments: [(RopeLayout.halfRotate, false), (.interleaved, true)])
    func ropeOrderAndArchitecture(_ layout: RopeLayout, _ qwen2: Bool) throws {
        let tmp = try ScratchDir(), path = tmp.sub("m.gguf")
        let model = try F.model(seed: 21, layout: layout, qwen2: qwen2, tied: false, bias: true)
        try F.quantizeExactly(model, bits: 4, group: 32, seed: 9)
        _ = try F.export(model, to: path)
        let file = try GGUFFile(path: path)
        #expect(file.metadata["general.architecture"]?.string == (qwen2 ? "qwen2" : "llama"))
        #expect(file.info(named: "output.weight") != nil && file.info(named: "blk.1.attn_k.bias") != nil)
        let back = try ModelLoader.load(path)
        #expect(back.model.blockShape.ropeLayout == (qwen2 ? .halfRotate : .interleaved))
        let a = try model.logits(F.tokens).toArray(), b = try back.model.logits(F.tokens).toArray()
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4, "max |logit difference| \(worst)")
    }

    /// The byte tokenizer is rebuilt as a merge-free gpt2 vocabulary that gives the same ids.
    @Test func byteTokenizerRoundTrip() throws {
        let tmp = try ScratchDir(), path = tmp.sub("m.gguf")
        _ = try F.export(try F.model(seed: 1), to: path)
        let back = try ModelLoader.load(path).tokenizer
        let text = "Héllo, GGUF!\n\t€ 123"
        #expect(back.encode(text, addSpecial: true, parseSpecial: false) == ByteTokenizer(addBOS: true).encode(text, addSpecial: true, parseSpecial: false))
    }

    /// 2-bit weights: refused by default (naming the linear and convert=), F16 or Q4_1 on request.
    @Test func lowBitNeedsConvert() throws {
        let tmp = try ScratchDir(), path = tmp.sub("w2.gguf")
        let model = try F.model(seed: 4)
        try F.quantizeExactly(model, bits: 2, group: 64, seed: 2)
        #expect {
            try F.export(model, to: path)
        } throws: { "\($0)".contains("blocks.0.q_proj is w2g64") && "\($0)".contains("convert=f16") && "\($0)".contains("convert=nearest") }
        #expect(!FileManager.default.fileExists(atPath: path))
        for (convert, type) in [(GGUFConvert.f16, "F16"), (.nearest, "Q4_1")] {
            _ = try F.export(model, to: path, convert: convert, overwrite: true)
            #expect(try F.linearTypes(path) == [type])
            let a = try model.logits(F.tokens).toArray(), b = try ModelLoader.load(path).model.logits(F.tokens).toArray()
            // Q4_1 holds the 2-bit codes exactly; F16 holds k/1024 * (q - z) exactly (at most 8 significant bits)
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "convert=\(convert.rawValue)")
        }
    }

    /// convert=kquant: a 2-bit linear whose rows are whole 256-column super-blocks (down_proj, ffn
    /// 256) becomes Q2_K, its weight re-quantized by llama.cpp's reference quantizer (GGMLFormats'
    /// q2_k, byte for byte llama.cpp's in LlamaCppQuantizeGoldenTests); the 64-column linears keep
    /// nearest's exact Q4_1. The report measures the re-quantization error; the file loads back.
    @Test func kquantRequantizesWholeSuperBlocks() throws {
        let tmp = try ScratchDir(), path = tmp.sub("w2k.gguf")
        let model = try TinyModels.model(seed: 4, vocab: 258, blocks: 2, ffn: 256, tied: true, bias: false, layout: .interleaved)
        try F.quantizeExactly(model, bits: 2, group: 64, seed: 2)
        let report = try F.export(model, to: path, convert: .kquant)
        #expect(try F.linearTypes(path) == ["Q2_K", "Q4_1"])
        let file = try GGUFFile(path: path), q2k = try GGMLFormats.named("q2_k")
        for (b, block) in model.blocks.enumerated() {
            let down = try #require(file.info(named: "blk.\(b).ffn_down.weight"))
            let expected = try q2k.quantize(try noGrad { try block.down.effectiveWeight().value })
            let stored = Array(try file.storedBytes(down))
            #expect(down.type.name == "Q2_K" && stored == expected, "blk.\(b).ffn_down")
        }
        let linears = report.tensors.filter { $0.name.hasPrefix("blk.") && ($0.type.name == "Q2_K" || $0.type.name == "Q4_1") }
        #expect(linears.count == 14)
        for t in linears {
            // Q4_1 holds the codes exactly; Q2_K's re-quantization moves every tensor, by less than its weights' RMS
            if t.type.name == "Q4_1" { #expect(t.maxAbsDiff == 0 && t.how.hasPrefix("nearest"), "\(t.name)") }
            else { #expect(t.maxAbsDiff > 0 && t.sqDiff < t.sqWeight && t.how.hasPrefix("kquant"), "\(t.name): \(t.sqDiff) vs \(t.sqWeight)") }
        }
        let logits = try ModelLoader.load(path).model.logits(F.tokens).toArray()
        #expect(logits.count == F.tokens.count * 258 && logits.allSatisfy(\.isFinite))
    }

    /// Bad input: a clear error, and nothing at the path (no temporary left behind either).
    @Test func badInputWritesNothing() throws {
        let tmp = try ScratchDir()
        // a group that splits 32-column blocks
        let odd = try F.model(seed: 6)
        try F.quantizeExactly(odd, bits: 4, group: 48, seed: 1)
        #expect { try F.export(odd, to: tmp.sub("g48.gguf")) } throws: { "\($0)".contains("groups of 48") && "\($0)".contains("multiple of 32") }
        // an architecture llama.cpp's llama/qwen2 loaders would run differently
        let m = try F.model(seed: 6)
        var c = m.config
        c.architecture = ModelArchitecture.mistral.name
        let mistral = try LlamaModel(config: c, ropeLayout: m.blockShape.ropeLayout, embedding: m.embedding.value, blocks: m.blocks,
                                     finalNorm: m.finalNorm.value, lmHead: nil, source: "test")
        #expect { try F.export(mistral, to: tmp.sub("mistral.gguf")) } throws: { "\($0)".contains("MistralForCausalLM cannot be exported") }
        // an existing file is kept unless overwrite
        let existing = tmp.sub("existing.gguf")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: existing))
        #expect { try F.export(m, to: existing) } throws: { "\($0)".contains("overwrite=1") }
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep me")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted() == ["existing.gguf"])
        _ = try F.export(m, to: existing, overwrite: true)
        #expect(try GGUFFile(path: existing).tensors.count == 2 * 9 + 2)
    }
}
