// Fuzz target `safetensors`: an input starting with '{' is a sharded checkpoint's
// model.safetensors.index.json (beside two fixed valid shards); anything else is one
// .safetensors file, opened (header JSON, dtypes, shapes, offsets, overlaps, checksums) and every
// tensor read in each of its accessors.
// Seeds: the golden all-dtypes file, the first tensors of Data/tiny/model.safetensors rewritten
// by SafetensorsWriter (with checksums), and the golden sharded index.
import QATIO
import QATTensor

let shardDir: String = {
    let dir = scratchDir + "/sharded"
    makeDirectory(dir)
    for (k, name) in ["a", "b"].enumerated() {
        var w = SafetensorsWriter()
        try? w.add(name, Tensor(shape: [2, 2], [1, 2, 3, Float(k)]))
        try? w.write(to: "\(dir)/model-0000\(k + 1).safetensors")
    }
    return dir
}()

func fuzzOne(_ data: [UInt8]) {
    if data.first == UInt8(ascii: "{") {
        writeFile(shardDir + "/model.safetensors.index.json", data)
        guard let c = try? SafetensorsCheckpoint(directoryOrFile: shardDir) else { return }
        for n in c.names { _ = try? c.tensor(n) }
        return
    }
    let path = scratchDir + "/in.safetensors"
    writeFile(path, data)
    guard let f = try? SafetensorsFile(path: path) else { return }
    for n in f.names where (f.info(n)?.count ?? 0) <= 1 << 20 {
        _ = try? f.tensor(n)
        _ = try? f.int32s(n)
        _ = try? f.uint8s(n)
        _ = try? f.int8s(n)
    }
}

func makeSeeds(into dir: String) {
    writeFile(dir + "/alltypes.safetensors", readFile(repoRoot + "/Tests/QATIOTests/Golden/st_alltypes.safetensors"))
    writeFile(dir + "/index.json", readFile(repoRoot + "/Tests/QATIOTests/Golden/st_sharded/model.safetensors.index.json"))
    writeFile(dir + "/index2.json", #"{"metadata":{},"weight_map":{"a":"model-00001.safetensors","b":"model-00002.safetensors"}}"#)
    guard let tiny = try? SafetensorsFile(path: repoRoot + "/Data/tiny/model.safetensors") else { return }
    var w = SafetensorsWriter()
    w.metadata = ["format": "pt"]
    for n in tiny.names.prefix(6) where (tiny.info(n)?.count ?? 0) <= 4096 {
        if let t = try? tiny.tensor(n) { try? w.add(n, t, as: .F32) }
    }
    try? w.addUInt8("codes", shape: [2, 3], [0, 1, 2, 3, 4, 5])
    try? w.addInt32("g_idx", shape: [3], [0, 0, 1])
    try? w.write(to: dir + "/tiny_part.safetensors")
}
