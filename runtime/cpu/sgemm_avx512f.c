/*
 * sgemm_avx512f.c - f32_gemm_12x32__avx512f_broadcast: the AVX-512F SGEMM
 * micro-kernel.
 *
 * A 12 x 32 tile of C lives in 24 zmm accumulators; each k step loads two
 * vectors of packed B and broadcasts 12 values of packed A from memory, so
 * 24 FMAs cost 14 loads and 27 of the 32 registers are busy. Partial tiles
 * get their own instantiation (rows 1..12, one or two vectors of columns) so
 * a 1-row GEMM does not pay for 12, and N tails use AVX-512 masks instead of
 * a scalar path. Compiled with per-function target attributes: the rest of
 * the library stays baseline x86-64 and the driver only calls these where
 * CPUID reports AVX-512F.
 */
#include <math.h>

#include "act_avx512.h"
#include "sgemm_ukernel.h"
#include "transpose.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,fma,avx2")))
#define MR     12
#define NR     32

static inline TARGET __attribute__((always_inline)) void
ukernel_tile(const int direct, const int mr, const int nv, int64_t kc, const float *restrict a,
             const float *restrict b, float *restrict c, int64_t ldc, int nr,
             const lm_sgemm_ukparams *p)
{
    /* direct bit 0: A in place, bit 1: B in place. Packed panels get
     * compile-time strides (one address register) and whole aligned loads. */
    const int64_t rs = direct & 1 ? p->a_rs : 1, cs = direct & 1 ? p->a_cs : MR;
    const int64_t bs = direct & 2 ? p->b_rs : NR;
    /* Column masks: nr may be anything in 1..16*nv. */
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        acc[i][0] = _mm512_setzero_ps();
        acc[i][1] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0, b1 = _mm512_setzero_ps();
        if (direct & 2) {
            b0 = _mm512_maskz_loadu_ps(m0, b);
            if (nv > 1)
                b1 = _mm512_maskz_loadu_ps(m1, b + 16);
        } else {
            b0 = _mm512_load_ps(b);
            if (nv > 1)
                b1 = _mm512_load_ps(b + 16);
        }
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 ai = _mm512_set1_ps(a[i * rs]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            if (nv > 1)
                acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += cs;
        b += bs;
    }

    const __m512 valpha = _mm512_set1_ps(p->alpha), vbeta = _mm512_set1_ps(p->beta);
    const __m512 vlo = _mm512_set1_ps(p->lo), vhi = _mm512_set1_ps(p->hi);
    __m512 bc0 = _mm512_setzero_ps(), bc1 = _mm512_setzero_ps();
    if (p->bias_col) {
        bc0 = _mm512_maskz_loadu_ps(m0, p->bias_col);
        if (nv > 1)
            bc1 = _mm512_maskz_loadu_ps(m1, p->bias_col + 16);
    }
    const float beta = p->beta;
    const int clamp = p->lo != -INFINITY || p->hi != INFINITY;
    const int scale = p->alpha != 1.0f; /* x * 1 is x: skip the multiply */
    const int hswish = p->hswish;
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        __m512 v0 = acc[i][0], v1 = acc[i][1];
        if (scale) {
            v0 = _mm512_mul_ps(v0, valpha);
            v1 = _mm512_mul_ps(v1, valpha);
        }
        if (beta != 0.0f) {
            v0 = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m0, ci), v0);
            if (nv > 1)
                v1 = _mm512_fmadd_ps(vbeta, _mm512_maskz_loadu_ps(m1, ci + 16), v1);
        }
        if (p->bias_row) {
            __m512 br = _mm512_set1_ps(p->bias_row[i]);
            v0 = _mm512_add_ps(v0, br);
            v1 = _mm512_add_ps(v1, br);
        }
        v0 = _mm512_add_ps(v0, bc0);
        v1 = _mm512_add_ps(v1, bc1);
        if (clamp) {
            /* max(lo, v) returns v when v is NaN, like the unfused ops. */
            v0 = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v0));
            v1 = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v1));
        }
        if (hswish) {
            v0 = lm_hswish16(v0);
            v1 = lm_hswish16(v1);
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        if (nv > 1)
            _mm512_mask_storeu_ps(ci + 16, m1, v1);
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
DEFINE_ROWS(7)
DEFINE_ROWS(8)
DEFINE_ROWS(9)
DEFINE_ROWS(10)
DEFINE_ROWS(11)
DEFINE_ROWS(12)

typedef void (*tile_fn)(int64_t, const float *, const float *, float *, int64_t, int,
                        const lm_sgemm_ukparams *);
#define ROW(D, R)                                                                                  \
    {                                                                                              \
        ukernel_##D##_##R##x1, ukernel_##D##_##R##x2                                               \
    }
#define ROWS(D)                                                                                    \
    {                                                                                              \
        ROW(D, 1), ROW(D, 2), ROW(D, 3), ROW(D, 4), ROW(D, 5), ROW(D, 6), ROW(D, 7), ROW(D, 8),    \
            ROW(D, 9), ROW(D, 10), ROW(D, 11), ROW(D, 12)                                          \
    }
static const tile_fn tiles[4][MR][2] = {ROWS(0), ROWS(1), ROWS(2), ROWS(3)};

static void ukernel(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                    int nr, const lm_sgemm_ukparams *p)
{
    int direct = (p->a_rs != 1 || p->a_cs != MR) | (p->b_rs != NR) << 1;
    tiles[direct][mr - 1][nr > 16](kc, a, b, c, ldc, nr, p);
}

/* 12 rows of A into a panel, 16 columns at a time: loaded as rows (4 of
 * zeros), turned in registers, stored as 16 columns of 12. The element loop
 * this replaces cost K = 1024 products (BERT's FFN down projection, whose
 * A rows are 4 KiB apart and so always packed) a seventh of their time. */
static TARGET void pack_a_panel(const float *a, int64_t lda, int64_t kc, float *dst)
{
    for (int64_t p = 0; p < kc; p += 16) {
        int64_t w = kc - p < 16 ? kc - p : 16;
        __mmask16 m = (__mmask16)((1u << w) - 1);
        __m512 r[16];
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++)
            r[i] = _mm512_maskz_loadu_ps(m, a + i * lda + p);
        for (int i = MR; i < 16; i++)
            r[i] = _mm512_setzero_ps();
        lm_transpose16_avx512f(r);
        for (int64_t j = 0; j < w; j++)
            _mm512_mask_storeu_ps(dst + (p + j) * MR, (__mmask16)((1u << MR) - 1), r[j]);
    }
}

const lm_sgemm_config lm_sgemm_config_avx512f = {
    .name = "f32_gemm_12x32__avx512f_broadcast",
    .mr = MR,
    .nr = NR,
    .mc = 144,
    .kc = 256,
    .nc = 1024,
    .hswish = true,
    .ukernel = ukernel,
    .pack_a_panel = pack_a_panel,
};

#else
/* Not x86-64: the config exists so tables link, but is never selected. */
const lm_sgemm_config lm_sgemm_config_avx512f = {0};
#endif
