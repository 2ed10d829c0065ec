// `quantize smollm2 format=F` then `export format=gguf`, tensor by tensor against llama.cpp's own
// model quantizer on the same weights. The golden (Golden/llamacpp_quantize.json) is llama.cpp's
// result, recorded by Tests/Oracles/llamacpp_quantize_check.py --golden: it ran
// `llama_model_quantize` (llama-cpp-python 0.3.36, no importance matrix, `pure`) on QATLab's F32
// export of the installed SmolLM2 and stored, for every blk.* linear, llama.cpp's ggml type (its
// fallback where the input size is not whole super-blocks) and the FNV-1a-64-over-words sum of its
// bytes. This test needs no Python: it quantizes the same model and compares types and sums.
import Foundation
import QATIO
import QATModel
import QATQuant
import QATTensor
import Testing

private let goldenPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Golden/llamacpp_quantize.json").path

/// type name -> tensor name -> (ggml type, checksum hex), as llama.cpp wrote them.
private func llamaCppGolden() throws -> [String: [String: (type: String, sum: String)]] {
    let data = try Data(contentsOf: URL(fileURLWithPath: goldenPath))
    guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let types = root["types"] as? [String: [String: [String]]] else {
        throw FormatError(file: goldenPath, "expected {\"types\": {FORMAT: {TENSOR: [TYPE, SUM]}}}; re-create it with Tests/Oracles/llamacpp_quantize_check.py --golden")
    }
    return types.mapValues { tensors in
        tensors.compactMapValues { pair in pair.count == 2 ? (pair[0], pair[1]) : nil }
    }
}

@Suite(.enabled(if: (try? ModelLoader.resolve("smollm2")) != nil, "skipped: SmolLM2 is not installed (bash setup.sh)"))
struct LlamaCppQuantizeGoldenTests {
    @Test(arguments: ["q2_k", "q3_k", "q4_k", "q6_k", "q5_1"])
    func everyLinearHasLlamaCppsBytes(_ format: String) throws {
        let golden = try #require(try llamaCppGolden()[format], "no \(format) in \(goldenPath)")
        #expect(golden.count == 210, "SmolLM2 has 30 blocks x 7 linears")
        let loaded = try ModelLoader.load("smollm2")
        _ = try GGMLQuantization.apply(to: loaded.model, format: try GGMLFormats.named(format))
        let tmp = try ScratchDir(), path = tmp.sub("q.gguf")
        var options = GGUFExportOptions()
        options.floatType = .f32
        _ = try GGUFExport.write(loaded.model, tokenizer: loaded.tokenizer, tokenizerSource: nil, to: path, options: options)
        let file = try GGUFFile(path: path)
        var identical = 0
        for (name, expected) in golden {
            let info = try #require(file.info(named: name), "\(name) missing from QATLab's export")
            let sum = Checksums.hex(fnv1a64w(try file.storedBytes(info)))
            #expect(info.type.name == expected.type, "\(name): QATLab \(info.type.name), llama.cpp \(expected.type)")
            #expect(sum == expected.sum, "\(name) (\(expected.type)): bytes differ from llama.cpp's")
            if info.type.name == expected.type && sum == expected.sum { identical += 1 }
        }
        #expect(identical == golden.count)
    }
}
