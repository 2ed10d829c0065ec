// What E2E-QP and LLM-QFA share to resume (each run's state.safetensors in OUT.work/): the trained
// tensors by name, their AdamW moments as NAME.m / NAME.v (LLM-QFA: with metadata NAME.step), the
// step history history.loss / history.lr / history.grad_norm (F32, steps), and the metadata
// "step" (optimizer steps done) and "fingerprint" (the options a resumed run must repeat). The
// files' own layouts (what each adds) are at the top of E2EQP.swift and QFATrain.swift.
import Foundation
import QATAutograd
import QATIO
import QATTensor

enum TrainingState {
    /// The state file at `path` and the step it reached, after checking it was written with this
    /// run's options; nil when there is no state yet.
    static func open(_ path: String, fingerprint: String) throws -> (file: SafetensorsFile, step: Int)? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let f = try SafetensorsFile(path: path)
        guard f.metadata["fingerprint"] == fingerprint, let step = Int(f.metadata["step"] ?? "") else {
            throw FormatError(file: path, "was written with other options (\(f.metadata["fingerprint"] ?? "?")) than this run (\(fingerprint)); use the same options or another out=")
        }
        return (f, step)
    }

    /// Copies a parameter's stored values; `owner` names what it belongs to and `hint` what to
    /// check when the sizes differ.
    static func restoreValues(of p: Var, name: String, from f: SafetensorsFile, owner: String, hint: String = "") throws {
        let t = try f.tensor(name)
        guard t.count == p.value.count else {
            throw FormatError(file: f.path, "\(name) has \(t.count) values, the \(owner) \(p.value.count)\(hint.isEmpty ? "" : "; " + hint)")
        }
        p.value.data.update(from: t.data, count: t.count)
    }
}

extension TrainingState {
    /// Adds each trained tensor under its name with its AdamW moments as NAME.m / NAME.v; with
    /// `perTensorSteps` also each tensor's AdamW step count as metadata NAME.step (LLM-QFA's
    /// adapters are updated in different numbers of steps).
    static func add(_ params: [(String, Var)], optimizer: AdamW, to w: inout SafetensorsWriter, perTensorSteps: Bool) throws {
        for (name, p) in params {
            try w.add(name, p.value)
            if let (m, v, n) = optimizer.moments(of: p) {
                try w.add(name + ".m", m); try w.add(name + ".v", v)
                if perTensorSteps { w.metadata[name + ".step"] = "\(n)" }
            }
        }
    }

    /// Adds the step history every trainer keeps: history.loss, history.lr, history.grad_norm.
    static func addHistory(loss: [Float], lr: [Float], gradNorm: [Float], to w: inout SafetensorsWriter) throws {
        try w.add("history.loss", Tensor(loss))
        try w.add("history.lr", Tensor(lr))
        try w.add("history.grad_norm", Tensor(gradNorm))
    }

    /// Restores each trained tensor and, where the file has them, its moments with the AdamW step
    /// count `momentStep(name)` gives (nil: the moments stay unset).
    static func restore(_ params: [(String, Var)], from f: SafetensorsFile, optimizer: AdamW, owner: String, hint: String = "",
                        momentStep: (String) -> Int?) throws {
        for (name, p) in params {
            try restoreValues(of: p, name: name, from: f, owner: owner, hint: hint)
            if f.info(name + ".m") != nil, let n = momentStep(name) {
                optimizer.setMoments(of: p, m: try f.tensor(name + ".m"), v: try f.tensor(name + ".v"), step: n)
            }
        }
    }

    /// The step history addHistory wrote; nil when the file has none (E2E-QP states before it was kept).
    static func history(_ f: SafetensorsFile) throws -> (loss: [Float], lr: [Float], gradNorm: [Float])? {
        guard f.info("history.loss") != nil else { return nil }
        return (try f.tensor("history.loss").toArray(), try f.tensor("history.lr").toArray(), try f.tensor("history.grad_norm").toArray())
    }
}
