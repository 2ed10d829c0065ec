// Calibration and validation windows for training, as the reference draws them (scaled to a CPU):
// the text is tokenized as one stream; training windows are `seqlen`-token windows starting at
// seeded random offsets in the first 90% of the tokens, validation windows likewise in the last
// 10%, so no validation token is ever trained on. Batches keep the order the windows were drawn
// in (the reference does not reshuffle between epochs); `shuffle` reorders them per epoch.
import Foundation
import QATIO
import QATModel
import QATTensor
import QATTokenizer

public struct TrainingWindows: Sendable {
    public let train: [[Int32]]
    public let validation: [[Int32]]
    public var seqlen: Int { train.first?.count ?? 0 }
    /// FNV-1a 64 of the training windows' tokens, in hex: which windows a GPTQ base was built on.
    public var trainFingerprint: String {
        let tokens = train.flatMap { $0 }
        return String(format: "%016llx", tokens.withUnsafeBytes { fnv1a64w($0) } ^ UInt64(train.count))
    }

    public init(train: [[Int32]], validation: [[Int32]]) throws {
        guard let t = train.first?.count, t > 1, train.allSatisfy({ $0.count == t }), validation.allSatisfy({ $0.count == t }) else {
            throw TensorError.invalidArgument(op: "windows", message: "training windows must be non-empty and all of one length > 1")
        }
        self.train = train; self.validation = validation
    }

    /// Draws `samples` training and `validationSamples` validation windows from a token stream.
    public static func sample(tokens: [Int32], samples: Int, validationSamples: Int, seqlen: Int, seed: UInt64) throws -> TrainingWindows {
        let split = tokens.count * 9 / 10
        guard samples > 0, seqlen > 1, split > seqlen, tokens.count - split > seqlen || validationSamples == 0 else {
            throw TensorError.invalidArgument(op: "windows", message: "the text has \(tokens.count) tokens: too few for windows of \(seqlen) with a 90/10 train/validation split; use a longer text or a smaller seqlen")
        }
        var rng = SeededRandom(seed: seed)
        func draw(_ lo: Int, _ hi: Int, _ n: Int) -> [[Int32]] {
            (0..<n).map { _ in
                let start = lo + Int(rng.next() % UInt64(hi - lo - seqlen + 1))
                return Array(tokens[start..<(start + seqlen)])
            }
        }
        let train = draw(0, split, samples)
        let val = draw(split, tokens.count, validationSamples)
        return try TrainingWindows(train: train, validation: val)
    }

    /// Windows from a text (a path or a bundled name) and a tokenizer.
    public static func load(text: String, tokenizer: any TextTokenizer, samples: Int, validationSamples: Int, seqlen: Int, seed: UInt64) throws -> TrainingWindows {
        let tokens = tokenizer.encode(try TextCorpus.load(text), addSpecial: true, parseSpecial: false)
        return try sample(tokens: tokens, samples: samples, validationSamples: validationSamples, seqlen: seqlen, seed: seed)
    }
}

/// Batches of sample indices for one epoch: consecutive (fixed order) or a seeded permutation.
func epochBatches(samples: Int, batch: Int, shuffle: Bool, seed: UInt64) -> [[Int]] {
    var order = Array(0..<samples)
    if shuffle {
        var rng = SeededRandom(seed: seed)
        for i in stride(from: samples - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    }
    return stride(from: 0, to: samples - samples % batch, by: batch).map { Array(order[$0..<($0 + batch)]) }
}
