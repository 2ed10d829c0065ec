// LLM-QFA training (docs/qfa_baselines.md A.2-A.4): one supernet, one sampled configuration per step.
//
// Each optimizer step draws a configuration from the sampler (QFASampler.swift), dequantizes the
// chosen bases, installs the chosen adapters and runs next-token cross-entropy on calibration
// windows (gradient accumulation over `accumulation` micro-batches). Only the adapters of the
// sampled widths are in the graph, so only they get gradients; AdamW skips a parameter without a
// gradient, moments included, so an adapter not sampled in a step is bit-identical afterwards.
// AdamW (weight decay 0), constant learning rate after a linear warm-up over 3% of the steps
// (QA-LoRA's schedule), global gradient clipping 0.3. A single-width choice set is a dedicated
// QA-LoRA run.
//
// Checkpoint (DIR/qfa/, DIR = OUT.work):
//   bases.safetensors   the frozen bases and options (layout in QFASupernet.swift), once, so a
//                       resume skips GPTQ
//   state.safetensors   every adapter's lora_A/lora_B, AdamW moments <name>.m / <name>.v of the
//                       adapters updated so far, and the history: history.loss, history.lr,
//                       history.grad_norm, history.mean_width, history.target (steps), history.configs
//                       (steps, units); metadata: step, fingerprint, <name>.step (AdamW step count
//                       of each adapter tensor: adapters are updated in different numbers of steps)
// The configuration and batches of a step depend only on the step index and the seeds, so a
// resumed run equals an uninterrupted one bit for bit.
//
// Log (DIR/train_log.h5, group /qfa): loss, lr, grad_norm, mean_width, target_width float32 (steps),
// config float32 (steps, units); attributes widths (string), sampler (string), period, steps (int),
// seconds, peak_rss_mb (double).
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor

public struct QFATrainOptions: Sendable, TrainLoopConfigurable {
    public var lr: Float = 2e-4
    /// Optimizer steps of the schedule (loop.maxSteps stops earlier, keeping this schedule).
    public var steps = 200
    public var sampler = QFASamplerKind.balanced
    /// Triangle period in steps; nil = 80% of the steps (the paper: SL 8K of 10K).
    public var period: Int?
    public var startHigh = true
    public var tau = 0.6
    /// batch 1 x accumulation 4, warm-up 3% then constant, clip 0.3, seed 42, a checkpoint every 16 steps.
    public var loop = TrainLoopOptions()
    public init() {
        loop.accumulation = 4; loop.warmupRatio = 0.03; loop.schedule = .warmupConstant; loop.clipGrad = 0.3
    }

    public var effectivePeriod: Int { max(2, period ?? (steps * 4 / 5)) }

    public var fingerprint: String {
        "lr\(lr) steps\(steps) bs\(loop.batchSize) acc\(loop.accumulation) warm\(loop.warmupRatio) clip\(loop.clipGrad) \(sampler.rawValue) SL\(effectivePeriod) high\(startHigh) tau\(tau) seed\(loop.seed)"
    }
}

public struct QFATrainReport: Sendable {
    public var losses: [Float] = [], learningRates: [Float] = [], gradNorms: [Float] = []
    public var meanWidths: [Float] = [], targets: [Float] = []
    public var configurations: [[Int]] = []
    /// Validation loss with every unit at one width, before and after training, by width.
    public var initialValidation: [Int: Double] = [:], finalValidation: [Int: Double] = [:]
    public var steps = 0, trainTokens = 0, seconds = 0.0
    /// Peak resident memory of the process at the end of the run, MB (10^6 bytes).
    public var peakRSSMB = 0.0
    public var tokensPerSecond: Double { Double(trainTokens) / max(seconds, 1e-9) }
}

public enum QFATrain {
    public static func sampler(for net: QFASupernet, _ o: QFATrainOptions) throws -> QFASampler {
        try QFASampler(widths: net.options.widths, units: net.unitCount, kind: o.sampler, period: o.effectivePeriod,
                       startHigh: o.startHigh, tau: o.tau, seed: o.seed)
    }

    /// Validation loss with every unit at width b.
    public static func uniformValidation(_ net: QFASupernet, windows: [[Int32]]) throws -> [Int: Double] {
        var out: [Int: Double] = [:]
        let saved = net.configuration
        for b in net.options.widths {
            try net.apply(Array(repeating: b, count: net.unitCount))
            out[b] = try E2EQP.validationLoss(model: net.model, windows: windows)
        }
        try net.apply(saved)
        return out
    }

    public static func run(_ net: QFASupernet, data: TrainingWindows, options o: QFATrainOptions, log: (String) -> Void) throws -> QFATrainReport {
        let sampler = try sampler(for: net, o)
        let params = net.parameters
        for (_, p) in params { p.requiresGrad = true }
        defer { for (_, p) in params { p.requiresGrad = false } }
        let opt = AdamW(groups: [ParameterGroup(name: "adapters", parameters: params.map(\.1), lr: o.lr)])
        let perStep = o.batchSize * o.accumulation
        _ = try o.loop.stepsPerEpoch(windows: data.train.count, run: "qfa", advice: "; use more samples=")
        let lastStep = o.loop.lastStep(planned: o.steps)
        var report = QFATrainReport()
        var step = 0
        if o.resume, let dir = o.checkpointDir {
            step = try QFACheckpoint.restore(dir: dir, params: params, optimizer: opt, fingerprint: o.fingerprint, report: &report)
            if step > 0 { log("qfa: resumed at step \(step)") }
        }
        report.initialValidation = try uniformValidation(net, windows: data.validation)
        log("qfa: \(params.count) adapter tensors, \(net.unitCount) units, widths \(net.options.widths), \(o.sampler.rawValue) sampling, period \(o.effectivePeriod), lr \(o.lr), \(o.steps) steps of \(perStep) windows x \(data.seqlen) tokens")
        log("qfa: memory \(net.memoryReport)")
        log("qfa: val loss per width before: " + describe(report.initialValidation))
        var order = EpochOrder(windows: data.train.count, seed: o.seed)
        var config: [Int] = []
        let done = try TrainLoop.run(o.loop, optimizer: opt, steps: step..<lastStep, progress: "qfa", place: { "qfa step \($0)" },
                                     learningRates: { [o.loop.learningRate(base: o.lr, step: $0, planned: o.steps)] },
                                     loss: { step in
            config = sampler.configuration(step: step)
            try net.apply(config)
            return try accumulatedCrossEntropyStep(model: net.model, data: data, order: &order, step: step, batch: o.batchSize, accumulation: o.accumulation) {
                "qfa step \(step): the loss is \($0) at configuration \(config); stopping with the last good state (checkpoint at the last save); lower lr="
            }
        }, after: { done, loss, norm, _ in
            report.losses.append(loss); report.learningRates.append(opt.groups[0].lr); report.gradNorms.append(norm)
            report.meanWidths.append(Float(meanWidth(config))); report.targets.append(Float(sampler.targetMean(step: done - 1)))
            report.configurations.append(config)
            report.trainTokens += perStep * (data.seqlen - 1)
            if done % 8 == 0 || done == lastStep {
                log("qfa step \(done)/\(o.steps) loss \(fmtE(Double(loss))) mean width \(fmt2(meanWidth(config))) (target \(fmt2(sampler.targetMean(step: done - 1)))) lr \(fmtE(Double(opt.groups[0].lr)))")
            }
        }, checkpoint: { dir, done in
            try QFACheckpoint.save(dir: dir, step: done, params: params, optimizer: opt, fingerprint: o.fingerprint, report: report)
        })
        report.seconds = done.seconds
        report.steps = done.steps
        report.finalValidation = try uniformValidation(net, windows: data.validation)
        report.peakRSSMB = ResidentMemory.peakMB
        log("qfa: val loss per width after: " + describe(report.finalValidation) + ", \(Int(report.seconds)) s")
        if let dir = o.checkpointDir { try QFACheckpoint.writeLog(report, sampler: sampler, dir: dir) }
        return report
    }

    static func describe(_ v: [Int: Double]) -> String {
        v.keys.sorted().map { "w\($0) \(fmtE(v[$0] ?? 0))" }.joined(separator: ", ")
    }
}

func fmt2(_ x: Double) -> String { String(format: "%.2f", x) }

/// Frozen bases for every width from a full-precision model (GPTQ or RTN), or from quantized
/// checkpoints (one per width).
public enum QFABases {
    /// Quantizes `model`'s block linears at each width; the model keeps its FP weights.
    public static func build(model: LlamaModel, options o: QFAOptions, calibration: CalibrationSet?,
                             log: (String) -> Void) throws -> [String: [Int: QuantizedWeight]] {
        var out: [String: [Int: QuantizedWeight]] = [:]
        for w in o.widths {
            let spec = try QuantSpec(bits: w, groupSize: o.group)
            let clock = ContinuousClock(), start = clock.now
            switch o.base {
            case .gptq:
                guard let calibration else { throw TrainingError("qfa: base=gptq needs calibration windows") }
                try quantizeGPTQ(model: model, calibration: calibration, policy: QuantPolicy(spec))
            case .rtn, .rtn0:
                for b in model.blocks { for l in b.linears {
                    l.quantizer = try HardQuantizer(try roundToNearest(weight: l.weight.value, spec: spec, range: o.base == .rtn ? .minMax : .includeZero))
                } }
            case .checkpoint:
                throw TrainingError("qfa: base=checkpoint takes its bases from checkpoint directories (use fromCheckpoints)")
            }
            for (bi, b) in model.blocks.enumerated() {
                for l in b.linears {
                    guard let hq = l.quantizer as? HardQuantizer else { throw TrainingError("qfa: \(o.base.rawValue) left blocks.\(bi).\(l.name) unquantized") }
                    out["blocks.\(bi).\(l.name)", default: [:]][w] = try hq.quantized
                    l.quantizer = nil
                }
            }
            log("qfa: \(o.base.rawValue) base \(spec) in \(fmt2((clock.now - start).inSeconds)) s")
        }
        return out
    }

    /// Bases from one quantized checkpoint per width (GPTQ, RTN, Block-AP, ...), read in the same
    /// row layout as the first one's model, which the supernet then runs on.
    public static func fromCheckpoints(_ dirs: [String], group: Int) throws -> (LlamaModel, [String: [Int: QuantizedWeight]]) {
        var out: [String: [Int: QuantizedWeight]] = [:]
        var first: LlamaModel?
        for dir in dirs {
            let m = try QuantCheckpoint.read(dir).model
            first = first ?? m
            var width: Int?
            for (bi, b) in m.blocks.enumerated() {
                for l in b.linears {
                    guard let hq = l.quantizer as? HardQuantizer else { throw TrainingError("qfa: \(dir): blocks.\(bi).\(l.name) is not quantized; every block linear needs codes") }
                    let qw = try hq.quantized
                    guard qw.spec.groupSize == group, qw.groupIndex == nil, width == nil || width == qw.spec.bits else {
                        throw TrainingError("qfa: \(dir): blocks.\(bi).\(l.name) is \(qw.spec)\(qw.groupIndex == nil ? "" : " (act-order)"); a base checkpoint needs one width throughout and group=\(group) with contiguous groups")
                    }
                    width = qw.spec.bits
                    out["blocks.\(bi).\(l.name)", default: [:]][qw.spec.bits] = qw
                }
            }
        }
        guard let first else { throw TrainingError("qfa: base=checkpoint needs one checkpoint directory per width (bases=[DIR2 DIR3 DIR4])") }
        return (first, out)
    }

}
