// The check every writing verb makes before any work: can it create files where out= points?
// A multi-hour run that discovers an unwritable directory at its first checkpoint has wasted the
// hours, so blockap, e2eqp, qfa train, quantize, export, dump and sweep call this first.
//
// The test is a probe file created (O_CREAT|O_EXCL) and removed in the nearest existing directory
// on the path, not access(2) on the mode bits: root passes every mode check, yet a read-only mount
// (EROFS), a full inode table or an unsupported file system still refuse it, and a probe sees
// exactly what the later write will see.
import Foundation
import QATInterp
import QATIO
#if canImport(Glibc)
import Glibc
#endif

enum OutputCheck {
    /// Throws unless files can be created at `path` (a directory or file to be written, which may
    /// not exist yet: its nearest existing ancestor must accept a new file). `key` names the
    /// argument in the error.
    static func requireWritable(_ path: String, key: String) throws {
        let dir = nearestExistingDirectory(for: path)
        let probe = "\(dir)/.qat-write-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw InterpError.verb("\(key)=\(path): cannot write in the directory \(dir) (\(reason)); nothing was started",
                                   hint: "choose an output directory on a writable file system (or fix its permissions)")
        }
        close(fd)
        unlink(probe)
    }

    /// `path` itself when it is an existing directory, else the closest existing ancestor
    /// directory ("." for a relative path with none).
    static func nearestExistingDirectory(for path: String) -> String {
        var p = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        var isDir: ObjCBool = false
        while true {
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue { return p }
            let parent = PathName.parent(p)
            if parent.isEmpty { return "." }
            if parent == p { return p }
            p = parent
        }
    }

    /// The check for a verb's optional out= (and other path keys), when given.
    static func requireWritable(_ call: VerbCall, keys: [String]) throws {
        for key in keys where call.has(key) {
            if case .string(let s)? = call.value(key) { try requireWritable(s, key: key) }
        }
    }
}
