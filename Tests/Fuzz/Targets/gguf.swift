// Fuzz target `gguf`: GGUFFile (header, metadata of every value type, tensor infos, offsets) and
// the dequantization of every tensor small enough to decode in a fuzz iteration.
// Seeds: the golden GGUF files of the QATIO tests (every ggml type QATLab decodes, SmolLM2 rows)
// and a file written by GGUFWriter holding every metadata value type and nested arrays.
import QATIO

func fuzzOne(_ data: [UInt8]) {
    let path = scratchDir + "/in.gguf"
    writeFile(path, data)
    guard let f = try? GGUFFile(path: path) else { return }
    for key in f.metadataKeys { _ = f.metadata[key]?.double; _ = f.metadata[key]?.strings }
    for t in f.tensors where t.elementCount <= 1 << 18 {
        _ = try? f.tensor(named: t.name)
    }
}

func makeSeeds(into dir: String) {
    for name in ["gguf_types.gguf", "smollm2_rows.gguf"] {
        writeFile("\(dir)/\(name)", readFile("\(repoRoot)/Tests/QATIOTests/Golden/\(name)"))
    }
    var w = GGUFWriter(version: 3)
    w.set("general.architecture", .string("llama"))
    w.set("general.alignment", .uint32(64))
    w.set("u8", .uint8(7)); w.set("i8", .int8(-7)); w.set("u16", .uint16(700)); w.set("i16", .int16(-700))
    w.set("u32", .uint32(70000)); w.set("i32", .int32(-70000)); w.set("f32", .float32(1.5)); w.set("b", .bool(true))
    w.set("u64", .uint64(1 << 40)); w.set("i64", .int64(-(1 << 40))); w.set("f64", .float64(2.25))
    w.set("strs", .array([.string("a"), .string("bc")]))
    w.set("nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
    try? w.addTensor(name: "w", shape: [2, 32], values: (0..<64).map { Float($0) / 8 }, as: .f32)
    try? w.addTensor(name: "h", shape: [1, 32], values: (0..<32).map { Float($0) }, as: .f16)
    if let bytes = try? w.serialized() { writeFile("\(dir)/writer.gguf", bytes) }
}
