// Block-AP started from a post-training quantization (PTQ) solution instead of min/max (issue 26
// item 1): `blockap MODEL init=rtn|rtn0|gptq|awq|CHECKPOINT`.
//
// A PTQ solution is, per quantized linear, integer codes q with scales s and zero points z
// (QuantizedWeight), plus whatever the method changed besides: AWQ folds its per-channel scales
// into the norm gains and scales and clips W (and v's bias on models with attention bias), all
// inside one block (AWQ.swift). Block-AP's fake quantizer computes
//   W-hat = (clamp(round(W / s) + z, 0, qmax) - z) * s
// so starting it at the PTQ solution means W := (q - z) * s (the PTQ's dequantized weight, which
// for GPTQ differs from the FP weight by the error feedback and for AWQ carries its scaling), with
// the PTQ's s and z and the PTQ model's norm gains and biases. Then round(W / s) = q - z exactly:
// (q - z) * s / s differs from the integer q - z by at most |q - z| * 2^-23 < 0.5, so before any
// step the fake-quantized weight, and the codes Block-AP hardens it to, equal the PTQ model's bit
// for bit (PTQInitTests).
//
// What cannot start a fake quantizer, refused with a message naming the linear: a spec other than
// the run's policy gives, fractional zero points (an E2E-QP checkpoint trained with train=z; the
// fake quantizer rounds z), act-order groups (a column -> group map; the fake quantizer's groups
// are contiguous), a quantizer where the policy keeps full precision or none where it quantizes.
//
// The PTQ runs on a copy of the full-precision model (the caller's), on Block-AP's own training
// windows as calibration, before Block-AP starts; Block-AP's targets still come from the FP model.
import QATModel
import QATQuant
import QATTensor

public struct PTQStart {
    /// One block's start: the quantized linears (by name in DecoderBlock.linears order), the
    /// norm gains and the biases as the PTQ left them.
    public struct Block {
        public var linears: [String: QuantizedWeight] = [:]
        public var attnNorm: [Float] = [], ffnNorm: [Float] = []
        public var biases: [String: [Float]] = [:]
    }

    /// "gptq", "awq", "checkpoint DIR", ...: for messages and the options' fingerprint.
    public let name: String
    public private(set) var blocks: [Block]

    /// Reads the start from `quantized`, a PTQ-quantized copy of `fp` (or a checkpoint of it):
    /// every linear `policy` quantizes must carry a hard quantizer of the policy's spec with
    /// integer zero points and contiguous groups, every other linear none.
    public init(quantized: LlamaModel, fp: LlamaModel, policy: QuantPolicy, name: String) throws {
        self.name = name
        _ = try policy.plan(for: fp)   // an override naming nothing is an error here too
        guard quantized.blocks.count == fp.blocks.count else {
            throw TrainingError("init=\(name) has \(quantized.blocks.count) blocks, the model \(fp.blocks.count); start from a quantization of this model")
        }
        blocks = []
        for (i, (qb, fb)) in zip(quantized.blocks, fp.blocks).enumerated() {
            var b = Block()
            for (short, (ql, fl)) in zip(QuantPolicy.linearNames, zip(qb.linears, fb.linears)) {
                let full = "blocks.\(i).\(short)"
                guard ql.weight.shape == fl.weight.shape else {
                    throw TrainingError("init=\(name): \(full) is \(ql.weight.shape), the model's \(fl.weight.shape); start from a quantization of this model")
                }
                if let bias = ql.bias { b.biases[short] = bias.value.toArray() }
                let want = policy.precision(block: i, linear: short)
                b.linears[short] = try Self.startingWeight(ql, want: want, full: full, name: name)
            }
            for (gain, fpGain) in [(qb.attnNorm, fb.attnNorm), (qb.ffnNorm, fb.ffnNorm)] where gain.shape != fpGain.shape {
                throw TrainingError("init=\(name): block \(i)'s norm gain is \(gain.shape), the model's \(fpGain.shape); start from a quantization of this model")
            }
            b.attnNorm = qb.attnNorm.value.toArray(); b.ffnNorm = qb.ffnNorm.value.toArray()
            blocks.append(b)
        }
    }

    /// The linear's PTQ solution when `want` quantizes it (nil when it stays full precision),
    /// checked to be one a fake quantizer of `want` can start from.
    static func startingWeight(_ l: Linear, want: LinearPrecision, full: String, name: String) throws -> QuantizedWeight? {
        guard case .quantized(let spec) = want else {
            guard l.quantizer == nil else {
                throw TrainingError("init=\(name) quantizes \(full), which this run keeps at full precision; give the policy the start was made with (policy=)")
            }
            return nil
        }
        guard let hq = l.quantizer as? HardQuantizer else {
            throw TrainingError("init=\(name) leaves \(full) \(l.quantizer == nil ? "at full precision" : "with a \(l.quantizer?.summary ?? "") quantizer"); this run quantizes it to \(spec): give the policy the start was made with (policy=)")
        }
        guard hq.spec == spec else {
            throw TrainingError("init=\(name) quantizes \(full) to \(hq.spec), this run to \(spec); give bits=\(hq.spec.bits) group=\(hq.spec.groupSize) (or the policy= the start was made with)")
        }
        guard hq.grid.zeroIsIntegral else {
            throw TrainingError("init=\(name): \(full) has fractional zero points (\(hq.grid), E2E-QP trained with z); Block-AP's fake quantizer rounds them: start from the model before that E2E-QP")
        }
        let qw = try hq.quantized
        if let gi = qw.groupIndex {
            let g = spec.effectiveGroupSize(inFeatures: qw.cols)
            guard gi.indices.allSatisfy({ Int(gi[$0]) == $0 / g }) else {
                throw TrainingError("init=\(name): \(full) has act-order groups (a column -> group map); Block-AP's groups are contiguous: quantize with act_order=0")
            }
        }
        return try QuantizedWeight(spec: qw.spec, rows: qw.rows, cols: qw.cols, codes: qw.codes, scales: qw.scales, zeros: qw.zeros)
    }

    /// Installs block `i`'s start into `block`: W := the PTQ's dequantized weight, a fake
    /// quantizer with its s and z on every quantized linear (none on the others), its norm gains
    /// and biases. W trains as it did; the caller sets what trains.
    public func install(block i: Int, into block: DecoderBlock) throws {
        guard blocks.indices.contains(i) else { throw TrainingError("init=\(name) has no block \(i)") }
        let b = blocks[i]
        for (short, l) in zip(QuantPolicy.linearNames, block.linears) {
            if let bias = b.biases[short], let own = l.bias, own.value.count == bias.count {
                own.value.data.update(from: bias, count: bias.count)
            }
            guard let qw = b.linears[short] else { l.quantizer = nil; continue }
            let w = qw.dequantized()
            l.weight.value.data.update(from: w.data, count: w.count)
            let g = qw.groupCount
            l.quantizer = try FakeQuantizer(spec: qw.spec, cols: qw.cols, scales: try Tensor(shape: [qw.rows, g], qw.scales),
                                            zeros: try Tensor(shape: [qw.rows, g], qw.zeros), name: "blocks.\(i).\(short)")
        }
        block.attnNorm.value.data.update(from: b.attnNorm, count: b.attnNorm.count)
        block.ffnNorm.value.data.update(from: b.ffnNorm, count: b.ffnNorm.count)
    }

    /// Runs PTQ `method` on `copy` (a full-precision copy of `fp`, changed in place) with the
    /// calibration windows and reads its solution.
    public static func run(_ method: QuantMethod, options: [String: Int], copy: LlamaModel, fp: LlamaModel, policy: QuantPolicy,
                           calibration: CalibrationSet?, log: (String) -> Void) throws -> PTQStart {
        try method.apply(model: copy, policy: policy, calibration: method.needsCalibration ? calibration : nil, options: options, log: log)
        return try PTQStart(quantized: copy, fp: fp, policy: policy, name: method.name)
    }
}
