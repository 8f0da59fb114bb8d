/*
 * transpose.h - float matrix transposes for the CPU kernels.
 *
 * lm_transpose_f32 turns a pixel-major GEMM result back into NCHW (see
 * ops/conv.c); lm_transpose16_avx512f is the in-register 16 x 16 step it and
 * the depthwise kernels (dwconv_avx512f.c, qdwconv16_avx512.c) are built on,
 * lm_lanes16 the mask of their edge vectors, lm_evens_avx512f a stride-2
 * gather of a row.
 */
#ifndef LOOM_CPU_TRANSPOSE_H
#define LOOM_CPU_TRANSPOSE_H

#include <stdint.h>

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols. */
void lm_transpose_f32(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst,
                      int64_t ldd);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* The first @n of 16 lanes (all from 16 on, none for n <= 0): the mask of
 * a vector at the edge of a row or a block. */
static inline __mmask16 lm_lanes16(int64_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
}

/* dst[t] = src[2 t] for t < n, 16 at a time (the even lanes of pairs of
 * vectors); masked loads read nothing past src[2 n - 2]. Stride-2 convs and
 * pools gather their input columns with it. */
static inline __attribute__((target("avx512f"))) void lm_evens_avx512f(const float *src, float *dst,
                                                                       int64_t n)
{
    const __m512i idx =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t t = 0; t < n; t += 16) {
        int64_t need = 2 * (n - t) - 1; /* source floats left */
        __m512 lo = _mm512_maskz_loadu_ps(lm_lanes16(need), src + 2 * t);
        __m512 hi = _mm512_maskz_loadu_ps(lm_lanes16(need - 16), src + 2 * t + 16);
        _mm512_mask_storeu_ps(dst + t, lm_lanes16(n - t), _mm512_permutex2var_ps(lo, idx, hi));
    }
}

/* In-register transpose of 16 x 16 floats: r[i] lane j -> r[j] lane i.
 * Pairs, quads (as doubles), then 128-bit lanes twice. */
static inline __attribute__((always_inline, target("avx512f"))) void
lm_transpose16_avx512f(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* r[4q + j] now holds column j, 4q + 4k ... of rows 4q..4q+3 in lane k. */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
        t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
        r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd);
    }
}

#endif

#endif
