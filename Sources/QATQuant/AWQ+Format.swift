// AWQ in llama.cpp's block formats (issue 28 item 2): `quantize MODEL method=awq format=F`.
// The scale search is AWQ's own (AWQ.swift, steps 1-3). The one difference is the candidate
// weights Q(W diag(s)) diag(s)^-1: Q is the format's RTN, that is llama.cpp's reference quantizer
// without an importance matrix, followed by ggml's decoder. The best s folds into the norm gains
// (or into the previous linear). Each linear then holds llama.cpp's RTN blocks of its scaled weight,
// in F, or in llama.cpp's fallback type where its inputs are not whole super-blocks
// (GGMLQuantization.plan). So the model is what llama-quantize would make of the AWQ-scaled
// full-precision model, and `export format=gguf` writes those blocks byte for byte.
// AWQ's clipping (step 4) is left out in a format: llm-awq's clip shrinks one quantization group's
// range under AWQ's min/max quantizer, while the format's RTN chooses its own block scales (the
// k-quants by a search over each sub-block's scale and min under a shared fp16 super-block scale),
// so a clamp does not set a block's range the way it sets a group's.
import QATModel
import QATTensor

/// What one quantized linear of AWQ rounds to.
enum AWQTarget {
    /// QATLab's grid with AWQ's min/max quantizer (AWQ.swift).
    case grid(QuantSpec)
    /// A llama.cpp block format with llama.cpp's reference RTN.
    case format(GGMLFormat)

    /// Q(W diag(s)) diag(s)^-1 of a (rows, cols) weight.
    func fakeQuantize(_ weight: Tensor, scales s: [Float]) throws -> Tensor {
        switch self {
        case .grid(let spec):
            return awqFakeQuantize(weight: weight, spec: spec, scales: s)
        case .format(let f):
            let rows = weight.shape[0], cols = weight.shape[1]
            let scaled = Tensor(uninitialized: [rows, cols])                   // (rows, cols) W diag(s)
            for r in 0..<rows { for c in 0..<cols { scaled.data[r * cols + c] = weight.data[r * cols + c] * s[c] } }
            var q = try f.decode(try f.quantize(scaled))                        // (rows * cols) llama.cpp's weight
            for r in 0..<rows { for c in 0..<cols { q[r * cols + c] /= s[c] } }
            return try Tensor(shape: [rows, cols], q)
        }
    }

    /// The quantizer the linear keeps after the search (its weight already scaled).
    func quantizer(of weight: Tensor, name: String) throws -> any LinearQuantizer {
        switch self {
        case .grid(let spec): return try HardQuantizer(try awqQuantize(weight: weight, spec: spec), name: name)
        case .format(let f): return try GGMLQuantizer(weight: weight, format: f)
        }
    }
}

/// AWQ in `format` on every block linear of `model` (`options.blocks` is ignored: the whole model),
/// calibrated on `calibration`. The plan (each linear's format or fallback) and the weights'
/// finiteness are checked before any linear changes. Returns how many linears got each format.
@discardableResult
public func quantizeAWQ(model: LlamaModel, calibration: CalibrationSet, format: GGMLFormat, options: AWQOptions = AWQOptions(),
                        log: (String) -> Void = { _ in }) throws -> [(format: GGMLFormat, linears: Int)] {
    var whole = options
    whole.blocks = nil
    whole.clip = false
    try awqCheck(model: model, options: whole)
    let plan = try GGMLQuantization.plan(model, format: format)
    var formatOf: [ObjectIdentifier: GGMLFormat] = [:]
    for (name, linear, f) in plan {
        try QuantMethod.requireFinite(linear, name: name, method: "awq format=\(format)")
        formatOf[ObjectIdentifier(linear)] = f
    }
    log("awq format=\(format): the scale search uses the format's RTN; no clipping in a format")
    _ = try runAWQ(model: model, calibration: calibration, options: whole, log: log) { _, block in
        var targets: [BlockLinear: AWQTarget] = [:]
        for role in BlockLinear.allCases {
            if let f = formatOf[ObjectIdentifier(role.linear(in: block))] { targets[role] = .format(f) }
        }
        return targets
    }
    for (_, linear, _) in plan { linear.weight.requiresGrad = false }
    return GGMLQuantization.counts(plan)
}
