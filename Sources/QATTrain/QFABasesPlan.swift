// Where a QFA supernet's frozen bases come from, and where they are kept, as `qfa train` decides:
//   1. resume=1 and OUT.work/qfa/bases.safetensors exists: that file (the interrupted run wrote it);
//      its supernet options must equal this run's, and the model is the one it names as its source.
//   2. base=checkpoint: one quantized checkpoint per width (bases=[...]; QFABases.fromCheckpoints).
//   3. bases_cache=FILE built for the same model, widths, group, base and training windows: that
//      file; built for anything else, it is replaced by the bases built in step 4.
//   4. otherwise quantized now (GPTQ or RTN, QFABases.build) and written to bases_cache=FILE with
//      the training windows' fingerprint (metadata "bases_calib").
// Every supernet with a checkpoint directory writes its bases to OUT.work/qfa/bases.safetensors,
// so a resume skips the quantization. A finished supernet in OUT is replaced only by overwrite=1
// or by the resume of that same run.
// File layouts: QFASupernet.swift's header.
import Foundation
import QATQuant

public enum QFABasesPlan {
    /// The bases file a run with checkpoint directory `dir` keeps (and a resume reads).
    public static func resumePath(checkpointDir dir: String) -> String { QFACheckpoint.basesPath(dir) }

    /// Refuses to replace the finished supernet in `out` unless `overwrite`, or `resume` (the same run).
    public static func checkOutput(_ out: String?, resume: Bool, overwrite: Bool) throws {
        guard let out, !resume, !overwrite, FileManager.default.fileExists(atPath: out + "/qfa.safetensors") else { return }
        throw TrainingError("\(out) already holds a supernet; add overwrite=1, or choose another out=")
    }

    /// Rule 1: the model source and bases of the run being resumed; nil when `t` is not a resume or
    /// the interrupted run wrote no bases yet.
    public static func resumed(train t: QFATrainOptions, options o: QFAOptions) throws -> (source: String, bases: [String: [Int: QuantizedWeight]])? {
        guard t.resume, let dir = t.checkpointDir else { return nil }
        let path = resumePath(checkpointDir: dir)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let (saved, source, bases, _) = try QFASupernet.readFile(path)
        guard saved == o else {
            throw TrainingError("\(path) was built with other supernet options (\(saved.metadata)); resume with the same widths/base/group/rank/alpha/unit/adapters/seed")
        }
        return (source, bases)
    }

    /// Rule 3: the bases in `path` when it was built for this model `source`, these options and
    /// these training windows; nil (build them) when it does not exist or was built for something else.
    public static func cached(_ path: String, options o: QFAOptions, source: String, windows: TrainingWindows,
                              log: (String) -> Void) throws -> [String: [Int: QuantizedWeight]]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let (saved, savedSource, file) = try QFASupernet.openFile(path)   // the header first: no bases read on a mismatch
        var differences: [String] = []
        if saved.widths != o.widths { differences.append("widths \(saved.widths) (asked \(o.widths))") }
        if saved.group != o.group { differences.append("group \(saved.group) (asked \(o.group))") }
        if saved.base != o.base { differences.append("base \(saved.base.rawValue) (asked \(o.base.rawValue))") }
        if savedSource != source { differences.append("model \(savedSource) (asked \(source))") }
        if file.metadata["bases_calib"] != windows.trainFingerprint { differences.append("other training windows (calib, samples, seqlen or seed)") }
        guard differences.isEmpty else {
            log("qfa: \(path) was built for \(differences.joined(separator: ", ")); building the bases again and replacing it")
            return nil
        }
        log("qfa: bases from \(path) (same model, widths, group, base and training windows)")
        return try QFASupernet.readBases(file, options: saved)
    }

    /// Rules 4 and the resume copy: writes newly built bases to the cache (`newCache`: its path and
    /// the training windows' fingerprint), and the bases to the checkpoint directory.
    public static func keep(_ net: QFASupernet, newCache: (path: String, fingerprint: String)?, checkpointDir: String?,
                            log: (String) -> Void) throws {
        if let (path, fingerprint) = newCache {
            try net.saveBases(path: path, metadata: ["bases_calib": fingerprint])
            log("qfa: bases written to \(path) for later supernets (bases_cache=)")
        }
        if let dir = checkpointDir { try net.saveBases(path: resumePath(checkpointDir: dir)) }
    }
}
