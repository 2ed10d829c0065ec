// Fuzz target `native`: NativeCheckpoint.read over a directory of qatlab.json, config.json and
// model.safetensors (the input holds the three files, split at Support.swift's partMarker).
// Seeds: native checkpoints of a tiny RTN-quantized model written by NativeCheckpoint.write, and
// one with Data/tiny's config.json.
import QATIO
import QATQuant
#if canImport(Glibc)
import Glibc
#endif

let files = ["qatlab.json", "config.json", "model.safetensors"]

func fuzzOne(_ data: [UInt8]) {
    guard let c = try? NativeCheckpoint.read(writeCheckpointDirectory(data, files: files)) else { return }
    _ = c.quantized.count
}

func makeSeeds(into dir: String) {
    guard let model = try? tinyQuantizedModel() else { return }
    let parts = checkpointFiles(files) { try NativeCheckpoint.write(model, to: $0, method: "rtn", source: "fuzz-seed", metadata: ["k": "v"]) }
    guard parts.count == files.count else { return }
    writeFile(dir + "/native", joinParts(parts))
    let fp = checkpointFiles(["config.json", "model.safetensors"]) { try NativeCheckpoint.writeDequantized(model, to: $0) }
    if fp.count == 2 { writeFile(dir + "/native_fp", joinParts([Array(#"{"format":"qatlab","version":1,"method":"fp","source":"x","linears":{},"metadata":{}}"#.utf8), fp[0], fp[1]])) }
}
