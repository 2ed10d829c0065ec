// matvec (one row through a weight, the decoding step's matmul) against the Double loop, at
// widths that exercise its 32-, 8- and 1-element tails, and the same bits on 1 and 2 threads.
import QATTensor
import Testing

@Suite(.serialized) struct MatvecTests {
    @Test(arguments: [(3, 1), (7, 8), (5, 45), (64, 576), (300, 1536)])
    func matchesTheDoubleLoop(rows: Int, cols: Int) throws {
        let w = try Tensor.randn([rows, cols], seed: 1), x = try Tensor.randn([cols], seed: 2)
        let y = Tensor(zeros: [rows]), ref = Tensor(zeros: [rows])
        matvec(w.data, x.data, y.data, rows: rows, cols: cols)
        matvecReference(w.data, x.data, ref.data, rows: rows, cols: cols)
        // Float accumulation of cols products of N(0,1) numbers: error ~ eps sqrt(cols) |terms|
        let bound = Float(cols).squareRoot() * 1e-5
        for i in 0..<rows { #expect(abs(y.data[i] - ref.data[i]) <= bound, "row \(i): \(y.data[i]) vs \(ref.data[i])") }
    }

    @Test func sameBitsOnAnyThreadCount() throws {
        let rows = 2000, cols = 576   // large enough to be split over threads
        let w = try Tensor.randn([rows, cols], seed: 3), x = try Tensor.randn([cols], seed: 4)
        let threads = Threads.count
        defer { Threads.set(threads) }
        var results: [[Float]] = []
        for n in [1, 2] {
            Threads.set(n)
            let y = Tensor(zeros: [rows])
            matvec(w.data, x.data, y.data, rows: rows, cols: cols)
            results.append(y.toArray())
        }
        #expect(results[0] == results[1])
    }
}
