// The quantize verb over the method table: every method name is accepted, one method's options
// are refused with another, an unknown method names the known ones; and the avg_bits quantize
// prints equals what `info` prints on the written checkpoint and a number derived here by hand.
import Foundation
import QATInterp
import QATQuant
import Testing

@testable import QATToolkit

@Suite struct QuantizeVerbTests {
    /// The value of `key=` in the last printed line that has it.
    static func field(_ key: String, in lines: [String]) -> String? {
        for line in lines.reversed() {
            for word in line.split(separator: " ") where word.hasPrefix(key + "=") { return String(word.dropFirst(key.count + 1)) }
        }
        return nil
    }

    /// Average bits of "w2g32,blocks.0=fp,down_proj=w4g16,blocks.1.q_proj=w3g32" on tiny, by hand:
    /// per block q, o 128x128; k, v 64x128; gate, up 256x128; down 128x256 (hidden 128, ffn 256,
    /// 2 kv heads of 32); block 0 at 16 bits, a quantized weight N + (N + 16) / g.
    static var mixedPolicyBits: Double {
        let sizes = [128 * 128, 64 * 128, 64 * 128, 128 * 128, 256 * 128, 256 * 128, 128 * 256]
        let perBlock = Double(sizes.reduce(0, +))   // 147,456
        var bits = 16 * perBlock
        for block in 1...3 {
            for (i, n) in sizes.enumerated() {
                let (b, g): (Double, Double) = i == 6 ? (4, 16) : (block == 1 && i == 0 ? (3, 32) : (2, 32))
                bits += Double(n) * (b + (b + 16) / g)
            }
        }
        return bits / (4 * perBlock)   // 3,773,952 / 589,824 = 6.3984375
    }

    @Test(arguments: ["rtn", "gptq"])
    func printedAverageBitsMatchInfoAndTheHandCount(method: String) throws {
        let dir = try ScratchDir("avgbits")
        let s = Session()
        let policy = "w2g32,blocks.0=fp,down_proj=w4g16,blocks.1.q_proj=w3g32"
        try s.run("quantize tiny method=\(method) policy=\"\(policy)\" samples=4 seqlen=32 out=\(dir.sub("q"))")
        let printed = try #require(Self.field("avg_bits", in: s.lines))
        #expect(Self.field("spec", in: s.lines) == policy)
        try s.run("info \(dir.sub("q"))")
        let info = try #require(Self.field("avg_bits", in: s.lines))
        #expect(printed == info, "quantize printed \(printed), info \(info)")
        let value = try #require(Double(printed))
        #expect(abs(value - Self.mixedPolicyBits) <= 0.0005, "\(printed) vs \(Self.mixedPolicyBits)")
        let manifest = try NativeCheckpoint.readManifest(dir.sub("q"))
        #expect(manifest.metadata["avg_bits"].flatMap(Double.init) == Self.mixedPolicyBits)
        #expect(manifest.method == method)
    }

    @Test func everyMethodOfTheTableIsAccepted() throws {
        for method in QuantMethod.all {
            let s = Session()
            try s.run("quantize tiny method=\(method.name) bits=4 group=32 samples=2 seqlen=16")
            #expect(Self.field("method", in: s.lines) == method.name)
            #expect(Self.field("avg_bits", in: s.lines) == "4.625")   // 4 + 20/32 on every block linear
        }
    }

    @Test func optionsOfOneMethodAreRefusedWithAnother() throws {
        let s = Session()
        var refused = 0
        for owner in QuantMethod.all {
            for option in owner.options {
                for other in QuantMethod.all where !other.options.contains(option) {
                    let e = try #require(s.error("quantize tiny method=\(other.name) \(option.name)=1"))
                    #expect(e.message.contains("\(option.name)= applies to method=\(owner.name), not method=\(other.name)"), "\(e.message)")
                    #expect(e.hint == "drop \(option.name)= or use method=\(owner.name)")
                    refused += 1
                }
            }
        }
        #expect(refused == 6)   // act_order with rtn/rtn0/awq, search_windows with rtn/rtn0/gptq
        let e = try #require(s.error("quantize tiny method=hqq"))
        for method in QuantMethod.all { #expect(e.message.contains(method.name), "\(e.message)") }
    }
}
