// Hidden-state buffers for block-wise training: N samples of (T, C), held once per chain,
// in Float32 or (halving the memory, as the reference's fp16 CPU buffers) Float16.
//   storage: (N, T, C) row-major
import QATTensor

public final class HiddenStates {
    public let samples: Int, seq: Int, width: Int
    public let half: Bool
    private var f32: [Float]
    private var f16: [UInt16]

    public init(samples: Int, seq: Int, width: Int, half: Bool) {
        self.samples = samples; self.seq = seq; self.width = width; self.half = half
        let n = samples * seq * width
        f32 = half ? [] : [Float](repeating: 0, count: n)
        f16 = half ? [UInt16](repeating: 0, count: n) : []
    }

    public var bytes: Int { samples * seq * width * (half ? 2 : 4) }
    var sampleSize: Int { seq * width }

    /// Samples `indices` as one (B, T, C) tensor.
    public func batch(_ indices: [Int]) -> Tensor {
        let out = Tensor(uninitialized: [indices.count, seq, width])
        for (k, i) in indices.enumerated() {
            let dst = out.data + k * sampleSize, base = i * sampleSize
            if half {
                f16.withUnsafeBufferPointer { src in
                    HalfFloat.decodeHalf(UnsafeBufferPointer(rebasing: src[base..<(base + sampleSize)]), into: dst)
                }
            } else {
                f32.withUnsafeBufferPointer { src in dst.update(from: src.baseAddress! + base, count: sampleSize) }
            }
        }
        return out
    }

    /// Overwrites samples `indices` with `t`: (B, T, C).
    public func store(_ t: Tensor, at indices: [Int]) {
        for (k, i) in indices.enumerated() {
            let src = UnsafeBufferPointer(start: t.data + k * sampleSize, count: sampleSize), base = i * sampleSize
            if half {
                f16.withUnsafeMutableBufferPointer { dst in HalfFloat.encodeHalf(src, into: dst.baseAddress! + base) }
            } else {
                f32.withUnsafeMutableBufferPointer { dst in (dst.baseAddress! + base).update(from: src.baseAddress!, count: sampleSize) }
            }
        }
    }

    public func copy() -> HiddenStates {
        let c = HiddenStates(samples: samples, seq: seq, width: width, half: half)
        c.f32 = f32; c.f16 = f16
        return c
    }

    /// Runs `f` over the samples in batches of `batch` and stores its output in place.
    public func transform(batch: Int, _ f: (Tensor) throws -> Tensor) throws {
        var start = 0
        while start < samples {
            let idx = Array(start..<min(start + batch, samples))
            store(try f(self.batch(idx)), at: idx)
            start += batch
        }
    }
}
