// GGUF reader tests against the `gguf` Python package (golden files from
// Tests/Oracles/gguf_golden.py, in Golden/), writer round trips, and malformed files.
//
// Tolerance: none. Dequantized values must be bit-identical to the oracle's (same fp16
// conversion, same order of float operations), and F32/F16 tensors round-trip exactly.

import Foundation
import Testing
import QATIO
import QATTensor

private let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
private let golden = here.appendingPathComponent("Golden")
private let modelPath = here.appendingPathComponent("../../Models/SmolLM2-135M-Instruct.Q4_1.gguf").standardized.path
private let typeNames = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]

/// A file under the temporary directory, removed by `cleanup()`.
private struct TempFile {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("qat-gguf-\(UUID().uuidString).gguf").path
    func write(_ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Counts elements whose bit patterns differ.
private func bitMismatches(_ a: Tensor, _ b: Tensor) -> Int {
    guard a.count == b.count else { return max(a.count, b.count) }
    var n = 0
    for i in 0..<a.count where a.data[i].bitPattern != b.data[i].bitPattern { n += 1 }
    return n
}

@Suite("GGUF reader")
struct GGUFTests {
    @Test("every ggml type decodes bit-exactly like gguf.quants.dequantize", arguments: typeNames)
    func decodesLikeOracle(_ name: String) throws {
        let file = try GGUFFile(path: golden.appendingPathComponent("gguf_types.gguf").path)
        let info = try #require(file.info(named: "q.\(name)"))
        #expect(info.type == GGMLType.named(name))
        #expect(info.type.name == name)
        #expect(info.shape == [3, 512])
        #expect(info.offset % 64 == 0)
        let got = try file.tensor(named: "q.\(name)")
        let want = try file.tensor(named: "golden.\(name)")
        #expect(got.shape == want.shape)
        #expect(bitMismatches(got, want) == 0, "\(name): values differ from the oracle")
    }

    @Test("metadata of every value type written by the Python GGUFWriter")
    func readsPythonMetadata() throws {
        let file = try GGUFFile(path: golden.appendingPathComponent("gguf_types.gguf").path)
        #expect(file.version == 3)
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        let m = file.metadata
        #expect(m["general.architecture"] == .string("test"))
        #expect(m["general.alignment"] == .uint32(64))
        #expect(m["test.u8"] == .uint8(200))
        #expect(m["test.i8"] == .int8(-100))
        #expect(m["test.u16"] == .uint16(60000))
        #expect(m["test.i16"] == .int16(-30000))
        #expect(m["test.u32"] == .uint32(4_000_000_000))
        #expect(m["test.i32"] == .int32(-2_000_000_000))
        #expect(m["test.u64"] == .uint64(1 << 63 + 5))
        #expect(m["test.i64"] == .int64(-(1 << 62) - 3))
        #expect(m["test.f32"] == .float32(0.1))
        #expect(m["test.f64"] == .float64(3.141592653589793))
        #expect(m["test.bool"] == .bool(true))
        #expect(m["test.string"] == .string("h\u{e9}llo \u{2713}"))
        #expect(m["test.strings"]?.strings == ["a", "", "\u{fc}"])
        #expect(m["test.i32s"] == .array([.int32(1), .int32(-2), .int32(3)]))
        #expect(m["test.f32s"] == .array([.float32(0.5), .float32(-1.25)]))
        #expect(m["test.nested"] == .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        #expect(m["test.u64"]?.int == nil, "2^63+5 does not fit in Int")
        #expect(m["test.i16"]?.int == -30000)
        #expect(m["test.f32"]?.double == Double(Float(0.1)))
        #expect(file.metadataKeys.prefix(3) == ["general.architecture", "general.alignment", "test.u8"])
        #expect(file.metadataKeys.count == 18)
        #expect(file.tensors.count == 2 * typeNames.count)
    }

    @Test("GGUFWriter metadata of every type and F32/F16/raw tensors round-trip", arguments: [2, 3])
    func writerRoundTrip(version: Int) throws {
        let meta: [(String, GGUFValue)] = [
            ("general.alignment", .uint32(128)),
            ("u8", .uint8(255)), ("i8", .int8(-128)), ("u16", .uint16(65535)), ("i16", .int16(-32768)),
            ("u32", .uint32(.max)), ("i32", .int32(.min)), ("u64", .uint64(.max)), ("i64", .int64(.min)),
            ("f32", .float32(-0.0)), ("f32.inf", .float32(.infinity)), ("f64", .float64(1e-300)),
            ("bool.t", .bool(true)), ("bool.f", .bool(false)), ("str", .string("")),
            ("str.unicode", .string("日本語 🙂\n\"q\"")), ("arr.empty", .array([])),
            ("arr.u64", .array([.uint64(1), .uint64(.max)])), ("arr.bool", .array([.bool(true), .bool(false)])),
            ("arr.nested", .array([.array([.array([.string("deep")])]), .array([])])),
        ]
        var w = GGUFWriter(version: version)
        for (k, v) in meta { w.set(k, v) }
        let f32: [Float] = [1, -2.5, Float(bitPattern: 0x0003_0000), .greatestFiniteMagnitude, -0.0, 7]
        let f16: [Float] = [0.5, -65504, 6e-8, 0, 1.0009765625]
        var q8 = [UInt8](repeating: 0, count: 34)
        q8[1] = 0x3C  // d = 1.0 (fp16 0x3C00)
        for j in 0..<32 { q8[2 + j] = UInt8(bitPattern: Int8(j - 16)) }
        try w.addTensor(name: "a.f32", shape: [2, 3], values: f32)
        try w.addTensor(name: "b.f16", shape: [5], values: f16, as: .f16)
        try w.addTensor(name: "c.q8", dims: [32], type: .q8_0, bytes: q8)
        let tmp = TempFile()
        defer { tmp.cleanup() }
        try w.write(to: tmp.path)

        let file = try GGUFFile(path: tmp.path)
        #expect(file.version == version)
        #expect(file.metadataKeys == meta.map(\.0))
        for (k, v) in meta { #expect(file.metadata[k] == v, "\(k)") }
        #expect(file.alignment == 128)
        #expect(file.tensors.map(\.name) == ["a.f32", "b.f16", "c.q8"])
        #expect(file.tensors.allSatisfy { $0.offset % 128 == 0 })
        #expect(file.info(named: "a.f32")?.dims == [3, 2])
        #expect(try file.tensor(named: "a.f32").toArray().map(\.bitPattern) == f32.map(\.bitPattern))
        #expect(try file.tensor(named: "b.f16").toArray() == f16.map { Float(Float16($0)) })
        #expect(try file.tensor(named: "c.q8").toArray() == (0..<32).map { Float($0 - 16) })
        #expect(throws: FormatError.self) { try file.tensor(named: "missing") }
    }

    @Test("the writer rejects inconsistent input")
    func writerRejects() throws {
        var w = GGUFWriter()
        #expect(throws: FormatError.self) { try w.addTensor(name: "x", dims: [33], type: .q8_0, bytes: [UInt8](repeating: 0, count: 34)) }
        #expect(throws: FormatError.self) { try w.addTensor(name: "x", shape: [2], values: [1, 2], as: .q4_0) }
        try w.addTensor(name: "x", shape: [1], values: [1])
        #expect(throws: FormatError.self) { try w.addTensor(name: "x", shape: [1], values: [1]) }
        w.set("mixed", .array([.uint8(1), .int8(1)]))
        #expect(throws: FormatError.self) { try w.serialized() }
    }
}

// MARK: - Malformed files

/// One corruption of the base file and words its error message must contain.
struct GGUFCorruption: CustomStringConvertible, Sendable {
    let description: String
    let expect: [String]
    let patch: @Sendable (inout [UInt8]) -> Void
}

/// Little-endian patching helpers over a file's bytes.
private extension Array where Element == UInt8 {
    mutating func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        Swift.withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { self[offset + i] = b } }
    }
    /// Index just past the first occurrence of `s` (keys and tensor names are unique here).
    func after(_ s: String) -> Int {
        let needle = Array(s.utf8)
        for i in 0...(count - needle.count) where Array(self[i..<i + needle.count]) == needle { return i + needle.count }
        return count
    }
}

/// The base file: an array, a string, a Q4_0 tensor "tensor.q" (ne = [32, 2]) and an F32
/// tensor "tensor.f" (ne = [4]). Patch offsets are found by name in the bytes:
/// after a tensor name come n_dims u32, ne u64 x n_dims, type u32, offset u64.
private func baseFile() throws -> [UInt8] {
    var w = GGUFWriter()
    w.set("k.arr", .array([.uint8(1), .uint8(2), .uint8(3)]))
    w.set("k.str", .string("abc"))
    var q = [UInt8](repeating: 0x11, count: 36)
    q[0] = 0; q[1] = 0x3C; q[18] = 0; q[19] = 0x3C
    try w.addTensor(name: "tensor.q", dims: [32, 2], type: .q4_0, bytes: q)
    try w.addTensor(name: "tensor.f", shape: [4], values: [1, 2, 3, 4])
    return try w.serialized()
}

private let corruptions: [GGUFCorruption] = [
    GGUFCorruption(description: "wrong magic", expect: ["magic", "not a GGUF"]) { $0[0] = UInt8(ascii: "X") },
    GGUFCorruption(description: "version 1", expect: ["version 1", "2 or 3"]) { $0.put(UInt32(1), at: 4) },
    GGUFCorruption(description: "version 4", expect: ["version 4"]) { $0.put(UInt32(4), at: 4) },
    GGUFCorruption(description: "big-endian", expect: ["big-endian"]) { $0.put(UInt32(0x0300_0000), at: 4) },
    GGUFCorruption(description: "tensor count 2^60", expect: ["tensor_count", "1152921504606846976"]) { $0.put(UInt64(1) << 60, at: 8) },
    GGUFCorruption(description: "kv count 2^60", expect: ["kv_count", "1152921504606846976"]) { $0.put(UInt64(1) << 60, at: 16) },
    GGUFCorruption(description: "key length 2^60", expect: ["key of metadata pair #0 length", "1152921504606846976"]) { $0.put(UInt64(1) << 60, at: 24) },
    GGUFCorruption(description: "string length 2^60", expect: ["'k.str'", "1152921504606846976"]) { $0.put(UInt64(1) << 60, at: $0.after("k.str") + 4) },
    GGUFCorruption(description: "string length 2^64-1", expect: ["'k.str'", "18446744073709551615"]) { $0.put(UInt64.max, at: $0.after("k.str") + 4) },
    GGUFCorruption(description: "array count 2^60", expect: ["array count", "1152921504606846976"]) { $0.put(UInt64(1) << 60, at: $0.after("k.arr") + 8) },
    GGUFCorruption(description: "unknown value type", expect: ["unknown value type 77", "'k.str'"]) { $0.put(UInt32(77), at: $0.after("k.str")) },
    GGUFCorruption(description: "unknown array element type", expect: ["element type 13"]) { $0.put(UInt32(13), at: $0.after("k.arr") + 4) },
    GGUFCorruption(description: "bool byte 2", expect: ["bool byte is 2"]) {
        $0.put(UInt32(7), at: $0.after("k.arr") + 4)  // u8 array -> bool array holding 1, 2, 3
    },
    GGUFCorruption(description: "n_dims 5", expect: ["tensor.q", "n_dims is 5"]) { $0.put(UInt32(5), at: $0.after("tensor.q")) },
    GGUFCorruption(description: "unknown ggml type", expect: ["tensor.q", "type id 99"]) { $0.put(UInt32(99), at: $0.after("tensor.q") + 4 + 16) },
    GGUFCorruption(description: "row not whole blocks", expect: ["tensor.q", "48", "block size 32"]) { $0.put(UInt64(48), at: $0.after("tensor.q") + 4) },
    GGUFCorruption(description: "element count overflow", expect: ["tensor.q", "overflow"]) { $0.put(UInt64(1) << 62, at: $0.after("tensor.q") + 12) },
    // A zero dim made the count 0 and let a huge dim through; other code multiplies the shape in
    // another order and trapped (fuzz regression Tests/Fuzz/regressions/gguf/zero-dim-shape-overflow.gguf).
    GGUFCorruption(description: "zero dim beside a 2^62 dim", expect: ["tensor.q", "ne[1] = 4611686018427387904", "overflow"]) { b in
        b.put(UInt64(0), at: b.after("tensor.q") + 4)
        b.put(UInt64(1) << 62, at: b.after("tensor.q") + 12)
    },
    GGUFCorruption(description: "tensor offset beyond the file", expect: ["tensor.f", "beyond the end"]) { $0.put(UInt64(1) << 20, at: $0.after("tensor.f") + 4 + 8 + 4) },
    GGUFCorruption(description: "tensor offset 2^64-32", expect: ["tensor.f", "beyond the end"]) { $0.put(UInt64.max - 31, at: $0.after("tensor.f") + 4 + 8 + 4) },
    GGUFCorruption(description: "misaligned offset", expect: ["tensor.f", "alignment 32"]) { b in
        let at = b.after("tensor.f") + 16
        b.put(UInt64(b[at]) + 4, at: at)
    },
    GGUFCorruption(description: "duplicate tensor name", expect: ["appears twice"]) { b in
        let at = b.after("tensor.f") - 1
        b[at] = UInt8(ascii: "q")
    },
    // The last tensor's 16 bytes are followed by 16 bytes of padding to the alignment.
    GGUFCorruption(description: "truncated data", expect: ["tensor.f", "beyond the end"]) { $0.removeLast(16 + 8) },
    GGUFCorruption(description: "truncated header", expect: ["beyond the end"]) { $0.removeLast($0.count - 20) },
]

@Suite("GGUF malformed files")
struct GGUFMalformedTests {
    @Test("each corruption is a FormatError naming the file and the problem", arguments: corruptions)
    func corruption(_ c: GGUFCorruption) throws {
        var bytes = try baseFile()
        c.patch(&bytes)
        let tmp = TempFile()
        defer { tmp.cleanup() }
        try tmp.write(bytes)
        do {
            _ = try GGUFFile(path: tmp.path)
            Issue.record("\(c): opened without an error")
        } catch let e as FormatError {
            #expect(e.file == tmp.path)
            for word in c.expect { #expect(e.message.contains(word), "\(c): '\(e.message)' lacks '\(word)'") }
        }
    }

    @Test("the base file itself is valid")
    func baseIsValid() throws {
        let tmp = TempFile()
        defer { tmp.cleanup() }
        try tmp.write(try baseFile())
        let file = try GGUFFile(path: tmp.path)
        #expect(try file.tensor(named: "tensor.q").toArray() == [Float](repeating: -7, count: 64))
        #expect(try file.tensor(named: "tensor.f").toArray() == [1, 2, 3, 4])
    }

    @Test("every truncation of a valid file before its last data byte is a FormatError")
    func everyTruncation() throws {
        let bytes = try baseFile()
        let tmp = TempFile()
        defer { tmp.cleanup() }
        try tmp.write(bytes)
        let last = try #require(try GGUFFile(path: tmp.path).info(named: "tensor.f"))
        let end = last.offset + last.byteCount  // the padding after it is optional
        #expect(end == bytes.count - 16)
        for n in 0..<end {
            try tmp.write(Array(bytes[0..<n]))
            #expect(throws: FormatError.self, "prefix of \(n) bytes") { _ = try GGUFFile(path: tmp.path) }
        }
    }

    @Test("random byte corruption in the header never traps")
    func randomCorruption() throws {
        let bytes = try baseFile()
        let tmp = TempFile()
        defer { tmp.cleanup() }
        let header = bytes.after("tensor.f") + 24
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        var opened = 0
        for _ in 0..<400 {
            var b = bytes
            for _ in 0..<(1 + next() % 3) { b[next() % header] = UInt8(truncatingIfNeeded: next()) }
            try tmp.write(b)
            do {
                let file = try GGUFFile(path: tmp.path)
                for t in file.tensors { _ = try file.tensor(named: t.name) }
                opened += 1
            } catch is FormatError {}
        }
        #expect(opened < 400)
    }
}

// MARK: - The real model

@Suite("GGUF SmolLM2 model file")
struct GGUFModelTests {
    @Test("metadata and dequantized rows match the oracle",
          .enabled(if: FileManager.default.fileExists(atPath: modelPath), "skipped: \(modelPath) is absent (run the model setup)"))
    func modelMatchesOracle() throws {
        let file = try GGUFFile(path: modelPath)
        #expect(file.metadata["llama.block_count"]?.int == 30)
        #expect(file.tensors.count == 272)
        #expect(file.metadata["tokenizer.ggml.pre"]?.string == "smollm")
        #expect(file.metadata["tokenizer.ggml.tokens"]?.strings?.count == 49152)
        let rows = try GGUFFile(path: golden.appendingPathComponent("smollm2_rows.gguf").path)
        let expectTypes: [String: GGMLType] = ["token_embd.weight": .q8_0, "blk.0.attn_q.weight": .q4_1, "blk.29.ffn_down.weight": .q4_1]
        for (name, type) in expectTypes {
            let info = try #require(file.info(named: name))
            #expect(info.type == type, "\(name)")
            let full = try file.tensor(named: name)
            let want = try rows.tensor(named: name + ".rows")
            #expect(full.shape.last == want.shape.last)
            let head = Tensor(uninitialized: want.shape)
            head.data.update(from: full.data, count: want.count)
            #expect(bitMismatches(head, want) == 0, "\(name): first rows differ from the oracle")
        }
    }

    @Test("every tensor dequantizes (timed)",
          .enabled(if: FileManager.default.fileExists(atPath: modelPath), "skipped: \(modelPath) is absent (run the model setup)"))
    func dequantizeAll() throws {
        let file = try GGUFFile(path: modelPath)
        let largest = file.tensors.map(\.elementCount).max() ?? 0
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: largest)
        defer { buffer.deallocate() }
        let clock = ContinuousClock()
        var total = 0
        var finite = true
        let elapsed = try clock.measure {
            for info in file.tensors {
                try file.dequantize(info, into: buffer)
                total += info.elementCount
                finite = finite && buffer[0].isFinite && buffer[info.elementCount - 1].isFinite
            }
        }
        print("GGUF: dequantized \(file.tensors.count) tensors, \(total) elements in \(elapsed)")
        #expect(total > 130_000_000)
        #expect(finite)
        #if !DEBUG
        #expect(elapsed < .seconds(2), "release dequantization should take well under 2 s")
        #endif
    }
}
