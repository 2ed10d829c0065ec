// convert=nearest of the GGUF export: where a quantized linear goes when no ggml type holds it
// exactly (GGUFLinearEncoding.swift) and the user accepts the closest type instead of F16.
//
// Today's rows:
//   2- and 3-bit codes, groups of a multiple of 32 -> Q4_1 with the same d = s, m = -s*z: Q4_1's
//     16 codes include the 4 or 8 of the grid, so the weights stay exact (5 bits per weight
//     instead of 2.5-3.5; no rounding at all, which beats any re-quantization to Q2_K/Q3_K).
// Planned rows (the k-quant encoders of the ggmlformats branch: quantize_row_q2_K / q3_K's
// algorithm): 2-bit -> Q2_K, 3-bit -> Q3_K, 6/7-bit and 8-bit asymmetric -> Q6_K/Q8_0, for rows of
// a multiple of 256 columns; the export measures and prints the weight error of every tensor it
// converts either way (GGUFExport+Linears.swift).
import QATIO

enum GGUFNearest {
    /// What convert=nearest covers, for error messages.
    static let coverage = "today: 2- and 3-bit weights with groups of a multiple of 32 go to Q4_1, exactly; Q2_K/Q3_K re-quantization comes with the k-quant encoders"

    /// The nearest encoding of `qw`, nil when no row covers it.
    static func encode(_ qw: QuantizedWeight) -> (type: GGMLType, bytes: [UInt8], how: String)? {
        guard qw.spec.bits <= 4, GGUFLinearEncodings.blocksStayInGroups(qw) else { return nil }
        return (.q4_1, GGUFLinearEncodings.q4_1.encode(qw), "nearest (Q4_1 holds \(qw.spec.bits)-bit codes exactly)")
    }
}
