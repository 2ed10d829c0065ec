// The rotate verb: its summary line is counted from the result, the object it was given is not
// changed, the same seed gives the same weights, bad kind/seed/quantized input give clear errors,
// and every quantizer (RTN, GPTQ, AWQ, one Block-AP block, a one-step E2E-QP) and export fp take
// the rotated tiny model as any model (export's directory loads back with the same perplexity).
import Foundation
import QATInterp
import QATModel
import QATQuant
import QATTensor
import Testing

@testable import QATToolkit

@Suite struct RotateVerbTests {
    /// The value of `key=` on the last printed line starting with `prefix`.
    func field(_ s: Session, _ prefix: String, _ key: String) -> String? {
        guard let line = s.lines.last(where: { $0.hasPrefix(prefix) }) else { return nil }
        return line.split(separator: " ").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    func model(_ s: Session, _ name: String) -> LlamaModel? {
        if case .object(let o)? = s.interp.variables[name], let m = o as? ModelObject { return m.model }
        return nil
    }

    @Test func theSummaryIsCountedAndTheObjectIsUnchanged() throws {
        let s = Session()
        try s.run("m = load tiny\nw0 = weight m block=0 linear=q_proj\nr = rotate m kind=random seed=3\nw1 = weight m block=0 linear=q_proj")
        #expect(s.tensor("w0") == s.tensor("w1"), "rotate changed its input object")
        let original = try #require(model(s, "m")), rotated = try #require(model(s, "r"))
        #expect(field(s, "rotate ", "kind") == "random" && field(s, "rotate ", "seed") == "3")
        #expect(field(s, "rotate ", "hidden") == "\(rotated.config.hiddenSize)" && field(s, "rotate ", "head") == "untied")
        #expect(field(s, "rotate ", "max_abs_weight_before") == fmt(Double(Rotation.maxAbsBlockLinearWeight(original)), digits: 4))
        #expect(field(s, "rotate ", "max_abs_weight_after") == fmt(Double(Rotation.maxAbsBlockLinearWeight(rotated)), digits: 4))
        #expect(rotated.lmHead != nil && !rotated.config.tieWordEmbeddings)
        try s.run("info r")
        #expect(s.output.contains("method=rotate random seed=3") && s.output.contains("tied_embeddings=false"))
    }

    @Test func theSameSeedGivesTheSameWeights() throws {
        let s = Session()
        try s.run("""
            a = weight (rotate tiny kind=hadamard seed=4) block=1 linear=down_proj
            b = weight (rotate tiny kind=hadamard seed=4) block=1 linear=down_proj
            c = weight (rotate tiny kind=hadamard seed=5) block=1 linear=down_proj
            """)
        #expect(s.tensor("a") != nil && s.tensor("a") == s.tensor("b"))
        #expect(s.tensor("a") != s.tensor("c"))
    }

    @Test func badInputGivesClearErrors() throws {
        let s = Session()
        let kind = try #require(s.error("rotate tiny kind=givens"))
        #expect(kind.description.contains("hadamard") && kind.description.contains("random"), "\(kind)")
        let seed = try #require(s.error("rotate tiny seed=-1"))
        #expect(seed.description.contains("seed"), "\(seed)")
        let quantized = try #require(s.error("rotate (quantize tiny method=rtn bits=4 group=32)"))
        #expect(quantized.description.contains("full-precision") && quantized.description.contains("quantize"), "\(quantized)")
    }

    @Test func everyQuantizerAcceptsARotatedModel() throws {
        let s = Session()
        try s.run("r = rotate tiny kind=hadamard seed=1")
        let calib = "bits=4 group=32 samples=4 seqlen=32"
        for method in ["rtn", "gptq", "awq"] {
            try s.run("q = quantize r method=\(method) \(calib)")
            #expect(field(s, "method=", "method") == method && field(s, "method=", "avg_bits") == "4.625", "\(method): \(s.lines.last ?? "")")
        }
        try s.run("b = blockap r bits=2 group=32 samples=4 val=2 seqlen=32 epochs=1 blocks=0")
        #expect(field(s, "blockap ", "blocks") == "1")
        try s.run("e = e2eqp (quantize r method=rtn bits=4 group=32) samples=4 val=2 seqlen=32 max_steps=1")
        #expect(field(s, "e2eqp ", "steps") == "1")
    }

    @Test func exportFpWritesTheRotatedWeights() throws {
        let dir = try ScratchDir("rotate")
        let s = Session()
        try s.run("""
            r = rotate tiny kind=random seed=2
            export r format=fp out="\(dir.sub("rot"))"
            e = load "\(dir.sub("rot"))"
            wr = weight r block=2 linear=gate_proj
            we = weight e block=2 linear=gate_proj
            pr = ppl r fortunes ctx=64 max_windows=2
            pt = ppl tiny fortunes ctx=64 max_windows=2
            """)
        #expect(s.tensor("wr") != nil && s.tensor("wr") == s.tensor("we"))
        guard case .number(let pr)? = s.interp.variables["pr"], case .number(let pt)? = s.interp.variables["pt"] else {
            Issue.record("ppl returned no number"); return
        }
        #expect(abs(pr - pt) / pt < 1e-4, "rotated ppl \(pr) vs original \(pt)")
    }
}
