// Full-model QAT: W, s and z of every quantized linear trained end to end with next-token
// cross-entropy (or distillation from the full-precision teacher: Distillation.swift), for a wall-time budget. This is the reviewers' question to EfficientQAT ("is
// block-wise training needed?"): the same trainables and learning rates as Block-AP, but one
// backward through the whole model per step instead of a per-block MSE, stopped after the same
// wall time Block-AP took.
//
// Steps: install min/max fake quantizers on every linear the policy quantizes (as Block-AP does
// per block; or, given a PTQStart, the PTQ solution's s, z with W its dequantized weight:
// PTQInit.swift), then AdamW with Block-AP's two groups (W and the norm gains at the weight lr, s and z
// at the quant lr), linear warm-up then constant (a time budget has no known end for a cosine),
// gradient accumulation, clipping; stop at the first of `seconds`, `maxSteps` or `epochs` passes.
// Finally every linear is hardened to integer codes exactly as Block-AP finalizes a block, so the
// result is a hard-quantized model that E2E-QP, export and eval accept.
//
// Memory: the whole model's weights, their gradients and two AdamW moments (4x the weights, about
// 2.2 GB for SmolLM2-135M) plus one full forward's activations; no checkpoints are written.
import QATAutograd
import QATModel
import QATQuant
import QATTensor

public struct FullQATOptions: Sendable, TrainLoopConfigurable {
    public var policy: QuantPolicy
    /// nil = Block-AP's default for the bit width (2-bit 2e-5, else 1e-5).
    public var weightLR: Float?
    public var quantLR: Float = 1e-4
    public var trainWeights = true, trainScales = true, trainZeros = true, trainNorms = true
    public var epochs = 1
    /// batch 1 x accumulation 4, warm-up 3% then constant, clip 0.3, seed 42; `seconds` and
    /// `maxSteps` stop the run early; no checkpoints.
    public var loop = TrainLoopOptions()
    /// ce (default), kd or ce+kd; with kd the run needs a teacher (Distillation.swift).
    public var objective = TrainingObjective()
    public init(policy: QuantPolicy) {
        self.policy = policy
        loop.accumulation = 4; loop.warmupRatio = 0.03; loop.schedule = .warmupConstantByFactor; loop.clipGrad = 0.3
    }
}

public struct FullQATReport: Sendable {
    public var initialValidationLoss = 0.0, finalValidationLoss = 0.0
    public var stepLosses: [Float] = []
    public var steps = 0, plannedSteps = 0, trainTokens = 0, seconds = 0.0
    /// Why training stopped: "time", "max_steps" or "epochs".
    public var stoppedBy = "epochs"
}

public enum FullQAT {
    public static func run(model: LlamaModel, data: TrainingWindows, options o: FullQATOptions, teacher: LlamaModel? = nil,
                           start: PTQStart? = nil, log: (String) -> Void) throws -> FullQATReport {
        try o.objective.validate(teacher: teacher, student: model, run: "fullqat")
        model.freezeAll()
        if let start {
            for (i, b) in model.blocks.enumerated() { try start.install(block: i, into: b) }
        } else {
            try o.policy.apply(to: model, mode: .fake, init: .minMax)
        }
        var weights: [Var] = [], quant: [Var] = []
        var bits = 8
        for b in model.blocks {
            for l in b.linears {
                guard let fq = l.quantizer as? FakeQuantizer else { continue }
                bits = min(bits, fq.spec.bits)
                l.weight.requiresGrad = o.trainWeights; fq.scales.requiresGrad = o.trainScales; fq.zeros.requiresGrad = o.trainZeros
                if o.trainWeights { weights.append(l.weight) }
                if o.trainScales { quant.append(fq.scales) }
                if o.trainZeros { quant.append(fq.zeros) }
            }
            for norm in [b.attnNorm, b.ffnNorm] { norm.requiresGrad = o.trainNorms; if o.trainNorms { weights.append(norm) } }
        }
        guard !weights.isEmpty || !quant.isEmpty else { throw TrainingError("fullqat: nothing to train (the policy quantizes no linear and norms are off)") }
        let wlr = o.weightLR ?? (bits <= 2 ? 2e-5 : 1e-5)
        let opt = AdamW(groups: [ParameterGroup(name: "weights", parameters: weights, lr: wlr),
                                 ParameterGroup(name: "quant", parameters: quant, lr: o.quantLR)])
        let perStep = o.batchSize * o.accumulation
        let stepsPerEpoch = try o.loop.stepsPerEpoch(windows: data.train.count, run: "fullqat")
        var report = FullQATReport()
        report.plannedSteps = min(o.epochs * stepsPerEpoch, o.maxSteps ?? Int.max)
        report.initialValidationLoss = try E2EQP.validationLoss(model: model, windows: data.validation)
        log("fullqat: \(weights.count + quant.count) tensors trained, lr W \(wlr) s,z \(o.quantLR), at most \(report.plannedSteps) steps of \(perStep) windows x \(data.seqlen) tokens"
            + (o.seconds.map { " or \(Int($0)) s" } ?? "") + ", val loss \(fmtE(report.initialValidationLoss))")
        var order = EpochOrder(windows: data.train.count, seed: o.seed)
        let planned = report.plannedSteps
        // warm-up, then constant: the run may stop at any step of the time budget
        let done = try TrainLoop.run(o.loop, optimizer: opt, steps: 0..<planned, progress: "fullqat", place: { "fullqat step \($0)" },
                                     learningRates: { step in [wlr, o.quantLR].map { o.loop.learningRate(base: $0, step: step, planned: planned) } },
                                     loss: { step in
            try accumulatedCrossEntropyStep(model: model, data: data, order: &order, step: step, batch: o.batchSize, accumulation: o.accumulation,
                                           objective: o.objective, teacher: teacher) {
                "fullqat step \(step): the loss is \($0); lower the learning rates"
            }
        }, after: { done, loss, _, elapsed in
            report.stepLosses.append(loss)
            report.trainTokens += perStep * (data.seqlen - 1)
            if done % 8 == 0 { log("fullqat step \(done)/\(planned) loss \(fmtE(Double(loss))) \(Int(elapsed)) s") }
        })
        report.steps = done.steps
        report.seconds = done.seconds
        if done.stoppedByTime { report.stoppedBy = "time" } else if let m = o.maxSteps, done.steps >= m, m < o.epochs * stepsPerEpoch { report.stoppedBy = "max_steps" }
        // finalize as Block-AP does: integer codes from the trained W, s, z; everything frozen
        for (i, b) in model.blocks.enumerated() {
            for l in b.linears {
                guard let fq = l.quantizer as? FakeQuantizer else { continue }
                l.quantizer = try HardQuantizer(try fq.harden(weight: l.weight.value), name: "blocks.\(i).\(l.name)", trainScales: false, trainZeros: false)
            }
        }
        model.freezeAll()
        report.finalValidationLoss = try E2EQP.validationLoss(model: model, windows: data.validation)
        log("fullqat: \(report.steps) steps in \(Int(report.seconds)) s (stopped by \(report.stoppedBy)), val loss \(fmtE(report.initialValidationLoss)) -> \(fmtE(report.finalValidationLoss))")
        return report
    }
}
