// Safetensors reader/writer tests against files written by the Python `safetensors` package
// (Tests/Oracles/safetensors_golden.py), round trips, and every malformed-header case.
import Foundation
import QATTensor
import Testing

@testable import QATIO

private let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

/// One tensor of an *.expected.json file: float bit patterns or integer values.
private struct StExpected: Decodable {
    let shape: [Int]?
    let bits: [UInt32]?
    let values: [Int]?
}

private func stExpected(_ file: String) throws -> [String: StExpected] {
    let data = try Data(contentsOf: golden.appendingPathComponent(file))
    return try JSONDecoder().decode([String: StExpected].self, from: data)
}

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct StScratch {
    let dir: URL
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("qat-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func cleanup() { try? FileManager.default.removeItem(at: dir) }
    func contents() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() }
}

private func bits(_ t: Tensor) -> [UInt32] { t.toArray().map(\.bitPattern) }

@Suite("Safetensors golden files")
struct SafetensorsGoldenTests {
    @Test func readsEveryDtypeBitExactly() throws {
        let f = try SafetensorsFile(path: golden.appendingPathComponent("st_alltypes.safetensors").path)
        let expected = try stExpected("st_alltypes.expected.json")
        #expect(f.metadata == ["format": "pt", "note": "QATLab golden \u{e9}"])
        #expect(f.names == ["bf16", "empty", "f16", "f32", "i32", "i8", "scalar", "u8"])
        for name in ["f32", "f16", "bf16", "scalar", "empty"] {
            let e = try #require(expected[name])
            let t = try f.tensor(name)
            #expect(t.shape == e.shape, "\(name)")
            #expect(bits(t) == e.bits, "\(name)")
        }
        #expect(f.info("bf16")?.dtype == .BF16)
        #expect(f.info("scalar")?.shape == [] && f.info("scalar")?.count == 1)
        #expect(try f.int32s("i32").map(Int.init) == expected["i32"]?.values)
        #expect(try f.uint8s("u8").map(Int.init) == expected["u8"]?.values)
        #expect(try f.int8s("i8").map(Int.init) == expected["i8"]?.values)
        // Integer tensors also convert to Float32 (exact for these values).
        #expect(try f.tensor("i8").toArray() == [-128, -1, 0, 1, 127])
        #expect(try f.tensor("i32").shape == [3, 2])
    }

    @Test func rawAccessChecksTheDtypeAndName() throws {
        let path = golden.appendingPathComponent("st_alltypes.safetensors").path
        let f = try SafetensorsFile(path: path)
        let wrong = #expect(throws: FormatError.self) { try f.int32s("f32") }
        #expect(wrong?.description.contains("dtype F32") == true)
        let missing = #expect(throws: FormatError.self) { try f.tensor("nope") }
        #expect(missing?.description.contains("st_alltypes.safetensors") == true)
    }

    @Test func readsShardedCheckpointThroughTheIndex() throws {
        let dir = golden.appendingPathComponent("st_sharded")
        let expected = try stExpected("st_sharded.expected.json")
        for source in [dir.path, dir.appendingPathComponent("model.safetensors.index.json").path] {
            let ck = try SafetensorsCheckpoint(directoryOrFile: source)
            #expect(ck.names == ["lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"])
            #expect(ck.files.count == 2)
            for name in ck.names {
                let t = try ck.tensor(name)
                #expect(t.shape == expected[name]?.shape)
                #expect(bits(t) == expected[name]?.bits)
            }
            #expect(ck.file(for: "model.norm.weight")?.path.hasSuffix("model-00002-of-00002.safetensors") == true)
        }
        let single = try SafetensorsCheckpoint(directoryOrFile: dir.appendingPathComponent("model-00001-of-00002.safetensors").path)
        #expect(single.names == ["model.embed_tokens.weight"])
    }

    @Test func indexErrorsNameTheIndex() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        try Data(#"{"weight_map": {"a": "../evil.safetensors"}}"#.utf8).write(to: URL(fileURLWithPath: s.path("model.safetensors.index.json")))
        let e = #expect(throws: FormatError.self) { try SafetensorsCheckpoint(directoryOrFile: s.dir.path) }
        #expect(e?.description.contains("model.safetensors.index.json") == true)
        try FileManager.default.removeItem(atPath: s.path("model.safetensors.index.json"))
        let empty = #expect(throws: FormatError.self) { try SafetensorsCheckpoint(directoryOrFile: s.dir.path) }
        #expect(empty?.description.contains("model.safetensors") == true)
    }
}

@Suite("Safetensors writer")
struct SafetensorsWriterTests {
    @Test func f32RoundTripIsBitExactWithIntegersAndMetadata() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let specials: [Float] = [0, -0.0, 1, -1.5, .pi, .infinity, -.infinity, .leastNonzeroMagnitude,
                                 .greatestFiniteMagnitude, Float(bitPattern: 0x0000_1234), 123456.789]
        var rng = SystemRandomNumberGenerator()
        let randoms = (0..<53).map { _ in Float(bitPattern: UInt32.random(in: 0..<0x7F80_0000, using: &rng)) * (Bool.random() ? 1 : -1) }
        let t = try Tensor(shape: [4, 16], specials + randoms)
        var w = SafetensorsWriter()
        try w.add("w", t)
        try w.add("scalar", try Tensor(shape: [], [3.5]))
        try w.add("empty", try Tensor(shape: [2, 0], []))
        try w.addInt32("ids", shape: [2, 2], [1, -2, .max, .min])
        try w.addUInt8("codes", shape: [3], [0, 7, 255])
        try w.addInt8("q", shape: [1, 3], [-128, 0, 127])
        w.metadata = ["format": "pt", "quote\"and\\slash": "line\nbreak \u{e9}"]
        let path = s.path("out.safetensors")
        try w.write(to: path)
        #expect(s.contents() == ["out.safetensors"], "no temporary file may remain")

        let f = try SafetensorsFile(path: path)
        #expect(bits(try f.tensor("w")) == bits(t))
        #expect(try f.tensor("w").shape == [4, 16])
        #expect(try f.tensor("scalar").shape == [] && f.tensor("scalar").toArray() == [3.5])
        #expect(try f.tensor("empty").shape == [2, 0])
        #expect(try f.int32s("ids") == [1, -2, .max, .min])
        #expect(try f.uint8s("codes") == [0, 7, 255])
        #expect(try f.int8s("q") == [-128, 0, 127])
        #expect(f.metadata == w.metadata)
        // The header is padded to a multiple of 8 and every tensor starts aligned to its element size.
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(n % 8 == 0)
        for name in f.names { let i = try #require(f.info(name)); #expect(i.byteRange.lowerBound % i.dtype.size == 0, "\(name)") }
    }

    @Test(arguments: [SafetensorsDType.F16, .BF16])
    func halfRoundTripIsExactForRepresentableValues(_ dtype: SafetensorsDType) throws {
        let s = try StScratch()
        defer { s.cleanup() }
        // k/64 for |k| < 256 has at most 8 significant bits: exact in both formats.
        var values = (-128..<128).map { Float($0) / 64 }
        values += [0, -0.0, .infinity, -.infinity, 1024, -0.5, 2]
        let t = try Tensor(shape: [values.count], values)
        var w = SafetensorsWriter()
        try w.add("h", t, as: dtype)
        // A value that must round: stored as the format's nearest-even neighbour.
        let rounded = try Tensor(shape: [2], [0.1, 1 / 3])
        try w.add("r", rounded, as: dtype)
        try w.write(to: s.path("h.safetensors"))
        let f = try SafetensorsFile(path: s.path("h.safetensors"))
        #expect(f.info("h")?.dtype == dtype)
        #expect(bits(try f.tensor("h")) == bits(t))
        let expect: [Float] = rounded.toArray().map {
            dtype == .F16 ? HalfFloat.float(fromHalf: HalfFloat.half(from: $0)) : HalfFloat.float(fromBFloat16: HalfFloat.bfloat16(from: $0))
        }
        #expect(bits(try f.tensor("r")) == expect.map(\.bitPattern))
    }

    @Test func writerRejectsBadInput() throws {
        var w = SafetensorsWriter()
        try w.add("a", Tensor([1, 2]))
        #expect(throws: FormatError.self) { try w.add("a", Tensor([3])) }
        #expect(throws: FormatError.self) { try w.add("__metadata__", Tensor([3])) }
        #expect(throws: FormatError.self) { try w.add("b", Tensor([3]), as: .I32) }
        #expect(throws: FormatError.self) { try w.addInt32("c", shape: [2, 2], [1, 2, 3]) }
        #expect(throws: FormatError.self) { try w.addUInt8("d", shape: [-1], []) }
    }

    @Test func failedWriteLeavesNothingBehind() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        var w = SafetensorsWriter()
        try w.add("a", Tensor([1, 2]))
        // The destination is an existing directory: rename fails, the temporary is removed.
        try FileManager.default.createDirectory(atPath: s.path("taken"), withIntermediateDirectories: false)
        let e = #expect(throws: FormatError.self) { try w.write(to: s.path("taken")) }
        #expect(e?.description.contains("taken") == true)
        #expect(s.contents() == ["taken"])
        #expect(throws: FormatError.self) { try w.write(to: s.path("missing/dir/x.safetensors")) }
    }
}

/// A malformed file: the header text, the data bytes and optionally a forged length field.
private struct StCase: CustomStringConvertible, Sendable {
    let name: String
    let header: String
    var data: [UInt8] = [UInt8](repeating: 0, count: 16)
    var length: UInt64? = nil
    var truncateTo: Int? = nil
    let mentions: String
    var description: String { name }

    func bytes() -> [UInt8] {
        let h = Array(header.utf8)
        var out = withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { Array($0) } + h + data
        if let n = truncateTo { out = Array(out.prefix(n)) }
        return out
    }
}

private let stCases: [StCase] = [
    StCase(name: "truncated", header: "", truncateTo: 5, mentions: "header length"),
    StCase(name: "header-beyond-file", header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, length: 1 << 20, mentions: "header length"),
    StCase(name: "header-huge", header: "{}", length: UInt64.max, mentions: "header length"),
    StCase(name: "broken-json", header: #"{"a":{"dtype":"F32","#, mentions: "JSON"),
    StCase(name: "not-an-object", header: "[1,2]", mentions: "JSON"),
    StCase(name: "unknown-dtype", header: #"{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}"#, mentions: "unknown dtype 'F31'"),
    StCase(name: "offsets-beyond", header: #"{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#, mentions: "outside the data buffer"),
    StCase(name: "size-disagrees", header: #"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#, mentions: "needs 4 x 4 = 16 bytes"),
    StCase(name: "dtype-size-disagrees", header: #"{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}}"#, mentions: "needs 4 x 2 = 8 bytes"),
    StCase(name: "overlap", header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, mentions: "overlap"),
    StCase(name: "negative-dim", header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, mentions: "negative dimension"),
    StCase(name: "overflowing-dims", header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, mentions: "overflows"),
    StCase(name: "reversed-offsets", header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, mentions: "outside the data buffer"),
    StCase(name: "fractional-offset", header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}"#, mentions: "tensor 'a'"),
    StCase(name: "missing-shape", header: #"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, mentions: "shape"),
    StCase(name: "bad-metadata", header: #"{"__metadata__":{"n":1}}"#, mentions: "__metadata__"),
]

@Suite("Safetensors malformed files")
struct SafetensorsMalformedTests {
    @Test(arguments: stCases)
    fileprivate func malformedFileGivesFormatErrorNamingTheFile(_ c: StCase) throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let path = s.path("bad-\(c.name).safetensors")
        try Data(c.bytes()).write(to: URL(fileURLWithPath: path))
        let e = #expect(throws: FormatError.self) { try SafetensorsFile(path: path) }
        #expect(e?.description.contains("bad-\(c.name).safetensors") == true, "\(e?.description ?? "")")
        #expect(e?.description.contains(c.mentions) == true, "\(e?.description ?? "")")
    }

    @Test func truncatedGoldenFileIsRefused() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let full = try Data(contentsOf: golden.appendingPathComponent("st_alltypes.safetensors"))
        for cut in [3, 8, 100, full.count - 1] {
            let path = s.path("cut\(cut).safetensors")
            try full.prefix(cut).write(to: URL(fileURLWithPath: path))
            let e = #expect(throws: FormatError.self) { try SafetensorsFile(path: path) }
            #expect(e?.description.contains("cut\(cut).safetensors") == true)
        }
    }

    @Test func unsupportedButValidDtypeIsListedNotFatal() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let c = StCase(name: "f64", header: #"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#, mentions: "")
        let path = s.path("f64.safetensors")
        try Data(c.bytes()).write(to: URL(fileURLWithPath: path))
        let f = try SafetensorsFile(path: path)
        #expect(f.names.isEmpty && f.unsupported == ["a": "F64"])
        let e = #expect(throws: FormatError.self) { try f.tensor("a") }
        #expect(e?.description.contains("F64") == true)
    }
}
