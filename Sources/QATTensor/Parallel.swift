// Threads: OpenBLAS runs every matmul on `Threads.count` threads; our own elementwise and
// reduction loops above a size threshold are split over the same number of threads with
// DispatchQueue.concurrentPerform. Set QAT_THREADS in the environment (default: all cores),
// or call Threads.set(_:) (the `threads` verb does).
//
// Same numbers on any thread count: where OpenBLAS's sgemm gives different bits on one and on
// several threads (Debian's OpenBLAS 0.3.21 on Zen 3, whose Haswell kernels partition the work
// differently per thread count: ~15% of a 128 x 576 x 576 product differ in the last bits; Zen 4's
// kernels do not), OpenBLAS runs on one thread and only our own loops are parallel. A probe at
// start-up decides (Threads.blasIsThreadInvariant); matmuls are then slower on that CPU.
import CBLAS
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public enum Threads {
    // Written once at start-up or by an explicit set; read by every kernel.
    nonisolated(unsafe) private static var current: Int = initialCount()

    /// Number of threads kernels use.
    public static var count: Int { current }

    /// The threads OpenBLAS itself reports (equal to `blasThreads` outside withSingleThreadedBLAS).
    public static var blasCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the thread count for OpenBLAS and our loops (clamped to 1...64).
    public static func set(_ n: Int) {
        singleBLASSections.withLock { active in
            current = min(max(n, 1), 64)
            // inside a single-threaded section the count takes effect when the last one ends
            if active == 0 { openblas_set_num_threads(Int32(blasThreads)) }
        }
    }

    /// The threads OpenBLAS runs on: `count`, or 1 where its sgemm is not thread-count invariant.
    public static var blasThreads: Int { blasThreads(for: current) }

    private static func blasThreads(for n: Int) -> Int { blasIsThreadInvariant ? n : 1 }

    /// Whether OpenBLAS's sgemm gives the same bits on 1, 2 and 4 threads on this CPU (see the
    /// header), probed once on a 128 x 576 x 576 product (~5 ms).
    public static let blasIsThreadInvariant: Bool = {
        let m = 128, n = 576, k = 576
        var rng = SeededRandom(seed: 1)
        let a = (0..<(m * k)).map { _ in rng.uniform() }, b = (0..<(k * n)).map { _ in rng.uniform() }
        func product(threads: Int32) -> [Float] {
            openblas_set_num_threads(threads)
            var c = [Float](repeating: 0, count: m * n)
            sgemm(transA: false, transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n)
            return c
        }
        let one = product(threads: 1)
        return product(threads: 2) == one && product(threads: 4) == one
    }()

    /// How many withSingleThreadedBLAS sections are running (tests and kernels run them from
    /// several threads at once: OpenBLAS's thread count is one global, so the first section
    /// sets it to 1 and only the last one to end restores it).
    private static let singleBLASSections = Mutex<Int>(0)

    /// True while any withSingleThreadedBLAS section runs.
    public static var singleThreadedBLASActive: Bool { singleBLASSections.withLock { $0 > 0 } }

    private static func initialCount() -> Int {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var n = cores
        if let s = getenv("QAT_THREADS"), let v = Int(String(cString: s)), v > 0 { n = v }
        n = min(max(n, 1), 64)
        openblas_set_num_threads(Int32(blasThreads(for: n)))
        return n
    }

    /// Runs `body` with OpenBLAS on one thread, then restores the count. For LAPACK factorizations:
    /// OpenBLAS's threaded dpotrf/dpotri block differently from the single-threaded ones, so the
    /// bits of a Cholesky factor (and GPTQ's results, ~10% in perplexity at 3 bits) depended on
    /// the thread count. sgemm's bits do not on most CPUs, so matmuls stay threaded there.
    public static func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        singleBLASSections.withLock { active in
            if active == 0 { openblas_set_num_threads(1) }
            active += 1
        }
        defer {
            singleBLASSections.withLock { active in
                active -= 1
                if active == 0 { openblas_set_num_threads(Int32(blasThreads)) }
            }
        }
        return try body()
    }

    /// Elements below which a loop stays on one thread (thread wake-up costs ~10 us).
    public static let minParallelWork = 1 << 15
}

/// Runs `body` over [0, count) split into contiguous chunks, one per thread, when the work
/// (count * costPerItem) is large enough; otherwise on the calling thread. `body` must write
/// disjoint memory for disjoint ranges.
@inline(__always)
public func parallelFor(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
    let threads = Threads.count
    if threads <= 1 || count < 2 || count * costPerItem < Threads.minParallelWork {
        body(0..<count)
        return
    }
    let chunks = min(threads, count)
    withoutActuallyEscaping(body) { body in
        let box = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            box.value(lo..<hi)
        }
    }
}

/// Carries a non-Sendable value into concurrentPerform; callers guarantee disjoint writes.
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

/// Runs `body(item, scratch)` for every item in [0, count) on up to `Threads.count` workers that
/// take the next item from a shared counter, so items of uneven cost (causal attention's query
/// blocks; callers list the heavy ones first) balance across threads where contiguous chunks
/// would not. Each worker owns `scratchFloats` floats of scratch for its items. Each item must
/// write memory no other item writes; then no result depends on which worker ran it or on the
/// thread count. OpenBLAS runs single-threaded inside: the workers are the threads.
public func parallelItems(_ count: Int, scratchFloats: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
    let workers = min(Threads.count, count)
    if workers <= 1 {
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchFloats, 1))
        defer { scratch.deallocate() }
        for i in 0..<count { body(i, scratch) }
        return
    }
    let next = Atomic<Int>(0)
    Threads.withSingleThreadedBLAS {
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchFloats, 1))
                defer { scratch.deallocate() }
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= count { break }
                    box.value(i, scratch)
                }
            }
        }
    }
}
