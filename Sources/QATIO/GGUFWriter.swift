// GGUFWriter: builds a GGUF v2/v3 file in memory (metadata of every value type and tensors
// given as Float32 values stored as F32, F16 or BF16, or as raw ggml blocks) and writes it.
//
// Output layout, the one GGUF.swift reads (see its numbered list for every field):
//  1. [0..24) "GGUF", version u32, tensor_count u64, kv_count u64.
//  2. metadata pairs in the order they were first set: key string, type u32, value; an array
//     stores the element type of its first element (u8 when empty) and all elements must share it.
//  3. tensor infos in the order added: name, n_dims, ne[] (ne[0] = last row-major dimension),
//     ggml type id, offset relative to the data section.
//  4. zero padding to a multiple of the alignment, then each tensor's bytes, each padded to a
//     multiple of the alignment. The alignment is `general.alignment` when set (it must be a
//     power of two), else 32.
// `write(to:)` streams items 1-4 into "FILE.tmp-<pid>-<random>", fsyncs it and renames it to FILE
// (writeAtomically in Safetensors.swift), so FILE is either the old file or the complete new one,
// never half-written; `overwrite: false` refuses an existing FILE before anything is written.

import Foundation
import QATTensor

public struct GGUFWriter {
    public let version: Int
    private var keys: [String] = []
    private var values: [String: GGUFValue] = [:]
    private var tensors: [(name: String, dims: [Int], type: GGMLType, bytes: [UInt8])] = []

    /// The name used in errors for in-memory building (no file yet).
    static let origin = "(GGUF writer)"

    public init(version: Int = 3) { self.version = version }

    /// Sets a metadata value; a key set twice keeps its first position and the last value.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }

    /// Adds a tensor of already-encoded ggml blocks. `dims` is GGUF order (ne[0] first).
    public mutating func addTensor(name: String, dims: [Int], type: GGMLType, bytes: [UInt8]) throws {
        guard !tensors.contains(where: { $0.name == name }) else {
            throw FormatError(file: Self.origin, "tensor '\(name)' was added twice")
        }
        guard dims.count <= GGUFParser.maxDims, dims.allSatisfy({ $0 >= 0 }) else {
            throw FormatError(file: Self.origin, "tensor '\(name)': dims \(dims) must be 0 to 4 non-negative sizes")
        }
        let elements = try Self.elementCount(dims)
        guard (dims.first ?? 1) % type.blockSize == 0, type.byteCount(elements: elements) == bytes.count else {
            throw FormatError(file: Self.origin, "tensor '\(name)': \(bytes.count) bytes do not encode dims \(dims) as \(type.name) (blocks of \(type.blockSize) elements, \(type.bytesPerBlock) bytes)")
        }
        tensors.append((name, dims, type, bytes))
    }

    /// Adds a tensor from Float32 values in row-major `shape`, stored as F32, F16 or BF16.
    public mutating func addTensor(name: String, shape: [Int], values: [Float], as type: GGMLType = .f32) throws {
        let bytes: [UInt8]
        do { bytes = try Self.encode(values, as: type) } catch { throw FormatError(file: Self.origin, "tensor '\(name)': \(error)") }
        try addTensor(name: name, dims: shape.reversed(), type: type, bytes: bytes)
    }

    /// Float32 values as F32, F16 or BF16 bytes (both rounded to nearest even), little-endian.
    public static func encode(_ values: [Float], as type: GGMLType) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * type.bytesPerBlock)
        func put(_ v: some FixedWidthInteger) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        switch type {
        case .f32: for v in values { put(v.bitPattern) }
        case .f16: for v in values { put(HalfFloat.half(from: v)) }
        case .bf16: for v in values { put(HalfFloat.bfloat16(from: v)) }
        default:
            throw FormatError(file: origin, "the writer encodes floats as F32, F16 or BF16, not \(type.name); pass encoded blocks instead")
        }
        return bytes
    }

    /// The complete file.
    public func serialized() throws -> [UInt8] {
        var out: [UInt8] = []
        try stream { out.append(contentsOf: $0) }
        return out
    }

    /// Writes the file to `path` atomically (layout note above). An existing `path` is replaced
    /// only with `overwrite`; otherwise it is an error and nothing is written.
    public func write(to path: String, overwrite: Bool = true) throws {
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw FormatError(file: path, "exists; choose another output path or allow overwriting (overwrite=1)")
        }
        try writeAtomically(path) { out in
            try stream { bytes in try bytes.withUnsafeBytes { try out($0) } }
        }
    }

    /// Hands the file to `sink` piece by piece: the header, metadata and tensor infos as one piece,
    /// then each tensor's bytes and padding, so a large file is never copied whole.
    private func stream(_ sink: ([UInt8]) throws -> Void) throws {
        let alignment = try self.alignment()
        var out: [UInt8] = []
        out.append(contentsOf: Array("GGUF".utf8))
        append(UInt32(version), to: &out)
        append(UInt64(tensors.count), to: &out)
        append(UInt64(keys.count), to: &out)
        for key in keys {
            guard let value = values[key] else { continue }
            appendString(key, to: &out)
            append(value.typeID, to: &out)
            try appendValue(value, key: key, to: &out)
        }
        var offset = 0
        for t in tensors {
            appendString(t.name, to: &out)
            append(UInt32(t.dims.count), to: &out)
            for d in t.dims { append(UInt64(d), to: &out) }
            append(t.type.id, to: &out)
            append(UInt64(offset), to: &out)
            offset += padded(t.bytes.count, alignment)
        }
        pad(&out, alignment)
        try sink(out)
        for t in tensors {
            try sink(t.bytes)
            let padding = padded(t.bytes.count, alignment) - t.bytes.count
            if padding > 0 { try sink([UInt8](repeating: 0, count: padding)) }
        }
    }

    // MARK: - Encoding

    /// Element count of GGUF dims, checked like `Shape.validate`, as a FormatError.
    private static func elementCount(_ dims: [Int]) throws -> Int {
        do { return try Shape.validate(dims, op: "GGUFWriter") } catch {
            throw FormatError(file: origin, "dims \(dims): \(error)")
        }
    }

    private func alignment() throws -> Int {
        guard let v = values["general.alignment"] else { return 32 }
        guard let a = v.int, a > 0, a <= 1 << 30, a & (a - 1) == 0 else {
            throw FormatError(file: Self.origin, "general.alignment is \(v), expected a power of two")
        }
        return a
    }

    private func padded(_ n: Int, _ a: Int) -> Int { (n + a - 1) / a * a }

    private func pad(_ out: inout [UInt8], _ a: Int) {
        out.append(contentsOf: repeatElement(0, count: padded(out.count, a) - out.count))
    }

    private func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private func appendString(_ s: String, to out: inout [UInt8]) {
        append(UInt64(s.utf8.count), to: &out)
        out.append(contentsOf: Array(s.utf8))
    }

    private func appendValue(_ value: GGUFValue, key: String, to out: inout [UInt8]) throws {
        switch value {
        case let .uint8(v): append(v, to: &out)
        case let .int8(v): append(v, to: &out)
        case let .uint16(v): append(v, to: &out)
        case let .int16(v): append(v, to: &out)
        case let .uint32(v): append(v, to: &out)
        case let .int32(v): append(v, to: &out)
        case let .uint64(v): append(v, to: &out)
        case let .int64(v): append(v, to: &out)
        case let .float32(v): append(v.bitPattern, to: &out)
        case let .float64(v): append(v.bitPattern, to: &out)
        case let .bool(v): out.append(v ? 1 : 0)
        case let .string(s): appendString(s, to: &out)
        case let .array(items):
            let type = items.first?.typeID ?? 0
            guard items.allSatisfy({ $0.typeID == type }) else {
                throw FormatError(file: Self.origin, "metadata '\(key)': array elements must all have one type")
            }
            append(type, to: &out)
            append(UInt64(items.count), to: &out)
            // Elements carry no type tag; a nested array's own header is its element type and
            // count, which is exactly what this case writes.
            for item in items { try appendValue(item, key: key, to: &out) }
        }
    }
}
