// What this CPU can run, read at run time with cpuid (CBF16's qat_cpu_has_avx512_bf16), never
// assumed from the build target: one binary runs on Zen 3 (no AVX512-BF16) and Zen 4/5 or
// Sapphire Rapids (with it).
//
// The bf16 path can be switched off to test the fp32 fallback on a CPU that has the
// instructions: QAT_FORCE_NO_BF16=1 in the environment (read once, at start-up) for a whole
// process, or CPUFeatures.$forceNoBF16.withValue(true) { ... } for one task (tests).
import CBF16
#if canImport(Glibc)
import Glibc
#endif

public enum CPUFeatures {
    /// AVX512-BF16 (with AVX512F/BW/VL and OS support for the zmm state), from cpuid.
    public static let hasAVX512BF16: Bool = qat_cpu_has_avx512_bf16() != 0

    /// QAT_FORCE_NO_BF16=1: behave as on a CPU without AVX512-BF16.
    public static let bf16ForcedOffByEnvironment: Bool = forcesNoBF16(getenv("QAT_FORCE_NO_BF16").map { String(cString: $0) })

    /// Per task: behave as on a CPU without AVX512-BF16 (what tests of the fallback bind).
    @TaskLocal public static var forceNoBF16 = false

    /// Whether bf16 matmuls run here: the CPU has the instructions and nothing forces them off.
    public static var bf16Available: Bool { hasAVX512BF16 && !bf16ForcedOffByEnvironment && !forceNoBF16 }

    /// The instruction set oneDNN dispatches to, by its name (for bench and `set` output).
    public static var oneDNNISA: String {
        switch qat_dnnl_effective_isa() {
        case 0x3e7: return "avx512_core_amx"
        case 0xe7: return "avx512_core_bf16"
        case 0x67: return "avx512_core_vnni"
        case 0x27: return "avx512_core"
        case 0x407: return "avx2_vnni"
        case 0x7: return "avx2"
        case let other: return "isa 0x" + String(other, radix: 16)
        }
    }

    /// The value of QAT_FORCE_NO_BF16 that forces bf16 off: "1" (anything else, or unset, does not).
    static func forcesNoBF16(_ value: String?) -> Bool { value == "1" }

    /// What `set precision=bf16` prints where bf16 does not run.
    public static let bf16UnavailableMessage = "bf16 not available on this CPU (no avx512_bf16); using fp32"
}
