// E2E-QP: end-to-end training of the step sizes of a hard-quantized model (EfficientQAT section 4; docs/efficientqat.md 4).
//
// Every quantized linear keeps its integer codes and zero points frozen; only the scales s
// (option: the zero points too) train (QATQuant/StepSizeTrainable.swift: on a linear in a
// llama.cpp format the fp16 d, and the m / dmin as the "zero points", of its blocks; the integer
// codes and sub-block scales stay, so the model stays in its format), with next-token cross-entropy on calibration windows
// (or, with loss=kd / ce+kd, distillation from the full-precision teacher; Distillation.swift).
// The weight is W = (q - z) * s, so the only gradient is dW/ds = q - z. Embedding, norms and
// LM head stay frozen. AdamW (weight decay 0), linear warm-up over 3% of the steps then cosine to
// 0 (the HF Trainer schedule), gradient clipping 0.3, gradient accumulation to an effective batch.
//
// Checkpoint (DIR/e2eqp/, atomically every `checkpointEvery` steps and at the end):
//   state.safetensors   <linear>.scales / <linear>.zeros (F32) of every quantized linear, the
//                       AdamW moments <param>.m / <param>.v, history.loss / history.lr /
//                       history.grad_norm (F32, steps so far); metadata: step, fingerprint,
//                       initial_val_loss (the fingerprint holds the loss, kd_temp, kd_weight and the
//                       teacher, so a resume with other settings is refused)
// Resume loads it and continues at the saved step; the batches of a step depend only on the step
// index, so the result equals an uninterrupted run bit for bit.
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor

public struct E2EQPOptions: Sendable, TrainLoopConfigurable {
    /// nil = the spec's default for the bit width (2-bit 2e-5, else 1e-5).
    public var lr: Float?
    public var epochs = 1
    public var trainZeros = false
    /// false: the scales stay frozen (EfficientQAT Table 6 trains z alone as one of its rows).
    public var trainScales = true
    /// batch 1 x accumulation 4, warm-up 3% then cosine to 0, clip 0.3, seed 42, a checkpoint every 16 steps.
    public var loop = TrainLoopOptions()
    /// ce (default), kd or ce+kd; with kd the run needs a teacher (Distillation.swift).
    public var objective = TrainingObjective()
    public init() {
        loop.accumulation = 4; loop.warmupRatio = 0.03; loop.schedule = .warmupCosine; loop.clipGrad = 0.3
    }

    public var fingerprint: String {
        "lr\(lr.map { "\($0)" } ?? "default") ep\(epochs) bs\(loop.batchSize) acc\(loop.accumulation) warm\(loop.warmupRatio) clip\(loop.clipGrad) z\(trainZeros)\(trainScales ? "" : " s0") seed\(loop.seed)\(objective.fingerprint)"
    }
}

public struct E2EQPReport: Sendable {
    public var initialValidationLoss = 0.0, finalValidationLoss = 0.0
    public var stepLosses: [Float] = [], learningRates: [Float] = [], gradNorms: [Float] = []
    public var steps = 0, trainTokens = 0, seconds = 0.0
    /// Peak resident memory of the process at the end of the run, MB (10^6 bytes).
    public var peakRSSMB = 0.0
    public var tokensPerSecond: Double { Double(trainTokens) / max(seconds, 1e-9) }
}

public enum E2EQP {
    /// The quantized linears of a model whose step sizes can train, with their quantizers.
    static func quantized(_ model: LlamaModel) -> [(String, any StepSizeTrainable)] {
        model.blocks.enumerated().flatMap { i, b in
            b.linears.compactMap { l in (l.quantizer as? any StepSizeTrainable).map { ("blocks.\(i).\(l.name)", $0) } }
        }
    }

    /// Mean next-token cross-entropy over windows (no gradients).
    public static func validationLoss(model: LlamaModel, windows: [[Int32]]) throws -> Double {
        guard !windows.isEmpty else { return 0 }
        var total = 0.0
        for w in windows { total += try model.windowNLL(w) / Double(w.count - 1) }
        return total / Double(windows.count)
    }

    public static func run(model: LlamaModel, data: TrainingWindows, options o: E2EQPOptions, teacher: LlamaModel? = nil,
                           log: (String) -> Void) throws -> E2EQPReport {
        let q = quantized(model)
        try o.objective.validate(teacher: teacher, student: model, run: "e2eqp")
        guard !q.isEmpty else { throw TrainingError("e2eqp: the model has no hard-quantized linears; quantize it first (rtn, gptq, awq, blockap or a format=)") }
        if o.checkpointDir != nil, let (name, _) = q.first(where: { $0.1 is GGMLQuantizer }) {
            throw TrainingError("e2eqp: \(name) is in a llama.cpp format, and a format-quantized model is not a QATLab checkpoint; drop out= (and resume=) and store the result with export format=gguf")
        }
        model.freezeAll()
        var params: [(String, Var)] = []
        for (name, quantizer) in q {
            for (what, v) in try quantizer.beginStepSizeTraining(scales: o.trainScales, offsets: o.trainZeros) { params.append((name + "." + what, v)) }
        }
        guard !params.isEmpty else { throw TrainingError("e2eqp: nothing to train; train the scales, the zero points or both (a format without m or dmin, such as q4_0 or q3_k, has no zero points)") }
        let bits = q.map { $0.1.codeBits }.min() ?? 4
        let lr = o.lr ?? (bits <= 2 ? 2e-5 : 1e-5)
        let opt = AdamW(groups: [ParameterGroup(name: "scales", parameters: params.map(\.1), lr: lr)])
        let perStep = o.batchSize * o.accumulation
        let total = o.epochs * (try o.loop.stepsPerEpoch(windows: data.train.count, run: "e2eqp"))
        let lastStep = o.loop.lastStep(planned: total)
        var report = E2EQPReport()
        var step = 0
        var savedInitial: Double?
        if o.resume, let dir = o.checkpointDir {
            (step, savedInitial) = try E2EQPCheckpoint.restore(dir: dir, params: params, optimizer: opt, fingerprint: o.fingerprint, report: &report)
        }
        if step > 0 { log("e2eqp: resumed at step \(step)") }
        // after a resume the model is already trained: the starting loss is the one the state recorded
        report.initialValidationLoss = try savedInitial ?? validationLoss(model: model, windows: data.validation)
        log("e2eqp: \(params.count) tensors trained, lr \(lr), \(total) steps of \(perStep) windows x \(data.seqlen) tokens, val loss \(fmtE(report.initialValidationLoss))")
        var order = EpochOrder(windows: data.train.count, seed: o.seed)
        let done = try TrainLoop.run(o.loop, optimizer: opt, steps: step..<lastStep, progress: "e2e-qp", place: { "e2eqp step \($0)" },
                                     learningRates: { [o.loop.learningRate(base: lr, step: $0, planned: total)] },
                                     loss: { step in
            try accumulatedCrossEntropyStep(model: model, data: data, order: &order, step: step, batch: o.batchSize, accumulation: o.accumulation,
                                           objective: o.objective, teacher: teacher) {
                "e2eqp step \(step): the loss is \($0); stopping with the last good state (checkpoint at the last save)"
            }
        }, after: { done, loss, norm, _ in
            report.stepLosses.append(loss); report.learningRates.append(opt.groups[0].lr); report.gradNorms.append(norm)
            report.trainTokens += perStep * (data.seqlen - 1)
            if done % 8 == 0 || done == lastStep { log("e2eqp step \(done)/\(total) loss \(fmtE(Double(loss))) lr \(fmtE(Double(opt.groups[0].lr)))") }
        }, checkpoint: { dir, done in
            try E2EQPCheckpoint.save(dir: dir, step: done, params: params, optimizer: opt, fingerprint: o.fingerprint, report: report)
        })
        report.seconds = done.seconds
        report.steps = done.steps
        for (_, quantizer) in q { try quantizer.finishStepSizeTraining() }
        report.finalValidationLoss = try validationLoss(model: model, windows: data.validation)
        report.peakRSSMB = ResidentMemory.peakMB
        log("e2eqp: val loss \(fmtE(report.initialValidationLoss)) -> \(fmtE(report.finalValidationLoss)), \(Int(report.seconds)) s")
        if let dir = o.checkpointDir { try TrainingLog.writeE2EQP(report, dir: dir) }
        return report
    }
}

extension E2EQP {
    /// The values E2E-QP trains (every quantized linear's scales, and zero points with `zeros`).
    public static func trainedCount(_ model: LlamaModel, zeros: Bool) -> Int {
        quantized(model).reduce(0) { $0 + $1.1.trainedValueCount(offsets: zeros) }
    }
}

enum E2EQPCheckpoint {
    static func save(dir: String, step: Int, params: [(String, Var)], optimizer: AdamW, fingerprint: String, report r: E2EQPReport) throws {
        try FileManager.default.createDirectory(atPath: dir + "/e2eqp", withIntermediateDirectories: true)
        var w = SafetensorsWriter()
        try TrainingState.add(params, optimizer: optimizer, to: &w, perTensorSteps: false)
        // the history and the starting loss, so a resumed run's log and summary equal an uninterrupted one's
        try TrainingState.addHistory(loss: r.stepLosses, lr: r.learningRates, gradNorm: r.gradNorms, to: &w)
        w.metadata = ["step": "\(step)", "fingerprint": fingerprint, "initial_val_loss": "\(r.initialValidationLoss)"]
        try w.write(to: dir + "/e2eqp/state.safetensors")
    }

    /// The step to continue at (0 without a state) and the initial validation loss it recorded.
    static func restore(dir: String, params: [(String, Var)], optimizer: AdamW, fingerprint: String, report r: inout E2EQPReport) throws -> (Int, Double?) {
        guard let (f, step) = try TrainingState.open(dir + "/e2eqp/state.safetensors", fingerprint: fingerprint) else { return (0, nil) }
        try TrainingState.restore(params, from: f, optimizer: optimizer, owner: "model", momentStep: { _ in step })
        if let h = try TrainingState.history(f) { (r.stepLosses, r.learningRates, r.gradNorms) = h }
        return (step, f.metadata["initial_val_loss"].flatMap(Double.init))
    }
}
