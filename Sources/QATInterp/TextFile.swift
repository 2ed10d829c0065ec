// Reading a script file whole (no Foundation in this module).
#if canImport(Glibc)
import Glibc
#endif

/// Scripts larger than this are refused: a .qat file is text a person writes.
let maxScriptBytes = 16 << 20

/// The UTF-8 text of the file at `path`, or an error naming the path and what to do.
public func readTextFile(_ path: String) throws -> String {
    guard let f = fopen(path, "rb") else {
        throw InterpError.verb("cannot open '\(path)'", hint: "check the path (relative paths start at the current directory)")
    }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        guard bytes.count <= maxScriptBytes else {
            throw InterpError.verb("'\(path)' is larger than \(maxScriptBytes >> 20) MiB", hint: "is it really a script?")
        }
        if n < chunk.count {
            if ferror(f) != 0 { throw InterpError.verb("cannot read '\(path)'", hint: "is it a directory or unreadable?") }
            break
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
