// What E2E-QP and LLM-QFA share to resume (each run's state.safetensors in OUT.work/): the trained
// tensors by name, their AdamW moments as NAME.m / NAME.v, and the metadata "step" (optimizer
// steps done) and "fingerprint" (the options a resumed run must repeat). The files' own layouts
// are at the top of E2EQP.swift and QFACheckpoint.swift.
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
