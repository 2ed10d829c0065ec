// The GGUF export against llama.cpp's own Python package: Tests/Oracles/gguf_check.py reads each
// exported file with gguf.GGUFReader, dequantizes every tensor with gguf.quants.dequantize, and
// compares it, tensor by tensor, with QATLab's dequantized F32 export of the same model (`export
// format=fp`, Hugging Face order, which the oracle permutes for llama q/k as llama.cpp's converter
// does). Its tolerances are in its header: F32 bit for bit, F16/BF16 the rounded value, block types
// the fp16 budget of d and m.
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor
import Testing

/// python3 with numpy and the `gguf` package that setup.sh unpacks into Tests/Oracles/.deps.
enum GGUFOracle {
    static let available: Bool = {
        guard let python = PythonOracle.python,
              let r = try? PythonOracle.run(python, ["-c", "import sys; sys.path.insert(0, '\(PythonOracle.oracles)/.deps'); import gguf, yaml"])
        else { return false }
        return r.0 == 0
    }()
}

@Suite(.enabled(if: GGUFOracle.available, "python3 with numpy, pyyaml and the gguf package (Tests/Oracles/.deps) is missing: run `bash setup.sh`"))
struct GGUFExportOracleTests {
    typealias F = GGUFExportFixtures

    struct Case: Sendable, CustomTestStringConvertible {
        let bits: Int, group: Int, zero: Float?
        var layout = RopeLayout.halfRotate, qwen2 = false, fp = "F32", rtn = false, convert = GGUFConvert.none
        var testDescription: String {
            "w\(bits)g\(group)\(zero.map { " z=\($0)" } ?? "")\(rtn ? " rtn" : "") \(qwen2 ? "qwen2" : "llama \(layout)") fp=\(fp) convert=\(convert.rawValue)"
        }
    }

    static let cases = [
        Case(bits: 4, group: 32, zero: nil, rtn: true),
        Case(bits: 4, group: 64, zero: nil, layout: .interleaved, fp: "F16"),
        Case(bits: 5, group: -1, zero: nil, fp: "BF16", rtn: true),
        Case(bits: 4, group: 32, zero: 8, qwen2: true),
        Case(bits: 5, group: 32, zero: 16),
        Case(bits: 8, group: 64, zero: 128, layout: .interleaved),
        Case(bits: 3, group: 32, zero: nil, convert: .nearest),
        Case(bits: 2, group: 64, zero: nil, rtn: true, convert: .f16),
    ]

    /// gguf_check.py on an exported file against QATLab's F32 export: exit status, failures and
    /// the per-tensor report.
    static func check(_ python: String, _ path: String, _ fp: String) throws -> (Int32, [String], [String: [String: Any]]) {
        let (status, out, err) = try PythonOracle.run(python, ["\(PythonOracle.oracles)/gguf_check.py", path, fp])
        let json = try JSONSerialization.jsonObject(with: out) as? [String: Any]
        let failures = json?["failures"] as? [String] ?? ["no JSON from the oracle: \(err.suffix(400))"]
        return (status, failures, json?["tensors"] as? [String: [String: Any]] ?? [:])
    }

    @Test(arguments: cases)
    func ggufPackageDequantizesLikeQATLab(_ c: Case) throws {
        let python = try #require(PythonOracle.python)
        let tmp = try ScratchDir(), path = tmp.sub("m.gguf"), fp = tmp.sub("fp")
        let model = try F.model(seed: 17, layout: c.layout, qwen2: c.qwen2, tied: c.qwen2, bias: c.qwen2)
        if c.rtn {
            for l in model.blocks.flatMap(\.linears) {
                l.quantizer = try HardQuantizer(roundToNearest(weight: l.weight.value, spec: QuantSpec(bits: c.bits, groupSize: c.group), range: .minMax))
            }
        } else {
            try F.quantizeExactly(model, bits: c.bits, group: c.group, zero: c.zero, seed: 8)
        }
        _ = try F.export(model, to: path, fp: try #require(GGMLType.named(c.fp)), convert: c.convert)
        try NativeCheckpoint.writeDequantized(model, to: fp, dtype: .F32)
        let (status, failures, tensors) = try Self.check(python, path, fp)
        #expect(status == 0 && failures.isEmpty, "\(failures.prefix(5))")
        let perBlock = c.qwen2 ? 12 : 9, top = c.qwen2 ? 2 : 3   // qwen2: tied, q/k/v biases; llama: untied
        #expect(tensors.count == top + 2 * perBlock, "every tensor was checked")
    }

    /// A model quantized in a llama.cpp format exports its own blocks; gguf reads their types and
    /// dequantizes them to QATLab's weights bit for bit. ffn 256: down_proj (256 inputs) takes the
    /// k-quant, the 64-input linears its fallback (q4_0 for q2_k/q3_k, q5_0 for q4_k).
    @Test(arguments: [("q2_k", "Q2_K", "Q4_0"), ("q3_k", "Q3_K", "Q4_0"), ("q4_k", "Q4_K", "Q5_0")])
    func formatBlocksDequantizeLikeQATLab(format: String, kType: String, fallbackType: String) throws {
        let python = try #require(PythonOracle.python)
        let tmp = try ScratchDir(), path = tmp.sub("m.gguf"), fp = tmp.sub("fp")
        let model = try TinyModels.model(seed: 23, vocab: 258, blocks: 2, ffn: 256, tied: true)
        try GGMLQuantization.apply(to: model, format: try GGMLFormats.named(format))
        _ = try F.export(model, to: path)
        #expect(try F.linearTypes(path) == [kType, fallbackType])
        try NativeCheckpoint.writeDequantized(model, to: fp, dtype: .F32)
        let (status, failures, tensors) = try Self.check(python, path, fp)
        #expect(status == 0 && failures.isEmpty, "\(failures.prefix(5))")
        #expect(tensors.values.filter { ($0["type"] as? String) == fallbackType }.count == 12, "six fallback linears per block")
    }

    /// Blocks a format-trained linear stores (GGMLTrainQuantizer with its scales moved off RTN,
    /// as Block-AP moves them, then hardened) export as they are, and the gguf package decodes
    /// them to QATLab's weights: q2_k, q3_k and q6_k need whole super-blocks (hidden 256, MLP 512).
    @Test(arguments: ["q2_k", "q3_k", "q4_k", "q6_k"])
    func formatTrainedBlocksDequantizeLikeQATLab(_ name: String) throws {
        let python = try #require(PythonOracle.python)
        let tmp = try ScratchDir(), path = tmp.sub("m.gguf"), fp = tmp.sub("fp")
        let model = try TinyModels.model(seed: 23, vocab: 258, blocks: 1, ffn: 512, tied: true, hidden: 256)
        let format = try GGMLFormats.named(name)
        for l in model.blocks.flatMap(\.linears) {
            let t = try GGMLTrainQuantizer(weight: l.weight.value, format: format)
            let s = t.scales.value.data
            for i in 0..<t.scales.value.count { s[i] *= 1 + 0.2 * Float(i % 5 - 2) }
            l.quantizer = try t.harden(weight: l.weight.value)
        }
        _ = try F.export(model, to: path)
        try NativeCheckpoint.writeDequantized(model, to: fp, dtype: .F32)
        #expect(try F.linearTypes(path) == [format.type.name])
        let (status, failures, tensors) = try Self.check(python, path, fp)
        #expect(failures.isEmpty && status == 0, "\(failures.prefix(5))")
        #expect(tensors.count == 2 + 9, "every tensor was checked (tied: embedding, final norm, one block)")
    }
}
