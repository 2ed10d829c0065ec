// Safetensors: read and write Hugging Face `.safetensors` files and sharded checkpoints.
//
// File layout (all integers little-endian; offsets in bytes):
//   1. [0, 8)        N: UInt64, the length of the JSON header. QATLab refuses N > 100,000,000 (the
//                    limit of the reference implementation) and N beyond the end of the file.
//   2. [8, 8+N)      the header: one UTF-8 JSON object. Each key is a tensor name mapped to
//                    {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]};
//                    the optional key "__metadata__" maps to an object of string -> string.
//                    Writers pad the header with spaces (0x20) so that 8+N is a multiple of 8.
//   3. [8+N, EOF)    the data buffer. A tensor's bytes are buffer[begin, end), row-major,
//                    little-endian, with end - begin = product(shape) * size(dtype). A scalar has
//                    shape [] (one element); a zero dimension gives begin == end.
// Dtypes read here: F32 (4 bytes), F16 (IEEE binary16, 2), BF16 (top half of a Float32, 2),
// I32 (4), U8 (1), I8 (1). Other dtypes of the format (F64, I64, BOOL, F8_*, ...) are size-checked
// but not decodable: they are listed in `unsupported` and reading one is a FormatError.
//
// Integrity (QATIO/Checksum.swift): files QATLab writes carry one checksum per tensor in
// `__metadata__` ("qatlab.checksum.NAME" = 16 hex digits, FNV-1a 64 over the tensor's stored bytes)
// and "qatlab.format" = the format version. A tensor whose bytes do not match is a FormatError naming
// the file and the tensor when it is read; a newer format version is refused when the file is
// opened. Files without these keys (older QATLab files, other tools' files) are read unchecked.
// The `metadata` property holds the other keys only.
//
// Sharded checkpoints (transformers' save_pretrained with a size limit):
//   4. `model.safetensors.index.json` = {"metadata": {...}, "weight_map": {tensor name: shard
//      file name}}; shard files sit beside the index (a shard name containing "/" is refused).
//
// Writing: `SafetensorsWriter` lays out tensors by element size (largest first) then name, so every
// tensor starts aligned to its element size, and writes to a temporary file in the destination
// directory that is renamed into place only after fsync: a crash never leaves a half-written
// file under the final name. Hosts are assumed little-endian (x86-64, arm64), as the format is.
import Foundation
import QATTensor

#if canImport(Glibc)
import Glibc
#endif

/// A safetensors element type ("dtype" in the header).
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case F32, F16, BF16, I32, U8, I8

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .F32, .I32: return 4
        case .F16, .BF16: return 2
        case .U8, .I8: return 1
        }
    }

    /// Dtypes of the format that QATLab size-checks but does not decode, with their element sizes.
    static let otherSizes: [String: Int] = [
        "F64": 8, "I64": 8, "U64": 8, "U32": 4, "I16": 2, "U16": 2, "BOOL": 1,
        "F8_E4M3": 1, "F8_E5M2": 1,
    ]
}

/// Where a tensor lives in a safetensors file.
public struct SafetensorsTensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Number of elements (1 for shape []).
    public let count: Int
    /// The tensor's bytes as absolute offsets in the file.
    public let byteRange: Range<Int>
}

// MARK: - Reading

/// One safetensors file, memory-mapped; tensors are decoded on demand.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    /// The header's `__metadata__` (empty when absent).
    public let metadata: [String: String]
    /// Names of the decodable tensors, sorted.
    public let names: [String]
    /// Tensors whose dtype is valid in the format but not decodable here: name -> dtype.
    public let unsupported: [String: String]
    /// Stored checksums by tensor name (empty for files written without them).
    public let checksums: [String: UInt64]
    private let file: MappedFile
    private let infos: [String: SafetensorsTensorInfo]

    static let maxHeaderBytes = 100_000_000

    /// Maps the file and checks the whole header (dtypes, shapes, offsets, overlaps) up front.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = ByteReader(file)
        let n64 = try r.read(UInt64.self, field: "header length (first 8 bytes)")
        guard n64 <= UInt64(Self.maxHeaderBytes), Int(n64) <= r.remaining else {
            throw FormatError(file: path, "header length \(n64) exceeds the \(r.remaining) bytes after the length field (limit \(Self.maxHeaderBytes)); the file is truncated or not safetensors")
        }
        let headerBytes = try r.readBytes(Int(n64), field: "JSON header")
        let header = try Self.decodeHeader(Data(headerBytes), path: path)
        let dataStart = 8 + Int(n64)
        let parsed = try Self.layout(header, path: path, dataStart: dataStart, bufferLength: file.count - dataStart)
        (metadata, checksums) = try Self.splitChecksums(parsed.metadata, path: path)
        infos = parsed.infos
        unsupported = parsed.unsupported
        names = parsed.infos.keys.sorted()
    }

    /// The dtype, shape and byte range of a tensor, or nil if the file has no decodable tensor of that name.
    public func info(_ name: String) -> SafetensorsTensorInfo? { infos[name] }

    /// Any tensor as Float32 (F16/BF16 widened exactly; integers converted, exact up to 2^24).
    public func tensor(_ name: String) throws -> Tensor {
        let i = try lookup(name)
        let bytes = try verifiedBytes(i)
        let t = Tensor(uninitialized: i.shape)
        let n = i.count
        switch i.dtype {
        case .F32:
            if n > 0, let src = bytes.baseAddress { UnsafeMutableRawPointer(t.data).copyMemory(from: src, byteCount: n * 4) }
        case .F16:
            for k in 0..<n { t.data[k] = HalfFloat.float(fromHalf: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))) }
        case .BF16:
            for k in 0..<n { t.data[k] = HalfFloat.float(fromBFloat16: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))) }
        case .I32:
            for k in 0..<n { t.data[k] = Float(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self))) }
        case .U8:
            for k in 0..<n { t.data[k] = Float(bytes[k]) }
        case .I8:
            for k in 0..<n { t.data[k] = Float(Int8(bitPattern: bytes[k])) }
        }
        return t
    }

    /// The raw values of an I32 tensor (row-major).
    public func int32s(_ name: String) throws -> [Int32] {
        let b = try rawBytes(name, expect: .I32)
        return (0..<(b.count / 4)).map { Int32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
    }

    /// The raw values of a U8 tensor (row-major).
    public func uint8s(_ name: String) throws -> [UInt8] { Array(try rawBytes(name, expect: .U8)) }

    /// The raw values of an I8 tensor (row-major).
    public func int8s(_ name: String) throws -> [Int8] { try rawBytes(name, expect: .I8).map { Int8(bitPattern: $0) } }

    private func lookup(_ name: String) throws -> SafetensorsTensorInfo {
        if let i = infos[name] { return i }
        if let d = unsupported[name] {
            throw FormatError(file: path, "tensor '\(name)' has dtype \(d), which QATLab cannot decode; convert it to one of \(SafetensorsDType.allCases.map(\.rawValue))")
        }
        let some = names.prefix(5).joined(separator: ", ")
        throw FormatError(file: path, "no tensor named '\(name)' (the file has \(names.count): \(some)\(names.count > 5 ? ", ..." : ""))")
    }

    private func rawBytes(_ name: String, expect: SafetensorsDType) throws -> UnsafeRawBufferPointer {
        let i = try lookup(name)
        guard i.dtype == expect else {
            throw FormatError(file: path, "tensor '\(name)' has dtype \(i.dtype.rawValue), not \(expect.rawValue); use tensor(_:) for a Float32 copy")
        }
        return try verifiedBytes(i)
    }

    /// A tensor's stored bytes, checked against its stored checksum when the file has one.
    private func verifiedBytes(_ i: SafetensorsTensorInfo) throws -> UnsafeRawBufferPointer {
        let bytes = try file.bytes(at: i.byteRange.lowerBound, count: i.byteRange.count, field: "tensor '\(i.name)'")
        if let stored = checksums[i.name] {
            let computed = fnv1a64w(bytes)
            guard computed == stored else { throw Checksums.mismatch(file: path, tensor: i.name, stored: stored, computed: computed) }
        }
        return bytes
    }

    /// Separates QATLab's integrity keys from the user metadata; refuses a newer format version
    /// and malformed sums.
    private static func splitChecksums(_ all: [String: String], path: String) throws -> ([String: String], [String: UInt64]) {
        try Checksums.checkVersion(all[Checksums.formatKey], file: path)
        var user: [String: String] = [:]
        var sums: [String: UInt64] = [:]
        for (k, v) in all {
            if k == Checksums.formatKey { continue }
            guard k.hasPrefix(Checksums.metadataPrefix) else { user[k] = v; continue }
            guard v.utf8.count == 16, let sum = UInt64(v, radix: 16) else {
                throw FormatError(file: path, "__metadata__ key '\(k)' is '\(v)', expected 16 hex digits; the header is corrupt")
            }
            sums[String(k.dropFirst(Checksums.metadataPrefix.count))] = sum
        }
        return (user, sums)
    }
}

// MARK: - Header parsing

/// One header value: a tensor entry, the metadata object, or something else (kept as a reason).
private enum HeaderValue: Decodable {
    case tensor(dtype: String, shape: [Int], offsets: [Int])
    case strings([String: String])
    case invalid(String)

    private struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let e = try? c.decode(Entry.self) {
            self = .tensor(dtype: e.dtype, shape: e.shape, offsets: e.data_offsets)
        } else if let m = try? c.decode([String: String].self) {
            self = .strings(m)
        } else {
            do { _ = try c.decode(Entry.self); self = .invalid("is not a tensor entry") } catch {
                self = .invalid(describeDecodingError(error))
            }
        }
    }
}

/// A DecodingError as "field 'x': problem", for messages that name the field.
func describeDecodingError(_ error: Error) -> String {
    func field(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
    switch error as? DecodingError {
    case let .keyNotFound(key, _)?: return "missing field '\(key.stringValue)'"
    case let .typeMismatch(type, ctx)?: return "field '\(field(ctx.codingPath))' has the wrong type (expected \(type))"
    case let .valueNotFound(type, ctx)?: return "field '\(field(ctx.codingPath))' is null (expected \(type))"
    case let .dataCorrupted(ctx)?: return "invalid JSON at '\(field(ctx.codingPath))': \(ctx.debugDescription)"
    default: return "\(error)"
    }
}

extension SafetensorsFile {
    fileprivate static func decodeHeader(_ data: Data, path: String) throws -> [String: HeaderValue] {
        do {
            return try JSONDecoder().decode([String: HeaderValue].self, from: data)
        } catch {
            let preview = String(decoding: data.prefix(80), as: UTF8.self)
            throw FormatError(file: path, "the header is not a valid JSON object (\(describeDecodingError(error))); it starts with \"\(preview)\"; the file is corrupt or not safetensors")
        }
    }

    fileprivate struct Layout {
        var metadata: [String: String] = [:]
        var infos: [String: SafetensorsTensorInfo] = [:]
        var unsupported: [String: String] = [:]
    }

    /// Checks every entry (dtype, shape, offsets, size) and that no two tensors overlap.
    fileprivate static func layout(_ header: [String: HeaderValue], path: String, dataStart: Int, bufferLength: Int) throws -> Layout {
        var out = Layout()
        var spans: [(range: Range<Int>, name: String)] = []
        for (name, value) in header.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                guard case let .strings(m) = value else {
                    throw FormatError(file: path, "__metadata__ must be an object of string values")
                }
                out.metadata = m
                continue
            }
            switch value {
            case let .invalid(reason):
                throw FormatError(file: path, "tensor '\(name)': \(reason); expected {\"dtype\", \"shape\", \"data_offsets\"}")
            case .strings:
                throw FormatError(file: path, "tensor '\(name)': missing dtype/shape/data_offsets")
            case let .tensor(dtypeName, shape, offsets):
                let (size, dtype) = try elementSize(dtypeName, tensor: name, path: path)
                let (range, count) = try checkedRange(name, shape: shape, offsets: offsets, elementSize: size, bufferLength: bufferLength, path: path)
                spans.append((range, name))
                let absolute = (dataStart + range.lowerBound)..<(dataStart + range.upperBound)
                if let dtype {
                    out.infos[name] = SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, count: count, byteRange: absolute)
                } else {
                    out.unsupported[name] = dtypeName
                }
            }
        }
        try checkOverlaps(spans, path: path)
        return out
    }

    private static func elementSize(_ dtype: String, tensor: String, path: String) throws -> (Int, SafetensorsDType?) {
        if let d = SafetensorsDType(rawValue: dtype) { return (d.size, d) }
        if let s = SafetensorsDType.otherSizes[dtype] { return (s, nil) }
        throw FormatError(file: path, "tensor '\(tensor)': unknown dtype '\(dtype)'; expected one of \(SafetensorsDType.allCases.map(\.rawValue)) (or another safetensors dtype: \(SafetensorsDType.otherSizes.keys.sorted()))")
    }

    /// The tensor's byte range within the buffer and its element count, after checking that
    /// shape, offsets and size agree.
    private static func checkedRange(_ name: String, shape: [Int], offsets: [Int], elementSize: Int,
                                     bufferLength: Int, path: String) throws -> (Range<Int>, Int) {
        var count = 1
        for d in shape {
            guard d >= 0 else { throw FormatError(file: path, "tensor '\(name)': shape \(shape) has a negative dimension \(d)") }
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw FormatError(file: path, "tensor '\(name)': shape \(shape) overflows the element count") }
            count = p
        }
        let (bytes, o) = count.multipliedReportingOverflow(by: elementSize)
        guard !o else { throw FormatError(file: path, "tensor '\(name)': shape \(shape) overflows the byte count") }
        guard offsets.count == 2 else {
            throw FormatError(file: path, "tensor '\(name)': data_offsets \(offsets) must be [begin, end]")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end, end <= bufferLength else {
            throw FormatError(file: path, "tensor '\(name)': data_offsets \(offsets) lie outside the data buffer of \(bufferLength) bytes; the file is truncated or corrupt")
        }
        guard end - begin == bytes else {
            throw FormatError(file: path, "tensor '\(name)': data_offsets \(offsets) span \(end - begin) bytes but shape \(shape) needs \(count) x \(elementSize) = \(bytes) bytes")
        }
        return (begin..<end, count)
    }

    private static func checkOverlaps(_ spans: [(range: Range<Int>, name: String)], path: String) throws {
        let sorted = spans.filter { !$0.range.isEmpty }.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.range.lowerBound < a.range.upperBound {
            throw FormatError(file: path, "tensors '\(a.name)' (bytes \(a.range)) and '\(b.name)' (bytes \(b.range)) overlap in the data buffer; the header is corrupt")
        }
    }
}

// MARK: - Writing

/// Collects tensors and writes one safetensors file atomically.
public struct SafetensorsWriter {
    private struct Entry { let dtype: SafetensorsDType; let shape: [Int]; let bytes: [UInt8] }
    private var entries: [String: Entry] = [:]
    /// Written as the header's `__metadata__` (omitted when empty).
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds a float tensor stored as F32 (exact), F16 or BF16 (rounded to nearest even).
    public mutating func add(_ name: String, _ t: Tensor, as dtype: SafetensorsDType = .F32) throws {
        let src = UnsafeBufferPointer(t.buffer)
        var bytes: [UInt8]
        switch dtype {
        case .F32:
            bytes = [UInt8](UnsafeRawBufferPointer(src))
        case .F16, .BF16:
            var bits = [UInt16](repeating: 0, count: t.count)
            bits.withUnsafeMutableBufferPointer { dst in
                guard let d = dst.baseAddress else { return }
                if dtype == .F16 { HalfFloat.encodeHalf(src, into: d) } else { HalfFloat.encodeBFloat16(src, into: d) }
            }
            bytes = bits.withUnsafeBytes { [UInt8]($0) }
        case .I32, .U8, .I8:
            throw Self.error(name, "a Float32 tensor cannot be stored as \(dtype.rawValue); use addInt32/addUInt8/addInt8 for integer data")
        }
        try insert(name, Entry(dtype: dtype, shape: t.shape, bytes: bytes))
    }

    /// Adds raw I32 values with the given shape.
    public mutating func addInt32(_ name: String, shape: [Int], _ v: [Int32]) throws {
        try checkCount(name, shape: shape, count: v.count)
        try insert(name, Entry(dtype: .I32, shape: shape, bytes: v.map(\.littleEndian).withUnsafeBytes { [UInt8]($0) }))
    }

    /// Adds raw U8 values with the given shape.
    public mutating func addUInt8(_ name: String, shape: [Int], _ v: [UInt8]) throws {
        try checkCount(name, shape: shape, count: v.count)
        try insert(name, Entry(dtype: .U8, shape: shape, bytes: v))
    }

    /// Adds raw I8 values with the given shape.
    public mutating func addInt8(_ name: String, shape: [Int], _ v: [Int8]) throws {
        try checkCount(name, shape: shape, count: v.count)
        try insert(name, Entry(dtype: .I8, shape: shape, bytes: v.map { UInt8(bitPattern: $0) }))
    }

    /// Writes the file: header padded with spaces to a multiple of 8, then the data, via a
    /// temporary file in the same directory renamed into place.
    public func write(to path: String) throws {
        let order = entries.sorted { a, b in
            a.value.dtype.size != b.value.dtype.size ? a.value.dtype.size > b.value.dtype.size : a.key < b.key
        }
        var json = "{"
        var parts: [String] = []
        var metadata = self.metadata
        metadata[Checksums.formatKey] = String(Checksums.formatVersion)
        for (name, e) in entries { metadata[Checksums.key(name)] = e.bytes.withUnsafeBytes { Checksums.hex(fnv1a64w($0)) } }
        if !metadata.isEmpty {
            let kv = metadata.sorted { $0.key < $1.key }.map { "\(jsonStringLiteral($0.key)):\(jsonStringLiteral($0.value))" }
            parts.append("\"__metadata__\":{\(kv.joined(separator: ","))}")
        }
        var offset = 0
        for (name, e) in order {
            let shape = e.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonStringLiteral(name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + e.bytes.count)]}")
            offset += e.bytes.count
        }
        json += parts.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var length = UInt64(header.count).littleEndian
        try writeAtomically(path) { out in
            try withUnsafeBytes(of: &length) { try out($0) }
            try header.withUnsafeBytes { try out($0) }
            for (_, e) in order { try e.bytes.withUnsafeBytes { try out($0) } }
        }
    }

    private mutating func insert(_ name: String, _ e: Entry) throws {
        guard !name.isEmpty, name != "__metadata__" else { throw Self.error(name, "the name is empty or reserved") }
        guard entries[name] == nil else { throw Self.error(name, "a tensor of this name was already added") }
        entries[name] = e
    }

    private func checkCount(_ name: String, shape: [Int], count: Int) throws {
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard d >= 0, !o else { throw Self.error(name, "shape \(shape) is invalid (negative or overflowing dimension)") }
            n = p
        }
        guard n == count else { throw Self.error(name, "shape \(shape) holds \(n) elements but \(count) values were given") }
    }

    private static func error(_ name: String, _ message: String) -> FormatError {
        FormatError(file: "safetensors writer", "tensor '\(name)': \(message)")
    }
}

/// A JSON string literal (quotes, backslashes and control characters escaped).
func jsonStringLiteral(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

/// Writes UTF-8 `text` to `path` atomically (see writeAtomically); the writer of every text
/// file QATLab makes (JSON manifests, CSV and Markdown tables, SVG plots, transcripts).
public func writeTextAtomically(_ text: String, to path: String) throws {
    var text = text
    try writeAtomically(path) { out in try text.withUTF8 { try out(UnsafeRawBufferPointer($0)) } }
}

/// Writes `bytes` to `path` atomically (see writeAtomically).
public func writeBytesAtomically(_ bytes: [UInt8], to path: String) throws {
    try writeAtomically(path) { out in try bytes.withUnsafeBytes { try out($0) } }
}

/// Writes `path` via `path.tmp-<pid>-<random>` in the same directory: write, fsync, rename.
/// The body receives a function that appends bytes. On any error the temporary file is removed.
func writeAtomically(_ path: String, _ body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
    InterruptedWrites.reclaim(path)
    let tmp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else {
        throw FormatError(file: path, "cannot create the temporary file \(tmp) (\(String(cString: strerror(errno)))); check that the directory exists and is writable")
    }
    var ok = false
    defer { if !ok { close(fd); unlink(tmp) } }
    try body { buf in
        var done = 0
        while done < buf.count {
            guard let base = buf.baseAddress else { return }
            let n = Glibc.write(fd, base + done, buf.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw writeFailure(path, errno: n < 0 ? errno : ENOSPC) }
            done += n
        }
    }
    // a full disk can surface only here (delayed allocation, network file systems)
    guard fsync(fd) == 0 else { throw writeFailure(path, errno: errno) }
    ok = true
    close(fd)
    guard rename(tmp, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(tmp)
        throw FormatError(file: path, "cannot rename \(tmp) into place (\(reason))")
    }
}

/// The error of a failed write: what the system said, and for a full disk or a file-size limit
/// (ENOSPC, EDQUOT, EFBIG) that it is one, and that the file under its final name is unchanged.
func writeFailure(_ path: String, errno code: Int32) -> FormatError {
    let reason = String(cString: strerror(code))
    let full = code == ENOSPC || code == EDQUOT ? "the disk is full (or over quota)"
        : code == EFBIG ? "the file-size limit is reached (ulimit -f) or the disk is full" : "the write failed"
    return FormatError(file: path, "write failed (\(reason)): \(full); nothing was replaced, an earlier file of this name is intact")
}

// MARK: - Checkpoints (single file or sharded)

/// A model's tensors from one safetensors file or a sharded set with `model.safetensors.index.json`.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let path: String
    /// Every tensor name, sorted.
    public let names: [String]
    /// The opened files (one, or one per shard).
    public let files: [SafetensorsFile]
    private let owner: [String: SafetensorsFile]

    /// `directoryOrFile`: a .safetensors file, an index .json, or a directory holding
    /// model.safetensors.index.json (preferred) or model.safetensors.
    public init(directoryOrFile: String) throws {
        path = directoryOrFile
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError(file: path, "no such file or directory; give a .safetensors file or a model directory")
        }
        var target = path
        if isDir.boolValue {
            let index = (path as NSString).appendingPathComponent("model.safetensors.index.json")
            let single = (path as NSString).appendingPathComponent("model.safetensors")
            if FileManager.default.fileExists(atPath: index) { target = index } else if FileManager.default.fileExists(atPath: single) { target = single } else {
                throw FormatError(file: path, "the directory has neither model.safetensors.index.json nor model.safetensors")
            }
        }
        if target.hasSuffix(".json") {
            (files, owner) = try Self.openShards(index: target)
        } else {
            let f = try SafetensorsFile(path: target)
            files = [f]
            owner = Dictionary(uniqueKeysWithValues: f.names.map { ($0, f) })
        }
        names = owner.keys.sorted()
    }

    /// Dtype, shape and byte range of a tensor (in its shard), or nil.
    public func info(_ name: String) -> SafetensorsTensorInfo? { owner[name]?.info(name) }

    /// The file holding a tensor, or nil.
    public func file(for name: String) -> SafetensorsFile? { owner[name] }

    /// A tensor as Float32.
    public func tensor(_ name: String) throws -> Tensor {
        guard let f = owner[name] else {
            throw FormatError(file: path, "no tensor named '\(name)' in the checkpoint (\(names.count) tensors)")
        }
        return try f.tensor(name)
    }

    private struct Index: Decodable { let weight_map: [String: String] }

    private static func openShards(index: String) throws -> ([SafetensorsFile], [String: SafetensorsFile]) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: index)) } catch {
            throw FormatError(file: index, "cannot read the index (\(error.localizedDescription))")
        }
        let map: [String: String]
        do { map = try JSONDecoder().decode(Index.self, from: data).weight_map } catch {
            throw FormatError(file: index, "not a valid safetensors index: \(describeDecodingError(error)); expected {\"weight_map\": {name: shard file}}")
        }
        let dir = PathName.parent(index)
        var opened: [String: SafetensorsFile] = [:]
        var owner: [String: SafetensorsFile] = [:]
        for (name, shard) in map.sorted(by: { $0.key < $1.key }) {
            guard !shard.isEmpty, !shard.contains("/"), shard != "..", shard != "." else {
                throw FormatError(file: index, "tensor '\(name)': shard '\(shard)' must be a plain file name beside the index")
            }
            let f = try opened[shard] ?? SafetensorsFile(path: (dir as NSString).appendingPathComponent(shard))
            opened[shard] = f
            guard f.info(name) != nil else {
                throw FormatError(file: index, "tensor '\(name)' is mapped to \(shard), which has no decodable tensor of that name")
            }
            owner[name] = f
        }
        return (opened.keys.sorted().compactMap { opened[$0] }, owner)
    }
}
