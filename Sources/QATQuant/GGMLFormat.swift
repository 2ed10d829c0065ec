// Quantization in llama.cpp's own block formats (issue 28): a table of formats, sibling to the
// grid table of QuantGrid.swift, one row per ggml type (q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k
// q5_k q6_k iq4_nl). Each row names its ggml type (QATIO's GGMLType: id, block size, bytes per block
// and the bit-exact decoder), llama.cpp's reference quantizer for the type (round to nearest as
// llama.cpp does it, GGMLLegacyQuants.swift, GGMLKQuants.swift, GGMLIQ4NL.swift) and its block encoder
// (GGMLPacking.swift: the parameters and codes of one block -> its bytes in ggml's layout).
//
// Why a sibling table and not rows of QuantGrid: a QuantGrid row is one scale and one zero per
// group with W = (q - z') * s'. ggml's types are not all of that form. The k-quants have two
// levels of scales (fp16 d and dmin per 256-element super-block, 4- or 6-bit integer scales and
// mins per 16- or 32-element sub-block) and the legacy "_1" types and the k-quants with mins
// dequantize as d*q + m (or (d*sc)*q - dmin*mn), which is not (q - z)*s in float arithmetic. So
// a format-quantized weight is held as what llama.cpp stores, its blocks, and its effective
// weight is ggml's own decoder run on them: the weight QATLab computes with is, bit for bit, the
// weight llama.cpp computes with, and exporting it is copying the blocks.
//
// A weight (rows, cols) in a format is its rows one after another, each row cols / blockSize
// blocks (cols must be a multiple of the block size: 32 for the legacy types, 256 for the
// k-quants, as in a GGUF file). llama.cpp itself quantizes a tensor whose rows are not whole
// super-blocks with a fallback type (llama-quant.cpp): q2_k and q3_k -> q4_0, q4_k -> q5_0,
// q5_k -> q5_1, q6_k -> q8_0; `fallback` names it. These are the rules of llama.cpp commit 0c1e570,
// the one llama-cpp-python 0.3.36 vendors and Tests/Oracles/llamacpp_quantize_check.py judges
// with; older llama-quant.cpp sent q2_k and q3_k to IQ4_NL, which QATLab has as `iq4_nl`.
//
// Bits per weight are the stored bits, 8 * bytesPerBlock / blockSize (q4_0 4.5, q4_k 4.5, q2_k
// 2.625, q3_k 3.4375, q6_k 6.5625, iq4_nl 4.5): AverageBits counts a format-quantized linear by this.
import QATIO
import QATTensor

/// One block of a ggml type as numbers: the fp16 super-block (or block) scales, the integer
/// sub-block scales and mins, and the codes, each exactly as the type stores it.
public struct GGMLBlock: Sendable, Equatable {
    /// fp16 bits of d.
    public var d: UInt16 = 0
    /// fp16 bits of the second fp16 field: m (q4_1, q5_1) or dmin (q2_k, q4_k, q5_k); else 0.
    public var m: UInt16 = 0
    /// Sub-block scales as stored: q2_k 0...15, q3_k 0...63 (biased by 32), q4_k/q5_k 0...63,
    /// q6_k -128...127; empty for the legacy types.
    public var scales: [Int] = []
    /// Sub-block mins: q2_k 0...15, q4_k/q5_k 0...63; empty otherwise.
    public var mins: [Int] = []
    /// The block's codes in element order: q4_0/q4_1/q4_k 0...15, q5_0/q5_1/q5_k 0...31, q8_0
    /// Int8 bit patterns, q2_k 0...3, q3_k 0...7 (the signed -4...3 plus 4), q6_k 0...63,
    /// iq4_nl 0...15 (indices into IQ4NL.values).
    public var codes: [UInt8] = []

    public init(d: UInt16 = 0, m: UInt16 = 0, scales: [Int] = [], mins: [Int] = [], codes: [UInt8] = []) {
        self.d = d; self.m = m; self.scales = scales; self.mins = mins; self.codes = codes
    }
}

public struct GGMLFormat: Sendable, Equatable, CustomStringConvertible {
    /// The ggml type's name in lower case, as format= takes it ("q4_k").
    public let name: String
    public let type: GGMLType
    /// One line for listings.
    public let summary: String
    /// Sub-blocks per block and their allowed scale / min ranges (GGMLBlock's fields).
    public let subBlocks: Int
    public let scaleRange: ClosedRange<Int>?
    public let minRange: ClosedRange<Int>?
    /// Largest stored code.
    public let maxCode: Int
    /// What llama.cpp quantizes a tensor to when its rows are not whole blocks of this type
    /// (llama-quant.cpp's fallback); nil for the 32-element types, which have none.
    public let fallbackName: String?
    /// llama.cpp's reference quantizer of one block: blockSize floats -> its block.
    let quantizeBlock: @Sendable (UnsafePointer<Float>) -> GGMLBlock
    /// The block encoder: one block -> bytesPerBlock bytes at the pointer (fields in range).
    let pack: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void

    public var blockSize: Int { type.blockSize }
    /// Stored bits per weight: 8 * bytesPerBlock / blockSize.
    public var bitsPerWeight: Double { Double(8 * type.bytesPerBlock) / Double(type.blockSize) }
    public static func == (a: GGMLFormat, b: GGMLFormat) -> Bool { a.name == b.name }
    public var description: String { name }

    /// The fallback row (see `fallbackName`).
    public var fallback: GGMLFormat? { fallbackName.flatMap { try? GGMLFormats.named($0) } }

    /// llama.cpp's reference quantization (round to nearest, no importance matrix) of a
    /// (rows, cols) weight, as blocks (row-major). cols must be a whole number of blocks.
    public func quantizeBlocks(_ weight: Tensor) throws -> [GGMLBlock] {
        let (rows, cols) = try shape(of: weight)
        let perRow = cols / blockSize
        var blocks = [GGMLBlock](repeating: GGMLBlock(), count: rows * perRow)
        let w = weight.data
        blocks.withUnsafeMutableBufferPointer { out in
            parallelFor(rows, costPerItem: 40 * cols) { range in
                for r in range {
                    for b in 0..<perRow { out[r * perRow + b] = quantizeBlock(w + r * cols + b * blockSize) }
                }
            }
        }
        return blocks
    }

    /// The same quantization straight to ggml's bytes (what a GGUF file stores for the tensor).
    public func quantize(_ weight: Tensor) throws -> [UInt8] {
        let (rows, cols) = try shape(of: weight)
        let perRow = cols / blockSize, size = type.bytesPerBlock
        var bytes = [UInt8](repeating: 0, count: rows * perRow * size)
        let w = weight.data
        bytes.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            parallelFor(rows, costPerItem: 40 * cols) { range in
                for r in range {
                    for b in 0..<perRow { pack(quantizeBlock(w + r * cols + b * blockSize), base + (r * perRow + b) * size) }
                }
            }
        }
        return bytes
    }

    /// The ggml bytes of `blocks` (the block encoder); a field out of the type's range is an error.
    public func encode(_ blocks: [GGMLBlock]) throws -> [UInt8] {
        for (i, block) in blocks.enumerated() { try check(block, index: i) }
        var bytes = [UInt8](repeating: 0, count: blocks.count * type.bytesPerBlock)
        bytes.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            for (i, block) in blocks.enumerated() { pack(block, base + i * type.bytesPerBlock) }
        }
        return bytes
    }

    /// ggml's dequantization of `bytes` (whole blocks) with QATIO's decoder.
    public func decode(_ bytes: [UInt8]) throws -> [Float] {
        guard bytes.count % type.bytesPerBlock == 0 else {
            throw TensorError.invalidArgument(op: "ggml decode", message: "\(bytes.count) bytes are not whole \(name) blocks of \(type.bytesPerBlock) bytes")
        }
        let blocks = bytes.count / type.bytesPerBlock
        var out = [Float](repeating: 0, count: blocks * blockSize)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                if let s = src.baseAddress, let d = dst.baseAddress { type.decode(s, d, blocks) }
            }
        }
        return out
    }

    /// (rows, cols) of a weight this format can hold, or an error saying why not.
    func shape(of weight: Tensor) throws -> (Int, Int) {
        guard weight.rank == 2 else {
            throw TensorError.invalidShape(op: "format \(name)", shape: weight.shape, hint: "the weight must be (out, in)")
        }
        let cols = weight.shape[1]
        guard cols % blockSize == 0 else {
            throw TensorError.invalidArgument(op: "format \(name)", message: "rows of \(cols) inputs are not whole \(name) blocks of \(blockSize); \(name) needs an input size that is a multiple of \(blockSize)\(fallbackName.map { " (llama.cpp quantizes such tensors as \($0))" } ?? "")")
        }
        if let i = (0..<weight.count).first(where: { !weight.data[$0].isFinite }) {
            throw TensorError.invalidArgument(op: "format \(name)", message: "the weight holds \(weight.data[i]) at flat index \(i); expected finite values")
        }
        return (weight.shape[0], cols)
    }

    /// Block `index` has this type's field counts and ranges.
    func check(_ b: GGMLBlock, index: Int) throws {
        func fail(_ what: String) -> TensorError {
            TensorError.invalidArgument(op: "encode \(name)", message: "block \(index): \(what)")
        }
        guard b.codes.count == blockSize else { throw fail("\(b.codes.count) codes, expected \(blockSize)") }
        if name != "q8_0", let bad = b.codes.first(where: { Int($0) > maxCode }) { throw fail("code \(bad) above \(maxCode)") }
        let wantScales = scaleRange == nil ? 0 : subBlocks, wantMins = minRange == nil ? 0 : subBlocks
        guard b.scales.count == wantScales, b.mins.count == wantMins else {
            throw fail("\(b.scales.count) scales and \(b.mins.count) mins, expected \(wantScales) and \(wantMins)")
        }
        if let r = scaleRange, let bad = b.scales.first(where: { !r.contains($0) }) { throw fail("scale \(bad) outside \(r)") }
        if let r = minRange, let bad = b.mins.first(where: { !r.contains($0) }) { throw fail("min \(bad) outside \(r)") }
    }
}

public enum GGMLFormats {
    /// Every format, in the order listings show them.
    public static let all: [GGMLFormat] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl]

    /// The row called `name` (case-insensitive); an unknown name is an error listing the known ones.
    public static func named(_ name: String) throws -> GGMLFormat {
        guard let row = all.first(where: { $0.name == name.lowercased() }) else {
            throw TensorError.invalidArgument(op: "format", message: "unknown format '\(name)'; the formats are \(all.map(\.name).joined(separator: ", "))")
        }
        return row
    }
}

extension GGMLFormat {
    public static let q4_0 = GGMLFormat(name: "q4_0", type: .q4_0, summary: "32-element blocks, fp16 d, w = d * (q - 8), q in 0...15",
                                        subBlocks: 1, scaleRange: nil, minRange: nil, maxCode: 15, fallbackName: nil,
                                        quantizeBlock: GGMLLegacy.q4_0, pack: GGMLPack.q4_0)
    public static let q4_1 = GGMLFormat(name: "q4_1", type: .q4_1, summary: "32-element blocks, fp16 d and m, w = d * q + m, q in 0...15",
                                        subBlocks: 1, scaleRange: nil, minRange: nil, maxCode: 15, fallbackName: nil,
                                        quantizeBlock: GGMLLegacy.q4_1, pack: GGMLPack.q4_1)
    public static let q5_0 = GGMLFormat(name: "q5_0", type: .q5_0, summary: "32-element blocks, fp16 d, w = d * (q - 16), q in 0...31",
                                        subBlocks: 1, scaleRange: nil, minRange: nil, maxCode: 31, fallbackName: nil,
                                        quantizeBlock: GGMLLegacy.q5_0, pack: GGMLPack.q5_0)
    public static let q5_1 = GGMLFormat(name: "q5_1", type: .q5_1, summary: "32-element blocks, fp16 d and m, w = d * q + m, q in 0...31",
                                        subBlocks: 1, scaleRange: nil, minRange: nil, maxCode: 31, fallbackName: nil,
                                        quantizeBlock: GGMLLegacy.q5_1, pack: GGMLPack.q5_1)
    public static let q8_0 = GGMLFormat(name: "q8_0", type: .q8_0, summary: "32-element blocks, fp16 d, w = q * d, q in -128...127",
                                        subBlocks: 1, scaleRange: nil, minRange: nil, maxCode: 255, fallbackName: nil,
                                        quantizeBlock: GGMLLegacy.q8_0, pack: GGMLPack.q8_0)
    public static let q2_k = GGMLFormat(name: "q2_k", type: .q2_K, summary: "256-element super-blocks, fp16 d/dmin, 16 sub-blocks of 16 with 4-bit scale and min, q in 0...3",
                                        subBlocks: 16, scaleRange: 0...15, minRange: 0...15, maxCode: 3, fallbackName: "q4_0",
                                        quantizeBlock: GGMLKQuants.q2_k, pack: GGMLPack.q2_k)
    public static let q3_k = GGMLFormat(name: "q3_k", type: .q3_K, summary: "256-element super-blocks, fp16 d, 16 sub-blocks of 16 with 6-bit signed scale, q in -4...3",
                                        subBlocks: 16, scaleRange: 0...63, minRange: nil, maxCode: 7, fallbackName: "q4_0",
                                        quantizeBlock: GGMLKQuants.q3_k, pack: GGMLPack.q3_k)
    public static let q4_k = GGMLFormat(name: "q4_k", type: .q4_K, summary: "256-element super-blocks, fp16 d/dmin, 8 sub-blocks of 32 with 6-bit scale and min, q in 0...15",
                                        subBlocks: 8, scaleRange: 0...63, minRange: 0...63, maxCode: 15, fallbackName: "q5_0",
                                        quantizeBlock: GGMLKQuants.q4_k, pack: GGMLPack.q4_k)
    public static let q5_k = GGMLFormat(name: "q5_k", type: .q5_K, summary: "256-element super-blocks, fp16 d/dmin, 8 sub-blocks of 32 with 6-bit scale and min, q in 0...31",
                                        subBlocks: 8, scaleRange: 0...63, minRange: 0...63, maxCode: 31, fallbackName: "q5_1",
                                        quantizeBlock: GGMLKQuants.q5_k, pack: GGMLPack.q5_k)
    public static let q6_k = GGMLFormat(name: "q6_k", type: .q6_K, summary: "256-element super-blocks, fp16 d, 16 sub-blocks of 16 with int8 scale, w = (d * sc) * (q - 32)",
                                        subBlocks: 16, scaleRange: -128...127, minRange: nil, maxCode: 63, fallbackName: "q8_0",
                                        quantizeBlock: GGMLKQuants.q6_k, pack: GGMLPack.q6_k)
}
