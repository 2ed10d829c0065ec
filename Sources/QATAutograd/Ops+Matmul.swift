// Differentiable matmul and the linear layer. Shapes and the backward rule are in
// QATTensor/Matmul.swift (matmulForward / matmulBackward accumulate with sgemm beta = 1). Both
// run at MatmulPrecision.inForce (fp32, or bf16 inputs with fp32 accumulation: BF16Matmul.swift).
//   linear: x (..., in), w (out, in), bias (out) -> (..., out) = x w^T + bias
import QATTensor

extension Var {
    public static func matmul(_ a: Var, _ b: Var, transA: Bool = false, transB: Bool = false) throws -> Var {
        let plan = try MatmulPlan(a.shape, b.shape, transA: transA, transB: transB)
        let y = Tensor(uninitialized: plan.outShape)
        // Read once: the backward runs at the forward's precision whatever is bound when it runs.
        let precision = MatmulPrecision.inForce
        matmulForward(plan, a.value.data, b.value.data, y.data, precision: precision)
        return result(y, "matmul", [a, b]) { g in
            matmulBackward(plan, a: a.value.data, b: b.value.data, dC: g.data, dA: a.gradPointer(), dB: b.gradPointer(),
                           precision: precision)
        }
    }

    /// x w^T (+ bias): a linear layer with PyTorch's (out, in) weight layout.
    public static func linear(_ x: Var, weight: Var, bias: Var? = nil) throws -> Var {
        let y = try matmul(x, weight, transB: true)
        guard let bias else { return y }
        return try y + bias
    }
}
