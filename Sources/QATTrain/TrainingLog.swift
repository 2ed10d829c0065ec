// Training logs in HDF5, for plots and inspection.
//
// Layout of OUT.work/train_log.h5 (rewritten atomically at the end of each phase):
//   /blockap/block_NNN/loss       float32 (steps)   training MSE per step
//   /blockap/block_NNN/lr         float32 (steps)   quant-parameter learning rate per step
//   /blockap/block_NNN/grad_norm  float32 (steps)   global gradient norm before clipping
//   /blockap/block_NNN/val_mse    float32 (epochs)  validation MSE after each epoch
//     attributes: block (int), rtn_val_mse (double), seconds (double)
//   /blockap attributes: peak_rss_mb (double, the process's peak resident memory)
//   /e2eqp/loss, /e2eqp/lr, /e2eqp/grad_norm   float32 (steps, the whole run's even after resume=1)
//     attributes: initial_val_loss, final_val_loss, seconds, peak_rss_mb (double), steps (int)
// A phase that runs again replaces its own group and keeps the other one.
import Foundation
import QATIO
import QATTensor

public enum TrainingLog {
    static func path(_ dir: String) -> String { dir + "/train_log.h5" }

    /// Copies the groups of an existing log except `replacing`, then `write`s the new group.
    static func rewrite(dir: String, replacing group: String, _ write: (HDF5File) throws -> Void) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let old = FileManager.default.fileExists(atPath: path(dir)) ? try? HDF5File.open(path: path(dir)) : nil
        let f = try HDF5File.create(path: path(dir))
        if let old {
            for g in try old.children(of: "/") where g != group {
                try copyGroup(from: old, to: f, "/" + g)
            }
            try old.close()
        }
        try write(f)
        try f.close()
    }

    static func copyGroup(from a: HDF5File, to b: HDF5File, _ group: String) throws {
        try b.createGroup(group)
        for child in try a.children(of: group) {
            let p = group + "/" + child
            if let t = try? a.readTensor(p) { try b.write(t, at: p) } else { try copyGroup(from: a, to: b, p) }
        }
    }

    public static func writeBlockAP(_ r: BlockAPReport, dir: String) throws {
        try rewrite(dir: dir, replacing: "blockap") { f in
            // a block restored from a checkpoint without its history has no steps to log
            for b in r.blocks where !(b.resumed && b.stepLosses.isEmpty) {
                let n = String(b.block), g = "/blockap/block_" + String(repeating: "0", count: max(0, 3 - n.count)) + n
                try f.createGroup(g)
                try f.write(Tensor(b.stepLosses), at: g + "/loss")
                try f.write(Tensor(b.learningRates), at: g + "/lr")
                try f.write(Tensor(b.gradNorms), at: g + "/grad_norm")
                try f.write(Tensor(b.validationMSE.map(Float.init)), at: g + "/val_mse")
                try f.setAttribute("block", .int(Int64(b.block)), on: g)
                try f.setAttribute("rtn_val_mse", .double(b.rtnValidationMSE), on: g)
                try f.setAttribute("seconds", .double(b.seconds), on: g)
            }
            if !f.exists("/blockap") { try f.createGroup("/blockap") }
            try f.setAttribute("peak_rss_mb", .double(r.peakRSSMB), on: "/blockap")
        }
    }

    public static func writeE2EQP(_ r: E2EQPReport, dir: String) throws {
        try rewrite(dir: dir, replacing: "e2eqp") { f in
            try f.createGroup("/e2eqp")
            try f.write(Tensor(r.stepLosses), at: "/e2eqp/loss")
            try f.write(Tensor(r.learningRates), at: "/e2eqp/lr")
            try f.write(Tensor(r.gradNorms), at: "/e2eqp/grad_norm")
            try f.setAttribute("initial_val_loss", .double(r.initialValidationLoss), on: "/e2eqp")
            try f.setAttribute("final_val_loss", .double(r.finalValidationLoss), on: "/e2eqp")
            try f.setAttribute("seconds", .double(r.seconds), on: "/e2eqp")
            try f.setAttribute("steps", .int(Int64(r.steps)), on: "/e2eqp")
            try f.setAttribute("peak_rss_mb", .double(r.peakRSSMB), on: "/e2eqp")
        }
    }
}
