// GGUF reader (versions 2 and 3): metadata, tensor infos and dequantized tensors.
//
// File layout (all integers little-endian; a "string" is a u64 byte length followed by that many
// UTF-8 bytes, no terminator):
//  1. [0..4)   magic, the bytes "GGUF" (u32 0x46554747).
//  2. [4..8)   version, u32: 2 or 3 (1 used u32 counts and is not supported; a big-endian
//              file shows up as 0x02000000 or 0x03000000).
//  3. [8..16)  tensor_count, u64.
//  4. [16..24) kv_count, u64.
//  5. kv_count metadata pairs: key (string), value type (u32), value. Value types:
//       0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (1 byte, 0 or 1), 8 string,
//       9 array: element type (u32), count (u64), then count values of that type without
//         their own type tags (an element type of 9 nests arrays, each with its own header),
//       10 u64, 11 i64, 12 f64.
//  6. tensor_count tensor infos: name (string), n_dims (u32, at most 4), ne[n_dims] (u64 each,
//     ne[0] is the contiguous row length), ggml type (u32, see GGUFTypes.swift), offset (u64,
//     relative to the data section, a multiple of the alignment).
//  7. Padding up to a multiple of the alignment: metadata `general.alignment` (u32, a power of
//     two), 32 when absent.
//  8. The data section: each tensor's bytes at data_start + offset, ne[0]/blockSize blocks per
//     row, rows = ne[1]*ne[2]*ne[3].
//
// The file is memory-mapped; every count, length and offset is checked against the bytes left
// before anything is allocated for it, so a corrupt header is a FormatError, never a trap or a
// huge allocation.

import QATTensor

/// One metadata value.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// Any integer value that fits in Int.
    public var int: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// Any numeric value (integers converted, possibly rounding 64-bit ones).
    public var double: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        case let .uint64(v): return Double(v)
        case let .int64(v): return Double(v)
        default: return int.map(Double.init)
        }
    }

    public var string: String? { if case let .string(s) = self { return s } else { return nil } }
    public var array: [GGUFValue]? { if case let .array(a) = self { return a } else { return nil } }
    public var bool: Bool? { if case let .bool(b) = self { return b } else { return nil } }

    /// An array whose every element is a string.
    public var strings: [String]? {
        guard let a = array else { return nil }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a {
            guard case let .string(s) = v else { return nil }
            out.append(s)
        }
        return out
    }

    /// The GGUF value type id (layout item 5).
    var typeID: UInt32 {
        switch self {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }
}

/// Where one tensor lives in a GGUF file and how it is encoded.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// GGUF order: ne[0] (the contiguous row length) first.
    public let dims: [Int]
    public let type: GGMLType
    /// Absolute file offset of the first byte.
    public let offset: Int

    /// Row-major shape (dims reversed): [rows..., rowLength].
    public var shape: [Int] { dims.reversed() }
    public var elementCount: Int { dims.reduce(1, *) }
    /// Encoded size in bytes (validated against the file when the info was read).
    public var byteCount: Int { elementCount / type.blockSize * type.bytesPerBlock }
}

/// A GGUF file opened for reading. Metadata and tensor infos are parsed eagerly; tensor data is
/// decoded on request from the mapped file.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// The data alignment in force (`general.alignment` or 32).
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int

    private let file: MappedFile
    private let index: [String: Int]

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var parser = GGUFParser(reader: ByteReader(file))
        version = try parser.readHeader()
        let (keys, meta) = try parser.readMetadata()
        metadataKeys = keys
        metadata = meta
        alignment = try parser.alignment(meta)
        let raw = try parser.readTensorInfos()
        let (start, r) = parser.reader.offset.addingReportingOverflow(alignment - 1)
        guard !r else { throw parser.reader.error("data section offset overflows") }
        dataOffset = start / alignment * alignment
        tensors = try parser.place(raw, dataOffset: dataOffset, alignment: alignment)
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    public func info(named name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor dequantized to Float32, in row-major shape (`info.shape`).
    public func tensor(named name: String) throws -> Tensor {
        guard let info = info(named: name) else {
            let some = tensors.prefix(3).map(\.name).joined(separator: ", ")
            throw FormatError(file: path, "no tensor named '\(name)' (the file has \(tensors.count) tensors, e.g. \(some)); check the name with the tensor list")
        }
        let t = Tensor(uninitialized: info.shape)
        try dequantize(info, into: t.data)
        return t
    }

    /// The tensor's stored bytes as the file holds them (blocks for quantized types), read from
    /// the mapping; valid while this GGUFFile lives.
    public func storedBytes(_ info: GGUFTensorInfo) throws -> UnsafeRawBufferPointer {
        try file.bytes(at: info.offset, count: info.byteCount, field: "data of tensor '\(info.name)'")
    }

    /// Decodes the tensor into `out`, which must hold `info.elementCount` floats.
    public func dequantize(_ info: GGUFTensorInfo, into out: UnsafeMutablePointer<Float>) throws {
        let n = info.elementCount
        guard n % info.type.blockSize == 0 else {
            throw FormatError(file: path, "tensor '\(info.name)': \(n) elements are not whole \(info.type.name) blocks of \(info.type.blockSize)")
        }
        let bytes = try file.bytes(at: info.offset, count: info.byteCount, field: "data of tensor '\(info.name)'")
        guard let base = bytes.baseAddress, n > 0 else { return }
        info.type.decode(base, out, n / info.type.blockSize)
    }
}

/// The parsing steps of GGUFFile.init, over one cursor.
struct GGUFParser {
    var reader: ByteReader
    var tensorCountRaw: UInt64 = 0
    /// Nested arrays deeper than this are rejected (recursion guard; real files nest at most 2).
    static let maxArrayDepth = 8
    static let maxDims = 4

    func fail(_ message: String) -> FormatError { reader.error(message) }

    mutating func readHeader() throws -> Int {
        let magic = try reader.read(UInt32.self, field: "magic")
        guard magic == 0x4655_4747 else {
            throw fail("magic is 0x\(String(magic, radix: 16)), expected 0x46554747 (\"GGUF\"); this is not a GGUF file")
        }
        let version = try reader.read(UInt32.self, field: "version")
        if version == 0x0200_0000 || version == 0x0300_0000 {
            throw fail("version field is 0x\(String(version, radix: 16)): a big-endian GGUF; convert it to little-endian")
        }
        guard version == 2 || version == 3 else {
            throw fail("GGUF version \(version) is not supported (expected 2 or 3); re-convert the model with a current llama.cpp")
        }
        // Checked against the bytes left once the metadata is read (readTensorInfos).
        tensorCountRaw = try reader.read(UInt64.self, field: "tensor_count")
        return Int(version)
    }

    /// A u64 count from the file that must fit in the remaining bytes at `minBytes` each.
    mutating func readCount(field: String, minBytes: Int) throws -> Int {
        let raw = try reader.read(UInt64.self, field: field)
        guard let n = Int(exactly: raw), n <= reader.remaining / max(minBytes, 1) else {
            throw fail("\(field) is \(raw), but the \(reader.remaining) bytes left hold at most \(reader.remaining / max(minBytes, 1)); the file is truncated or corrupt")
        }
        return n
    }

    mutating func readString(field: String) throws -> String {
        let n = try readCount(field: "\(field) length", minBytes: 1)
        return try reader.readString(byteCount: n, field: field)
    }

    mutating func readMetadata() throws -> ([String], [String: GGUFValue]) {
        let kvCount = try readCount(field: "kv_count", minBytes: 8 + 4 + 1)
        var keys: [String] = []
        var meta: [String: GGUFValue] = [:]
        keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let key = try readString(field: "key of metadata pair #\(i)")
            let type = try reader.read(UInt32.self, field: "value type of '\(key)'")
            let value = try readValue(type: type, field: "value of '\(key)'", depth: 0)
            guard meta.updateValue(value, forKey: key) == nil else {
                throw fail("metadata key '\(key)' appears twice; the file is corrupt")
            }
            keys.append(key)
        }
        return (keys, meta)
    }

    /// The smallest encoding of a value of type `t` (used to bound array counts).
    static func minBytes(_ t: UInt32) -> Int {
        switch t {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        default: return 12
        }
    }

    mutating func readValue(type: UInt32, field: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try reader.read(UInt8.self, field: field))
        case 1: return .int8(try reader.read(Int8.self, field: field))
        case 2: return .uint16(try reader.read(UInt16.self, field: field))
        case 3: return .int16(try reader.read(Int16.self, field: field))
        case 4: return .uint32(try reader.read(UInt32.self, field: field))
        case 5: return .int32(try reader.read(Int32.self, field: field))
        case 6: return .float32(try reader.readFloat32(field: field))
        case 7:
            let b = try reader.read(UInt8.self, field: field)
            guard b <= 1 else { throw fail("\(field): bool byte is \(b), expected 0 or 1") }
            return .bool(b == 1)
        case 8: return .string(try readString(field: field))
        case 9: return try readArray(field: field, depth: depth)
        case 10: return .uint64(try reader.read(UInt64.self, field: field))
        case 11: return .int64(try reader.read(Int64.self, field: field))
        case 12: return .float64(try reader.readFloat64(field: field))
        default:
            throw fail("\(field): unknown value type \(type) (expected 0...12); the file is corrupt or from a newer GGUF version")
        }
    }

    mutating func readArray(field: String, depth: Int) throws -> GGUFValue {
        guard depth < Self.maxArrayDepth else {
            throw fail("\(field): arrays nested deeper than \(Self.maxArrayDepth) levels; the file is corrupt")
        }
        let elementType = try reader.read(UInt32.self, field: "\(field) element type")
        guard elementType <= 12 else {
            throw fail("\(field): unknown array element type \(elementType) (expected 0...12)")
        }
        let count = try readCount(field: "\(field) array count", minBytes: Self.minBytes(elementType))
        var items: [GGUFValue] = []
        items.reserveCapacity(count)
        for _ in 0..<count {
            items.append(try readValue(type: elementType, field: field, depth: depth + 1))
        }
        return .array(items)
    }

    /// `general.alignment`, checked: a positive power of two.
    func alignment(_ meta: [String: GGUFValue]) throws -> Int {
        guard let v = meta["general.alignment"] else { return 32 }
        guard let a = v.int, a > 0, a <= 1 << 30, a & (a - 1) == 0 else {
            throw fail("general.alignment is \(v), expected a power of two (default 32)")
        }
        return a
    }

    /// Tensor infos as stored: offsets still relative to the data section.
    mutating func readTensorInfos() throws -> [GGUFTensorInfo] {
        let minInfo = 8 + 4 + 4 + 8
        guard let count = Int(exactly: tensorCountRaw), count <= reader.remaining / minInfo else {
            throw fail("tensor_count is \(tensorCountRaw), but the \(reader.remaining) bytes left hold at most \(reader.remaining / minInfo) tensor infos; the file is truncated or corrupt")
        }
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(count)
        for i in 0..<count { infos.append(try readTensorInfo(i)) }
        return infos
    }

    mutating func readTensorInfo(_ i: Int) throws -> GGUFTensorInfo {
        let name = try readString(field: "name of tensor #\(i)")
        let nDims = try reader.read(UInt32.self, field: "n_dims of tensor '\(name)'")
        guard nDims <= Self.maxDims else {
            throw fail("tensor '\(name)': n_dims is \(nDims), expected at most \(Self.maxDims)")
        }
        var dims: [Int] = []
        // The product of the dims with zeros counted as 1: a zero dim makes the element count 0,
        // but the shape is multiplied elsewhere in other orders (Tensor(uninitialized:) multiplies
        // it reversed), where [2^62, 2^62, 0] overflows before reaching the 0 (found by fuzzing).
        var elements = 1
        for d in 0..<Int(nDims) {
            let raw = try reader.read(UInt64.self, field: "ne[\(d)] of tensor '\(name)'")
            let n = Int(exactly: raw) ?? Int.max
            let (p, o) = elements.multipliedReportingOverflow(by: max(n, 1))
            // 2^40 elements (4 TiB of floats) is far beyond any file this reader can map.
            guard !o, p <= 1 << 40 else {
                throw fail("tensor '\(name)': ne[\(d)] = \(raw) makes the element count overflow (limit 2^40); the file is corrupt")
            }
            dims.append(n)
            elements = p
        }
        let typeID = try reader.read(UInt32.self, field: "type of tensor '\(name)'")
        guard let type = GGMLType.byID(typeID) else {
            let known = GGMLType.all.map { "\($0.name)(\($0.id))" }.joined(separator: ", ")
            throw fail("tensor '\(name)': unknown or unsupported ggml type id \(typeID); QATLab decodes \(known); re-quantize to one of these")
        }
        let rowLength = dims.first ?? 1
        guard rowLength % type.blockSize == 0 else {
            throw fail("tensor '\(name)': row length ne[0] = \(rowLength) is not a multiple of the \(type.name) block size \(type.blockSize)")
        }
        let rel = try reader.read(UInt64.self, field: "offset of tensor '\(name)'")
        guard let offset = Int(exactly: rel) else {
            throw fail("tensor '\(name)': offset \(rel) lies beyond the end of the file (\(reader.file.count) bytes)")
        }
        return GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset)
    }

    /// Makes offsets absolute and checks that every tensor lies inside the file, aligned, once.
    func place(_ raw: [GGUFTensorInfo], dataOffset: Int, alignment: Int) throws -> [GGUFTensorInfo] {
        let size = reader.file.count
        var seen = Set<String>()
        var out: [GGUFTensorInfo] = []
        out.reserveCapacity(raw.count)
        for t in raw {
            guard seen.insert(t.name).inserted else { throw fail("tensor name '\(t.name)' appears twice; the file is corrupt") }
            guard t.offset % alignment == 0 else {
                throw fail("tensor '\(t.name)': offset \(t.offset) is not a multiple of the alignment \(alignment); the file is corrupt")
            }
            guard let bytes = t.type.byteCount(elements: t.elementCount) else {
                throw fail("tensor '\(t.name)': \(t.elementCount) elements are not whole \(t.type.name) blocks")
            }
            let (start, o1) = dataOffset.addingReportingOverflow(t.offset)
            let (end, o2) = start.addingReportingOverflow(bytes)
            guard !o1, !o2, end <= size else {
                throw fail("tensor '\(t.name)': data bytes \(start)..<\(end) (offset \(t.offset) in the data section at \(dataOffset)) lie beyond the end of the file (\(size) bytes); the file is truncated or the offset is corrupt")
            }
            out.append(GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, offset: start))
        }
        return out
    }
}
