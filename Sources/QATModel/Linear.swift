// A linear layer y = x W^T + b whose weight may come from a quantizer.
//
//   x: (..., in)   weight: (out, in) (Hugging Face layout)   bias: (out)   y: (..., out)
// The model knows nothing about quantization formats: a quantizer (QATQuant) conforms to
// LinearQuantizer and hands the layer the weight to multiply by, built either from the
// full-precision weight (fake quantization, gradients to W, s, z through the STE) or from its
// own integer codes (hard quantization, gradients to s and z only).
import QATAutograd
import QATTensor

public protocol LinearQuantizer: AnyObject {
    /// The (out, in) weight this forward multiplies by. `weight` is the layer's full-precision
    /// weight (a hard quantizer ignores it).
    func effectiveWeight(_ weight: Var) throws -> Var
    /// Parameters the quantizer owns (scales, zero points, ...), named.
    var parameters: [(String, Var)] { get }
    /// A short description ("w3g128 fake", "w2g64 hard").
    var summary: String { get }
}

/// A trainable side path added to a linear's output (LoRA-style adapters, QATTrain's QFA):
/// y = x W^T + b + delta(x). The adapter owns its parameters and their gradients.
public protocol LinearAdapter: AnyObject {
    /// x: (..., in) -> (..., out), added to the layer's output.
    func delta(_ x: Var) throws -> Var
}

public final class Linear {
    public let name: String
    // (out, in)
    public var weight: Var
    // (out)
    public var bias: Var?
    public var quantizer: (any LinearQuantizer)?
    /// Added to the output when set (nil for every model QATLab loads).
    public var adapter: (any LinearAdapter)?

    public init(name: String, weight: Tensor, bias: Tensor? = nil) {
        self.name = name
        self.weight = Var(weight, requiresGrad: true, name: name)
        self.bias = bias.map { Var($0, requiresGrad: false, name: name + ".bias") }
    }

    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }

    /// The weight the matmul uses right now.
    public func effectiveWeight() throws -> Var {
        try quantizer?.effectiveWeight(weight) ?? weight
    }

    /// x: (..., in) -> (..., out)
    public func forward(_ x: Var) throws -> Var {
        let y = try Var.linear(x, weight: effectiveWeight(), bias: bias)
        guard let adapter else { return y }
        return try y + adapter.delta(x)
    }
}
