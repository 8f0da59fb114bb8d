/*
 * act_avx512.h - activations on one AVX-512 vector, for kernels that apply
 * them in registers (the SGEMM micro-kernel, the depthwise and first-layer
 * convolutions). They round exactly like the scalar forms in activation.h:
 * multiply and add separately, and min/max in the operand order that lets
 * NaN through.
 */
#ifndef LOOM_CPU_ACT_AVX512_H
#define LOOM_CPU_ACT_AVX512_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* x * max(0, min(1, x / 6 + 1 / 2)) */
static inline __attribute__((always_inline, target("avx512f"))) __m512 lm_hswish16(__m512 x)
{
    __m512 v = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.0f / 6.0f)), _mm512_set1_ps(0.5f));
    v = _mm512_max_ps(_mm512_setzero_ps(), v);
    v = _mm512_min_ps(_mm512_set1_ps(1.0f), v);
    return _mm512_mul_ps(x, v);
}
#endif

#endif
