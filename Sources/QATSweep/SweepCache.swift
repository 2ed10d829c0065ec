// SharedCache: data that the tasks of a sweep compute once and share through a directory,
// possibly on a cluster's shared file system (by default DIR/cache of the sweep).
//
// An entry is written under a temporary name in the same directory ("<file>.tmp-<pid>-<random>"),
// synced, then renamed into place: rename is atomic on one file system, so a reader sees either
// no file or a complete one, and two tasks writing the same key at once both succeed (the last
// rename wins; the contents are the same by construction). A killed writer leaves at most a
// temporary file, never a partial entry under the final name; the next write of that entry
// deletes it (QATIO/InterruptedWrites.swift).
//
// Entry file layout (DIR/<kind>-<16 hex digits of FNV-1a 64 of the key>.bin), little-endian:
//   1. magic "QATCACH1" (8 bytes)
//   2. key length (UInt32), then the key's UTF-8 bytes (guards against hash collisions)
//   3. payload length (UInt64), then FNV-1a 64 of the payload (UInt64)
//   4. the payload
// A file that does not match (short, wrong magic, other key, bad checksum) reads as absent.
//
// What is cached: the token ids of a calibration text for a model's tokenizer (`calib`), the
// slowest input step shared by every point of a calibration sweep on a real model (cachedTokens,
// in QATToolkit's DataVerbs.swift, next to the `calib` verb that uses it).
import Foundation
import QATIO

#if canImport(Glibc)
import Glibc
#endif

public final class SharedCache: @unchecked Sendable {
    public let directory: String

    /// The cache of the running sweep task (set by SweepTask), else $QAT_CACHE when set, else
    /// none (nothing is cached).
    nonisolated(unsafe) public static var current: SharedCache? = ProcessInfo.processInfo.environment["QAT_CACHE"]
        .flatMap { try? SharedCache(directory: $0) }

    static let magic = Array("QATCACH1".utf8)

    public init(directory: String) throws {
        self.directory = directory
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw VerbError("cannot create the cache directory \(directory) (\(error.localizedDescription)); give a writable cache=")
        }
    }

    /// The file of a key: "<kind>-<hash>.bin", kind being the key's text up to the first "/".
    public func path(for key: String) -> String {
        let kind = key.split(separator: "/").first.map(String.init)?.filter { $0.isLetter || $0.isNumber } ?? ""
        return directory + "/" + (kind.isEmpty ? "entry" : kind) + "-" + hex16(fnv1a64(Array(key.utf8))) + ".bin"
    }

    /// The payload stored under `key`, or nil when there is none (or it does not check out).
    public func get(_ key: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path(for: key)) else { return nil }
        return Self.decode([UInt8](data), key: key)
    }

    /// Stores `payload` under `key` (QATIO's atomic write: temporary file, fsync, rename), so
    /// concurrent writers of one key never leave a torn entry.
    public func put(_ key: String, _ payload: [UInt8]) throws {
        try writeBytesAtomically(Self.encode(payload, key: key), to: path(for: key))
    }

    /// The stored payload, or `make()`'s, stored for the next task. A failed store (a full or
    /// read-only cache) only costs the next task the same work: the cache is an optimization.
    public func value(_ key: String, make: () throws -> [UInt8]) rethrows -> [UInt8] {
        if let hit = get(key) { return hit }
        let fresh = try make()
        try? put(key, fresh)
        return fresh
    }

    static func encode(_ payload: [UInt8], key: String) -> [UInt8] {
        let k = Array(key.utf8)
        var out = magic
        appendLE(UInt64(k.count), bytes: 4, to: &out)
        out += k
        appendLE(UInt64(payload.count), bytes: 8, to: &out)
        appendLE(fnv1a64(payload), bytes: 8, to: &out)
        return out + payload
    }

    static func decode(_ b: [UInt8], key: String) -> [UInt8]? {
        let k = Array(key.utf8)
        var at = magic.count
        guard b.count >= at + 4, Array(b[0..<at]) == magic, readLE(b, at, 4) == UInt64(k.count) else { return nil }
        at += 4
        guard b.count >= at + k.count + 16, Array(b[at..<at + k.count]) == k else { return nil }
        at += k.count
        let n = readLE(b, at, 8), sum = readLE(b, at + 8, 8)
        at += 16
        guard UInt64(b.count - at) == n else { return nil }
        let payload = Array(b[at...])
        return fnv1a64(payload) == sum ? payload : nil
    }

    static func appendLE(_ x: UInt64, bytes: Int, to out: inout [UInt8]) {
        for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: x >> (8 * UInt64(i)))) }
    }

    static func readLE(_ b: [UInt8], _ at: Int, _ bytes: Int) -> UInt64 {
        (0..<bytes).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
    }
}
