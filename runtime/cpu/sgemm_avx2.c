/*
 * sgemm_avx2.c - f32_gemm_6x16__avx2_broadcast: the AVX2+FMA SGEMM
 * micro-kernel.
 *
 * A 6 x 16 tile in 12 ymm accumulators (of 16 registers); each k step loads
 * two vectors of packed B and broadcasts six values of packed A. Partial
 * tiles get their own instantiation (rows 1..6, one or two vectors), and N
 * tails use vmaskmov so no scalar path runs. Per-function target attributes
 * keep the rest of the library baseline x86-64.
 */
#include <math.h>

#include "sgemm_ukernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
#define MR     6
#define NR     16

/* Sliding window of lane masks: mask_for(n) has the first n lanes set. */
static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

static inline TARGET __m256i mask_for(int n)
{
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n));
}

static inline TARGET __attribute__((always_inline)) void
ukernel_tile(const int direct, const int mr, const int nv, int64_t kc, const float *restrict a,
             const float *restrict b, float *restrict c, int64_t ldc, int nr,
             const lm_sgemm_ukparams *p)
{
    /* direct bit 0: A in place, bit 1: B in place. Packed panels get
     * compile-time strides (one address register) and whole aligned loads. */
    const int64_t rs = direct & 1 ? p->a_rs : 1, cs = direct & 1 ? p->a_cs : MR;
    const int64_t bs = direct & 2 ? p->b_rs : NR;
    const __m256i m0 = mask_for(nr), m1 = mask_for(nr - 8);
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        acc[i][0] = _mm256_setzero_ps();
        acc[i][1] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0, b1 = _mm256_setzero_ps();
        if (direct & 2) {
            b0 = _mm256_maskload_ps(b, m0);
            if (nv > 1)
                b1 = _mm256_maskload_ps(b + 8, m1);
        } else {
            b0 = _mm256_load_ps(b);
            if (nv > 1)
                b1 = _mm256_load_ps(b + 8);
        }
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i * rs);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            if (nv > 1)
                acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += cs;
        b += bs;
    }

    const int full = nr == 8 * nv;
    const __m256 valpha = _mm256_set1_ps(p->alpha), vbeta = _mm256_set1_ps(p->beta);
    const __m256 vlo = _mm256_set1_ps(p->lo), vhi = _mm256_set1_ps(p->hi);
    __m256 bc0 = _mm256_setzero_ps(), bc1 = _mm256_setzero_ps();
    if (p->bias_col) {
        bc0 = _mm256_maskload_ps(p->bias_col, m0);
        if (nv > 1)
            bc1 = _mm256_maskload_ps(p->bias_col + 8, m1);
    }
    const float beta = p->beta;
    const int clamp = p->lo != -INFINITY || p->hi != INFINITY;
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        __m256 v0 = _mm256_mul_ps(acc[i][0], valpha);
        __m256 v1 = _mm256_mul_ps(acc[i][1], valpha);
        if (beta != 0.0f) {
            if (full) {
                v0 = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(ci), v0);
                if (nv > 1)
                    v1 = _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(ci + 8), v1);
            } else {
                v0 = _mm256_fmadd_ps(vbeta, _mm256_maskload_ps(ci, m0), v0);
                if (nv > 1)
                    v1 = _mm256_fmadd_ps(vbeta, _mm256_maskload_ps(ci + 8, m1), v1);
            }
        }
        if (p->bias_row) {
            __m256 br = _mm256_set1_ps(p->bias_row[i]);
            v0 = _mm256_add_ps(v0, br);
            v1 = _mm256_add_ps(v1, br);
        }
        v0 = _mm256_add_ps(v0, bc0);
        v1 = _mm256_add_ps(v1, bc1);
        if (clamp) {
            v0 = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v0));
            v1 = _mm256_min_ps(vhi, _mm256_max_ps(vlo, v1));
        }
        if (full) {
            _mm256_storeu_ps(ci, v0);
            if (nv > 1)
                _mm256_storeu_ps(ci + 8, v1);
        } else {
            _mm256_maskstore_ps(ci, m0, v0);
            if (nv > 1)
                _mm256_maskstore_ps(ci + 8, m1, v1);
        }
    }
}

#define DEFINE_TILE(D, R, V)                                                                       \
    static TARGET void ukernel_##D##_##R##x##V(int64_t kc, const float *a, const float *b,         \
                                               float *c, int64_t ldc, int nr,                      \
                                               const lm_sgemm_ukparams *p)                         \
    {                                                                                              \
        ukernel_tile(D, R, V, kc, a, b, c, ldc, nr, p);                                            \
    }
#define DEFINE_ROWS_D(D, R) DEFINE_TILE(D, R, 1) DEFINE_TILE(D, R, 2)
#define DEFINE_ROWS(R)                                                                             \
    DEFINE_ROWS_D(0, R) DEFINE_ROWS_D(1, R) DEFINE_ROWS_D(2, R) DEFINE_ROWS_D(3, R)
DEFINE_ROWS(1)
DEFINE_ROWS(2)
DEFINE_ROWS(3)
DEFINE_ROWS(4)
DEFINE_ROWS(5)
DEFINE_ROWS(6)

typedef void (*tile_fn)(int64_t, const float *, const float *, float *, int64_t, int,
                        const lm_sgemm_ukparams *);
#define ROW(D, R)                                                                                  \
    {                                                                                              \
        ukernel_##D##_##R##x1, ukernel_##D##_##R##x2                                               \
    }
#define ROWS(D)                                                                                    \
    {                                                                                              \
        ROW(D, 1), ROW(D, 2), ROW(D, 3), ROW(D, 4), ROW(D, 5), ROW(D, 6)                           \
    }
static const tile_fn tiles[4][MR][2] = {ROWS(0), ROWS(1), ROWS(2), ROWS(3)};

static void ukernel(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                    int nr, const lm_sgemm_ukparams *p)
{
    int direct = (p->a_rs != 1 || p->a_cs != MR) | (p->b_rs != NR) << 1;
    tiles[direct][mr - 1][nr > 8](kc, a, b, c, ldc, nr, p);
}

const lm_sgemm_config lm_sgemm_config_avx2 = {
    .name = "f32_gemm_6x16__avx2_broadcast",
    .mr = MR,
    .nr = NR,
    .mc = 144,
    .kc = 256,
    .nc = 1024,
    .ukernel = ukernel,
};

#else
const lm_sgemm_config lm_sgemm_config_avx2 = {0};
#endif
