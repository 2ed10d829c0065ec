// Shared by every fuzz target (compiled into each by Tests/Fuzz/run.sh, never by `swift build`).
//
// Each target file defines
//   fuzzOne(_ data: [UInt8])           the parse under test; a thrown error is a pass, a trap,
//                                      an ASan report, a leak or a hang is a finding
//   makeSeeds(into dir: String)        writes seed inputs built from real files (Data/tiny,
//                                      checkpoints written by QATLab's own writers, notebooks)
// and this file supplies the libFuzzer entry points around them:
//   LLVMFuzzerTestOneInput             calls fuzzOne
//   LLVMFuzzerInitialize               with QAT_FUZZ_SEEDS=DIR set, writes the seeds into DIR
//                                      and exits (run.sh does this once per corpus)
// Inputs that the parsers read from paths are written to a per-process scratch directory on
// /dev/shm (tmpfs, so a write per execution stays cheap).
#if canImport(Glibc)
import Glibc
#endif

/// The repository root (QAT_ROOT, set by run.sh; else the current directory).
let repoRoot: String = getenv("QAT_ROOT").map { String(cString: $0) } ?? "."

/// A scratch directory private to this process, created on first use.
let scratchDir: String = {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    var template = Array("\(base)/qatfuzz-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buf in buf.baseAddress.flatMap { mkdtemp($0) } }
    guard let p = made else {
        fputs("fuzz: cannot create a scratch directory under \(base)\n", stderr)
        exit(2)
    }
    let dir = String(cString: p)
    atexit { removeTree(scratchDir) }
    return dir
}()

/// Writes `bytes` to `path` (replacing it); exits on failure (the harness is broken, not the parser).
func writeFile(_ path: String, _ bytes: [UInt8]) {
    guard let f = fopen(path, "wb") else { fputs("fuzz: cannot write \(path)\n", stderr); exit(2) }
    if !bytes.isEmpty { _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) } }
    fclose(f)
}

func writeFile(_ path: String, _ text: String) { writeFile(path, Array(text.utf8)) }

/// Writes `bytes` to `path`, or removes `path` when `bytes` is empty. For the parts of a
/// multi-file input (often empty after a mutation): swift-foundation leaks 4 KB on every read of
/// an empty file (lsan.supp), and an execution that ends with more mallocs than frees makes
/// libFuzzer run a full LeakSanitizer heap scan (7-10x slower) while the heap grows 4 KB per
/// execution. A missing file is an input the readers must handle as well.
func writePart(_ path: String, _ bytes: [UInt8]) {
    if bytes.isEmpty { unlink(path) } else { writeFile(path, bytes) }
}

/// The bytes of a file, or [] when it cannot be read.
func readFile(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { return [] }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        out += chunk[0..<n]
        if n < chunk.count { return out }
    }
}

/// Splits a multi-file input at each occurrence of `partMarker` (targets that read a directory
/// of several files take one input holding them all, in a fixed order).
let partMarker = Array("\n#@qatfuzz@#\n".utf8)

func splitParts(_ data: [UInt8], count: Int) -> [[UInt8]] {
    var parts: [[UInt8]] = []
    var start = 0, i = 0
    while i + partMarker.count <= data.count, parts.count < count - 1 {
        if data[i] == partMarker[0], Array(data[i..<(i + partMarker.count)]) == partMarker {
            parts.append(Array(data[start..<i]))
            i += partMarker.count
            start = i
        } else { i += 1 }
    }
    parts.append(Array(data[start...]))
    while parts.count < count { parts.append([]) }
    return parts
}

/// Writes the input's parts as the files `names` of a fresh checkpoint directory DIR (scratch)/ckpt
/// and returns DIR.
func writeCheckpointDirectory(_ data: [UInt8], files names: [String]) -> String {
    let dir = scratchDir + "/ckpt"
    makeDirectory(dir)
    for (name, bytes) in zip(names, splitParts(data, count: names.count)) { writePart("\(dir)/\(name)", bytes) }
    return dir
}

func joinParts(_ parts: [[UInt8]]) -> [UInt8] {
    var out: [UInt8] = []
    for (k, p) in parts.enumerated() { if k > 0 { out += partMarker }; out += p }
    return out
}

/// Names in a directory (without . and ..).
func directoryEntries(_ dir: String) -> [(name: String, isDir: Bool)] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [(String, Bool)] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { out.append((name, e.pointee.d_type == UInt8(DT_DIR))) }
    }
    return out
}

/// Removes a directory's files (one level: the targets write flat directories).
func clearDirectory(_ dir: String) {
    for e in directoryEntries(dir) where !e.isDir { unlink("\(dir)/\(e.name)") }
}

/// Removes a directory and everything under it.
func removeTree(_ dir: String) {
    for e in directoryEntries(dir) {
        if e.isDir { removeTree("\(dir)/\(e.name)") } else { unlink("\(dir)/\(e.name)") }
    }
    rmdir(dir)
}

func makeDirectory(_ dir: String) { mkdir(dir, 0o755) }

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    fuzzOne(bytes)
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func llvmFuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    if let dir = getenv("QAT_FUZZ_SEEDS") {
        makeSeeds(into: String(cString: dir))
        exit(0)
    }
    return 0
}
