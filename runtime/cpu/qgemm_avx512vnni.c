/*
 * qgemm_avx512vnni.c - qu8s8_gemm_12x32c4__avx512vnni: the int8 GEMM
 * micro-kernel on vpdpbusd.
 *
 * Like the f32 12x32 kernel: 24 zmm int32 accumulators; each step of four k
 * loads two vectors of packed B (32 columns x 4 int8) and broadcasts four
 * uint8 of each of 12 A rows, so one vpdpbusd does 64 multiply-adds. The
 * zero-point correction is two vpmulld per vector, once per tile.
 */
#include "qgemm_ukernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define MR     12
#define NR     32

static inline TARGET __attribute__((always_inline)) void
tile(const int mr, const int nv, int64_t k4, const uint8_t *restrict a, const int8_t *restrict b,
     int32_t *restrict c, int64_t ldc, int nr, bool accumulate, const lm_qgemm_corr *corr)
{
    __m512i acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        acc[i][0] = _mm512_setzero_si512();
        acc[i][1] = _mm512_setzero_si512();
    }
    for (int64_t k = 0; k < k4; k++) {
        __m512i b0 = _mm512_load_si512((const void *)b);
        __m512i b1 = nv > 1 ? _mm512_load_si512((const void *)(b + 64)) : _mm512_setzero_si512();
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            int32_t a4;
            memcpy(&a4, a + 4 * i, 4);
            __m512i ai = _mm512_set1_epi32(a4);
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], ai, b0);
            if (nv > 1)
                acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], ai, b1);
        }
        a += 4 * MR;
        b += 4 * NR;
    }
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    __m512i bz0 = _mm512_setzero_si512(), bz1 = bz0, bt0 = bz0, bt1 = bz0;
    if (corr) {
        bz0 = _mm512_maskz_loadu_epi32(m0, corr->b_zp);
        bt0 = _mm512_maskz_loadu_epi32(m0, corr->b_term);
        if (nv > 1) {
            bz1 = _mm512_maskz_loadu_epi32(m1, corr->b_zp + 16);
            bt1 = _mm512_maskz_loadu_epi32(m1, corr->b_term + 16);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        int32_t *ci = c + i * ldc;
        __m512i v0 = acc[i][0], v1 = acc[i][1];
        if (accumulate) {
            v0 = _mm512_add_epi32(v0, _mm512_maskz_loadu_epi32(m0, ci));
            if (nv > 1)
                v1 = _mm512_add_epi32(v1, _mm512_maskz_loadu_epi32(m1, ci + 16));
        }
        if (corr) {
            __m512i za = _mm512_set1_epi32(corr->a_zp[i]), sa = _mm512_set1_epi32(corr->a_sum[i]);
            v0 = _mm512_sub_epi32(v0, _mm512_mullo_epi32(za, bt0));
            v0 = _mm512_sub_epi32(v0, _mm512_mullo_epi32(sa, bz0));
            if (nv > 1) {
                v1 = _mm512_sub_epi32(v1, _mm512_mullo_epi32(za, bt1));
                v1 = _mm512_sub_epi32(v1, _mm512_mullo_epi32(sa, bz1));
            }
        }
        _mm512_mask_storeu_epi32(ci, m0, v0);
        if (nv > 1)
            _mm512_mask_storeu_epi32(ci + 16, m1, v1);
    }
}

#define DEFINE_TILE(R, V)                                                                          \
    static TARGET void tile_##R##x##V(int64_t k4, const uint8_t *a, const int8_t *b, int32_t *c,   \
                                      int64_t ldc, int nr, bool accumulate,                        \
                                      const lm_qgemm_corr *corr)                                   \
    {                                                                                              \
        tile(R, V, k4, a, b, c, ldc, nr, accumulate, corr);                                        \
    }
#define DEFINE_ROWS(R) DEFINE_TILE(R, 1) DEFINE_TILE(R, 2)
DEFINE_ROWS(1)
DEFINE_ROWS(2)
DEFINE_ROWS(3)
DEFINE_ROWS(4)
DEFINE_ROWS(5)
DEFINE_ROWS(6)
DEFINE_ROWS(7)
DEFINE_ROWS(8)
DEFINE_ROWS(9)
DEFINE_ROWS(10)
DEFINE_ROWS(11)
DEFINE_ROWS(12)

typedef void (*tile_fn)(int64_t, const uint8_t *, const int8_t *, int32_t *, int64_t, int, bool,
                        const lm_qgemm_corr *);
#define ROW(R)                                                                                     \
    {                                                                                              \
        tile_##R##x1, tile_##R##x2                                                                 \
    }
static const tile_fn tiles[MR][2] = {ROW(1), ROW(2), ROW(3), ROW(4),  ROW(5),  ROW(6),
                                     ROW(7), ROW(8), ROW(9), ROW(10), ROW(11), ROW(12)};

static void ukernel(int64_t k4, const uint8_t *a, const int8_t *b, int32_t *c, int64_t ldc, int mr,
                    int nr, bool accumulate, const lm_qgemm_corr *corr)
{
    tiles[mr - 1][nr > 16](k4, a, b, c, ldc, nr, accumulate, corr);
}

const lm_qgemm_config lm_qgemm_config_avx512vnni = {
    .name = "qu8s8_gemm_12x32c4__avx512vnni",
    .mr = MR,
    .nr = NR,
    .mc = 144,
    .kc = 1024,
    .nc = 1024,
    .ukernel = ukernel,
};

#else
const lm_qgemm_config lm_qgemm_config_avx512vnni = {0};
#endif
