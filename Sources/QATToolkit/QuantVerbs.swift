// Verbs that quantize and move quantized models: quantize (RTN, GPTQ, AWQ), export.
import Foundation
import QATInterp
import QATModel
import QATQuant
import QATTensor
import QATTrain

enum QuantVerbs {
    static var rows: [VerbSpec] { [quantize, export] }

    static var quantize: VerbSpec {
        VerbSpec(name: "quantize", summary: "Quantize a model's block linears with RTN, GPTQ or AWQ (returns the quantized model).",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp + " (an object is not changed: a copy is quantized)"),
                    .key("method", .choice(["rtn", "rtn0", "gptq", "awq"]), default: .string("rtn"),
                         help: "rtn: min/max per group; rtn0: min/max with 0 in range (GPTQ's); gptq/awq use calib="),
                    .key("bits", .int, default: .number(4), range: 2...8, help: "bits per weight"),
                    .key("group", .int, default: .number(128), range: -1...65536, help: "columns per group (-1: one group per row)"),
                    .key("out", .string, help: "write a QATLab checkpoint to this directory (default: nothing is written)"),
                    .key("calib", textKind, default: .string("fortunes"), help: "gptq/awq: a text name or path, or a `calib` dataset"),
                    .key("samples", .int, default: .number(128), range: 1...100_000, help: "gptq/awq: calibration windows (from a text)"),
                    .key("seqlen", .int, default: .number(256), range: 2...32768, help: "gptq/awq: tokens per window (from a text)"),
                    seedKey(0, "calibration windows"),
                    .key("policy", .string, help: "per-block/linear overrides, e.g. \"w2g64,blocks.0=w4g128,down_proj=fp\""),
                    .key("act_order", .bool, default: .number(0), help: "gptq: quantize columns in order of decreasing Hessian diagonal"),
                    .key("search_windows", .int, range: 1...100_000, help: "awq: run the scale search's loss on the first N windows (default: all; mean |x| and clipping still use all)"),
                    .key("overwrite", .bool, default: .number(0), help: "replace an existing out= directory"),
                 ],
                 help: "Embeddings, norms and the LM head stay full precision. Prints `method=... spec=... avg_bits=... out=... seconds=...`. With out=DIR the checkpoint is written too, and every MODEL argument accepts DIR afterwards.",
                 examples: ["q = quantize m method=rtn bits=2 group=64", "q = quantize m method=gptq bits=3 group=128 calib=fortunes samples=64",
                            "quantize smollm2 method=rtn bits=3 group=128 out=Models/rtn-w3g128"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])
            let (source, loaded) = try call.modelToChange("MODEL")
            let qspec = try QuantSpec(bits: try call.int("bits"), groupSize: try call.int("group"))
            let method = try call.string("method")
            for (key, owner) in [("act_order", "gptq"), ("search_windows", "awq")] where call.has(key) && method != owner {
                throw InterpError.verb("\(key)= applies to method=\(owner), not method=\(method)", hint: "drop \(key)= or use method=\(owner)")
            }
            let policy = call.has("policy") ? try QuantPolicy(parsing: try call.string("policy")) : QuantPolicy(qspec)
            let clock = ContinuousClock(), start = clock.now
            switch method {
            case "rtn": try policy.apply(to: loaded.model, mode: .hard, init: .minMax)
            case "rtn0": try policy.apply(to: loaded.model, mode: .hard, init: .includeZero)
            default:
                let calib = try calibration(call, loaded)
                if method == "gptq" {
                    let o = GPTQOptions(actOrder: try call.bool("act_order"))
                    try quantizeGPTQ(model: loaded.model, calibration: calib, policy: qspec, options: o, log: { call.out($0) })
                } else {
                    let o = AWQOptions(searchWindows: call.has("search_windows") ? try call.int("search_windows") : nil)
                    try quantizeAWQ(model: loaded.model, calibration: calib, spec: qspec, options: o, log: { call.out($0) })
                }
            }
            let secs = seconds(clock.now - start)
            let out = call.has("out") ? try call.string("out") : nil
            if let out {
                try NativeCheckpoint.write(loaded.model, to: out, method: method, source: source.origin,
                                           metadata: ["spec": "\(qspec)", "seconds": fmt(secs)], overwrite: try call.bool("overwrite"))
            }
            let bits = try policy.bits(for: loaded.model)
            let specText = call.has("policy") ? try call.string("policy") : "\(qspec)"
            call.out("method=\(method) spec=\(specText) avg_bits=\(fmt(bits.paperBits, digits: 3)) out=\(out ?? "none") seconds=\(fmt(secs))")
            return .object(ModelObject(loaded, reloadSpec: out, origin: source.origin, method: "\(method) \(specText)"))
        }
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
        VerbSpec(name: "export", summary: "Write a quantized model as a GPTQ directory or as dequantized full precision.",
                 arguments: [
                    .positional("MODEL", modelKind, help: "a quantized model object or checkpoint directory"),
                    .key("format", .choice(["gptq", "gptq_v2", "fp", "fp16"]), default: .string("gptq_v2"),
                         help: "gptq (v1 zero points), gptq_v2, fp (F32) or fp16"),
                    .key("out", .string, required: true, help: "the directory to write"),
                    .key("overwrite", .bool, default: .number(0), help: "replace an existing directory"),
                 ],
                 help: "GPTQ directories are Hugging Face layouts (safetensors, config.json with quantization_config, fp16 scales) that QATLab and transformers read; fp/fp16 write the weight each linear multiplies by.",
                 examples: ["export q format=gptq out=Models/rtn-w4g128-gptq", "export Models/eqat-w2g64 format=fp16 out=Models/eqat-w2g64-fp16"]) { call in
            try OutputCheck.requireWritable(call, keys: ["out"])
            let m = try call.model("MODEL")
            let dir = try call.string("out"), overwrite = try call.bool("overwrite")
            switch try call.string("format") {
            case "gptq": try GPTQCheckpoint.write(m.model, to: dir, format: .v1, source: m.origin, overwrite: overwrite)
            case "gptq_v2": try GPTQCheckpoint.write(m.model, to: dir, format: .v2, source: m.origin, overwrite: overwrite)
            case "fp": try NativeCheckpoint.writeDequantized(m.model, to: dir, dtype: .F32, source: m.origin, overwrite: overwrite)
            default: try NativeCheckpoint.writeDequantized(m.model, to: dir, dtype: .F16, source: m.origin, overwrite: overwrite)
            }
            call.out("exported \(m.loaded.name) to \(dir)")
            return .none
        }
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
