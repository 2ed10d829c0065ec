// The tokenizer part of a GGUF export (layout item 2 in GGUFExport.swift): copied from the source
// GGUF when there is one, else rebuilt from the loaded tokenizer.
import QATIO
import QATModel
import QATTokenizer

enum GGUFTokenizerMetadata {
    /// Adds the `tokenizer.*` keys to `w`; returns where they came from ("copied from X",
    /// "rebuilt (gpt2, N tokens)").
    static func write(_ tokenizer: any TextTokenizer, source: String?, vocab: Int, into w: inout GGUFWriter, path: String) throws -> String {
        if let source, let file = try? ModelLoader.resolve(source), file.hasSuffix(".gguf") {
            let g = try GGUFFile(path: file)
            let tokens = g.metadata["tokenizer.ggml.tokens"]?.array?.count ?? 0
            if tokens == vocab {
                for key in g.metadataKeys where key.hasPrefix("tokenizer.") {
                    if let v = g.metadata[key] { w.set(key, v) }
                }
                return "copied from \(file)"
            }
        }
        guard tokenizer.vocabSize == vocab else {
            throw FormatError(file: path, "the tokenizer has \(tokenizer.vocabSize) tokens but the model's vocabulary is \(vocab); export the model with the tokenizer it was trained with")
        }
        func u32(_ id: Int32?) -> GGUFValue? { id.flatMap { UInt32(exactly: $0) }.map { .uint32($0) } }
        let tokens: [String], types: [Int32], merges: [String], pre: String
        var ids: [(String, Int32?)] = [("bos_token_id", tokenizer.bosId), ("eos_token_id", tokenizer.eosId)]
        if let bpe = tokenizer as? BPETokenizer {
            (tokens, types, merges, pre) = (bpe.ggufTokens, bpe.ggufTokenTypes, bpe.ggufMerges, bpe.ggufPreName)
            ids += [("unknown_token_id", bpe.unkId), ("padding_token_id", bpe.padId)]
        } else if tokenizer is ByteTokenizer {
            (tokens, types, merges, pre) = (ByteTokenizer.ggufTokens, ByteTokenizer.ggufTokenTypes, [], "default")
        } else {
            throw FormatError(file: path, "the model's tokenizer is neither byte-level BPE nor the byte tokenizer; GGUF export cannot write it")
        }
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string(pre))
        w.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
        w.set("tokenizer.ggml.token_type", .array(types.map { .int32($0) }))
        w.set("tokenizer.ggml.merges", .array(merges.map { .string($0) }))
        for (key, id) in ids { if let v = u32(id) { w.set("tokenizer.ggml.\(key)", v) } }
        w.set("tokenizer.ggml.add_bos_token", .bool(tokenizer.addsBOS))
        let addsEOS = (tokenizer as? BPETokenizer)?.addsEOS ?? (tokenizer as? ByteTokenizer)?.addsEOS ?? false
        w.set("tokenizer.ggml.add_eos_token", .bool(addsEOS))
        return "rebuilt (gpt2, \(tokens.count) tokens)"
    }
}
