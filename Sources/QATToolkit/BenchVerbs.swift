// The `bench` group: one row per measurement, each with only the keys it reads. Every benchmark
// measures the OpenBLAS sgemm rate in the same run and reports its rate against it (the
// measurements are in QATBench: TensorBench.swift, ModelBench.swift, TrainBench.swift, EvalBench.swift).
// bench decode is bound by memory, not sgemm: it reports against the read bandwidth (DecodeBench.swift).
// model, eval and train then print the CPU and, with peers=1, the same workload in PyTorch on the
// same CPU and QATLab/torch (QATBench/TorchPeer.swift, Tests/Peers/torch_peer.py).
import QATBench
import QATInterp
import QATQuant

enum BenchVerbs {
    static var rows: [VerbSpec] { [tensor, model, quant, train, eval, decode] }

    static var repeatsKey: ArgSpec { .key("repeats", .int, default: .number(3), range: 1...100, help: "timed repeats (best is kept; one more warms up)") }
    static var profileKey: ArgSpec {
        .key("profile", .bool, default: .number(0), help: "after the timed runs, one more run printing ms and % per kernel family (forward, backward)")
    }
    static var ctxKey: ArgSpec { .key("ctx", .int, default: .number(512), range: 2...32768, help: "tokens in the window") }

    static func modelArgument(default spec: String) -> ArgSpec {
        .positional("MODEL", .string, default: .string(spec), help: "the model (a name or path)")
    }

    static var peersKey: ArgSpec {
        .key("peers", .int, default: .number(1), range: 0...1,
             help: "1: run the same workload in PyTorch (the venv of Tests/Peers/setup_venv.sh) and print QATLab/torch; 0: skip it")
    }

    static let peersHelp = """
        Then the CPU (model name, family, model) and, with peers=1 and the venv of \
        Tests/Peers/setup_venv.sh (${QAT_VENV:-~/.cache/qatlab/venv}), the same workload in PyTorch \
        on the same model file, shapes and threads: `torch W: R tok/s (...); QATLab/torch = X`.
        """

    static func seqKey(default n: Int) -> ArgSpec {
        .key("seq", .int, default: .number(Double(n)), range: 2...8192, help: "tokens per window")
    }

    static var tensor: VerbSpec {
        VerbSpec(name: "bench tensor", summary: "Measure OpenBLAS sgemm GFLOP/s and one SmolLM2-shaped LLaMA block's forward+backward.",
                 arguments: [.key("batch", .int, default: .number(4), range: 1...64, help: "windows per block forward"), seqKey(default: 512), repeatsKey],
                 help: """
                     OpenBLAS sgemm GFLOP/s and the forward+backward of one SmolLM2-shaped LLaMA \
                     block in the same run, then causal attention and SwiGLU alone on one window of \
                     seq tokens (last line block_vs_sgemm=<ratio>).
                     """,
                 examples: ["bench tensor repeats=2"]) { call in
            _ = try benchTensor(batch: try call.int("batch"), seq: try call.int("seq"), repeats: try call.int("repeats"), log: { call.out($0) })
            return .none
        }
    }

    static var model: VerbSpec {
        VerbSpec(name: "bench model", summary: "Measure a model's forward tokens/s against the sgemm-bound ideal.",
                 arguments: [modelArgument(default: "smollm2"), ctxKey, repeatsKey, profileKey, peersKey],
                 help: "Forward tokens/s of a real model over one window of ctx tokens, against the sgemm-bound ideal.\n" + peersHelp,
                 examples: ["bench model smollm2 ctx=256", "bench model smollm2 peers=0", "bench model smollm2 profile=1"]) { call in
            let rows = try benchModel(model: { try loadModel(call.string("MODEL")) }, ctx: try call.int("ctx"), repeats: try call.int("repeats"),
                           profile: try call.bool("profile"), log: { call.out($0) })
            compareWithTorch(rows, peers: try call.int("peers") == 1, log: { call.out($0) })
            return .none
        }
    }

    static var quant: VerbSpec {
        VerbSpec(name: "bench quant", summary: "Measure fake quantization's forward+backward in ns/element against memcpy.",
                 help: "Fake-quant forward+backward over a 1536x576 weight in ns/element against memcpy.",
                 examples: ["bench quant"]) { call in
            try benchQuant(log: { call.out($0) })
            return .none
        }
    }

    static var train: VerbSpec {
        VerbSpec(name: "bench train", summary: "Measure Block-AP and E2E-QP training tokens/s and their fraction of the sgemm peak.",
                 arguments: [modelArgument(default: "default"), seqKey(default: 256), repeatsKey, profileKey, peersKey],
                 help: "Block-AP (w2g64 fake quant, 2 windows) and E2E-QP (w2g64 hard quant, 1 window) step tokens/s and their fraction of the sgemm peak.\n" + peersHelp,
                 examples: ["bench train tiny seq=128", "bench train smollm2 seq=512"]) { call in
            let rows = try benchTrain(model: { try loadModel(call.string("MODEL")) }, seq: try call.int("seq"), repeats: try call.int("repeats"),
                           profile: try call.bool("profile"), log: { call.out($0) })
            compareWithTorch(rows, peers: try call.int("peers") == 1, log: { call.out($0) })
            return .none
        }
    }

    static var eval: VerbSpec {
        VerbSpec(name: "bench eval", summary: "Measure perplexity tokens/s and capitals items/s against the sgemm-bound ideal.",
                 arguments: [modelArgument(default: "smollm2"), ctxKey,
                             .key("windows", .int, default: .number(4), range: 1...10000, help: "perplexity windows of ctx tokens"),
                             .key("items", .int, default: .number(40), range: 1...100000, help: "capitals items scored"),
                             .key("shots", .int, default: .number(0), range: 0...64, help: "few-shot examples per item"),
                             repeatsKey, profileKey, peersKey],
                 help: "Perplexity tokens/s and capitals items/s (and forward tokens/s) against the sgemm-bound ideal.\n" + peersHelp
                     + " The torch peer scores the same perplexity tokens and prints its perplexity beside QATLab's.",
                 examples: ["bench eval smollm2 items=40"]) { call in
            let rows = try benchEval(model: { try loadModel(call.string("MODEL")) }, ctx: try call.int("ctx"), windows: try call.int("windows"),
                          items: try call.int("items"), shots: try call.int("shots"), repeats: try call.int("repeats"),
                           profile: try call.bool("profile"), log: { call.out($0) })
            compareWithTorch(rows, peers: try call.int("peers") == 1, log: { call.out($0) })
            return .none
        }
    }

    static var decode: VerbSpec {
        VerbSpec(name: "bench decode", summary: "Measure generation's prefill and decode tokens/s with the KV cache.",
                 arguments: [modelArgument(default: "smollm2"),
                             .key("prompt", .int, default: .number(16), range: 1...8192, help: "prompt tokens (seeded random ids)"),
                             .key("tokens", .int, default: .number(64), range: 2...8192, help: "new tokens per run (greedy, no EOS stop)"),
                             repeatsKey, peersKey],
                 help: """
                     Greedy generation with the KV cache, as `generate` runs it: prefill tok/s (the \
                     prompt and the first new token) and decode tok/s (every later token), the CPU, \
                     and the decode roof set by the read bandwidth measured in the same run (a \
                     decode step reads every weight once).
                     """ + "\n" + peersHelp,
                 examples: ["bench decode smollm2 prompt=16 tokens=64"]) { call in
            let rows = try benchDecode(model: { try loadModel(call.string("MODEL")) }, prompt: try call.int("prompt"), tokens: try call.int("tokens"),
                                       repeats: try call.int("repeats"), log: { call.out($0) })
            compareWithTorch(rows, peers: try call.int("peers") == 1, log: { call.out($0) })
            return .none
        }
    }
}
