// Block-AP: block-wise training of weights, step sizes and zero points (EfficientQAT section 3,
// docs/efficientqat.md 3), scaled to a CPU.
//
// Data flow, exactly as the reference:
//   fp chain:  fp = embed(windows); for block i: fp = FPblock_i(fp)        (targets; never sees quant error)
//   q chain:   q  = embed(windows); for block i: train qblock_i(q) ~ fp;  q = qblock_i(q) after finalizing
// For block i: install fake quantizers initialised by min/max (the paper) or from a PTQ solution
// (init=, PTQInit.swift), targets = FP block i on the fp chain,
// inputs = the q chain (outputs of the already-quantized blocks), loss = MSE, AdamW with two
// groups (weights + norm gains at the weight lr, s and z at the quant lr), cosine to lr/20 with
// no warm-up, validation MSE after each epoch, then finalize to integer codes (HardQuantizer)
// and advance both chains.
// Never worse than the start (keep=best, the default): after training block i, its MSE to the FP
// block on the selection windows (the validation windows, or the training windows when val=0)
// at the start (min/max RTN or the PTQ init, measured before the first step) is compared with the
// trained one; the block keeps the trained state only when it is strictly lower, else it goes
// back to its start (W, s, z and norm gains as installed) before hardening. keep=trained is the
// paper's (always the trained state). Each decision is logged
// `block 7: start mse=... trained mse=... kept=trained|start (validation windows)`.
//
// Checkpoint layout (DIR/blockap/, written atomically after every block):
//   progress.json        {"completed": K, "fingerprint": "...", "val_mse": [[...]...], "rtn_val_mse": [...]}
//   block_NNN.safetensors  per linear <name>.codes U8 (out, in), <name>.scales F32 (out, groups),
//                        <name>.zeros F32 (out, groups); attn_norm, ffn_norm F32 (C); the block's
//                        <name>.bias F32 (out) for linears with a bias (AWQ may rescale it); the block's
//                        history.loss, history.lr, history.grad_norm F32 (steps) and metadata
//                        "seconds", "rtn_val_mse", "val_mse", "start_mse", "trained_mse" (exact
//                        decimal text), "kept" (trained|start), "selection" (validation|training),
//                        so the train log, decisions and summary of a resumed run equal an
//                        uninterrupted one's
// Resume reloads the finished blocks and recomputes both chains through them (forward only, the
// same code on the same data, so the buffers are bit-identical), then trains the next block.
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor
#if canImport(Glibc)
import Glibc
#endif

public struct BlockAPOptions: Sendable, TrainLoopConfigurable {
    public var policy: QuantPolicy
    public var epochs = 2
    /// W and norm gains; nil = the spec's default for the bit width (2-bit 2e-5, else 1e-5).
    public var weightLR: Float?
    /// s and z.
    public var quantLR: Float = 1e-4
    public var trainWeights = true, trainScales = true, trainZeros = true, trainNorms = true
    public var weightDecay: Float = 0
    /// Hidden-state buffers in Float16.
    public var halfBuffers = false
    public var shuffle = false
    /// Windows per forward when advancing the chains.
    public var evalBatch = 4
    /// Train only these blocks (the rest stay full precision); nil = all.
    public var blocks: Range<Int>?
    /// Activations and gradients to dump (see BlockAPDump.swift).
    public var dump: DumpSelection?
    /// Where the quantizers start: "minmax" (the paper's) or the PTQStart's name given to `run`
    /// with its options ("gptq act_order=0", "checkpoint /abs/dir"); only recorded here, for the
    /// fingerprint, since the start itself is data.
    public var initName = "minmax"
    /// Keep the better of start and trained per block (false: always the trained state, the paper's).
    public var keepBest = true
    /// Train in this llama.cpp block format instead of the policy's grid (BlockAP+Format.swift).
    public var format: GGMLFormat?
    /// batch 2, cosine to lr/20 without warm-up, no clip (the reference parses clip 0.3 but never
    /// applies it), seed 2; the checkpoint (one per finished block, BlockAPCheckpoint.swift) and
    /// resume act per block, not per step.
    public var loop = TrainLoopOptions()

    public init(policy: QuantPolicy) {
        self.policy = policy
        loop.batchSize = 2; loop.schedule = .cosine; loop.seed = 2
    }

    public func weightLR(bits: Int) -> Float { weightLR ?? (bits <= 2 ? 2e-5 : 1e-5) }

    /// Everything that changes the numbers (resume refuses a checkpoint made with other options).
    public var fingerprint: String {
        "\(policy.spec.map { "\($0)" } ?? "fp") ep\(epochs) bs\(loop.batchSize) wlr\(weightLR.map { "\($0)" } ?? "default") qlr\(quantLR) "
            + "w\(trainWeights) s\(trainScales) z\(trainZeros) n\(trainNorms) clip\(loop.clipGrad) wd\(weightDecay) half\(halfBuffers) shuffle\(shuffle) seed\(loop.seed)"
            + (initName == "minmax" ? "" : " init=\(initName)") + (keepBest ? " keep=best" : "") + (format.map { " format\($0)" } ?? "")
    }
}

public struct BlockAPBlockReport: Sendable {
    public var block: Int
    public var rtnValidationMSE: Double
    public var validationMSE: [Double]        // after each epoch
    public var stepLosses: [Float], learningRates: [Float], gradNorms: [Float]
    public var seconds: Double
    public var resumed = false
    /// The keep decision: MSE to the FP block on the selection windows at the start and after
    /// training, and which state the block kept.
    public var decision = BlockAPDecision()
}

public struct BlockAPDecision: Sendable, Equatable {
    public enum Kept: String, Sendable { case trained, start }
    public var startMSE = 0.0, trainedMSE = 0.0
    public var kept = Kept.trained
    /// "validation" or "training": the windows the two MSEs are measured on.
    public var selection = "validation"
    /// The MSE of the state the block kept.
    public var keptMSE: Double { kept == .trained ? trainedMSE : startMSE }
    public var line: String {
        "start mse=\(fmtE(startMSE)) trained mse=\(fmtE(trainedMSE)) kept=\(kept.rawValue) (\(selection) windows)"
    }
}

public struct BlockAPReport: Sendable {
    public var blocks: [BlockAPBlockReport] = []
    public var trainTokens = 0
    public var trainSeconds = 0.0
    public var totalSeconds = 0.0
    /// Peak resident memory of the process at the end of the run, MB (10^6 bytes).
    public var peakRSSMB = 0.0
    public var tokensPerSecond: Double { Double(trainTokens) / max(trainSeconds, 1e-9) }
}

public enum BlockAP {
    /// Runs Block-AP on `model` in place: afterwards every trained block's linears carry
    /// HardQuantizers (integer codes, s, z) and its norm gains are the trained ones.
    /// `start`: the PTQ solution every block starts from (nil: min/max, the paper's).
    public static func run(model: LlamaModel, data: TrainingWindows, options o: BlockAPOptions, start ptq: PTQStart? = nil,
                           log: (String) -> Void) throws -> BlockAPReport {
        let clock = ContinuousClock(), start = clock.now
        var report = BlockAPReport()
        let t = data.seqlen, c = model.config.hiddenSize
        let rope = model.ropeTable(positions: t)
        let blocks = o.blocks ?? 0..<model.blocks.count
        guard blocks.lowerBound >= 0, blocks.upperBound <= model.blocks.count else {
            throw TrainingError("blocks \(blocks) outside the model's 0..<\(model.blocks.count)")
        }
        guard data.train.count >= o.batchSize else {
            throw TrainingError("\(data.train.count) training windows are fewer than one batch of \(o.batchSize)")
        }
        guard (ptq == nil) == (o.initName == "minmax") else {
            throw TrainingError("init=\(o.initName) but \(ptq.map { "a start from \($0.name)" } ?? "no start") was given")
        }
        try BlockAPFormat.check(o, model: model)
        if o.format != nil, ptq != nil {
            throw TrainingError("format= trains from llama.cpp's own RTN blocks; init= does not apply with it")
        }
        model.freezeAll()
        // the two chains, train and validation, starting at the embedding output
        func embedded(_ windows: [[Int32]]) throws -> HiddenStates {
            let h = HiddenStates(samples: windows.count, seq: t, width: c, half: o.halfBuffers)
            for s0 in stride(from: 0, to: windows.count, by: o.evalBatch) {
                let idx = Array(s0..<min(s0 + o.evalBatch, windows.count))
                let tokens = idx.flatMap { windows[$0] }
                h.store(try noGrad { try model.embed(tokens, batch: idx.count, seq: t).value }, at: idx)
            }
            return h
        }
        let fpTrain = try embedded(data.train), fpVal = try embedded(data.validation)
        let qTrain = fpTrain.copy(), qVal = fpVal.copy()
        log("block-ap: \(data.train.count) train + \(data.validation.count) validation windows of \(t) tokens, buffers \(4 * fpTrain.bytes / 1_048_576) MiB (\(o.halfBuffers ? "fp16" : "fp32"))")

        let dumper = try o.dump.map { try BlockAPDumper($0) }
        var done = 0, restoredRTN: [Double] = [], restoredVal: [[Double]] = []
        if o.resume, let dir = o.checkpointDir { (done, restoredRTN, restoredVal) = try BlockAPCheckpoint.completed(dir: dir, options: o) }
        for i in blocks {
            let block = model.blocks[i]
            // targets: the FP block on the FP chain
            try fpTrain.transform(batch: o.evalBatch) { x in try noGrad { try block.forward(Var(x), rope: rope).value } }
            try fpVal.transform(batch: o.evalBatch) { x in try noGrad { try block.forward(Var(x), rope: rope).value } }
            if i < blocks.lowerBound + done, let dir = o.checkpointDir {
                let k = i - blocks.lowerBound
                let h = try BlockAPCheckpoint.restoreBlock(i, model: model, dir: dir)
                // the block's step history comes back from its file, so the log of a resumed run is complete
                report.blocks.append(BlockAPBlockReport(block: i, rtnValidationMSE: h.rtnValidationMSE ?? (k < restoredRTN.count ? restoredRTN[k] : 0),
                                                        validationMSE: h.validationMSE ?? (k < restoredVal.count ? restoredVal[k] : []), stepLosses: h.loss,
                                                        learningRates: h.lr, gradNorms: h.gradNorm, seconds: h.seconds, resumed: true,
                                                        decision: h.decision ?? BlockAPDecision()))
                try qTrain.transform(batch: o.evalBatch) { x in try noGrad { try block.forward(Var(x), rope: rope).value } }
                try qVal.transform(batch: o.evalBatch) { x in try noGrad { try block.forward(Var(x), rope: rope).value } }
                log("block \(i): restored from the checkpoint")
                continue
            }
            let r = try trainBlock(i, model: model, rope: rope, qTrain: qTrain, fpTrain: fpTrain, qVal: qVal, fpVal: fpVal, options: o,
                                   start: ptq, dumper: dumper, log: log)
            report.blocks.append(r)
            report.trainTokens += o.epochs * (data.train.count - data.train.count % o.batchSize) * t
            report.trainSeconds += r.seconds
            // advance the quantized chain through the finalized block
            try qTrain.transform(batch: o.evalBatch) { x in try noGrad { try block.forward(Var(x), rope: rope).value } }
            try qVal.transform(batch: o.evalBatch) { x in try noGrad { try block.forward(Var(x), rope: rope).value } }
            if let dir = o.checkpointDir { try BlockAPCheckpoint.save(model: model, block: i, completed: i - blocks.lowerBound + 1, dir: dir, options: o, report: report) }
        }
        report.totalSeconds = (clock.now - start).inSeconds
        report.peakRSSMB = ResidentMemory.peakMB
        if let dir = o.checkpointDir { try TrainingLog.writeBlockAP(report, dir: dir) }
        try dumper?.close()
        return report
    }

    static func mse(_ block: DecoderBlock, _ input: HiddenStates, _ target: HiddenStates, rope: RopeTable, batch: Int) throws -> Double {
        var total = 0.0, n = 0
        for s0 in stride(from: 0, to: input.samples, by: batch) {
            let idx = Array(s0..<min(s0 + batch, input.samples))
            let y = try noGrad { try block.forward(Var(input.batch(idx)), rope: rope).value }
            let want = target.batch(idx)
            // keep `want` alive while the kernel reads its buffer (ARC may end it at its last use)
            total += withExtendedLifetime(want) { mseForward(y.data, want.data, count: y.count) } * Double(y.count)
            n += y.count
        }
        return n > 0 ? total / Double(n) : 0
    }

    static func trainBlock(_ i: Int, model: LlamaModel, rope: RopeTable, qTrain: HiddenStates, fpTrain: HiddenStates,
                           qVal: HiddenStates, fpVal: HiddenStates, options o: BlockAPOptions, start ptq: PTQStart?, dumper: BlockAPDumper?,
                           log: (String) -> Void) throws -> BlockAPBlockReport {
        let block = model.blocks[i]
        let clock = ContinuousClock(), start = clock.now
        let formatted = try o.format.map { try BlockAPFormat.install($0, model: model, index: i, options: o) }
        if formatted == nil {
            if let ptq {
                try ptq.install(block: i, into: block)
            } else {
                try o.policy.apply(to: block, index: i, blockCount: model.blocks.count, mode: .fake, init: .minMax)
            }
        }
        let initial = BlockState(block)
        // the keep decision's windows: held out when there are any
        let (selIn, selTarget, selection) = qVal.samples > 0 ? (qVal, fpVal, "validation") : (qTrain, fpTrain, "training")
        var weights: [Var] = formatted?.weights ?? [], quant: [Var] = formatted?.quant ?? []
        var bits = 4
        for l in block.linears {
            guard let fq = l.quantizer as? FakeQuantizer else { continue }
            bits = min(bits, fq.spec.bits)
            l.weight.requiresGrad = o.trainWeights
            fq.scales.requiresGrad = o.trainScales; fq.zeros.requiresGrad = o.trainZeros
            if o.trainWeights { weights.append(l.weight) }
            if o.trainScales { quant.append(fq.scales) }
            if o.trainZeros { quant.append(fq.zeros) }
        }
        // Qwen3's q/k norm gains stay frozen (freezeAll): the block checkpoint and BlockState keep these two only
        for norm in [block.attnNorm, block.ffnNorm] { norm.requiresGrad = o.trainNorms; if o.trainNorms { weights.append(norm) } }
        let wlr = o.weightLR(bits: bits)
        let opt = AdamW(groups: [ParameterGroup(name: "weights", parameters: weights, lr: wlr, weightDecay: o.weightDecay),
                                 ParameterGroup(name: "quant", parameters: quant, lr: o.quantLR, weightDecay: o.weightDecay)])
        var r = BlockAPBlockReport(block: i, rtnValidationMSE: 0, validationMSE: [], stepLosses: [], learningRates: [], gradNorms: [], seconds: 0)
        r.rtnValidationMSE = try mse(block, qVal, fpVal, rope: rope, batch: o.evalBatch)
        r.decision.selection = selection
        r.decision.startMSE = qVal.samples > 0 ? r.rtnValidationMSE : try mse(block, selIn, selTarget, rope: rope, batch: o.evalBatch)
        let perEpoch = epochBatches(samples: qTrain.samples, batch: o.batchSize, shuffle: false, seed: 0).count
        let total = o.epochs * perEpoch
        // the batches of the current epoch, reshuffled (with shuffle=1) from a seed of the block and epoch
        var epochOrder: (epoch: Int, batches: [[Int]]) = (-1, [])
        func batch(step: Int) -> [Int] {
            let epoch = step / perEpoch
            if epoch != epochOrder.epoch {
                let seed = o.seed &* 1_000_003 &+ UInt64(i) &* 1009 &+ UInt64(epoch)
                epochOrder = (epoch, epochBatches(samples: qTrain.samples, batch: o.batchSize, shuffle: o.shuffle, seed: seed))
            }
            return epochOrder.batches[step % perEpoch]
        }
        _ = try TrainLoop.run(o.loop, optimizer: opt, steps: 0..<total, progress: "block \(i)/\(model.blocks.count)", place: { "block \(i) step \($0)" },
                              learningRates: { step in [wlr, o.quantLR].map { o.loop.learningRate(base: $0, step: step, planned: total) } },
                              loss: { step in
            let idx = batch(step: step)
            let input = qTrain.batch(idx), target = fpTrain.batch(idx)
            let output = try block.forward(Var(input), rope: rope)
            let loss = try Var.mse(output, Var(target))
            guard loss.value.scalar.isFinite else {
                throw TrainingError("block \(i) step \(step): the loss is \(loss.value.scalar); stopping with the last good state (lower the learning rates)")
            }
            try loss.backward()
            if let dumper, dumper.wants(block: i, step: step) {
                try dumper.dump(block: i, step: step, model: model, input: input, target: target, output: output.value,
                                loss: loss.value.scalar, rope: rope)
            }
            return loss.value.scalar
        }, after: { done, loss, norm, _ in
            r.gradNorms.append(norm); r.stepLosses.append(loss); r.learningRates.append(opt.groups[1].lr)
            if done % perEpoch == 0 { r.validationMSE.append(try mse(block, qVal, fpVal, rope: rope, batch: o.evalBatch)) }
        })
        // (the loop released W's gradients: 4 bytes per weight for every trained block otherwise)
        // keep the better of start and trained (the fake quantizer's W-hat equals the hardened one
        // bit for bit, so the last epoch's validation MSE is the trained block's)
        if total == 0 {
            r.decision.trainedMSE = r.decision.startMSE
        } else if selection == "validation", let last = r.validationMSE.last {
            r.decision.trainedMSE = last
        } else {
            r.decision.trainedMSE = try mse(block, selIn, selTarget, rope: rope, batch: o.evalBatch)
        }
        r.decision.kept = o.keepBest && !(r.decision.trainedMSE < r.decision.startMSE) ? .start : .trained
        if r.decision.kept == .start { try initial.restore(into: block) }
        // finalize: integer codes, frozen
        for l in block.linears {
            guard let fq = l.quantizer as? FakeQuantizer else { continue }
            l.quantizer = try HardQuantizer(try fq.harden(weight: l.weight.value), name: l.name, trainScales: false, trainZeros: false)
            l.weight.requiresGrad = false
        }
        try BlockAPFormat.finalize(block)
        block.attnNorm.requiresGrad = false; block.ffnNorm.requiresGrad = false
        r.seconds = (clock.now - start).inSeconds
        let vals = r.validationMSE.map { fmtE($0) }.joined(separator: " ")
        log("block \(i)/\(model.blocks.count): val mse \(ptq == nil ? "rtn" : "start") \(fmtE(r.rtnValidationMSE)) -> \(vals), last loss \(fmtE(Double(r.stepLosses.last ?? 0))), \(Int(r.seconds)) s")
        log("block \(i): \(r.decision.line)")
        return r
    }
}

/// A block's trainable state (every quantized linear's W, s, z and the norm gains), copied so a
/// block whose training made it worse goes back to where it started.
struct BlockState {
    /// Per linear: its weight and its quantizer's parameters (FakeQuantizer's s, z; a format
    /// trainer's scales and mins), nil for a linear without a quantizer.
    var linears: [(weight: [Float], parameters: [[Float]])?] = []
    var attnNorm: [Float], ffnNorm: [Float]

    init(_ block: DecoderBlock) {
        for l in block.linears {
            linears.append(l.quantizer.map { q in (l.weight.value.toArray(), q.parameters.map { $0.1.value.toArray() }) })
        }
        attnNorm = block.attnNorm.value.toArray(); ffnNorm = block.ffnNorm.value.toArray()
    }

    func restore(into block: DecoderBlock) throws {
        for (k, l) in block.linears.enumerated() {
            guard let saved = linears[k], let q = l.quantizer else { continue }
            let params = q.parameters
            guard params.count == saved.parameters.count else {
                throw TrainingError("\(l.name): its quantizer changed kind during training; cannot restore its start")
            }
            l.weight.value.data.update(from: saved.weight, count: saved.weight.count)
            for (p, v) in zip(params, saved.parameters) { p.1.value.data.update(from: v, count: v.count) }
        }
        block.attnNorm.value.data.update(from: attnNorm, count: attnNorm.count)
        block.ffnNorm.value.data.update(from: ffnNorm, count: ffnNorm.count)
    }
}
