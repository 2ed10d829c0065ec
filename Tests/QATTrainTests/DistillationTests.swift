// Distillation from the full-precision model in the end-to-end trainers (QATTrain/Distillation.swift)
// on the embedded tiny model: ce+kd at weight 0 is the cross-entropy step bit for bit, loss=kd
// lowers the kd loss on the training windows, a resume with other kd settings is refused, and
// out-of-range settings are refused with errors that name them.
import Foundation
import Testing
@testable import QATTrain
import QATAutograd
import QATModel
import QATQuant
import QATTensor

@Suite(.serialized) struct DistillationTests {
    func objective(_ kind: TrainingLossKind, t: Float = 1, w: Float = 0.5) -> TrainingObjective {
        var o = TrainingObjective()
        o.kind = kind; o.temperature = t; o.kdWeight = w; o.teacherIdentity = "tiny"
        return o
    }

    /// One accumulated step's loss and the gradients it leaves on the trained scales.
    func step(_ o: TrainingObjective, teacher: LlamaModel?) throws -> (Float, [[Float]]) {
        let (student, data) = try tinyRTNModel()
        let scales = E2EQP.quantized(student.model).compactMap { ($0.1 as? HardQuantizer)?.scales }
        for s in scales { s.requiresGrad = true }
        var order = EpochOrder(windows: data.train.count, seed: 42)
        let loss = try accumulatedCrossEntropyStep(model: student.model, data: data, order: &order, step: 1, batch: 2, accumulation: 2,
                                                   objective: o, teacher: teacher) { "loss \($0)" }
        return (loss, scales.map { $0.grad?.toArray() ?? [] })
    }

    @Test func ceKDAtWeightZeroIsTheCrossEntropyStepBitForBit() throws {
        let teacher = try ModelLoader.load("tiny").model
        let (ce, ceGrads) = try step(objective(.ce), teacher: nil)
        let (mixed, mixedGrads) = try step(objective(.ceKD, t: 2, w: 0), teacher: teacher)
        let (kd, _) = try step(objective(.kd, t: 2), teacher: teacher)
        #expect(kd > 0, "the kd term is not zero, so weight 0 is what removes it")
        #expect(ce.bitPattern == mixed.bitPattern, "\(ce) vs \(mixed)")
        #expect(ceGrads.flatMap { $0 }.contains { $0 != 0 })
        #expect(ceGrads.map { $0.map(\.bitPattern) } == mixedGrads.map { $0.map(\.bitPattern) })
    }

    @Test func e2eqpWithKDLowersTheKDLossOnTheTrainingWindows() throws { try Interrupt.exclusively {
        let teacher = try ModelLoader.load("tiny").model
        let (student, data) = try tinyRTNModel()
        let before = try Distillation.meanLoss(student: student.model, teacher: teacher, windows: data.train, temperature: 2)
        var o = quickE2EQPOptions()
        o.objective = objective(.kd, t: 2)
        let r = try E2EQP.run(model: student.model, data: data, options: o, teacher: teacher, log: { _ in })
        let after = try Distillation.meanLoss(student: student.model, teacher: teacher, windows: data.train, temperature: 2)
        #expect(r.steps == 16)
        #expect(before > 0 && after < 0.98 * before, "kd loss \(before) -> \(after)")
        // the teacher itself is untouched: kd of the teacher against itself stays exactly 0
        #expect(try Distillation.meanLoss(student: teacher, teacher: teacher, windows: Array(data.train.prefix(2)), temperature: 2) == 0)
    } }

    @Test func aResumeWithOtherKDSettingsIsRefused() throws { try Interrupt.exclusively {
        let teacher = try ModelLoader.load("tiny").model
        let dir = try scratchDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = quickE2EQPOptions()
        o.checkpointDir = dir; o.checkpointEvery = 2; o.maxSteps = 2
        o.objective = objective(.kd, t: 2)
        _ = try runOnFreshRTN(o, teacher: teacher)
        o.resume = true; o.maxSteps = 4
        for other in [objective(.kd, t: 3), objective(.ceKD, t: 2), objective(.ce)] {
            var changed = o
            changed.objective = other
            #expect(throws: (any Error).self, "\(other.fingerprint)") {
                try runOnFreshRTN(changed, teacher: teacher)
            }
        }
        var renamed = o
        renamed.objective.teacherIdentity = "/models/another"
        #expect(throws: (any Error).self) { try runOnFreshRTN(renamed, teacher: teacher) }
        // the same settings resume, and ce's fingerprint is today's (states written before kd still resume)
        _ = try runOnFreshRTN(o, teacher: teacher)
        #expect(!E2EQPOptions().fingerprint.contains("loss"))
    } }

    @Test func outOfRangeSettingsAndAMissingTeacherAreRefused() throws {
        let student = try ModelLoader.load("tiny").model
        let cases: [(TrainingObjective, LlamaModel?, String)] = [
            (objective(.kd, t: 0), student, "kd_temp=0.0 must be a positive number"),
            (objective(.kd, t: -1), student, "kd_temp=-1.0"),
            (objective(.ceKD, w: 2), student, "kd_weight=2.0 must be in 0...1"),
            (objective(.kd), nil, "loss=kd needs a teacher model; give teacher=MODEL"),
        ]
        for (o, teacher, words) in cases {
            let e = #expect(throws: TrainingError.self) { try o.validate(teacher: teacher, student: student, run: "e2eqp") }
            #expect(e?.message.contains(words) == true, "\(e?.message ?? "no error") lacks \(words)")
        }
        try objective(.ce).validate(teacher: nil, student: student, run: "e2eqp")
    }
}

extension DistillationTests {
    /// E2E-QP from a fresh RTN start (model and windows built once per run).
    @discardableResult
    func runOnFreshRTN(_ o: E2EQPOptions, teacher: LlamaModel) throws -> E2EQPReport {
        let (student, data) = try tinyRTNModel()
        return try E2EQP.run(model: student.model, data: data, options: o, teacher: teacher, log: { _ in })
    }
}
