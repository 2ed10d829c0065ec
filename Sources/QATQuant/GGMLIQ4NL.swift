// IQ4_NL, llama.cpp's fallback for Q2_K and Q3_K tensors whose rows are not whole 256-element
// super-blocks (llama-quant.cpp), as a GGMLFormat row: 32-element blocks, an fp16 d, and 32 4-bit
// codes that index the non-linear table IQ4NL.values (QATIO/GGUFTypes.swift layout 14), so
// w = d * values[q]. The bytes are laid out as Q4_0's (fp16 d, then low nibbles for elements
// 0..<16 and high nibbles for 16..<32), so the Q4_0 block encoder writes them.
//
// The quantizer is llama.cpp's quantize_iq4_nl without an importance matrix (ggml-quants.c
// quantize_row_iq4_nl_impl with super-block 32, block 32, ntry 7; what llama.cpp runs when it
// writes a model file, not quantize_row_iq4_nl_ref, which searches nothing), restated:
//   weights      w_j = x_j^2
//   empty block  max |x| < 1e-15: d = 0 and every code is the one nearest 0 (index 8)
//   start        max = the element of largest |x| (first on ties), d = -max / values[0],
//                codes q_j = bestIndex(x_j / d) (x_j times the fp32 reciprocal), then the
//                least-squares d = sum w q x / sum w q^2 and best = d * sum w q x
//   search       for t in -7...7: id = (t + values[0]) / max, codes bestIndex(id * x_j); the
//                trial wins when sum_wqx^2 > best * sum_wq2 (strictly: earlier trials win ties),
//                and then d = sum_wqx / sum_wq2, best = d * sum_wqx
//   codes        with the final fp32 d: q_j = bestIndex(x_j * (1/d)) (0 when d = 0); d stored as
//                fp16 (round to nearest even)
// Every sum runs in element order in fp32 with the reference's association, (w*q)*x and (w*q)*q;
// Swift does not fuse a*b+c, matching the reference compiled with -ffp-contract=off.
// bestIndex is ggml's best_index_int8: below the first level 0, above the last 15, else a binary
// search for the two levels around x and the lower one only when x is strictly nearer to it.
import QATIO
import QATTensor

enum GGMLIQ4NL {
    /// The 16 levels as floats (IQ4NL.values is the one definition).
    static let levels: [Float] = IQ4NL.values.map { Float($0) }

    /// ggml's best_index_int8 over the 16 levels (a NaN lands on 15, as in the C).
    @inline(__always)
    static func bestIndex(_ x: Float) -> Int {
        if x <= levels[0] { return 0 }
        if x >= levels[15] { return 15 }
        var lo = 0, hi = 15
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if x < levels[mid] { hi = mid } else { lo = mid }
        }
        return x - levels[hi - 1] < levels[hi] - x ? hi - 1 : hi
    }

    /// sum w q x and sum w q^2 over the block with codes bestIndex(id * x).
    @inline(__always)
    static func sums(_ x: UnsafePointer<Float>, id: Float) -> (qx: Float, q2: Float) {
        var qx: Float = 0, q2: Float = 0
        for j in 0..<32 {
            let q = levels[bestIndex(id * x[j])], w = x[j] * x[j]
            qx += w * q * x[j]
            q2 += w * q * q
        }
        return (qx, q2)
    }

    /// The fp32 d quantize_iq4_nl settles on for one block of 32 (before its fp16 storage).
    static func fitScale(_ x: UnsafePointer<Float>) -> Float {
        var amax: Float = 0, max: Float = 0
        for j in 0..<32 where x[j].magnitude > amax { amax = x[j].magnitude; max = x[j] }
        if amax < 1e-15 { return 0 }
        let start = sums(x, id: 1 / (-max / levels[0]))
        var d: Float = start.q2 > 0 ? start.qx / start.q2 : 0
        var best = d * start.qx
        for trial in -7...7 {
            let (qx, q2) = sums(x, id: Float(trial + Int(IQ4NL.values[0])) / max)
            if q2 > 0 && qx * qx > best * q2 { d = qx / q2; best = d * qx }
        }
        return d
    }

    /// The block with fp32 scale d: fp16 d and the codes bestIndex(x * (1/d)) (all 8 when d = 0).
    static func block(_ x: UnsafePointer<Float>, d: Float) -> GGMLBlock {
        let id: Float = d != 0 ? 1 / d : 0
        return GGMLBlock(d: HalfFloat.half(from: d), codes: (0..<32).map { UInt8(bestIndex(id * x[$0])) })
    }

    /// llama.cpp's quantize_iq4_nl of one block of 32 floats (no importance matrix).
    static let quantizeBlock: @Sendable (UnsafePointer<Float>) -> GGMLBlock = { x in block(x, d: fitScale(x)) }

    /// IQ4_NL's bytes are Q4_0's layout (fp16 d, then the nibbles; GGUFTypes.swift layouts 4, 14).
    static let pack: @Sendable (GGMLBlock, UnsafeMutablePointer<UInt8>) -> Void = GGMLPack.q4_0
}

extension GGMLFormat {
    public static let iq4_nl = GGMLFormat(name: "iq4_nl", type: .iq4_NL, summary: "32-element blocks, fp16 d, w = d * table[q] with ggml's 16 non-linear levels -127...113",
                                          subBlocks: 1, scaleRange: nil, minRange: nil, maxCode: 15, fallbackName: nil,
                                          quantizeBlock: GGMLIQ4NL.quantizeBlock, pack: GGMLIQ4NL.pack)
}
