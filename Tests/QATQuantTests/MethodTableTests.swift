// The method table (QuantMethod) with a mixed per-linear policy on the tiny model: every method
// installs, linear by linear, the bits and group the policy gives, and leaves full-precision
// linears without a quantizer and with their source weights bit for bit. And the one average-bits
// definition (AverageBits), checked against numbers derived here from the shapes.
import QATModel
import QATQuant
import QATTensor
import Testing

@Suite struct MethodTableTests {
    /// blocks.2.k_proj and blocks.3.up_proj: one fp member of a norm-fed AWQ group (q/k/v, gate/up),
    /// and an fp `prev` of a linear-fed one (up -> down): AWQ must not fold scales into either.
    static let mixedPolicy = "w2g32,blocks.0=fp,down_proj=w4g16,blocks.1.q_proj=w3g32,blocks.2.k_proj=fp,blocks.3.up_proj=fp"

    /// What the mixed policy gives linear `name` of block `block`, written out by hand.
    static func expected(block: Int, linear name: String) throws -> QuantSpec? {
        if block == 0 || (block == 2 && name == "k_proj") || (block == 3 && name == "up_proj") { return nil }
        if block == 1 && name == "q_proj" { return try QuantSpec(bits: 3, groupSize: 32) }
        if name == "down_proj" { return try QuantSpec(bits: 4, groupSize: 16) }
        return try QuantSpec(bits: 2, groupSize: 32)
    }

    static let linearNames = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    @Test(arguments: ["rtn", "rtn0", "gptq", "awq"])
    func mixedPolicyIsInstalledLinearByLinear(method name: String) throws {
        let source = try ModelLoader.load("tiny").model
        let model = try ModelLoader.load("tiny").model
        let calib = try ptqRandomCalibration(vocab: 258, count: 4, seqlen: 32, seed: 5)
        let method = try QuantMethod.named(name)
        try method.apply(model: model, policy: try QuantPolicy(parsing: Self.mixedPolicy), calibration: method.needsCalibration ? calib : nil)
        var checked = 0
        for (bi, block) in model.blocks.enumerated() {
            for (li, linear) in block.linears.enumerated() {
                let label = "\(name) blocks.\(bi).\(linear.name)"
                #expect(linear.name == Self.linearNames[li])
                if let spec = try Self.expected(block: bi, linear: linear.name) {
                    let q = try #require(linear.quantizer as? HardQuantizer, "\(label) has no hard quantizer")
                    #expect(q.spec == spec, "\(label): \(q.spec) installed, \(spec) asked")
                } else {
                    #expect(linear.quantizer == nil, "\(label) is full precision but has a quantizer")
                    let before = source.blocks[bi].linears[li].weight.value.toArray().map(\.bitPattern)
                    #expect(linear.weight.value.toArray().map(\.bitPattern) == before, "\(label) weight changed")
                }
                checked += 1
            }
        }
        #expect(checked == 28)
    }

    @Test func unknownMethodListsTheKnownOnes() throws {
        #expect(QuantMethod.all.map(\.name) == ["rtn", "rtn0", "gptq", "awq"])
        do {
            _ = try QuantMethod.named("hqq")
            Issue.record("hqq is not a method")
        } catch let e as TensorError {
            #expect("\(e)".contains("rtn, rtn0, gptq, awq"), "\(e)")
        }
    }

    @Test func optionsAreCheckedAgainstTheRow() throws {
        let model = try ModelLoader.load("tiny").model
        let policy = QuantPolicy(try QuantSpec(bits: 4, groupSize: 32))
        #expect(throws: TensorError.self) { try QuantMethod.rtn.apply(model: model, policy: policy, calibration: nil, options: ["act_order": 1]) }
        #expect(throws: TensorError.self) { try QuantMethod.gptq.apply(model: model, policy: policy, calibration: nil) }
        let calib = try ptqRandomCalibration(vocab: 258, count: 2, seqlen: 16, seed: 1)
        #expect(throws: TensorError.self) { try QuantMethod.awq.apply(model: model, policy: policy, calibration: calib, options: ["search_windows": 0]) }
    }

    /// Installed quantizers, not a policy: a full-precision block linear counts 16, a quantized
    /// one N + (N + 16) / g with g = min(group, in), fractional zeros N + 32 / g.
    @Test func averageBitsCountsWhatIsInstalled() throws {
        let model = try ModelLoader.load("tiny").model
        // tiny: hidden 128, ffn 256, kv dim 64; q, o 128x128; k, v 64x128; gate, up 256x128; down 128x256
        let sizes = [128 * 128, 64 * 128, 64 * 128, 128 * 128, 256 * 128, 256 * 128, 128 * 256]
        let perBlock = Double(sizes.reduce(0, +))
        #expect(AverageBits.blockLinears(model) == 16)
        try QuantPolicy(parsing: Self.mixedPolicy).apply(to: model, mode: .hard)
        var bits = 16 * perBlock                                   // block 0
        for block in 1...3 {
            for (li, n) in sizes.enumerated() {
                if (block == 2 && li == 1) || (block == 3 && li == 5) { bits += 16 * Double(n); continue }   // k_proj, up_proj fp
                let (b, g): (Double, Double) = li == 6 ? (4, 16) : (block == 1 && li == 0 ? (3, 32) : (2, 32))
                bits += Double(n) * (b + (b + 16) / g)
            }
        }
        #expect(abs(AverageBits.blockLinears(model) - bits / (4 * perBlock)) < 1e-12)
        // a group wider than the row counts as one group of `in` columns: w4g512 on 128 inputs
        try QuantPolicy(parsing: "none,blocks.0.q_proj=w4g512").apply(to: model, mode: .hard)
        #expect(AverageBits.perWeight(model.blocks[0].q) == 4 + 20.0 / 128)
        let q = try #require(model.blocks[0].q.quantizer as? HardQuantizer)
        q.fractionalZeros = true
        #expect(AverageBits.perWeight(model.blocks[0].q) == 4 + 32.0 / 128)
        #expect(AverageBits.perWeight(model.blocks[0].k) == 16)
    }
}

/// A non-finite weight in a linear the policy quantizes is refused by every method with its name
/// and position (it used to trap converting NaN to a code in GPTQ and AWQ), and an fp linear's
/// NaN is not the methods' business.
@Suite struct NonFiniteWeightTests {
    @Test(arguments: ["rtn", "rtn0", "gptq", "awq"])
    func nanWeightIsRefusedWithItsPlace(method name: String) throws {
        let model = try ModelLoader.load("tiny").model
        model.blocks[1].linears[2].weight.value.data[3 * model.blocks[1].linears[2].inFeatures + 5] = .nan
        let method = try QuantMethod.named(name)
        let calib = try ptqRandomCalibration(vocab: 258, count: 4, seqlen: 32, seed: 5)
        let policy = QuantPolicy(try QuantSpec(bits: 4, groupSize: 32))
        do {
            try method.apply(model: model, policy: policy, calibration: method.needsCalibration ? calib : nil)
            Issue.record("\(name) accepted a NaN weight")
        } catch {
            #expect("\(error)".contains("blocks.1.v_proj.weight[3, 5] is nan"), "\(error)")
        }
        // the same NaN in a linear kept at full precision does not stop the others
        let fp = try QuantPolicy(parsing: "w4g32,blocks.1.v_proj=fp")
        if name == "rtn" { try method.apply(model: model, policy: fp, calibration: nil) }
    }
}
