// The kernel-family profiler (QATTensor/Profile.swift) under real autograd ops.
import Testing
@testable import QATAutograd
import QATTensor

@Suite struct ProfileTests {
    @Test func chargesEachOpToItsFamilyForwardAndBackward() throws {
        let q = param([1, 80, 2, 8], 71), k = param([1, 80, 1, 8], 72), v = param([1, 80, 1, 8], 73)
        let (_, r) = try Profile.record {
            let y = try Var.causalAttention(q: q, k: k, v: v)
            try y.rmsNorm(weight: Var(try Tensor.ones([8])), eps: 1e-5).sum().backward()
        }
        let attention = KernelFamily.attention.rawValue, norm = KernelFamily.norm.rawValue
        #expect(r.forwardNanos[attention] > 0 && r.backwardNanos[attention] > 0)
        #expect(r.forwardNanos[norm] > 0 && r.backwardNanos[norm] > 0)
        #expect(r.forwardNanos[KernelFamily.matmul.rawValue] == 0 && r.backwardNanos[KernelFamily.matmul.rawValue] == 0)
        #expect(r.totalNanos == r.forwardNanos.reduce(0, +) + r.backwardNanos.reduce(0, +))
        #expect(!Profile.isRecording)
        let lines = r.lines(title: "t")
        #expect(lines.first?.hasPrefix("profile t: total ") == true)
        #expect(lines.contains { $0.hasPrefix("  attention: ") })
    }

    @Test func familyOfOpNames() {
        #expect(KernelFamily.of(op: "matmul") == .matmul)
        #expect(KernelFamily.of(op: "fake_quant") == .quantizer)
        #expect(KernelFamily.of(op: "swiglu") == .activation)
        #expect(KernelFamily.of(op: "reshape") == .copy)
        #expect(KernelFamily.of(op: "something_new") == .other)
    }
}
