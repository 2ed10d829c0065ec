// convert=nearest of the GGUF export: where a quantized linear goes when no ggml type holds it
// exactly (GGUFLinearEncoding.swift) and the user accepts the closest type instead of F16.
//
// Today's rows:
//   2- and 3-bit codes, groups of a multiple of 32 -> Q4_1 with the same d = s, m = -s*z: Q4_1's
//     16 codes include the 4 or 8 of the grid, so the weights stay exact (5 bits per weight
//     instead of 2.5-3.5; no rounding at all, which beats any re-quantization to Q2_K/Q3_K).
// convert=kquant, the deployed size instead of exactness: 2-bit -> Q2_K, 3-bit -> Q3_K, 6-bit ->
// Q6_K, re-quantized from the weight QATLab multiplies by with llama.cpp's reference quantizer
// (GGMLFormat's rows, bit for bit llama-quantize's), for rows of a multiple of 256 columns; other
// rows take nearest's exact row (where llama.cpp would re-quantize them to its fallback, Q4_0, the
// exact Q4_1 loses nothing). The export measures and prints the weight error of every tensor it
// converts either way (GGUFExport+Linears.swift); the perplexity change is `ppl FILE.gguf` against
// the model's own.
import QATIO
import QATTensor

enum GGUFNearest {
    /// What convert=nearest covers, for error messages.
    static let coverage = "2- and 3-bit weights with groups of a multiple of 32 go to Q4_1, exactly; convert=kquant re-quantizes 2-, 3- and 6-bit rows of a multiple of 256 columns to Q2_K/Q3_K/Q6_K instead"

    /// The k-quant of each code width convert=kquant re-quantizes to.
    static let kquantOfBits = [2: "q2_k", 3: "q3_k", 6: "q6_k"]

    /// convert=kquant's encoding of a linear whose codes are `qw` and whose weight (out, in) is
    /// `reference`; nil when neither a k-quant nor nearest covers it.
    static func kquant(_ qw: QuantizedWeight, reference: Tensor) throws -> (type: GGMLType, bytes: [UInt8], how: String)? {
        if let name = kquantOfBits[qw.spec.bits], reference.rank == 2, reference.shape[1] % 256 == 0 {
            let format = try GGMLFormats.named(name)
            return (format.type, try format.quantize(reference), "kquant (re-quantized by llama.cpp's reference \(name))")
        }
        return encode(qw)
    }

    /// The nearest encoding of `qw`, nil when no row covers it.
    static func encode(_ qw: QuantizedWeight) -> (type: GGMLType, bytes: [UInt8], how: String)? {
        guard qw.spec.bits <= 4, GGUFLinearEncodings.blocksStayInGroups(qw) else { return nil }
        return (.q4_1, GGUFLinearEncodings.q4_1.encode(qw), "nearest (Q4_1 holds \(qw.spec.bits)-bit codes exactly)")
    }
}
