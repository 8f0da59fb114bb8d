/*
 * directconv_avx512f.c - direct convolution for shallow inputs (see
 * directconv.h). The padded planes have exactly the rows and columns the taps
 * reach, so the inner loops never test bounds; each multiply-add takes its
 * input value as an embedded broadcast from memory.
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

bool lm_directconv_available(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return lm_cpu_features_get()->avx512f;
#else
    return false;
#endif
}

size_t lm_directconv_pad_floats(const lm_conv2d_geom *g)
{
    return (size_t)(g->C * lm_conv2d_padded_rows(g) * lm_conv2d_padded_cols(g));
}

size_t lm_directconv_weight_floats(const lm_conv2d_geom *g)
{
    return (size_t)((g->M + 15) / 16 * g->C * g->KH * g->KW * 16);
}

size_t lm_directconv_row_floats(const lm_conv2d_geom *g)
{
    return (size_t)((g->OW + 15) / 16 * 16 * 16);
}

void lm_directconv_pad(const lm_conv2d_geom *g, const float *x, float *xpad)
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

void lm_directconv_pack_weights(const lm_conv2d_geom *g, const float *w, float *wp)
{
    const int64_t taps = g->C * g->KH * g->KW;
    for (int64_t cb = 0; cb < (g->M + 15) / 16; cb++)
        for (int64_t t = 0; t < taps; t++)
            for (int64_t i = 0; i < 16; i++) {
                int64_t m = cb * 16 + i;
                wp[(cb * taps + t) * 16 + i] = m < g->M ? w[m * taps + t] : 0.0f;
            }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))

/* NB output pixels from column q0 (padded, of the first tap) on: acc[j] sums
 * xpad[c][r + kh dh][q0 + j sw + kw dw] x w[c][kh][kw] over the taps. KWF is
 * KW when it is fixed at compile time (3 and 7, unrolled), else 0; SWF the
 * stride when it is fixed (1 or 2, with no dilation), else 0: with both
 * fixed every input value is a constant offset from one pointer, which
 * frees the registers that runtime offsets took (they were spilled). */
static inline __attribute__((always_inline)) TARGET void
pixels(const int nb, const int kwf, const int swf, const lm_conv2d_geom *g, const float *xr,
       int64_t Hp, int64_t Wp, const float *wb, __m512 vb, __m512 vlo, __m512 vhi, bool clamp,
       bool hswish, float *o)
{
    __m512 acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < nb; j++)
        acc[j] = vb;
    const int64_t sw = swf ? swf : g->sw, dw = swf ? 1 : g->dw, KW = kwf ? kwf : g->KW;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t kh = 0; kh < g->KH; kh++) {
            const float *p = xr + (c * Hp + kh * g->dh) * Wp;
#pragma GCC unroll 7
            for (int64_t kw = 0; kw < KW; kw++) {
                __m512 wk = _mm512_loadu_ps(wb + kw * 16);
#pragma GCC unroll 8
                for (int j = 0; j < nb; j++)
                    acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(p[kw * dw + j * sw]), wk, acc[j]);
            }
            wb += KW * 16;
        }
#pragma GCC unroll 8
    for (int j = 0; j < nb; j++) {
        __m512 v = acc[j];
        if (clamp) /* max/min return v when it is NaN, like the unfused ops */
            v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, v));
        if (hswish)
            v = lm_hswish16(v);
        _mm512_storeu_ps(o + j * 16, v);
    }
}

#define PIXELS_FN(KWF, SWF, NB)                                                                    \
    static TARGET void pixels_##KWF##_##SWF##_##NB(                                                \
        const lm_conv2d_geom *g, const float *xr, int64_t Hp, int64_t Wp, const float *wb,         \
        __m512 vb, __m512 vlo, __m512 vhi, bool clamp, bool hswish, float *o)                      \
    {                                                                                              \
        pixels(NB, KWF, SWF, g, xr, Hp, Wp, wb, vb, vlo, vhi, clamp, hswish, o);                   \
    }
#define PIXELS_FNS(KWF, SWF)                                                                       \
    PIXELS_FN(KWF, SWF, 1)                                                                         \
    PIXELS_FN(KWF, SWF, 2)                                                                         \
    PIXELS_FN(KWF, SWF, 3)                                                                         \
    PIXELS_FN(KWF, SWF, 4)                                                                         \
    PIXELS_FN(KWF, SWF, 5)                                                                         \
    PIXELS_FN(KWF, SWF, 6) PIXELS_FN(KWF, SWF, 7) PIXELS_FN(KWF, SWF, 8)
#define PIXELS_STRIDES(KWF) PIXELS_FNS(KWF, 0) PIXELS_FNS(KWF, 1) PIXELS_FNS(KWF, 2)
PIXELS_STRIDES(0)
PIXELS_STRIDES(3)
PIXELS_STRIDES(7)

typedef void (*pixels_fn)(const lm_conv2d_geom *, const float *, int64_t, int64_t, const float *,
                          __m512, __m512, __m512, bool, bool, float *);
#define PIXELS_ROW(KWF, SWF)                                                                       \
    {                                                                                              \
        NULL, pixels_##KWF##_##SWF##_1, pixels_##KWF##_##SWF##_2, pixels_##KWF##_##SWF##_3,        \
            pixels_##KWF##_##SWF##_4, pixels_##KWF##_##SWF##_5, pixels_##KWF##_##SWF##_6,          \
            pixels_##KWF##_##SWF##_7, pixels_##KWF##_##SWF##_8                                     \
    }
#define PIXELS_ROWS(KWF)                                                                           \
    {                                                                                              \
        PIXELS_ROW(KWF, 0), PIXELS_ROW(KWF, 1), PIXELS_ROW(KWF, 2)                                 \
    }
/* [kernel width: any, 3, 7][stride: any, 1, 2 (undilated)][pixels] */
static const pixels_fn pixels_n[3][3][9] = {PIXELS_ROWS(0), PIXELS_ROWS(3), PIXELS_ROWS(7)};

static TARGET void rows_avx512f(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                                const float *bias, float lo, float hi, bool hswish, int64_t cb,
                                int64_t oh0, int64_t oh1, float *row, float *y)
{
    const int64_t Hp = lm_conv2d_padded_rows(g), Wp = lm_conv2d_padded_cols(g),
                  taps = g->C * g->KH * g->KW;
    const int64_t c0 = cb * 16, nc = min64(16, g->M - c0), OS = g->OH * g->OW;
    const float *wb = wp + cb * taps * 16;
    __mmask16 mb = nc >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nc) - 1);
    __m512 vb = bias ? _mm512_maskz_loadu_ps(mb, bias + c0) : _mm512_setzero_ps();
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const bool clamp = lo != -INFINITY || hi != INFINITY;
    const int swf = g->dw == 1 && (g->sw == 1 || g->sw == 2) ? (int)g->sw : 0;
    const pixels_fn *fns = pixels_n[g->KW == 3 ? 1 : g->KW == 7 ? 2 : 0][swf];
    for (int64_t oh = oh0; oh < oh1; oh++) {
        const float *xr = xpad + oh * g->sh * Wp;
        for (int64_t ow = 0; ow < g->OW; ow += 8) {
            int nb = (int)min64(8, g->OW - ow);
            fns[nb](g, xr + ow * g->sw, Hp, Wp, wb, vb, vlo, vhi, clamp, hswish, row + ow * 16);
        }
        lm_transpose_f32(row, g->OW, nc, 16, y + c0 * OS + oh * g->OW, OS);
    }
}

void lm_directconv_rows(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                        const float *bias, float lo, float hi, bool hswish, int64_t cb, int64_t oh0,
                        int64_t oh1, float *row, float *y)
{
    rows_avx512f(g, xpad, wp, bias, lo, hi, hswish, cb, oh0, oh1, row, y);
}

#else
void lm_directconv_rows(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                        const float *bias, float lo, float hi, bool hswish, int64_t cb, int64_t oh0,
                        int64_t oh1, float *row, float *y)
{
    (void)g, (void)xpad, (void)wp, (void)bias, (void)lo, (void)hi, (void)hswish, (void)cb,
        (void)oh0;
    (void)oh1, (void)row, (void)y;
}
#endif
