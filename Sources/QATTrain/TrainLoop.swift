// The training loop of Block-AP (per block), E2E-QP, full-model QAT and LLM-QFA, written once.
//
// Each optimizer step, in this order: the Interrupt check (Ctrl-C), zero the gradients, the
// trainer's loss (its forwards and backwards, gradients accumulated over its micro-batches), each
// AdamW group's learning rate, the global gradient-norm clip (a non-finite norm stops the run
// before any parameter moves), the AdamW step, the progress line, the trainer's `after` (its
// record of the step, its log line, per-epoch work), a checkpoint every `checkpointEvery` steps
// and at the last one (with a checkpoint directory), and the time budget. After the last step the
// gradients are released. A trainer supplies only what differs; the options every trainer shares
// live in TrainLoopOptions, which each trainer's option struct embeds as `loop` and reads through
// (o.batchSize is o.loop.batchSize), so the verbs and tests set them as before.
import QATAutograd
import QATTensor

public struct TrainingError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The options every training loop has; the trainers' own defaults are set in their initializers.
public struct TrainLoopOptions: Sendable, Equatable {
    /// Windows per forward, and forwards per optimizer step.
    public var batchSize = 1, accumulation = 1
    /// Linear warm-up over this fraction of the planned steps (rounded up).
    public var warmupRatio: Float = 0
    public var schedule = LRSchedule.warmupConstant
    /// Global gradient-norm clip; 0 = off.
    public var clipGrad: Float = 0
    /// Seeds the training order (and whatever else a trainer draws).
    public var seed: UInt64 = 42
    /// Resumable state goes here (OUT.work); nil = no checkpoints.
    public var checkpointDir: String?
    /// Steps between checkpoints (the last step always writes one).
    public var checkpointEvery = 16
    public var resume = false
    /// Stop after this many optimizer steps (the schedule stays that of the planned steps).
    public var maxSteps: Int?
    /// Stop once this much wall time has passed in the loop (checked after each step); nil = no limit.
    public var seconds: Double?
    /// Bytes the run may use at its peak (memory=); nil = no check. A trainer's estimate
    /// (MemoryEstimator) is checked against it before the run starts (checkMemory).
    public var memoryBudget: Int?

    public init() {}

    /// Warm-up steps of a run of `planned` steps.
    public func warmupSteps(planned: Int) -> Int { Int((Float(planned) * warmupRatio).rounded(.up)) }

    /// The learning rate of `step` for a group whose peak rate is `base`.
    public func learningRate(base: Float, step: Int, planned: Int) -> Float {
        schedule.rate(base: base, step: step, total: planned, warmup: warmupSteps(planned: planned))
    }

    /// Refuses to start when `estimate` exceeds the memory budget; the estimate is made only with a
    /// budget (it trims the heap and reads /proc). `advice` says what would shrink it.
    public func checkMemory(advice: String, _ estimate: () -> MemoryEstimate) throws {
        guard let memoryBudget else { return }
        try estimate().check(budget: memoryBudget, advice: advice)
    }

    /// The step the loop stops before: the planned steps, or fewer with maxSteps.
    public func lastStep(planned: Int) -> Int { min(planned, maxSteps ?? planned) }

    /// Optimizer steps in one pass over `windows` training windows; `run` names the trainer in
    /// the error when not even one step fits, `advice` adds what to change.
    func stepsPerEpoch(windows: Int, run: String, advice: String = "") throws -> Int {
        let n = windows / max(1, batchSize * accumulation)
        guard n > 0 else {
            throw TrainingError("\(run): \(windows) windows are fewer than one step of batch \(batchSize) x accumulation \(accumulation)\(advice)")
        }
        return n
    }
}

/// A trainer's options: its own fields plus the loop's, which read and write through (o.seed is
/// o.loop.seed), so there is one definition of each common option.
@dynamicMemberLookup
public protocol TrainLoopConfigurable {
    var loop: TrainLoopOptions { get set }
}

extension TrainLoopConfigurable {
    public subscript<T>(dynamicMember path: WritableKeyPath<TrainLoopOptions, T>) -> T {
        get { loop[keyPath: path] }
        set { loop[keyPath: path] = newValue }
    }
}

/// What the loop did.
struct TrainLoopResult {
    /// Optimizer steps done in all (a resumed run's earlier steps included).
    var steps: Int
    /// Wall time of this run's steps.
    var seconds: Double
    /// True when the time budget ended the loop.
    var stoppedByTime: Bool
}

enum TrainLoop {
    /// Runs the optimizer steps `steps` (a resumed run starts past 0). `place` names a step in
    /// errors; `learningRates` gives each AdamW group's rate; `loss` runs the step's forwards and
    /// backwards into the zeroed gradients and returns its loss; `after` gets the number of steps
    /// done, the step's loss and gradient norm and the loop's wall time so far; `checkpoint`
    /// writes the resumable state after that many steps into the directory.
    static func run(_ o: TrainLoopOptions, optimizer opt: AdamW, steps: Range<Int>, progress label: String,
                    place: (Int) -> String,
                    learningRates: (Int) -> [Float],
                    loss: (Int) throws -> Float,
                    after: (_ done: Int, _ loss: Float, _ gradNorm: Float, _ elapsed: Double) throws -> Void,
                    checkpoint: (_ dir: String, _ done: Int) throws -> Void = { _, _ in }) throws -> TrainLoopResult {
        let clock = ContinuousClock(), start = clock.now
        let progress = Progress(label: label, total: steps.upperBound)
        defer { progress.finish() }
        var step = steps.lowerBound, byTime = false
        while step < steps.upperBound {
            try Interrupt.check()
            opt.zeroGrad()
            let stepLoss = try loss(step)
            for (g, lr) in learningRates(step).enumerated() { opt.groups[g].lr = lr }
            let norm = try opt.clipFiniteGradients(maxNorm: o.clipGrad, at: place(step))
            opt.step()
            step += 1
            progress.update(step, loss: stepLoss)
            try after(step, stepLoss, norm, (clock.now - start).inSeconds)
            if let dir = o.checkpointDir, step % o.checkpointEvery == 0 || step == steps.upperBound { try checkpoint(dir, step) }
            if let limit = o.seconds, (clock.now - start).inSeconds >= limit { byTime = true; break }
        }
        opt.zeroGrad()   // the last step's gradients would otherwise stay allocated with the model
        return TrainLoopResult(steps: step, seconds: (clock.now - start).inSeconds, stoppedByTime: byTime)
    }
}

/// 3 significant digits in scientific notation, without Foundation (the trainers' log lines).
func fmtE(_ x: Double) -> String {
    guard x.isFinite, x != 0 else { return "\(x)" }
    var e = 0, m = abs(x)
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    let r = (m * 100).rounded() / 100
    return (x < 0 ? "-" : "") + "\(r)e\(e)"
}
