// Checkpoint seeds for the checkpoint targets (compiled into the native, gptq and blockap targets
// only, together with Tests/QATTrainTests/TinyQuantizedModel.swift, the model they write).
#if canImport(Glibc)
import Glibc
#endif

/// Writes a checkpoint with `write` into a scratch directory and returns its files' bytes.
func checkpointFiles(_ names: [String], _ write: (String) throws -> Void) -> [[UInt8]] {
    let dir = scratchDir + "/seed-ckpt"
    removeTree(dir)
    do { try write(dir) } catch { fputs("fuzz seeds: \(error)\n", stderr); return [] }
    return names.map { readFile("\(dir)/\($0)") }
}
