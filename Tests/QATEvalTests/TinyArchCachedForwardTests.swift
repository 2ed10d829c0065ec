// The evaluation-side KV cache (CachedForward.swift, its own RoPE tables and q/k norms) on the
// tiny Llama-3-rope and Qwen3 models of Tests/QATModelTests/TinyArch: a context cached at any
// split and continued gives the logits of one full forward.
import Foundation
import QATModel
import QATTensor
import Testing
@testable import QATEval

@Suite struct TinyArchCachedForwardTests {
    @Test(arguments: ["llama3_rope", "qwen3"])
    func cachedForwardEqualsFullForward(_ name: String) throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("QATModelTests/TinyArch/\(name)").path
        let m = try ModelLoader.load(dir).model
        let ids: [Int32] = [256] + Array("The capital of Austria is Vienna.".utf8).map { Int32($0) }
        let full = try m.logits(ids)
        let v = m.vocabSize
        for split in [1, 7, ids.count - 1] {
            let (_, cache) = try m.forwardCached(Array(ids[..<split]), after: .empty)
            let (hidden, _) = try m.forwardCached(Array(ids[split...]), after: cache)
            let logits = try m.head(hidden).value
            var worst: Float = 0
            for i in 0..<(ids.count - split) * v { worst = max(worst, abs(logits.data[i] - full.data[split * v + i])) }
            #expect(worst < 1e-4, "\(name) split \(split): max |diff| \(worst)")
        }
    }
}
