/*
 * qgemm_avx512vnni.c - qu8s8_gemm_12x32c4__avx512vnni: the int8 GEMM
 * micro-kernel on vpdpbusd.
 *
 * Like the f32 12x32 kernel: 24 zmm int32 accumulators; each step of four k
 * loads two vectors of packed B (32 columns x 4 int8) and broadcasts four
 * uint8 of each of 12 A rows, so one vpdpbusd does 64 multiply-adds. The
 * tile ends in qgemm_epi_avx512.h: corrected, then stored or requantized.
 */
#include "qgemm_ukernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <string.h>

#include "qgemm_epi_avx512.h"

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
    epi_cols e;
    epi_load(corr, nr, &e);
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        int32_t *ci = c + i * ldc;
        __m512i v0 = acc[i][0], v1 = nv > 1 ? acc[i][1] : _mm512_setzero_si512();
        if (accumulate) {
            v0 = _mm512_add_epi32(v0, _mm512_maskz_loadu_epi32(e.m0, ci));
            if (nv > 1)
                v1 = _mm512_add_epi32(v1, _mm512_maskz_loadu_epi32(e.m1, ci + 16));
        }
        epi_row(corr, &e, i, v0, v1, c, ldc);
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

/*
 * One k4 step of two panels (64 columns from @j; @m masks the columns that
 * exist; @f is the flip there and 0 elsewhere, so the rest pack as 0): rows
 * 4q..4q+3 interleaved per column into
 * d0 (columns 0-31) and, when @two, d1 (32-63); s[] adds each column's four
 * int8 values (vpdpbusd with all-ones bytes).
 */
static inline TARGET __attribute__((always_inline)) void
pack_b_step(const uint8_t *const *rows, int64_t kc, int64_t q, int64_t j, __mmask64 m, bool two,
            __m512i f, int8_t *d0, int8_t *d1, __m512i *s)
{
    __m512i r[4];
    for (int i = 0; i < 4; i++)
        r[i] = 4 * q + i < kc ? _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, rows[4 * q + i] + j), f)
                              : _mm512_setzero_si512();
    /* bytes of rows 0-3 interleaved per column; each 128-bit lane k then
     * holds columns 16k + (0-3 | 4-7 | 8-11 | 12-15) of t0 | t1 | t2 | t3 */
    __m512i l01 = _mm512_unpacklo_epi8(r[0], r[1]), h01 = _mm512_unpackhi_epi8(r[0], r[1]);
    __m512i l23 = _mm512_unpacklo_epi8(r[2], r[3]), h23 = _mm512_unpackhi_epi8(r[2], r[3]);
    __m512i t0 = _mm512_unpacklo_epi16(l01, l23), t1 = _mm512_unpackhi_epi16(l01, l23);
    __m512i t2 = _mm512_unpacklo_epi16(h01, h23), t3 = _mm512_unpackhi_epi16(h01, h23);
    /* transpose the 4x4 grid of lanes: o[k] = columns 16k .. 16k + 15 */
    __m512i u0 = _mm512_shuffle_i32x4(t0, t1, 0x44), u1 = _mm512_shuffle_i32x4(t0, t1, 0xEE);
    __m512i u2 = _mm512_shuffle_i32x4(t2, t3, 0x44), u3 = _mm512_shuffle_i32x4(t2, t3, 0xEE);
    __m512i o[4] = {_mm512_shuffle_i32x4(u0, u2, 0x88), _mm512_shuffle_i32x4(u0, u2, 0xDD),
                    _mm512_shuffle_i32x4(u1, u3, 0x88), _mm512_shuffle_i32x4(u1, u3, 0xDD)};
    _mm512_storeu_si512((void *)(d0 + q * 4 * NR), o[0]);
    _mm512_storeu_si512((void *)(d0 + q * 4 * NR + 64), o[1]);
    if (two) {
        _mm512_storeu_si512((void *)(d1 + q * 4 * NR), o[2]);
        _mm512_storeu_si512((void *)(d1 + q * 4 * NR + 64), o[3]);
    }
    const __m512i ones = _mm512_set1_epi8(1);
    for (int i = 0; i < 4; i++)
        s[i] = _mm512_dpbusd_epi32(s[i], ones, o[i]);
}

/* Two panels (64 columns) per pass, the last one or two with masked loads.
 * The AMX config packs B alike (its layout is this one), so it is shared. */
TARGET void lm_qgemm_pack_b_avx512vnni(const uint8_t *const *rows, int64_t kc, int64_t nc,
                                       uint8_t flip, int8_t *dst, int32_t *colsum)
{
    int64_t k4 = (kc + 3) / 4;
    const __m512i f = _mm512_set1_epi8((char)flip);
    for (int64_t j = 0; j < nc; j += 2 * NR) {
        int64_t n = nc - j < 2 * NR ? nc - j : 2 * NR;
        __mmask64 m = n == 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
        bool two = n > NR;
        int8_t *d0 = dst + j * k4 * 4, *d1 = d0 + NR * k4 * 4;
        __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                        _mm512_setzero_si512()};
        __m512i fm = _mm512_maskz_mov_epi8(m, f);
        for (int64_t q = 0; q < k4; q++)
            pack_b_step(rows, kc, q, j, m, two, fm, d0, d1, s);
        for (int i = 0; i < 4 && 16 * i < n; i++) {
            int64_t left = n - 16 * i;
            __mmask16 cm = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            int32_t *cs = colsum + j + 16 * i;
            _mm512_mask_storeu_epi32(cs, cm,
                                     _mm512_add_epi32(_mm512_maskz_loadu_epi32(cm, cs), s[i]));
        }
    }
}

const lm_qgemm_config lm_qgemm_config_avx512vnni = {
    .name = "qu8s8_gemm_12x32c4__avx512vnni",
    .mr = MR,
    .nr = NR,
    .mc = 144,
    .kc = 1024,
    .nc = 1024,
    .ukernel = ukernel,
    .pack_b = lm_qgemm_pack_b_avx512vnni,
    .requant = true,
};

#else
/* Not x86-64 GCC/clang: no VNNI kernel; qgemm.c skips a config without one. */
const lm_qgemm_config lm_qgemm_config_avx512vnni = {0};
#endif
