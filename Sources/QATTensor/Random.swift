// Seeded random numbers: the same seed gives the same numbers on every machine.
// xoshiro256** seeded through SplitMix64; normals by Box-Muller on two uniforms.

public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E3779B97F4A7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
        s = (splitmix(&x), splitmix(&x), splitmix(&x), splitmix(&x))
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal (Box-Muller, one value per call; the pair's twin is discarded for simplicity).
    public mutating func normal() -> Float {
        let u1 = (Double(next() >> 11) + 1) * (1.0 / 9_007_199_254_740_993.0)   // (0, 1]
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

@inline(__always) func _log(_ x: Double) -> Double { x.logValue }
@inline(__always) func _cos(_ x: Double) -> Double { x.cosValue }

extension Tensor {
    /// Normal(mean, std) values from `seed`.
    public static func randn(_ shape: [Int], seed: UInt64, mean: Float = 0, std: Float = 1) throws -> Tensor {
        _ = try Shape.validate(shape, op: "randn")
        var rng = SeededRandom(seed: seed)
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = mean + std * rng.normal() }
        return t
    }

    /// Uniform values in [low, high) from `seed`.
    public static func rand(_ shape: [Int], seed: UInt64, low: Float = 0, high: Float = 1) throws -> Tensor {
        _ = try Shape.validate(shape, op: "rand")
        var rng = SeededRandom(seed: seed)
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = low + (high - low) * rng.uniform() }
        return t
    }
}
