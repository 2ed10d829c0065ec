// Resumable state and the HDF5 log of a QFA training run (layouts in QFATrain.swift's header).
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor

enum QFACheckpoint {
    static func statePath(_ dir: String) -> String { dir + "/qfa/state.safetensors" }
    static func basesPath(_ dir: String) -> String { dir + "/qfa/bases.safetensors" }

    static func save(dir: String, step: Int, params: [(String, Var)], optimizer: AdamW, fingerprint: String, report r: QFATrainReport) throws {
        try FileManager.default.createDirectory(atPath: dir + "/qfa", withIntermediateDirectories: true)
        var w = SafetensorsWriter()
        w.metadata = ["step": "\(step)", "fingerprint": fingerprint]
        try TrainingState.add(params, optimizer: optimizer, to: &w, perTensorSteps: true)
        try TrainingState.addHistory(loss: r.losses, lr: r.learningRates, gradNorm: r.gradNorms, to: &w)
        try w.add("history.mean_width", Tensor(r.meanWidths))
        try w.add("history.target", Tensor(r.targets))
        let units = r.configurations.first?.count ?? 0
        try w.add("history.configs", Tensor(shape: [r.configurations.count, units], r.configurations.flatMap { $0.map(Float.init) }))
        try w.write(to: statePath(dir))
    }

    /// Restores adapters, moments and history; returns the step to continue at (0 without a checkpoint).
    static func restore(dir: String, params: [(String, Var)], optimizer: AdamW, fingerprint: String, report r: inout QFATrainReport) throws -> Int {
        guard let (f, step) = try TrainingState.open(statePath(dir), fingerprint: fingerprint) else { return 0 }
        try TrainingState.restore(params, from: f, optimizer: optimizer, owner: "supernet", hint: "same rank= and adapters= as the interrupted run?",
                                  momentStep: { Int(f.metadata[$0 + ".step"] ?? "") })
        guard let h = try TrainingState.history(f) else { throw FormatError(file: statePath(dir), "has no history.loss; it was not written by qfa train") }
        (r.losses, r.learningRates, r.gradNorms) = h
        // states written before the mean width had its own name call it history.avg_bits
        r.meanWidths = try f.tensor(f.info("history.mean_width") != nil ? "history.mean_width" : "history.avg_bits").toArray()
        r.targets = try f.tensor("history.target").toArray()
        let c = try f.tensor("history.configs")
        let units = c.shape.count == 2 ? c.shape[1] : 0
        let flat = c.toArray()
        r.configurations = try (0..<(units > 0 ? flat.count / units : 0)).map { i in
            try flat[(i * units)..<((i + 1) * units)].map { try checkedInt($0, "a width in history.configs of \(statePath(dir))") }
        }
        return step
    }

    static func writeLog(_ r: QFATrainReport, sampler: QFASampler, dir: String) throws {
        try TrainingLog.rewrite(dir: dir, replacing: "qfa") { f in
            try f.createGroup("/qfa")
            try f.write(Tensor(r.losses), at: "/qfa/loss")
            try f.write(Tensor(r.learningRates), at: "/qfa/lr")
            try f.write(Tensor(r.gradNorms), at: "/qfa/grad_norm")
            try f.write(Tensor(r.meanWidths), at: "/qfa/mean_width")
            try f.write(Tensor(r.targets), at: "/qfa/target_width")
            let units = r.configurations.first?.count ?? 0
            if units > 0 {
                try f.write(Tensor(shape: [r.configurations.count, units], r.configurations.flatMap { $0.map(Float.init) }), at: "/qfa/config")
            }
            try f.setAttribute("widths", .string(sampler.widths.map(String.init).joined(separator: ",")), on: "/qfa")
            try f.setAttribute("sampler", .string(sampler.kind.rawValue), on: "/qfa")
            try f.setAttribute("period", .int(Int64(sampler.period)), on: "/qfa")
            try f.setAttribute("steps", .int(Int64(r.steps)), on: "/qfa")
            try f.setAttribute("seconds", .double(r.seconds), on: "/qfa")
            try f.setAttribute("peak_rss_mb", .double(r.peakRSSMB), on: "/qfa")
        }
    }
}
