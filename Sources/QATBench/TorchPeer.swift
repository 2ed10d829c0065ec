// PyTorch on the same CPU: `bench model|eval|train` run the matching peer script of
// Tests/Peers/torch_peer.py right after their own measurement (same model file, shapes and
// thread count) and print QATLab/torch; every bench also prints the CPU it ran on.
//
// The venv is ${QAT_VENV:-$HOME/.cache/qatlab/venv} (Tests/Peers/setup_venv.sh makes it). The
// script's stdout ends with one line, which TorchPeerResult.parse reads:
//   peer workload=W dtype=fp32 threads=N key=value ... tok_per_s=X ... mm_gflops=Y torch=V
//   peer error=<one line>                                      (the peer could not run)
// Values hold no spaces (only `error=` runs to the end of the line). stderr is torch's chatter,
// kept in a temporary file and quoted (last lines) when the peer fails.
import Foundation
import QATModel
import QATTensor

/// One peer line, parsed.
public struct TorchPeerResult: Sendable, Equatable {
    public var workload: String
    public var fields: [String: String]
    /// Tokens per second of the workload (the decode rate for decode).
    public var tokensPerSecond: Double

    public func number(_ key: String) -> Double? { fields[key].flatMap(Double.init).flatMap { $0.isFinite ? $0 : nil } }

    /// The last `peer ...` line of the script's output. A `peer error=` line, a missing line or a
    /// line without a positive finite tok_per_s is an error that quotes what was there.
    public static func parse(output: String) throws -> TorchPeerResult {
        guard let line = output.split(whereSeparator: \.isNewline).last(where: { $0.hasPrefix("peer ") }) else {
            let tail = output.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | ")
            throw TorchPeerError("the torch peer printed no `peer ...` line (its output ended: \(tail.isEmpty ? "nothing" : tail))")
        }
        let body = line.dropFirst("peer ".count)
        if body.hasPrefix("error=") {
            throw TorchPeerError("the torch peer failed: \(body.dropFirst("error=".count))")
        }
        var fields: [String: String] = [:]
        for pair in body.split(separator: " ") {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw TorchPeerError("the torch peer line has '\(pair)' where key=value was expected: \(line)")
            }
            fields[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        guard let workload = fields["workload"] else {
            throw TorchPeerError("the torch peer line names no workload=: \(line)")
        }
        guard let raw = fields["tok_per_s"], let rate = Double(raw), rate.isFinite, rate > 0 else {
            throw TorchPeerError("the torch peer line has tok_per_s=\(fields["tok_per_s"] ?? "(none)"); expected a positive number: \(line)")
        }
        return TorchPeerResult(workload: workload, fields: fields, tokensPerSecond: rate)
    }
}

public struct TorchPeerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// `torch prefill: 502.3 tok/s (fp32, 2 threads, torch.mm 176.0 GFLOP/s); QATLab/torch = 0.737`
/// (`ours` is QATLab's rate for the same workload measured in the same run).
public func torchComparisonLine(_ peer: TorchPeerResult, ours: Double) -> String {
    var detail = [peer.fields["dtype"] ?? "fp32", "\(peer.fields["threads"] ?? "?") threads"]
    if let mm = peer.number("mm_gflops") { detail.append("torch.mm \(fmt(mm)) GFLOP/s") }
    let ratio = ours / peer.tokensPerSecond
    return "torch \(peer.workload): \(fmt(peer.tokensPerSecond)) tok/s (\(detail.joined(separator: ", "))); QATLab/torch = \(fmt(ratio, digits: 3))"
}

/// The CPU as lscpu names it (model name, family, model) and whether it has AVX512-BF16.
public struct CPUDescription: Sendable, Equatable {
    public var modelName = "unknown", family = "?", model = "?"
    public var hasAVX512BF16 = false

    /// From /proc/cpuinfo's text (the first processor's block).
    public static func parse(cpuinfo: String) -> CPUDescription {
        var d = CPUDescription(), seen = Set<String>()
        for line in cpuinfo.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !seen.contains(key) else { continue }   // later processors repeat the same keys
            seen.insert(key)
            switch key {
            case "model name": d.modelName = value
            case "cpu family": d.family = value
            case "model": d.model = value
            case "flags": d.hasAVX512BF16 = value.split(separator: " ").contains("avx512_bf16")
            default: break
            }
        }
        return d
    }

    public static func current() -> CPUDescription {
        parse(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
    }

    public var line: String {
        "cpu: \(modelName) (family \(family), model \(model)), avx512_bf16=\(hasAVX512BF16 ? "yes" : "no")"
    }
}

/// Where the peer runs: the venv's python and the script, or why it cannot.
public struct TorchPeer {
    public let python: String, script: String

    public static var venvPath: String {
        let env = ProcessInfo.processInfo.environment
        if let v = env["QAT_VENV"], !v.isEmpty { return v }
        return (env["HOME"] ?? "/root") + "/.cache/qatlab/venv"
    }

    /// The peer, or the one line that says how to get it.
    public static func locate(venv: String = venvPath) -> Result<TorchPeer, TorchPeerError> {
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return .failure(TorchPeerError("torch peer: no venv at \(venv); create it with `bash Tests/Peers/setup_venv.sh` (or set QAT_VENV) to compare with PyTorch"))
        }
        guard let root = checkoutRoot(), FileManager.default.fileExists(atPath: root + "/Tests/Peers/torch_peer.py") else {
            return .failure(TorchPeerError("torch peer: Tests/Peers/torch_peer.py not found beside this qat binary's checkout; run the qat built in a QATLab checkout"))
        }
        return .success(TorchPeer(python: python, script: root + "/Tests/Peers/torch_peer.py"))
    }

    /// The file or directory the peer loads for a model whose weights came from `source`: a .gguf
    /// file or a Hugging Face directory. Nil for anything else (an embedded model, a QATLab
    /// checkpoint: quantized weights torch cannot read).
    public static func modelFile(source: String) -> String? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else { return nil }
        if !isDir.boolValue { return source.hasSuffix(".gguf") ? source : nil }
        return FileManager.default.fileExists(atPath: source + "/config.json") ? source : nil
    }

    /// Runs one workload: `arguments` after --workload/--model/--threads.
    public func run(workload: String, model: String, threads: Int, arguments: [String]) throws -> TorchPeerResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, "--workload", workload, "--model", model, "--threads", String(threads)] + arguments
        var env = ProcessInfo.processInfo.environment
        env["OMP_NUM_THREADS"] = String(threads)
        p.environment = env
        let out = Pipe()
        let errPath = NSTemporaryDirectory() + "qat-torch-peer-\(getpid())-\(UUID().uuidString).err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: errPath) ?? FileHandle.nullDevice
        do { try p.run() } catch {
            throw TorchPeerError("cannot start \(python) (\(error.localizedDescription)); re-create the venv with `bash Tests/Peers/setup_venv.sh`")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        do { return try TorchPeerResult.parse(output: text) } catch let e as TorchPeerError {
            let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            let tail = err.split(whereSeparator: \.isNewline).suffix(2).joined(separator: " | ")
            throw TorchPeerError("\(e.description) (exit status \(p.terminationStatus)\(tail.isEmpty ? "" : "; stderr: \(tail)"))")
        }
    }
}
