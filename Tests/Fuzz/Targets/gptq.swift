// Fuzz target `gptq`: GPTQCheckpoint.read (the GPTQ importer: quantization_config, packed
// qweight / qzeros / scales / g_idx of both checkpoint formats) over a directory of config.json,
// quantize_config.json and model.safetensors (the input holds the three, split at partMarker).
// Seeds: the tiny model exported by GPTQCheckpoint.write as gptq (v1) and gptq_v2.
import QATIO
import QATQuant

let files = ["config.json", "quantize_config.json", "model.safetensors"]

func fuzzOne(_ data: [UInt8]) {
    guard let c = try? GPTQCheckpoint.read(writeCheckpointDirectory(data, files: files)) else { return }
    _ = c.quantized.count
}

func makeSeeds(into dir: String) {
    guard let model = try? tinyQuantizedModel() else { return }
    for format in [GPTQFormat.v1, .v2] {
        let parts = checkpointFiles(files) { try GPTQCheckpoint.write(model, to: $0, format: format) }
        if parts.count == files.count { writeFile("\(dir)/tiny_\(format)", joinParts(parts)) }
    }
}
