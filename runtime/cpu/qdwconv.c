/*
 * qdwconv.c - the direct 8-bit depthwise convolution (see qdwconv.h).
 *
 * Each channel first gets a plane in the workspace holding its input with
 * the padding made explicit (rows and columns), as many padded rows as the
 * output rows read; every filter tap then reads a contiguous run of the
 * plane for every output row, with no bounds checks. Blocks of DW_ROWS
 * output rows x up to DW_GROUP vectors of DW_VEC outputs accumulate over
 * the taps, so each broadcast weight serves all of them. Two plane formats:
 *
 *  - int32 (portable, AVX2, AVX-512BW): the input widened minus the zero
 *    point (padding 0), columns split by phase of the x stride s: output
 *    column i of tap kx reads phase (kx * dil) % s at i + (kx * dil) / s.
 *    Both factors lie in [-255, 255]: products fit int32 exactly, and with
 *    at most DW_MAX_TAPS taps (64 * 255 * 255 < 2^31) so does their sum;
 *  - 4 bytes per column (AVX-512 VNNI): see qs8_dwconv__avx512vnni below.
 *
 * The reference wraps like qgemm's, so every variant is bit-exact with it.
 */
#include "qdwconv.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "cpu_features.h"

#define DW_VEC      16 /* outputs accumulated together (one zmm of int32) */
#define DW_GROUP    4  /* vectors of outputs per pass over the taps */
#define DW_MAX_TAPS 64 /* filter taps of the blocked kernels */
#define DW_MAX_S    8  /* x stride of the blocked kernels */
#define DW_MAX_WS   (64 << 20)

static inline int32_t x_at(const lm_qdw_params *p, int64_t i)
{
    return p->x_signed ? (int32_t)((const int8_t *)p->x)[i] : (int32_t)((const uint8_t *)p->x)[i];
}

static inline int32_t k_at(const lm_qdw_params *p, int64_t i)
{
    return p->k_signed ? (int32_t)((const int8_t *)p->k)[i] : (int32_t)((const uint8_t *)p->k)[i];
}

void lm_qdw_channel_ref(const lm_qdw_params *p, int32_t *acc)
{
    for (int64_t oy = 0; oy < p->oh; oy++)
        for (int64_t ox = 0; ox < p->ow; ox++) {
            uint32_t sum = 0;
            for (int64_t ky = 0; ky < p->kh; ky++) {
                int64_t iy = oy * p->stride[0] + ky * p->dil[0] - p->pad[0];
                if (iy < 0 || iy >= p->h)
                    continue;
                for (int64_t kx = 0; kx < p->kw; kx++) {
                    int64_t ix = ox * p->stride[1] + kx * p->dil[1] - p->pad[1];
                    if (ix < 0 || ix >= p->w)
                        continue;
                    int32_t xv = x_at(p, iy * p->w + ix) - p->x_zp;
                    int32_t kv = k_at(p, ky * p->kw + kx) - p->k_zp;
                    sum += (uint32_t)(xv * kv);
                }
            }
            acc[oy * p->ow + ox] = (int32_t)sum;
        }
}

/* Output rows computed together by a pass over the taps. */
#define DW_ROWS 4

/* Columns of one phase row: the output row rounded up to whole vectors
 * (what the accumulation reads) plus the filter's reach. */
static int64_t plane_cols(const lm_qdw_params *p)
{
    return (p->ow + DW_VEC - 1) / DW_VEC * DW_VEC + (p->kw - 1) * p->dil[1] / p->stride[1] + 1;
}

/* Rows of the plane: padded row r is input row r - pad[0] (zero outside),
 * as many as the last block of DW_ROWS output rows reads. */
static int64_t plane_rows(const lm_qdw_params *p)
{
    int64_t oh = (p->oh + DW_ROWS - 1) / DW_ROWS * DW_ROWS;
    return (oh - 1) * p->stride[0] + (p->kh - 1) * p->dil[0] + 1;
}

/* Groups of 4 taps along x in the VNNI kernel, and the columns of its
 * plane: the output row rounded up to whole vectors plus the groups' reach. */
static int64_t vnni_groups(const lm_qdw_params *p)
{
    return (p->kw + 3) / 4;
}

static int64_t vnni_cols(const lm_qdw_params *p)
{
    return (p->ow + DW_VEC - 1) / DW_VEC * DW_VEC + 4 * (vnni_groups(p) - 1) / p->stride[1];
}

/* Bytes of the padded 8-bit input row the VNNI kernel builds its plane rows
 * from (64 bytes of slack for its 64-byte loads). */
static int64_t vnni_row_bytes(const lm_qdw_params *p)
{
    return (p->stride[1] * vnni_cols(p) + 64 + 63) / 64 * 64;
}

size_t lm_qdw_workspace(const lm_qdw_params *p)
{
    if (p->kh * p->kw > DW_MAX_TAPS || p->stride[1] > DW_MAX_S || p->ow <= 0 || p->oh <= 0)
        return 0;
    int64_t cols = plane_cols(p), rows = plane_rows(p), bytes, vnni;
    if (__builtin_mul_overflow(p->stride[1] * rows, cols * (int64_t)sizeof(int32_t), &bytes) ||
        bytes > DW_MAX_WS)
        return 0;
    /* the VNNI kernel's plane (one int32 of 4 bytes per column) and row */
    vnni = rows * vnni_cols(p) * (int64_t)sizeof(int32_t) + vnni_row_bytes(p);
    bytes = bytes > vnni ? bytes : vnni;
    return (size_t)(bytes + 63) / 64 * 64;
}

/* The columns j of phase @ph that read inside the input row:
 * 0 <= s * j + ph - pad < w for j in [lo, hi), clipped to [0, cols). */
static inline void phase_range(const lm_qdw_params *p, int64_t ph, int64_t cols, int64_t *lo,
                               int64_t *hi)
{
    int64_t s = p->stride[1], first = ph - p->pad[1];
    int64_t a = first >= 0 ? 0 : (-first + s - 1) / s;
    int64_t b = p->w - first <= 0 ? 0 : (p->w - first + s - 1) / s;
    *lo = a < cols ? a : cols;
    *hi = b < *lo ? *lo : b < cols ? b : cols;
}

/* Phase @ph of input row @src into dst[0, cols): src[s * j + ph - pad] - zp
 * for j in [lo, hi), 0 elsewhere. Stride 1 and 2 get loops of their own
 * (constant strides vectorize). */
#define DEFINE_WIDEN(NAME, T)                                                                      \
    static inline __attribute__((always_inline)) void NAME(                                        \
        const T *restrict src, int64_t s, int64_t first, int64_t lo, int64_t hi, int64_t cols,     \
        int32_t zp, int32_t *restrict dst)                                                         \
    {                                                                                              \
        for (int64_t j = 0; j < lo; j++)                                                           \
            dst[j] = 0;                                                                            \
        const T *restrict sp = src + first;                                                        \
        if (s == 1) {                                                                              \
            for (int64_t j = lo; j < hi; j++)                                                      \
                dst[j] = (int32_t)sp[j] - zp;                                                      \
        } else if (s == 2) {                                                                       \
            for (int64_t j = lo; j < hi; j++)                                                      \
                dst[j] = (int32_t)sp[2 * j] - zp;                                                  \
        } else {                                                                                   \
            for (int64_t j = lo; j < hi; j++)                                                      \
                dst[j] = (int32_t)sp[s * j] - zp;                                                  \
        }                                                                                          \
        for (int64_t j = hi; j < cols; j++)                                                        \
            dst[j] = 0;                                                                            \
    }

DEFINE_WIDEN(widen_u8, uint8_t)
DEFINE_WIDEN(widen_s8, int8_t)

/* Widens input row @src (all phases) into dst (s * cols); returns false
 * where it does not take the stride, and the C loops run instead. */
typedef bool (*dw_widen_fn)(const lm_qdw_params *p, const void *src, int64_t cols,
                            const int64_t *lo, const int64_t *hi, int32_t *dst);

/* The widened plane: phase ph of padded row r at ws + (r * s + ph) * cols. */
static inline __attribute__((always_inline)) void widen_plane(const lm_qdw_params *p, int32_t *ws,
                                                              dw_widen_fn row_fn)
{
    int64_t s = p->stride[1], cols = plane_cols(p), rows = plane_rows(p);
    int64_t lo[DW_MAX_S], hi[DW_MAX_S];
    for (int64_t ph = 0; ph < s; ph++)
        phase_range(p, ph, cols, &lo[ph], &hi[ph]);
    for (int64_t r = 0; r < rows; r++) {
        int64_t iy = r - p->pad[0];
        int32_t *dst = ws + r * s * cols;
        if (iy < 0 || iy >= p->h) {
            memset(dst, 0, (size_t)(s * cols) * sizeof(int32_t));
            continue;
        }
        const uint8_t *src = (const uint8_t *)p->x + iy * p->w;
        if (row_fn && row_fn(p, src, cols, lo, hi, dst))
            continue;
        for (int64_t ph = 0; ph < s; ph++) {
            int64_t first = ph - p->pad[1];
            if (p->x_signed)
                widen_s8((const int8_t *)p->x + iy * p->w, s, first, lo[ph], hi[ph], cols, p->x_zp,
                         dst + ph * cols);
            else
                widen_u8((const uint8_t *)p->x + iy * p->w, s, first, lo[ph], hi[ph], cols, p->x_zp,
                         dst + ph * cols);
        }
    }
}

/* The filter's taps with a nonzero weight: where each one's run starts
 * relative to its output row's base in the plane, and its weight minus the
 * zero point. Every tap is inside the plane for every output row. */
typedef struct dw_taps {
    int64_t off[DW_MAX_TAPS];
    int32_t wt[DW_MAX_TAPS];
    int n;
    int64_t row_step; /* plane elements between consecutive output rows */
} dw_taps;

static void filter_taps(const lm_qdw_params *p, dw_taps *t)
{
    int64_t s = p->stride[1], cols = plane_cols(p);
    t->n = 0;
    t->row_step = p->stride[0] * s * cols;
    for (int64_t ky = 0; ky < p->kh; ky++)
        for (int64_t kx = 0; kx < p->kw; kx++) {
            int32_t w = k_at(p, ky * p->kw + kx) - p->k_zp;
            if (w == 0)
                continue;
            int64_t e = kx * p->dil[1];
            t->off[t->n] = ky * p->dil[0] * s * cols + (e % s) * cols + e / s;
            t->wt[t->n++] = w;
        }
}

/* acc rows [oy0, oy0 + DW_ROWS) x the up to DW_GROUP vectors of outputs at
 * @i0: the sum over taps of wt * plane[row base + off + i]. Only outputs
 * inside oh x ow are stored. */
typedef void (*dw_block_fn)(const lm_qdw_params *p, const dw_taps *t, const int32_t *ws,
                            int64_t oy0, int64_t i0, int32_t *acc);

static inline __attribute__((always_inline)) void block_c(const lm_qdw_params *p, const dw_taps *t,
                                                          const int32_t *ws, int64_t oy0,
                                                          int64_t i0, int32_t *acc)
{
    int64_t nv = (p->ow - i0 + DW_VEC - 1) / DW_VEC;
    nv = nv < DW_GROUP ? nv : DW_GROUP;
    for (int64_t r = 0; r < DW_ROWS && oy0 + r < p->oh; r++)
        for (int64_t v = 0; v < nv; v++) {
            const int32_t *base = ws + (oy0 + r) * t->row_step + i0 + DW_VEC * v;
            int32_t a[DW_VEC] = {0};
            for (int k = 0; k < t->n; k++) {
                const int32_t *restrict sp = base + t->off[k];
                int32_t w = t->wt[k];
                for (int l = 0; l < DW_VEC; l++)
                    a[l] += w * sp[l];
            }
            int64_t m = p->ow - i0 - DW_VEC * v;
            memcpy(acc + (oy0 + r) * p->ow + i0 + DW_VEC * v, a,
                   (size_t)(m < DW_VEC ? m : DW_VEC) * sizeof(int32_t));
        }
}

static inline __attribute__((always_inline)) void
dw_channel(const lm_qdw_params *p, void *ws, int32_t *acc, dw_block_fn block, dw_widen_fn widen)
{
    if (lm_qdw_workspace(p) == 0 || !ws) {
        lm_qdw_channel_ref(p, acc);
        return;
    }
    dw_taps t;
    filter_taps(p, &t);
    widen_plane(p, ws, widen);
    for (int64_t oy0 = 0; oy0 < p->oh; oy0 += DW_ROWS)
        for (int64_t i0 = 0; i0 < p->ow; i0 += DW_VEC * DW_GROUP)
            block(p, &t, ws, oy0, i0, acc);
}

static void block_portable(const lm_qdw_params *p, const dw_taps *t, const int32_t *ws, int64_t oy0,
                           int64_t i0, int32_t *acc)
{
    block_c(p, t, ws, oy0, i0, acc);
}

static void dw_portable(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    dw_channel(p, ws, acc, block_portable, NULL);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET_AVX2 __attribute__((target("avx2")))
/* GCC would vectorize the C loops inlined here at 256 bits by default;
 * clang has no such attribute (its intrinsics are what matters here). */
#if defined(__clang__)
#define TARGET_AVX512BW __attribute__((target("avx512f,avx512bw,avx512vl")))
#else
#define TARGET_AVX512BW __attribute__((target("avx512f,avx512bw,avx512vl,prefer-vector-width=512")))
#endif

TARGET_AVX2 static void block_avx2(const lm_qdw_params *p, const dw_taps *t, const int32_t *ws,
                                   int64_t oy0, int64_t i0, int32_t *acc)
{
    block_c(p, t, ws, oy0, i0, acc);
}

TARGET_AVX2 static void dw_avx2(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    dw_channel(p, ws, acc, block_avx2, NULL);
}

/*
 * DW_ROWS rows x nv vectors of accumulators (at most 16 zmm) per pass over
 * the taps, so each broadcast weight serves them all. vpmaddwd with the
 * weight in the low half of each 32-bit lane (high half 0) multiplies the
 * low halves exactly, the widened inputs fitting 16 bits: one instruction
 * per 16 products where a 32-bit multiply takes two.
 */
static inline TARGET_AVX512BW __attribute__((always_inline)) void
block_vectors(const lm_qdw_params *p, const dw_taps *t, const int32_t *ws, int64_t oy0, int64_t i0,
              int32_t *acc, const int nv)
{
    __m512i a[DW_ROWS][DW_GROUP];
#pragma GCC unroll 4
    for (int r = 0; r < DW_ROWS; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            a[r][v] = _mm512_setzero_si512();
    const int32_t *base = ws + oy0 * t->row_step + i0;
    for (int k = 0; k < t->n; k++) {
        const int32_t *sp = base + t->off[k];
        __m512i w = _mm512_set1_epi32(t->wt[k] & 0xFFFF);
#pragma GCC unroll 4
        for (int r = 0; r < DW_ROWS; r++)
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                a[r][v] = _mm512_add_epi32(
                    a[r][v],
                    _mm512_madd_epi16(_mm512_loadu_si512(sp + r * t->row_step + 16 * v), w));
    }
#pragma GCC unroll 4
    for (int r = 0; r < DW_ROWS; r++) {
        if (oy0 + r >= p->oh)
            break;
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            int64_t m = p->ow - i0 - 16 * v;
            __mmask16 k = m >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << m) - 1);
            _mm512_mask_storeu_epi32(acc + (oy0 + r) * p->ow + i0 + 16 * v, k, a[r][v]);
        }
    }
}

/* Short rows (7 or 14 outputs deep in a network) take only the vectors
 * they need; a constant count keeps the accumulators in registers. */
TARGET_AVX512BW static void block_avx512bw(const lm_qdw_params *p, const dw_taps *t,
                                           const int32_t *ws, int64_t oy0, int64_t i0, int32_t *acc)
{
    switch ((p->ow - i0 + 15) / 16) {
    case 1:
        block_vectors(p, t, ws, oy0, i0, acc, 1);
        break;
    case 2:
        block_vectors(p, t, ws, oy0, i0, acc, 2);
        break;
    case 3:
        block_vectors(p, t, ws, oy0, i0, acc, 3);
        break;
    default:
        block_vectors(p, t, ws, oy0, i0, acc, 4);
        break;
    }
}

/* Lanes l with lo <= j + l < hi. */
static inline __mmask16 range16(int64_t j, int64_t lo, int64_t hi)
{
    int64_t a = lo - j < 0 ? 0 : lo - j, b = hi - j > 16 ? 16 : hi - j;
    return b <= a ? 0 : (__mmask16)(((1u << (b - a)) - 1) << a);
}

/* 16 int32 from 16 bytes (u8 zero-, s8 sign-extended). */
static inline TARGET_AVX512BW __m512i widen16(__m128i b, bool sgn)
{
    return sgn ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

/*
 * Strides 1 and 2 with masked loads and stores, 16 columns at a time: no
 * scalar ends. At stride 2 one 32-byte load feeds both phases: as 16 words
 * of byte pairs, the even byte is phase 0 and the odd byte phase 1. Bytes
 * outside the row are never read (masked); lanes outside [lo, hi) are 0.
 */
TARGET_AVX512BW static bool widen_row_avx512bw(const lm_qdw_params *p, const void *src,
                                               int64_t cols, const int64_t *lo, const int64_t *hi,
                                               int32_t *dst)
{
    int64_t s = p->stride[1], w = p->w, pad = p->pad[1];
    if (s > 2)
        return false;
    const uint8_t *x = src;
    const __m512i zp = _mm512_set1_epi32(p->x_zp);
    /* j in [j0, j1): all 16 lanes of every phase inside the row and the
     * plane, so no masks are needed there */
    int64_t j0 = lo[0] > lo[s - 1] ? lo[0] : lo[s - 1];
    int64_t j1 = hi[0] < hi[s - 1] ? hi[0] : hi[s - 1];
    int64_t j = 0;
    for (; j < cols; j += 16) {
        if (j >= j0 && j + 16 <= j1) {
            const uint8_t *at = x + s * j - pad;
            if (s == 1) {
                __m128i v = _mm_loadu_si128((const __m128i *)at);
                _mm512_storeu_si512((void *)(dst + j),
                                    _mm512_sub_epi32(widen16(v, p->x_signed), zp));
            } else {
                __m256i v = _mm256_loadu_si256((const __m256i *)at);
                __m512i wv = p->x_signed ? _mm512_cvtepi8_epi16(v) : _mm512_cvtepu8_epi16(v);
                __m512i even = p->x_signed ? _mm512_srai_epi32(_mm512_slli_epi32(wv, 16), 16)
                                           : _mm512_and_si512(wv, _mm512_set1_epi32(0xFFFF));
                __m512i odd = p->x_signed ? _mm512_srai_epi32(wv, 16) : _mm512_srli_epi32(wv, 16);
                _mm512_storeu_si512((void *)(dst + j), _mm512_sub_epi32(even, zp));
                _mm512_storeu_si512((void *)(dst + cols + j), _mm512_sub_epi32(odd, zp));
            }
            continue;
        }
        __mmask16 keep = range16(j, 0, cols);
        int64_t start = s * j - pad; /* input column of lane 0, phase 0 */
        int64_t nb = 16 * s, a = start < 0 ? -start : 0, b = w - start < nb ? w - start : nb;
        __mmask32 bytes = b <= a ? 0 : (__mmask32)((((uint64_t)1 << (b - a)) - 1) << a);
        /* the masked loads never touch bytes outside [0, w); the address is
         * formed as an integer, lane 0 may lie before the row */
        const void *at = (const void *)((uintptr_t)x + (uintptr_t)start);
        if (s == 1) {
            __m128i v = _mm_maskz_loadu_epi8((__mmask16)bytes, at);
            __m512i r =
                _mm512_maskz_sub_epi32(range16(j, lo[0], hi[0]), widen16(v, p->x_signed), zp);
            _mm512_mask_storeu_epi32(dst + j, keep, r);
            continue;
        }
        __m256i v = _mm256_maskz_loadu_epi8(bytes, at);
        __m512i wv = p->x_signed ? _mm512_cvtepi8_epi16(v) : _mm512_cvtepu8_epi16(v);
        __m512i even = p->x_signed ? _mm512_srai_epi32(_mm512_slli_epi32(wv, 16), 16)
                                   : _mm512_and_si512(wv, _mm512_set1_epi32(0xFFFF));
        __m512i odd = p->x_signed ? _mm512_srai_epi32(wv, 16) : _mm512_srli_epi32(wv, 16);
        _mm512_mask_storeu_epi32(dst + j, keep,
                                 _mm512_maskz_sub_epi32(range16(j, lo[0], hi[0]), even, zp));
        _mm512_mask_storeu_epi32(dst + cols + j, keep,
                                 _mm512_maskz_sub_epi32(range16(j, lo[1], hi[1]), odd, zp));
    }
    return true;
}

TARGET_AVX512BW static void dw_avx512bw(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    dw_channel(p, ws, acc, block_avx512bw, widen_row_avx512bw);
}

/*
 * qs8_dwconv__avx512vnni: four taps per instruction. The plane holds, per
 * padded row r and output column ox, the 4 bytes xp[r][s * ox + 0..3] of
 * the zero-point-padded 8-bit row (int8 inputs XOR 0x80, the zero point
 * moved by +128, as qgemm does), so vpdpbusd against 4 weights of one
 * filter row adds taps kx = 4g..4g+3 (group g reads column ox + 4g / s).
 * Padding holds the zero point, hence
 *   sum over inside taps (x - x_zp) * w = sum over all taps x * w - x_zp * sum w
 * exactly, when the weights' zero point is 0 after the same shift (int8
 * weights with zero point 0, uint8 with 128: what quantizers write). Taken
 * for x strides 1 and 2 without x dilation; other shapes use the int16 path.
 */
#define TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

static bool vnni_takes(const lm_qdw_params *p)
{
    int32_t kz = p->k_signed ? p->k_zp : p->k_zp - 128;
    return (p->stride[1] == 1 || p->stride[1] == 2) && p->dil[1] == 1 && kz == 0 &&
           p->kh * vnni_groups(p) <= DW_MAX_TAPS;
}

/* Input row @iy into the padded row[0, n): shifted values inside, the
 * (shifted) zero point outside. */
static void vnni_xrow(const lm_qdw_params *p, int64_t iy, uint8_t *row, int64_t n)
{
    uint8_t zp = (uint8_t)(p->x_zp + (p->x_signed ? 128 : 0));
    const uint8_t *src = (const uint8_t *)p->x + iy * p->w;
    int64_t c0 = p->pad[1] < n ? p->pad[1] : n, c1 = p->pad[1] + p->w < n ? p->pad[1] + p->w : n;
    memset(row, zp, (size_t)c0);
    memcpy(row + c0, src, (size_t)(c1 - c0));
    memset(row + c1, zp, (size_t)(n - c1));
    if (p->x_signed)
        for (int64_t c = c0; c < c1; c++)
            row[c] ^= 0x80;
}

/* Plane row from the padded row: lane ox = bytes row[s * ox + 0..3]. Each
 * 128-bit lane k of a vector covers outputs 4k..4k+3, i.e. bytes from
 * s * 4k on: one 16-byte load per lane and one byte shuffle. */
TARGET_VNNI static void vnni_plane_row(const uint8_t *row, int64_t s, int64_t cols, int32_t *dst)
{
    const __m512i pat1 =
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6));
    const __m512i pat2 =
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9));
    for (int64_t j = 0; j < cols; j += 16) {
        const uint8_t *at = row + s * j;
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)at));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(at + 4 * s)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(at + 8 * s)), 2);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(at + 12 * s)), 3);
        _mm512_storeu_si512((void *)(dst + j), _mm512_shuffle_epi8(v, s == 1 ? pat1 : pat2));
    }
}

/* The same with VBMI, straight from input row @iy: the 16 outputs' bytes
 * lie within 64 of the padded row (s * 15 + 3 < 64), so one masked load
 * (the zero point where it falls in the padding; bytes outside the row are
 * never read, the address formed as an integer) and one vpermb make them.
 * Reading the input itself also spares a copy whose small stores a wide
 * load cannot forward from. */
#define TARGET_VNNI_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

TARGET_VNNI_VBMI static void vnni_plane_row_vbmi(const lm_qdw_params *p, int64_t iy, int64_t cols,
                                                 int32_t *dst)
{
    const int64_t s = p->stride[1];
    /* byte 4i + t of the output is byte s * i + t of the load */
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i idx = _mm512_add_epi32(
        _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)s * 0x01010101)), /* s * i, each byte */
        _mm512_set1_epi32(0x03020100));
    /* padding is the zero point as the input stores it: int8 rows are then
     * shifted by 128 all alike */
    const __m512i zp = _mm512_set1_epi8((char)p->x_zp);
    const __m512i flip = _mm512_set1_epi8(p->x_signed ? (char)0x80 : 0);
    const uintptr_t x = (uintptr_t)((const uint8_t *)p->x + iy * p->w);
    for (int64_t j = 0; j < cols; j += 16) {
        int64_t start = s * j - p->pad[1]; /* input column of the load's byte 0 */
        int64_t lo = start < 0 ? -start : 0, hi = p->w - start < 64 ? p->w - start : 64;
        __mmask64 in = hi <= lo ? 0 : (~0ull >> (64 - (hi - lo))) << lo;
        __m512i v = _mm512_mask_loadu_epi8(zp, in, (const void *)(x + (uintptr_t)start));
        v = _mm512_xor_si512(v, flip);
        _mm512_storeu_si512((void *)(dst + j), _mm512_permutexvar_epi8(idx, v));
    }
}

typedef struct vnni_taps {
    int64_t off[DW_MAX_TAPS]; /* plane elements from the output row's base */
    int32_t w4[DW_MAX_TAPS];  /* 4 shifted int8 weights of one filter row */
    int n;
    int32_t corr; /* x_zp (shifted) * sum of the shifted weights */
    int64_t row_step;
} vnni_taps;

static void vnni_filter(const lm_qdw_params *p, int64_t cols, vnni_taps *t)
{
    uint8_t flip = p->k_signed ? 0 : 0x80;
    int32_t xz = p->x_zp + (p->x_signed ? 128 : 0), sum = 0;
    t->n = 0;
    t->row_step = p->stride[0] * cols;
    for (int64_t ky = 0; ky < p->kh; ky++)
        for (int64_t g = 0; g < vnni_groups(p); g++) {
            uint8_t b[4] = {0, 0, 0, 0};
            for (int64_t i = 0; i < 4 && 4 * g + i < p->kw; i++) {
                b[i] = ((const uint8_t *)p->k)[ky * p->kw + 4 * g + i] ^ flip;
                sum += (int8_t)b[i];
            }
            int32_t w4;
            memcpy(&w4, b, 4);
            if (w4 == 0)
                continue;
            t->off[t->n] = ky * p->dil[0] * cols + 4 * g / p->stride[1];
            t->w4[t->n++] = w4;
        }
    t->corr = (int32_t)((uint32_t)xz * (uint32_t)sum);
}

static inline TARGET_VNNI __attribute__((always_inline)) void
vnni_block(const lm_qdw_params *p, const vnni_taps *t, const int32_t *ws, int64_t oy0, int64_t i0,
           int32_t *acc, const int nv)
{
    __m512i a[DW_ROWS][DW_GROUP];
    const __m512i corr = _mm512_set1_epi32(t->corr);
#pragma GCC unroll 4
    for (int r = 0; r < DW_ROWS; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            a[r][v] = _mm512_setzero_si512();
    const int32_t *base = ws + oy0 * t->row_step + i0;
    for (int k = 0; k < t->n; k++) {
        const int32_t *sp = base + t->off[k];
        __m512i w = _mm512_set1_epi32(t->w4[k]);
#pragma GCC unroll 4
        for (int r = 0; r < DW_ROWS; r++)
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                a[r][v] = _mm512_dpbusd_epi32(a[r][v],
                                              _mm512_loadu_si512(sp + r * t->row_step + 16 * v), w);
    }
#pragma GCC unroll 4
    for (int r = 0; r < DW_ROWS; r++) {
        if (oy0 + r >= p->oh)
            break;
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            int64_t m = p->ow - i0 - 16 * v;
            __mmask16 k = m >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << m) - 1);
            _mm512_mask_storeu_epi32(acc + (oy0 + r) * p->ow + i0 + 16 * v, k,
                                     _mm512_sub_epi32(a[r][v], corr));
        }
    }
}

static inline TARGET_VNNI __attribute__((always_inline)) void
dw_vnni(const lm_qdw_params *p, void *ws, int32_t *acc, bool vbmi)
{
    if (!vnni_takes(p) || lm_qdw_workspace(p) == 0 || !ws) {
        dw_avx512bw(p, ws, acc);
        return;
    }
    int64_t cols = vnni_cols(p), rows = plane_rows(p), s = p->stride[1];
    int32_t *plane = ws;
    uint8_t *row = (uint8_t *)(plane + rows * cols);
    /* a padding row is the zero point in all 4 bytes of every column */
    uint32_t zp4 = (uint8_t)(p->x_zp + (p->x_signed ? 128 : 0)) * 0x01010101u;
    for (int64_t r = 0; r < rows; r++) {
        int64_t iy = r - p->pad[0];
        if (iy < 0 || iy >= p->h) {
            for (int64_t c = 0; c < cols; c++)
                plane[r * cols + c] = (int32_t)zp4;
            continue;
        }
        if (vbmi) {
            vnni_plane_row_vbmi(p, iy, cols, plane + r * cols);
            continue;
        }
        vnni_xrow(p, iy, row, vnni_row_bytes(p));
        vnni_plane_row(row, s, cols, plane + r * cols);
    }
    vnni_taps t;
    vnni_filter(p, cols, &t);
    for (int64_t oy0 = 0; oy0 < p->oh; oy0 += DW_ROWS)
        for (int64_t i0 = 0; i0 < p->ow; i0 += DW_VEC * DW_GROUP) {
            switch ((p->ow - i0 + 15) / 16) {
            case 1:
                vnni_block(p, &t, plane, oy0, i0, acc, 1);
                break;
            case 2:
                vnni_block(p, &t, plane, oy0, i0, acc, 2);
                break;
            case 3:
                vnni_block(p, &t, plane, oy0, i0, acc, 3);
                break;
            default:
                vnni_block(p, &t, plane, oy0, i0, acc, 4);
                break;
            }
        }
}

TARGET_VNNI static void dw_avx512vnni(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    dw_vnni(p, ws, acc, false);
}

TARGET_VNNI_VBMI static void dw_avx512vnni_vbmi(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    dw_vnni(p, ws, acc, true);
}

static const lm_qdw_config cfg_avx512vnni_vbmi = {"qs8_dwconv__avx512vnni_vbmi",
                                                  dw_avx512vnni_vbmi};
static const lm_qdw_config cfg_avx512vnni = {"qs8_dwconv__avx512vnni", dw_avx512vnni};
static const lm_qdw_config cfg_avx512bw = {"qs8_dwconv__avx512bw", dw_avx512bw};
static const lm_qdw_config cfg_avx2 = {"qs8_dwconv__avx2", dw_avx2};
#endif

static const lm_qdw_config cfg_portable = {"qs8_dwconv__portable", dw_portable};

static const lm_qdw_config *g_dwconfigs[6];
static pthread_once_t g_dw_once = PTHREAD_ONCE_INIT;

static void choose_dwconfigs(void)
{
    int n = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const lm_cpu_features *f = lm_cpu_features_get();
    if (f->avx512vnni && f->avx512vbmi)
        g_dwconfigs[n++] = &cfg_avx512vnni_vbmi;
    if (f->avx512vnni)
        g_dwconfigs[n++] = &cfg_avx512vnni;
    if (f->avx512bw_vl)
        g_dwconfigs[n++] = &cfg_avx512bw;
    if (f->avx2_fma)
        g_dwconfigs[n++] = &cfg_avx2;
#endif
    g_dwconfigs[n++] = &cfg_portable;
    g_dwconfigs[n] = NULL;
    lm_log(LOOM_LOG_DEBUG, "int8 depthwise uses %s", g_dwconfigs[0]->name);
}

const lm_qdw_config *const *lm_qdw_available_configs(void)
{
    pthread_once(&g_dw_once, choose_dwconfigs);
    return g_dwconfigs;
}

void lm_qdw_channel(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    lm_qdw_available_configs()[0]->channel(p, ws, acc);
}
