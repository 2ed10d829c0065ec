// Block-AP checkpoints: one safetensors file per finished block plus progress.json, so a killed
// run resumes at the next block (layout in BlockAP.swift's header).
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor

enum BlockAPCheckpoint {
    static func blockFile(_ dir: String, _ i: Int) -> String {
        let n = String(i), pad = String(repeating: "0", count: max(0, 3 - n.count))
        return "\(dir)/blockap/block_\(pad)\(n).safetensors"
    }

    static func save(model: LlamaModel, block i: Int, completed: Int, dir: String, options o: BlockAPOptions, report: BlockAPReport) throws {
        try FileManager.default.createDirectory(atPath: dir + "/blockap", withIntermediateDirectories: true)
        let b = model.blocks[i]
        var w = SafetensorsWriter()
        for l in b.linears {
            guard let hq = l.quantizer as? HardQuantizer else { continue }
            let qw = try hq.quantized
            try w.addUInt8("\(l.name).codes", shape: [qw.rows, qw.cols], qw.codes)
            try w.add("\(l.name).scales", Tensor(shape: [qw.rows, qw.groupCount], qw.scales))
            try w.add("\(l.name).zeros", Tensor(shape: [qw.rows, qw.groupCount], qw.zeros))
            w.metadata["\(l.name).spec"] = "\(qw.spec)"
        }
        // AWQ's scale fold may have changed a bias (init=awq on a model with attention bias)
        for l in b.linears { if let bias = l.bias { try w.add("\(l.name).bias", bias.value) } }
        try w.add("attn_norm", b.attnNorm.value)
        try w.add("ffn_norm", b.ffnNorm.value)
        if let r = report.blocks.last, r.block == i {
            try w.add("history.loss", Tensor(r.stepLosses))
            try w.add("history.lr", Tensor(r.learningRates))
            try w.add("history.grad_norm", Tensor(r.gradNorms))
            w.metadata["seconds"] = "\(r.seconds)"
            // Swift's shortest round-trip text: Foundation's JSON parser on Linux does not read
            // every double back exactly, so progress.json alone would change the resumed numbers
            w.metadata["rtn_val_mse"] = "\(r.rtnValidationMSE)"
            w.metadata["val_mse"] = r.validationMSE.map { "\($0)" }.joined(separator: ",")
            w.metadata["start_mse"] = "\(r.decision.startMSE)"
            w.metadata["trained_mse"] = "\(r.decision.trainedMSE)"
            w.metadata["kept"] = r.decision.kept.rawValue
            w.metadata["selection"] = r.decision.selection
        }
        try w.write(to: blockFile(dir, i))
        let progress: [String: Any] = [
            "completed": completed, "fingerprint": o.fingerprint,
            "rtn_val_mse": report.blocks.map(\.rtnValidationMSE), "val_mse": report.blocks.map(\.validationMSE),
        ]
        let data = try JSONSerialization.data(withJSONObject: progress, options: [.prettyPrinted, .sortedKeys])
        try writeTextAtomically(String(decoding: data, as: UTF8.self), to: dir + "/blockap/progress.json")
    }

    /// How many blocks a checkpoint has finished (0 when there is none); checks the options match.
    static func completed(dir: String, options o: BlockAPOptions) throws -> (done: Int, rtn: [Double], val: [[Double]]) {
        let path = dir + "/blockap/progress.json"
        guard let data = FileManager.default.contents(atPath: path) else { return (0, [], []) }
        guard let p = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let done = p["completed"] as? Int else {
            throw FormatError(file: path, "not a Block-AP progress file; delete \(dir)/blockap to start over")
        }
        guard p["fingerprint"] as? String == o.fingerprint else {
            throw FormatError(file: path, "was written with other options (\(p["fingerprint"] as? String ?? "?")) than this run (\(o.fingerprint)); use the same options or another out=")
        }
        return (done, p["rtn_val_mse"] as? [Double] ?? [], p["val_mse"] as? [[Double]] ?? [])
    }

    /// Installs finished block `i` from the checkpoint (hard quantizers and trained norm gains).
    /// Everything is read and checked before anything is installed, so a refused file leaves the
    /// model as it was.
    /// The step history a block file keeps for the train log (empty in files from before it did).
    struct History {
        var loss: [Float] = [], lr: [Float] = [], gradNorm: [Float] = [], seconds = 0.0
        /// Exact validation MSEs (nil in files from before they were stored).
        var rtnValidationMSE: Double?, validationMSE: [Double]?
        /// The keep decision (nil in files from before it was stored).
        var decision: BlockAPDecision?
    }

    static func restoreBlock(_ i: Int, model: LlamaModel, dir: String) throws -> History {
        let path = blockFile(dir, i)
        let f = try SafetensorsFile(path: path)
        let b = model.blocks[i]
        var quantizers: [(Linear, HardQuantizer)] = []
        for l in b.linears {
            guard let specText = f.metadata["\(l.name).spec"] else { continue }
            let spec = try QuantSpec(parsing: specText)
            let codes = try f.uint8s("\(l.name).codes")
            if let bad = codes.firstIndex(where: { Int($0) > spec.qmax }) {
                throw FormatError(file: path, "tensor '\(l.name).codes': code \(codes[bad]) at flat index \(bad) exceeds \(spec.qmax), the largest \(spec.bits)-bit code; the checkpoint is corrupt")
            }
            let qw = try QuantizedWeight(spec: spec, rows: l.outFeatures, cols: l.inFeatures, codes: codes,
                                         scales: try f.tensor("\(l.name).scales").toArray(), zeros: try f.tensor("\(l.name).zeros").toArray())
            quantizers.append((l, try HardQuantizer(qw, name: l.name, trainScales: false, trainZeros: false)))
        }
        // The sizes come from the file: a gain of another length would write past the model's.
        var biases: [(Var, Tensor)] = []
        for l in b.linears {
            guard let bias = l.bias, f.info("\(l.name).bias") != nil else { continue }
            let t = try f.tensor("\(l.name).bias")
            guard t.shape == bias.value.shape else {
                throw FormatError(file: path, "tensor '\(l.name).bias' has shape \(t.shape), the model's \(bias.value.shape); the checkpoint is from another model or corrupt: delete \(dir)/blockap to start over")
            }
            biases.append((bias, t))
        }
        var gains: [(Var, Tensor)] = []
        for (name, gain) in [("attn_norm", b.attnNorm), ("ffn_norm", b.ffnNorm)] {
            let t = try f.tensor(name)
            guard t.shape == gain.value.shape else {
                throw FormatError(file: path, "tensor '\(name)' has shape \(t.shape), the model's gain \(gain.value.shape); the checkpoint is from another model or corrupt: delete \(dir)/blockap to start over")
            }
            gains.append((gain, t))
        }
        var h = History()
        if f.info("history.loss") != nil {
            h = History(loss: try f.tensor("history.loss").toArray(), lr: try f.tensor("history.lr").toArray(),
                        gradNorm: try f.tensor("history.grad_norm").toArray(), seconds: Double(f.metadata["seconds"] ?? "") ?? 0)
            h.rtnValidationMSE = f.metadata["rtn_val_mse"].flatMap(Double.init)
            let vals = f.metadata["val_mse"].map { $0.split(separator: ",").compactMap { Double($0) } }
            h.validationMSE = vals?.count == f.metadata["val_mse"]?.split(separator: ",").count ? vals : nil
            if let start = f.metadata["start_mse"].flatMap(Double.init), let trained = f.metadata["trained_mse"].flatMap(Double.init),
               let kept = f.metadata["kept"].flatMap(BlockAPDecision.Kept.init(rawValue:)), let selection = f.metadata["selection"] {
                h.decision = BlockAPDecision(startMSE: start, trainedMSE: trained, kept: kept, selection: selection)
            }
        }
        for (l, q) in quantizers { l.quantizer = q }
        for (gain, t) in gains + biases { gain.value.data.update(from: t.data, count: t.count) }
        return h
    }
}
