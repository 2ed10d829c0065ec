// Verbs that quantize and move quantized models: quantize (RTN, GPTQ, AWQ), export.
import Foundation
import QATInterp
import QATIO
import QATModel
import QATQuant
import QATTensor
import QATTrain

enum QuantVerbs {
    static var rows: [VerbSpec] { [quantize, export] }

    static var quantize: VerbSpec {
        let methods = QuantMethod.all
        return VerbSpec(name: "quantize", summary: "Quantize a model's block linears with RTN, GPTQ or AWQ (returns the quantized model).",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp + " (an object is not changed: a copy is quantized)"),
                    .key("method", .choice(methods.map(\.name)), default: .string("rtn"),
                         help: methods.map { "\($0.name): \($0.summary)" }.joined(separator: "; ")),
                    .key("bits", .int, default: .number(4), range: 2...8, help: "bits per weight"),
                    .key("group", .int, default: .number(128), range: -1...65536, help: "columns per group (-1: one group per row)"),
                    .key("out", .string, help: "write a QATLab checkpoint to this directory (default: nothing is written)"),
                    .key("format", .choice(GGMLFormats.all.map(\.name)), help: formatHelp),
                    .key("calib", textKind, default: .string("fortunes"), help: "\(calibratedNames): a text name or path, or a `calib` dataset"),
                    .key("samples", .int, default: .number(128), range: 1...100_000, help: "\(calibratedNames): calibration windows (from a text)"),
                    .key("seqlen", .int, default: .number(256), range: 2...32768, help: "\(calibratedNames): tokens per window (from a text)"),
                    seedKey(0, "calibration windows"),
                    .key("policy", .string, help: """
                        per-block/linear precision, replacing bits=/group=, e.g. \
                        \"w2g64,blocks.0=w4g128,down_proj=fp\" (every method honours it)
                        """),
                 ] + methodOptionKeys + [
                    .key("overwrite", .bool, default: .number(0), help: "replace an existing out= directory"),
                 ],
                 help: """
                     Embeddings, norms and the LM head stay full precision. Prints `method=... \
                     spec=... avg_bits=... out=... seconds=...`: spec is the policy text (or wNgG), \
                     avg_bits is counted from the installed quantizers over the block linears \
                     (\(averageBitsHelp)), the same figure `info` prints. With out=DIR the \
                     checkpoint is written too, and every MODEL argument accepts DIR afterwards.
                     """,
                 examples: ["q = quantize m method=rtn bits=2 group=64", "q = quantize m method=gptq bits=3 group=128 calib=fortunes samples=64",
                            "quantize smollm2 method=rtn bits=3 group=128 out=Models/rtn-w3g128"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])
            let method = try QuantMethod.named(try call.string("method"))
            let options = try methodOptions(call, for: method)
            if call.has("format") { return try quantizeInFormat(call, method: method, options: options) }
            let (source, loaded) = try call.modelToChange("MODEL")
            let qspec = try QuantSpec(bits: try call.int("bits"), groupSize: try call.int("group"))
            let policy = call.has("policy") ? try QuantPolicy(parsing: try call.string("policy")) : QuantPolicy(qspec)
            let specText = call.has("policy") ? try call.string("policy") : "\(qspec)"
            let clock = ContinuousClock(), start = clock.now
            let calib = method.needsCalibration ? try calibration(call, loaded) : nil
            try method.apply(model: loaded.model, policy: policy, calibration: calib, options: options, log: { call.out($0) })
            let secs = (clock.now - start).inSeconds
            let out = call.has("out") ? try call.string("out") : nil
            if let out {
                try NativeCheckpoint.write(loaded.model, to: out, method: method.name, source: source.origin,
                                           metadata: ["spec": specText, "seconds": fmt(secs)], overwrite: try call.bool("overwrite"))
            }
            let bits = AverageBits.blockLinears(loaded.model)
            call.out("method=\(method.name) spec=\(specText) avg_bits=\(fmt(bits, digits: 3)) out=\(out ?? "none") seconds=\(fmt(secs))")
            return .object(ModelObject(loaded, reloadSpec: out, origin: source.origin, method: "\(method.name) \(specText)"))
        }
    }

    static let formatHelp = """
        quantize in llama.cpp's own block format instead of bits=/group= (method=rtn: llama.cpp's reference \
        quantizer, bit for bit; method=gptq: GPTQ chooses the codes under RTN's block scales, in \
        \(GGMLGPTQ.formats.joined(separator: ", ")) and on calib=/samples=/seqlen=; method=awq: AWQ's \
        scale search with the format's RTN as its quantizer, then RTN of the scaled weights, no clipping, \
        in any format): \(GGMLFormats.all.map { "\($0.name) \($0.bitsPerWeight) bits" }.joined(separator: ", ")). \
        Inputs must be whole blocks (32; 256 for the k-quants); a linear whose inputs are not whole \
        super-blocks gets llama.cpp's own fallback type, as llama.cpp quantizes it \
        (\(GGMLFormats.all.compactMap { f in f.fallbackName.map { "\(f.name)->\($0)" } }.joined(separator: ", ")))
        """

    /// quantize MODEL format=F: llama.cpp's round to nearest in F (method=rtn), GPTQ choosing
    /// the codes under RTN's block scales (method=gptq), or AWQ's scale search with F's RTN as its
    /// quantizer (method=awq) on every block linear. Prints `method=M format=F
    /// linears=F:N[,FALLBACK:M] avg_bits=... out=none seconds=...`, counted from what was installed.
    static func quantizeInFormat(_ call: VerbCall, method: QuantMethod, options: [String: Int]) throws -> Value {
        let format = try GGMLFormats.named(try call.string("format"))
        guard ["rtn", "gptq", "awq"].contains(method.name) else {
            throw InterpError.verb("format=\(format) works with method=rtn (llama.cpp's own quantizer), method=gptq (\(GGMLGPTQ.formats.joined(separator: ", "))) and method=awq, not method=\(method.name)", hint: "use method=rtn, gptq or awq, or train in the format with `blockap MODEL format=\(format)`")
        }
        if let k = ["bits", "group", "policy", "out"].first(where: call.has) {
            throw InterpError.verb("\(k)= does not apply with format=\(format): the format fixes the codes, blocks and scales, and a format-quantized model is not a QATLab checkpoint", hint: "drop \(k)=")
        }
        let (source, loaded) = try call.modelToChange("MODEL")
        let clock = ContinuousClock(), start = clock.now
        let counts: [(format: GGMLFormat, linears: Int)]
        if method.name == "gptq" {
            if try call.bool("act_order") { throw InterpError.verb("act_order=1 does not apply with format=\(format): the format's blocks fix the column order", hint: "drop act_order=") }
            counts = try GGMLGPTQ.apply(to: loaded.model, format: format, calibration: try calibration(call, loaded), log: { call.out($0) })
        } else if method.name == "awq" {
            counts = try quantizeAWQ(model: loaded.model, calibration: try calibration(call, loaded), format: format,
                                     options: AWQOptions(searchWindows: options["search_windows"]), log: { call.out($0) })
        } else {
            counts = try GGMLQuantization.apply(to: loaded.model, format: format)
        }
        let secs = (clock.now - start).inSeconds
        let linears = counts.map { "\($0.format):\($0.linears)" }.joined(separator: ",")
        let bits = AverageBits.blockLinears(loaded.model)
        call.out("method=\(method.name) format=\(format) linears=\(linears) avg_bits=\(fmt(bits, digits: 3)) out=none seconds=\(fmt(secs))")
        return .object(ModelObject(loaded, reloadSpec: nil, origin: source.origin, method: "\(method.name) format=\(format)"))
    }

    /// The one-paragraph definition `help quantize` and `help info` show.
    static let averageBitsHelp = "a quantized weight costs what its grid's row says: N + (N + 16)/g bits on int_asym, N + 32/g on int_asym_fractional_zero (E2E-QP's fractional zeros); in a llama.cpp format (format=) the stored bits of its blocks, 8 * bytes per block / block size; a full-precision block linear 16; embeddings, norms and the LM head are not counted"

    /// "gptq/awq": the methods that read calibration windows.
    static var calibratedNames: String { QuantMethod.all.filter(\.needsCalibration).map(\.name).joined(separator: "/") }

    /// Every method's own options as quantize keys (an option two methods share appears once).
    static var methodOptionKeys: [ArgSpec] {
        var seen = Set<String>(), keys: [ArgSpec] = []
        for method in QuantMethod.all {
            for option in method.options where seen.insert(option.name).inserted {
                let help = "\(owners(of: option.name)): \(option.help)"
                let value = option.defaultValue.map { Value.number(Double($0)) }
                switch option.kind {
                case .bool: keys.append(.key(option.name, .bool, default: value, help: help))
                case .int(let r): keys.append(.key(option.name, .int, default: value, range: Double(r.lowerBound)...Double(r.upperBound), help: help))
                }
            }
        }
        return keys
    }

    /// The methods that take option `name`, as "gptq" or "gptq/awq".
    static func owners(of name: String) -> String {
        QuantMethod.all.filter { $0.options.contains { $0.name == name } }.map(\.name).joined(separator: "/")
    }

    /// The given options of `method`; an option of another method is refused before anything runs.
    static func methodOptions(_ call: VerbCall, for method: QuantMethod) throws -> [String: Int] {
        var values: [String: Int] = [:]
        for other in QuantMethod.all {
            for option in other.options where call.has(option.name) {
                guard method.options.contains(where: { $0.name == option.name }) else {
                    let owner = owners(of: option.name)
                    throw InterpError.verb("\(option.name)= applies to method=\(owner), not method=\(method.name)",
                                           hint: "drop \(option.name)= or use method=\(owner)")
                }
                switch option.kind {
                case .bool: values[option.name] = try call.bool(option.name) ? 1 : 0
                case .int: values[option.name] = try call.int(option.name)
                }
            }
        }
        return values
    }

    /// GPTQ/AWQ calibration windows from calib=: a dataset's training windows, or a text.
    static func calibration(_ call: VerbCall, _ loaded: LoadedModel) throws -> CalibrationSet {
        if let d = call.dataset("calib") {
            if let v = d.vocabSize, v != loaded.model.vocabSize {
                throw InterpError.verb("calib=\(d.name) was tokenized for a vocabulary of \(v), the model has \(loaded.model.vocabSize)",
                                       hint: "make the windows with this model: calib MODEL TEXT ...")
            }
            switch d.content {
            case .windows(let w):
                if let k = ["samples", "seqlen"].first(where: call.has) {
                    throw InterpError.verb("\(k)= conflicts with calib=\(d.name), whose windows are already drawn", hint: "set \(k)= on the `calib` verb instead")
                }
                return try CalibrationSet(windows: w.train)
            case let .text(t, tokens):
                let ids = tokens ?? loaded.tokenizer.encode(t, addSpecial: true, parseSpecial: false)
                return try CalibrationSet.sample(tokens: ids, count: try call.int("samples"), seqlen: try call.int("seqlen"), seed: try seed(call))
            }
        }
        return try CalibrationSet.load(text: try call.string("calib"), tokenizer: loaded.tokenizer, count: try call.int("samples"),
                                       seqlen: try call.int("seqlen"), seed: try seed(call))
    }

    static var export: VerbSpec {
        VerbSpec(name: "export", summary: "Write a model as a GGUF file (llama.cpp), a GPTQ directory or dequantized full precision.",
                 arguments: [
                    .positional("MODEL", modelKind, help: "a model object or checkpoint directory (gguf: any model; gptq: a quantized one)"),
                    .key("format", .choice(["gguf", "gptq", "gptq_v2", "fp", "fp16"]), default: .string("gptq_v2"),
                         help: "gguf (one file for llama.cpp), gptq (v1 zero points), gptq_v2, fp (F32) or fp16"),
                    .key("out", .string, required: true, help: "the file (gguf) or directory (the others) to write"),
                    .key("fp", .choice(["f32", "f16", "bf16"]), default: .string("f32"),
                         help: "gguf: the type of the embedding, the head and full-precision linears (norms and biases stay F32)"),
                    .key("convert", .choice(GGUFConvert.allCases.map(\.rawValue)), default: .string("none"),
                         help: "gguf: a quantized linear no ggml type holds exactly: none (an error naming it), f16 (its weight as F16), nearest (the closest ggml type that holds its codes exactly), kquant (re-quantized to Q2_K/Q3_K/Q6_K by llama.cpp's reference quantizer)"),
                    .key("overwrite", .bool, default: .number(0), help: "replace an existing file or directory"),
                 ],
                 help: """
                     format=gguf writes llama, qwen2 and qwen3 models with llama.cpp's tensor names and \
                     metadata (Llama-3 rope scaling as a rope_freqs tensor), the tokenizer copied from the source GGUF (or rebuilt), q/k rows in \
                     llama.cpp's RoPE order. A quantized linear goes to the ggml type that holds it \
                     exactly (up to fp16 storage of each block's d and m): \(GGUFLinearEncodings.table). \
                     Other linears (2-, 3-, 6-, 7-bit, 8-bit asymmetric, groups that split 32-column \
                     blocks) are refused unless convert= says how. A linear quantized in a llama.cpp \
                     format (quantize or blockap format=) is written as its own blocks, byte for byte, \
                     in its format's type (Q2_K/Q3_K models hold Q4_0 for their fallback linears, as llama.cpp writes them). \
                     For the others, convert= f16 stores the weight QATLab \
                     multiplies by; nearest puts 2- and 3-bit codes into Q4_1 unchanged (exact, 5 bits per weight); \
                     kquant re-quantizes 2-, 3- and 6-bit linears whose rows are whole 256-column super-blocks \
                     to Q2_K/Q3_K/Q6_K with llama.cpp's reference quantizer (what llama-quantize of the \
                     float export writes; the other linears as nearest), and the printed error says what it cost. A linear in a \
                     llama.cpp format (quantize, blockap or blockap then e2eqp with format=F, any \
                     of q4_0 ... q6_k) is written as its own blocks, byte for byte. Prints one line per \
                     tensor type (count, how, max |w_gguf - w_qat|, relative RMS) and `exported ... \
                     types=... bytes=...`. `ppl FILE.gguf` loads the file back. \
                     GPTQ directories are Hugging Face layouts (safetensors, config.json with \
                     quantization_config, fp16 scales) that QATLab and transformers read; fp/fp16 \
                     write the weight each linear multiplies by.
                     """,
                 examples: ["export q format=gguf out=Models/rtn-w4g32.gguf fp=f16", "export q format=gptq out=Models/rtn-w4g128-gptq",
                            "export Models/eqat-w2g64 format=gguf out=eqat.gguf convert=f16",
                            "export Models/eqat-w2g64 format=fp16 out=Models/eqat-w2g64-fp16"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])
            let m = try call.model("MODEL")
            let out = try call.string("out"), overwrite = try call.bool("overwrite")
            let format = try call.string("format")
            if format != "gguf" {
                for key in ["fp", "convert"] where call.has(key) {
                    throw InterpError.verb("\(key)= applies to format=gguf, not format=\(format)", hint: "drop \(key)= or use format=gguf")
                }
            }
            switch format {
            case "gguf": try exportGGUF(call, m, to: out, overwrite: overwrite)
            case "gptq": try GPTQCheckpoint.write(m.model, to: out, format: .v1, source: m.origin, overwrite: overwrite)
            case "gptq_v2": try GPTQCheckpoint.write(m.model, to: out, format: .v2, source: m.origin, overwrite: overwrite)
            case "fp": try NativeCheckpoint.writeDequantized(m.model, to: out, dtype: .F32, source: m.origin, overwrite: overwrite)
            default: try NativeCheckpoint.writeDequantized(m.model, to: out, dtype: .F16, source: m.origin, overwrite: overwrite)
            }
            if format != "gguf" { call.out("exported \(m.label) to \(out)") }
            return .none
        }
    }

    /// export format=gguf: writes the file and prints what each tensor type holds.
    static func exportGGUF(_ call: VerbCall, _ m: ModelObject, to out: String, overwrite: Bool) throws {
        var options = GGUFExportOptions()
        options.floatType = GGMLType.named(try call.string("fp")) ?? .f32
        options.convert = GGUFConvert(rawValue: try call.string("convert")) ?? .none
        options.overwrite = overwrite
        options.name = "\(m.origin) \(m.method)"
        // as dump does: a notebook names files under a work directory it has not made yet
        let dir = PathName.parent(out)
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let r = try GGUFExport.write(m.model, tokenizer: m.loaded.tokenizer, tokenizerSource: m.origin, to: out, options: options)
        for line in r.linearLines { call.out(line) }
        call.out("exported \(m.label) to \(out) format=gguf types=\(r.typeCounts) bytes=\(r.bytes) tokenizer=\(r.tokenizer)")
    }
}

extension VerbCall {
    /// A model a verb may change: a copy of a model object (so the object stays as it was), or a
    /// model freshly loaded from a path or name.
    func modelToChange(_ name: String) throws -> (ModelObject, LoadedModel) {
        if let m = objectArgument(name, as: ModelObject.self) { return (m, try m.freshCopy()) }
        let m = try model(name)
        return (m, m.loaded)
    }
}

/// What a checkpoint records as its source: names stay names, paths become absolute.
func sourceSpec(_ spec: String) -> String {
    if ["smollm2", "tiny", "default"].contains(spec) || spec.hasPrefix("/") { return spec }
    guard let p = realpath(spec, nil) else { return spec }
    defer { free(p) }
    return String(cString: p)
}
