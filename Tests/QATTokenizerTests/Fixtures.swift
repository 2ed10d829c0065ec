// Shared fixtures of the tokenizer tests: the golden directory (found via #filePath), SmolLM2's
// vocabulary (written by Tests/Oracles/tokenizer_golden.py from the GGUF), the golden cases, and
// a seeded random source.
import Foundation
import QATTokenizer

enum Fixtures {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: golden.appendingPathComponent(name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError(file: name, "golden file is not a JSON object")
        }
        return obj
    }

    /// SmolLM2-135M-Instruct's tokenizer, built from the GGUF metadata in smollm2_vocab.json (once).
    static let smol: Result<BPETokenizer, Error> = Result {
        let v = try json("smollm2_vocab.json")
        func id(_ key: String) -> Int32? { (v[key] as? Int).map { Int32($0) } }
        return try BPETokenizer(
            tokens: v["tokens"] as? [String] ?? [], tokenTypes: (v["token_types"] as? [Int] ?? []).map { Int32($0) },
            merges: v["merges"] as? [String] ?? [], pre: v["pre"] as? String ?? "",
            bosId: id("bos_id"), eosId: id("eos_id"), unkId: id("unk_id"), padId: id("pad_id"),
            addBOS: v["add_bos"] as? Bool ?? false, addEOS: v["add_eos"] as? Bool ?? false,
            source: "smollm2_vocab.json")
    }

    struct Case { let text: String; let ids: [Int32]; let idsNoSpecial: [Int32] }

    static let cases: Result<[Case], Error> = Result {
        let g = try json("smollm2_golden.json")
        return (g["cases"] as? [[String: Any]] ?? []).map {
            Case(text: $0["text"] as? String ?? "?",
                 ids: ($0["ids"] as? [Int] ?? []).map { Int32($0) },
                 idsNoSpecial: ($0["ids_no_special"] as? [Int] ?? []).map { Int32($0) })
        }
    }
}

/// SplitMix64: a seeded, reproducible random source for the property tests.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random printable text mixing ASCII, whitespace, digits, Latin-1, Cyrillic, CJK, emoji,
/// combining marks, other-script digits and SmolLM2's special-token texts.
func randomText(_ rng: inout SeededRNG, maxLength: Int = 40) -> String {
    let pools: [ClosedRange<UInt32>] = [
        0x20...0x7E, 0x20...0x7E, 0x30...0x39, 0x09...0x0D, 0xA0...0xFF, 0x400...0x4FF,
        0x4E00...0x4FFF, 0x1F600...0x1F64F, 0x300...0x36F, 0x660...0x669, 0x3000...0x3003, 0x2000...0x200B,
    ]
    let specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start", "|>"]
    var s = ""
    for _ in 0..<Int.random(in: 0...maxLength, using: &rng) {
        if Int.random(in: 0..<30, using: &rng) == 0 { s += specials.randomElement(using: &rng) ?? ""; continue }
        let pool = pools[Int.random(in: 0..<pools.count, using: &rng)]
        if let u = Unicode.Scalar(UInt32.random(in: pool, using: &rng)) { s.unicodeScalars.append(u) }
    }
    return s
}
