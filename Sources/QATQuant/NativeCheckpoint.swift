// QATLab's own checkpoint, the dequantized full-precision export, and `QuantCheckpoint`, the
// entry point that opens either kind of quantized directory (native or GPTQ).
//
// Native checkpoint: a directory DIR holding
//   1. model.safetensors (safetensors layout: QATIO/Safetensors.swift), tensors named as in
//      Hugging Face LLaMA checkpoints, all floats F32 so trained values survive bit for bit:
//        model.embed_tokens.weight (V, C), model.norm.weight (C), lm_head.weight (V, C) when untied,
//        model.layers.N.input_layernorm.weight (C), model.layers.N.post_attention_layernorm.weight (C),
//        model.layers.N.self_attn.{q,k,v}_proj.bias (out) when the architecture has biases,
//        model.layers.N.self_attn.{q,k}_norm.weight (head_dim) when it has q/k norms (Qwen3),
//      and for each of the seven linears M = model.layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj}:
//        quantized:   M.codes U8 (out, in), M.scales F32 (out, groups), M.zeros F32 (out, groups)
//                     (fractional zeros: from E2E-QP trained with fractional zeros, they load as a
//                     trainable HardQuantizer; when method is "qfa", from merged adapters, they load
//                     as a frozen MergedZeroQuantizer),
//                     M.g_idx I32 (in) only when the columns are not grouped as i / group_size
//        full precision: M.weight F32 (out, in)
//      The safetensors __metadata__ is {"format": "pt"}.
//   2. config.json: the ModelConfig in transformers' names (QATIO/ModelConfig+Writer.swift).
//   3. qatlab.json: {"format": "qatlab", "version": 1, "method": "rtn" | "gptq" | ...,
//      "source": the MODEL spec the weights came from (a name such as "smollm2" or a path),
//      "linears": {M: {"bits": b, "group_size": g}} for every quantized linear,
//      "grids": {M: grid name} for every quantized linear, the QuantGrid row its codes dequantize
//      on ("int_asym": zeros are integers; "int_asym_fractional_zero": real zeros, clamped, not
//      rounded; QuantGrid.swift). Optional: a checkpoint written before it existed (or a linear
//      it does not list) gets the grid its zeros imply, int_asym_fractional_zero when any zero is
//      not an integer, else int_asym (what every reader did before the field). A merged QFA
//      linear records int_asym_fractional_zero and still loads as a MergedZeroQuantizer.
//      "metadata": {string: string} (training settings, seeds, ...; the writer always adds
//      "avg_bits", AverageBits.blockLinears of the written model as a decimal, e.g. "2.28125")}.
//   4. tokenizer.json (+ tokenizer_config.json, special_tokens_map.json) copied from the source
//      when the source is a Hugging Face directory that has them.
// Rows are in Hugging Face order: the Q and K rows of a model loaded from a LLaMA GGUF (whose
// RoPE runs interleaved on llama.cpp's permuted rows) are put back in rotate-half order, so every
// directory written here loads with the rotate-half layout and computes the same function.
//
// The tokenizer of a loaded checkpoint: DIR/tokenizer.json when present; otherwise the tokenizer
// of the recorded source (ModelLoader.tokenizer(ofSource:): a GGUF's vocabulary from its metadata,
// a directory's tokenizer.json, no weights read); otherwise the
// byte tokenizer when vocab_size is 258; otherwise an error naming the source and the file that
// recorded it.
//
// Dequantized export: a plain Hugging Face directory (model.safetensors with M.weight holding the
// weight each linear multiplies by, in F32 or F16, config.json, tokenizer files as in 4), loadable
// by ModelLoader.load and by transformers. QATLab writes no tokenizer.json of its own, so the export
// of a model whose source is a GGUF (SmolLM2) has none, and ModelLoader.load refuses it until one is
// added (vocab_size 258 excepted); its config.json records the source in _name_or_path.
//
// Every directory is written into DIR.tmp-<pid> and renamed to DIR at the end, so DIR is never
// half-written; an existing non-empty DIR is refused unless `overwrite` is set.
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATTensor
import QATTokenizer

/// A quantized checkpoint read back: the model with HardQuantizers installed on its quantized
/// linears, and their weights by Hugging Face module name ("model.layers.0.self_attn.q_proj").
public struct QuantizedCheckpoint {
    public let directory: String
    /// "qatlab", "gptq" or "gptq_v2".
    public let format: String
    public let model: LlamaModel
    public let quantized: [String: QuantizedWeight]
    /// The source MODEL spec recorded at export (nil when none was recorded).
    public let source: String?
}

/// A quantized checkpoint with its tokenizer, ready to run.
public struct CheckpointModel {
    public let checkpoint: QuantizedCheckpoint
    public let tokenizer: any TextTokenizer
    public var model: LlamaModel { checkpoint.model }
    public var name: String { checkpoint.directory }
    /// As the model loader's result, so every verb that takes MODEL takes a checkpoint too.
    public var loaded: LoadedModel { LoadedModel(model: model, tokenizer: tokenizer, name: name) }
}

public enum NativeCheckpoint {
    public static let manifestFile = "qatlab.json"
    public static let version = 1

    /// What qatlab.json holds (item 3).
    public struct Manifest: Codable, Equatable, Sendable {
        public struct Entry: Codable, Equatable, Sendable {
            public let bits: Int
            public let group_size: Int
            public init(bits: Int, group_size: Int) { self.bits = bits; self.group_size = group_size }
        }
        public var format: String
        public var version: Int
        public var method: String
        public var source: String
        public var linears: [String: Entry]
        public var metadata: [String: String]
        /// Grid name per quantized linear; nil in checkpoints written before the field.
        public var grids: [String: String]? = nil
    }

    /// Writes `model` as a native checkpoint. Linears must carry a HardQuantizer or none.
    /// `source` defaults to model.source; it is what loading uses to find the tokenizer.
    public static func write(_ model: LlamaModel, to dir: String, method: String, source: String? = nil,
                             metadata: [String: String] = [:], overwrite: Bool = false) throws {
        let src = source ?? model.source
        var st = SafetensorsWriter()
        st.metadata = ["format": "pt"]
        var linears: [String: Manifest.Entry] = [:], grids: [String: String] = [:]
        for (name, t) in CheckpointIO.floatTensors(model) { try st.add(name, t, as: .F32) }
        for slot in CheckpointIO.slots(model) {
            if let b = slot.linear.bias { try st.add(slot.module + ".bias", CheckpointIO.rows(b.value, slot.hfRows), as: .F32) }
            guard let qw = try CheckpointIO.hardWeight(slot) else {
                try st.add(slot.module + ".weight", CheckpointIO.rows(slot.linear.weight.value, slot.hfRows), as: .F32)
                continue
            }
            let w = try CheckpointIO.rows(qw, slot.hfRows)
            try st.addUInt8(slot.module + ".codes", shape: [w.rows, w.cols], w.codes)
            try st.add(slot.module + ".scales", Tensor(shape: [w.rows, w.groupCount], w.scales), as: .F32)
            try st.add(slot.module + ".zeros", Tensor(shape: [w.rows, w.groupCount], w.zeros), as: .F32)
            if let g = w.groupIndex { try st.addInt32(slot.module + ".g_idx", shape: [w.cols], g) }
            linears[slot.module] = Manifest.Entry(bits: w.spec.bits, group_size: w.spec.groupSize)
            grids[slot.module] = CheckpointIO.storedGrid(slot)?.name
        }
        var metadata = metadata
        metadata["avg_bits"] = "\(AverageBits.blockLinears(model))"
        let manifest = Manifest(format: "qatlab", version: version, method: method, source: src, linears: linears, metadata: metadata,
                                grids: grids)
        try CheckpointIO.writeDirectory(dir, overwrite: overwrite) { tmp in
            try st.write(to: tmp + "/model.safetensors")
            try CheckpointIO.hfConfig(model).writeHuggingFace(to: tmp + "/config.json", extra: ["_name_or_path": src])
            try writeManifest(manifest, to: tmp + "/" + manifestFile)
            CheckpointIO.copyTokenizerFiles(source: src, into: tmp)
        }
    }

    /// Writes a plain Hugging Face directory with the weights every linear multiplies by
    /// (dequantized codes for hard quantizers, the quantizer's effective weight otherwise).
    public static func writeDequantized(_ model: LlamaModel, to dir: String, dtype: SafetensorsDType = .F32,
                                        source: String? = nil, overwrite: Bool = false) throws {
        guard dtype == .F32 || dtype == .F16 || dtype == .BF16 else {
            throw FormatError(file: dir, "dtype \(dtype.rawValue) is not a float type; use F32, F16 or BF16")
        }
        var st = SafetensorsWriter()
        st.metadata = ["format": "pt"]
        for (name, t) in CheckpointIO.floatTensors(model) { try st.add(name, t, as: dtype) }
        for slot in CheckpointIO.slots(model) {
            if let b = slot.linear.bias { try st.add(slot.module + ".bias", CheckpointIO.rows(b.value, slot.hfRows), as: dtype) }
            // a linear in a llama.cpp format has no integer grid: its weight is ggml's decoder on its blocks
            let hard = slot.linear.quantizer is GGMLQuantizer ? nil : try CheckpointIO.hardWeight(slot)
            let w = try hard?.dequantized() ?? noGrad { try slot.linear.effectiveWeight().value }
            try st.add(slot.module + ".weight", CheckpointIO.rows(w, slot.hfRows), as: dtype)
        }
        let torchDType = ["F32": "float32", "F16": "float16", "BF16": "bfloat16"][dtype.rawValue] ?? "float32"
        let src = source ?? model.source
        try CheckpointIO.writeDirectory(dir, overwrite: overwrite) { tmp in
            try st.write(to: tmp + "/model.safetensors")
            try CheckpointIO.hfConfig(model).writeHuggingFace(to: tmp + "/config.json", torchDType: torchDType, extra: ["_name_or_path": src])
            CheckpointIO.copyTokenizerFiles(source: src, into: tmp)
        }
    }

    static func writeManifest(_ m: Manifest, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(m)
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FormatError(file: path, "cannot encode the manifest")
        }
        try writeJSONObject(obj, to: path)
    }

    /// Reads qatlab.json; errors name the file and the field.
    public static func readManifest(_ dir: String) throws -> Manifest {
        let path = dir + "/" + manifestFile
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(file: path, "cannot read (\(error.localizedDescription)); a QATLab checkpoint directory holds qatlab.json")
        }
        let m: Manifest
        do { m = try JSONDecoder().decode(Manifest.self, from: data) } catch {
            throw FormatError(file: path, "not a valid QATLab manifest: \(error); expected format, version, method, source, linears, metadata")
        }
        guard m.format == "qatlab", m.version == version else {
            throw FormatError(file: path, "format '\(m.format)' version \(m.version) is not supported; this QATLab reads format 'qatlab' version \(version)")
        }
        return m
    }

    /// The manifest method of a QFA subnet export, whose fractional zeros are merged adapters.
    public static let qfaMethod = "qfa"

    /// Reads a native checkpoint (the tokenizer is loaded by QuantCheckpoint.load).
    public static func read(_ dir: String) throws -> QuantizedCheckpoint {
        let manifest = try readManifest(dir)
        let config = try ModelConfig.fromHuggingFace(path: dir + "/config.json")
        let ckpt = try SafetensorsCheckpoint(directoryOrFile: dir)
        let tensors = CheckpointTensors(ckpt)
        // Fractional zeros in a QFA export are merged adapters (frozen); elsewhere (E2E-QP trained
        // with fractional zeros) they stay trainable.
        let grids = try recordedGrids(manifest, dir: dir)
        let (model, quantized) = try CheckpointIO.assemble(config: config, source: dir, floats: tensors,
                                                           mergedZeros: manifest.method == qfaMethod, grid: { grids[$0] }) { module, out, inF in
            guard let entry = manifest.linears[module] else {
                return (try tensors.float(module + ".weight", shape: [out, inF]), nil)
            }
            let qw = try readLinear(tensors, module: module, entry: entry, out: out, inF: inF)
            if let grid = grids[module], grid.zeroIsIntegral, let bad = qw.zeros.firstIndex(where: { $0 != $0.rounded() }) {
                throw tensors.error(module + ".zeros", "holds \(qw.zeros[bad]) at flat index \(bad) but qatlab.json records grid \(grid.name), whose zeros are integers; the file is damaged, or the grid should be \(QuantGrid.intAsymFractionalZero.name)")
            }
            return (qw.dequantized(), qw)
        }
        let unknown = Set(manifest.linears.keys).subtracting(quantized.keys)
        guard unknown.isEmpty else {
            throw FormatError(file: dir + "/" + manifestFile, "linears lists modules the model does not have: \(unknown.sorted().prefix(3).joined(separator: ", "))")
        }
        return QuantizedCheckpoint(directory: dir, format: "qatlab", model: model, quantized: quantized, source: manifest.source)
    }

    /// The grid rows qatlab.json records, by module; an unknown name is an error naming the file.
    static func recordedGrids(_ m: Manifest, dir: String) throws -> [String: QuantGrid] {
        var rows: [String: QuantGrid] = [:]
        for (module, name) in m.grids ?? [:] {
            do { rows[module] = try QuantGrids.named(name) } catch {
                throw FormatError(file: dir + "/" + manifestFile, "grids.\(module): \(error)")
            }
        }
        return rows
    }

    static func readLinear(_ t: CheckpointTensors, module m: String, entry: Manifest.Entry, out: Int, inF: Int) throws -> QuantizedWeight {
        let manifestPath = "qatlab.json"
        let spec: QuantSpec
        do { spec = try QuantSpec(bits: entry.bits, groupSize: entry.group_size) } catch {
            throw FormatError(file: t.checkpoint.path + "/" + manifestPath, "linears.\(m): \(error)")
        }
        let gIdx = t.checkpoint.info(m + ".g_idx") == nil ? nil : try t.int32s(m + ".g_idx", shape: [inF])
        let groups = try t.shape(m + ".scales").last ?? 0
        if gIdx == nil, groups != spec.groupCount(inFeatures: inF) {
            throw t.error(m + ".scales", "has \(groups) groups per row but \(spec) on \(inF) inputs needs \(spec.groupCount(inFeatures: inF))")
        }
        let codes = try t.uint8s(m + ".codes", shape: [out, inF])
        if let bad = codes.firstIndex(where: { Int($0) > spec.qmax }) {
            throw t.error(m + ".codes", "code \(codes[bad]) at flat index \(bad) exceeds \(spec.qmax), the largest \(spec.bits)-bit code")
        }
        let scales = try t.float(m + ".scales", shape: [out, groups]).toArray()
        let zeros = try t.float(m + ".zeros", shape: [out, groups]).toArray()
        for (field, v) in [(".scales", scales), (".zeros", zeros)] {
            if let bad = v.firstIndex(where: { !$0.isFinite }) { throw t.error(m + field, "holds \(v[bad]) at flat index \(bad); expected finite values") }
        }
        if let g = gIdx, let bad = g.firstIndex(where: { $0 < 0 || Int($0) >= groups }) {
            throw t.error(m + ".g_idx", "g_idx[\(bad)] = \(g[bad]) lies outside the \(groups) groups")
        }
        do {
            return try QuantizedWeight(spec: spec, rows: out, cols: inF, codes: codes, scales: scales, zeros: zeros, groupIndex: gIdx)
        } catch { throw t.error(m + ".scales", "\(error)") }
    }
}

/// A stored integer weight whose zero points may be fractional (QA-LoRA / LLM-QFA adapters merged
/// into the zeros, docs/qfa_baselines.md B.1). A HardQuantizer would round them, so the linear keeps the
/// exact dequantization s (q - z) as its own frozen weight and checkpoints store codes and zeros.
public final class MergedZeroQuantizer: LinearQuantizer {
    public let stored: QuantizedWeight
    public init(_ qw: QuantizedWeight) { stored = qw }

    /// Writes s (q - z) into the linear's weight, freezes it and installs this quantizer.
    public func install(on l: Linear) {
        let w = stored.dequantized()
        l.weight.value.data.update(from: w.data, count: min(w.count, l.weight.value.count))
        l.weight.requiresGrad = false
        l.quantizer = self
    }

    public func effectiveWeight(_ weight: Var) throws -> Var {
        guard weight.shape == [stored.rows, stored.cols] else {
            throw TensorError.shapeMismatch(op: "merged-zero quantizer", lhs: weight.shape, rhs: [stored.rows, stored.cols], hint: "installed on a linear of another shape")
        }
        return weight
    }
    public var parameters: [(String, Var)] { [] }
    public var summary: String { "\(stored.spec) hard, fractional zeros, frozen" }
    /// The grid its stored zeros are on (recorded in checkpoints). The dequantization above is
    /// s (q - z) without the grid's clamps, as QFA trained it; AverageBits counts it on int_asym.
    public var grid: QuantGrid { .intAsymFractionalZero }
}

/// Opens quantized checkpoint directories of either kind.
public enum QuantCheckpoint {
    public enum Kind: Sendable { case native, gptq }

    /// The kind of quantized checkpoint in `dir`, or nil for anything else (a plain HF directory,
    /// a GGUF, a missing path).
    public static func kind(_ dir: String) -> Kind? {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else { return nil }
        if fm.fileExists(atPath: dir + "/" + NativeCheckpoint.manifestFile) { return .native }
        if fm.fileExists(atPath: dir + "/quantize_config.json") { return .gptq }
        if let c = try? readJSONObject(dir + "/config.json"), let q = c["quantization_config"] as? [String: Any],
           (q["quant_method"] as? String)?.lowercased() == "gptq" { return .gptq }
        return nil
    }

    /// True when `dir` is a native or GPTQ checkpoint directory (try this before ModelLoader).
    public static func isCheckpoint(_ dir: String) -> Bool { kind(dir) != nil }

    /// Reads the weights of a native or GPTQ directory.
    public static func read(_ dir: String) throws -> QuantizedCheckpoint {
        switch kind(dir) {
        case .native?: return try NativeCheckpoint.read(dir)
        case .gptq?: return try GPTQCheckpoint.read(dir)
        case nil:
            throw FormatError(file: dir, "not a quantized checkpoint: expected a directory with qatlab.json, quantize_config.json, or a config.json whose quantization_config has quant_method gptq")
        }
    }

    /// Reads a checkpoint and its tokenizer (see the header for where the tokenizer comes from).
    public static func load(_ dir: String) throws -> CheckpointModel {
        let c = try read(dir)
        let recorder = c.format == "qatlab" ? NativeCheckpoint.manifestFile : "quantize_config.json"
        let tok = try CheckpointIO.tokenizer(dir: dir, source: c.source, recordedIn: recorder, vocab: c.model.vocabSize)
        return CheckpointModel(checkpoint: c, tokenizer: tok)
    }
}

// MARK: - Shared by the native and GPTQ directories

/// Tensor lookups in a checkpoint with dtype and shape checks; errors name the file holding the tensor.
struct CheckpointTensors {
    let checkpoint: SafetensorsCheckpoint
    init(_ checkpoint: SafetensorsCheckpoint) { self.checkpoint = checkpoint }

    func fileName(_ name: String) -> String {
        if let f = checkpoint.file(for: name) { return f.path }
        return checkpoint.files.count == 1 ? checkpoint.files[0].path : checkpoint.path + "/model.safetensors.index.json"
    }

    func error(_ name: String, _ message: String) -> FormatError {
        FormatError(file: fileName(name), "tensor '\(name)' \(message)")
    }

    func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let i = checkpoint.info(name) else { throw error(name, "is missing; the checkpoint is incomplete or not of the expected kind") }
        return i
    }

    func shape(_ name: String) throws -> [Int] { try info(name).shape }

    private func checked(_ name: String, shape: [Int], dtypes: [SafetensorsDType]) throws -> SafetensorsTensorInfo {
        let i = try info(name)
        guard dtypes.contains(i.dtype) else {
            throw error(name, "has dtype \(i.dtype.rawValue); expected \(dtypes.map(\.rawValue).joined(separator: " or "))")
        }
        guard i.shape == shape else { throw error(name, "has shape \(i.shape); expected \(shape)") }
        return i
    }

    func float(_ name: String, shape: [Int]) throws -> Tensor {
        _ = try checked(name, shape: shape, dtypes: [.F32, .F16, .BF16])
        return try checkpoint.tensor(name)
    }

    func int32s(_ name: String, shape: [Int]) throws -> [Int32] {
        _ = try checked(name, shape: shape, dtypes: [.I32])
        return try checkpoint.file(for: name)?.int32s(name) ?? []
    }

    func uint8s(_ name: String, shape: [Int]) throws -> [UInt8] {
        _ = try checked(name, shape: shape, dtypes: [.U8])
        return try checkpoint.file(for: name)?.uint8s(name) ?? []
    }
}

enum CheckpointIO {
    /// Our linear names and their Hugging Face module paths inside model.layers.N.
    static let linearPaths: [(ours: String, hf: String)] = [
        ("q_proj", "self_attn.q_proj"), ("k_proj", "self_attn.k_proj"), ("v_proj", "self_attn.v_proj"),
        ("o_proj", "self_attn.o_proj"), ("gate_proj", "mlp.gate_proj"), ("up_proj", "mlp.up_proj"), ("down_proj", "mlp.down_proj"),
    ]

    static func module(block: Int, linear ours: String) -> String {
        "model.layers.\(block)." + (linearPaths.first { $0.ours == ours }?.hf ?? ours)
    }

    /// One linear of the model with its HF name and, for Q/K of an interleaved-RoPE model, the
    /// row order that puts it back in rotate-half order.
    struct Slot { let block: Int; let module: String; let linear: Linear; let hfRows: [Int]? }

    static func slots(_ model: LlamaModel) -> [Slot] {
        let s = model.blockShape
        var out: [Slot] = []
        for (b, block) in model.blocks.enumerated() {
            for l in block.linears {
                var order: [Int]? = nil
                if s.ropeLayout == .interleaved, l.name == "q_proj" || l.name == "k_proj" {
                    order = hfRowOrder(heads: l.name == "q_proj" ? s.heads : s.kvHeads, headDim: s.headDim)
                }
                out.append(Slot(block: b, module: module(block: b, linear: l.name), linear: l, hfRows: order))
            }
        }
        return out
    }

    /// HF row h*D + a*D/2 + j holds the interleaved model's row h*D + 2j + a (a in 0...1):
    /// rotate-half pairs (j, j + D/2) are the interleaved pairs (2j, 2j + 1).
    static func hfRowOrder(heads: Int, headDim d: Int) -> [Int] {
        var order = [Int](repeating: 0, count: heads * d)
        for h in 0..<heads {
            for a in 0..<2 { for j in 0..<(d / 2) { order[h * d + a * d / 2 + j] = h * d + 2 * j + a } }
        }
        return order
    }

    /// Row r of the result is row order[r] of `t` (t itself when order is nil).
    static func rows(_ t: Tensor, _ order: [Int]?) -> Tensor {
        guard let order else { return t }
        let width = t.count / max(t.shape[0], 1)
        let r = Tensor(uninitialized: t.shape)
        for (dst, src) in order.enumerated() { (r.data + dst * width).update(from: t.data + src * width, count: width) }
        return r
    }

    static func rows(_ qw: QuantizedWeight, _ order: [Int]?) throws -> QuantizedWeight {
        guard let order else { return qw }
        let g = qw.groupCount, c = qw.cols
        let codes = order.flatMap { qw.codes[($0 * c)..<($0 * c + c)] }
        let scales = order.flatMap { qw.scales[($0 * g)..<($0 * g + g)] }
        let zeros = order.flatMap { qw.zeros[($0 * g)..<($0 * g + g)] }
        return try QuantizedWeight(spec: qw.spec, rows: qw.rows, cols: c, codes: codes, scales: scales, zeros: zeros, groupIndex: qw.groupIndex)
    }

    /// Embedding, norms and the untied head in HF names.
    static func floatTensors(_ model: LlamaModel) -> [(String, Tensor)] {
        var t: [(String, Tensor)] = [("model.embed_tokens.weight", model.embedding.value), ("model.norm.weight", model.finalNorm.value)]
        for (i, b) in model.blocks.enumerated() {
            t.append(("model.layers.\(i).input_layernorm.weight", b.attnNorm.value))
            t.append(("model.layers.\(i).post_attention_layernorm.weight", b.ffnNorm.value))
            for (name, gain) in b.headNorms { t.append(("model.layers.\(i).self_attn.\(name).weight", gain.value)) }
        }
        if let h = model.lmHead { t.append(("lm_head.weight", h.value)) }
        return t
    }

    /// The config to write: tied exactly when the model has no separate head.
    static func hfConfig(_ model: LlamaModel) -> ModelConfig {
        var c = model.config
        c.tieWordEmbeddings = model.lmHead == nil
        return c
    }

    /// The grid of a stored linear's quantizer, nil for a full-precision one.
    static func storedGrid(_ slot: Slot) -> QuantGrid? {
        if let merged = slot.linear.quantizer as? MergedZeroQuantizer { return merged.grid }
        return (slot.linear.quantizer as? HardQuantizer)?.grid
    }

    /// The integer weight of a hard-quantized linear, nil for a full-precision one.
    static func hardWeight(_ slot: Slot) throws -> QuantizedWeight? {
        guard let q = slot.linear.quantizer else { return nil }
        if let merged = q as? MergedZeroQuantizer { return merged.stored }
        guard let hard = q as? HardQuantizer else {
            throw TensorError.invalidArgument(op: "checkpoint", message: "\(slot.module) has a '\(q.summary)' quantizer; only hard-quantized (integer) linears can be stored: convert it to a HardQuantizer first")
        }
        return try hard.quantized
    }

    /// Builds `dir` atomically: `body` fills DIR.tmp-<pid>, which then replaces DIR.
    static func writeDirectory(_ dir: String, overwrite: Bool, _ body: (String) throws -> Void) throws {
        let fm = FileManager.default
        let target = dir.hasSuffix("/") && dir.count > 1 ? String(dir.dropLast()) : dir
        InterruptedWrites.reclaim(target)
        var isDir: ObjCBool = false
        let exists = fm.fileExists(atPath: target, isDirectory: &isDir)
        if exists && !isDir.boolValue { throw FormatError(file: target, "exists and is not a directory; choose another output path") }
        let nonEmpty = exists && !((try? fm.contentsOfDirectory(atPath: target))?.isEmpty ?? true)
        if nonEmpty && !overwrite {
            throw FormatError(file: target, "exists and is not empty; choose another output path or allow overwriting")
        }
        let tmp = "\(target).tmp-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        do {
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            try body(tmp)
            if exists {
                let old = "\(target).old-\(getpid())"
                try fm.moveItem(atPath: target, toPath: old)
                try fm.moveItem(atPath: tmp, toPath: target)
                try? fm.removeItem(atPath: old)
            } else {
                try fm.moveItem(atPath: tmp, toPath: target)
            }
        } catch {
            try? fm.removeItem(atPath: tmp)
            if error is FormatError || error is TensorError { throw error }
            throw FormatError(file: target, "cannot write the directory (\(error.localizedDescription))")
        }
    }

    static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

    /// Copies the source's tokenizer files when the source is a directory that has them.
    static func copyTokenizerFiles(source: String, into dir: String) {
        guard let path = try? ModelLoader.resolve(source) else { return }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return }
        for f in tokenizerFiles where FileManager.default.fileExists(atPath: path + "/" + f) {
            try? FileManager.default.copyItem(atPath: path + "/" + f, toPath: dir + "/" + f)
        }
    }

    /// The tokenizer of a checkpoint directory (order in the file header).
    static func tokenizer(dir: String, source: String?, recordedIn: String, vocab: Int, depth: Int = 0) throws -> any TextTokenizer {
        if FileManager.default.fileExists(atPath: dir + "/tokenizer.json") {
            return try BPETokenizer.fromHuggingFace(path: dir + "/tokenizer.json")
        }
        var reason = "no source model was recorded"
        if let source, source != dir {
            do {
                if QuantCheckpoint.isCheckpoint(source), depth < 4 {
                    let c = try QuantCheckpoint.read(source)
                    return try tokenizer(dir: source, source: c.source, recordedIn: recordedIn, vocab: vocab, depth: depth + 1)
                }
                return try ModelLoader.tokenizer(ofSource: source)
            } catch { reason = "the source model '\(source)' cannot be loaded (\(error))" }
        }
        if vocab == ByteTokenizer().vocabSize { return ByteTokenizer(addBOS: true) }
        throw FormatError(file: dir + "/" + recordedIn, "no tokenizer: the directory has no tokenizer.json and \(reason); copy the model's tokenizer.json into \(dir) or make the source available")
    }

    /// Builds the model from HF-named tensors. `linear(module, out, in)` gives the weight the
    /// layer holds and, for a quantized layer, its integer form (a HardQuantizer is installed;
    /// with `mergedZeros`, a frozen MergedZeroQuantizer where the zeros are fractional). `grid`
    /// gives the recorded grid of a module, nil: inferred from its zeros (HardQuantizer.init).
    static func assemble(config: ModelConfig, source: String, floats t: CheckpointTensors, mergedZeros: Bool = false,
                         grid: (String) -> QuantGrid? = { _ in nil }, linear: (String, Int, Int) throws -> (Tensor, QuantizedWeight?)) throws -> (LlamaModel, [String: QuantizedWeight]) {
        try checkSizes(config, file: source + "/config.json")
        let s = ModelLoaderShape.blockShape(config)
        let qd = s.heads * s.headDim, kd = s.kvHeads * s.headDim
        let shapes = ["q_proj": (qd, s.hidden), "k_proj": (kd, s.hidden), "v_proj": (kd, s.hidden), "o_proj": (s.hidden, qd),
                      "gate_proj": (s.ffn, s.hidden), "up_proj": (s.ffn, s.hidden), "down_proj": (s.hidden, s.ffn)]
        var blocks: [DecoderBlock] = []
        var quantized: [String: QuantizedWeight] = [:]
        for b in 0..<config.layerCount {
            let p = "model.layers.\(b)."
            var w: [String: Tensor] = ["attn_norm": try t.float(p + "input_layernorm.weight", shape: [s.hidden]),
                                       "ffn_norm": try t.float(p + "post_attention_layernorm.weight", shape: [s.hidden])]
            if s.qkNorm { for g in ["q_norm", "k_norm"] { w[g] = try t.float(p + "self_attn.\(g).weight", shape: [s.headDim]) } }
            var blockQ: [String: QuantizedWeight] = [:]
            for (ours, _) in linearPaths {
                let (out, inF) = shapes[ours] ?? (0, 0)
                let m = module(block: b, linear: ours)
                let (weight, qw) = try linear(m, out, inF)
                w[ours] = weight
                if let qw { blockQ[ours] = qw; quantized[m] = qw }
                if s.attentionBias, ["q_proj", "k_proj", "v_proj"].contains(ours) {
                    w[String(ours.prefix(1)) + "_bias"] = try t.float(m + ".bias", shape: [out])
                }
            }
            let block = try DecoderBlock(shape: s, weights: w)
            for l in block.linears {
                guard let qw = blockQ[l.name] else { continue }
                if mergedZeros, qw.zeros.contains(where: { $0 != $0.rounded() }) { MergedZeroQuantizer(qw).install(on: l); continue }
                l.quantizer = try HardQuantizer(qw, name: "blocks.\(b).\(l.name)", grid: grid(module(block: b, linear: l.name)))
                l.weight.requiresGrad = false
            }
            blocks.append(block)
        }
        let v = config.vocabSize, c = config.hiddenSize
        let head = config.tieWordEmbeddings || t.checkpoint.info("lm_head.weight") == nil ? nil : try t.float("lm_head.weight", shape: [v, c])
        let model = try LlamaModel(config: config, ropeLayout: .halfRotate, embedding: try t.float("model.embed_tokens.weight", shape: [v, c]),
                                   blocks: blocks, finalNorm: try t.float("model.norm.weight", shape: [c]), lmHead: head, source: source)
        return (model, quantized)
    }
}

extension CheckpointIO {
    /// Sizes from config.json are products below; refuse ones no checkpoint could back before
    /// they overflow (tensor shapes are then checked against the file).
    static func checkSizes(_ c: ModelConfig, file: String) throws {
        let limit = 1 << 24
        let dims = [("vocab_size", c.vocabSize), ("hidden_size", c.hiddenSize), ("intermediate_size", c.intermediateSize),
                    ("num_hidden_layers", c.layerCount), ("num_attention_heads", c.headCount),
                    ("num_key_value_heads", c.kvHeadCount), ("head_dim", c.headDim)]
        for (name, v) in dims where v <= 0 || v > limit {
            throw FormatError(file: file, "\(name) = \(v) is outside 1...\(limit); the config is corrupt")
        }
        // each factor is at most 2^24, so the product cannot overflow
        guard c.headCount * c.headDim <= limit else {
            throw FormatError(file: file, "num_attention_heads x head_dim = \(c.headCount * c.headDim) exceeds \(limit); the config is corrupt")
        }
    }
}

/// The block geometry of a Hugging Face checkpoint (rotate-half RoPE), as ModelLoader builds it.
enum ModelLoaderShape {
    static func blockShape(_ c: ModelConfig) -> BlockShape {
        BlockShape(config: c, ropeLayout: .halfRotate)
    }
}
