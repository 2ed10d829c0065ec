// GPTQ checkpoints: a Hugging Face model directory whose block linears are stored packed as
// AutoGPTQ ("gptq", v1) or GPTQModel ("gptq_v2") write them, and the reader for such directories.
//
// Directory DIR:
//   1. model.safetensors (or shards with model.safetensors.index.json when reading), metadata
//      {"format": "pt"} (transformers refuses files without it). Tensors:
//        model.embed_tokens.weight F16 (V, C), model.norm.weight F16 (C), lm_head.weight F16 (V, C)
//        when untied, model.layers.N.{input,post_attention}_layernorm.weight F16 (C), and per linear
//        M = model.layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj}:
//          M.qweight I32 [W(in), out], M.qzeros I32 [n_groups, W(out)], M.scales F16 [n_groups, out],
//          M.g_idx I32 [in], M.bias F16 [out] (q/k/v of architectures with attention biases);
//        bit layouts, padding and the v1/v2 zero-point rule in Packing.swift. The reader also
//        accepts a linear stored unquantized as M.weight (float), and a missing g_idx (i / G).
//   2. config.json: the model config in transformers' names plus
//        "quantization_config": {"quant_method": "gptq", "bits": b, "group_size": G (-1: rows),
//        "desc_act": g_idx is not i / G, "sym": false, "checkpoint_format": "gptq" | "gptq_v2",
//        "true_sequential": true, "damp_percent": 0.01, "static_groups": false}
//      and "_name_or_path": the source MODEL spec.
//   3. quantize_config.json: the same keys (AutoGPTQ reads this file), plus "model_name_or_path"
//      (the source MODEL spec, used to find the tokenizer) and "model_file_base_name": "model".
//   4. tokenizer files copied from the source when it is a Hugging Face directory.
// Reading takes quantization_config from config.json, else quantize_config.json (synonyms
// w_bit -> bits, q_group_size -> group_size; checkpoint_format defaults to "gptq", group_size to -1).
//
// What survives a round trip: codes and zero points exactly; scales are stored as fp16 (rounded to
// nearest even), so export -> import is bit-exact in the dequantized weights when the scales were
// already fp16 values (the GPTQ and RTN baselines can produce them so); trained fp32 scales move by
// up to 2^-11 relative and the dequantized weights with them: keep those in the native checkpoint.
// The embedding, norms, head and biases are fp16 too. One bit width and group size for all linears
// (the format has no per-layer setting); 5-7 bits, unquantized block linears and linears on a grid
// whose row is not exportable as GPTQ (int_asym_fractional_zero: QuantGrid.swift) are refused.
import Foundation
import QATIO
import QATModel
import QATTensor

public enum GPTQCheckpoint {
    /// The quantization_config of a GPTQ directory.
    public struct Settings: Equatable, Sendable {
        public var bits: Int
        public var groupSize: Int
        public var descAct: Bool
        public var sym: Bool
        public var format: GPTQFormat
    }

    /// Writes `model` as a GPTQ directory. Every block linear must be quantized with one spec:
    /// by a HardQuantizer on the layer, or by `quantized[M]` (HF module names) which takes
    /// precedence. `source` (default model.source) is recorded for the tokenizer.
    public static func write(_ model: LlamaModel, to dir: String, format: GPTQFormat = .v2,
                             quantized: [String: QuantizedWeight]? = nil, source: String? = nil, overwrite: Bool = false) throws {
        let weights = try collect(model, quantized: quantized, dir: dir)
        guard let spec = weights.first?.1.spec else { throw FormatError(file: dir, "the model has no linears to export") }
        if let odd = weights.first(where: { $0.1.spec != spec }) {
            throw FormatError(file: dir, "\(odd.0.module) is \(odd.1.spec) but \(weights[0].0.module) is \(spec); GPTQ checkpoints hold one bit width and group size for every linear: use the native QATLab checkpoint for mixed precision")
        }
        do { try GPTQPacking.checkBits(spec.bits) } catch { throw FormatError(file: dir, "\(error)") }
        var st = SafetensorsWriter()
        st.metadata = ["format": "pt"]
        for (name, t) in CheckpointIO.floatTensors(model) { try st.add(name, t, as: .F16) }
        for (slot, qw) in weights {
            let p: GPTQPackedWeight
            do { p = try GPTQPacking.pack(qw, format: format) } catch { throw FormatError(file: dir, "\(slot.module): \(error)") }
            try st.addInt32(slot.module + ".qweight", shape: [p.qweightRows, p.outFeatures], p.qweight)
            try st.addInt32(slot.module + ".qzeros", shape: [p.groupCount, p.qzerosColumns], p.qzeros)
            try st.add(slot.module + ".scales", Tensor(shape: [p.groupCount, p.outFeatures], p.scales.map(HalfFloat.float(fromHalf:))), as: .F16)
            try st.addInt32(slot.module + ".g_idx", shape: [p.inFeatures], p.gIdx)
            if let b = slot.linear.bias { try st.add(slot.module + ".bias", CheckpointIO.rows(b.value, slot.hfRows), as: .F16) }
        }
        let src = source ?? model.source
        let q = quantizationConfig(spec: spec, descAct: weights.contains { $0.1.groupIndex != nil }, format: format)
        let extra: [String: Any] = ["model_name_or_path": src, "model_file_base_name": "model"]
        try CheckpointIO.writeDirectory(dir, overwrite: overwrite) { tmp in
            try st.write(to: tmp + "/model.safetensors")
            try CheckpointIO.hfConfig(model).writeHuggingFace(to: tmp + "/config.json", torchDType: "float16",
                                                              extra: ["quantization_config": q, "_name_or_path": src])
            try writeJSONObject(q.merging(extra) { a, _ in a }, to: tmp + "/quantize_config.json")
            CheckpointIO.copyTokenizerFiles(source: src, into: tmp)
        }
    }

    /// The quantized weight of every block linear, in HF row order.
    static func collect(_ model: LlamaModel, quantized: [String: QuantizedWeight]?, dir: String) throws -> [(CheckpointIO.Slot, QuantizedWeight)] {
        let slots = CheckpointIO.slots(model)
        if let quantized {
            let known = Set(slots.map(\.module))
            if let stray = quantized.keys.sorted().first(where: { !known.contains($0) }) {
                throw FormatError(file: dir, "quantized weight '\(stray)' names no linear of the model; names look like model.layers.0.self_attn.q_proj")
            }
        }
        return try slots.map { slot in
            let qw: QuantizedWeight?
            do { qw = try quantized?[slot.module] ?? CheckpointIO.hardWeight(slot) } catch { throw FormatError(file: dir, "\(error)") }
            guard let qw else {
                throw FormatError(file: dir, "\(slot.module) is not quantized; a GPTQ checkpoint quantizes every block linear: quantize it, or use the native checkpoint")
            }
            // the grid's row says whether GPTQ can hold it (QuantGrid.gptq)
            if quantized?[slot.module] == nil, let grid = CheckpointIO.storedGrid(slot), case .notExportable(let reason) = grid.gptq {
                throw FormatError(file: dir, "\(slot.module) is on grid \(grid.name), which is not exportable as GPTQ: \(reason); use the native checkpoint")
            }
            guard qw.rows == slot.linear.outFeatures, qw.cols == slot.linear.inFeatures else {
                throw FormatError(file: dir, "\(slot.module): the quantized weight is \(qw.rows)x\(qw.cols) but the layer is \(slot.linear.outFeatures)x\(slot.linear.inFeatures)")
            }
            return (slot, try CheckpointIO.rows(qw, slot.hfRows))
        }
    }

    /// quantization_config (item 2).
    static func quantizationConfig(spec: QuantSpec, descAct: Bool, format: GPTQFormat) -> [String: Any] {
        ["quant_method": "gptq", "bits": spec.bits, "group_size": spec.groupSize, "desc_act": descAct, "sym": false,
         "checkpoint_format": format.rawValue, "true_sequential": true, "damp_percent": 0.01, "static_groups": false]
    }

    // MARK: Reading

    /// The quantization settings of a GPTQ directory; errors name the file and the field.
    public static func settings(_ dir: String) throws -> Settings {
        let (q, file, prefix) = try quantizationObject(dir)
        func fail(_ field: String, _ message: String) -> FormatError { FormatError(file: file, "\(prefix)\(field) \(message)") }
        if let method = q["quant_method"] as? String, method.lowercased() != "gptq" {
            throw fail("quant_method", "is '\(method)'; QATLab reads GPTQ checkpoints ('gptq') and its own (qatlab.json)")
        }
        guard let bits = (q["bits"] ?? q["w_bit"]) as? Int else { throw fail("bits", "is missing or not an integer") }
        guard GPTQPacking.supportedBits.contains(bits) else {
            throw fail("bits", "= \(bits) is not a GPTQ bit width; the format packs 2, 3, 4 or 8 bits")
        }
        let group = (q["group_size"] ?? q["q_group_size"]) as? Int ?? -1
        guard group == -1 || group > 0 else { throw fail("group_size", "= \(group) must be positive or -1 (whole rows)") }
        let formatName = q["checkpoint_format"] as? String ?? "gptq"
        guard let format = GPTQFormat(rawValue: formatName) else {
            throw fail("checkpoint_format", "is '\(formatName)'; QATLab reads 'gptq' (v1) and 'gptq_v2'")
        }
        return Settings(bits: bits, groupSize: group, descAct: q["desc_act"] as? Bool ?? false, sym: q["sym"] as? Bool ?? true, format: format)
    }

    /// quantization_config from config.json, else quantize_config.json: (object, file, field prefix).
    static func quantizationObject(_ dir: String) throws -> ([String: Any], String, String) {
        let config = dir + "/config.json"
        if let c = try? readJSONObject(config), let q = c["quantization_config"] as? [String: Any] {
            return (q, config, "quantization_config.")
        }
        let qc = dir + "/quantize_config.json"
        guard FileManager.default.fileExists(atPath: qc) else {
            throw FormatError(file: config, "has no quantization_config and \(qc) does not exist; not a GPTQ checkpoint")
        }
        return (try readJSONObject(qc), qc, "")
    }

    /// Reads a GPTQ directory (v1 or v2) into a model with HardQuantizers.
    public static func read(_ dir: String) throws -> QuantizedCheckpoint {
        let s = try settings(dir)
        let config = try ModelConfig.fromHuggingFace(path: dir + "/config.json")
        let tensors = CheckpointTensors(try SafetensorsCheckpoint(directoryOrFile: dir))
        let (model, quantized) = try CheckpointIO.assemble(config: config, source: dir, floats: tensors) { module, out, inF in
            if tensors.checkpoint.info(module + ".qweight") == nil, tensors.checkpoint.info(module + ".weight") != nil {
                return (try tensors.float(module + ".weight", shape: [out, inF]), nil)
            }
            let qw = try readLinear(tensors, module: module, settings: s, out: out, inF: inF)
            return (qw.dequantized(), qw)
        }
        return QuantizedCheckpoint(directory: dir, format: s.format.rawValue, model: model, quantized: quantized, source: recordedSource(dir))
    }

    static func readLinear(_ t: CheckpointTensors, module m: String, settings s: Settings, out: Int, inF: Int) throws -> QuantizedWeight {
        let spec: QuantSpec
        do { spec = try QuantSpec(bits: s.bits, groupSize: s.groupSize) } catch { throw t.error(m + ".qweight", "\(error)") }
        let groups = spec.groupCount(inFeatures: inF)
        let rowsW = GPTQPacking.wordCount(values: inF, bits: s.bits), colsZ = GPTQPacking.wordCount(values: out, bits: s.bits)
        let qweight = try t.int32s(m + ".qweight", shape: [rowsW, out])
        let qzeros = try t.int32s(m + ".qzeros", shape: [groups, colsZ])
        guard try t.info(m + ".scales").dtype == .F16 else { throw t.error(m + ".scales", "must be F16 (GPTQ stores fp16 scales)") }
        let scales = try t.float(m + ".scales", shape: [groups, out]).toArray().map(HalfFloat.half(from:))
        let gIdx = t.checkpoint.info(m + ".g_idx") == nil
            ? (0..<inF).map { Int32($0 / spec.effectiveGroupSize(inFeatures: inF)) } : try t.int32s(m + ".g_idx", shape: [inF])
        let packed = GPTQPackedWeight(bits: s.bits, outFeatures: out, inFeatures: inF, groupCount: groups,
                                      qweight: qweight, qzeros: qzeros, scales: scales, gIdx: gIdx)
        do { return try GPTQPacking.unpack(packed, groupSize: s.groupSize, format: s.format) } catch {
            throw t.error(m + ".qweight", "cannot be unpacked: \(error)")
        }
    }

    /// model_name_or_path of quantize_config.json, else _name_or_path of config.json.
    static func recordedSource(_ dir: String) -> String? {
        let a = (try? readJSONObject(dir + "/quantize_config.json"))?["model_name_or_path"] as? String
        let b = (try? readJSONObject(dir + "/config.json"))?["_name_or_path"] as? String
        return [a, b].compactMap { $0 }.first { !$0.isEmpty }
    }
}
