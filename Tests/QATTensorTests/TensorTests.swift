// Creation, broadcasting, reductions, layout ops, conversions and seeded randomness.
import Testing
@testable import QATTensor

@Suite struct TensorBasicsTests {
    @Test func creation() throws {
        #expect(try Tensor.zeros([2, 3]).toArray() == [Float](repeating: 0, count: 6))
        #expect(try Tensor.full([2], 7).toArray() == [7, 7])
        #expect(try Tensor.arange(0, 5).toArray() == [0, 1, 2, 3, 4])
        #expect(try Tensor.arange(1, 2, step: 0.25).toArray() == [1, 1.25, 1.5, 1.75])
        #expect(throws: TensorError.self) { try Tensor(shape: [2, 2], [1, 2, 3]) }
        #expect(throws: TensorError.self) { try Tensor.zeros([2, -1]) }
        #expect(throws: TensorError.self) { try Tensor.zeros([1 << 30, 1 << 30]) }
        #expect(try Tensor(shape: [3], [1, 2, 3]).reshaped([-1, 1]).shape == [3, 1])
        #expect(throws: TensorError.self) { try Tensor(shape: [3], [1, 2, 3]).reshaped([2, -1]) }
    }

    @Test func seededRandomIsReproducible() throws {
        let a = try Tensor.randn([1000], seed: 42), b = try Tensor.randn([1000], seed: 42), c = try Tensor.randn([1000], seed: 43)
        #expect(a.toArray() == b.toArray())
        #expect(a.toArray() != c.toArray())
        let big = try Tensor.randn([100_000], seed: 1, mean: 2, std: 3)
        let mean = big.sumAll() / 1e5
        var v = 0.0; for i in 0..<big.count { v += (Double(big.data[i]) - mean) * (Double(big.data[i]) - mean) }
        #expect(abs(mean - 2) < 0.05 && abs((v / 1e5).squareRoot() - 3) < 0.05)
        let u = try Tensor.rand([100_000], seed: 2, low: -1, high: 1)
        #expect(u.toArray().allSatisfy { $0 >= -1 && $0 < 1 })
    }

    @Test func broadcastingFastPathsMatchTheGeneralWalk() throws {
        let cases: [([Int], [Int])] = [([4, 5], [4, 5]), ([3, 4, 5], [5]), ([3, 4, 5], [4, 1]), ([3, 1, 5], [1, 4, 1]), ([5], [2, 3, 5]), ([2, 3], [])]
        for (sa, sb) in cases {
            let a = randn(sa, 1), b = randn(sb, 2)
            for op in BinaryOp.allCases {
                let y = try Tensor.binary(op, a, b)
                let ref = Tensor(zeros: try Shape.broadcast(sa, sb, op: "t"))
                Tensor.binaryReference(op, a, b, into: ref)
                #expect(y.shape == ref.shape)
                #expect(y.toArray() == ref.toArray(), "\(op) \(sa) \(sb)")
            }
        }
        let x = try Tensor(shape: [2, 2], [1, 2, 3, 4]), row = try Tensor(shape: [2], [10, 20])
        #expect(try Tensor.binary(.add, x, row).toArray() == [11, 22, 13, 24])
        do { _ = try Tensor.binary(.add, randn([2, 3], 1), randn([4], 1)); Issue.record("no error") } catch {
            #expect("\(error)".contains("[2, 3]") && "\(error)".contains("[4]"))
        }
    }

    @Test func reduceToShapeIsTheAdjointOfBroadcast() throws {
        let g = randn([3, 4, 5], 3)
        let r = g.reduced(toShape: [4, 1])
        for i in 0..<4 {
            var s: Float = 0
            for a in 0..<3 { for c in 0..<5 { s += g.data[(a * 4 + i) * 5 + c] } }
            #expect(abs(r.data[i] - s) < 1e-5)
        }
    }

    @Test func reductions() throws {
        let x = try Tensor(shape: [2, 3], [1, 5, 3, 4, 2, 6])
        #expect(try x.reduce(.sum, axis: 1).toArray() == [9, 12])
        #expect(try x.reduce(.mean, axis: 0).toArray() == [2.5, 3.5, 4.5])
        #expect(try x.reduce(.max, axis: -1, keepDims: true).shape == [2, 1])
        #expect(try x.reduce(.max, axis: 1).toArray() == [5, 6])
        #expect(try x.argmax(axis: 1) == [1, 2])
        #expect(try x.argmax(axis: 0) == [1, 0, 1])
        #expect(throws: TensorError.self) { try x.reduce(.sum, axis: 2) }
    }

    @Test func layoutOps() throws {
        let x = try Tensor(shape: [2, 3], [0, 1, 2, 3, 4, 5])
        #expect(try x.transposed().toArray() == [0, 3, 1, 4, 2, 5])
        let y = randn([2, 3, 4], 4)
        let p = try y.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        #expect(p.data[(3 * 2 + 1) * 3 + 2] == y.data[(1 * 3 + 2) * 4 + 3])
        #expect(try x.sliced(axis: 1, 1, 3).toArray() == [1, 2, 4, 5])
        #expect(throws: TensorError.self) { try x.sliced(axis: 1, 2, 4) }
        #expect(try Tensor.concat([x, x.sliced(axis: 1, 0, 1)], axis: 1).toArray() == [0, 1, 2, 0, 3, 4, 5, 3])
        #expect(throws: TensorError.self) { try Tensor.concat([x, randn([3, 3], 1)], axis: 1) }
        let table = try Tensor(shape: [3, 2], [0, 1, 10, 11, 20, 21])
        #expect(try table.gatherRows([2, 0, 2], indicesShape: [3]).toArray() == [20, 21, 0, 1, 20, 21])
        #expect(throws: TensorError.self) { try table.gatherRows([3], indicesShape: [1]) }
    }

    @Test func halfAndBFloat16() {
        #expect(HalfFloat.half(from: 1) == 0x3C00)
        #expect(HalfFloat.half(from: -2) == 0xC000)
        #expect(HalfFloat.half(from: 65504) == 0x7BFF)
        #expect(HalfFloat.half(from: 1e6) == 0x7C00)                  // overflow -> inf
        #expect(HalfFloat.float(fromHalf: 0x0001) == Float(5.9604645e-8)) // smallest subnormal
        #expect(HalfFloat.bfloat16(from: 1) == 0x3F80)
        #expect(HalfFloat.float(fromBFloat16: 0x4049) == 3.140625)
        // round to nearest even at the halfway point: 1 + 2^-8 lies between 0x3F80 and 0x3F81
        #expect(HalfFloat.bfloat16(from: 1 + 1.0 / 256) == 0x3F80)
        #expect(HalfFloat.bfloat16(from: 1 + 3.0 / 256) == 0x3F82)
        #expect(HalfFloat.float(fromBFloat16: HalfFloat.bfloat16(from: .nan)).isNaN)
        // every finite half value round-trips exactly
        for bits in UInt16(0)...UInt16.max where (bits & 0x7C00) != 0x7C00 {
            #expect(HalfFloat.half(from: HalfFloat.float(fromHalf: bits)) == bits)
        }
        for bits in stride(from: UInt16(0), to: 0x7F80, by: 7) {
            #expect(HalfFloat.bfloat16(from: HalfFloat.float(fromBFloat16: bits)) == bits)
        }
    }

    @Test func threadsAreSettable() {
        let before = Threads.count
        Threads.set(1); #expect(Threads.count == 1)
        Threads.set(0); #expect(Threads.count == 1)
        Threads.set(before)
    }

    // Same numbers on any thread count, matmuls included: on a CPU whose OpenBLAS sgemm changes
    // its bits with the thread count (Zen 3 with OpenBLAS 0.3.21: ~15% of this product's entries),
    // the start-up probe keeps OpenBLAS on one thread; elsewhere it runs on `count`.
    @Test func matmulGivesTheSameBitsOnOneAndTwoThreads() throws {
        let a = try Tensor.randn([128, 576], seed: 5), b = try Tensor.randn([576, 576], seed: 6)
        let before = Threads.count
        defer { Threads.set(before) }
        Threads.set(1)
        let one = try Tensor.matmul(a, b, transB: true)
        Threads.set(2)
        #expect(Threads.blasThreads == (Threads.blasIsThreadInvariant ? 2 : 1))
        let two = try Tensor.matmul(a, b, transB: true)
        let differing = zip(one.buffer, two.buffer).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(one.count) entries differ between 1 and 2 threads")
    }
}
