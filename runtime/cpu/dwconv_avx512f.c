/*
 * dwconv_avx512f.c - depthwise convolution over 16-channel blocks (see
 * dwconv.h): pack (transpose into a padded pixel-major plane), multiply-add
 * 8 output pixels at a time, transpose bands of output rows back.
 *
 * Compiled with per-function target attributes like sgemm_avx512f.c; the
 * driver (ops/conv.c) calls it only where lm_dwconv16_available() says so.
 */
#include "dwconv.h"

#include <math.h>
#include <string.h>

#include "act_avx512.h"
#include "cpu_features.h"

static inline int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Output rows computed before they are transposed back together: about 256
 * pixels (16 KiB, in L1), at least one row. */
static int64_t band_rows(const lm_conv2d_geom *g)
{
    return g->OW >= 256 ? 1 : 256 / g->OW;
}

/* Floats of the band's buffer: whole vectors of 16 pixels. */
static int64_t band_floats(const lm_conv2d_geom *g)
{
    return (band_rows(g) * g->OW + 15) / 16 * 16 * 16;
}

size_t lm_dwconv16_scratch_floats(const lm_conv2d_geom *g)
{
    int64_t plane = lm_conv2d_padded_rows(g) * lm_conv2d_padded_cols(g) * 16;
    return (size_t)(plane + band_floats(g) + g->KH * g->KW * 16);
}

bool lm_dwconv16_available(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return lm_cpu_features_get()->avx512f;
#else
    return false;
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "transpose.h"

#define TARGET __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline)) TARGET

/* Channels c0..c0+nc of the input into the padded plane P (Hp x Wp pixels of
 * 16 lanes; lanes past nc and pixels outside the image are zero). The
 * channels' planes are read flat, 16 pixels at a time whatever the row
 * width, and each transposed pixel is stored at its padded position: a
 * transpose per row used 7 of its 16 lanes on 7 x 7 planes. */
static TARGET void pack_plane(const lm_conv2d_geom *g, const float *x, int64_t c0, int64_t nc,
                              float *P)
{
    const int64_t Hp = lm_conv2d_padded_rows(g), Wp = lm_conv2d_padded_cols(g), HW = g->H * g->W;
    /* image rows and columns the taps reach: [0, hv) x [0, wv) */
    const int64_t hv = max64(0, min64(g->H, Hp - g->pt)), wv = max64(0, min64(g->W, Wp - g->pl));
    const __m512 zero = _mm512_setzero_ps();
    const int64_t q0 = min64(g->pl, Wp), q1 = g->pl + wv; /* the image's columns */
    for (int64_t r = 0; r < Hp; r++) {
        float *pr = P + r * Wp * 16;
        bool image_row = r >= g->pt && r < g->pt + hv;
        for (int64_t q = 0; q < (image_row ? q0 : Wp); q++)
            _mm512_storeu_ps(pr + q * 16, zero);
        for (int64_t q = image_row ? q1 : Wp; q < Wp; q++)
            _mm512_storeu_ps(pr + q * 16, zero);
    }
    if (wv == 0)
        return;
    __mmask16 chan[16];
    for (int i = 0; i < 16; i++)
        chan[i] = i < nc ? (__mmask16)0xFFFF : 0;
    const float *xc = x + c0 * HW;
    float *dst = P + (g->pt * Wp + g->pl) * 16;
    int64_t ih = 0, iw = 0; /* of the next pixel */
    for (int64_t p = 0; p < hv * g->W; p += 16) {
        __mmask16 m = lm_lanes16(hv * g->W - p);
        __m512 v[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            v[i] = _mm512_maskz_loadu_ps(m & chan[i], xc + i * HW + p);
        lm_transpose16_avx512f(v);
        const int64_t left = hv * g->W - p;
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) { /* unrolled: v stays in registers */
            if (j < left && iw < wv)
                _mm512_storeu_ps(dst + (ih * Wp + iw) * 16, v[j]);
            if (++iw == g->W)
                iw = 0, ih++;
        }
    }
}

/* NB output pixels, xs floats apart in the padded rows, from x0 on. */
INLINE void dw_pixels(const int nb, const float *const *rows, const float *wv, int64_t KH,
                      int64_t KW, int64_t xs, int64_t xd, int64_t x0, __m512 vb, __m512 vlo,
                      __m512 vhi, bool clamp, bool hswish, float *o)
{
    __m512 acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < nb; i++)
        acc[i] = vb;
    for (int64_t kh = 0; kh < KH; kh++) {
        const float *p = rows[kh] + x0;
        for (int64_t kw = 0; kw < KW; kw++, p += xd) {
            __m512 wk = _mm512_loadu_ps(wv + (kh * KW + kw) * 16);
#pragma GCC unroll 8
            for (int i = 0; i < nb; i++)
                acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(p + i * xs), wk, acc[i]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < nb; i++) {
        __m512 v = acc[i];
        if (clamp) /* max/min return v when it is NaN, like the unfused ops */
            v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v));
        if (hswish)
            v = lm_hswish16(v);
        _mm512_storeu_ps(o + i * 16, v);
    }
}

#define DW_PIXELS_FN(NB)                                                                           \
    static TARGET void dw_pixels_##NB(const float *const *rows, const float *wv, int64_t KH,       \
                                      int64_t KW, int64_t xs, int64_t xd, int64_t x0, __m512 vb,   \
                                      __m512 vlo, __m512 vhi, bool clamp, bool hswish, float *o)   \
    {                                                                                              \
        dw_pixels(NB, rows, wv, KH, KW, xs, xd, x0, vb, vlo, vhi, clamp, hswish, o);               \
    }
DW_PIXELS_FN(1)
DW_PIXELS_FN(2)
DW_PIXELS_FN(3)
DW_PIXELS_FN(4)
DW_PIXELS_FN(5)
DW_PIXELS_FN(6)
DW_PIXELS_FN(7)
DW_PIXELS_FN(8)

typedef void (*dw_pixels_fn)(const float *const *, const float *, int64_t, int64_t, int64_t,
                             int64_t, int64_t, __m512, __m512, __m512, bool, bool, float *);
static const dw_pixels_fn dw_pixels_n[9] = {NULL,        dw_pixels_1, dw_pixels_2,
                                            dw_pixels_3, dw_pixels_4, dw_pixels_5,
                                            dw_pixels_6, dw_pixels_7, dw_pixels_8};

/* Output rows [oh0, oh1) (n pixels of 16 lanes in O, flat) back to channels
 * c0..c0+nc: whole rows are contiguous in each channel's plane, so they are
 * transposed flat, 16 pixels at a time. */
static TARGET void unpack_rows(const lm_conv2d_geom *g, const float *O, int64_t c0, int64_t nc,
                               int64_t oh0, int64_t oh1, float *y)
{
    const int64_t OS = g->OH * g->OW, n = (oh1 - oh0) * g->OW;
    float *yr = y + c0 * OS + oh0 * g->OW;
    __mmask16 chan[16];
    for (int i = 0; i < 16; i++)
        chan[i] = i < nc ? (__mmask16)0xFFFF : 0;
    for (int64_t p = 0; p < n; p += 16) {
        __mmask16 m = lm_lanes16(n - p);
        __m512 v[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            v[j] = p + j < n ? _mm512_loadu_ps(O + (p + j) * 16) : _mm512_setzero_ps();
        lm_transpose16_avx512f(v);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            _mm512_mask_storeu_ps(yr + i * OS + p, m & chan[i], v[i]);
    }
}

static TARGET void dwconv_block(const lm_conv2d_geom *g, const float *x, const float *w,
                                const float *bias, float lo, float hi, bool hswish, int64_t c0,
                                float *scratch, float *y)
{
    const int64_t Hp = lm_conv2d_padded_rows(g), Wp = lm_conv2d_padded_cols(g), KK = g->KH * g->KW;
    const int64_t nc = min64(16, g->C - c0), band = band_rows(g);
    float *P = scratch, *O = P + Hp * Wp * 16, *wv = O + band_floats(g);
    for (int64_t t = 0; t < KK; t++)
        for (int i = 0; i < 16; i++)
            wv[t * 16 + i] = i < nc ? w[(c0 + i) * KK + t] : 0.0f;
    __m512 vb = bias ? _mm512_maskz_loadu_ps(lm_lanes16(nc), bias + c0) : _mm512_setzero_ps();
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const bool clamp = lo != -INFINITY || hi != INFINITY;
    pack_plane(g, x, c0, nc, P);
    const float *rows[64];
    const int64_t xs = g->sw * 16, xd = g->dw * 16;
    for (int64_t oh0 = 0; oh0 < g->OH; oh0 += band) {
        int64_t oh1 = min64(g->OH, oh0 + band);
        for (int64_t oh = oh0; oh < oh1; oh++) {
            for (int64_t kh = 0; kh < g->KH; kh++)
                rows[kh] = P + (oh * g->sh + kh * g->dh) * Wp * 16;
            float *o = O + (oh - oh0) * g->OW * 16;
            for (int64_t ow = 0; ow < g->OW; ow += 8) {
                int nb = (int)min64(8, g->OW - ow);
                dw_pixels_n[nb](rows, wv, g->KH, g->KW, xs, xd, ow * xs, vb, vlo, vhi, clamp,
                                hswish, o + ow * 16);
            }
        }
        unpack_rows(g, O, c0, nc, oh0, oh1, y);
    }
}

void lm_dwconv16(const lm_conv2d_geom *g, const float *x, const float *w, const float *bias,
                 float lo, float hi, bool hswish, int64_t cb0, int64_t cb1, float *scratch,
                 float *y)
{
    for (int64_t cb = cb0; cb < cb1; cb++)
        dwconv_block(g, x, w, bias, lo, hi, hswish, cb * 16, scratch, y);
}

#else
void lm_dwconv16(const lm_conv2d_geom *g, const float *x, const float *w, const float *bias,
                 float lo, float hi, bool hswish, int64_t cb0, int64_t cb1, float *scratch,
                 float *y)
{
    (void)g, (void)x, (void)w, (void)bias, (void)lo, (void)hi, (void)hswish, (void)cb0, (void)cb1;
    (void)scratch, (void)y;
}
#endif
