// Interrupt: the process-wide "Ctrl-C was pressed" flag.
//
// The REPL installs a SIGINT handler (`Interrupt.installHandler()`) that only sets this flag;
// long-running code polls it at safe points (between interpreter statements, between training
// steps, every few milliseconds in a wait) and unwinds with `Interrupted`, so the session and its
// variables survive (Lua's `docall` idiom). A second Ctrl-C while the first is still pending
// means the running code does not poll: the handler then restores the default action and
// re-raises, so the process ends instead of hanging.
//
// The flag is a lock-free Atomic, which is safe to touch from a signal handler.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Thrown by `Interrupt.check()` when Ctrl-C was pressed.
public struct Interrupted: Error, CustomStringConvertible, Equatable {
    public init() {}
    public var description: String { "interrupted (Ctrl-C)" }
}

public enum Interrupt {
    private static let flag = Atomic<Bool>(false)

    /// True once Ctrl-C was pressed and nobody has consumed it yet.
    public static var requested: Bool { flag.load(ordering: .relaxed) }

    /// Marks an interrupt as pending (the signal handler calls this; tests may too).
    public static func request() { flag.store(true, ordering: .relaxed) }

    /// Forgets a pending interrupt (the REPL does this before each command).
    public static func clear() { flag.store(false, ordering: .relaxed) }

    /// Throws `Interrupted` and clears the flag if an interrupt is pending. Call it in long loops.
    /// While an `exclusively` body runs, only its thread takes the flag: a test's Ctrl-C must
    /// reach that test's loop, not whichever concurrent test polls first.
    public static func check() throws {
        if take() { throw Interrupted() }
    }

    /// True, and the flag cleared, if an interrupt is pending (for code that throws its own error).
    public static func take() -> Bool {
        let holder = exclusiveThread.load(ordering: .relaxed)
        if holder != 0 && holder != UInt(pthread_self()) { return false }
        return flag.exchange(false, ordering: .relaxed)
    }

    /// Routes SIGINT to the flag. A second SIGINT while one is pending kills the process.
    /// Also unblocks SIGINT, which a parent may have left blocked (a process started from a
    /// worker thread inherits that thread's mask).
    public static func installHandler() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigprocmask(SIG_UNBLOCK, &set, nil)
        signal(SIGINT) { _ in
            if Interrupt.flag.exchange(true, ordering: .relaxed) {
                signal(SIGINT, SIG_DFL)
                raise(SIGINT)
            }
        }
    }

    /// Runs `body` while no other `exclusively` body runs. The flag is process-wide, so tests
    /// that raise it, and tests of long loops that poll it, go through here one at a time.
    public static func exclusively<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(testMutex)
        exclusiveThread.store(UInt(pthread_self()), ordering: .relaxed)
        defer {
            exclusiveThread.store(0, ordering: .relaxed)
            pthread_mutex_unlock(testMutex)
        }
        return try body()
    }

    /// The thread running an `exclusively` body (0: none, as always outside tests).
    private static let exclusiveThread = Atomic<UInt>(0)

    nonisolated(unsafe) private static let testMutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// Restores the default SIGINT action (the process ends on Ctrl-C).
    public static func removeHandler() {
        signal(SIGINT, SIG_DFL)
    }
}
