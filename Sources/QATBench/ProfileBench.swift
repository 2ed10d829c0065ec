// The `profile=1` option of `bench model|train|eval`: after the timed runs, one more run of the
// same workload under the kernel-family profiler (QATTensor/Profile.swift), printed as
// milliseconds and % of that run's wall time per family, forward and backward.
import QATTensor

/// Runs `body` once under the profiler and logs its breakdown titled `title`.
func logProfile(_ title: String, log: (String) -> Void, _ body: () throws -> Void) rethrows {
    let (_, report) = try Profile.record(body)
    for line in report.lines(title: title) { log(line) }
}
