/*
 * qdwconv16_avx512.c - 8-bit depthwise convolution over 16-channel blocks
 * (see qdwconv16.h): pack a band of input rows (transposed into a padded
 * pixel-major plane of int32 x - x_zp), multiply-add 8 output pixels at a
 * time, then requantize and transpose 16 output positions at a time back
 * into the NCHW planes.
 *
 * vpmaddwd does the multiplies: both factors lie in [-255, 255], so they fit
 * the low 16 bits of their lanes; the weight's high half is 0, so each
 * 32-bit lane gets exactly the one product. Compiled with per-function
 * target attributes; ops/qconv.c calls it only where lm_qdw16_available().
 */
#include "qdwconv16.h"

#include "cpu_features.h"

/* Padded input rows a band may hold: 256 KiB of plane, a fraction of L2. */
#define QDW16_PLANE_BYTES (256 << 10)

static inline int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Padded input rows output rows [0, rows) read. */
static int64_t band_in_rows(const lm_conv2d_geom *g, int64_t rows)
{
    return (rows - 1) * g->sh + (g->KH - 1) * g->dh + 1;
}

int64_t lm_qdw16_band_rows(const lm_conv2d_geom *g)
{
    int64_t row_bytes = lm_conv2d_padded_cols(g) * 64;
    int64_t fit = QDW16_PLANE_BYTES / row_bytes - (g->KH - 1) * g->dh - 1;
    int64_t rows = fit < 0 ? 1 : fit / g->sh + 1;
    return max64(1, min64(rows, g->OH));
}

/* The band's plane (+ 16 pixels the packing may write past it), its output
 * sums (rounded up to 16 positions), the weights. */
static int64_t plane_ints(const lm_conv2d_geom *g)
{
    return (band_in_rows(g, lm_qdw16_band_rows(g)) * lm_conv2d_padded_cols(g) + 16) * 16;
}

static int64_t out_ints(const lm_conv2d_geom *g)
{
    return (lm_qdw16_band_rows(g) * g->OW + 15) / 16 * 16 * 16;
}

size_t lm_qdw16_scratch_bytes(const lm_conv2d_geom *g)
{
    return (size_t)(plane_ints(g) + out_ints(g) + g->KH * g->KW * 16) * sizeof(int32_t);
}

bool lm_qdw16_available(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return lm_cpu_features_get()->avx512bw_vl;
#else
    return false;
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "transpose.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#define INLINE static inline __attribute__((always_inline)) TARGET

/* The zero point of the plane's unsigned values (see pack_row). */
static inline int32_t plane_zp(const lm_qdw16_args *a)
{
    return a->x_zp + (a->x_signed ? 128 : 0);
}

INLINE void transpose16i(__m512i v[16])
{
    __m512 f[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        f[i] = _mm512_castsi512_ps(v[i]);
    lm_transpose16_avx512f(f);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        v[i] = _mm512_castps_si512(f[i]);
}

/*
 * 16 rows of 16 bytes, row 4g + k in 128-bit lane k of x[g], transposed:
 * column COL_OF[g][k] ends in lane k of x[g]. The classic 16 x 16 byte
 * transpose, four rounds of out[2i] = lo(r[i], r[i + 8]), out[2i + 1] =
 * hi(r[i], r[i + 8]), done four rows per register: unpacks work within
 * lanes, so the lanes are regrouped after rounds 2 and 3 for row i and row
 * i + 8 to share one. 24 shuffles where 16 widened rows take 64.
 */
static const int COL_OF[4][4] = {{0, 4, 2, 6}, {1, 5, 3, 7}, {8, 12, 10, 14}, {9, 13, 11, 15}};

INLINE void transpose_round(__m512i x[4])
{
    __m512i lo02 = _mm512_unpacklo_epi8(x[0], x[2]), hi02 = _mm512_unpackhi_epi8(x[0], x[2]);
    __m512i lo13 = _mm512_unpacklo_epi8(x[1], x[3]), hi13 = _mm512_unpackhi_epi8(x[1], x[3]);
    x[0] = lo02, x[1] = hi02, x[2] = lo13, x[3] = hi13;
}

/* x[0], x[2] from lanes (a, b) of x[0] and x[1]; x[1], x[3] likewise
 * from x[2] and x[3]; imm_lo / imm_hi pick the lanes. */
#define REGROUP(x, imm_lo, imm_hi)                                                                 \
    do {                                                                                           \
        __m512i r0 = _mm512_shuffle_i32x4(x[0], x[1], imm_lo);                                     \
        __m512i r1 = _mm512_shuffle_i32x4(x[2], x[3], imm_lo);                                     \
        __m512i r2 = _mm512_shuffle_i32x4(x[0], x[1], imm_hi);                                     \
        __m512i r3 = _mm512_shuffle_i32x4(x[2], x[3], imm_hi);                                     \
        x[0] = r0, x[1] = r1, x[2] = r2, x[3] = r3;                                                \
    } while (0)

INLINE void transpose16x16_u8(__m512i x[4])
{
    transpose_round(x);
    transpose_round(x);
    REGROUP(x, 0x44, 0xEE); /* lanes (0, 1) and (2, 3) */
    transpose_round(x);
    REGROUP(x, 0x88, 0xDD); /* lanes (0, 2) and (1, 3) */
    transpose_round(x);
}

/* Bytes [0, n) of @src into lane @lane of @z (the rest of the lane kept):
 * a masked load, the address formed as an integer since lane 0 may lie
 * before @src; masked bytes are never read. */
INLINE __m512i load_lane(__m512i z, int lane, const uint8_t *src, __mmask64 n_mask)
{
    const void *at = (const void *)((uintptr_t)src - (uintptr_t)(16 * lane));
    return _mm512_mask_loadu_epi8(z, n_mask << (16 * lane), at);
}

/* Pixel k of lane 4r + k... : the four pixels of x (one per 128-bit lane)
 * zero-extended to int32 lanes. vpermb with a zeroing mask does it in one
 * instruction per pixel where VBMI exists; else each lane is extracted. */
#define TARGET_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

static TARGET_VBMI void widen4_vbmi(__m512i x, __m512i out[4])
{
    const __mmask64 every4th = 0x1111111111111111ull;
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m512i idx = _mm512_add_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(16 * k));
        out[k] = _mm512_maskz_permutexvar_epi8(every4th, idx, x);
    }
}

INLINE void widen4(bool vbmi, __m512i x, __m512i out[4])
{
    if (vbmi) {
        widen4_vbmi(x, out);
        return;
    }
    out[0] = _mm512_cvtepu8_epi32(_mm512_castsi512_si128(x));
    out[1] = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(x, 1));
    out[2] = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(x, 2));
    out[3] = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(x, 3));
}

/* Pixels [q0, q1) of padded row @pr from input row @xr of the block's
 * channels: 16 columns of 16 channels at a time, transposed as bytes, then
 * widened. The plane holds x as unsigned (int8 inputs XOR 0x80, i.e. +128)
 * and the padding the zero point likewise: sums over every tap then differ
 * from those of x - x_zp by x_zp * sum w per channel, which the caller
 * subtracts (block_weights). Up to 15 pixels past q1 are written too (see
 * below). */
static TARGET void pack_row(const lm_qdw16_args *a, const uint8_t *xr, int64_t nc, int64_t q0,
                            int64_t q1, bool vbmi, int32_t *pr)
{
    const lm_conv2d_geom *g = &a->g;
    const int64_t HW = g->H * g->W;
    const __m512i flip = _mm512_set1_epi8(a->x_signed ? (char)0x80 : 0);
    for (int64_t q = q0; q < q1; q += 16) {
        __mmask64 m = lm_lanes16(q1 - q);
        const uint8_t *src = xr + (q - g->pl);
        __m512i x[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            x[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                x[r] = load_lane(x[r], k, src + (4 * r + k) * HW, 4 * r + k < nc ? m : 0);
        }
        transpose16x16_u8(x);
        /* whole vectors: pixels past q1 land in the row's right padding or
         * the next row, rewritten after, or the plane's slack (no unroll
         * pragma: widen4 may call out, which clang does not unroll over) */
        for (int r = 0; r < 4; r++) {
            __m512i w[4];
            widen4(vbmi, _mm512_xor_si512(x[r], flip), w);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                _mm512_storeu_si512(pr + (q + COL_OF[r][k]) * 16, w[k]);
        }
    }
}

/* The padded input rows output rows [oy0, oy1) read into P (Wp pixels of
 * 16 lanes per row; padding holds the zero point, see pack_row). */
static TARGET void pack_band(const lm_qdw16_args *a, int64_t c0, int64_t nc, int64_t oy0,
                             int64_t oy1, int32_t *P)
{
    const lm_conv2d_geom *g = &a->g;
    const int64_t Wp = lm_conv2d_padded_cols(g), rows = band_in_rows(g, oy1 - oy0);
    const int64_t q0 = min64(g->pl, Wp), q1 = max64(q0, min64(Wp, g->pl + g->W));
    const __m512i zero = _mm512_set1_epi32(plane_zp(a));
    const bool vbmi = lm_cpu_features_get()->avx512vbmi;
    const uint8_t *x = (const uint8_t *)a->x + c0 * g->H * g->W;
    for (int64_t r = 0; r < rows; r++) {
        int32_t *pr = P + r * Wp * 16;
        int64_t ih = oy0 * g->sh + r - g->pt;
        if (ih < 0 || ih >= g->H) {
            for (int64_t q = 0; q < Wp; q++)
                _mm512_storeu_si512(pr + q * 16, zero);
            continue;
        }
        pack_row(a, x + ih * g->W, nc, q0, q1, vbmi, pr);
        for (int64_t q = 0; q < q0; q++)
            _mm512_storeu_si512(pr + q * 16, zero);
        for (int64_t q = q1; q < Wp; q++)
            _mm512_storeu_si512(pr + q * 16, zero);
    }
}

/* NB output pixels, xs ints apart in the padded rows from x0 on: the sums
 * over the taps into o (16 lanes each). With VNNI, vpdpwssd does the
 * multiply-add and the sum in one instruction. */
#define TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

#define DEFINE_DW_PIXELS(NAME, ATTR, MADD)                                                         \
    static inline __attribute__((always_inline)) ATTR void NAME(                                   \
        const int nb, const int32_t *const *rows, const int32_t *wv, int64_t KH, int64_t KW,       \
        int64_t xs, int64_t xd, int64_t x0, int32_t *o)                                            \
    {                                                                                              \
        __m512i acc[8];                                                                            \
        _Pragma("GCC unroll 8") for (int i = 0; i < nb; i++) acc[i] = _mm512_setzero_si512();      \
        for (int64_t kh = 0; kh < KH; kh++) {                                                      \
            const int32_t *p = rows[kh] + x0;                                                      \
            for (int64_t kw = 0; kw < KW; kw++, p += xd) {                                         \
                __m512i wk = _mm512_loadu_si512(wv + (kh * KW + kw) * 16);                         \
                _Pragma("GCC unroll 8") for (int i = 0; i < nb; i++) acc[i] =                      \
                    MADD(acc[i], _mm512_loadu_si512(p + i * xs), wk);                              \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < nb; i++)                                       \
            _mm512_storeu_si512(o + i * 16, acc[i]);                                               \
    }

#define MADD_BW(acc, x, w) _mm512_add_epi32((acc), _mm512_madd_epi16((x), (w)))
DEFINE_DW_PIXELS(dw_pixels_bw, TARGET, MADD_BW)
DEFINE_DW_PIXELS(dw_pixels_vnni, TARGET_VNNI, _mm512_dpwssd_epi32)

typedef void (*dw_pixels_fn)(const int32_t *const *, const int32_t *, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int32_t *);

#define DW_PIXELS_FN(BASE, ATTR, NB)                                                               \
    static ATTR void BASE##_##NB(const int32_t *const *rows, const int32_t *wv, int64_t KH,        \
                                 int64_t KW, int64_t xs, int64_t xd, int64_t x0, int32_t *o)       \
    {                                                                                              \
        BASE(NB, rows, wv, KH, KW, xs, xd, x0, o);                                                 \
    }
#define DW_PIXELS_TABLE(BASE, ATTR)                                                                \
    DW_PIXELS_FN(BASE, ATTR, 1)                                                                    \
    DW_PIXELS_FN(BASE, ATTR, 2)                                                                    \
    DW_PIXELS_FN(BASE, ATTR, 3)                                                                    \
    DW_PIXELS_FN(BASE, ATTR, 4)                                                                    \
    DW_PIXELS_FN(BASE, ATTR, 5)                                                                    \
    DW_PIXELS_FN(BASE, ATTR, 6)                                                                    \
    DW_PIXELS_FN(BASE, ATTR, 7)                                                                    \
    DW_PIXELS_FN(BASE, ATTR, 8)                                                                    \
    static const dw_pixels_fn BASE##_n[9] = {NULL,     BASE##_1, BASE##_2, BASE##_3, BASE##_4,     \
                                             BASE##_5, BASE##_6, BASE##_7, BASE##_8};

DW_PIXELS_TABLE(dw_pixels_bw, TARGET)
DW_PIXELS_TABLE(dw_pixels_vnni, TARGET_VNNI)

/* The requantization of one block: per-lane (channel) multipliers and
 * biases; the steps of quant_common.c's rows. */
typedef struct qdw16_rq {
    __m512i corr; /* plane_zp * sum of the weights, per channel */
    __m512i bias, zp;
    __m512 mult, lo, hi;
} qdw16_rq;

static TARGET void rq_block(const lm_qdw16_args *a, int64_t c0, int64_t nc, qdw16_rq *r)
{
    float mult[16] = {0};
    int32_t bias[16] = {0};
    for (int64_t i = 0; i < nc; i++) {
        int64_t ch = c0 + i;
        mult[i] = a->x_s * a->w_s[a->w_s_per_ch ? ch : 0] / a->y_s;
        bias[i] = a->bias ? a->bias[ch] : 0;
    }
    r->mult = _mm512_loadu_ps(mult);
    r->bias = _mm512_sub_epi32(_mm512_loadu_si512(bias), r->corr);
    r->zp = _mm512_set1_epi32(a->y_zp);
    r->lo = _mm512_set1_ps((a->y_signed ? -128.0f : 0.0f) - (float)a->y_zp);
    r->hi = _mm512_set1_ps((a->y_signed ? 127.0f : 255.0f) - (float)a->y_zp);
}

INLINE __m512i requant(const qdw16_rq *r, __m512i acc)
{
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, r->bias)), r->mult);
    v = _mm512_min_ps(_mm512_max_ps(v, r->lo), r->hi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(v), r->zp);
}

/*
 * 16 pixels' codes (v[p], lanes = channels, values in 8-bit range) to 16
 * channel rows of 16 bytes: channel 4L + i in lane i of x[L]. Packing
 * narrows four pixels into one register (lane L: pixels x channels
 * 4L..4L+3, 4 x 4 bytes, pixel-major), a byte shuffle makes each lane
 * channel-major, the lanes are regrouped so x[L] holds lane L of all four,
 * and a dword permute puts each channel's four dwords in one lane:
 * 28 shuffles where widened transposes and narrowing take 96.
 */
INLINE void codes_to_rows(__m512i v[16], bool y_signed, __m512i x[4])
{
    const __m512i by_channel =
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    const __m512i dwords = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
#pragma GCC unroll 4
    for (int a = 0; a < 4; a++) {
        __m512i w01 = _mm512_packs_epi32(v[4 * a], v[4 * a + 1]);
        __m512i w23 = _mm512_packs_epi32(v[4 * a + 2], v[4 * a + 3]);
        __m512i b = y_signed ? _mm512_packs_epi16(w01, w23) : _mm512_packus_epi16(w01, w23);
        x[a] = _mm512_shuffle_epi8(b, by_channel);
    }
    /* x[a] lane L dword i: channel 4L + i, pixels 4a..4a + 3 */
    REGROUP(x, 0x44, 0xEE);
    REGROUP(x, 0x88, 0xDD);
    /* x = lanes 0, 2, 1, 3 of all four; then lane i dword a per channel */
    __m512i r1 = x[1];
    x[0] = _mm512_permutexvar_epi32(dwords, x[0]);
    x[1] = _mm512_permutexvar_epi32(dwords, x[2]);
    x[2] = _mm512_permutexvar_epi32(dwords, r1);
    x[3] = _mm512_permutexvar_epi32(dwords, x[3]);
}

/* Lane @lane of @z, its first bytes as @n_mask says, to @dst (as
 * load_lane: a masked store, the address formed as an integer). */
INLINE void store_lane(__m512i z, int lane, uint8_t *dst, __mmask64 n_mask)
{
    void *at = (void *)((uintptr_t)dst - (uintptr_t)(16 * lane));
    _mm512_mask_storeu_epi8(at, n_mask << (16 * lane), z);
}

/* The band's npos sums (pixel-major in O) back to the block's NCHW planes,
 * from position @base of each, 16 positions at a time. */
static TARGET void unpack_band(const lm_qdw16_args *a, const qdw16_rq *rq, const int32_t *O,
                               int64_t c0, int64_t nc, int64_t base, int64_t npos)
{
    const int64_t OS = a->g.OH * a->g.OW;
    for (int64_t p = 0; p < npos; p += 16) {
        __mmask16 m = lm_lanes16(npos - p);
        int64_t off = c0 * OS + base + p;
        __m512i v[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            v[j] = _mm512_loadu_si512(O + (p + j) * 16);
        if (a->out32) {
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++)
                v[j] = _mm512_sub_epi32(v[j], rq->corr);
            transpose16i(v);
            /* channels past nc store nothing (their masks are 0) */
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                _mm512_mask_storeu_epi32(a->out32 + off + i * OS, i < nc ? m : 0, v[i]);
            continue;
        }
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            v[j] = requant(rq, v[j]);
        __m512i x[4];
        codes_to_rows(v, a->y_signed, x);
#pragma GCC unroll 4
        for (int L = 0; L < 4; L++)
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                store_lane(x[L], i, (uint8_t *)a->y + off + (4 * L + i) * OS,
                           4 * L + i < nc ? m : 0);
    }
}

/* The block's weights minus their zero points, one vector per tap (lanes
 * past nc zero), in the low 16 bits for vpmaddwd: each channel's taps
 * loaded as one vector, 16 taps at a time, and transposed. Returns the
 * per-channel correction plane_zp * sum of the taps (wrapping as the sums
 * do). */
static TARGET __m512i block_weights(const lm_qdw16_args *a, int64_t c0, int64_t nc, int32_t *wv)
{
    __m512i sum = _mm512_setzero_si512();
    const int64_t KK = a->g.KH * a->g.KW;
    const uint8_t *k = (const uint8_t *)a->k + c0 * KK;
    __m512i zp = a->k_zp_per_ch ? _mm512_maskz_loadu_epi32(lm_lanes16(nc), a->k_zp + c0)
                                : _mm512_set1_epi32(a->k_zp[0]);
    const __m512i low = _mm512_set1_epi32(0xFFFF);
    for (int64_t t0 = 0; t0 < KK; t0 += 16) {
        __mmask16 m = lm_lanes16(KK - t0);
        __m512i v[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            __m128i b = _mm_maskz_loadu_epi8(i < nc ? m : 0, k + i * KK + t0);
            v[i] = a->k_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
        }
        transpose16i(v);
        for (int64_t t = 0; t < min64(16, KK - t0); t++) {
            __m512i w = _mm512_maskz_sub_epi32(lm_lanes16(nc), v[t], zp);
            sum = _mm512_add_epi32(sum, w);
            _mm512_storeu_si512(wv + (t0 + t) * 16, _mm512_and_si512(w, low));
        }
    }
    return _mm512_mullo_epi32(sum, _mm512_set1_epi32(plane_zp(a)));
}

TARGET void lm_qdw16(const lm_qdw16_args *a, int64_t cb, int64_t oy0, int64_t oy1, void *scratch)
{
    const lm_conv2d_geom *g = &a->g;
    const int64_t c0 = cb * 16, nc = min64(16, g->C - c0), Wp = lm_conv2d_padded_cols(g);
    int32_t *P = scratch, *O = P + plane_ints(g), *wv = O + out_ints(g);
    qdw16_rq rq = {.corr = block_weights(a, c0, nc, wv)};
    if (!a->out32)
        rq_block(a, c0, nc, &rq);
    const dw_pixels_fn *pixels =
        lm_cpu_features_get()->avx512vnni ? dw_pixels_vnni_n : dw_pixels_bw_n;
    const int32_t *rows[64];
    const int64_t xs = g->sw * 16, xd = g->dw * 16;
    const int64_t band = lm_qdw16_band_rows(g);
    for (int64_t b0 = oy0; b0 < oy1; b0 += band) {
        int64_t b1 = min64(oy1, b0 + band), npos = (b1 - b0) * g->OW;
        pack_band(a, c0, nc, b0, b1, P);
        /* positions past the band are transposed but not stored */
        for (int64_t q = npos; q < (npos + 15) / 16 * 16; q++)
            _mm512_storeu_si512(O + q * 16, _mm512_setzero_si512());
        for (int64_t oy = b0; oy < b1; oy++) {
            for (int64_t kh = 0; kh < g->KH; kh++)
                rows[kh] = P + ((oy - b0) * g->sh + kh * g->dh) * Wp * 16;
            int32_t *o = O + (oy - b0) * g->OW * 16;
            for (int64_t ox = 0; ox < g->OW; ox += 8) {
                int nb = (int)min64(8, g->OW - ox);
                pixels[nb](rows, wv, g->KH, g->KW, xs, xd, ox * xs, o + ox * 16);
            }
        }
        unpack_band(a, &rq, O, c0, nc, b0 * g->OW, npos);
    }
}

#else
void lm_qdw16(const lm_qdw16_args *a, int64_t cb, int64_t oy0, int64_t oy1, void *scratch)
{
    (void)a, (void)cb, (void)oy0, (void)oy1, (void)scratch;
}
#endif
