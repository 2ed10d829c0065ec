// What QATLab knows about itself and the programs beside it: its version, written into what it
// saves for provenance (tables' qatlab_version, dumps, sweep manifests, Slurm scripts, notebook
// footers) and printed by `version`; and where a program on $PATH is (qat for sweep tasks,
// sbatch and squeue, rsvg-convert for PNG plots). QATIO is the lowest module that writes either.
import Foundation

/// The QATLab version (`version` prints "QATLab 0.2.0").
public let qatLabVersion = "0.2.0"

/// The full path of a program on $PATH, if any.
public func executableInPath(_ name: String) -> String? {
    let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}
