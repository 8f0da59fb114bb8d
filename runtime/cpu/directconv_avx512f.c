/*
 * directconv_avx512f.c - direct convolution for shallow inputs (see
 * directconv.h), two kernels over a zero-padded copy of the input that has
 * exactly the rows and columns the taps reach, so no inner loop tests bounds:
 *
 * - by pixels, where rows are wide enough (stems, most downsampling): each
 *   output row is computed in NCHW directly, 16 pixels per vector; a tap is
 *   one load of 16 consecutive input values (of one column phase, column mod
 *   stride, so strided convolutions load contiguously too) and one broadcast
 *   weight for each of 8 output channels. It needs no transpose: the one
 *   per output row that the other kernel pays was a third of a 3x3 stem.
 * - by channels, where rows would leave many of those lanes idle (7, 20 or
 *   40 pixels): each tap of 8 output pixels is one multiply-add of a
 *   broadcast input value and the tap's 16 weights, accumulated pixel-major
 *   and transposed back to NCHW per output row.
 */
#include "directconv.h"

#include <math.h>
#include <string.h>

#include "act_avx512.h"
#include "cpu_features.h"
#include "transpose.h"

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

bool lm_directconv_available(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return lm_cpu_features_get()->avx512f;
#else
    return false;
#endif
}

/* Whether the kernel by pixels takes @g: its vectors of 16 pixels of a row
 * use at least 7/8 of their lanes (14, 28, 56, 111, 112 pixels; not 7, 20 or
 * 40, where it lost to the kernel by channels by up to 30%). */
static bool by_pixels(const lm_conv2d_geom *g)
{
    return 8 * g->OW >= 7 * ((g->OW + 15) / 16 * 16);
}

/* Blocks of 16 channels the kernel by channels computes at once: two for 3x3
 * windows with whole pairs of them (32 channels a group in ResNeXt), where
 * each broadcast input value then serves two multiply-adds. */
static int chan_blocks(const lm_conv2d_geom *g)
{
    return g->KW == 3 && g->M % 32 == 0 ? 2 : 1;
}

int64_t lm_directconv_block(const lm_conv2d_geom *g)
{
    return by_pixels(g) ? 8 : 16 * chan_blocks(g);
}

/* Columns of one phase row: every column of the phase the taps reach, and
 * the lanes of the last vector of 16 output pixels, so the loads of a row
 * never need a mask. */
static int64_t phase_cols(const lm_conv2d_geom *g)
{
    int64_t reach = (lm_conv2d_padded_cols(g) + g->sw - 1) / g->sw;
    int64_t vectors = ((g->KW - 1) * g->dw) / g->sw + (g->OW + 15) / 16 * 16;
    return max64(reach, vectors);
}

size_t lm_directconv_pad_floats(const lm_conv2d_geom *g)
{
    int64_t rows = g->C * lm_conv2d_padded_rows(g);
    return (size_t)(by_pixels(g) ? rows * g->sw * phase_cols(g) : rows * lm_conv2d_padded_cols(g));
}

size_t lm_directconv_weight_floats(const lm_conv2d_geom *g)
{
    int64_t mb = lm_directconv_block(g);
    return (size_t)((g->M + mb - 1) / mb * mb * g->C * g->KH * g->KW);
}

size_t lm_directconv_row_floats(const lm_conv2d_geom *g)
{
    return by_pixels(g) ? 0 : (size_t)((g->OW + 15) / 16 * 16 * lm_directconv_block(g));
}

/* Blocks of output channels side by side, taps in the order the kernel walks
 * them: by pixels kw, then c, then kh (a column phase at a time); by
 * channels W's own order. */
void lm_directconv_pack_weights(const lm_conv2d_geom *g, const float *w, float *wp)
{
    const int64_t MB = lm_directconv_block(g), taps = g->C * g->KH * g->KW;
    const bool kw_first = by_pixels(g);
    for (int64_t mb = 0; mb < (g->M + MB - 1) / MB; mb++)
        for (int64_t t = 0; t < taps; t++) {
            /* tap t of the walk is W's tap (c, kh, kw) */
            int64_t c, kh, kw;
            if (kw_first) {
                kw = t / (g->C * g->KH), c = t / g->KH % g->C, kh = t % g->KH;
            } else {
                c = t / (g->KH * g->KW), kh = t / g->KW % g->KH, kw = t % g->KW;
            }
            int64_t src = (c * g->KH + kh) * g->KW + kw;
            for (int64_t i = 0; i < MB; i++) {
                int64_t m = mb * MB + i;
                wp[(mb * taps + t) * MB + i] = m < g->M ? w[m * taps + src] : 0.0f;
            }
        }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))

/* dst[j] = src[j * s] for j < n; stride 2 (stems, downsampling) as the even
 * lanes of pairs of vectors, masked so nothing past src[2 (n - 1)] is read. */
static TARGET void gather(const float *src, int64_t s, float *dst, int64_t n)
{
    if (s == 1) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    if (s == 2) {
        lm_evens_avx512f(src, dst, n);
        return;
    }
    for (int64_t j = 0; j < n; j++)
        dst[j] = src[j * s];
}

/* Where the image's columns fall in 16-column block q / 16 of a padded row:
 * lanes [*a, *b) hold image columns q + i - pl (W of them). */
static void block_lanes(int64_t W, int64_t pl, int64_t q, int64_t *a, int64_t *b)
{
    *a = pl - q < 0 ? 0 : min64(pl - q, 16);
    *b = min64(max64(W + pl - q, *a), 16);
}

/* Padded columns [q, q + 16) of an image row xr: one masked load of just the
 * image's part, moved up past the left padding by a permute. */
static inline TARGET __m512 padded16(const float *xr, int64_t W, int64_t pl, int64_t q)
{
    int64_t a, b;
    block_lanes(W, pl, q, &a, &b);
    if (b <= a)
        return _mm512_setzero_ps();
    __m512 v = _mm512_maskz_loadu_ps(lm_lanes16(b - a), xr + (q + a - pl));
    if (a == 0)
        return v;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __mmask16 m = (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1));
    return _mm512_maskz_permutexvar_ps(m, _mm512_sub_epi32(iota, _mm512_set1_epi32((int)a)), v);
}

/*
 * The padded rows of one plane all share their blocks' masks and offsets,
 * so they are worked out once: padding row by row with memset and memcpy
 * (and then per-block bounds) cost as much as the products of 7 x 7 and
 * 14 x 14 grouped convs. Blocks past PAD_BLOCKS (rows over 1024 columns)
 * take padded16 as they go.
 */
#define PAD_BLOCKS 64
typedef struct pad_plan {
    int64_t W, pl;
    int64_t off[PAD_BLOCKS];    /* image column of the block's first loaded value */
    __mmask16 load[PAD_BLOCKS]; /* the lanes loaded (the first ones); 0: none */
    __mmask16 keep[PAD_BLOCKS]; /* the lanes they end in */
    int shift[PAD_BLOCKS];      /* from the one to the other (the left padding) */
} pad_plan;

static void pad_plan_make(pad_plan *p, int64_t W, int64_t pl)
{
    p->W = W, p->pl = pl;
    for (int64_t k = 0; k < PAD_BLOCKS; k++) {
        int64_t a, b;
        block_lanes(W, pl, 16 * k, &a, &b);
        p->load[k] = b > a ? lm_lanes16(b - a) : 0;
        p->keep[k] = (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1));
        p->off[k] = 16 * k + a - pl;
        p->shift[k] = (int)a;
    }
}

static inline TARGET __m512 pad_block(const pad_plan *p, const float *xr, int64_t k)
{
    if (k >= PAD_BLOCKS)
        return padded16(xr, p->W, p->pl, 16 * k);
    if (!p->load[k])
        return _mm512_setzero_ps();
    __m512 v = _mm512_maskz_loadu_ps(p->load[k], xr + p->off[k]);
    if (!p->shift[k])
        return v;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_maskz_permutexvar_ps(p->keep[k],
                                       _mm512_sub_epi32(iota, _mm512_set1_epi32(p->shift[k])), v);
}

/* dst[q] for q < n: image row xr padded as @p says (zeros for xr NULL). */
static TARGET void pad_row(const pad_plan *p, const float *xr, float *dst, int64_t n)
{
    for (int64_t q = 0; q < n; q += 16)
        _mm512_mask_storeu_ps(dst + q, lm_lanes16(n - q),
                              xr ? pad_block(p, xr, q / 16) : _mm512_setzero_ps());
}

/* Both column phases of stride 2 (even and odd padded columns, n each) from
 * one pass over the row. */
static TARGET void pad_row_s2(const pad_plan *p, const float *xr, float *d0, float *d1, int64_t n)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t j = 0; j < n; j += 16) {
        __m512 a = _mm512_setzero_ps(), b = a;
        if (xr)
            a = pad_block(p, xr, j / 8), b = pad_block(p, xr, j / 8 + 1);
        _mm512_mask_storeu_ps(d0 + j, lm_lanes16(n - j), _mm512_permutex2var_ps(a, ev, b));
        _mm512_mask_storeu_ps(d1 + j, lm_lanes16(n - j), _mm512_permutex2var_ps(a, od, b));
    }
}

/* Image columns a padded row holds: those left of its end. */
static int64_t row_cols(const lm_conv2d_geom *g, int64_t Wp)
{
    return max64(0, min64(g->W, Wp - g->pl));
}

static TARGET void pad_plain(const lm_conv2d_geom *g, const float *x, float *xpad)
{
    const int64_t Hp = lm_conv2d_padded_rows(g), Wp = lm_conv2d_padded_cols(g);
    pad_plan p;
    pad_plan_make(&p, row_cols(g, Wp), g->pl);
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t r = 0; r < Hp; r++) {
            int64_t ih = r - g->pt;
            const float *xr = ih >= 0 && ih < g->H ? x + (c * g->H + ih) * g->W : NULL;
            pad_row(&p, xr, xpad + (c * Hp + r) * Wp, Wp);
        }
}
#else
static void gather(const float *src, int64_t s, float *dst, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        dst[j] = src[j * s];
}

static void pad_plain(const lm_conv2d_geom *g, const float *x, float *xpad)
{
    const int64_t Hp = lm_conv2d_padded_rows(g), Wp = lm_conv2d_padded_cols(g);
    const int64_t q0 = min64(g->pl, Wp), q1 = q0 < Wp ? min64(Wp, g->pl + g->W) : q0;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t r = 0; r < Hp; r++) {
            float *pr = xpad + (c * Hp + r) * Wp;
            int64_t ih = r - g->pt;
            if (ih < 0 || ih >= g->H || q1 <= q0) {
                memset(pr, 0, (size_t)Wp * sizeof(float));
                continue;
            }
            /* only the padding is zeroed: the plane is written once */
            memset(pr, 0, (size_t)q0 * sizeof(float));
            memcpy(pr + q0, x + (c * g->H + ih) * g->W + (q0 - g->pl),
                   (size_t)(q1 - q0) * sizeof(float));
            memset(pr + q1, 0, (size_t)(Wp - q1) * sizeof(float));
        }
}
#endif

/* Padded row r of channel c, column phase f: element j is padded column
 * j * sw + f (zero outside the image and past the padded row). */
static void pad_phase_row(const lm_conv2d_geom *g, const float *x, int64_t c, int64_t r, int64_t f,
                          int64_t Wq, float *dst)
{
    const int64_t Wp = lm_conv2d_padded_cols(g), ih = r - g->pt, sw = g->sw;
    if (ih < 0 || ih >= g->H) {
        memset(dst, 0, (size_t)Wq * sizeof(float));
        return;
    }
    /* image columns: pl <= j sw + f < min(pl + W, Wp) */
    int64_t lo = g->pl > f ? (g->pl - f + sw - 1) / sw : 0;
    int64_t end = min64(g->pl + g->W, Wp), hi = end > f ? (end - f + sw - 1) / sw : 0;
    hi = min64(max64(hi, lo), Wq);
    lo = min64(lo, hi);
    const float *xr = x + (c * g->H + ih) * g->W;
    memset(dst, 0, (size_t)lo * sizeof(float));
    gather(xr + lo * sw + f - g->pl, sw, dst + lo, hi - lo);
    memset(dst + hi, 0, (size_t)(Wq - hi) * sizeof(float));
}

static void pad_phases(const lm_conv2d_geom *g, const float *x, float *xpad)
{
    const int64_t Hp = lm_conv2d_padded_rows(g), Wq = phase_cols(g);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (g->sw <= 2) { /* one pass over each row for both phases */
        pad_plan p;
        pad_plan_make(&p, row_cols(g, lm_conv2d_padded_cols(g)), g->pl);
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t r = 0; r < Hp; r++) {
                float *dst = xpad + (c * Hp + r) * g->sw * Wq;
                int64_t ih = r - g->pt;
                const float *xr = ih >= 0 && ih < g->H ? x + (c * g->H + ih) * g->W : NULL;
                if (g->sw == 1)
                    pad_row(&p, xr, dst, Wq);
                else
                    pad_row_s2(&p, xr, dst, dst + Wq, Wq);
            }
        return;
    }
#endif
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t r = 0; r < Hp; r++)
            for (int64_t f = 0; f < g->sw; f++)
                pad_phase_row(g, x, c, r, f, Wq, xpad + ((c * Hp + r) * g->sw + f) * Wq);
}

void lm_directconv_pad(const lm_conv2d_geom *g, const float *x, float *xpad)
{
    if (by_pixels(g))
        pad_phases(g, x, xpad);
    else
        pad_plain(g, x, xpad);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* ---- by channels: 16 or 32 output channels x 8 pixels, transposed per row ---- */

/* NB output pixels from column q0 (padded, of the first tap) on: acc[j] sums
 * xpad[c][r + kh dh][q0 + j sw + kw dw] x w[c][kh][kw] over the taps. KWF is
 * KW when it is fixed at compile time (3 and 7, unrolled), else 0; SWF the
 * stride when it is fixed (1 or 2, with no dilation), else 0: with both
 * fixed every input value is a constant offset from one pointer, which
 * frees the registers that runtime offsets took (they were spilled). NBLK
 * blocks of 16 channels (1 or 2) take each input value; o is pixel-major. */
static inline __attribute__((always_inline)) TARGET void
chan_pixels(const int nb, const int kwf, const int swf, const int nblk, const lm_conv2d_geom *g,
            const float *xr, int64_t Hp, int64_t Wp, const float *wb, const __m512 *vb, __m512 vlo,
            __m512 vhi, bool clamp, bool hswish, float *o)
{
    __m512 acc[2][8];
#pragma GCC unroll 2
    for (int b = 0; b < nblk; b++)
#pragma GCC unroll 8
        for (int j = 0; j < nb; j++)
            acc[b][j] = vb[b];
    const int64_t sw = swf ? swf : g->sw, dw = swf ? 1 : g->dw, KW = kwf ? kwf : g->KW;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t kh = 0; kh < g->KH; kh++) {
            const float *p = xr + (c * Hp + kh * g->dh) * Wp;
#pragma GCC unroll 7
            for (int64_t kw = 0; kw < KW; kw++) {
                __m512 wk[2];
#pragma GCC unroll 2
                for (int b = 0; b < nblk; b++)
                    wk[b] = _mm512_loadu_ps(wb + (kw * nblk + b) * 16);
#pragma GCC unroll 8
                for (int j = 0; j < nb; j++) {
                    __m512 xv = _mm512_set1_ps(p[kw * dw + j * sw]);
#pragma GCC unroll 2
                    for (int b = 0; b < nblk; b++)
                        acc[b][j] = _mm512_fmadd_ps(xv, wk[b], acc[b][j]);
                }
            }
            wb += KW * 16 * nblk;
        }
#pragma GCC unroll 2
    for (int b = 0; b < nblk; b++)
#pragma GCC unroll 8
        for (int j = 0; j < nb; j++) {
            __m512 v = acc[b][j];
            if (clamp) /* max/min return v when it is NaN, like the unfused ops */
                v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v));
            if (hswish)
                v = lm_hswish16(v);
            _mm512_storeu_ps(o + (j * nblk + b) * 16, v);
        }
}

#define CHAN_PIXELS_FN(KWF, SWF, NBLK, NB)                                                         \
    static TARGET void chan_pixels_##KWF##_##SWF##_##NBLK##_##NB(                                  \
        const lm_conv2d_geom *g, const float *xr, int64_t Hp, int64_t Wp, const float *wb,         \
        const __m512 *vb, __m512 vlo, __m512 vhi, bool clamp, bool hswish, float *o)               \
    {                                                                                              \
        chan_pixels(NB, KWF, SWF, NBLK, g, xr, Hp, Wp, wb, vb, vlo, vhi, clamp, hswish, o);        \
    }
#define CHAN_PIXELS_FNS(KWF, SWF, NBLK)                                                            \
    CHAN_PIXELS_FN(KWF, SWF, NBLK, 1)                                                              \
    CHAN_PIXELS_FN(KWF, SWF, NBLK, 2)                                                              \
    CHAN_PIXELS_FN(KWF, SWF, NBLK, 3)                                                              \
    CHAN_PIXELS_FN(KWF, SWF, NBLK, 4)                                                              \
    CHAN_PIXELS_FN(KWF, SWF, NBLK, 5)                                                              \
    CHAN_PIXELS_FN(KWF, SWF, NBLK, 6)                                                              \
    CHAN_PIXELS_FN(KWF, SWF, NBLK, 7) CHAN_PIXELS_FN(KWF, SWF, NBLK, 8)
#define CHAN_PIXELS_STRIDES(KWF, NBLK)                                                             \
    CHAN_PIXELS_FNS(KWF, 0, NBLK) CHAN_PIXELS_FNS(KWF, 1, NBLK) CHAN_PIXELS_FNS(KWF, 2, NBLK)
CHAN_PIXELS_STRIDES(0, 1)
CHAN_PIXELS_STRIDES(3, 1)
CHAN_PIXELS_STRIDES(7, 1)
CHAN_PIXELS_STRIDES(3, 2)

typedef void (*chan_pixels_fn)(const lm_conv2d_geom *, const float *, int64_t, int64_t,
                               const float *, const __m512 *, __m512, __m512, bool, bool, float *);
#define CHAN_PIXELS_ROW(KWF, SWF, NBLK)                                                            \
    {                                                                                              \
        NULL, chan_pixels_##KWF##_##SWF##_##NBLK##_1, chan_pixels_##KWF##_##SWF##_##NBLK##_2,      \
            chan_pixels_##KWF##_##SWF##_##NBLK##_3, chan_pixels_##KWF##_##SWF##_##NBLK##_4,        \
            chan_pixels_##KWF##_##SWF##_##NBLK##_5, chan_pixels_##KWF##_##SWF##_##NBLK##_6,        \
            chan_pixels_##KWF##_##SWF##_##NBLK##_7, chan_pixels_##KWF##_##SWF##_##NBLK##_8         \
    }
#define CHAN_PIXELS_ROWS(KWF, NBLK)                                                                \
    {                                                                                              \
        CHAN_PIXELS_ROW(KWF, 0, NBLK), CHAN_PIXELS_ROW(KWF, 1, NBLK),                              \
            CHAN_PIXELS_ROW(KWF, 2, NBLK)                                                          \
    }
/* [kernel width: any, 3, 7; 3 with 32 channels][stride: any, 1, 2 (undilated)][pixels] */
static const chan_pixels_fn chan_pixels_n[4][3][9] = {
    CHAN_PIXELS_ROWS(0, 1), CHAN_PIXELS_ROWS(3, 1), CHAN_PIXELS_ROWS(7, 1), CHAN_PIXELS_ROWS(3, 2)};

static TARGET void rows_by_channels(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                                    const float *bias, float lo, float hi, bool hswish, int64_t cb,
                                    int64_t oh0, int64_t oh1, float *row, float *y)
{
    const int64_t Hp = lm_conv2d_padded_rows(g), Wp = lm_conv2d_padded_cols(g),
                  taps = g->C * g->KH * g->KW;
    const int nblk = chan_blocks(g);
    const int64_t MB = 16 * nblk, c0 = cb * MB, nc = min64(MB, g->M - c0), OS = g->OH * g->OW;
    const float *wb = wp + cb * taps * MB;
    __m512 vb[2];
    for (int b = 0; b < nblk; b++) {
        int64_t n = min64(16, max64(0, nc - 16 * b));
        __mmask16 mb = lm_lanes16(n);
        vb[b] = bias ? _mm512_maskz_loadu_ps(mb, bias + c0 + 16 * b) : _mm512_setzero_ps();
    }
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const bool clamp = lo != -INFINITY || hi != INFINITY;
    const int swf = g->dw == 1 && (g->sw == 1 || g->sw == 2) ? (int)g->sw : 0;
    const chan_pixels_fn *fns = chan_pixels_n[nblk == 2    ? 3
                                              : g->KW == 3 ? 1
                                              : g->KW == 7 ? 2
                                                           : 0][swf];
    for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *xr = xpad + oh * g->sh * Wp;
        for (int64_t ow = 0; ow < g->OW; ow += 8) {
            int nb = (int)min64(8, g->OW - ow);
            fns[nb](g, xr + ow * g->sw, Hp, Wp, wb, vb, vlo, vhi, clamp, hswish, row + ow * MB);
        }
        lm_transpose_f32(row, g->OW, nc, MB, y + c0 * OS + oh * g->OW, OS);
    }
}

/* ---- by pixels: 8 output channels x 48 pixels, NCHW rows --------------------- */

/* Where the taps of one output row read, relative to its first pixel. */
typedef struct tap_walk {
    int64_t kh_step; /* floats between the rows of taps kh and kh + 1 */
    int64_t c_step;  /* between channels */
    int64_t KH, KW, C, sw, dw, Wq;
} tap_walk;

/*
 * MB output channels x NV vectors of 16 pixels from x (the row's first pixel
 * in phase 0 of tap row 0): acc[m][v] sums, over the taps in the packed
 * order, broadcast(w[m]) x the 16 input values the pixels read. 24
 * accumulators at most: each tap costs NV loads and MB broadcasts for MB x NV
 * multiply-adds. Stores the first n pixels of each channel's row to y (rows
 * ys apart) after bias, clamp and HardSwish.
 */
static inline __attribute__((always_inline)) TARGET void
pixels(const int MB, const int NV, const tap_walk *tw, const float *x, const float *wb,
       const float *bias, __m512 vlo, __m512 vhi, bool clamp, bool hswish, int64_t n, float *y,
       int64_t ys)
{
    __m512 acc[8][3];
#pragma GCC unroll 8
    for (int m = 0; m < MB; m++) {
        __m512 b = _mm512_set1_ps(bias ? bias[m] : 0.0f);
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            acc[m][v] = b;
    }
    int64_t f = 0, d = 0; /* tap kw's column phase and offset within it */
    for (int64_t kw = 0; kw < tw->KW; kw++) {
        const float *pc = x + f * tw->Wq + d;
        for (int64_t c = 0; c < tw->C; c++, pc += tw->c_step) {
            const float *p = pc;
            for (int64_t kh = 0; kh < tw->KH; kh++, p += tw->kh_step, wb += 8) {
                __m512 xv[3];
#pragma GCC unroll 3
                for (int v = 0; v < NV; v++)
                    xv[v] = _mm512_loadu_ps(p + 16 * v);
#pragma GCC unroll 8
                for (int m = 0; m < MB; m++) {
                    __m512 wm = _mm512_set1_ps(wb[m]);
#pragma GCC unroll 3
                    for (int v = 0; v < NV; v++)
                        acc[m][v] = _mm512_fmadd_ps(wm, xv[v], acc[m][v]);
                }
            }
        }
        f += tw->dw;
        d += f / tw->sw;
        f %= tw->sw;
    }
#pragma GCC unroll 8
    for (int m = 0; m < MB; m++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            __m512 r = acc[m][v];
            if (clamp) /* max/min return r when it is NaN, like the unfused ops */
                r = _mm512_min_ps(vhi, _mm512_max_ps(vlo, r));
            if (hswish)
                r = lm_hswish16(r);
            int64_t left = n - 16 * v;
            __mmask16 k = lm_lanes16(left);
            _mm512_mask_storeu_ps(y + m * ys + 16 * v, k, r);
        }
}

#define PIXELS_FN(MB, NV)                                                                          \
    static TARGET void pixels_##MB##x##NV(const tap_walk *tw, const float *x, const float *wb,     \
                                          const float *bias, __m512 vlo, __m512 vhi, bool clamp,   \
                                          bool hswish, int64_t n, float *y, int64_t ys)            \
    {                                                                                              \
        pixels(MB, NV, tw, x, wb, bias, vlo, vhi, clamp, hswish, n, y, ys);                        \
    }
#define PIXELS_FNS(MB) PIXELS_FN(MB, 1) PIXELS_FN(MB, 2) PIXELS_FN(MB, 3)
PIXELS_FNS(1)
PIXELS_FNS(2)
PIXELS_FNS(3)
PIXELS_FNS(4)
PIXELS_FNS(5)
PIXELS_FNS(6)
PIXELS_FNS(7)
PIXELS_FNS(8)

typedef void (*pixels_fn)(const tap_walk *, const float *, const float *, const float *, __m512,
                          __m512, bool, bool, int64_t, float *, int64_t);
#define PIXELS_ROW(MB)                                                                             \
    {                                                                                              \
        pixels_##MB##x1, pixels_##MB##x2, pixels_##MB##x3                                          \
    }
/* [output channels - 1][vectors of pixels - 1] */
static const pixels_fn pixels_n[8][3] = {PIXELS_ROW(1), PIXELS_ROW(2), PIXELS_ROW(3),
                                         PIXELS_ROW(4), PIXELS_ROW(5), PIXELS_ROW(6),
                                         PIXELS_ROW(7), PIXELS_ROW(8)};

static TARGET void rows_by_pixels(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                                  const float *bias, float lo, float hi, bool hswish, int64_t mb,
                                  int64_t oh0, int64_t oh1, float *y)
{
    const int64_t Hp = lm_conv2d_padded_rows(g), Wq = phase_cols(g);
    const int64_t taps = g->C * g->KH * g->KW, OS = g->OH * g->OW;
    const int64_t m0 = mb * 8, nm = min64(8, g->M - m0);
    const tap_walk tw = {.kh_step = g->dh * g->sw * Wq,
                         .c_step = Hp * g->sw * Wq,
                         .KH = g->KH,
                         .KW = g->KW,
                         .C = g->C,
                         .sw = g->sw,
                         .dw = g->dw,
                         .Wq = Wq};
    const float *wb = wp + mb * taps * 8;
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const bool clamp = lo != -INFINITY || hi != INFINITY;
    const pixels_fn *fns = pixels_n[nm - 1];
    for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *xr = xpad + oh * g->sh * g->sw * Wq;
        float *yr = y + m0 * OS + oh * g->OW;
        for (int64_t ow = 0; ow < g->OW; ow += 48) {
            int64_t n = min64(48, g->OW - ow);
            fns[(n + 15) / 16 - 1](&tw, xr + ow, wb, bias ? bias + m0 : NULL, vlo, vhi, clamp,
                                   hswish, n, yr + ow, OS);
        }
    }
}

void lm_directconv_rows(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                        const float *bias, float lo, float hi, bool hswish, int64_t mb, int64_t oh0,
                        int64_t oh1, float *row, float *y)
{
    if (by_pixels(g))
        rows_by_pixels(g, xpad, wp, bias, lo, hi, hswish, mb, oh0, oh1, y);
    else
        rows_by_channels(g, xpad, wp, bias, lo, hi, hswish, mb, oh0, oh1, row, y);
}

#else
void lm_directconv_rows(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                        const float *bias, float lo, float hi, bool hswish, int64_t mb, int64_t oh0,
                        int64_t oh1, float *row, float *y)
{
    (void)g, (void)xpad, (void)wp, (void)bias, (void)lo, (void)hi, (void)hswish, (void)mb;
    (void)oh0, (void)oh1, (void)row, (void)y;
}
#endif
