// The one definition of a model's average bits (`avg_bits` in quantize, info, dump, eval's `bits`
// column and checkpoint metadata). It is counted from what is INSTALLED on the model (each
// linear's quantizer), never from a policy, so it reports what was done.
//
// Over the weights of every block linear (q/k/v/o/gate/up/down of every block), weighted by
// parameter count, one linear of N-bit codes in groups of g = min(group, in) input columns costs
// what the row of its grid says (QuantGrid.bitsPerWeight; a ragged last group is not counted
// separately, so SmolLM2's 576 inputs at g=128 give 3 + 19/128, not the 5 stored groups' exact
// 3.1608). Today's rows:
//   int_asym (RTN, GPTQ, AWQ, Block-AP, and merged QFA adapters, see below):   N + (N + 16) / g
//      (the codes, plus an fp16 scale and an N-bit zero per group: the papers' accounting)
//   int_asym_fractional_zero (zeros trained by E2E-QP, stored as fp16):       N + (16 + 16) / g
//      (EfficientQAT Table 6: 2.50 bits at w2g64)
//   a llama.cpp block format (GGMLQuantizer, GGMLFormat.swift): the stored bits of its blocks,
//      8 * bytesPerBlock / blockSize (q4_0 4.5, q4_k 4.5, q2_k 2.625, q3_k 3.4375, q6_k 6.5625;
//      scales and mins included, exactly what the GGUF file holds)
//   full precision (no quantizer):                  16 (it would be stored as fp16)
// Merged QFA adapters (MergedZeroQuantizer) store real-valued zeros but are counted on int_asym,
// the grid the supernet trained, as LLM-QFA and QA-LoRA count their merged models.
// Embeddings, norms and the LM head are not counted: every method keeps them in full precision.
// QFA's supernet search budgets use their own figure, the mean code width per unit (QFASampler).
import QATModel

public enum AverageBits {
    /// Average bits per weight over every block linear of `model` (see the header); 16 when the
    /// model has no block linears.
    public static func blockLinears(_ model: LlamaModel) -> Double {
        var bits = 0.0, weights = 0.0
        for block in model.blocks {
            for linear in block.linears {
                let count = Double(linear.outFeatures * linear.inFeatures)
                bits += count * perWeight(linear)
                weights += count
            }
        }
        return weights > 0 ? bits / weights : 16
    }

    /// Bits per weight of one linear as installed (see the header).
    public static func perWeight(_ linear: Linear) -> Double {
        if let q = linear.quantizer as? GGMLQuantizer { return q.format.bitsPerWeight }
        guard let spec = installedSpec(linear) else { return 16 }
        let g = min(spec.effectiveGroupSize(inFeatures: linear.inFeatures), linear.inFeatures)
        return countedGrid(linear).bitsPerWeight(spec.bits, g)
    }

    /// The grid whose row counts `linear`'s bits (see the header for merged QFA adapters).
    static func countedGrid(_ linear: Linear) -> QuantGrid {
        (linear.quantizer as? HardQuantizer)?.grid ?? .intAsym
    }

    /// The spec of the quantizer installed on `linear`, if it is one of QATLab's quantizers.
    public static func installedSpec(_ linear: Linear) -> QuantSpec? {
        if let q = linear.quantizer as? HardQuantizer { return q.spec }
        if let q = linear.quantizer as? FakeQuantizer { return q.spec }
        if let q = linear.quantizer as? MergedZeroQuantizer { return q.stored.spec }
        return nil
    }
}
