// ByteTokenizer: ids are the UTF-8 bytes, BOS/EOS placement, exact round trips.
import QATTokenizer
import Testing

@Suite struct ByteTokenizerTests {
    @Test func idsAreBytes() {
        let tok = ByteTokenizer()
        #expect(tok.vocabSize == 258 && tok.bosId == 256 && tok.eosId == 257 && tok.addsBOS)
        #expect(tok.encode("Aé") == [256, 65, 0xC3, 0xA9])
        #expect(tok.encode("Aé", addSpecial: false, parseSpecial: true) == [65, 0xC3, 0xA9])
        #expect(ByteTokenizer(addBOS: false, addEOS: true).encode("A") == [65, 257])
        #expect(tok.encode("") == [256])
    }

    @Test func roundTrip() {
        let tok = ByteTokenizer()
        var rng = SeededRNG(seed: 3)
        for _ in 0..<200 {
            let s = randomText(&rng)
            #expect(Array(tok.decode(tok.encode(s)).utf8) == Array(s.utf8))
        }
        // BOS/EOS and out-of-range ids are skipped; a lone continuation byte becomes U+FFFD
        #expect(tok.decode([256, 72, 105, 257, 300, -1]) == "Hi")
        #expect(tok.decode([0xA9]) == "\u{FFFD}")
    }

    @Test func protocolUse() {
        let tokenizers: [any TextTokenizer] = [ByteTokenizer()]
        for t in tokenizers { #expect(t.decode(t.encode("x", addSpecial: false, parseSpecial: true)) == "x") }
    }
}
