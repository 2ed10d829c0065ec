// `export MODEL format=gguf`: a LLaMA-family model as one GGUF file that llama.cpp loads and
// QATLab reads back (ModelLoader.loadGGUF).
//
// File FILE.gguf (container layout: QATIO/GGUFWriter.swift; block layouts: QATIO/GGUFTypes.swift):
//   1. Metadata, key names as the `gguf` package's constants spell them (ARCH = "llama", "qwen2"
//      or "qwen3", ModelArchitecture's first GGUF name; Mistral rows are refused):
//        general.architecture, general.name, general.file_type (LlamaFileType of the most common
//        block-linear type), general.quantization_version = 2;
//        ARCH.context_length, .embedding_length, .block_count, .feed_forward_length, .vocab_size,
//        .rope.dimension_count (head dim), .rope.freq_base (f32), .attention.head_count,
//        .attention.head_count_kv, .attention.layer_norm_rms_epsilon (f32), and
//        .attention.key_length / .value_length when head dim != hidden / heads; all integers u32.
//   2. The tokenizer: every `tokenizer.*` key of the source GGUF copied verbatim when the model
//      came from one (SmolLM2), else rebuilt from the loaded tokenizer: tokenizer.ggml.model
//      "gpt2", .pre, .tokens, .token_type, .merges, .bos/.eos/.unknown/.padding_token_id (u32),
//      .add_bos_token, .add_eos_token. The byte tokenizer becomes a 258-token vocabulary without
//      merges (QATTokenizer/BPETokenizer+GGUFArrays.swift), which encodes texts to the same ids.
//   3. Tensors, llama.cpp's names: token_embd.weight, output_norm.weight, output.weight (untied
//      models only), blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate,
//      ffn_up, ffn_down}.weight, blk.N.attn_{q,k,v}.bias (architectures with biases),
//      blk.N.attn_{q,k}_norm.weight (D; Qwen3), rope_freqs.weight (D/2 F32 frequency divisors,
//      models with RoPE scaling: Llama-3's, as llama.cpp's converter writes it).
//      Norms, biases and rope_freqs F32; embedding, head and full-precision linears as fp= (F32/F16/BF16);
//      quantized linears as GGUFLinearEncoding.swift's table says, or as convert= asks.
//      Rows of attn_q/attn_k follow llama.cpp's RoPE: for "llama" the interleaved order its
//      converter produces (a model loaded from a Hugging Face directory is permuted into it),
//      for "qwen2" the rotate-half order. The permutation moves whole rows, so a quantized row
//      keeps its codes, scales and zeros.
// The file is written atomically (GGUFWriter.write): on any error nothing is left at FILE.
import QATIO
import QATModel
import QATTensor
import QATTokenizer
#if canImport(Glibc)
import Glibc
#endif

/// What to do with a quantized linear no ggml type holds exactly.
public enum GGUFConvert: String, Sendable, CaseIterable {
    /// Refuse, naming the linear and the two ways out.
    case none
    /// Store the dequantized weight as F16: exact up to fp16 rounding, 16 bits per weight.
    case f16
    /// The closest type that holds the codes exactly (GGUFNearest.swift: 2-/3-bit as Q4_1).
    case nearest
    /// The k-quant of the linear's bits, re-quantized from its weight by llama.cpp's reference
    /// quantizer (what llama-quantize would write); rows that are not whole super-blocks as nearest.
    case kquant
}

public struct GGUFExportOptions: Sendable {
    /// F32, F16 or BF16: embedding, head and full-precision linears.
    public var floatType: GGMLType = .f32
    public var convert: GGUFConvert = .none
    public var overwrite = false
    /// general.name
    public var name = "qatlab-export"
    public init() {}
}

/// What was written, counted from the tensors themselves.
public struct GGUFExportReport: Sendable {
    public struct Tensor: Sendable {
        public let name: String
        public let type: GGMLType
        /// "exact", "float", "convert=f16", "nearest", "provider"
        public let how: String
        /// max |decoded GGUF weight - QATLab's weight| (block linears only, else 0)
        public let maxAbsDiff: Float
        /// sum of squared differences and of squared weights (block linears only)
        public let sqDiff: Double, sqWeight: Double
    }
    public var tensors: [Tensor] = []
    public var bytes = 0
    public var tokenizer = ""

    /// "Q4_1 210, F32 61" (types of all tensors, most common first).
    public var typeCounts: String {
        var counts: [String: Int] = [:]
        for t in tensors { counts[t.type.name, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    /// One line per (type, how) of the block linears: how many, the largest |w_gguf - w_qat| and
    /// the relative RMS error sqrt(sum diff^2 / sum w^2), measured on the decoded bytes.
    public var linearLines: [String] {
        let linears = tensors.filter { $0.name.hasPrefix("blk.") && $0.sqWeight > 0 }
        var keys: [String] = []
        var groups: [String: [Tensor]] = [:]
        for t in linears {
            let key = "\(t.type.name) \(t.how)"
            if groups[key] == nil { keys.append(key) }
            groups[key, default: []].append(t)
        }
        return keys.map { key in
            let g = groups[key] ?? []
            let worst = g.map(\.maxAbsDiff).max() ?? 0
            let rel = (g.map(\.sqDiff).reduce(0, +) / max(g.map(\.sqWeight).reduce(0, +), .leastNonzeroMagnitude)).squareRoot()
            return "linears \(key): \(g.count) tensors, max |w_gguf - w_qat| \(worst), relative RMS \(rel)"
        }
    }
}

public enum GGUFExport {
    /// Writes `model` to `path`. `tokenizerSource` is the MODEL spec the weights came from (its
    /// GGUF tokenizer is copied when it is one); `tokenizer` is used otherwise.
    public static func write(_ model: LlamaModel, tokenizer: any TextTokenizer, tokenizerSource: String?, to path: String,
                             options: GGUFExportOptions) throws -> GGUFExportReport {
        guard [GGMLType.f32, .f16, .bf16].contains(options.floatType) else {
            throw FormatError(file: path, "fp=\(options.floatType.name.lowercased()) is not a float type; use f32, f16 or bf16")
        }
        if !options.overwrite, fileExists(path) {
            throw FormatError(file: path, "exists; choose another out= path or pass overwrite=1 to replace it")
        }
        let arch = try ggufArchitecture(model, path: path)
        var w = GGUFWriter()
        var report = GGUFExportReport()
        try writeTensors(model, arch: arch, options: options, into: &w, report: &report, path: path)
        writeArchitecture(model, arch: arch, fileType: fileType(report), name: options.name, into: &w)
        report.tokenizer = try GGUFTokenizerMetadata.write(tokenizer, source: tokenizerSource, vocab: model.vocabSize, into: &w, path: path)
        try w.write(to: path, overwrite: options.overwrite)
        report.bytes = fileSize(path)
        return report
    }

    /// The GGUF architecture name, or an error for a model llama.cpp would run differently.
    static func ggufArchitecture(_ model: LlamaModel, path: String) throws -> (name: String, neox: Bool) {
        let supported = ModelArchitecture.all.filter { !$0.ggufNames.isEmpty && $0.name != ModelArchitecture.mistral.name }
        guard let row = ModelArchitecture.named(model.config.architecture), let name = row.ggufNames.first,
              supported.contains(row) else {
            throw FormatError(file: path, "architecture \(model.config.architecture) cannot be exported to GGUF; format=gguf writes \(supported.map(\.name).joined(separator: " and ")) (llama.cpp's \(supported.compactMap(\.ggufNames.first).joined(separator: ", "))); use format=fp or gptq for this model")
        }
        return (name, row.ggufRopeIsNeox)
    }

    static func writeArchitecture(_ model: LlamaModel, arch: (name: String, neox: Bool), fileType: UInt32, name: String,
                                  into w: inout GGUFWriter) {
        let c = model.config, a = arch.name
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(clamping: v)) }
        w.set("general.architecture", .string(a))
        w.set("general.name", .string(name))
        w.set("general.file_type", .uint32(fileType))
        w.set("general.quantization_version", .uint32(2))
        w.set("\(a).context_length", u32(c.maxPositions))
        w.set("\(a).embedding_length", u32(c.hiddenSize))
        w.set("\(a).block_count", u32(c.layerCount))
        w.set("\(a).feed_forward_length", u32(c.intermediateSize))
        w.set("\(a).vocab_size", u32(c.vocabSize))
        w.set("\(a).rope.dimension_count", u32(c.headDim))
        w.set("\(a).rope.freq_base", .float32(Float(c.ropeTheta)))
        w.set("\(a).attention.head_count", u32(c.headCount))
        w.set("\(a).attention.head_count_kv", u32(c.kvHeadCount))
        w.set("\(a).attention.layer_norm_rms_epsilon", .float32(Float(c.rmsNormEps)))
        if c.headDim * c.headCount != c.hiddenSize {
            w.set("\(a).attention.key_length", u32(c.headDim))
            w.set("\(a).attention.value_length", u32(c.headDim))
        }
    }

    /// llama.cpp's LlamaFileType of the most common block-linear type (gguf.constants).
    static func fileType(_ report: GGUFExportReport) -> UInt32 {
        let ids: [String: UInt32] = ["F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
                                     "Q3_K": 12, "Q4_K": 15, "Q5_K": 17, "Q6_K": 18, "BF16": 32]
        var counts: [String: Int] = [:]
        for t in report.tensors where t.name.hasPrefix("blk.") && !t.name.contains("norm") && t.name.hasSuffix(".weight") {
            counts[t.type.name, default: 0] += 1
        }
        let top = counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key ?? "F32"
        return ids[top] ?? 1024   // GUESSED
    }

    // MARK: Tensors

    static let linearNames = ["q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
                              "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"]

    static func writeTensors(_ model: LlamaModel, arch: (name: String, neox: Bool), options: GGUFExportOptions,
                             into w: inout GGUFWriter, report: inout GGUFExportReport, path: String) throws {
        func float(_ name: String, _ t: QATTensor.Tensor, _ type: GGMLType) throws {
            try w.addTensor(name: name, shape: t.shape, values: t.toArray(), as: type)
            report.tensors.append(.init(name: name, type: type, how: "float", maxAbsDiff: 0, sqDiff: 0, sqWeight: 0))
        }
        try float("token_embd.weight", model.embedding.value, options.floatType)
        let s = model.blockShape
        if let scaling = s.ropeScaling {
            try float("rope_freqs.weight", QATTensor.Tensor(scaling.factors(headDim: s.headDim, theta: s.ropeTheta).map { Float($0) }), .f32)
        }
        let target: RopeLayout = arch.neox ? .halfRotate : .interleaved
        if s.qkNorm, s.ropeLayout != target {
            throw FormatError(file: path, "a model with q/k norms cannot be written with its q/k rows permuted to \(target) RoPE; export \(model.config.architecture) as its own architecture")
        }
        for (b, block) in model.blocks.enumerated() {
            try float("blk.\(b).attn_norm.weight", block.attnNorm.value, .f32)
            for (name, gain) in block.headNorms { try float("blk.\(b).attn_\(name).weight", gain.value, .f32) }
            for l in block.linears {
                let name = "blk.\(b).\(linearNames[l.name] ?? l.name)"
                var order: [Int]? = nil
                if s.ropeLayout != target, l.name == "q_proj" || l.name == "k_proj" {
                    order = ggufRowOrder(heads: l.name == "q_proj" ? s.heads : s.kvHeads, headDim: s.headDim, to: target)
                }
                let enc = try GGUFLinearExport.encode(l, module: "blocks.\(b).\(l.name)", floatType: options.floatType,
                                                      convert: options.convert, path: path)
                let rowBytes = enc.bytes.count / max(l.outFeatures, 1)
                try w.addTensor(name: name + ".weight", dims: [l.inFeatures, l.outFeatures], type: enc.type,
                                bytes: permuteRows(enc.bytes, rowBytes: rowBytes, order))
                report.tensors.append(.init(name: name + ".weight", type: enc.type, how: enc.how, maxAbsDiff: enc.maxAbsDiff,
                                            sqDiff: enc.sqDiff, sqWeight: enc.sqWeight))
                if let bias = l.bias {
                    let v = bias.value.toArray()
                    let permuted = order.map { o in o.map { v[$0] } } ?? v
                    try w.addTensor(name: name + ".bias", shape: [v.count], values: permuted, as: .f32)
                    report.tensors.append(.init(name: name + ".bias", type: .f32, how: "float", maxAbsDiff: 0, sqDiff: 0, sqWeight: 0))
                }
            }
            try float("blk.\(b).ffn_norm.weight", block.ffnNorm.value, .f32)
        }
        try float("output_norm.weight", model.finalNorm.value, .f32)
        if let head = model.lmHead { try float("output.weight", head.value, options.floatType) }
    }

    /// GGUF row r takes the model's row order[r]. A model in rotate-half order going to the
    /// interleaved layout: interleaved row h*D + 2j + a is rotate-half row h*D + a*D/2 + j; the
    /// other direction is the inverse (CheckpointIO.hfRowOrder).
    static func ggufRowOrder(heads: Int, headDim: Int, to target: RopeLayout) -> [Int] {
        let interleavedToHalf = CheckpointIO.hfRowOrder(heads: heads, headDim: headDim)   // [hf row] = interleaved row
        guard target == .interleaved else { return interleavedToHalf }
        var inverse = [Int](repeating: 0, count: interleavedToHalf.count)
        for (hf, inter) in interleavedToHalf.enumerated() { inverse[inter] = hf }
        return inverse
    }

    static func permuteRows(_ bytes: [UInt8], rowBytes: Int, _ order: [Int]?) -> [UInt8] {
        guard let order else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for src in order { out.append(contentsOf: bytes[(src * rowBytes)..<(src * rowBytes + rowBytes)]) }
        return out
    }

    static func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }
}
