// GPTQ packing: known-answer words built by hand from the layout in Packing.swift (and in
// qfa_baselines.md C.2), pack -> unpack round trips, padding, the v1 zero-point rule.
import QATTensor
import Testing
import QATQuant

/// Draws from a seeded generator without going through the standard library's range mapping,
/// so the values (and the golden files built from them) do not depend on its version.
struct Draw {
    var rng: SeededRandom
    init(seed: UInt64) { rng = SeededRandom(seed: seed) }
    mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    /// A positive scale that is an fp16 value, so GPTQ's fp16 storage keeps it exactly.
    mutating func halfScale() -> Float { HalfFloat.float(fromHalf: HalfFloat.half(from: 0.001 + Float(int(10_000)) * 1e-6)) }
    /// A scale that is not an fp16 value (tests that fp32 storage keeps it).
    mutating func floatScale() -> Float { 0.001 + Float(int(1 << 20)) * 1.17e-9 }
}

/// A random quantized weight: codes and zeros over the whole range (0 and qmax included), fp16
/// scales, optionally act-order g_idx (a shuffled i / G).
func randomQuantized(rows: Int, cols: Int, spec: QuantSpec, seed: UInt64, actOrder: Bool = false, halfScales: Bool = true) throws -> QuantizedWeight {
    var d = Draw(seed: seed)
    let groups = spec.groupCount(inFeatures: cols)
    let codes = (0..<(rows * cols)).map { _ in UInt8(d.int(spec.qmax + 1)) }
    var zeros = (0..<(rows * groups)).map { _ in Float(d.int(spec.qmax + 1)) }
    zeros[0] = 0
    if zeros.count > 1 { zeros[1] = Float(spec.qmax) }
    let scales = (0..<(rows * groups)).map { _ in halfScales ? d.halfScale() : d.floatScale() }
    var gIdx: [Int32]? = nil
    if actOrder {
        let g = spec.effectiveGroupSize(inFeatures: cols)
        var idx = (0..<cols).map { Int32($0 / g) }
        let plain = idx
        for i in stride(from: cols - 1, to: 0, by: -1) { idx.swapAt(i, d.int(i + 1)) }
        gIdx = idx == plain ? nil : idx  // one group: every order is the plain one

    }
    return try QuantizedWeight(spec: spec, rows: rows, cols: cols, codes: codes, scales: scales, zeros: zeros, groupIndex: gIdx)
}

func expectSameWeights(_ a: QuantizedWeight, _ b: QuantizedWeight, _ what: String) {
    #expect(a.spec == b.spec, "\(what): spec")
    #expect(a.rows == b.rows && a.cols == b.cols, "\(what): shape")
    #expect(a.codes == b.codes, "\(what): codes")
    #expect(a.zeros == b.zeros, "\(what): zeros")
    #expect(a.scales.map(\.bitPattern) == b.scales.map(\.bitPattern), "\(what): scales")
    #expect(a.groupIndex == b.groupIndex, "\(what): g_idx")
    #expect(a.dequantized().toArray().map(\.bitPattern) == b.dequantized().toArray().map(\.bitPattern), "\(what): dequantized")
}

@Suite struct PackingTests {
    @Test func fourBitWordByHand() throws {
        // word 0 holds inputs 0..7, input j at bits 4j: codes 1..8 -> 0x87654321
        let qw = try QuantizedWeight(spec: QuantSpec(bits: 4, groupSize: -1), rows: 1, cols: 8,
                                     codes: [1, 2, 3, 4, 5, 6, 7, 8], scales: [1], zeros: [0])
        let p = try GPTQPacking.pack(qw, format: .v2)
        #expect(p.qweight.map { UInt32(bitPattern: $0) } == [0x8765_4321])
        #expect(try GPTQPacking.packSequence([1, 2, 3, 4, 5, 6, 7, 8], bits: 4) == [0x8765_4321])
    }

    @Test func threeBitTripleByHand() throws {
        // v_j = (5j + 3) mod 8; the three words computed by hand from the word-by-word layout:
        // word 0 = v0..v9 at 3j, low 2 bits of v10 at 30; word 1 = bit 2 of v10 at 0, v11..v20 at
        // 3(j-11)+1, bit 0 of v21 at 31; word 2 = bits 1-2 of v21 at 0, v22..v31 at 3(j-22)+2.
        let v = (0..<32).map { UInt32((5 * $0 + 3) % 8) }
        let expected: [UInt32] = [0x43C6_7543, 0x7543_C675, 0xC675_43C6]
        #expect(try GPTQPacking.packSequence(v, bits: 3) == expected)
        #expect(try GPTQPacking.unpackSequence(expected, count: 32, bits: 3) == v)
        // the same triple as qweight rows of one output column, and as a qzeros row
        let qw = try QuantizedWeight(spec: QuantSpec(bits: 3, groupSize: -1), rows: 1, cols: 32,
                                     codes: v.map { UInt8($0) }, scales: [1], zeros: [0])
        #expect(try GPTQPacking.pack(qw, format: .v2).qweight.map { UInt32(bitPattern: $0) } == expected)
        let zw = try QuantizedWeight(spec: QuantSpec(bits: 3, groupSize: -1), rows: 32, cols: 1,
                                     codes: [UInt8](repeating: 0, count: 32), scales: [Float](repeating: 1, count: 32), zeros: v.map { Float($0) })
        #expect(try GPTQPacking.pack(zw, format: .v2).qzeros.map { UInt32(bitPattern: $0) } == expected)
    }

    @Test(arguments: [2, 3, 4, 8])
    func packUnpackRoundTrip(bits: Int) throws {
        // 200 inputs and 37 outputs are multiples of no packing unit: both paddings are exercised
        for (cols, rows) in [(256, 64), (200, 37)] {
            for group in [32, 64, 128, -1, 48] {
                for actOrder in [false, true] {
                    let spec = try QuantSpec(bits: bits, groupSize: group)
                    let qw = try randomQuantized(rows: rows, cols: cols, spec: spec, seed: UInt64(bits * 1000 + cols + group), actOrder: actOrder)
                    for format in GPTQFormat.allCases {
                        let p = try GPTQPacking.pack(qw, format: format)
                        #expect(p.qweight.count == GPTQPacking.wordCount(values: cols, bits: bits) * rows)
                        let back = try GPTQPacking.unpack(p, groupSize: group, format: format)
                        expectSameWeights(qw, back, "w\(bits)g\(group) \(rows)x\(cols) \(format) actOrder=\(actOrder)")
                    }
                }
            }
        }
    }

    @Test func paddingIsZero() throws {
        let spec = try QuantSpec(bits: 3, groupSize: 16)
        var qw = try randomQuantized(rows: 5, cols: 40, spec: spec, seed: 7)
        qw.codes = [UInt8](repeating: 7, count: 5 * 40)
        qw.zeros = [Float](repeating: 7, count: qw.zeros.count)
        let p = try GPTQPacking.pack(qw, format: .v2)
        // 40 inputs pad to 64 (two 3-word units): rows 0-2 full, rows 3-5 hold inputs 32..39 only
        #expect(p.qweightRows == 6 && p.qzerosColumns == 3)
        let words = p.qweight.map { UInt32(bitPattern: $0) }
        for o in 0..<5 {
            #expect(words[3 * 5 + o] == 0xFF_FFFF, "inputs 32..39 fill bits 0..23 of row 3")
            #expect(words[4 * 5 + o] == 0 && words[5 * 5 + o] == 0)
        }
        // 5 outputs of qzeros fill bits 0..14 of word 0; the rest of the 3-word unit is padding
        #expect(p.qzeros.map { UInt32(bitPattern: $0) }.prefix(3) == [0x7FFF, 0, 0])
    }

    @Test(arguments: [2, 3, 4, 8])
    func v1ZeroUnderflowRoundTripsAndV2ReadIsOffByOne(bits: Int) throws {
        let spec = try QuantSpec(bits: bits, groupSize: -1)
        let qmax = spec.qmax
        let zeros = (0..<64).map { Float($0 % (qmax + 1)) }
        let qw = try QuantizedWeight(spec: spec, rows: 64, cols: 32, codes: [UInt8](repeating: 1, count: 64 * 32),
                                     scales: [Float](repeating: 0.5, count: 64), zeros: zeros)
        let v1 = try GPTQPacking.pack(qw, format: .v1)
        // zero 0 of output 0 is stored as 2^b - 1 in field 0
        #expect(UInt32(bitPattern: v1.qzeros[0]) & UInt32(qmax) == UInt32(qmax))
        #expect(try GPTQPacking.unpack(v1, groupSize: -1, format: .v1).zeros == zeros)
        let misread = try GPTQPacking.unpack(v1, groupSize: -1, format: .v2).zeros
        #expect(misread == zeros.map { Float((Int($0) - 1 + qmax + 1) % (qmax + 1)) })
    }

    @Test(arguments: [5, 6, 7])
    func unsupportedWidthsAreRefused(bits: Int) throws {
        let qw = try randomQuantized(rows: 4, cols: 32, spec: QuantSpec(bits: bits, groupSize: 32), seed: 1)
        #expect(throws: TensorError.self) { try GPTQPacking.pack(qw, format: .v2) }
        #expect(throws: TensorError.self) { try GPTQPacking.packSequence([1], bits: bits) }
    }

    @Test func invalidValuesAreRefused() throws {
        let spec = try QuantSpec(bits: 2, groupSize: -1)
        let fractional = try QuantizedWeight(spec: spec, rows: 1, cols: 16, codes: [UInt8](repeating: 0, count: 16), scales: [1], zeros: [1.5])
        #expect(throws: TensorError.self) { try GPTQPacking.pack(fractional, format: .v2) }
        let bigCode = try QuantizedWeight(spec: spec, rows: 1, cols: 16, codes: [UInt8](repeating: 4, count: 16), scales: [1], zeros: [1])
        #expect(throws: TensorError.self) { try GPTQPacking.pack(bigCode, format: .v2) }
        let hugeScale = try QuantizedWeight(spec: spec, rows: 1, cols: 16, codes: [UInt8](repeating: 0, count: 16), scales: [1e6], zeros: [1])
        #expect(throws: TensorError.self) { try GPTQPacking.pack(hugeScale, format: .v2) }
    }
}
