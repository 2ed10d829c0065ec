// The optimizer step the three end-to-end trainers share (E2E-QP, full-model QAT, LLM-QFA):
// `accumulation` forwards of `batch` windows each, the objective's loss (next-token cross-entropy by
// default, or distillation from a teacher: Distillation.swift), backward seeded
// with 1/accumulation so the gradients add up to the step's mean. The window order is one
// seeded shuffle per epoch (seed + epoch), so a resumed run draws exactly the windows an
// uninterrupted one would; it is computed once per epoch, not once per step.
import QATAutograd
import QATModel
import QATTensor

/// The shuffled order of the training windows for the current epoch, recomputed only when the
/// epoch changes.
struct EpochOrder {
    let windows: Int, seed: UInt64
    private var epoch = -1
    private var cached: [Int] = []

    init(windows: Int, seed: UInt64) { self.windows = windows; self.seed = seed }

    /// Window indices of `epoch` in training order (a permutation of 0..<windows).
    mutating func order(epoch e: Int) -> [Int] {
        if e != epoch {
            cached = epochBatches(samples: windows, batch: 1, shuffle: true, seed: seed &+ UInt64(e)).map { $0[0] }
            epoch = e
        }
        return cached
    }
}

/// Runs the forwards and backwards of step `step` and returns its mean loss; gradients are
/// accumulated into the trained Vars (the caller zeroes them before and steps the optimizer
/// after). `failure` words the error for a non-finite loss (it names the run and what to do).
func accumulatedCrossEntropyStep(model: LlamaModel, data: TrainingWindows, order: inout EpochOrder, step: Int,
                                 batch: Int, accumulation: Int, objective: TrainingObjective = TrainingObjective(),
                                 teacher: LlamaModel? = nil, failure: (Float) -> String) throws -> Float {
    let perStep = batch * accumulation, stepsPerEpoch = data.train.count / perStep, t = data.seqlen
    let order = order.order(epoch: step / stepsPerEpoch), first = (step % stepsPerEpoch) * perStep
    var stepLoss: Float = 0
    for micro in 0..<accumulation {
        let idx = order[(first + micro * batch)..<(first + (micro + 1) * batch)]
        // (batch, t-1) token ids in, (batch * (t-1)) targets: each window shifted by one
        let inputs = idx.flatMap { data.train[$0].dropLast() }, targets = idx.flatMap { data.train[$0].dropFirst() }
        let features = try model.features(inputs, batch: idx.count, seq: t - 1)   // (batch * (t-1), C): the head is fused into the loss
        let loss = try objective.loss(features: features, student: model, targets: targets, teacher: teacher, inputs: inputs,
                                      batch: idx.count, seq: t - 1)
        guard loss.value.scalar.isFinite else { throw TrainingError(failure(loss.value.scalar)) }
        try loss.backward(seed: 1 / Float(accumulation))
        stepLoss += loss.value.scalar / Float(accumulation)
    }
    return stepLoss
}
