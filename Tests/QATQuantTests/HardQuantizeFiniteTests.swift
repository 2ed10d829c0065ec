// hardQuantize refuses non-finite weights, scales and zeros with an error naming the tensor, the
// value and its index: a NaN has no integer code, and UInt8(NaN) stopped the process.
import QATQuant
import QATTensor
import Testing

@Suite struct HardQuantizeFiniteTests {
    @Test func nonFiniteInputsAreRefusedNotTrapped() throws {
        let spec = try QuantSpec(bits: 2, groupSize: 4)
        func inputs() throws -> (Tensor, Tensor, Tensor) {
            (try Tensor(shape: [1, 4], [0.1, -0.2, 0.3, 0.4]), try Tensor(shape: [1, 1], [0.2]), try Tensor(shape: [1, 1], [1]))
        }
        let cases: [(String, Int, Float)] = [("weight", 2, .nan), ("scales", 0, .nan), ("zeros", 0, .nan), ("weight", 3, .infinity)]
        for (name, index, bad) in cases {
            let (w, s, z) = try inputs()
            [("weight", w), ("scales", s), ("zeros", z)].first { $0.0 == name }?.1.data[index] = bad
            do {
                _ = try hardQuantize(weight: w, scales: s, zeros: z, spec: spec)
                Issue.record("\(name)[\(index)] = \(bad) was quantized")
            } catch {
                #expect("\(error)".contains("\(name) holds \(bad) at flat index \(index)"), "\(error)")
            }
        }
        let (w, s, z) = try inputs()
        #expect(try hardQuantize(weight: w, scales: s, zeros: z, spec: spec).codes.count == 4)
    }
}
