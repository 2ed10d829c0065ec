// MappedFile and ByteReader: the bounds-checked base under every binary reader in QATIO.
//
// A MappedFile maps a whole file read-only (mmap), so a 100 MB GGUF costs no copy until a tensor
// is decoded. ByteReader walks it with a cursor; every read checks that the bytes exist and every
// failure is a FormatError naming the file, the field, the offending value and what was expected.
// Multi-byte values are little-endian in every format QATLab reads.
#if canImport(Glibc)
import Glibc
#endif

/// A malformed or unreadable file. `description` names the file, the problem and what to do.
public struct FormatError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String
    public init(file: String, _ message: String) { self.file = file; self.message = message }
    public var description: String { "\(file): \(message)" }
}

public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    public let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw FormatError(file: path, "cannot open (\(String(cString: strerror(errno)))); check the path")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FormatError(file: path, "cannot stat the file") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FormatError(file: path, "is not a regular file") }
        count = Int(st.st_size)
        if count == 0 { base = nil; return }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw FormatError(file: path, "cannot map the file into memory") }
        base = UnsafeRawPointer(p)
    }

    deinit { if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) } }

    /// The bytes [offset, offset+length), checked against the file size.
    public func bytes(at offset: Int, count length: Int, field: String) throws -> UnsafeRawBufferPointer {
        guard offset >= 0, length >= 0, offset <= count, length <= count - offset else {
            throw FormatError(file: path, "\(field): bytes \(offset)..<\(offset &+ length) lie beyond the end of the file (\(count) bytes); the file is truncated or corrupt")
        }
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }
}

/// A cursor over a MappedFile.
public struct ByteReader {
    public let file: MappedFile
    public var offset: Int

    public init(_ file: MappedFile, offset: Int = 0) { self.file = file; self.offset = offset }

    public var remaining: Int { file.count - offset }

    public mutating func read<T: FixedWidthInteger>(_: T.Type, field: String) throws -> T {
        let b = try file.bytes(at: offset, count: MemoryLayout<T>.size, field: field)
        offset += MemoryLayout<T>.size
        return T(littleEndian: b.loadUnaligned(as: T.self))
    }

    public mutating func readFloat32(field: String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, field: field))
    }

    public mutating func readFloat64(field: String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, field: field))
    }

    public mutating func readBytes(_ n: Int, field: String) throws -> UnsafeRawBufferPointer {
        let b = try file.bytes(at: offset, count: n, field: field)
        offset += n
        return b
    }

    /// UTF-8 text of `n` bytes (invalid sequences are replaced, never trapped on).
    public mutating func readString(byteCount n: Int, field: String) throws -> String {
        let b = try readBytes(n, field: field)
        return String(decoding: b, as: UTF8.self)
    }

    public func error(_ message: String) -> FormatError { FormatError(file: file.path, message) }
}
