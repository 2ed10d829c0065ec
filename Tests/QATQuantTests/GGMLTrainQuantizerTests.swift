// The trainable format quantizer (GGMLTrainQuantizer.swift) starts at llama.cpp's RTN: before
// any step its blocks are `quantize format=F`'s bytes, which GGMLFormatTests checks against
// llama.cpp's own reference (the committed goldens), here on real weights: SmolLM2's down_proj
// (1536 inputs, whole super-blocks) and the golden oracle input. The straight-through gradient
// of the 16-element sub-block scales is checked on a hand-built super-block.
import Foundation
import QATAutograd
import QATIO
import QATModel
@testable import QATQuant
import QATTensor
import Testing

@Suite(.serialized) struct GGMLTrainQuantizerTests {
    static let kFormats = ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]

    /// The trainer's first blocks, forward and hardened bytes all equal the format's RTN.
    static func expectStartsAtRTN(_ w: Tensor, _ name: String, _ what: String) throws {
        let f = try GGMLFormats.named(name)
        let q = try GGMLTrainQuantizer(weight: w, format: f)
        let rtn = try f.quantize(w)
        #expect(try q.harden(weight: w).bytes == rtn, "\(what) \(name): hardened bytes")
        let forward = try q.effectiveWeight(Var(w)).value.toArray()
        #expect(forward.map(\.bitPattern) == (try f.decode(rtn)).map(\.bitPattern), "\(what) \(name): forward")
    }

    @Test(arguments: kFormats)
    func startsAtLlamaCppRTNOnSmolLM2DownProj(_ name: String) throws {
        let m = try ptqLoadSmolLM2().model
        for b in [0, 15, 29] {
            try Self.expectStartsAtRTN(m.blocks[b].down.weight.value, name, "SmolLM2 blocks.\(b).down_proj")
        }
    }

    /// tiny's down_proj is its only linear of whole super-blocks (256 inputs).
    @Test(arguments: kFormats)
    func startsAtLlamaCppRTNOnTinyDownProj(_ name: String) throws {
        let m = try ModelLoader.load("tiny").model
        for (b, block) in m.blocks.enumerated() {
            try Self.expectStartsAtRTN(block.down.weight.value, name, "tiny blocks.\(b).down_proj")
        }
    }

    @Test(arguments: kFormats)
    func startsAtLlamaCppRTNOnTheGoldenInput(_ name: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/ggml/input.f32")
        let bytes = [UInt8](try Data(contentsOf: url))
        let x = stride(from: 0, to: bytes.count, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
        try Self.expectStartsAtRTN(try Tensor(shape: [25, 256], x), name, "golden input")
    }

    /// q3_k, one super-block whose 16 sub-blocks all hold the values 0.01 * (i - 8): RTN fits one
    /// signed scale, and with d*sc the effective scale s of sub-block 0 the code of x is
    /// clamp(nearest(x / s), -4, 3) + 4. With g = 1 on every element of sub-block 0 and s moved to
    /// 0.012 the STE gradient is the sum over its 16 elements of (q - 4) - x / s inside the range
    /// and q - 4 outside, computed here from the definition.
    @Test func q3KScaleGradientIsTheLSQSumOverItsSixteenElements() throws {
        let x = (0..<256).map { Float($0 % 16 - 8) * 0.01 }
        let w = try Tensor(shape: [1, 256], x)
        let q = try GGMLTrainQuantizer(weight: w, format: .q3_k)
        #expect(q.scales.shape == [1, 16] && q.parameters.count == 1)
        let d = HalfFloat.float(fromHalf: q.rtnBlocks[0].d)
        q.scales.value.data[0] = 0.012
        let sc = Float(max(-32, min(31, Int((0.012 / d).rounded())))), s = d * sc
        let out = try q.effectiveWeight(Var(w))
        let g = try Tensor(shape: [1, 256], (0..<256).map { $0 < 16 ? 1 : 0 })
        try (out * Var(g)).sum().backward()
        var expected: Float = 0
        for i in 0..<16 {
            let t = x[i] / s, code = Float(max(-4, min(3, Int(t.rounded()))))
            expected += t >= -4.5 && t <= 3.5 ? code - t : code
        }
        let got = try #require(q.scales.grad).toArray()
        #expect(abs(got[0] - expected) <= 1e-4 * max(1, abs(expected)), "\(got[0]) vs \(expected)")
        #expect(got[1...].allSatisfy { $0 == 0 })
    }
}
