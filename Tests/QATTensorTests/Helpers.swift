import QATTensor

/// Largest |a - b| relative to 1 + |b|, over all elements.
func maxRelError(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var m: Float = 0
    for i in 0..<n { m = max(m, abs(a[i] - b[i]) / (1 + abs(b[i]))) }
    return m
}

func randn(_ shape: [Int], _ seed: UInt64, std: Float = 1) -> Tensor {
    (try? Tensor.randn(shape, seed: seed, std: std)) ?? Tensor(zeros: shape)
}
