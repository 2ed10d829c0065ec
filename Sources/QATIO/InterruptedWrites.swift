// InterruptedWrites: cleans up after a writer that was killed (SIGKILL, power loss) mid-write.
//
// QATLab's atomic writers put X on disk in one of two ways:
//   - a file: written to "X.tmp-<pid>" or "X.tmp-<pid>-<random>", fsynced, renamed to X
//     (writeAtomically in Safetensors.swift, HDF5File.create);
//   - a directory that replaces an older one: filled as "X.tmp-<pid>", then X is moved to
//     "X.old-<pid>", the new one moved to X, and the old one deleted (NativeCheckpoint).
// A kill between those steps strands the temporaries, and a kill between the two moves of a
// directory replace leaves no X at all, only "X.old-<pid>" holding the previous version.
// `reclaim(_:)` runs before each write of X (and before a read that finds no X): it deletes the
// temporaries of processes that no longer exist and moves a stranded "X.old-<pid>" back to X, so
// the previous checkpoint stays loadable and the directory does not fill with dead files.
// A temporary whose pid is alive (another writer, or this process) is left alone.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

public enum InterruptedWrites {
    /// Removes dead writers' temporaries of `path` and restores a stranded previous version.
    /// Returns the names it removed or restored (for tests and logs). Never throws: cleaning up is
    /// best effort and must not stop the write it precedes.
    @discardableResult
    public static func reclaim(_ path: String) -> [String] {
        let target = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        // split by hand: NSString's path methods trap on some strings a user can type
        var dir = "", base = target
        if let slash = target.lastIndex(of: "/") {
            dir = slash == target.startIndex ? "/" : String(target[..<slash])
            base = String(target[target.index(after: slash)...])
        }
        let fm = FileManager.default
        guard !base.isEmpty, let names = try? fm.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return [] }
        func full(_ name: String) -> String { dir.isEmpty ? name : dir == "/" ? "/" + name : dir + "/" + name }
        var touched: [String] = []
        for name in names.sorted() {
            guard let (kind, pid) = parse(name, base: base), !isAlive(pid) else { continue }
            switch kind {
            case .temporary:
                if (try? fm.removeItem(atPath: full(name))) != nil { touched.append(name) }
            case .previous:
                if !fm.fileExists(atPath: target), rename(full(name), target) == 0 {
                    touched.append(name)
                } else if fm.fileExists(atPath: target), (try? fm.removeItem(atPath: full(name))) != nil {
                    touched.append(name)   // the replace finished; only its clean-up was cut off
                }
            }
        }
        return touched
    }

    enum Kind { case temporary, previous }

    /// "BASE.tmp-<pid>", "BASE.tmp-<pid>-<random>" -> temporary; "BASE.old-<pid>" -> previous.
    static func parse(_ name: String, base: String) -> (Kind, pid_t)? {
        for (marker, kind) in [(".tmp-", Kind.temporary), (".old-", Kind.previous)] {
            let prefix = base + marker
            guard name.hasPrefix(prefix) else { continue }
            let rest = name.dropFirst(prefix.count)
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let pid = pid_t(digits), pid > 0 else { return nil }
            let tail = rest.dropFirst(digits.count)
            if kind == .previous && !tail.isEmpty { return nil }
            if kind == .temporary && !tail.isEmpty && !(tail.first == "-" && tail.dropFirst().allSatisfy { $0.isNumber }) { return nil }
            return (kind, pid)
        }
        return nil
    }

    /// A pid is alive when signal 0 reaches it or it exists under another user (EPERM).
    static func isAlive(_ pid: pid_t) -> Bool {
        if pid == getpid() { return true }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
