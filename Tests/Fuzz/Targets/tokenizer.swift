// Fuzz target `tokenizer`: BPETokenizer.fromHuggingFace (tokenizer.json: model, vocab, merges,
// added tokens, special tokens, pre-tokenizer) and, when it loads, encoding and decoding a text
// with special tokens in it.
// Seeds: the tiny tokenizer.json of the tokenizer tests.
import QATTokenizer

func fuzzOne(_ data: [UInt8]) {
    let path = scratchDir + "/tokenizer.json"
    writeFile(path, data)
    guard let t = try? BPETokenizer.fromHuggingFace(path: path) else { return }
    let ids = t.encode("Hello <|endoftext|> wörld 123\n\t  x", addSpecial: true, parseSpecial: true)
    _ = t.decode(ids)
}

func makeSeeds(into dir: String) {
    writeFile(dir + "/tiny_tokenizer.json", readFile(repoRoot + "/Tests/QATTokenizerTests/Golden/tiny_tokenizer.json"))
}
