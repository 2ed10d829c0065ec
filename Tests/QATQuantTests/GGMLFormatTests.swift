// Quantizers in llama.cpp's block formats (GGMLFormat.swift) against the committed goldens of
// Tests/Oracles/ggml_quant_golden.py (Golden/ggml/): the `gguf` package's numpy quantizers for the
// legacy types, ggml's own C quantize_row_*_ref for the k-quants and quantize_iq4_nl for iq4_nl,
// gguf's dequantization for all.
import Foundation
import QATAutograd
import QATIO
import QATModel
import QATQuant
import QATTensor
import Testing

private let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/ggml")

func goldenBytes(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: golden.appendingPathComponent(name)))
}

func goldenFloats(_ name: String) throws -> [Float] {
    let bytes = try goldenBytes(name)
    return stride(from: 0, to: bytes.count, by: 4).map { i in
        Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
    }
}

/// The oracle's 6400 input values as one (25, 256) weight: 25 super-blocks, 200 legacy blocks.
func goldenInput() throws -> Tensor {
    try Tensor(shape: [25, 256], try goldenFloats("input.f32"))
}

/// Index of the first block whose bytes differ, for a readable failure.
func firstDifferingBlock(_ a: [UInt8], _ b: [UInt8], size: Int) -> Int? {
    guard a.count == b.count else { return -1 }
    return stride(from: 0, to: a.count, by: size).first { a[$0..<($0 + size)] != b[$0..<($0 + size)] }.map { $0 / size }
}

@Suite struct GGMLFormatTests {
    @Test(arguments: GGMLFormats.all.map(\.name))
    func rtnEqualsLlamaCppReferenceBitForBit(_ name: String) throws {
        let format = try GGMLFormats.named(name)
        let bytes = try format.quantize(try goldenInput())
        let expected = try goldenBytes("\(name).bin")
        #expect(bytes.count == expected.count)
        #expect(firstDifferingBlock(bytes, expected, size: format.type.bytesPerBlock) == nil, "\(name): first differing block")
    }

    @Test(arguments: GGMLFormats.all.map(\.name))
    func decoderEqualsGGUFDequantization(_ name: String) throws {
        let format = try GGMLFormats.named(name)
        let decoded = try format.decode(try goldenBytes("\(name).bin"))
        let expected = try goldenFloats("\(name).dequant.f32")
        #expect(decoded.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test(arguments: GGMLFormats.all.map(\.name))
    func blockEncoderRebuildsTheBytes(_ name: String) throws {
        let format = try GGMLFormats.named(name)
        let input = try goldenInput()
        let blocks = try format.quantizeBlocks(input)
        #expect(blocks.count == 6400 / format.blockSize)
        #expect(try format.encode(blocks) == (try goldenBytes("\(name).bin")))
    }

    @Test(arguments: GGMLFormats.all.map(\.name))
    func quantizerWeightIsTheDecodedBlocks(_ name: String) throws {
        let format = try GGMLFormats.named(name)
        let input = try goldenInput()
        let linear = Linear(name: "w", weight: input)
        linear.quantizer = try GGMLQuantizer(weight: input, format: format)
        let w = try linear.effectiveWeight()
        #expect(w.value.shape == [25, 256])
        #expect((0..<w.value.count).map { w.value.data[$0].bitPattern } == (try goldenFloats("\(name).dequant.f32")).map(\.bitPattern))
    }

    @Test func averageBitsIsTheStoredBitsOfTheFormat() throws {
        let expected: [String: Double] = ["q4_0": 4.5, "q4_1": 5, "q5_0": 5.5, "q5_1": 6, "q8_0": 8.5,
                                          "q2_k": 2.625, "q3_k": 3.4375, "q4_k": 4.5, "q5_k": 5.5, "q6_k": 6.5625, "iq4_nl": 4.5]
        let input = try goldenInput()
        for format in GGMLFormats.all {
            let linear = Linear(name: "w", weight: input)
            linear.quantizer = try GGMLQuantizer(weight: input, format: format)
            #expect(AverageBits.perWeight(linear) == expected[format.name], "\(format)")
        }
    }

    @Test func refusesRowsThatAreNotWholeBlocks() throws {
        let w = try Tensor(shape: [2, 96], [Float](repeating: 0.5, count: 192))
        #expect(throws: TensorError.self) { _ = try GGMLFormat.q4_k.quantize(w) }
        #expect(throws: TensorError.self) { _ = try GGMLFormat.q4_0.quantize(try Tensor(shape: [1, 40], [Float](repeating: 1, count: 40))) }
        #expect(GGMLFormat.q4_k.fallback == GGMLFormat.q5_0)
        #expect(GGMLFormat.q2_k.fallback == GGMLFormat.q4_0 && GGMLFormat.q3_k.fallback == GGMLFormat.q4_0)
        #expect(GGMLFormat.iq4_nl.fallback == nil)
        var nan = [Float](repeating: 0.5, count: 256); nan[7] = .nan
        #expect(throws: TensorError.self) { _ = try GGMLFormat.q6_k.quantize(try Tensor(shape: [1, 256], nan)) }
    }

    @Test func encoderRefusesFieldsOutOfRange() throws {
        let good = try GGMLFormat.q4_k.quantizeBlocks(try goldenInput())[0]
        var badScale = good; badScale.scales[3] = 64
        var badCode = good; badCode.codes[0] = 16
        var short = good; short.codes.removeLast()
        for bad in [badScale, badCode, short] {
            #expect(throws: TensorError.self) { _ = try GGMLFormat.q4_k.encode([bad]) }
        }
        #expect(throws: TensorError.self) { _ = try GGMLFormats.named("q7_k") }
    }
}
