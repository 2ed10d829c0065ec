// The training objective of the end-to-end trainers (E2E-QP, full-model QAT): next-token
// cross-entropy (ce, the default), distillation from the full-precision teacher (kd), or
// (1 - w) ce + w kd (ce+kd). kd per token is T^2 KL(softmax(teacher / T) || softmax(student / T)),
// averaged over the predicted tokens as the cross-entropy is (QATTensor/Loss.swift derives the
// gradient T (p - q) / N). The teacher's logits are computed per micro-batch under noGrad, so
// nothing is cached and the teacher never trains.
import QATAutograd
import QATModel
import QATTensor

public enum TrainingLossKind: String, Sendable, CaseIterable {
    case ce, kd, ceKD = "ce+kd"
}

/// What the step minimizes; `teacherIdentity` names the teacher in the run's fingerprint.
public struct TrainingObjective: Sendable, Equatable {
    public var kind = TrainingLossKind.ce
    public var temperature: Float = 1
    /// w of (1 - w) ce + w kd (ce+kd only).
    public var kdWeight: Float = 0.5
    public var teacherIdentity = ""
    public init() {}

    /// The words a checkpoint's fingerprint adds: none for ce, so today's states still resume.
    public var fingerprint: String {
        switch kind {
        case .ce: return ""
        case .kd: return " loss=kd T\(temperature) teacher=\(teacherIdentity)"
        case .ceKD: return " loss=ce+kd T\(temperature) w\(kdWeight) teacher=\(teacherIdentity)"
        }
    }

    /// Refuses a temperature or weight outside its range, and a distillation without a teacher.
    public func validate(teacher: LlamaModel?, student: LlamaModel, run: String) throws {
        guard temperature.isFinite, temperature > 0 else {
            throw TrainingError("\(run): kd_temp=\(temperature) must be a positive number; 1 distills the plain distributions, 2-4 softer ones")
        }
        guard kdWeight.isFinite, (0...1).contains(kdWeight) else {
            throw TrainingError("\(run): kd_weight=\(kdWeight) must be in 0...1 (the weight of kd in (1 - w) ce + w kd)")
        }
        guard kind != .ce else { return }
        guard let teacher else { throw TrainingError("\(run): loss=\(kind.rawValue) needs a teacher model; give teacher=MODEL") }
        guard teacher.vocabSize == student.vocabSize else {
            throw TrainingError("\(run): the teacher's vocabulary has \(teacher.vocabSize) tokens, the student's \(student.vocabSize); give the teacher the quantized model came from")
        }
    }

    /// The micro-batch's loss on the student's final-normed hidden states (N, C) through its LM head
    /// (fused, in vocabulary chunks: Var.headCrossEntropy / headDistillation): ce on the targets, kd
    /// against the teacher's logits of the same inputs (recomputed chunk by chunk from its hidden
    /// states and head), or their mix.
    func loss(features: Var, student: LlamaModel, targets: [Int32], teacher: LlamaModel?, inputs: [Int32], batch: Int, seq: Int) throws -> Var {
        if kind == .ce { return try Var.headCrossEntropy(features, weight: student.headWeight, targets: targets) }
        guard let teacher else { throw TrainingError("loss=\(kind.rawValue) needs a teacher model; give teacher=MODEL") }
        let teacherFeatures = try noGrad { try teacher.features(inputs, batch: batch, seq: seq) }.value
        let kd = try Var.headDistillation(features, weight: student.headWeight, teacherHidden: teacherFeatures,
                                          teacherWeight: teacher.headWeight.value, temperature: temperature)
        if kind == .kd { return kd }
        let ce = try Var.headCrossEntropy(features, weight: student.headWeight, targets: targets)
        return try ce.affine(scale: 1 - kdWeight) + kd.affine(scale: kdWeight)
    }
}

public enum Distillation {
    /// Mean kd loss (T^2 KL per predicted token, averaged over all of them) of the student against
    /// the teacher on `windows`, without gradients: what loss=kd lowers.
    public static func meanLoss(student: LlamaModel, teacher: LlamaModel, windows: [[Int32]], temperature: Float) throws -> Double {
        guard !windows.isEmpty else { return 0 }
        var total = 0.0
        for w in windows {
            let inputs = Array(w.dropLast())
            try noGrad {
                let s = try student.features(inputs, batch: 1, seq: inputs.count), t = try teacher.features(inputs, batch: 1, seq: inputs.count)
                let kd = try Var.headDistillation(s, weight: student.headWeight, teacherHidden: t.value, teacherWeight: teacher.headWeight.value,
                                                  temperature: temperature)
                total += Double(kd.value.scalar)
            }
        }
        return total / Double(windows.count)
    }
}
