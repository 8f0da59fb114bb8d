/* transpose.c - lm_transpose_f32: 16 x 16 register blocks on AVX-512F, else a
 * cache-blocked scalar loop. */
#include "transpose.h"

#include <stdbool.h>

#include "cpu_features.h"

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void transpose_scalar(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst,
                             int64_t ldd)
{
    for (int64_t r0 = 0; r0 < rows; r0 += 16)
        for (int64_t c0 = 0; c0 < cols; c0 += 16)
            for (int64_t c = c0; c < min64(c0 + 16, cols); c++)
                for (int64_t r = r0; r < min64(r0 + 16, rows); r++)
                    dst[c * ldd + r] = src[r * lds + c];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

/* Edge blocks load and store under masks: nothing outside the matrices is
 * touched. */
__attribute__((target("avx512f"))) static void transpose_avx512f(const float *src, int64_t rows,
                                                                 int64_t cols, int64_t lds,
                                                                 float *dst, int64_t ldd)
{
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
        int64_t nr = min64(16, rows - r0);
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            int64_t nc = min64(16, cols - c0);
            __mmask16 mc = lm_lanes16(nc), mr = lm_lanes16(nr);
            __m512 v[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                v[i] = _mm512_maskz_loadu_ps(i < nr ? mc : 0, src + (r0 + i) * lds + c0);
            lm_transpose16_avx512f(v);
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++)
                _mm512_mask_storeu_ps(dst + (c0 + j) * ldd + r0, j < nc ? mr : 0, v[j]);
        }
    }
}
#endif

void lm_transpose_f32(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst,
                      int64_t ldd)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lm_cpu_features_get()->avx512f) {
        transpose_avx512f(src, rows, cols, lds, dst, ldd);
        return;
    }
#endif
    transpose_scalar(src, rows, cols, lds, dst, ldd);
}
