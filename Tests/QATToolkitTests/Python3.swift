// Runs python3 for the tests that check the h5py/matplotlib side (Plots/*.py, dumps read with h5py).
import Foundation
import Testing

/// Runs `python3 ARGUMENTS...` from the package root and returns its exit status and its output
/// (stdout and stderr); records a test issue naming setup.sh when python3 or h5py is missing.
func runPython3(_ arguments: [String]) throws -> (Int32, String) {
    let python = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }
        + ["/usr/bin/python3", "/usr/local/bin/python3"]
    // the first that imports the modules: a pyenv python3 first on PATH may lack Debian's
    // python3-h5py, which setup.sh installs for /usr/bin/python3
    let found = python.filter { FileManager.default.isExecutableFile(atPath: $0) }
    guard let exe = found.first(where: importsPlotModules) ?? found.first else {
        Issue.record("python3 is not installed: run `bash setup.sh` (it installs h5py and matplotlib with pip)")
        return (1, "")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let out = String(decoding: data, as: UTF8.self)
    for module in ["h5py", "numpy", "matplotlib"] where out.contains("No module named '\(module)'") {
        Issue.record("\(module) is not installed for \(exe): run `bash setup.sh` (python3 -m pip install h5py matplotlib)")
    }
    return (p.terminationStatus, out)
}

/// Whether `python` imports numpy, h5py and matplotlib.
private func importsPlotModules(_ python: String) -> Bool {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = ["-c", "import numpy, h5py, matplotlib"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}
