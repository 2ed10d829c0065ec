// The GPTQ export (what `export MODEL format=gptq|gptq_v2` writes) against an independent
// unpacker: Tests/Oracles/gptq_unpack_check.py reads the directory with plain Python + numpy,
// following AutoGPTQ's documented layout, dequantizes every linear and compares it, tensor by
// tensor, with QATLab's own dequantized F32 export of the same model (`export MODEL format=fp`).
// The tolerance is the oracle's fp16 scale budget (see its header): bit-exact when the model's
// scales are already fp16 values, within 2^-11 of the scale per code step otherwise.
import Foundation
import QATQuant
import Testing

/// python3 with numpy for the oracles, found once. nil (python3 or numpy missing) skips the
/// oracle suite with a message naming setup.sh, which installs both.
enum PythonOracle {
    static let python: String? = {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }
        guard let exe = (path + ["/usr/bin/python3", "/usr/local/bin/python3"]).first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
              let probe = try? run(exe, ["-c", "import numpy"]), probe.0 == 0 else { return nil }
        return exe
    }()

    static let oracles = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Oracles").path

    /// Runs `exe arguments...`: (exit status, stdout, stderr).
    static func run(_ exe: String, _ arguments: [String]) throws -> (Int32, Data, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = arguments
        // numpy's threaded BLAS only contends with the test runner on matrices this small
        p.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { _, one in one }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // stderr is small (a traceback at most); stdout is read to the end first so neither pipe fills
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, stdout, String(decoding: stderr, as: UTF8.self))
    }
}

@Suite(.enabled(if: PythonOracle.python != nil, "python3 with numpy is missing: run `bash setup.sh` (it installs numpy); the GPTQ oracle cannot run"))
struct GPTQOracleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let bits: Int, group: Int, format: GPTQFormat, actOrder: Bool
        /// false: scales that are not fp16 values, so the export rounds them (the budget is used).
        var halfScales = true
        /// MLP width: 80 pads the down projection's inputs and the gate/up outputs to 96.
        var ffn = 96, blocks = 1, bias = false, tied = true
        var testDescription: String {
            "w\(bits)g\(group) \(format.rawValue)\(actOrder ? " act-order" : "")\(halfScales ? "" : " fp32 scales") ffn \(ffn)"
        }
    }

    /// Hidden size 64: group 48 leaves a ragged last group of 16 (and of 32 on 80 inputs); group
    /// 128 exceeds every row (one group); 3 bits straddle int32 words; v1 stores z - 1, so z = 0
    /// (which every weight has at least once) wraps to 2^b - 1.
    static let cases = [
        Case(bits: 3, group: 48, format: .v1, actOrder: true),
        Case(bits: 4, group: 32, format: .v2, actOrder: false),
        Case(bits: 2, group: 32, format: .v1, actOrder: false),
        Case(bits: 8, group: -1, format: .v2, actOrder: false),
        Case(bits: 3, group: 128, format: .v2, actOrder: false),
        Case(bits: 4, group: 48, format: .v1, actOrder: true),
        // the mixed cases: 3 bits across words, act-order g_idx, ragged groups, padded rows and
        // columns, attention biases, an untied head, and scales the fp16 rounding moves
        Case(bits: 3, group: 48, format: .v1, actOrder: true, halfScales: false, ffn: 80, blocks: 2, bias: true, tied: false),
        Case(bits: 3, group: 48, format: .v2, actOrder: true, halfScales: false, ffn: 80, blocks: 2, bias: true, tied: false),
    ]

    @Test(arguments: cases)
    func oracleDequantizesTheExportLikeQATLab(_ c: Case) throws {
        let tmp = try ScratchDir()
        let model = try TinyModels.model(seed: 2024, vocab: 64, blocks: c.blocks, ffn: c.ffn, tied: c.tied, bias: c.bias)
        let spec = try QuantSpec(bits: c.bits, groupSize: c.group)
        try TinyModels.quantize(model, seed: UInt64(c.bits * 1000 + c.group + 7), actOrder: c.actOrder, halfScales: c.halfScales) { _, _ in spec }
        let gptq = tmp.sub("gptq"), fp = tmp.sub("fp")
        try GPTQCheckpoint.write(model, to: gptq, format: c.format)
        try NativeCheckpoint.writeDequantized(model, to: fp, dtype: .F32)

        let python = try #require(PythonOracle.python)
        let (status, stdout, stderr) = try PythonOracle.run(python, [PythonOracle.oracles + "/gptq_unpack_check.py", gptq, fp])
        let report = try #require(try? JSONSerialization.jsonObject(with: stdout) as? [String: Any],
                                  "gptq_unpack_check.py printed no report (status \(status)): \(stderr)")
        let failures = report["failures"] as? [String] ?? ["no failures list"]
        #expect(status == 0 && failures.isEmpty, "\(c): \(failures.joined(separator: "; ")) \(stderr)")
        #expect(report["bits"] as? Int == c.bits && report["group_size"] as? Int == c.group
                && report["format"] as? String == c.format.rawValue && report["desc_act"] as? Bool == c.actOrder)

        let tensors = report["tensors"] as? [String: [String: Any]] ?? [:]
        let linears = tensors.filter { $0.value["kind"] as? String == "linear" }
        #expect(linears.count == 7 * c.blocks, "\(c): \(linears.count) linears checked")
        // embedding and final norm, two norms per block, the head when untied, q/k/v biases
        #expect(tensors.count - linears.count == 2 + 2 * c.blocks + (c.tied ? 0 : 1) + (c.bias ? 3 * c.blocks : 0))
        for (name, r) in linears.sorted(by: { $0.key < $1.key }) {
            let ratio = r["budget_ratio"] as? Double ?? .infinity, exact = r["exact"] as? Bool ?? false
            #expect(ratio <= 1 && r["padding_nonzero"] as? Int == 0, "\(c) \(name): \(r)")
            // fp16 scales survive the export exactly, so nothing may differ
            if c.halfScales { #expect(exact, "\(c) \(name): max |diff| \(r["max_abs_diff"] ?? "?") with fp16 scales") }
        }
        if !c.halfScales {
            #expect(linears.values.contains { $0["exact"] as? Bool == false }, "\(c): no scale was moved by the fp16 rounding; the budget went untested")
        }
    }
}
