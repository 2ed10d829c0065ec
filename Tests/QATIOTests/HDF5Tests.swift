// HDF5File tests: round trips of ranks 0-4 and attributes, atomic create, the h5py-written golden
// file (Tests/Oracles/safetensors_golden.py) and refusals of unreadable objects and files.
import Foundation
import QATTensor
import Testing

@testable import QATIO

private let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

private struct H5Expected: Decodable {
    let shape: [Int]
    let bits: [UInt32]?
    let values: [Int]?
}

private func ramp(_ shape: [Int]) throws -> Tensor {
    let n = shape.reduce(1, *)
    return try Tensor(shape: shape, (0..<n).map { Float($0) * 0.37 - 3.1 + (($0 % 3 == 0) ? 1e-7 : 0) })
}

@Suite("HDF5 files")
struct HDF5Tests {
    @Test func tensorsOfRanksZeroToFourRoundTripBitExactly() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let shapes: [[Int]] = [[], [5], [3, 7], [2, 3, 4], [2, 1, 3, 5], [0, 4], [300, 700]]
        let path = s.path("rt.h5")
        let f = try HDF5File.create(path: path)
        for (i, shape) in shapes.enumerated() {
            let t = try ramp(shape)
            try f.write(t, at: "/plain/t\(i)")
            try f.write(t, at: "chunked/t\(i)", chunked: true)
            try f.write(t, at: "/deflate/deep/t\(i)", compress: 4)
        }
        try f.writeInt32([1, -2, .max, .min, 0, 7], shape: [2, 3], at: "/ids")
        try f.close()
        try f.close()  // a second close is harmless

        let r = try HDF5File.open(path: path)
        for (i, shape) in shapes.enumerated() {
            let want = try ramp(shape).toArray().map(\.bitPattern)
            for group in ["/plain", "/chunked", "/deflate/deep"] {
                let t = try r.readTensor("\(group)/t\(i)")
                #expect(t.shape == shape, "\(group)/t\(i)")
                #expect(t.toArray().map(\.bitPattern) == want, "\(group)/t\(i)")
            }
        }
        let (ids, shape) = try r.readInt32("ids")
        #expect(ids == [1, -2, .max, .min, 0, 7] && shape == [2, 3])
        #expect(try r.children(of: "/") == ["chunked", "deflate", "ids", "plain"])
        #expect(try r.children(of: "/deflate") == ["deep"])
        #expect(r.exists("/deflate/deep/t3") && r.exists("plain") && r.exists("/"))
        #expect(!r.exists("/deflate/nope/t3") && !r.exists("/missing"))
        // Read-only: writing is a FormatError naming the file.
        let e = #expect(throws: FormatError.self) { try r.write(Tensor([1]), at: "/new") }
        #expect(e?.description.contains("rt.h5") == true)
    }

    @Test func attributesRoundTripAndReplace() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let path = s.path("attrs.h5")
        let f = try HDF5File.create(path: path)
        try f.createGroup("/a/b/c")
        try f.createGroup("/a/b")  // existing group: fine
        try f.write(Tensor([1, 2, 3]), at: "/a/x")
        let values: [(String, HDF5Attribute)] = [
            ("step", .int(-9_000_000_000)), ("lr", .double(2.5e-4)), ("name", .string("W2g64 \u{e9}\u{4e2d} \"q\"")),
            ("scales", .doubles([0.5, -1e300, 3])), ("shape", .ints([4, 8])), ("none", .doubles([])), ("empty", .string("")),
        ]
        for target in ["/", "/a/b/c", "/a/x"] {
            for (name, v) in values { try f.setAttribute(name, v, on: target) }
        }
        try f.setAttribute("step", .int(5), on: "/a/x")  // replaces
        try f.close()

        let r = try HDF5File.open(path: path, writable: true)
        for target in ["/", "/a/b/c", "/a/x"] {
            for (name, v) in values where !(target == "/a/x" && name == "step") {
                #expect(try r.attribute(name, on: target) == v, "\(target) \(name)")
            }
        }
        #expect(try r.attribute("step", on: "/a/x") == .int(5))
        #expect(try r.attribute("absent", on: "/") == nil)
        #expect(throws: FormatError.self) { try r.attribute("step", on: "/no/such") }
        try r.setAttribute("added", .int(1), on: "/")  // writable open edits in place
        try r.close()
        #expect(try HDF5File.open(path: path).attribute("added", on: "/") == .int(1))
    }

    @Test func createIsAtomic() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let path = s.path("atomic.h5")
        do {
            let f = try HDF5File.create(path: path)
            try f.write(Tensor([1, 2]), at: "/x")
            #expect(!FileManager.default.fileExists(atPath: path), "nothing under the final name before close()")
            // Dropped without close(): the write is abandoned.
        }
        #expect(s.contents().isEmpty, "an unclosed file leaves neither the final file nor its temporary")
        let f = try HDF5File.create(path: path)
        try f.write(Tensor([1, 2]), at: "/x")
        try f.close()
        #expect(s.contents() == ["atomic.h5"])
        #expect(try HDF5File.open(path: path).readTensor("/x").toArray() == [1, 2])
        let closed = #expect(throws: FormatError.self) { try f.write(Tensor([3]), at: "/y") }
        #expect(closed?.description.contains("closed") == true)
    }

    @Test func writeRefusesExistingPathsAndBadArguments() throws {
        let s = try StScratch()
        defer { s.cleanup() }
        let f = try HDF5File.create(path: s.path("w.h5"))
        try f.write(Tensor([1]), at: "/x")
        let dup = #expect(throws: FormatError.self) { try f.write(Tensor([2]), at: "x") }
        #expect(dup?.description.contains("/x") == true && dup?.description.contains("w.h5") == true)
        #expect(throws: FormatError.self) { try f.write(Tensor([2]), at: "/y", compress: 10) }
        #expect(throws: FormatError.self) { try f.write(Tensor([2]), at: "/x/under-a-dataset") }
        #expect(throws: FormatError.self) { try f.createGroup("/x") }
        #expect(throws: FormatError.self) { try f.writeInt32([1, 2], shape: [3], at: "/i") }
        #expect(throws: FormatError.self) { try f.write(Tensor([2]), at: "/a/../b") }
        #expect(throws: FormatError.self) { try HDF5File.create(path: s.path("no/such/dir/f.h5")) }
    }

    @Test func readsTheH5pyGoldenFile() throws {
        let path = golden.appendingPathComponent("st_golden.h5").path
        let expected = try JSONDecoder().decode([String: H5Expected].self,
                                                from: Data(contentsOf: golden.appendingPathComponent("st_golden_h5.expected.json")))
        let f = try HDF5File.open(path: path)
        for name in ["weights", "scalar", "model/layers/0/cube", "f64", "f16"] {
            let e = try #require(expected[name])
            let t = try f.readTensor(name)
            #expect(t.shape == e.shape, "\(name)")
            #expect(t.toArray().map(\.bitPattern) == e.bits, "\(name)")
        }
        let (ids, shape) = try f.readInt32("/ids")
        #expect(ids.map(Int.init) == expected["ids"]?.values && shape == [5])
        #expect(try f.children(of: "/") == ["f16", "f64", "huge", "ids", "model", "scalar", "text", "weights"])
        #expect(try f.attribute("step", on: "/") == .int(1234))
        #expect(try f.attribute("lr", on: "/") == .double(2.5e-4))
        #expect(try f.attribute("command", on: "/") == .string("quantize m bits=2 \u{e9}"))
        #expect(try f.attribute("scales", on: "/") == .doubles([0.5, 0.25, 0.125]))
        #expect(try f.attribute("shape", on: "/") == .ints([3, 4]))
        #expect(try f.attribute("bits", on: "/model/layers/0") == .int(2))
        #expect(try f.attribute("name", on: "model/layers/0") == .string("block 0"))
    }

    @Test func unreadableObjectsAndFilesAreFormatErrors() throws {
        let path = golden.appendingPathComponent("st_golden.h5").path
        let f = try HDF5File.open(path: path)
        for (object, mentions) in [("/text", "string"), ("/model", "group"), ("/missing", "no such dataset"), ("/huge", "absurdly large")] {
            let e = #expect(throws: FormatError.self) { try f.readTensor(object) }
            #expect(e?.description.contains("st_golden.h5") == true && e?.description.contains(object) == true)
            #expect(e?.description.contains(mentions) == true, "\(e?.description ?? "")")
        }
        #expect(throws: FormatError.self) { try f.readInt32("/weights") }
        #expect(throws: FormatError.self) { try f.readInt32("/huge") }
        #expect(throws: FormatError.self) { try f.children(of: "/weights") }

        let s = try StScratch()
        defer { s.cleanup() }
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: s.path("half.h5")))
        try Data("not hdf5 at all".utf8).write(to: URL(fileURLWithPath: s.path("text.h5")))
        for name in ["half.h5", "text.h5", "absent.h5"] {
            let e = #expect(throws: FormatError.self) {
                let g = try HDF5File.open(path: s.path(name))
                _ = try g.readTensor("/weights")
                _ = try g.readTensor("/model/layers/0/cube")
            }
            #expect(e?.description.contains(name) == true, "\(e?.description ?? "")")
        }
    }

    @Test func chunkShapeStaysUnderOneMebibyte() {
        #expect(HDF5File.chunkShape([4096, 4096], elementSize: 4) == [512, 512])
        #expect(HDF5File.chunkShape([10, 20], elementSize: 4) == [10, 20])
        #expect(HDF5File.chunkShape([0, 3], elementSize: 4) == [1, 3])
    }
}
