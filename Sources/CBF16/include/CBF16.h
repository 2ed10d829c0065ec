// CBF16: bf16 matrix multiplication with fp32 accumulation (oneDNN, Debian libdnnl-dev) and the
// cpuid check for the AVX512-BF16 instructions it needs to be fast.
#pragma once
#include <stdint.h>

/// 1 when this CPU has AVX512F, AVX512BW, AVX512VL and AVX512-BF16 and the OS saves the zmm and
/// mask registers (XCR0), read with cpuid/xgetbv at run time; 0 otherwise.
int qat_cpu_has_avx512_bf16(void);

/// Row-major C = alpha op(A) op(B) + beta C, A and B in bf16 (the upper 16 bits of an IEEE
/// float), C and the accumulation in fp32, on the calling thread only (oneDNN's OpenMP team is
/// set to one thread for this thread; QATTensor splits the work over its own threads).
/// trans_a/trans_b: 0 = as stored, 1 = transposed. Returns oneDNN's status (0 = success).
int qat_bf16_gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                         float beta, float *c, int64_t ldc);

/// The instruction set oneDNN dispatches to (dnnl_cpu_isa_t: 0xe7 is avx512_core_bf16).
int qat_dnnl_effective_isa(void);
