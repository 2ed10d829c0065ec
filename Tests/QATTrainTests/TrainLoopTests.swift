// The shared training loop's contract (TrainLoop.swift): step order, resume range, checkpoint
// cadence, the non-finite-gradient stop, the time budget; the schedules at hand-derived points;
// QFABasesPlan's rule for a finished supernet in out=.
import Foundation
import Testing
@testable import QATTrain
import QATAutograd
import QATTensor

@Suite struct TrainLoopTests {
    /// One scalar parameter whose gradient the "loss" sets to `gradient`.
    func fixture(lr: Float = 0.1) throws -> (Var, AdamW) {
        let p = Var(try Tensor(shape: [1], [1]), requiresGrad: true)
        return (p, AdamW(groups: [ParameterGroup(name: "p", parameters: [p], lr: lr)]))
    }

    /// Runs `steps` with checkpoints every 2 steps; returns the steps whose loss ran, the `after`
    /// counts, the checkpoint counts and the learning rate the optimizer held at each `after`.
    func trace(_ steps: Range<Int>, dir: String?) throws -> (losses: [Int], after: [Int], checkpoints: [Int], lrs: [Float], result: TrainLoopResult) {
        let (p, opt) = try fixture()
        var o = TrainLoopOptions()
        o.checkpointDir = dir; o.checkpointEvery = 2
        var losses: [Int] = [], after: [Int] = [], checkpoints: [Int] = [], lrs: [Float] = []
        let r = try TrainLoop.run(o, optimizer: opt, steps: steps, progress: "t", place: { "t step \($0)" },
                                  learningRates: { [Float($0 + 1) / 100] },
                                  loss: { step in losses.append(step); p.grad = try Tensor(shape: [1], [0.5]); return 1 },
                                  after: { done, _, _, _ in after.append(done); lrs.append(opt.groups[0].lr) },
                                  checkpoint: { _, done in checkpoints.append(done) })
        return (losses, after, checkpoints, lrs, r)
    }

    @Test func stepsCheckpointsAndResumeRange() throws {
        let full = try trace(0..<5, dir: "unused")
        #expect(full.losses == [0, 1, 2, 3, 4])
        #expect(full.after == [1, 2, 3, 4, 5])
        // every 2 steps and at the last one
        #expect(full.checkpoints == [2, 4, 5])
        #expect(full.lrs == [0.01, 0.02, 0.03, 0.04, 0.05])
        #expect(full.result.steps == 5 && !full.result.stoppedByTime)
        // a resume at step 3 runs steps 3 and 4 only, with the same cadence
        let resumed = try trace(3..<5, dir: "unused")
        #expect(resumed.losses == [3, 4] && resumed.checkpoints == [4, 5] && resumed.result.steps == 5)
        // no checkpoint directory: no checkpoint
        #expect(try trace(0..<5, dir: nil).checkpoints.isEmpty)
    }

    @Test func aNonFiniteGradientStopsBeforeTheParameterMoves() throws {
        let (p, opt) = try fixture()
        var afters = 0
        let e = #expect(throws: TrainingError.self) {
            _ = try TrainLoop.run(TrainLoopOptions(), optimizer: opt, steps: 0..<3, progress: "t", place: { "t step \($0)" },
                                  learningRates: { _ in [0.1] },
                                  loss: { _ in p.grad = try Tensor(shape: [1], [.nan]); return 1 },
                                  after: { _, _, _, _ in afters += 1 })
        }
        #expect(e?.message.hasPrefix("t step 0: the gradient norm is nan") == true)
        #expect(p.value.data[0] == 1 && afters == 0)
    }

    @Test func theTimeBudgetStopsAfterTheStepThatReachesIt() throws {
        let (p, opt) = try fixture()
        var o = TrainLoopOptions()
        o.seconds = 0   // reached by the end of the first step
        let r = try TrainLoop.run(o, optimizer: opt, steps: 0..<10, progress: "t", place: { "t step \($0)" },
                                  learningRates: { _ in [0.1] },
                                  loss: { _ in p.grad = try Tensor(shape: [1], [1]); return 1 },
                                  after: { _, _, _, _ in })
        #expect(r.steps == 1 && r.stoppedByTime)
        // AdamW's first step moves by lr (m-hat / sqrt(v-hat) = 1), and the loop released the gradient
        #expect(abs(p.value.data[0] - 0.9) < 1e-6 && p.grad == nil)
    }

    /// Base 1, 2 warm-up steps of 10: warm-up 1/2, 2/2; cosine over the 8 after it: half way
    /// (step 6) is 0.5; constant stays at the base; Block-AP's cosine ends at base / 20.
    @Test func schedulesAtHandDerivedPoints() {
        var o = TrainLoopOptions()
        o.warmupRatio = 0.2
        #expect(o.warmupSteps(planned: 10) == 2)
        o.schedule = .warmupCosine
        #expect([0, 1, 2, 6].map { o.learningRate(base: 1, step: $0, planned: 10) } == [0.5, 1, 1, 0.5])
        for s in [LRSchedule.warmupConstant, .warmupConstantByFactor] {
            o.schedule = s
            #expect([0, 1, 5, 9].map { o.learningRate(base: 1, step: $0, planned: 10) } == [0.5, 1, 1, 1], "\(s)")
        }
        o.schedule = .cosine
        #expect(o.learningRate(base: 1, step: 0, planned: 10) == 1)
        #expect(abs(o.learningRate(base: 1, step: 9, planned: 10) - 0.05) < 1e-7)
    }

    @Test func aFinishedSupernetIsReplacedOnlyByOverwriteOrItsOwnResume() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trainloop-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try QFABasesPlan.checkOutput(dir, resume: false, overwrite: false)   // empty: nothing to replace
        FileManager.default.createFile(atPath: dir + "/qfa.safetensors", contents: Data())
        let e = #expect(throws: TrainingError.self) { try QFABasesPlan.checkOutput(dir, resume: false, overwrite: false) }
        #expect(e?.message.contains("already holds a supernet; add overwrite=1") == true)
        try QFABasesPlan.checkOutput(dir, resume: true, overwrite: false)
        try QFABasesPlan.checkOutput(dir, resume: false, overwrite: true)
        try QFABasesPlan.checkOutput(nil, resume: false, overwrite: false)
    }
}
