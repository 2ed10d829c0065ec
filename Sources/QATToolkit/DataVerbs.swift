// Data verbs: `text` (a whole text, optionally tokenized) and `calib` (training and validation
// windows). Both return dataset objects that ppl (TEXT), quantize, blockap and e2eqp (calib=) take.
//
// Windows are drawn as TrainingWindows does: training windows at seeded random offsets in the
// first 90% of the tokens, validation windows in the last 10%, so no validation token is trained on.
import QATInterp
import QATModel
import QATSweep
import QATTensor
import QATTrain

enum DataVerbs {
    static var rows: [VerbSpec] { [text, calib] }

    static var text: VerbSpec {
        VerbSpec(name: "text", summary: "A text as a dataset (tokenized too when model= is given).",
                 arguments: [
                    .positional("TEXT", .string, help: """
                        fortunes, devil, gnu-standards, python (code), or a path (plain text, or .jsonl with a \
                        \"text\" field)
                        """),
                    .key("model", modelKind, help: "tokenize with this model's tokenizer"),
                 ],
                 help: """
                     The bundled texts are unpacked by setup.sh into Data/text/. The value prints \
                     as `<dataset> text NAME: N bytes, N lines[, N tokens]`.
                     """,
                 examples: ["t = text devil", "t = text /usr/share/common-licenses/GPL-3 model=m", "ppl m $t ctx=256"]) { call in
            let spec = try call.string("TEXT")
            let body = try TextCorpus.load(spec)
            guard call.has("model") else { return .object(DatasetObject(name: spec, content: .text(body, tokens: nil), vocabSize: nil)) }
            let m = try call.model("model")
            let ids = m.loaded.tokenizer.encode(body, addSpecial: true, parseSpecial: false)
            return .object(DatasetObject(name: spec, content: .text(body, tokens: ids), vocabSize: m.model.vocabSize))
        }
    }

    static var calib: VerbSpec {
        VerbSpec(name: "calib", summary: "Training and validation windows of a text, tokenized for a model (a dataset).",
                 arguments: [
                    .positional("MODEL", modelKind, help: "whose tokenizer makes the tokens"),
                    .positional("TEXT", textKind, default: .string("fortunes"), help: "a text name, path or `text` dataset"),
                    .key("samples", .int, default: .number(128), range: 1...1_000_000, help: "training windows"),
                    .key("val", .int, default: .number(16), range: 0...100_000, help: "validation windows"),
                    .key("seqlen", .int, default: .number(256), range: 2...32768, help: "tokens per window"),
                    seedKey(2, "window offsets"),
                 ],
                 help: """
                     Give the dataset to blockap, e2eqp or quantize as calib=$d (quantize uses the \
                     training windows).
                     """,
                 examples: ["d = calib m fortunes samples=32 val=8 seqlen=128", "b = blockap m calib=$d blocks=0:2"]) { call in
            let m = try call.model("MODEL")
            let ids: [Int32], label: String
            if let d = call.dataset("TEXT") {
                guard case let .text(t, tokens) = d.content else {
                    throw InterpError.verb("TEXT is already a dataset of windows", hint: "give a text name, a path or a `text` dataset")
                }
                try checkVocabulary(d, m)
                ids = tokens ?? m.loaded.tokenizer.encode(t, addSpecial: true, parseSpecial: false)
                label = d.name
            } else {
                label = try call.string("TEXT")
                ids = try cachedTokens(m, text: try TextCorpus.load(label), label: label)   // shared by sweep tasks (SweepCache.swift)
            }
            let s = try seed(call)
            let w = try TrainingWindows.sample(tokens: ids, samples: try call.int("samples"), validationSamples: try call.int("val"),
                                               seqlen: try call.int("seqlen"), seed: s)
            return .object(DatasetObject(name: label, content: .windows(w), vocabSize: m.model.vocabSize, details: "seed=\(s) model=\(m.loaded.name)"))
        }
    }
}

/// The token ids of a text for a model's tokenizer, through SharedCache.current when there is
/// one. The key names the model, its vocabulary size, the text's label and a hash of its bytes.
func cachedTokens(_ model: ModelObject, text: String, label: String) throws -> [Int32] {
    let encode = { model.loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: false) }
    guard let cache = SharedCache.current else { return encode() }
    let key = "tokens/\(model.loaded.name)/vocab\(model.model.vocabSize)/\(label)/\(hex16(fnv1a64(Array(text.utf8))))"
    let bytes = cache.value(key) {
        encode().withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    }
    guard bytes.count % 4 == 0 else { throw VerbError("cache entry \(cache.path(for: key)) holds \(bytes.count) bytes, not whole Int32 token ids; delete it") }
    var ids = [Int32](repeating: 0, count: bytes.count / 4)
    ids.withUnsafeMutableBytes { out in bytes.withUnsafeBytes { out.copyMemory(from: $0) } }
    return ids
}
