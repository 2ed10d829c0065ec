// Which ggml type a quantized linear goes to in a GGUF file, as one table: each row names a ggml
// type, says which QATLab weights it represents EXACTLY (every dequantized weight equal, up to the
// fp16 storage of the block's d and m), and encodes them. The GGUF export (GGUFExport.swift) asks
// the rows in order and takes the first that holds the weight.
//
// QATLab's integer grids dequantize W[o, i] = (q - z) * s with (s, z) per group of columns; ggml's
// legacy types hold 32 consecutive columns of one row per block (GGUFTypes.swift, layouts 4-8):
//   Q4_0  d * (q - 8)     4-bit codes, z = 8 everywhere (symmetric)         d = s
//   Q5_0  d * (q - 16)    5-bit codes, z = 16 everywhere                    d = s
//   Q8_0  d * (q - 128)   8-bit codes, z = 128 everywhere; stored q - 128   d = s
//   Q4_1  d * q + m       4-bit codes, any z (integer or real)              d = s, m = -s * z
//   Q5_1  d * q + m       5-bit codes, any z                                d = s, m = -s * z
// A row holds a weight when its bits match, every block of 32 columns lies inside one group
// (a group size that is a multiple of 32, whole rows, or act-order group indices that happen to
// keep blocks whole) and, for the symmetric rows, every zero is the middle code. d and m are fp16:
// |s - fp16(s)| <= 2^-11 |s| and the same for m, so an exported weight differs from QATLab's by
// at most 2^-11 (|q| + |z|) |s| plus fp32 rounding (GGUFExportTests checks that budget).
//
// No row holds 2-, 3-, 6- or 7-bit weights, nor 8-bit asymmetric ones: the export refuses them
// unless convert= says how to store them (GGUFExport.swift).
//
// Hook for quantizers whose grid IS a ggml type (format=q4_k etc., the block formats of issue 28):
// such a quantizer conforms to GGMLBlockProvider and hands over its own blocks, which the export
// writes as they are, before any row here is asked. A new exact mapping from QATLab's integer
// grid is a new row in `GGUFLinearEncodings.exactRows`.
import QATIO
import QATModel
import QATTensor

/// A quantizer whose weights are already a ggml block type hands the export its blocks.
public protocol GGMLBlockProvider {
    /// The linear's (out, in) weight as blocks of `type`, rows in the model's order; decoding them
    /// with `type.decode` must give the weight the quantizer's forward uses.
    func ggmlBlocks() throws -> (type: GGMLType, bytes: [UInt8])
}

/// One exact mapping from QATLab quantized weights to a ggml type.
public struct GGUFExactRow: Sendable {
    public let type: GGMLType
    /// For listings and help: which weights it holds.
    public let summary: String
    /// Code bits the row holds.
    public let bits: Int
    /// The zero every group must have (symmetric rows), nil for any zero.
    public let requiredZero: Float?
    /// Writes one block: d, m (nil for symmetric rows), the 32 codes of the block.
    let writeBlock: @Sendable (_ d: UInt16, _ m: UInt16?, _ codes: ArraySlice<UInt8>, _ out: inout [UInt8]) -> Void

    /// Whether the row holds `qw` exactly (its bits, whole 32-column blocks, its zeros).
    public func holds(_ qw: QuantizedWeight) -> Bool {
        guard qw.spec.bits == bits, GGUFLinearEncodings.blocksStayInGroups(qw) else { return false }
        guard let zero = requiredZero else { return true }
        return qw.zeros.allSatisfy { $0 == zero }
    }

    /// The blocks of `qw` (rows in order, 32 columns per block); call only when `holds(qw)`.
    public func encode(_ qw: QuantizedWeight) -> [UInt8] {
        let perRow = qw.cols / 32, groups = qw.groupCount
        var out: [UInt8] = []
        out.reserveCapacity(qw.rows * perRow * type.bytesPerBlock)
        for o in 0..<qw.rows {
            for b in 0..<perRow {
                let g = o * groups + qw.group(ofColumn: 32 * b)
                let s = qw.scales[g], start = o * qw.cols + 32 * b
                let m: UInt16? = requiredZero == nil ? HalfFloat.half(from: -s * qw.zeros[g]) : nil
                writeBlock(HalfFloat.half(from: s), m, qw.codes[start..<(start + 32)], &out)
            }
        }
        return out
    }
}

public enum GGUFLinearEncodings {
    /// The rows, asked in order: symmetric rows first (they are smaller), then asymmetric.
    public static let exactRows: [GGUFExactRow] = [q4_0, q5_0, q8_0, q4_1, q5_1]

    /// The first row that holds `qw` exactly, nil when none does.
    public static func exactRow(for qw: QuantizedWeight) -> GGUFExactRow? {
        exactRows.first { $0.holds(qw) }
    }

    /// One line per row, for `help export`.
    public static var table: String {
        exactRows.map { "\($0.type.name): \($0.summary)" }.joined(separator: "; ")
    }

    /// True when every 32-column block of every row lies inside one group.
    static func blocksStayInGroups(_ qw: QuantizedWeight) -> Bool {
        guard qw.cols % 32 == 0 else { return false }
        guard qw.groupIndex != nil else { return qw.spec.effectiveGroupSize(inFeatures: qw.cols) % 32 == 0 }
        for b in 0..<(qw.cols / 32) {
            let g = qw.group(ofColumn: 32 * b)
            if (32 * b..<(32 * b + 32)).contains(where: { qw.group(ofColumn: $0) != g }) { return false }
        }
        return true
    }

    static func appendHalf(_ h: UInt16, _ out: inout [UInt8]) {
        out.append(UInt8(h & 0xFF)); out.append(UInt8(h >> 8))
    }

    /// qs[j] = code j (low nibble) | code j+16 (high nibble), j in 0..<16.
    static func appendNibbles(_ c: ArraySlice<UInt8>, _ out: inout [UInt8]) {
        let base = c.startIndex
        for j in 0..<16 { out.append((c[base + j] & 0x0F) | (c[base + j + 16] & 0x0F) << 4) }
    }

    /// qh: bit j is the fifth bit of code j, little-endian u32.
    static func appendHighBits(_ c: ArraySlice<UInt8>, _ out: inout [UInt8]) {
        var qh: UInt32 = 0
        for (j, code) in c.enumerated() { qh |= UInt32((code >> 4) & 1) << UInt32(j) }
        for k in 0..<4 { out.append(UInt8((qh >> UInt32(8 * k)) & 0xFF)) }
    }

    static let q4_0 = GGUFExactRow(type: .q4_0, summary: "4-bit, zero 8 in every group (symmetric), groups of a multiple of 32",
                                   bits: 4, requiredZero: 8) { d, _, c, out in
        appendHalf(d, &out); appendNibbles(c, &out)
    }
    static let q5_0 = GGUFExactRow(type: .q5_0, summary: "5-bit, zero 16 in every group (symmetric), groups of a multiple of 32",
                                   bits: 5, requiredZero: 16) { d, _, c, out in
        appendHalf(d, &out); appendHighBits(c, &out); appendNibbles(c, &out)
    }
    static let q8_0 = GGUFExactRow(type: .q8_0, summary: "8-bit, zero 128 in every group (symmetric), groups of a multiple of 32",
                                   bits: 8, requiredZero: 128) { d, _, c, out in
        appendHalf(d, &out)
        for code in c { out.append(code &- 128) }   // the int8 q - 128, as its bit pattern
    }
    static let q4_1 = GGUFExactRow(type: .q4_1, summary: "4-bit asymmetric (any zero), groups of a multiple of 32",
                                   bits: 4, requiredZero: nil) { d, m, c, out in
        appendHalf(d, &out); appendHalf(m ?? 0, &out); appendNibbles(c, &out)
    }
    static let q5_1 = GGUFExactRow(type: .q5_1, summary: "5-bit asymmetric (any zero), groups of a multiple of 32",
                                   bits: 5, requiredZero: nil) { d, m, c, out in
        appendHalf(d, &out); appendHalf(m ?? 0, &out); appendHighBits(c, &out); appendNibbles(c, &out)
    }
}
