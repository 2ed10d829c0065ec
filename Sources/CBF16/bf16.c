// See include/CBF16.h. oneDNN 2.x exports dnnl_gemm_bf16bf16f32 (row-major, like dnnl_sgemm) with
// C linkage but declares it only in its internal headers, so it is declared here; bfloat16_t
// there is a struct holding one uint16_t, passed by pointer, so uint16_t* is the same ABI.
#include "CBF16.h"
#include <cpuid.h>

typedef int64_t dnnl_dim_t;
extern int dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                 float alpha, const uint16_t *A, dnnl_dim_t lda, const uint16_t *B,
                                 dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc);
extern int dnnl_get_effective_cpu_isa(void);
// libgomp's (oneDNN's threading runtime); the count is per calling thread.
extern void omp_set_num_threads(int n);

int qat_cpu_has_avx512_bf16(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    if (!(ecx & (1u << 27))) return 0;                 // OSXSAVE: xgetbv is usable
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0xE6) != 0xE6) return 0;            // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    const unsigned f = 1u << 16, bw = 1u << 30, vl = 1u << 31;
    if ((ebx & (f | bw | vl)) != (f | bw | vl)) return 0;
    if (eax < 1) return 0;                              // leaf 7 has no sub-leaf 1
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return 0;
    return (eax >> 5) & 1;                              // AVX512_BF16
}

int qat_bf16_gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                         float beta, float *c, int64_t ldc) {
    omp_set_num_threads(1);
    return dnnl_gemm_bf16bf16f32(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                                 beta, c, ldc);
}

int qat_dnnl_effective_isa(void) { return dnnl_get_effective_cpu_isa(); }
