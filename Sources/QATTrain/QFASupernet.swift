// The LLM-QFA supernet (docs/qfa_baselines.md A.1, A.2): for every block linear, frozen base weights at
// each width of the choice set (integer codes, scales and zeros, from GPTQ, RTN or a checkpoint
// per width) and QA-LoRA adapters, one per (linear, width) ("decoupled"), one per linear for all
// widths ("shared"), or one per linear of rank r x (number of widths) ("shared_matched", the
// parameter-matched ablation).
//
// A unit is a decoder block (all seven projections share a width; L = blocks, as the paper) or
// one linear (L = 7 x blocks). A configuration is one width per unit. Applying it dequantizes each
// linear's base at its width into the linear's own Float32 weight (one buffer per linear, reused;
// done only when the width changes) and installs that width's adapter. Codes stay UInt8: keeping a
// dequantized Float32 copy per width would cost 4 bytes per weight per width (1.3 GB for
// SmolLM2's 106M linear weights at three widths) against 1 byte + 2 x 4 / G for codes.
//
// Supernet file (DIR/qfa.safetensors, and DIR.work/qfa/bases.safetensors during training):
//   w<b>.blocks.<N>.<linear>.codes   U8  (out, in)        base codes at width b
//   w<b>.blocks.<N>.<linear>.scales  F32 (out, groups)
//   w<b>.blocks.<N>.<linear>.zeros   F32 (out, groups)    integer-valued
//   <tag>.blocks.<N>.<linear>.lora_A F32 (r, groups)      tag = w<b> (decoupled) or shared
//   <tag>.blocks.<N>.<linear>.lora_B F32 (out, r)
//   __metadata__: widths "2,3,4", group, rank, alpha, unit, adapters, base, source (the MODEL the
//   FP weights, embedding and norms come from), plus the training record (steps, sampler, ...);
//   a bases file also has bases_calib (hex FNV-1a 64 of the training windows' tokens the bases
//   were built on: `qfa train bases_cache=FILE` reuses a file only when it matches).
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor

public enum QFAUnit: String, Sendable, CaseIterable { case block, linear }
public enum QFAAdapterMode: String, Sendable, CaseIterable { case decoupled, shared, shared_matched }
public enum QFABase: String, Sendable, CaseIterable { case gptq, rtn, rtn0, checkpoint }

/// The supernet's shape: what `qfa train` builds and `qfa search` / `qfa subnet` read back.
public struct QFAOptions: Sendable, Equatable {
    public var widths = [2, 3, 4]
    /// Quantization group size, also the adapters' pooling group (QA-LoRA: 32).
    public var group = 32
    public var rank = 16
    public var alpha: Float = 16
    public var unit = QFAUnit.block
    public var adapters = QFAAdapterMode.decoupled
    public var base = QFABase.gptq
    public var seed: UInt64 = 0
    public init() {}

    public var metadata: [String: String] {
        ["widths": widths.map(String.init).joined(separator: ","), "group": "\(group)", "rank": "\(rank)", "alpha": "\(alpha)",
         "unit": unit.rawValue, "adapters": adapters.rawValue, "base": base.rawValue, "adapter_seed": "\(seed)"]
    }

    init(metadata m: [String: String], file: String) throws {
        func need(_ k: String) throws -> String {
            guard let v = m[k] else { throw FormatError(file: file, "metadata has no '\(k)'; not a QATLab QFA supernet (write one with `qfa train`)") }
            return v
        }
        let w = try need("widths").split(separator: ",").compactMap { Int($0) }
        guard !w.isEmpty, let g = Int(try need("group")), let r = Int(try need("rank")), let a = Float(try need("alpha")),
              let u = QFAUnit(rawValue: try need("unit")), let ad = QFAAdapterMode(rawValue: try need("adapters")),
              let b = QFABase(rawValue: try need("base")) else {
            throw FormatError(file: file, "metadata \(m) does not describe a supernet; expected widths, group, rank, alpha, unit, adapters, base")
        }
        widths = w; group = g; rank = r; alpha = a; unit = u; adapters = ad; base = b
        seed = UInt64(m["adapter_seed"] ?? "0") ?? 0
    }
}

/// One block linear of the supernet.
public final class QFASlot {
    /// "blocks.3.q_proj"
    public let key: String
    public let block: Int
    public let linear: Linear
    /// Frozen base per width.
    public let bases: [Int: QuantizedWeight]
    /// The adapter each width runs with (the same object under every width when shared).
    public let adapters: [Int: QFAAdapter]
    /// The width whose base is in `linear.weight` now.
    public internal(set) var loadedWidth: Int?

    init(key: String, block: Int, linear: Linear, bases: [Int: QuantizedWeight], adapters: [Int: QFAAdapter]) {
        self.key = key; self.block = block; self.linear = linear; self.bases = bases; self.adapters = adapters
    }

    /// Dequantizes width b's base into the linear's weight (when not already there) and installs its adapter.
    func select(_ b: Int, withAdapter: Bool) throws {
        guard let qw = bases[b] else { throw TrainingError("qfa: \(key) has no base at \(b) bits; the supernet holds \(bases.keys.sorted())") }
        if loadedWidth != b {
            let l = QuantLayout(rows: qw.rows, cols: qw.cols, spec: qw.spec)
            qw.codes.withUnsafeBufferPointer { q in
                qw.scales.withUnsafeBufferPointer { s in
                    qw.zeros.withUnsafeBufferPointer { z in
                        if let qp = q.baseAddress, let sp = s.baseAddress, let zp = z.baseAddress {
                            dequantForward(qp, scales: sp, zeros: zp, groupIndex: nil, linear.weight.value.data, layout: l)
                        }
                    }
                }
            }
            loadedWidth = b
        }
        linear.adapter = withAdapter ? adapters[b] : nil
    }
}

public final class QFASupernet {
    public let model: LlamaModel
    public let options: QFAOptions
    public let slots: [QFASlot]
    /// The MODEL spec the FP weights came from.
    public let source: String
    public private(set) var configuration: [Int] = []

    /// Installs the supernet on `model` (its FP linears are overwritten by the active base).
    /// `bases[key][b]` must hold every block linear at every width.
    public init(model: LlamaModel, source: String, options o: QFAOptions, bases: [String: [Int: QuantizedWeight]]) throws {
        self.model = model; self.options = o; self.source = source
        model.freezeAll()
        var slots: [QFASlot] = []
        var adapterSeed = o.seed
        for (bi, block) in model.blocks.enumerated() {
            for l in block.linears {
                let key = "blocks.\(bi).\(l.name)"
                l.quantizer = nil   // the active base is dequantized into l.weight instead
                guard let b = bases[key], Set(b.keys) == Set(o.widths) else {
                    throw TrainingError("qfa: no base weights for \(key) at widths \(o.widths) (have \(bases[key].map { $0.keys.sorted() } ?? []))")
                }
                for (w, qw) in b where qw.rows != l.outFeatures || qw.cols != l.inFeatures || qw.spec.bits != w || qw.groupIndex != nil {
                    throw TrainingError("qfa: the \(w)-bit base of \(key) is \(qw.rows)x\(qw.cols) \(qw.spec)\(qw.groupIndex == nil ? "" : " (act-order)"); expected \(l.outFeatures)x\(l.inFeatures) at \(w) bits with contiguous groups")
                }
                func adapter(_ tag: String, rank: Int) throws -> QFAAdapter {
                    adapterSeed &+= 1
                    return try QFAAdapter(name: "\(tag).\(key)", inFeatures: l.inFeatures, outFeatures: l.outFeatures, groupSize: o.group,
                                          rank: rank, alpha: o.alpha * Float(rank) / Float(o.rank), seed: adapterSeed)
                }
                var adapters: [Int: QFAAdapter] = [:]
                switch o.adapters {
                case .decoupled: for w in o.widths { adapters[w] = try adapter("w\(w)", rank: o.rank) }
                case .shared, .shared_matched:
                    let one = try adapter("shared", rank: o.adapters == .shared ? o.rank : o.rank * o.widths.count)
                    for w in o.widths { adapters[w] = one }
                }
                slots.append(QFASlot(key: key, block: bi, linear: l, bases: b, adapters: adapters))
            }
        }
        self.slots = slots
        try apply(Array(repeating: o.widths.last ?? 4, count: unitCount))
    }

    /// L: blocks, or every linear.
    public var unitCount: Int { options.unit == .block ? model.blocks.count : slots.count }

    func unit(of i: Int) -> Int { options.unit == .block ? slots[i].block : i }

    /// Runs the model at `config` (one width per unit) with the adapters (or without: the bare bases).
    public func apply(_ config: [Int], adapters: Bool = true) throws {
        guard config.count == unitCount else {
            throw TrainingError("qfa: a configuration needs \(unitCount) widths (one per \(options.unit.rawValue)), got \(config.count)")
        }
        if let bad = config.first(where: { !options.widths.contains($0) }) {
            throw TrainingError("qfa: width \(bad) is not in the choice set \(options.widths)")
        }
        for (i, s) in slots.enumerated() { try s.select(config[unit(of: i)], withAdapter: adapters) }
        configuration = config
    }

    /// Every distinct adapter, in slot then width order.
    public var adapters: [QFAAdapter] {
        var seen = Set<ObjectIdentifier>(), out: [QFAAdapter] = []
        for s in slots { for w in options.widths { if let a = s.adapters[w], seen.insert(ObjectIdentifier(a)).inserted { out.append(a) } } }
        return out
    }

    /// Every trained tensor, named "<tag>.blocks.N.<linear>.lora_A|B".
    public var parameters: [(String, Var)] { adapters.flatMap(\.parameters) }

    /// Bytes of the frozen bases per width (codes 1 byte, scales and zeros 4 bytes each).
    public func baseBytes(width b: Int) -> Int {
        slots.reduce(0) { acc, s in acc + (s.bases[b].map { $0.codes.count + 4 * ($0.scales.count + $0.zeros.count) } ?? 0) }
    }

    /// Bytes of the adapters of one width (for shared adapters: all of them).
    public func adapterBytes(width b: Int) -> Int {
        var seen = Set<ObjectIdentifier>()
        return slots.reduce(0) { acc, s in
            guard let a = s.adapters[b], seen.insert(ObjectIdentifier(a)).inserted else { return acc }
            return acc + 4 * (a.a.value.count + a.b.value.count)
        }
    }

    /// "w2: base 12.3 MB, adapters 0.4 MB; ...; total ... (+ one Float32 weight buffer ...)"
    public var memoryReport: String {
        let mb = { (b: Int) in String(format: "%.2f MB", Double(b) / 1e6) }
        var parts = options.widths.map { "w\($0): base \(mb(baseBytes(width: $0))), adapters \(mb(adapterBytes(width: $0)))" }
        let bases = options.widths.reduce(0) { $0 + baseBytes(width: $1) }
        let adapters = 4 * parameters.reduce(0) { $0 + $1.1.value.count }
        let buffer = 4 * slots.reduce(0) { $0 + $1.linear.weight.value.count }
        parts.append("total: bases \(mb(bases)) + adapters \(mb(adapters)) (+ \(mb(buffer)) Float32 weight buffers, one per linear)")
        return parts.joined(separator: "; ")
    }

    // ---- files

    static func baseName(_ w: Int, _ key: String) -> String { "w\(w).\(key)" }

    /// Adds the bases (codes, scales, zeros per width) to `st`.
    public func addBases(to st: inout SafetensorsWriter) throws {
        for s in slots {
            for w in options.widths {
                guard let qw = s.bases[w] else { continue }
                let n = Self.baseName(w, s.key)
                try st.addUInt8(n + ".codes", shape: [qw.rows, qw.cols], qw.codes)
                try st.add(n + ".scales", Tensor(shape: [qw.rows, qw.groupCount], qw.scales))
                try st.add(n + ".zeros", Tensor(shape: [qw.rows, qw.groupCount], qw.zeros))
            }
        }
    }

    /// Writes the bases alone (a resume, or another supernet through `bases_cache=`, reads them
    /// instead of quantizing again); `extra` adds metadata (bases_calib).
    public func saveBases(path: String, metadata extra: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: PathName.parent(path), withIntermediateDirectories: true)
        var st = SafetensorsWriter()
        try addBases(to: &st)
        st.metadata = options.metadata.merging(extra) { a, _ in a }
        st.metadata["source"] = source
        try st.write(to: path)
    }

    /// Writes DIR/qfa.safetensors (bases and adapters; layout in the header) atomically.
    public func save(dir: String, metadata extra: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var st = SafetensorsWriter()
        try addBases(to: &st)
        for (name, p) in parameters { try st.add(name, p.value) }
        st.metadata = options.metadata.merging(extra) { a, _ in a }
        st.metadata["source"] = source
        try st.write(to: dir + "/qfa.safetensors")
    }

    /// Reads bases (and adapters, when present) from a supernet file; `source` from its metadata.
    public static func readFile(_ path: String) throws -> (QFAOptions, String, [String: [Int: QuantizedWeight]], SafetensorsFile) {
        let (o, source, f) = try openFile(path)
        return (o, source, try readBases(f, options: o), f)
    }

    /// The options and source of a supernet file, from its header alone (no tensor is read).
    public static func openFile(_ path: String) throws -> (QFAOptions, String, SafetensorsFile) {
        let f = try SafetensorsFile(path: path)
        let o = try QFAOptions(metadata: f.metadata, file: path)
        guard let source = f.metadata["source"] else { throw FormatError(file: path, "metadata has no 'source' (the model the supernet was built from)") }
        return (o, source, f)
    }

    /// The bases stored in an open supernet file, by linear key and width.
    public static func readBases(_ f: SafetensorsFile, options o: QFAOptions) throws -> [String: [Int: QuantizedWeight]] {
        let path = f.path
        var bases: [String: [Int: QuantizedWeight]] = [:]
        for name in f.names where name.hasSuffix(".codes") {
            let stem = String(name.dropLast(".codes".count))
            guard let dot = stem.firstIndex(of: "."), stem.first == "w", let w = Int(stem[stem.index(after: stem.startIndex)..<dot]) else { continue }
            let key = String(stem[stem.index(after: dot)...])
            let scales = try f.tensor(stem + ".scales"), zeros = try f.tensor(stem + ".zeros")
            guard let info = f.info(name), info.shape.count == 2 else { throw FormatError(file: path, "\(name) is not a 2-D code matrix") }
            bases[key, default: [:]][w] = try QuantizedWeight(spec: try QuantSpec(bits: w, groupSize: o.group), rows: info.shape[0], cols: info.shape[1],
                                                              codes: try f.uint8s(name), scales: scales.toArray(), zeros: zeros.toArray())
        }
        return bases
    }

    /// Copies the adapters stored in `f` into this supernet (every adapter must be present).
    func loadAdapters(from f: SafetensorsFile) throws {
        for (name, p) in parameters {
            guard f.info(name) != nil else { throw FormatError(file: f.path, "has no \(name); was it written by `qfa train` with the same adapters= and rank=?") }
            let t = try f.tensor(name)
            guard t.shape == p.shape else { throw FormatError(file: f.path, "\(name) has shape \(t.shape), the supernet expects \(p.shape)") }
            p.value.data.update(from: t.data, count: t.count)
        }
    }

    /// Opens a trained supernet directory: loads the source model and installs bases and adapters.
    public static func load(dir: String, log: (String) -> Void = { _ in }) throws -> (QFASupernet, LoadedModel) {
        let path = dir + "/qfa.safetensors"
        guard FileManager.default.fileExists(atPath: path) else {
            throw FormatError(file: path, "does not exist; DIR must be the out= of a finished `qfa train`")
        }
        let (o, source, bases, f) = try readFile(path)
        let loaded = QuantCheckpoint.isCheckpoint(source) ? try QuantCheckpoint.load(source).loaded : try ModelLoader.load(source)
        let net = try QFASupernet(model: loaded.model, source: source, options: o, bases: bases)
        try net.loadAdapters(from: f)
        log("qfa: supernet \(dir): widths \(o.widths), \(net.unitCount) \(o.unit.rawValue) units, \(o.adapters.rawValue) adapters r=\(o.rank), source \(source)")
        return (net, loaded)
    }
}
