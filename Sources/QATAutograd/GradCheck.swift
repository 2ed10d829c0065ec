// Finite-difference gradient check: the test oracle for every backward.
//
// For inputs x_i and a function f(x) -> Var, compares the autograd gradient of
// L = sum(f(x) * R) (R a fixed random tensor, so every output element matters) with the central
// difference (L(x + eps e_j) - L(x - eps e_j)) / (2 eps), evaluated in Double, for every element
// (or a seeded sample of `maxChecks` elements of large inputs).
import QATTensor

public struct GradCheckResult: CustomStringConvertible {
    public var maxError: Double = 0          // max |analytic - numeric| / (atol + rtol*|numeric|)
    public var worst = ""                    // where the max was
    public var checked = 0
    public var passed: Bool { maxError <= 1 }
    public var description: String { "gradcheck: \(checked) elements, worst ratio \(maxError) at \(worst)" }
}

public func gradCheck(inputs: [Var], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 2e-2,
                      maxChecks: Int = 64, seed: UInt64 = 7, _ f: ([Var]) throws -> Var) throws -> GradCheckResult {
    let out0 = try noGrad { try f(inputs) }
    let r = try Tensor.randn(out0.shape, seed: seed)
    func loss() throws -> Double {
        let y = try noGrad { try f(inputs) }
        var s = 0.0
        for i in 0..<y.value.count { s += Double(y.value.data[i]) * Double(r.data[i]) }
        return s
    }
    for x in inputs { x.zeroGrad() }
    let y = try f(inputs)
    try (y * Var(r)).sum().backward()
    var result = GradCheckResult()
    var rng = SeededRandom(seed: seed &+ 1)
    for (xi, x) in inputs.enumerated() where x.requiresGrad {
        let n = x.value.count
        let picks = n <= maxChecks ? Array(0..<n) : (0..<maxChecks).map { _ in Int(rng.next() % UInt64(n)) }
        let analytic = x.grad ?? Tensor(zeros: x.shape)
        for j in picks {
            let orig = x.value.data[j]
            x.value.data[j] = orig + eps; let lp = try loss()
            x.value.data[j] = orig - eps; let lm = try loss()
            x.value.data[j] = orig
            let numeric = (lp - lm) / (2 * Double(eps))
            let err = abs(Double(analytic.data[j]) - numeric) / (atol + rtol * abs(numeric))
            result.checked += 1
            if err > result.maxError {
                result.maxError = err
                result.worst = "input \(xi) element \(j): analytic \(analytic.data[j]) numeric \(numeric)"
            }
        }
    }
    return result
}
