// The torch peer's plumbing without torch: the peer-line parser, the QATLab/torch line (ratios
// derived by hand), /proc/cpuinfo parsing, the token file torch_peer.py reads, which model
// sources the peer can load, and the whole comparison against a stand-in `python` (a shell
// script printing a fixed peer line) in a throw-away venv directory.
import Foundation
import Testing
@testable import QATBench

@Suite struct TorchPeerTests {
    @Test func parsesTheLastPeerLine() throws {
        let out = """
            Loading weights...
            peer workload=decode dtype=fp32 threads=2 tok_per_s=1
            some chatter
            peer workload=prefill dtype=bf16 threads=2 batch=1 seq=512 seconds=1.02 tok_per_s=502.3 mm_gflops=176.4 torch=2.13.0+cpu

            """
        let r = try TorchPeerResult.parse(output: out)
        #expect(r.workload == "prefill")
        #expect(r.tokensPerSecond == 502.3)
        #expect(r.number("mm_gflops") == 176.4)
        #expect(r.fields["torch"] == "2.13.0+cpu")
        #expect(r.fields["dtype"] == "bf16")
        #expect(r.number("torch") == nil)
    }

    @Test func peerErrorsAndBadLinesAreErrorsNamingWhatWasThere() {
        func message(_ out: String) -> String {
            do { _ = try TorchPeerResult.parse(output: out); return "parsed" } catch { return "\(error)" }
        }
        #expect(message("peer error=ValueError: x.gguf holds a qwen3 model\n").contains("ValueError: x.gguf holds a qwen3 model"))
        #expect(message("Traceback\nboom\n").contains("boom"))
        #expect(message("peer workload=prefill tok_per_s=0").contains("tok_per_s=0"))
        #expect(message("peer workload=prefill tok_per_s=nan").contains("tok_per_s=nan"))
        #expect(message("peer workload=prefill seconds=1").contains("tok_per_s=(none)"))
        #expect(message("peer tok_per_s=3").contains("no workload"))
        #expect(message("peer workload=prefill junk tok_per_s=3").contains("'junk'"))
    }

    @Test func comparisonLineRatioIsOursOverTheirs() throws {
        let peer = try TorchPeerResult.parse(output: "peer workload=prefill dtype=fp32 threads=2 tok_per_s=500 mm_gflops=176.04\n")
        // 370 / 500 = 0.74
        #expect(torchComparisonLine(peer, ours: 370)
                == "torch prefill: 500.0 tok/s (fp32, 2 threads, torch.mm 176.0 GFLOP/s); QATLab/torch = 0.740")
        let train = try TorchPeerResult.parse(output: "peer workload=blockap dtype=fp32 threads=2 tok_per_s=5900\n")
        // 6490 / 5900 = 1.1
        #expect(torchComparisonLine(train, ours: 6490) == "torch blockap: 5900.0 tok/s (fp32, 2 threads); QATLab/torch = 1.100")
    }

    @Test func cpuinfoGivesTheFirstProcessorsNameFamilyModelAndBF16() {
        let zen4 = """
            processor\t: 0
            vendor_id\t: AuthenticAMD
            cpu family\t: 25
            model\t\t: 17
            model name\t: AMD EPYC 9454P 48-Core Processor
            flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni

            processor\t: 1
            cpu family\t: 99
            model\t\t: 98
            model name\t: other
            flags\t\t: fpu
            """
        let d = CPUDescription.parse(cpuinfo: zen4)
        #expect(d.line == "cpu: AMD EPYC 9454P 48-Core Processor (family 25, model 17), avx512_bf16=yes")
        let zen3 = "cpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7763\nflags\t\t: avx2 avx512_bf16x vaes\n"
        #expect(CPUDescription.parse(cpuinfo: zen3).line == "cpu: AMD EPYC 7763 (family 25, model 1), avx512_bf16=no")
        #expect(CPUDescription.parse(cpuinfo: "").line == "cpu: unknown (family ?, model ?), avx512_bf16=no")
    }

    @Test func tokenFileIsLittleEndianInt32() throws {
        let path = NSTemporaryDirectory() + "qat-peer-test-\(getpid()).tokens"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeTokens([1, -2, 70000], to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // 70000 = 0x00011170
        #expect(bytes == [1, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0x70, 0x11, 0x01, 0x00])
    }

    @Test func peerLoadsGGUFFilesAndCheckpointDirectoriesOnly() throws {
        let dir = NSTemporaryDirectory() + "qat-peer-src-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir + "/hf", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for f in ["/m.gguf", "/m.bin", "/hf/config.json"] { _ = FileManager.default.createFile(atPath: dir + f, contents: Data()) }
        #expect(TorchPeer.modelFile(source: dir + "/m.gguf") == dir + "/m.gguf")
        #expect(TorchPeer.modelFile(source: dir + "/hf") == dir + "/hf")
        #expect(TorchPeer.modelFile(source: dir + "/m.bin") == nil)
        #expect(TorchPeer.modelFile(source: dir) == nil)   // a directory without config.json
        #expect(TorchPeer.modelFile(source: "tiny") == nil)
    }

    @Test func withoutTheVenvOneLineSaysHowToMakeIt() {
        var lines: [String] = []
        let row = PeerComparable(modelSource: "tiny", workload: "prefill", tokensPerSecond: 1, arguments: [])
        compareWithTorch([row], peers: true, venv: "/nonexistent/venv") { lines.append($0) }
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("cpu: ") == true)
        #expect(lines.last?.contains("bash Tests/Peers/setup_venv.sh") == true)
        lines = []
        compareWithTorch([row], peers: false, venv: "/nonexistent/venv") { lines.append($0) }
        #expect(lines.count == 1)
    }

    /// A venv whose python prints `line` and records its arguments to args.txt.
    func standInVenv(printing line: String) throws -> String {
        let venv = NSTemporaryDirectory() + "qat-peer-venv-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: venv + "/bin", withIntermediateDirectories: true)
        let script = "#!/bin/sh\necho \"$@\" > \(venv)/args.txt\necho 'torch chatter' >&2\necho 'loading'\necho '\(line)'\n"
        try script.write(toFile: venv + "/bin/python", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: venv + "/bin/python")
        _ = FileManager.default.createFile(atPath: venv + "/m.gguf", contents: Data())
        return venv
    }

    @Test func comparisonRunsThePeerWithTheBenchShapesAndPrintsTheRatio() throws {
        let venv = try standInVenv(printing: "peer workload=eval dtype=fp32 threads=2 tok_per_s=400 ppl=12.3456 mm_gflops=170")
        defer { try? FileManager.default.removeItem(atPath: venv) }
        var lines: [String] = []
        let row = PeerComparable(modelSource: venv + "/m.gguf", workload: "eval", tokensPerSecond: 300,
                                 arguments: ["--seq", "512", "--windows", "4"], tokens: [1, 2, 3], perplexity: 12.3457)
        compareWithTorch([row], peers: true, venv: venv) { lines.append($0) }
        // 300 / 400 = 0.75
        #expect(lines.dropFirst().first == "torch eval: 400.0 tok/s (fp32, 2 threads, torch.mm 170.0 GFLOP/s); QATLab/torch = 0.750")
        #expect(lines.last == "torch ppl=12.3456 on the same tokens (QATLab ppl=12.3457)")
        let args = try String(contentsOfFile: venv + "/args.txt", encoding: .utf8)
        #expect(args.contains("torch_peer.py --workload eval --model \(venv)/m.gguf --threads "))
        #expect(args.contains("--seq 512 --windows 4 --tokens "))
    }

    @Test func aFailingPeerPrintsOneLineWithItsError() throws {
        let venv = try standInVenv(printing: "peer error=RuntimeError: out of memory")
        defer { try? FileManager.default.removeItem(atPath: venv) }
        var lines: [String] = []
        let row = PeerComparable(modelSource: venv + "/m.gguf", workload: "e2eqp", tokensPerSecond: 100, arguments: [])
        compareWithTorch([row], peers: true, venv: venv) { lines.append($0) }
        #expect(lines.count == 2)
        #expect(lines.last?.hasPrefix("torch peer e2eqp: the torch peer failed: RuntimeError: out of memory") == true)
        #expect(lines.last?.contains("torch chatter") == true)
    }
}
