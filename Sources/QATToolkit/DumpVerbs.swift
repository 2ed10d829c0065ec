// `dump FILE.h5 VALUE... [NAME=VALUE ...]`: session values to an HDF5 file for h5py, h5dump or
// Plots/*.py. `load h5 FILE PATH` (ModelVerbs.swift) reads a tensor back.
//
// Layout of a dump file (HDF5 through QATIO's HDF5File: written to FILE.tmp-<pid> and renamed to
// FILE when complete, so a crash never leaves a half-written file under the final name):
//   1. / (root) attributes: command (string) the dump command as written, e.g. "dump out/x.h5 x";
//      qatlab_version (string).
//   2. A tensor named NAME (a variable given by its bare name, a NAME=VALUE key, or `valueK` for
//      the K-th (1-based) positional value given as $x or a sub-command): /NAME, float32 with the
//      tensor's shape. Attributes: shape (int64[rank]), dims (string, the dimension names joined by
//      spaces: "dim0 dim1 ..." for a plain tensor), command (string, as on the root).
//   3. A number: /NAME, a float32 scalar dataset with the same attributes (shape []).
//   4. A model or quantized model: group /NAME with attributes kind, source, method (string),
//      blocks (int), avg_bits (double); for each dumped block N and linear L (q_proj, k_proj,
//      v_proj, o_proj, gate_proj, up_proj, down_proj), group /NAME/blocks/N/L with attributes
//      quantizer (string: "fp", "w2g64 hard" (integer codes) or "w2g64 fake"), and when quantized bits, group_size
//      (int). Datasets in it:
//        weight  float32 (out, in)      the weight the linear multiplies by (dequantized when quantized)
//        scales  float32 (out, groups)  step sizes s (quantized linears)
//        zeros   float32 (out, groups)  zero points z (quantized linears)
//        codes   int32   (out, in)      integer codes (hard-quantized linears; Block-AP/RTN/GPTQ results)
//      dims attributes: "out in", "out groups". blocks=A:B limits the blocks (SmolLM2's 30 blocks
//      of float32 weights are about 540 MB).
//   5. A dataset of windows: /NAME/train and /NAME/validation, int32 (windows, seqlen) token ids;
//      a text dataset: /NAME/tokens int32 (n) when it was tokenized.
//   6. A results table: /tables/<name> as ResultsTable.writeHDF5 lays it out.
// Reading in Python: h5py.File(path)["x"][:], f["x"].attrs["shape"], f["q/blocks/0/q_proj/codes"].
import Foundation
import QATAutograd
import QATInterp
import QATIO
import QATModel
import QATQuant
import QATResults
import QATTensor

enum DumpVerbs {
    static var rows: [VerbSpec] { [dump] }

    static var dump: VerbSpec {
        VerbSpec(name: "dump", synopsis: "dump FILE.h5 VALUE... [NAME=VALUE ...] [blocks=A:B] [compress=0]",
                 summary: """
                     Write tensors, models (weights and quantization parameters), datasets and \
                     tables to an HDF5 file.
                     """,
                 arguments: [
                    .positional("FILE", .string, help: "the HDF5 file to write (replaced if it exists; directories are created)"),
                    .variadic("VALUE", .either([.tensor, .object("model"), .object("quantized model"), .object("dataset"), .object("table"), .number, .string]),
                              help: "variables by bare name (stored under that name), or $x / (sub-commands)"),
                    .key("blocks", .string, help: "models: dump only blocks A:B (A to B-1) or block N"),
                    .key("compress", .int, default: .number(0), range: 0...9, help: "deflate level for tensors (0: none)"),
                 ],
                 help: """
                     Layout (also in the header of Sources/QATToolkit/DumpVerbs.swift): a tensor at \
                     /NAME with attributes shape, dims and command; a model under \
                     /NAME/blocks/N/<linear>/{weight,scales,zeros,codes}; a table under \
                     /tables/NAME. Other keys name what follows them: dump out/w.h5 w=(weight q \
                     block=0). Prints dumped=FILE names=... .
                     """,
                 examples: ["dump out/x.h5 x", "dump out/q.h5 q blocks=0:2", "dump out/w.h5 w=(weight q block=0 linear=q_proj) results"],
                 openKeys: true) { call in
            let path = try call.string("FILE")
            try OutputCheck.requireWritable(path, key: "FILE")
            var items: [(String, Value)] = []
            for (k, v) in call.positionals.dropFirst().enumerated() {
                if case .string(let s) = v {
                    guard let named = call.interpreter.variables[s] else {
                        throw InterpError.verb("no variable named \(s)", hint: "dump variables by name, or name a value: dump FILE name=(...)")
                    }
                    items.append((s, named))
                } else {
                    items.append(("value\(k + 1)", v))
                }
            }
            items += call.extraKeys.map { ($0.key, $0.value) }
            guard !items.isEmpty else { throw InterpError.verb("nothing to dump", hint: "e.g. dump \(path) x") }
            let blocks = call.has("blocks") ? try parseRange(try call.string("blocks"), key: "blocks") : nil
            let command = (["dump", path] + items.map(\.0) + (call.has("blocks") ? ["blocks=\(try call.string("blocks"))"] : [])).joined(separator: " ")
            try writeDump(items, to: path, command: command, blocks: blocks, compress: try call.int("compress"))
            call.out("dumped=\(path) names=" + items.map(\.0).joined(separator: ","))
            return .none
        }
    }

    /// Writes the values (see the layout above) atomically.
    static func writeDump(_ items: [(String, Value)], to path: String, command: String, blocks: Range<Int>?, compress: Int) throws {
        let dir = PathName.parent(path)
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let f = try HDF5File.create(path: path)
        try f.setAttribute("command", .string(command), on: "/")
        try f.setAttribute("qatlab_version", .string(Verbs.version), on: "/")
        for (name, value) in items {
            guard !name.isEmpty, !name.contains("/"), f.exists("/" + name) == false else {
                throw InterpError.verb("cannot store \(name) at /\(name)", hint: "names must be unique and contain no '/'")
            }
            switch value {
            case .tensor(let t):
                try writeTensor(t, f, "/" + name, dims: (0..<t.rank).map { "dim\($0)" }, command: command, compress: compress)
            case .number(let d):
                try writeTensor(try Tensor(shape: [], [Float(d)]), f, "/" + name, dims: [], command: command, compress: 0)
            case .object(let o as ModelObject):
                try writeModel(o, f, "/" + name, blocks: blocks, command: command, compress: compress)
            case .object(let d as DatasetObject):
                try writeDataset(d, f, "/" + name)
            case .object(let t as ResultsTable):
                try t.writeHDF5(to: f)
            default:
                throw InterpError.verb("\(name) is a \(value.kindName); dump writes tensors, numbers, models, datasets and tables")
            }
        }
        try f.close()
    }

    static func writeTensor(_ t: Tensor, _ f: HDF5File, _ p: String, dims: [String], command: String, compress: Int) throws {
        try f.write(t, at: p, compress: t.count > 0 && t.rank > 0 ? compress : 0)
        try f.setAttribute("shape", .ints(t.shape.map(Int64.init)), on: p)
        try f.setAttribute("dims", .string(dims.joined(separator: " ")), on: p)
        try f.setAttribute("command", .string(command), on: p)
    }

    static func writeModel(_ m: ModelObject, _ f: HDF5File, _ p: String, blocks: Range<Int>?, command: String, compress: Int) throws {
        try f.createGroup(p)
        try f.setAttribute("kind", .string(m.kind), on: p)
        try f.setAttribute("source", .string(m.loaded.name), on: p)
        try f.setAttribute("method", .string(m.method), on: p)
        try f.setAttribute("blocks", .int(Int64(m.model.blocks.count)), on: p)
        try f.setAttribute("avg_bits", .double(m.averageBits), on: p)
        let range = blocks.map { $0.clamped(to: 0..<m.model.blocks.count) } ?? 0..<m.model.blocks.count
        for i in range {
            for l in m.model.blocks[i].linears {
                let g = "\(p)/blocks/\(i)/\(l.name)"
                try f.createGroup(g)
                try f.setAttribute("quantizer", .string(ModelVerbs.quantizerName(l)), on: g)
                let w = try noGrad { try l.effectiveWeight() }.value
                try writeTensor(w, f, g + "/weight", dims: ["out", "in"], command: command, compress: compress)
                try writeQuantizer(l, f, g, command: command)
            }
        }
    }

    static func writeQuantizer(_ l: Linear, _ f: HDF5File, _ g: String, command: String) throws {
        let parts: (spec: QuantSpec, scales: Tensor, zeros: Tensor, codes: [UInt8]?)
        if let q = l.quantizer as? HardQuantizer {
            parts = (q.spec, q.scales.value, q.zeros.value, q.codes)
        } else if let q = l.quantizer as? FakeQuantizer {
            parts = (q.spec, q.scales.value, q.zeros.value, nil)
        } else { return }
        try f.setAttribute("bits", .int(Int64(parts.spec.bits)), on: g)
        try f.setAttribute("group_size", .int(Int64(parts.spec.groupSize)), on: g)
        try writeTensor(parts.scales, f, g + "/scales", dims: ["out", "groups"], command: command, compress: 0)
        try writeTensor(parts.zeros, f, g + "/zeros", dims: ["out", "groups"], command: command, compress: 0)
        if let codes = parts.codes {
            let shape = [l.outFeatures, l.inFeatures]
            try f.writeInt32(codes.map(Int32.init), shape: shape, at: g + "/codes")
            try f.setAttribute("shape", .ints(shape.map(Int64.init)), on: g + "/codes")
            try f.setAttribute("dims", .string("out in"), on: g + "/codes")
        }
    }

    static func writeDataset(_ d: DatasetObject, _ f: HDF5File, _ p: String) throws {
        try f.createGroup(p)
        try f.setAttribute("summary", .string(d.summary), on: p)
        func windows(_ w: [[Int32]], _ at: String) throws {
            try f.writeInt32(w.flatMap { $0 }, shape: [w.count, w.first?.count ?? 0], at: at)
        }
        switch d.content {
        case .windows(let w):
            try windows(w.train, p + "/train")
            try windows(w.validation, p + "/validation")
        case .text(_, let tokens?):
            try f.writeInt32(tokens, shape: [tokens.count], at: p + "/tokens")
        case .text(_, nil):
            break
        }
    }
}
