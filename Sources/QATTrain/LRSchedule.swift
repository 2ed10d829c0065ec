// Learning-rate schedules of the training phases, one definition each. The loop options name one
// (TrainLoopOptions.schedule); the tiny model's recipe calls cosineLR directly.
import QATTensor

/// How the learning rate moves over a run's planned steps.
public enum LRSchedule: String, Sendable {
    /// Cosine from lr to lr/20, no warm-up (EfficientQAT's Block-AP).
    case cosine
    /// Linear warm-up, then cosine to 0 (E2E-QP: transformers' get_cosine_schedule_with_warmup).
    case warmupCosine
    /// Linear warm-up, then constant (LLM-QFA, QA-LoRA).
    case warmupConstant
    /// The same warm-up then constant, rounded as lr x (warm-up fraction) rather than
    /// (lr x (step + 1)) / warm-up: full-model QAT has always rounded it so, and its results stay
    /// bit-identical (the two may differ in the last bit during the warm-up).
    case warmupConstantByFactor

    /// The learning rate of step `step` (0-based) of `total` planned steps with `warmup` warm-up steps.
    public func rate(base: Float, step: Int, total: Int, warmup: Int) -> Float {
        switch self {
        case .cosine: return cosineLR(base: base, step: step, total: total)
        case .warmupCosine: return warmupCosineLR(base: base, step: step, total: total, warmup: warmup)
        case .warmupConstant: return warmupConstantLR(base: base, step: step, warmup: warmup)
        case .warmupConstantByFactor:
            let f: Float = step < warmup ? Float(step + 1) / Float(max(warmup, 1)) : 1
            return base * f
        }
    }
}

/// Cosine decay from `lr` to `lr / minFactor` over `total` steps, no warm-up (EfficientQAT's schedule).
public func cosineLR(base lr: Float, step: Int, total: Int, minFactor: Float = 20) -> Float {
    let minLR = lr / minFactor
    guard total > 1 else { return lr }
    let t = Double(min(step, total - 1)) / Double(total - 1)
    return minLR + (lr - minLR) * Float(0.5 * (1 + qcos(Double.pi * t)))
}

/// Warm-up then cosine to 0 (transformers' get_cosine_schedule_with_warmup).
public func warmupCosineLR(base: Float, step: Int, total: Int, warmup: Int) -> Float {
    if step < warmup { return base * Float(step + 1) / Float(max(warmup, 1)) }
    let progress = Double(step - warmup) / Double(max(1, total - warmup))
    return base * Float(0.5 * (1 + qcos(Double.pi * progress)))
}

/// Constant learning rate after a linear warm-up.
public func warmupConstantLR(base: Float, step: Int, warmup: Int) -> Float {
    step < warmup ? base * Float(step + 1) / Float(max(warmup, 1)) : base
}
