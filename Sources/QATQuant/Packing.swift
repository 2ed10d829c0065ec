// Integer packing of GPTQ checkpoints (AutoGPTQ `checkpoint_format` "gptq" = v1 and GPTQModel
// "gptq_v2"): codes, zero points, scales and group indices of one quantized linear W (out, in).
//
// Tensors of one module (b = bits, G = group size, G = in when group_size is -1,
// n_groups = ceil(in / G); every int32 is a little-endian bit pattern, read as UInt32):
//   1. qweight  I32 [W(in), out]          codes packed along the INPUT dim, column o on its own
//   2. qzeros   I32 [n_groups, W(out)]    zero points packed along the OUTPUT dim, row g on its own
//   3. scales   F16 [n_groups, out]       scale of (group g, output o)
//   4. g_idx    I32 [in]                  group of each input column (i / G without act-order)
// where W(n) = words for n values (item 7).
//
// Bit layout of a packed sequence v_0, v_1, ... (the inputs of one qweight column, or the outputs
// of one qzeros row), each value b bits:
//   5. b in {2, 4, 8}: k = 32 / b values per word. Word r holds v_{r*k} ... v_{r*k+k-1}; value
//      v_{r*k+j} sits at bits [b*j, b*j + b) of the word (the first value in the least
//      significant bits). No value straddles a word.
//   6. b = 3: 32 values fill 3 words (96 bits), a value may straddle two words:
//        word 0: v0..v9 at bits 0, 3, ..., 27; bits 0-1 of v10 at bits 30-31
//        word 1: bit 2 of v10 at bit 0; v11..v20 at bits 1, 4, ..., 28; bit 0 of v21 at bit 31
//        word 2: bits 1-2 of v21 at bits 0-1; v22..v31 at bits 2, 5, ..., 29
//      Both cases are one rule: value j occupies bits [j*b, j*b + b) of the little-endian bit
//      stream made of the words in order (stream bit p = bit p % 32 of word p / 32), which is
//      how this file implements them.
//   7. Padding: a sequence of n values is padded with zero codes to a whole number of packing
//      units (32 / b values for b in {2, 4, 8}, 32 values = 3 words for b = 3), so
//      W(n) = ceil(n / unit) * unit * b / 32. qweight rows for inputs >= in and qzeros fields
//      for outputs >= out are zero. Readers ignore the padding. (AutoGPTQ's kernels require
//      in and out to be multiples of 32; the padded files load only in readers that, like this
//      one, take in from g_idx and out from scales.) Group sizes need no padding: a ragged last
//      group is simply a shorter group (n_groups = ceil(in / G)).
//   8. Zero points: v2 stores z in the field. v1 stores z - 1 masked to b bits; the reader
//      computes z = (field + 1) & (2^b - 1). A zero point of 0 is stored as 2^b - 1 (the -1
//      underflows) and still reads back as 0 under that rule; readers that omit the final mask
//      (AutoGPTQ's cuda-old kernels, GPTQModel's v1 -> v2 conversion that adds 0x11111111 to
//      whole words) see 2^b instead, which is why asymmetric models should be exported as v2.
//      Reading a v1 file with the v2 rule gives z - 1: every weight one step off.
//   9. Only b in {2, 3, 4, 8} exist in the format; 5, 6 and 7 bits are refused.
// Dequantization: W[o, i] = scales[g_idx[i], o] * (q[i, o] - z[g_idx[i], o]).
import QATIO
import QATTensor

/// The zero-point convention of a GPTQ checkpoint (`checkpoint_format` in quantization_config).
public enum GPTQFormat: String, Sendable, CaseIterable {
    /// AutoGPTQ: qzeros stores z - 1.
    case v1 = "gptq"
    /// GPTQModel: qzeros stores z.
    case v2 = "gptq_v2"
}

/// One linear's tensors in the GPTQ layout (items 1-4 above).
public struct GPTQPackedWeight: Sendable, Equatable {
    public let bits: Int
    public let outFeatures: Int, inFeatures: Int, groupCount: Int
    /// [qweightRows, out]
    public var qweight: [Int32]
    /// [groupCount, qzerosColumns]
    public var qzeros: [Int32]
    /// [groupCount, out], IEEE binary16 bits
    public var scales: [UInt16]
    /// [in]
    public var gIdx: [Int32]

    public var qweightRows: Int { GPTQPacking.wordCount(values: inFeatures, bits: bits) }
    public var qzerosColumns: Int { GPTQPacking.wordCount(values: outFeatures, bits: bits) }
}

public enum GPTQPacking {
    /// Bit widths the format can hold.
    public static let supportedBits = [2, 3, 4, 8]

    /// Throws unless `bits` is 2, 3, 4 or 8.
    public static func checkBits(_ bits: Int) throws {
        guard supportedBits.contains(bits) else {
            throw TensorError.invalidArgument(op: "gptq packing", message: "bits=\(bits) cannot be stored in the GPTQ format, which packs 2, 3, 4 or 8 bits; use the native QATLab checkpoint or a dequantized export for \(bits)-bit weights")
        }
    }

    /// Values per packing unit: 32 / b, or 32 (three words) for b = 3.
    public static func unitValues(bits: Int) -> Int { bits == 3 ? 32 : 32 / bits }

    /// Words holding `n` values padded to whole units (item 7).
    public static func wordCount(values n: Int, bits: Int) -> Int {
        let unit = unitValues(bits: bits)
        return (n + unit - 1) / unit * unit * bits / 32
    }

    // MARK: Bit stream (items 5-6)

    /// ORs `value` (< 2^bits) into the stream of words words[base + w * stride], w = 0, 1, ...
    /// at stream position `index` (bits [index*bits, index*bits + bits)).
    @inline(__always)
    static func put(_ value: UInt32, index: Int, bits: Int, into words: inout [UInt32], base: Int, stride: Int) {
        let p = index * bits, w = p >> 5, off = p & 31
        words[base + w * stride] |= value << UInt32(off)
        if off + bits > 32 { words[base + (w + 1) * stride] |= value >> UInt32(32 - off) }
    }

    /// The value at stream position `index` (the inverse of `put`).
    @inline(__always)
    static func get(index: Int, bits: Int, from words: UnsafeBufferPointer<UInt32>, base: Int, stride: Int) -> UInt32 {
        let p = index * bits, w = p >> 5, off = p & 31
        var v = words[base + w * stride] >> UInt32(off)
        if off + bits > 32 { v |= words[base + (w + 1) * stride] << UInt32(32 - off) }
        return v & ((1 << UInt32(bits)) - 1)
    }

    /// Packs a plain sequence of values (each < 2^bits) into W(n) words.
    public static func packSequence(_ values: [UInt32], bits: Int) throws -> [UInt32] {
        try checkBits(bits)
        let mask = UInt32((1 << bits) - 1)
        var words = [UInt32](repeating: 0, count: wordCount(values: values.count, bits: bits))
        for (j, v) in values.enumerated() {
            guard v <= mask else {
                throw TensorError.invalidArgument(op: "gptq packing", message: "value \(v) at position \(j) does not fit in \(bits) bits")
            }
            put(v, index: j, bits: bits, into: &words, base: 0, stride: 1)
        }
        return words
    }

    /// The first `count` values of a packed sequence.
    public static func unpackSequence(_ words: [UInt32], count: Int, bits: Int) throws -> [UInt32] {
        try checkBits(bits)
        guard count >= 0, wordCount(values: count, bits: bits) <= words.count else {
            throw TensorError.invalidArgument(op: "gptq unpacking", message: "\(words.count) words cannot hold \(count) values of \(bits) bits")
        }
        return words.withUnsafeBufferPointer { w in (0..<count).map { get(index: $0, bits: bits, from: w, base: 0, stride: 1) } }
    }

    // MARK: A whole linear

    /// Packs a hard-quantized weight. Zero points must be integers in 0...2^b-1 and scales must
    /// fit in fp16 (they are rounded to nearest even: see GPTQCheckpoint on what that means).
    public static func pack(_ qw: QuantizedWeight, format: GPTQFormat) throws -> GPTQPackedWeight {
        let bits = qw.spec.bits
        try checkBits(bits)
        let out = qw.rows, inF = qw.cols, groups = qw.groupCount
        let gIdx = (0..<inF).map { Int32(qw.group(ofColumn: $0)) }
        return GPTQPackedWeight(bits: bits, outFeatures: out, inFeatures: inF, groupCount: groups,
                                qweight: try packCodes(qw), qzeros: try packZeros(qw, format: format),
                                scales: try halfScales(qw), gIdx: gIdx)
    }

    /// qweight: column o holds the codes of output o along the inputs.
    static func packCodes(_ qw: QuantizedWeight) throws -> [Int32] {
        let bits = qw.spec.bits, out = qw.rows, inF = qw.cols, qmax = UInt8(qw.spec.qmax)
        var words = [UInt32](repeating: 0, count: wordCount(values: inF, bits: bits) * out)
        for o in 0..<out {
            for i in 0..<inF {
                let c = qw.codes[o * inF + i]
                guard c <= qmax else {
                    throw TensorError.invalidArgument(op: "gptq packing", message: "code \(c) at (\(o), \(i)) exceeds qmax \(qmax) for \(bits) bits")
                }
                put(UInt32(c), index: i, bits: bits, into: &words, base: o, stride: out)
            }
        }
        return words.map { Int32(bitPattern: $0) }
    }

    /// qzeros: row g holds the zero points of group g along the outputs (v1: z - 1, masked).
    static func packZeros(_ qw: QuantizedWeight, format: GPTQFormat) throws -> [Int32] {
        let bits = qw.spec.bits, out = qw.rows, groups = qw.groupCount, mask = UInt32(qw.spec.qmax)
        let cols = wordCount(values: out, bits: bits)
        var words = [UInt32](repeating: 0, count: groups * cols)
        for o in 0..<out {
            for g in 0..<groups {
                let z = qw.zeros[o * groups + g]
                guard z >= 0, z <= Float(mask), z.rounded() == z else {
                    throw TensorError.invalidArgument(op: "gptq packing", message: "zero point \(z) of (output \(o), group \(g)) is not an integer in 0...\(mask); the GPTQ format stores integer zero points (use the native checkpoint for fractional ones)")
                }
                let field = format == .v1 ? (UInt32(z) &- 1) & mask : UInt32(z)
                put(field, index: o, bits: bits, into: &words, base: g * cols, stride: 1)
            }
        }
        return words.map { Int32(bitPattern: $0) }
    }

    /// scales as fp16 bits, transposed to [groups, out].
    static func halfScales(_ qw: QuantizedWeight) throws -> [UInt16] {
        let out = qw.rows, groups = qw.groupCount
        var half = [UInt16](repeating: 0, count: groups * out)
        for o in 0..<out {
            for g in 0..<groups {
                let s = qw.scales[o * groups + g]
                let h = HalfFloat.half(from: s)
                guard s.isFinite, HalfFloat.float(fromHalf: h).isFinite else {
                    throw TensorError.invalidArgument(op: "gptq packing", message: "scale \(s) of (output \(o), group \(g)) does not fit in fp16 (max 65504)")
                }
                half[g * out + o] = h
            }
        }
        return half
    }

    /// Unpacks into a QuantizedWeight (scales widened from fp16 exactly). `groupSize` is the
    /// checkpoint's group_size (-1: whole rows); g_idx equal to i / G is dropped (groupIndex nil).
    public static func unpack(_ p: GPTQPackedWeight, groupSize: Int, format: GPTQFormat) throws -> QuantizedWeight {
        let bits = p.bits, out = p.outFeatures, inF = p.inFeatures, groups = p.groupCount
        try checkBits(bits)
        let spec = try QuantSpec(bits: bits, groupSize: groupSize)
        guard groups == spec.groupCount(inFeatures: inF), p.qweight.count == p.qweightRows * out,
              p.qzeros.count == groups * p.qzerosColumns, p.scales.count == groups * out, p.gIdx.count == inF else {
            throw TensorError.invalidArgument(op: "gptq unpacking", message: "sizes disagree for \(out)x\(inF) at \(spec): groups \(groups) (expected \(spec.groupCount(inFeatures: inF))), qweight \(p.qweight.count), qzeros \(p.qzeros.count), scales \(p.scales.count), g_idx \(p.gIdx.count)")
        }
        let gIdx = try groupIndex(p.gIdx, spec: spec, inFeatures: inF, groups: groups)
        return try QuantizedWeight(spec: spec, rows: out, cols: inF, codes: unpackCodes(p), scales: unpackScales(p),
                                   zeros: unpackZeros(p, format: format), groupIndex: gIdx)
    }

    /// nil when g_idx is the plain i / G; otherwise checked to name every group in 0..<groups.
    static func groupIndex(_ gIdx: [Int32], spec: QuantSpec, inFeatures: Int, groups: Int) throws -> [Int32]? {
        let g = spec.effectiveGroupSize(inFeatures: inFeatures)
        if gIdx.enumerated().allSatisfy({ Int($0.element) == $0.offset / g }) { return nil }
        var used = [Bool](repeating: false, count: groups)
        for (i, v) in gIdx.enumerated() {
            guard v >= 0, Int(v) < groups else {
                throw TensorError.invalidArgument(op: "gptq unpacking", message: "g_idx[\(i)] = \(v) lies outside the \(groups) groups")
            }
            used[Int(v)] = true
        }
        guard used.allSatisfy({ $0 }) else {
            throw TensorError.invalidArgument(op: "gptq unpacking", message: "g_idx does not use every one of the \(groups) groups")
        }
        return gIdx
    }

    static func unpackCodes(_ p: GPTQPackedWeight) -> [UInt8] {
        let out = p.outFeatures, inF = p.inFeatures
        var codes = [UInt8](repeating: 0, count: out * inF)
        p.qweight.map { UInt32(bitPattern: $0) }.withUnsafeBufferPointer { w in
            for o in 0..<out {
                for i in 0..<inF { codes[o * inF + i] = UInt8(get(index: i, bits: p.bits, from: w, base: o, stride: out)) }
            }
        }
        return codes
    }

    static func unpackZeros(_ p: GPTQPackedWeight, format: GPTQFormat) -> [Float] {
        let out = p.outFeatures, groups = p.groupCount, cols = p.qzerosColumns, mask = UInt32((1 << p.bits) - 1)
        var zeros = [Float](repeating: 0, count: out * groups)
        p.qzeros.map { UInt32(bitPattern: $0) }.withUnsafeBufferPointer { w in
            for g in 0..<groups {
                for o in 0..<out {
                    let field = get(index: o, bits: p.bits, from: w, base: g * cols, stride: 1)
                    zeros[o * groups + g] = Float(format == .v1 ? (field &+ 1) & mask : field)
                }
            }
        }
        return zeros
    }

    static func unpackScales(_ p: GPTQPackedWeight) -> [Float] {
        let out = p.outFeatures, groups = p.groupCount
        var scales = [Float](repeating: 0, count: out * groups)
        for g in 0..<groups {
            for o in 0..<out { scales[o * groups + g] = HalfFloat.float(fromHalf: p.scales[g * out + o]) }
        }
        return scales
    }
}
