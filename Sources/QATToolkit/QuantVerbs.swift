// Verbs that quantize and move quantized models: quantize (RTN, GPTQ, AWQ), export.
import QATModel
import QATQuant
import QATTensor
#if canImport(Glibc)
import Glibc
#endif

enum QuantVerbs {
    static let rows: [Verb] = [
        Verb(name: "quantize", synopsis: "quantize MODEL method=rtn|rtn0|gptq|awq bits=4 group=128 out=DIR [calib=fortunes] [samples=128] [seqlen=256] [seed=0] [policy=SPEC] [act_order=0]",
             keys: ["method", "bits", "group", "out", "calib", "samples", "seqlen", "seed", "policy", "act_order", "overwrite"],
             help: "Quantize MODEL's block linears (embeddings, norms and LM head stay full precision) and write a QATLab checkpoint to DIR, which every MODEL argument accepts. rtn: min/max per group (EfficientQAT's initialisation); rtn0: min/max with 0 forced into the range (GPTQ's quantizer); gptq and awq use calib windows. policy overrides per block or linear, e.g. policy=\"w2g64,blocks.0=w4g128,down_proj=fp\".") { args, out in
            guard let spec = args.positional.first else { throw VerbError("quantize: give MODEL, e.g. quantize smollm2 method=rtn bits=3 group=128 out=Models/rtn-w3g128") }
            guard let dir = args.options["out"] else { throw VerbError("quantize: out=DIR is required (where the checkpoint goes)") }
            let loaded = try loadModel(spec)
            let qspec = try QuantSpec(bits: try args.int("bits", default: 4, range: 2...8), groupSize: try args.int("group", default: 128, range: -1...65536))
            let method = args.options["method"] ?? "rtn"
            let policy = try args.options["policy"].map { try QuantPolicy(parsing: $0) } ?? QuantPolicy(qspec)
            let clock = ContinuousClock(), start = clock.now
            switch method {
            case "rtn": try policy.apply(to: loaded.model, mode: .hard, init: .minMax)
            case "rtn0": try policy.apply(to: loaded.model, mode: .hard, init: .includeZero)
            case "gptq", "awq":
                let calib = try CalibrationSet.load(text: args.options["calib"] ?? "fortunes", tokenizer: loaded.tokenizer,
                                                    count: try args.int("samples", default: 128, range: 1...100_000),
                                                    seqlen: try args.int("seqlen", default: 256, range: 2...32768),
                                                    seed: UInt64(try args.int("seed", default: 0, range: 0...Int(Int32.max))))
                if method == "gptq" {
                    let o = GPTQOptions(actOrder: try args.int("act_order", default: 0, range: 0...1) == 1)
                    try quantizeGPTQ(model: loaded.model, calibration: calib, policy: qspec, options: o, log: out)
                } else {
                    try quantizeAWQ(model: loaded.model, calibration: calib, spec: qspec, log: out)
                }
            default:
                throw VerbError("quantize: method=\(method) is not one of rtn, rtn0, gptq, awq")
            }
            let secs = seconds(clock.now - start)
            try NativeCheckpoint.write(loaded.model, to: dir, method: method, source: sourceSpec(spec),
                                       metadata: ["spec": "\(qspec)", "seconds": fmt(secs)],
                                       overwrite: try args.int("overwrite", default: 0, range: 0...1) == 1)
            let bits = try policy.bits(for: loaded.model)
            out("method=\(method) spec=\(qspec) avg_bits=\(fmt(bits.paperBits, digits: 3)) out=\(dir) seconds=\(fmt(secs))")
        },
        Verb(name: "export", synopsis: "export MODEL format=gptq|gptq_v2|fp|fp16 out=DIR", keys: ["format", "out", "overwrite"],
             help: "Write a quantized MODEL (a QATLab checkpoint) as a Hugging Face GPTQ directory (v1 'gptq' or 'gptq_v2' zero points; fp16 scales), or dequantized full precision (fp: F32, fp16: F16).") { args, out in
            guard let spec = args.positional.first, let dir = args.options["out"] else {
                throw VerbError("export: expected MODEL and out=DIR, e.g. export Models/rtn-w4g128 format=gptq out=Models/rtn-w4g128-gptq")
            }
            let loaded = try loadModel(spec)
            let overwrite = try args.int("overwrite", default: 0, range: 0...1) == 1
            let src = QuantCheckpoint.isCheckpoint(spec) ? try QuantCheckpoint.read(spec).source : sourceSpec(spec)
            switch args.options["format"] ?? "gptq_v2" {
            case "gptq": try GPTQCheckpoint.write(loaded.model, to: dir, format: .v1, source: src, overwrite: overwrite)
            case "gptq_v2": try GPTQCheckpoint.write(loaded.model, to: dir, format: .v2, source: src, overwrite: overwrite)
            case "fp": try NativeCheckpoint.writeDequantized(loaded.model, to: dir, dtype: .F32, source: src, overwrite: overwrite)
            case "fp16": try NativeCheckpoint.writeDequantized(loaded.model, to: dir, dtype: .F16, source: src, overwrite: overwrite)
            case let f: throw VerbError("export: format=\(f) is not one of gptq, gptq_v2, fp, fp16")
            }
            out("exported \(spec) to \(dir)")
        },
    ]
}

/// What a checkpoint records as its source: names stay names, paths become absolute.
func sourceSpec(_ spec: String) -> String {
    if ["smollm2", "tiny", "default"].contains(spec) || spec.hasPrefix("/") { return spec }
    guard let p = realpath(spec, nil) else { return spec }
    defer { free(p) }
    return String(cString: p)
}
