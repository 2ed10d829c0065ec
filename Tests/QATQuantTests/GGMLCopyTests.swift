// A model in a llama.cpp format copied through a QATLab checkpoint (what `e2eqp` and the other
// verbs that change a model object do, QATToolkit's ModelObject.freshCopy): the checkpoint
// carries the format linears' full-precision weights and the copy gets quantizers over the same
// blocks. A checkpoint holds q/k in Hugging Face (rotate-half) row order and reads back as a
// rotate-half model, so an interleaved model's (a GGUF's) q/k block rows must be permuted as
// the checkpoint permuted its weights; the copy then computes the same function.
import Foundation
import QATModel
@testable import QATQuant
import QATTensor
import Testing

@Suite struct GGMLCopyTests {
    @Test(arguments: [RopeLayout.interleaved, .halfRotate])
    func aCopyThroughACheckpointKeepsTheBlocksInItsRowOrder(_ layout: RopeLayout) throws {
        let model = try TinyModels.model(seed: 31, vocab: 258, blocks: 2, ffn: 96, tied: true, layout: layout)
        try GGMLQuantization.apply(to: model, format: .q4_1)
        let tmp = try ScratchDir(), dir = tmp.sub("copy")
        try GGMLQuantization.withFormatLinearsSetAside(model) { try NativeCheckpoint.write(model, to: dir, method: "rtn", source: "test") }
        #expect(model.blocks.allSatisfy { $0.linears.allSatisfy { $0.quantizer is GGMLQuantizer } }, "the source keeps its quantizers")
        let copy = try QuantCheckpoint.read(dir).model
        try GGMLQuantization.copyQuantizers(from: model, to: copy)
        for (s, c) in zip(CheckpointIO.slots(model), CheckpointIO.slots(copy)) {
            let q = try #require(c.linear.quantizer as? GGMLQuantizer)
            // the copy's weight is the source's in the copy's row order (HF order for a rotate-half copy)
            let expected = CheckpointIO.rows(try #require(s.linear.quantizer as? GGMLQuantizer).weight, s.hfRows)
            #expect(q.weight.toArray().map(\.bitPattern) == expected.toArray().map(\.bitPattern), "\(s.module)")
        }
        let window: [Int32] = (0..<24).map { Int32(($0 * 37 + 5) % 258) }
        let a = try model.windowNLL(window), b = try copy.windowNLL(window)
        #expect(abs(a / b - 1) < 1e-5, "\(a) vs \(b)")
    }
}
