// Verbs over models: tokenize, ppl, generate. MODEL is a path or a name (see ModelLoader);
// TEXT for ppl is a path or a bundled text name (see TextCorpus).
import QATModel
import QATQuant
import QATTensor
import QATTokenizer

enum ModelVerbs {
    static let rows: [Verb] = [
        Verb(name: "tokenize", synopsis: "tokenize MODEL TEXT", keys: ["special"],
             help: "Print the token ids of TEXT (a string) as MODEL's tokenizer makes them, separated by spaces. special=0 adds no BOS/EOS.") { args, out in
            guard args.positional.count >= 2 else { throw VerbError("tokenize: expected MODEL and TEXT, e.g. tokenize smollm2 \"Hello world\"") }
            let tok = try loadTokenizer(args.positional[0])
            let text = args.positional[1...].joined(separator: " ")
            let ids = tok.encode(text, addSpecial: try args.int("special", default: 1, range: 0...1) == 1, parseSpecial: true)
            out(ids.map(String.init).joined(separator: " "))
        },
        Verb(name: "ppl", synopsis: "ppl MODEL TEXT [ctx=512] [max_windows=N]", keys: ["ctx", "max_windows"],
             help: "Perplexity of MODEL on TEXT (a file, or fortunes / devil / gnu-standards) in non-overlapping windows of ctx tokens. Ends with ppl=<value> tokens=<scored> tok_per_s=<rate>.") { args, out in
            guard args.positional.count == 2 else { throw VerbError("ppl: expected MODEL and TEXT, e.g. ppl smollm2 devil ctx=512") }
            let loaded = try loadModel(args.positional[0])
            let text = try TextCorpus.load(args.positional[1])
            let tokens = loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            let ctx = try args.int("ctx", default: 512, range: 2...loaded.model.config.maxPositions)
            let maxWindows = args.options["max_windows"] == nil ? nil : try args.int("max_windows", default: 1, range: 1...1_000_000)
            out("model=\(loaded.name) text=\(args.positional[1]) tokens_in_text=\(tokens.count) ctx=\(ctx) threads=\(Threads.count)")
            let r = try loaded.model.perplexity(tokens: tokens, ctx: ctx, maxWindows: maxWindows)
            out("ppl=\(fmt(r.perplexity, digits: 4)) tokens=\(r.scoredTokens) tok_per_s=\(fmt(r.tokensPerSecond, digits: 1))")
        },
        Verb(name: "generate", synopsis: "generate MODEL PROMPT [max=32] [chat=0]", keys: ["max", "chat"],
             help: "Greedy continuation of PROMPT (a sanity check). chat=1 wraps the prompt in the model's ChatML template as a user turn.") { args, out in
            guard args.positional.count >= 2 else { throw VerbError("generate: expected MODEL and PROMPT, e.g. generate smollm2 \"The capital of France is\" max=8") }
            let loaded = try loadModel(args.positional[0])
            var prompt = args.positional[1...].joined(separator: " ")
            if try args.int("chat", default: 0, range: 0...1) == 1 {
                prompt = "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n"
            }
            let ids = loaded.tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
            let new = try loaded.model.generate(prompt: ids, maxTokens: try args.int("max", default: 32, range: 1...4096),
                                                eos: loaded.tokenizer.eosId)
            out(loaded.tokenizer.decode(new))
        },
    ]

    static func loadTokenizer(_ spec: String) throws -> any TextTokenizer {
        try loadModel(spec).tokenizer
    }
}

/// MODEL as a QATLab or GPTQ checkpoint directory, else anything ModelLoader takes.
func loadModel(_ spec: String) throws -> LoadedModel {
    if QuantCheckpoint.isCheckpoint(spec) { return try QuantCheckpoint.load(spec).loaded }
    return try ModelLoader.load(spec)
}
