// IQ4_NL (GGMLIQ4NL.swift) beyond the golden blocks GGMLFormatTests checks for every format:
// ggml's best_index_int8 rule on hand-picked values, and the trainable quantizer
// (GGMLTrainQuantizer+IQ4NL.swift): its first forward is llama.cpp's quantize_iq4_nl (the
// committed golden from ggml's C), any d gives the weight ggml decodes from the bytes `harden`
// stores, and its straight-through gradients on a hand-worked block.
import QATAutograd
import QATIO
import QATTensor
import Testing

@testable import QATQuant

@Suite struct GGMLIQ4NLTests {
    /// Levels -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113 (indices 0...15): a value
    /// halfway between two levels takes the upper one; beyond the ends, the end.
    @Test func bestIndexIsGGMLsNearestLevelWithTiesUp() {
        let cases: [(Float, Int)] = [(-1000, 0), (-127, 0), (-115.5, 1), (-115.6, 0), (-4.5, 8), (-4.6, 7),
                                     (0, 8), (7, 9), (6.99, 8), (101, 15), (100.9, 14), (113, 15), (1e9, 15), (.nan, 15)]
        for (x, want) in cases { #expect(GGMLIQ4NL.bestIndex(x) == want, "x = \(x)") }
    }

    /// A block below ggml's 1e-15 threshold stores d = 0 and the code nearest 0 (index 8, level 1).
    @Test func emptyBlockIsZeroScaleAndTheCodeNearestZero() throws {
        let block = try GGMLFormat.iq4_nl.quantizeBlocks(try Tensor(shape: [1, 32], [Float](repeating: 1e-16, count: 32)))
        #expect(block == [GGMLBlock(d: 0, codes: [UInt8](repeating: 8, count: 32))])
    }

    @Test func trainableFirstForwardIsLlamaCppRTNBitForBit() throws {
        let input = try goldenInput()
        let q = try GGMLIQ4NLTrainQuantizer(weight: input)
        let forward = try q.effectiveWeight(Var(input)).value.toArray()
        #expect(forward.map(\.bitPattern) == (try goldenFloats("iq4_nl.dequant.f32")).map(\.bitPattern))
        let hard = try q.harden(weight: input)
        #expect(firstDifferingBlock(hard.bytes, try goldenBytes("iq4_nl.bin"), size: 18) == nil)
        #expect(hard.format == .iq4_nl)
    }

    /// d moved off RTN as training moves it (scaled, sign-flipped, zero, huge): the forward weight
    /// is still ggml's decoding of the bytes `harden` writes.
    @Test func trainableForwardIsTheDecodedBlocksForAnyScale() throws {
        let w = try Tensor.randn([4, 96], seed: 5, std: 0.05)
        let q = try GGMLIQ4NLTrainQuantizer(weight: w)
        let d = q.scales.value.data
        for i in 0..<q.scales.value.count { d[i] *= [0.7, -1.3, 0, 1e6, 1.1][i % 5] }
        let forward = try q.effectiveWeight(Var(w)).value.toArray()
        let hard = try q.harden(weight: w)
        #expect(forward.map(\.bitPattern) == (try GGMLFormat.iq4_nl.decode(hard.bytes)).map(\.bitPattern))
        #expect(forward.map(\.bitPattern) == hard.weight.toArray().map(\.bitPattern))
    }

    /// Row 0, d = 1: x = 7 is halfway between levels 1 and 13 -> 13 (inside: dW 1, dd 13 - 7 = 6);
    /// 200 -> 113 and -300 -> -127 (outside: dW 0, dd 113 and -127); 29 zeros -> level 1 (inside:
    /// dW 1, dd 1 - 0 each). dd = 6 + 113 - 127 + 29 = 21. Row 1, d = 0: every code 8, weight 0,
    /// dW 0, dd = 32 * level 1 = 32. Upstream gradient 1 everywhere (sum).
    @Test func straightThroughGradientsByHand() throws {
        var x = [Float](repeating: 0, count: 64)
        x[0] = 7; x[1] = 200; x[2] = -300
        for j in 32..<64 { x[j] = 0.5 }
        let w = Var(try Tensor(shape: [2, 32], x), requiresGrad: true)
        let q = try GGMLIQ4NLTrainQuantizer(weight: w.value)
        q.scales.value.data[0] = 1; q.scales.value.data[1] = 0
        let y = try q.effectiveWeight(w)
        #expect(Array(y.value.toArray()[0..<4]) == [13, 113, -127, 1])
        #expect(y.value.toArray()[32..<64].allSatisfy { $0 == 0 })
        try y.sum().backward()
        let dw = try #require(w.grad).toArray()
        #expect(Array(dw[0..<3]) == [1, 0, 0] && dw[3..<32].allSatisfy { $0 == 1 } && dw[32..<64].allSatisfy { $0 == 0 })
        #expect(q.scales.grad?.toArray() == [21, 32])
        #expect(q.parameters.map(\.0) == ["scales"])
    }

    /// Block-AP's factory picks the IQ4_NL trainer for iq4_nl and the grid trainer otherwise.
    @Test func factoryPicksTheTrainerByFormat() throws {
        let w = try Tensor.randn([2, 256], seed: 3, std: 0.05)
        #expect(try GGMLTrainables.make(weight: w, format: .iq4_nl) is GGMLIQ4NLTrainQuantizer)
        #expect(try GGMLTrainables.make(weight: w, format: .q4_k) is GGMLTrainQuantizer)
        #expect(throws: TensorError.self) { _ = try GGMLIQ4NLTrainQuantizer(weight: try Tensor(shape: [1, 40], [Float](repeating: 1, count: 40))) }
    }
}
