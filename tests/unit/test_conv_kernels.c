/*
 * test_conv_kernels.c - the fp32 CNN kernels against plain reference loops.
 *
 * The depthwise kernel over 16-channel blocks (cpu/dwconv.h) is called
 * directly, over channel counts that are and are not multiples of the block,
 * strides 1 to 3, dilation, asymmetric padding, 1 x 1 planes, bands of
 * output rows and garbage in its scratch, and must match a double-precision
 * loop without writing past its output; so must the direct
 * few-input-channel kernel (cpu/directconv.h). Through whole Conv / MaxPool /
 * GlobalAveragePool nodes (1 and 2 threads): depthwise with a fused
 * activation the kernel does not clamp, 1x1 convolutions run pixel-major
 * (X^T W^T), gathered im2col rows (stride 2 at every width, stride 3,
 * unpadded), stride-1 "same" ones
 * (shifted copies of the image), MaxPool's vector
 * column maxima including NaN and -inf, and the vectorized activations
 * against their scalar forms.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/activation.h"
#include "cpu/dwconv.h"
#include "cpu/directconv.h"
#include "lib/onnx_builder.h"
#include "lib/conv_ref.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define SENTINEL 12345.0f

static uint32_t rng_state = 777;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static void fill(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = scale * frand();
}

/* ---- lm_dwconv16 against a double-precision loop --------------------------------- */

typedef struct dw_case {
    int64_t C, H, W, KH, KW, s, d, pt, pl, pb, pr;
    bool clamp, hswish;
} dw_case;

/* Returns the number of mismatches (sentinels past the output included). */
static int run_dw_case(const dw_case *c)
{
    lm_conv2d_geom g = {.C = c->C,
                        .H = c->H,
                        .W = c->W,
                        .KH = c->KH,
                        .KW = c->KW,
                        .sh = c->s,
                        .sw = c->s,
                        .dh = c->d,
                        .dw = c->d,
                        .pt = c->pt,
                        .pl = c->pl};
    g.OH = lm_conv_out_len(c->H, c->KH, c->s, c->d, c->pt, c->pb);
    g.OW = lm_conv_out_len(c->W, c->KW, c->s, c->d, c->pl, c->pr);
    int64_t KK = c->KH * c->KW, OS = g.OH * g.OW, n_y = c->C * OS;
    float *x = malloc(sizeof(float) * (size_t)(c->C * c->H * c->W));
    float *w = malloc(sizeof(float) * (size_t)(c->C * KK));
    float *b = malloc(sizeof(float) * (size_t)c->C);
    float *y = malloc(sizeof(float) * (size_t)(n_y + 64));
    size_t sn = lm_dwconv16_scratch_floats(&g);
    float *scratch = aligned_alloc(64, (sn * sizeof(float) + 63) / 64 * 64);
    fill(x, c->C * c->H * c->W, 2.0f);
    fill(w, c->C * KK, 1.0f);
    fill(b, c->C, 1.0f);
    for (size_t i = 0; i < sn; i++)
        scratch[i] = NAN; /* the kernel must not read what it did not write */
    for (int64_t i = 0; i < n_y + 64; i++)
        y[i] = SENTINEL;
    float lo = c->clamp ? 0.0f : -INFINITY, hi = c->clamp ? 0.5f : INFINITY;
    lm_dwconv16(&g, x, w, b, lo, hi, c->hswish, 0, (c->C + 15) / 16, scratch, y);
    int bad = 0;
    for (int64_t ch = 0; ch < c->C; ch++)
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++) {
                double acc = b[ch], mag = fabs(b[ch]); /* mag: sum of |terms| */
                for (int64_t kh = 0; kh < c->KH; kh++)
                    for (int64_t kw = 0; kw < c->KW; kw++) {
                        int64_t ih = oh * c->s - c->pt + kh * c->d;
                        int64_t iw = ow * c->s - c->pl + kw * c->d;
                        if (ih >= 0 && ih < c->H && iw >= 0 && iw < c->W) {
                            double t = (double)x[(ch * c->H + ih) * c->W + iw] *
                                       w[ch * KK + kh * c->KW + kw];
                            acc += t;
                            mag += fabs(t);
                        }
                    }
                if (c->clamp)
                    acc = acc < lo ? lo : acc > hi ? hi : acc;
                if (c->hswish)
                    acc = lm_act_ref("HardSwish", acc);
                float got = y[ch * OS + oh * g.OW + ow];
                if (!(fabs((double)got - acc) <= 1e-6 * (1.0 + fabs(acc)) + 1e-6 * mag) &&
                    bad++ < 3)
                    print_error("C%lld %lldx%lld k%lldx%lld s%lld d%lld pad %lld,%lld,%lld,%lld: "
                                "y[%lld,%lld,%lld] = %g, want %g\n",
                                (long long)c->C, (long long)c->H, (long long)c->W, (long long)c->KH,
                                (long long)c->KW, (long long)c->s, (long long)c->d,
                                (long long)c->pt, (long long)c->pl, (long long)c->pb,
                                (long long)c->pr, (long long)ch, (long long)oh, (long long)ow, got,
                                acc);
            }
    for (int64_t i = n_y; i < n_y + 64; i++)
        if (y[i] != SENTINEL && bad++ < 3)
            print_error("C%lld: wrote y[%lld] past the output\n", (long long)c->C, (long long)i);
    free(x);
    free(w);
    free(b);
    free(y);
    free(scratch);
    return bad;
}

static void dwconv16_matches_reference(void **state)
{
    (void)state;
    if (!lm_dwconv16_available()) {
        print_message("no AVX-512F: lm_dwconv16 is not used on this CPU\n");
        return;
    }
    /* C, H, W, KH, KW, stride, dilation, pads top/left/bottom/right, clamp */
    static const dw_case cases[] = {
        {16, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, false, false},
        {17, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, true, false},
        {3, 14, 14, 3, 3, 2, 1, 1, 1, 1, 1, false, false},
        {33, 15, 13, 3, 3, 2, 1, 0, 1, 1, 0, true, false},
        {32, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, false, false},
        {5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, false, false},
        {20, 19, 40, 5, 5, 1, 1, 2, 2, 2, 2, true, false},
        {16, 28, 28, 5, 5, 2, 1, 2, 2, 2, 2, false, false},
        {24, 12, 17, 3, 3, 1, 2, 2, 2, 2, 2, false, false},
        {9, 11, 23, 3, 5, 3, 1, 1, 2, 0, 1, false, false},
        {48, 56, 56, 3, 3, 2, 1, 0, 0, 1, 1, true, false},
        {1, 9, 37, 7, 7, 1, 1, 3, 3, 3, 3, false, false},
        {18, 6, 5, 2, 2, 2, 3, 0, 0, 3, 4, false, false},
        {16, 3, 50, 3, 3, 1, 1, 4, 5, 4, 5, false, false},
        {40, 14, 14, 5, 5, 1, 1, 2, 2, 2, 2, false, true},
        {21, 9, 30, 3, 3, 2, 1, 1, 1, 1, 1, true, true},
        /* output bands: 2 rows of 100 (the last band short), rows over 256 */
        {20, 5, 100, 3, 3, 1, 1, 1, 1, 1, 1, false, false},
        {17, 3, 300, 3, 3, 1, 1, 1, 1, 1, 1, true, false},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad += run_dw_case(&cases[i]);
    assert_int_equal(bad, 0);
}

/* ---- lm_dwconv_rows against a double-precision loop ------------------------------ */

typedef struct rows_case {
    int64_t H, W, KH, KW, sh, sw, pt, pl, pb, pr;
    lm_act act;
} rows_case;

/* act(v) in double for the kinds the row kernel is given here. */
static double rows_act_ref(const lm_act *a, double v)
{
    switch (a->kind) {
    case LM_ACT_RELU:
        return v < 0 ? 0 : v;
    case LM_ACT_CLIP:
        return fmin(a->beta, fmax(a->alpha, v));
    case LM_ACT_HARD_SWISH:
        return lm_act_ref("HardSwish", v);
    case LM_ACT_SILU:
        return lm_act_ref("Silu", v);
    default:
        return v;
    }
}

/* Three channels of case @c through lm_dwconv_rows, with NaN in its scratch
 * and sentinels past the planes; returns the mismatches. */
static int run_rows_case(const rows_case *c)
{
    lm_conv2d_geom g = {.C = 3,
                        .M = 3,
                        .H = c->H,
                        .W = c->W,
                        .KH = c->KH,
                        .KW = c->KW,
                        .sh = c->sh,
                        .sw = c->sw,
                        .dh = 1,
                        .dw = 1,
                        .pt = c->pt,
                        .pl = c->pl,
                        .pb = c->pb,
                        .pr = c->pr};
    g.OH = lm_conv_out_len(c->H, c->KH, c->sh, 1, c->pt, c->pb);
    g.OW = lm_conv_out_len(c->W, c->KW, c->sw, 1, c->pl, c->pr);
    if (!lm_dwconv_rows_applies(&g)) {
        print_error("%lldx%lld k%lldx%lld s%lld,%lld: the row kernel does not apply\n",
                    (long long)c->H, (long long)c->W, (long long)c->KH, (long long)c->KW,
                    (long long)c->sh, (long long)c->sw);
        return 1;
    }
    const int64_t IS = c->H * c->W, OS = g.OH * g.OW, KK = c->KH * c->KW;
    float *x = malloc(sizeof(float) * (size_t)(3 * IS)),
          *w = malloc(sizeof(float) * (size_t)(3 * KK));
    float *y = malloc(sizeof(float) * (size_t)(3 * OS + 64)), b[3];
    size_t sn = lm_dwconv_rows_scratch_floats(&g);
    float *scratch = malloc(sn * sizeof(float));
    fill(x, 3 * IS, 2.0f);
    fill(w, 3 * KK, 1.0f);
    fill(b, 3, 1.0f);
    int bad = 0;
    for (size_t i = 0; i < sn; i++)
        scratch[i] = NAN; /* the kernel must not read what it did not write */
    for (int64_t i = 0; i < 3 * OS + 64; i++)
        y[i] = SENTINEL;
    /* channel 0 alone, then 1 and 2 in one call (the ring carried over) */
    lm_dwconv_rows(&g, x, w, b, &c->act, 0, 1, scratch, y);
    lm_dwconv_rows(&g, x, w, b, &c->act, 1, 3, scratch, y);
    for (int64_t ch = 0; ch < 3; ch++) {
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++) {
                double acc = b[ch], mag = fabs(b[ch]); /* mag: sum of |terms| */
                for (int64_t kh = 0; kh < c->KH; kh++)
                    for (int64_t kw = 0; kw < c->KW; kw++) {
                        int64_t ih = oh * c->sh - c->pt + kh, iw = ow * c->sw - c->pl + kw;
                        if (ih >= 0 && ih < c->H && iw >= 0 && iw < c->W) {
                            double t =
                                (double)x[ch * IS + ih * c->W + iw] * w[ch * KK + kh * c->KW + kw];
                            acc += t;
                            mag += fabs(t);
                        }
                    }
                double want = rows_act_ref(&c->act, acc);
                float got = y[ch * OS + oh * g.OW + ow];
                if (!(fabs((double)got - want) <= 2e-6 * (1.0 + fabs(want)) + 2e-6 * mag) &&
                    bad++ < 3)
                    print_error("%lldx%lld k%lldx%lld s%lld,%lld pad %lld,%lld,%lld,%lld act %d: "
                                "y[%lld,%lld,%lld] = %g, want %g\n",
                                (long long)c->H, (long long)c->W, (long long)c->KH,
                                (long long)c->KW, (long long)c->sh, (long long)c->sw,
                                (long long)c->pt, (long long)c->pl, (long long)c->pb,
                                (long long)c->pr, (int)c->act.kind, (long long)ch, (long long)oh,
                                (long long)ow, got, want);
            }
    }
    for (int64_t i = 3 * OS; i < 3 * OS + 64; i++)
        if (y[i] != SENTINEL && bad++ < 3)
            print_error("%lldx%lld: wrote y[%lld] past the planes\n", (long long)c->H,
                        (long long)c->W, (long long)i);
    free(x);
    free(w);
    free(y);
    free(scratch);
    return bad;
}

/* The row kernel for large planes: square 3, 5, 7 windows (the blocked
 * kernels, with output rows not a multiple of their 4 and columns not of
 * their 2 x 16) and others (one row at a time), stride 1 and 2, asymmetric
 * and zero pads, widths under 16 and not multiples of 16, activations in
 * registers (Relu, Clip, HardSwish) and after (SiLU). */
static void dwconv_rows_matches_reference(void **state)
{
    (void)state;
    const lm_act none = {LM_ACT_NONE, 0, 0}, relu = {LM_ACT_RELU, 0, 0},
                 clip = {LM_ACT_CLIP, -0.5f, 0.75f}, hsw = {LM_ACT_HARD_SWISH, 0, 0},
                 silu = {LM_ACT_SILU, 0, 0};
    lm_conv2d_geom probe = {.C = 1,
                            .M = 1,
                            .H = 8,
                            .W = 8,
                            .KH = 3,
                            .KW = 3,
                            .sh = 1,
                            .sw = 1,
                            .dh = 1,
                            .dw = 1,
                            .OH = 8,
                            .OW = 8};
    if (!lm_dwconv_rows_applies(&probe)) {
        print_message("no AVX-512F: lm_dwconv_rows is not used on this CPU\n");
        return;
    }
    /* H, W, KH, KW, sh, sw, pads top/left/bottom/right, activation */
    const rows_case cases[] = {
        {112, 112, 3, 3, 1, 1, 1, 1, 1, 1, relu},
        {57, 45, 3, 3, 1, 1, 0, 1, 2, 0, none},
        {23, 7, 3, 3, 1, 1, 1, 1, 1, 1, clip},
        {112, 112, 3, 3, 2, 2, 0, 0, 1, 1, silu},
        {35, 61, 3, 3, 2, 2, 1, 1, 1, 1, hsw},
        {56, 56, 5, 5, 2, 2, 2, 2, 2, 2, relu},
        {29, 33, 5, 5, 1, 1, 2, 1, 0, 3, silu},
        {30, 50, 7, 7, 1, 1, 3, 3, 3, 3, hsw},
        {31, 19, 7, 7, 2, 2, 3, 2, 1, 3, none},
        {6, 40, 5, 5, 1, 1, 2, 2, 2, 2, clip},
        {2, 37, 3, 3, 1, 1, 1, 1, 1, 1, relu},
        {28, 28, 5, 5, 2, 2, 2, 2, 2, 2, silu},
        /* one row at a time: other windows, strides that differ */
        {20, 41, 3, 5, 1, 1, 1, 2, 1, 2, relu},
        {17, 66, 1, 1, 1, 1, 0, 0, 0, 0, none},
        {25, 38, 3, 3, 2, 1, 1, 1, 1, 1, silu},
        {24, 39, 3, 3, 1, 2, 0, 1, 2, 1, hsw},
        {9, 21, 9, 9, 1, 2, 4, 4, 4, 4, none},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad += run_rows_case(&cases[i]);
    assert_int_equal(bad, 0);
}

/* ---- lm_directconv against a double-precision loop ---------------------------- */

typedef struct direct_case {
    int64_t C, M, H, W, KH, KW, s, d, pt, pl, pb, pr;
    bool clamp, hswish;
} direct_case;

static int run_direct_case(const direct_case *c)
{
    lm_conv2d_geom g = {.C = c->C,
                        .M = c->M,
                        .H = c->H,
                        .W = c->W,
                        .KH = c->KH,
                        .KW = c->KW,
                        .sh = c->s,
                        .sw = c->s,
                        .dh = c->d,
                        .dw = c->d,
                        .pt = c->pt,
                        .pl = c->pl};
    g.OH = lm_conv_out_len(c->H, c->KH, c->s, c->d, c->pt, c->pb);
    g.OW = lm_conv_out_len(c->W, c->KW, c->s, c->d, c->pl, c->pr);
    int64_t taps = c->C * c->KH * c->KW, OS = g.OH * g.OW, n_y = c->M * OS;
    float *x = malloc(sizeof(float) * (size_t)(c->C * c->H * c->W));
    float *w = malloc(sizeof(float) * (size_t)(c->M * taps));
    float *b = malloc(sizeof(float) * (size_t)c->M);
    float *y = malloc(sizeof(float) * (size_t)(n_y + 64));
    float *xpad = malloc(sizeof(float) * lm_directconv_pad_floats(&g));
    float *wp = malloc(sizeof(float) * lm_directconv_weight_floats(&g));
    float *row = malloc(sizeof(float) * (lm_directconv_row_floats(&g) + 1));
    fill(x, c->C * c->H * c->W, 2.0f);
    fill(w, c->M * taps, 1.0f);
    fill(b, c->M, 1.0f);
    for (int64_t i = 0; i < n_y + 64; i++)
        y[i] = SENTINEL;
    float lo = c->clamp ? 0.0f : -INFINITY, hi = c->clamp ? 6.0f : INFINITY;
    lm_directconv_pad(&g, x, xpad);
    lm_directconv_pack_weights(&g, w, wp);
    /* Two calls over different row ranges of each block, as threads split it. */
    int64_t block = lm_directconv_block(&g);
    for (int64_t mb = 0; mb < (c->M + block - 1) / block; mb++) {
        lm_directconv_rows(&g, xpad, wp, b, lo, hi, c->hswish, mb, 0, g.OH / 2, row, y);
        lm_directconv_rows(&g, xpad, wp, b, lo, hi, c->hswish, mb, g.OH / 2, g.OH, row, y);
    }
    int bad = 0;
    for (int64_t m = 0; m < c->M; m++)
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++) {
                double acc = b[m], mag = fabs(b[m]);
                for (int64_t ci = 0; ci < c->C; ci++)
                    for (int64_t kh = 0; kh < c->KH; kh++)
                        for (int64_t kw = 0; kw < c->KW; kw++) {
                            int64_t ih = oh * c->s - c->pt + kh * c->d;
                            int64_t iw = ow * c->s - c->pl + kw * c->d;
                            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                continue;
                            double t = (double)x[(ci * c->H + ih) * c->W + iw] *
                                       w[((m * c->C + ci) * c->KH + kh) * c->KW + kw];
                            acc += t;
                            mag += fabs(t);
                        }
                if (c->clamp)
                    acc = acc < lo ? lo : acc > hi ? hi : acc;
                if (c->hswish)
                    acc = acc * fmin(1.0, fmax(0.0, acc / 6.0 + 0.5));
                float got = y[m * OS + oh * g.OW + ow];
                if (!(fabs((double)got - acc) <= 1e-6 * (1.0 + mag)) && bad++ < 3)
                    print_error("direct C%lld M%lld %lldx%lld k%lldx%lld s%lld d%lld: y[%lld,%lld,"
                                "%lld] = %g, want %g\n",
                                (long long)c->C, (long long)c->M, (long long)c->H, (long long)c->W,
                                (long long)c->KH, (long long)c->KW, (long long)c->s,
                                (long long)c->d, (long long)m, (long long)oh, (long long)ow, got,
                                acc);
            }
    for (int64_t i = n_y; i < n_y + 64; i++)
        if (y[i] != SENTINEL && bad++ < 3)
            print_error("direct M%lld: wrote y[%lld] past the output\n", (long long)c->M,
                        (long long)i);
    free(x);
    free(w);
    free(b);
    free(y);
    free(xpad);
    free(wp);
    free(row);
    return bad;
}

/* First layers (3x3 and 7x7 stride 2) and edges for both kernels: output
 * channels off the block, 1 and 4 input channels, stride 1 and 3, dilation,
 * asymmetric pads, widths around the 8-pixel groups and the 16-pixel
 * vectors, a 1 x 1 output. */
static void directconv_matches_reference(void **state)
{
    (void)state;
    if (!lm_directconv_available()) {
        print_message("no AVX-512F: lm_directconv is not used on this CPU\n");
        return;
    }
    static const direct_case cases[] = {
        {3, 16, 32, 32, 3, 3, 2, 1, 1, 1, 1, 1, true, false},
        {3, 24, 20, 21, 3, 3, 2, 1, 1, 1, 1, 1, false, false},
        {3, 64, 30, 30, 7, 7, 2, 1, 3, 3, 3, 3, true, false},
        {1, 5, 9, 17, 3, 3, 1, 1, 0, 0, 0, 0, false, false},
        {4, 33, 12, 40, 5, 3, 3, 1, 2, 1, 0, 2, false, false},
        {2, 16, 15, 15, 3, 3, 1, 2, 2, 2, 2, 2, true, false},
        {3, 8, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0, false, false},
        {3, 17, 11, 9, 2, 2, 2, 1, 0, 0, 1, 1, false, false},
        {3, 16, 30, 30, 3, 3, 2, 1, 1, 1, 1, 1, false, true},
        /* deeper inputs (stride-2 downsampling, shallow stride 1), the
         * strides and widths fixed at compile time and not */
        {32, 40, 17, 23, 3, 3, 2, 1, 1, 1, 1, 1, false, false},
        {96, 16, 9, 10, 3, 3, 2, 1, 1, 1, 1, 1, true, false},
        {12, 12, 13, 19, 3, 3, 1, 1, 1, 1, 1, 1, false, false},
        {7, 9, 20, 20, 7, 7, 1, 1, 3, 3, 3, 3, false, false},
        {20, 18, 21, 22, 5, 5, 2, 1, 2, 2, 2, 2, false, false},
        {10, 16, 14, 14, 3, 3, 1, 2, 2, 2, 2, 2, false, false},
        /* rows that fill vectors of 16 pixels (the kernel by pixels): 3
         * vectors and a tail, stride 3, dilation, an unreached last column,
         * output channels off its blocks of 8 */
        {3, 20, 9, 93, 7, 7, 2, 1, 3, 3, 3, 3, true, false},
        {4, 13, 10, 46, 3, 5, 3, 1, 1, 2, 0, 2, false, true},
        {5, 11, 16, 32, 3, 3, 1, 2, 2, 2, 2, 2, false, false},
        {2, 9, 5, 130, 3, 3, 1, 1, 1, 1, 1, 1, false, false},
        {6, 7, 12, 30, 3, 3, 2, 1, 1, 1, 0, 0, true, false},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad += run_direct_case(&cases[i]);
    assert_int_equal(bad, 0);
}

/* ---- whole nodes ------------------------------------------------------------ */

static loom_context *cpu_context(int threads)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    o.num_threads = threads;
    loom_context *ctx = NULL;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    return ctx;
}

/* Runs the one-node model @m (input "x", output "y") on @x; returns y's data
 * (malloc'd) and its element count. */
static float *run_model(ob_model *m, int threads, int rank, const int64_t *xd, const float *x,
                        int64_t *count)
{
    loom_context *ctx = cpu_context(threads);
    loom_model *model = lm_load_ok(ctx, m, "kernels.onnx");
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= xd[i];
    loom_tensor *in, *y;
    assert_int_equal(
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, rank, xd, (void *)x, sizeof(float) * (size_t)n, &in),
        LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &y, 1), LOOM_OK);
    *count = loom_tensor_count(y);
    float *res = malloc(sizeof(float) * (size_t)*count);
    memcpy(res, loom_tensor_data(y), sizeof(float) * (size_t)*count);
    loom_tensor_destroy(y);
    loom_tensor_destroy(in);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    return res;
}

static bool close_to(float got, double want)
{
    return fabs((double)got - want) <= 1e-5 * (1.0 + fabs(want));
}

typedef struct conv_case {
    int64_t N, C, M, H, W, K, s, pad, group;
    const char *act; /* fused activation or NULL */
} conv_case;

/* A Conv node against a double-precision loop; returns the mismatches. */
/* Y of conv case @c (any batch) against a double-precision loop; returns
 * the number of mismatches. */
static int check_conv(const conv_case *c, const float *x, const float *w, const float *b,
                      const float *y, int threads)
{
    int64_t Cg = c->C / c->group, Mg = c->M / c->group;
    int64_t OH = lm_conv_out_len(c->H, c->K, c->s, 1, c->pad, c->pad);
    int64_t OW = lm_conv_out_len(c->W, c->K, c->s, 1, c->pad, c->pad),
            count = c->N * c->M * OH * OW;
    int bad = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t ow = i % OW, oh = i / OW % OH, mo = i / (OW * OH) % c->M, nn = i / (OW * OH * c->M);
        int64_t gi = mo / Mg;
        double acc = b[mo], mag = fabs(b[mo]); /* mag: the sum of |terms|, for rounding */
        for (int64_t ci = 0; ci < Cg; ci++)
            for (int64_t kh = 0; kh < c->K; kh++)
                for (int64_t kw = 0; kw < c->K; kw++) {
                    int64_t ih = oh * c->s - c->pad + kh, iw = ow * c->s - c->pad + kw;
                    if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                        continue;
                    double t = (double)x[((nn * c->C + gi * Cg + ci) * c->H + ih) * c->W + iw] *
                               w[((mo * Cg + ci) * c->K + kh) * c->K + kw];
                    acc += t;
                    mag += fabs(t);
                }
        double want = lm_act_ref(c->act, acc);
        if (!(fabs((double)y[i] - want) <= 1e-5 * (1.0 + fabs(want)) + 1e-6 * mag) && bad++ < 3)
            print_error("N%lld C%lld M%lld %lldx%lld k%lld s%lld group %lld threads %d: y[%lld] "
                        "= %g, want %g\n",
                        (long long)c->N, (long long)c->C, (long long)c->M, (long long)c->H,
                        (long long)c->W, (long long)c->K, (long long)c->s, (long long)c->group,
                        threads, (long long)i, y[i], want);
    }
    return bad;
}

/* Case @c as a node, with B or without (the reference's B is then zeros). */
static int run_conv_case_b(const conv_case *c, int threads, bool has_b)
{
    int64_t Cg = c->C / c->group;
    int64_t OH = lm_conv_out_len(c->H, c->K, c->s, 1, c->pad, c->pad);
    int64_t OW = lm_conv_out_len(c->W, c->K, c->s, 1, c->pad, c->pad);
    int64_t xd[4] = {c->N, c->C, c->H, c->W}, wd[4] = {c->M, Cg, c->K, c->K}, bd[1] = {c->M};
    int64_t xn = c->N * c->C * c->H * c->W, wn = c->M * Cg * c->K * c->K;
    float *x = malloc(sizeof(float) * (size_t)xn), *w = malloc(sizeof(float) * (size_t)wn);
    float *b = malloc(sizeof(float) * (size_t)c->M);
    fill(x, xn, 2.0f);
    fill(w, wn, 0.5f);
    fill(b, c->M, has_b ? 1.0f : 0.0f);
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w", 4, wd, w);
    if (has_b)
        ob_init_f32(m, "b", 1, bd, b);
    ob_node *n = ob_add_node(m, "Conv", has_b ? "x,w,b" : "x,w", "y");
    int64_t pads[4] = {c->pad, c->pad, c->pad, c->pad}, strides[2] = {c->s, c->s};
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_ints(m, n, "strides", 2, strides);
    ob_attr_int(m, n, "group", c->group);
    if (c->act)
        ob_attr_str(m, n, "_loom_act", c->act);
    int64_t count;
    float *y = run_model(m, threads, 4, xd, x, &count);
    assert_int_equal(count, c->N * c->M * OH * OW);
    int bad = check_conv(c, x, w, b, y, threads);
    free(x);
    free(w);
    free(b);
    free(y);
    return bad;
}

static int run_conv_case(const conv_case *c, int threads)
{
    return run_conv_case_b(c, threads, true);
}

/* Depthwise with an activation the blocked kernel leaves to the epilogue,
 * batches, and 1 and 2 threads (parts with their own scratch), on small
 * planes (16-channel blocks) and large ones (rows). */
static void depthwise_nodes(void **state)
{
    (void)state;
    static const conv_case cases[] = {
        {2, 40, 40, 9, 9, 3, 1, 1, 40, "HardSwish"},
        {1, 17, 17, 14, 14, 5, 2, 2, 17, "Relu"},
        {3, 16, 16, 7, 7, 3, 1, 1, 16, NULL},
        {1, 64, 64, 1, 1, 3, 1, 1, 64, "HardSwish"},
        /* planes the row kernel takes (outputs at least 16 wide) */
        {1, 12, 12, 56, 56, 3, 2, 1, 12, "Relu"},
        {2, 5, 5, 33, 47, 5, 1, 2, 5, "Silu"},
        {1, 4, 4, 30, 30, 7, 2, 3, 4, "HardSwish"},
    };
    int bad = 0;
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            bad += run_conv_case(&cases[i], t);
    assert_int_equal(bad, 0);
}

/* Convolutions run pixel-major (X^T W^T, transposed back): 1x1 on 1 x 1
 * images with several images, 7 x 7, 14 x 14 and 28 x 28 planes projected to
 * few channels, 3x3 on 7 x 7 outputs (from im2col) and on a 1 x 1 output,
 * with bias and activations; an expansion and a grouped one stay on the
 * plain path. */
static void pixel_major_nodes(void **state)
{
    (void)state;
    static const conv_case cases[] = {
        {1, 96, 24, 1, 1, 1, 1, 0, 1, "Relu"},
        {3, 16, 72, 1, 1, 1, 1, 0, 1, "HardSwish"},
        {2, 13, 5, 1, 1, 1, 1, 0, 1, NULL},
        {1, 576, 1000, 1, 1, 1, 1, 0, 1, NULL},
        {1, 160, 96, 7, 7, 1, 1, 0, 1, "Relu"},
        {2, 576, 97, 14, 14, 1, 1, 0, 1, NULL},
        {1, 192, 32, 28, 28, 1, 1, 0, 1, NULL},
        {1, 40, 17, 5, 9, 1, 1, 0, 1, "HardSwish"},
        {1, 24, 144, 14, 14, 1, 1, 0, 1, "Relu"},
        {2, 8, 12, 1, 1, 1, 1, 0, 2, "Relu"},
        /* 3x3 on 7 x 7 outputs through im2col, stride 1 and 2 */
        {2, 32, 48, 7, 7, 3, 1, 1, 1, "Relu"},
        {2, 24, 40, 13, 13, 3, 2, 1, 1, NULL},
        {1, 8, 20, 3, 3, 3, 1, 0, 1, "HardSwish"},
    };
    int bad = 0;
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            bad += run_conv_case(&cases[i], t);
    assert_int_equal(bad, 0);
}

/* The direct few-channel path through whole nodes: batches, threads, an
 * activation it leaves to the epilogue. */
static void stem_nodes(void **state)
{
    (void)state;
    static const conv_case cases[] = {
        {2, 3, 16, 23, 25, 3, 2, 1, 1, "HardSwish"},
        {1, 3, 24, 30, 30, 3, 2, 1, 1, "Relu"},
        {1, 3, 64, 29, 31, 7, 2, 3, 1, NULL},
    };
    int bad = 0;
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            bad += run_conv_case(&cases[i], t);
    assert_int_equal(bad, 0);
}

/* One loaded model of a stem conv run at widths that take the direct kernel
 * by pixels (16 outputs a row), by channels (11) and by pixels again: the
 * weights packed for one width's kernel must not feed the other's. */
static void direct_kernel_per_width(void **state)
{
    (void)state;
    const int64_t C = 3, M = 16, wd[4] = {M, C, 3, 3}, bd[1] = {M}, widths[] = {32, 21, 34};
    float w[16 * 3 * 9], b[16];
    fill(w, M * C * 9, 0.5f);
    fill(b, M, 1.0f);
    ob_model *m = ob_new(13);
    const int64_t xd_sym[4] = {1, C, -1, -1};
    const char *names[4] = {NULL, NULL, "H", "W"};
    ob_input(m, "x", 1, 4, xd_sym);
    ob_dim_names(m, "x", names);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w", 4, wd, w);
    ob_init_f32(m, "b", 1, bd, b);
    ob_node *n = ob_add_node(m, "Conv", "x,w,b", "y");
    int64_t pads[4] = {1, 1, 1, 1}, strides[2] = {2, 2};
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_ints(m, n, "strides", 2, strides);
    loom_context *ctx = cpu_context(1);
    loom_model *model = lm_load_ok(ctx, m, "widths.onnx");
    int bad = 0;
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        conv_case c = {1, C, M, widths[i], widths[i], 3, 2, 1, 1, NULL};
        int64_t xd[4] = {1, C, c.H, c.W}, xn = C * c.H * c.W;
        float *x = malloc(sizeof(float) * (size_t)xn);
        fill(x, xn, 2.0f);
        loom_tensor *in, *y;
        assert_int_equal(
            loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, xd, x, sizeof(float) * (size_t)xn, &in), LOOM_OK);
        assert_int_equal(loom_model_run(model, &in, 1, &y, 1), LOOM_OK);
        bad += check_conv(&c, x, w, b, loom_tensor_data(y), 1);
        loom_tensor_destroy(y);
        loom_tensor_destroy(in);
        free(x);
    }
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    assert_int_equal(bad, 0);
}

/* 2-D im2col rows that are not shifted copies (gathers, one output row at a
 * time): stride 2 (the 16-wide gather) at widths around the vector, with and
 * without padding, 3x3 and 7x7, deep enough (over 96 channels) to miss the
 * direct path; stride 3; stride 1 without padding; chunks of the matrix that
 * start mid-row (100 channels x 9 taps on 20 x 33 outputs). */
static void gather_im2col_nodes(void **state)
{
    (void)state;
    int bad = 0;
    int64_t widths[] = {5, 16, 31, 33, 34, 65};
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        conv_case a = {1, 100, 8, 9, widths[i], 3, 2, 1, 1, NULL};
        conv_case b = {2, 98, 4, 11, widths[i], 7, 2, 3, 1, "Relu"};
        conv_case c = {1, 97, 5, 6, widths[i], 3, 2, 0, 1, NULL};
        bad += run_conv_case(&a, 1) + run_conv_case(&b, 2) + run_conv_case(&c, 1);
    }
    static const conv_case cases[] = {
        {1, 8, 6, 17, 20, 3, 3, 1, 1, NULL},
        {2, 16, 8, 9, 11, 3, 1, 0, 1, "Relu"},
        {1, 100, 16, 40, 65, 3, 2, 1, 1, NULL},
    };
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            bad += run_conv_case(&cases[i], t);
    assert_int_equal(bad, 0);
}

/* Stride-1 "same" convolutions, whose im2col rows are shifted copies of the
 * image: 3x3, 5x5 and 7x7 windows, planes narrower than the window's reach
 * (every tap of a row in the padding), one column, chunks of the matrix that
 * start mid-row (5x5 on 37 x 37), the plain and the pixel-major GEMM. */
static void shifted_im2col_nodes(void **state)
{
    (void)state;
    static const conv_case cases[] = {
        {1, 16, 24, 37, 37, 5, 1, 2, 1, "Relu"}, {2, 20, 8, 9, 13, 3, 1, 1, 1, NULL},
        {1, 16, 8, 5, 1, 3, 1, 1, 1, NULL},      {1, 16, 40, 3, 3, 7, 1, 3, 1, "HardSwish"},
        {2, 24, 32, 6, 5, 5, 1, 2, 1, NULL},     {1, 32, 64, 7, 7, 3, 1, 1, 1, "Relu"},
    };
    int bad = 0;
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            bad += run_conv_case(&cases[i], t);
    assert_int_equal(bad, 0);
}

/* Grouped convolutions (several channels a group), on the direct kernel
 * per group: 2 to 64 groups of 2 to 64 channels, 3x3 and 5x5 windows at
 * stride 1 and 2, pads 0 to 2, odd and narrow widths (the kernel by channels
 * under 14 columns, by pixels past), batches, with and without B, fused Relu
 * and HardSwish, rows over 1024 padded columns; 1x1 and 128 channels a group
 * at stride 1 stay on the GEMM. */
static void grouped_nodes(void **state)
{
    (void)state;
    static const conv_case cases[] = {
        {1, 64, 64, 14, 14, 3, 2, 1, 2, "Relu"},      {2, 48, 24, 9, 13, 3, 1, 1, 3, NULL},
        {1, 128, 128, 7, 7, 3, 1, 1, 32, "Relu"},     {1, 256, 256, 14, 14, 3, 2, 1, 32, NULL},
        {1, 128, 64, 5, 6, 3, 2, 0, 64, "HardSwish"}, {3, 40, 40, 11, 17, 5, 1, 2, 4, "Relu"},
        {1, 32, 48, 29, 31, 5, 2, 2, 2, NULL},        {1, 64, 32, 33, 20, 3, 1, 0, 8, "HardSwish"},
        {2, 128, 64, 6, 7, 3, 2, 1, 2, "Relu"},       {1, 60, 30, 8, 8, 1, 1, 0, 3, "Relu"},
        {1, 32, 32, 9, 9, 1, 2, 0, 4, NULL},          {1, 256, 256, 6, 6, 3, 1, 1, 2, "Relu"},
        {1, 440, 440, 7, 7, 3, 1, 1, 55, "Relu"},     {1, 208, 208, 13, 13, 3, 2, 1, 26, NULL},
        {2, 64, 64, 56, 56, 3, 1, 1, 16, "Relu"},     {1, 8, 8, 3, 1040, 3, 2, 1, 4, "Relu"},
        {1, 4, 4, 2, 1030, 3, 1, 1, 2, NULL},
    };
    int bad = 0;
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            bad += run_conv_case_b(&cases[i], t, i % 2 == 0);
    assert_int_equal(bad, 0);
}

/* ---- MaxPool and GlobalAveragePool ------------------------------------------ */

/* MaxPool 2-D against the ONNX rule (first valid tap seeds, greater replaces),
 * NaN and -inf in the input included. */
static int run_maxpool_case(int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad, int ceil,
                            int threads)
{
    int64_t C = 3, xd[4] = {1, C, H, W}, xn = C * H * W;
    float *x = malloc(sizeof(float) * (size_t)xn);
    fill(x, xn, 4.0f);
    for (int64_t i = 0; i < xn; i += 7)
        x[i] = i % 2 ? NAN : -INFINITY;
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_output(m, "y", 1);
    ob_node *n = ob_add_node(m, "MaxPool", "x", "y");
    int64_t ks[2] = {k, k}, st[2] = {s, s}, pads[4] = {pad, pad, pad, pad};
    ob_attr_ints(m, n, "kernel_shape", 2, ks);
    ob_attr_ints(m, n, "strides", 2, st);
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_int(m, n, "ceil_mode", ceil);
    int64_t count;
    float *y = run_model(m, threads, 4, xd, x, &count);
    int64_t OH = (H + 2 * pad - k + (ceil ? s - 1 : 0)) / s + 1;
    int64_t OW = (W + 2 * pad - k + (ceil ? s - 1 : 0)) / s + 1;
    /* ceil_mode: the last window must start inside the input or its start padding */
    if (ceil && (OH - 1) * s >= H + pad)
        OH--;
    if (ceil && (OW - 1) * s >= W + pad)
        OW--;
    assert_int_equal(count, C * OH * OW);
    int bad = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t ow = i % OW, oh = i / OW % OH, c = i / (OW * OH);
        float best = -3.402823466e38f;
        bool seeded = false;
        for (int64_t kh = 0; kh < k; kh++)
            for (int64_t kw = 0; kw < k; kw++) {
                int64_t ih = oh * s - pad + kh, iw = ow * s - pad + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                    continue;
                float v = x[(c * H + ih) * W + iw];
                if (!seeded || v > best)
                    best = v;
                seeded = true;
            }
        bool same = isnan(best) ? isnan(y[i]) : y[i] == best;
        if (!same && bad++ < 3)
            print_error("MaxPool %lldx%lld k%lld s%lld pad %lld ceil %d: y[%lld] = %g, want %g\n",
                        (long long)H, (long long)W, (long long)k, (long long)s, (long long)pad,
                        ceil, (long long)i, y[i], best);
    }
    free(x);
    free(y);
    return bad;
}

static void maxpool_nodes(void **state)
{
    (void)state;
    int bad = 0;
    for (int t = 1; t <= 2; t++) {
        bad += run_maxpool_case(55, 55, 3, 2, 0, 1, t);   /* SqueezeNet */
        bad += run_maxpool_case(112, 112, 3, 2, 1, 0, t); /* ResNet, ShuffleNet */
        bad += run_maxpool_case(13, 40, 3, 2, 0, 1, t);
        bad += run_maxpool_case(9, 17, 2, 2, 0, 0, t);
        bad += run_maxpool_case(7, 33, 5, 1, 2, 0, t);
        bad += run_maxpool_case(1, 1, 3, 2, 1, 0, t);
        /* 3 x 3 stride 2 (its own row kernel, which reads the input rows
         * itself): rows of 1, 15, 16 and 17
         * whole windows, the last one's third tap past 32 columns */
        bad += run_maxpool_case(3, 3, 3, 2, 0, 0, t);
        bad += run_maxpool_case(4, 31, 3, 2, 0, 0, t);
        bad += run_maxpool_case(5, 33, 3, 2, 0, 0, t);
        bad += run_maxpool_case(6, 35, 3, 2, 1, 1, t);
        /* read from the input rows, clipped windows at both edges (pad 1 and
         * ceil mode) and 2 or 1 rows in a window */
        bad += run_maxpool_case(27, 27, 3, 2, 0, 1, t);
        bad += run_maxpool_case(8, 50, 3, 2, 1, 1, t);
        /* stride 1 on small planes, flat passes over a padded copy:
         * GoogLeNet's branches, YOLO's SPPF, a 1 x 1 plane, no padding; and
         * a plane too large for them */
        bad += run_maxpool_case(14, 14, 3, 1, 1, 1, t);
        bad += run_maxpool_case(20, 20, 5, 1, 2, 0, t);
        bad += run_maxpool_case(1, 1, 3, 1, 1, 0, t);
        bad += run_maxpool_case(6, 9, 2, 1, 0, 0, t);
        bad += run_maxpool_case(100, 100, 3, 1, 1, 0, t);
    }
    assert_int_equal(bad, 0);
}

/* GlobalAveragePool's 16-lane sums against a double-precision mean. */
static void global_avgpool_nodes(void **state)
{
    (void)state;
    int64_t shapes[][2] = {{1, 1}, {7, 7}, {4, 4}, {14, 14}, {3, 37}, {56, 56}};
    int bad = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t C = 5, H = shapes[si][0], W = shapes[si][1], xd[4] = {2, C, H, W};
        int64_t xn = 2 * C * H * W;
        float *x = malloc(sizeof(float) * (size_t)xn);
        fill(x, xn, 3.0f);
        ob_model *m = ob_new(13);
        ob_input(m, "x", 1, 4, xd);
        ob_output(m, "y", 1);
        ob_add_node(m, "GlobalAveragePool", "x", "y");
        int64_t count;
        float *y = run_model(m, 1, 4, xd, x, &count);
        assert_int_equal(count, 2 * C);
        for (int64_t c = 0; c < 2 * C; c++) {
            double sum = 0;
            for (int64_t i = 0; i < H * W; i++)
                sum += x[c * H * W + i];
            if (!close_to(y[c], sum / (double)(H * W)) && bad++ < 3)
                print_error("%lldx%lld: y[%lld] = %g, want %g\n", (long long)H, (long long)W,
                            (long long)c, y[c], sum / (double)(H * W));
        }
        free(x);
        free(y);
    }
    assert_int_equal(bad, 0);
}

/* ---- activations ------------------------------------------------------------ */

/* The vector forms of the non-clamp activations equal the scalar ones bit
 * for bit (NaN where it is NaN), at every length around the vector width. */
static void vector_activations_match_scalar(void **state)
{
    (void)state;
    lm_act acts[] = {{LM_ACT_RELU, 0, 0},
                     {LM_ACT_CLIP, 0.0f, 6.0f},
                     {LM_ACT_CLIP, -1.5f, INFINITY},
                     {LM_ACT_HARD_SWISH, 0, 0},
                     {LM_ACT_HARD_SIGMOID, 0.2f, 0.5f},
                     {LM_ACT_HARD_SIGMOID, 0.1666667f, 0.5f},
                     {LM_ACT_LEAKY_RELU, 0.01f, 0},
                     {LM_ACT_SIGMOID, 0, 0},
                     {LM_ACT_SILU, 0, 0},
                     {LM_ACT_GELU, 0, 0},
                     {LM_ACT_GELU_TANH, 0, 0},
                     {LM_ACT_MISH, 0, 0}};
    float in[100], a[101], b[101];
    for (int i = 0; i < 100; i++)
        in[i] = 8.0f * frand();
    in[3] = NAN;
    in[5] = INFINITY;
    in[6] = -INFINITY;
    in[7] = -0.0f;
    in[8] = 3.0f;
    in[9] = -3.0f;
    int bad = 0;
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++)
        for (int n = 0; n <= 100; n++) {
            memcpy(a, in, sizeof in);
            memcpy(b, in, sizeof in);
            a[n] = b[n] = SENTINEL;
            lm_act_apply_scalar(&acts[k], a, n);
            lm_act_apply(&acts[k], b, n);
            for (int i = 0; i <= n; i++) {
                bool same = isnan(a[i]) ? isnan(b[i]) : memcmp(&a[i], &b[i], sizeof a[i]) == 0;
                if (!same && bad++ < 3)
                    print_error("act %d n %d: x[%d] = %g, scalar %g\n", (int)acts[k].kind, n, i,
                                b[i], a[i]);
            }
        }
    assert_int_equal(bad, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(dwconv16_matches_reference),
    cmocka_unit_test(dwconv_rows_matches_reference),
    cmocka_unit_test(directconv_matches_reference),
    cmocka_unit_test(stem_nodes),
    cmocka_unit_test(depthwise_nodes),
    cmocka_unit_test(pixel_major_nodes),
    cmocka_unit_test(direct_kernel_per_width),
    cmocka_unit_test(gather_im2col_nodes),
    cmocka_unit_test(shifted_im2col_nodes),
    cmocka_unit_test(grouped_nodes),
    cmocka_unit_test(maxpool_nodes),
    cmocka_unit_test(global_avgpool_nodes),
    cmocka_unit_test(vector_activations_match_scalar),
};

LM_TEST_MAIN(tests)
