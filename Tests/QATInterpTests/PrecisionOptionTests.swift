// `set precision=fp32|bf16`: the session's matmul precision, bound around every verb; on a CPU
// without AVX512-BF16 (forced here) it says so and stays fp32.
import Testing
@testable import QATInterp
import QATTensor

private func precisionProbe(_ seen: @escaping (MatmulPrecision) -> Void) -> VerbSpec {
    VerbSpec(name: "probe", summary: "records the matmul precision a verb runs at", help: "test only",
             examples: ["probe"]) { _ in seen(MatmulPrecision.current); return .none }
}

@Suite struct PrecisionOptionTests {
    @Test func fallbackPrintsTheMessageAndStaysFP32() throws {
        let (interp, out) = session()
        var seen: [MatmulPrecision] = []
        interp.register([precisionProbe { seen.append($0) }])
        try CPUFeatures.$forceNoBF16.withValue(true) {
            try interp.run("set precision=bf16\nprobe\nset")
        }
        #expect(out.lines.first == "bf16 not available on this CPU (no avx512_bf16); using fp32")
        #expect(out.lines.filter { $0.hasPrefix("bf16 not available") }.count == 1)
        #expect(interp.precision == .fp32 && seen == [.fp32])
        #expect(out.lines.contains { $0.hasPrefix("precision=fp32 ") })
    }

    @Test(.enabled(if: CPUFeatures.bf16Available, "needs AVX512-BF16"))
    func verbsRunAtTheSessionPrecision() throws {
        let (interp, out) = session()
        var seen: [MatmulPrecision] = []
        interp.register([precisionProbe { seen.append($0) }])
        try interp.run("probe\nset precision=bf16\nprobe\nset\nset precision=fp32\nprobe")
        #expect(seen == [.fp32, .bf16, .fp32])
        #expect(out.lines.contains { $0.hasPrefix("precision=bf16 ") })
        #expect(!out.lines.contains { $0.hasPrefix("bf16 not available") })
        #expect(interpError { try interp.run("set precision=fp16") }?.message.contains("fp32|bf16") == true)
    }
}
