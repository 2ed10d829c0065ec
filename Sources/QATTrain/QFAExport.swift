// Subnet export (docs/qfa_baselines.md A.2 "Export"): for a configuration, each linear takes its base at
// the chosen width with that width's adapter merged into the zero points (QFAAdapter.merged), and
// the model is written as a native QATLab checkpoint (NativeCheckpoint.swift): codes U8, scales and
// fractional zeros F32, one width per linear as recorded in qatlab.json, embedding and norms from
// the supernet's source. `ppl`, `eval`, `kl`, `load` and `export format=fp` read it like any other
// checkpoint (the fractional zeros load as MergedZeroQuantizer).
import Foundation
import QATModel
import QATQuant
import QATTensor

public enum QFAExport {
    /// The merged weight of every linear at `config`, by slot key.
    public static func mergedWeights(_ net: QFASupernet, config: [Int]) throws -> [String: QuantizedWeight] {
        try net.apply(config)
        var out: [String: QuantizedWeight] = [:]
        for s in net.slots {
            guard let w = s.loadedWidth, let base = s.bases[w], let a = s.adapters[w] else {
                throw TrainingError("qfa export: \(s.key) has no base or adapter at the applied width")
            }
            out[s.key] = try a.merged(into: base)
        }
        return out
    }

    /// Installs the merged subnet on the supernet's model (adapters removed); `restore` undoes it.
    public static func installMerged(_ net: QFASupernet, config: [Int]) throws {
        let merged = try mergedWeights(net, config: config)
        for s in net.slots {
            guard let qw = merged[s.key] else { continue }
            s.linear.adapter = nil
            MergedZeroQuantizer(qw).install(on: s.linear)
            s.loadedWidth = nil   // the weight buffer now holds the merged weight
        }
    }

    /// Back to the supernet at `config` (quantizers removed, bases and adapters re-installed).
    public static func restore(_ net: QFASupernet, config: [Int]) throws {
        for s in net.slots { s.linear.quantizer = nil }
        try net.apply(config)
    }

    /// Writes the subnet at `config` to `dir` and leaves the supernet as it was.
    public static func write(_ net: QFASupernet, config: [Int], to dir: String, overwrite: Bool = false, metadata: [String: String] = [:]) throws {
        try installMerged(net, config: config)
        defer { try? restore(net, config: config) }
        var meta = metadata
        meta["qfa_widths"] = config.map(String.init).joined(separator: ",")
        meta["qfa_mean_width"] = fmt2(meanWidth(config))
        meta["qfa_unit"] = net.options.unit.rawValue
        try NativeCheckpoint.write(net.model, to: dir, method: NativeCheckpoint.qfaMethod, source: net.source, metadata: meta, overwrite: overwrite)
    }
}
