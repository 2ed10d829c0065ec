// Small file helpers (atomic text writes, directories).
import Foundation

func makeDirectory(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

/// Writes `text` to a temporary file beside `path` and renames it into place.
public func writeText(_ text: String, to path: String) throws {
    let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
    try Data(text.utf8).write(to: URL(fileURLWithPath: tmp))
    if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    try FileManager.default.moveItem(atPath: tmp, toPath: path)
}
