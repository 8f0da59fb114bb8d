/*
 * test_qconv.c - the int8 convolution paths agree bit for bit: the direct
 * depthwise kernels (every variant this CPU runs) with their reference, and
 * QLinearConv / ConvInteger through the fast paths (direct depthwise, the
 * padded-width GEMM over row pointers, tile-local im2col) with the plain
 * im2col + GEMM path (LOOM_QCONV_NO_DIRECT=1) and with quant.c's formula, on
 * edge shapes (channels off the vector width, groups, strides, padding,
 * dilation, signedness, zero points, per-tensor and per-channel scales).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/qdwconv.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void fill_bytes(uint8_t *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

/* ---- kernel level: every depthwise variant == lm_qdw_channel_ref ----------- */

typedef struct dw_case {
    int64_t h, w, kh, kw, sy, sx, dy, dx, py, px, oh_pad, ow_pad;
} dw_case;

static const dw_case DW_CASES[] = {
    {9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* same padding */
    {8, 37, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1},  /* stride 2, asymmetric pad */
    {12, 70, 5, 5, 1, 1, 2, 2, 2, 4, 2, 4}, /* dilation 2, wide row (5 vectors) */
    {7, 7, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1},   /* stride 3 */
    {6, 1, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0},   /* one column */
    {5, 33, 1, 7, 1, 2, 1, 1, 0, 3, 0, 3},  /* 1x7, stride 2 across */
    {13, 16, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4}, /* 81 taps: beyond the blocked kernels */
    {3, 4, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2},   /* padding wider than the input part */
};

/* @kz0: the weights' zero point is the one the VNNI kernel takes (0 for
 * int8, 128 for uint8); otherwise one it leaves to the int16 kernel. */
static void dw_fill_params(const dw_case *c, lm_qdw_params *p, const void *x, const void *k,
                           bool xs, bool ks, bool kz0)
{
    *p = (lm_qdw_params){
        .x = x,
        .h = c->h,
        .w = c->w,
        .x_signed = xs,
        .x_zp = xs ? -3 : 131,
        .k = k,
        .kh = c->kh,
        .kw = c->kw,
        .k_signed = ks,
        .k_zp = ks ? (kz0 ? 0 : 5) : (kz0 ? 128 : 77),
        .stride = {c->sy, c->sx},
        .dil = {c->dy, c->dx},
        .pad = {c->py, c->px},
    };
    p->oh = (c->h + c->py + c->oh_pad - (c->kh - 1) * c->dy - 1) / c->sy + 1;
    p->ow = (c->w + c->px + c->ow_pad - (c->kw - 1) * c->dx - 1) / c->sx + 1;
}

static void dw_variants_match_reference(void **state)
{
    (void)state;
    const lm_qdw_config *const *cfgs = lm_qdw_available_configs();
    assert_non_null(cfgs[0]);
    uint8_t x[13 * 70], k[81];
    int32_t got[64 * 70], want[64 * 70];
    int bad = 0;
    rng_state = 7;
    for (size_t ci = 0; ci < sizeof(DW_CASES) / sizeof(DW_CASES[0]); ci++)
        for (int sg = 0; sg < 8; sg++) {
            const dw_case *c = &DW_CASES[ci];
            lm_qdw_params p;
            fill_bytes(x, c->h * c->w);
            fill_bytes(k, c->kh * c->kw);
            dw_fill_params(c, &p, x, k, sg & 1, sg & 2, sg & 4);
            assert_true(p.oh * p.ow < 64 * 70);
            lm_qdw_channel_ref(&p, want);
            size_t wsb = lm_qdw_workspace(&p);
            void *ws = wsb ? malloc(wsb) : NULL;
            for (int v = 0; cfgs[v]; v++) {
                memset(got, 0x5A, sizeof(got));
                cfgs[v]->channel(&p, ws, got);
                bool past_end = got[p.oh * p.ow] != 0x5A5A5A5A; /* wrote beyond the plane */
                if ((past_end || memcmp(got, want, (size_t)(p.oh * p.ow) * sizeof(int32_t)) != 0) &&
                    bad++ < 5)
                    print_error("%s: case %zu variant %d differs from the reference\n",
                                cfgs[v]->name, ci, sg);
            }
            free(ws);
        }
    assert_int_equal(bad, 0);
}

/* ---- operator level: fast paths == plain im2col path == formula ------------ */

typedef struct qconv_case {
    int64_t n, c, h, w, k, stride, dil;
    int64_t m, group; /* output channels and groups; 0, 0: depthwise (m = group = c) */
    int64_t pads[4];
    bool x_signed, w_signed, y_signed, per_channel, bias, qlinear;
} qconv_case;

static const qconv_case Q_CASES[] = {
    /* depthwise: the direct kernel */
    {1, 5, 9, 11, 3, 1, 1, 0, 0, {1, 1, 1, 1}, false, true, false, true, true, true},
    {2, 17, 8, 37, 3, 2, 1, 0, 0, {1, 0, 1, 1}, true, true, true, false, true, true},
    {1, 3, 12, 70, 5, 1, 2, 0, 0, {2, 4, 2, 4}, false, false, false, true, false, true},
    {1, 33, 7, 7, 3, 1, 1, 0, 0, {1, 1, 1, 1}, true, false, false, true, true, true},
    {1, 4, 10, 9, 3, 2, 1, 0, 0, {0, 0, 0, 0}, false, true, false, false, false, false},
    {1, 2, 13, 16, 9, 1, 1, 0, 0, {4, 4, 4, 4}, false, true, true, true, true, true},
    /* stride 1 over the padded width (rows as pointers), groups 1 and 2 */
    {1, 6, 19, 23, 3, 1, 1, 13, 1, {1, 1, 1, 1}, false, true, false, true, true, true},
    {2, 4, 9, 30, 3, 1, 2, 6, 2, {2, 0, 2, 3}, true, true, true, false, true, true},
    /* too much dropped width: im2col, each tile filling its own columns */
    {1, 5, 6, 5, 3, 1, 1, 7, 1, {1, 1, 1, 1}, false, false, false, true, true, true},
    /* strides 2 and 3 over stride-phase planes (with dilation, groups, 1x1) */
    {1, 3, 17, 19, 3, 2, 1, 8, 1, {1, 1, 0, 1}, false, true, true, true, true, true},
    {1, 4, 15, 29, 3, 2, 2, 6, 2, {2, 1, 1, 2}, true, true, false, true, true, true},
    {1, 8, 10, 12, 1, 2, 1, 16, 1, {0, 0, 0, 0}, false, true, false, true, true, true},
    {2, 3, 20, 31, 5, 3, 1, 4, 1, {2, 2, 2, 2}, false, true, true, false, false, true},
    /* depthwise in several bands of rows, over images and channel blocks */
    {1, 20, 400, 20, 3, 1, 1, 0, 0, {1, 1, 0, 2}, false, true, false, true, true, true},
    {1, 18, 500, 17, 3, 2, 1, 0, 0, {1, 1, 1, 1}, true, true, true, false, true, false},
    /* depthwise on wide rows: the per-channel kernel */
    {2, 20, 30, 40, 3, 1, 1, 0, 0, {1, 1, 0, 2}, true, true, false, true, true, true},
    {1, 18, 20, 85, 3, 2, 1, 0, 0, {1, 1, 1, 1}, false, true, true, false, true, true},
    /* 1x1 stride 1 (B is the input itself), requantized by the GEMM's output
     * stage: per-channel zero points (one product left), one zero point,
     * and the int32 output of ConvInteger */
    {1, 16, 12, 70, 1, 1, 1, 33, 1, {0, 0, 0, 0}, false, true, false, true, true, true},
    {2, 8, 9, 9, 1, 1, 1, 20, 1, {0, 0, 0, 0}, true, true, true, false, false, true},
    {1, 6, 5, 13, 1, 1, 1, 9, 1, {0, 0, 0, 0}, false, false, false, false, true, false},
    /* K = 297: tiles of 416 columns (wider than 256 as K is short), the
     * last one partial */
    {1, 33, 12, 70, 3, 1, 1, 9, 1, {1, 1, 1, 1}, false, true, false, true, true, true},
    /* ConvInteger: im2col */
    {1, 4, 8, 20, 3, 1, 1, 5, 1, {1, 1, 1, 1}, false, true, false, true, false, false},
};

typedef struct qconv_data {
    uint8_t x[2 * 20 * 20 * 240];
    uint8_t w[33 * 81];
    int64_t m, group, cg; /* output channels, groups, input channels per group */
    float ws[33];
    int32_t bias[33];
    int32_t x_zp, w_zp[33], y_zp;
    float xs, ys;
} qconv_data;

static int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe)
{
    return (in + pb + pe - (k - 1) * d - 1) / s + 1;
}

static void make_data(const qconv_case *q, qconv_data *d)
{
    d->m = q->m ? q->m : q->c;
    d->group = q->group ? q->group : q->c;
    d->cg = q->c / d->group;
    fill_bytes(d->x, q->n * q->c * q->h * q->w);
    fill_bytes(d->w, d->m * d->cg * q->k * q->k);
    d->x_zp = q->x_signed ? -9 : 117;
    d->y_zp = q->y_signed ? 4 : 100;
    d->xs = 0.021f;
    d->ys = 0.37f;
    for (int64_t c = 0; c < d->m; c++) {
        /* ONNX Runtime's quantizer writes int8 weights with zero point 0 */
        d->w_zp[c] = q->w_signed ? (q->per_channel ? (int32_t)(c % 3) - 1 : 0) : 128;
        d->ws[c] = 0.004f + 0.0007f * (float)c;
        d->bias[c] = (int32_t)(rnd() % 4001) - 2000;
    }
}

static loom_model *build(loom_context *ctx, const qconv_case *q, const qconv_data *d)
{
    int xdt = q->x_signed ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8;
    int wdt = q->w_signed ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8;
    int ydt = q->y_signed ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8;
    int64_t xd[4] = {q->n, q->c, q->h, q->w}, wd[4] = {d->m, d->cg, q->k, q->k}, cd[1] = {d->m};
    int64_t nch = q->per_channel ? d->m : 1;
    ob_model *m = ob_new(13);
    ob_input(m, "x", xdt, 4, xd);
    ob_output(m, "y", q->qlinear ? ydt : LOOM_DTYPE_INT32);
    ob_init_raw(m, "w", wdt, 4, wd, d->w, (size_t)(d->m * d->cg * q->k * q->k));
    uint8_t xz = (uint8_t)d->x_zp, yz = (uint8_t)d->y_zp, wz[33];
    for (int64_t c = 0; c < d->m; c++)
        wz[c] = (uint8_t)d->w_zp[c];
    ob_init_raw(m, "xz", xdt, 0, NULL, &xz, 1);
    ob_init_raw(m, "yz", ydt, 0, NULL, &yz, 1);
    ob_init_raw(m, "wz", wdt, q->per_channel ? 1 : 0, cd, wz, (size_t)nch);
    ob_init_f32(m, "xs", 0, NULL, &d->xs);
    ob_init_f32(m, "ys", 0, NULL, &d->ys);
    ob_init_f32(m, "ws", q->per_channel ? 1 : 0, cd, d->ws);
    ob_init_raw(m, "b", LOOM_DTYPE_INT32, 1, cd, d->bias, sizeof(int32_t) * (size_t)d->m);
    ob_node *n;
    if (q->qlinear)
        n = ob_add_node(m, "QLinearConv",
                        q->bias ? "x,xs,xz,w,ws,wz,ys,yz,b" : "x,xs,xz,w,ws,wz,ys,yz", "y");
    else
        n = ob_add_node(m, "ConvInteger", "x,w,xz,wz", "y");
    int64_t st[2] = {q->stride, q->stride}, dl[2] = {q->dil, q->dil};
    ob_attr_ints(m, n, "pads", 4, q->pads);
    ob_attr_ints(m, n, "strides", 2, st);
    ob_attr_ints(m, n, "dilations", 2, dl);
    ob_attr_int(m, n, "group", d->group);
    return lm_load_ok(ctx, m, "qconv.onnx");
}

/* Runs the case on @threads threads (0: one per CPU); returns a malloc'd
 * copy of the output and its size. */
static void *run_case(const qconv_case *q, const qconv_data *d, bool direct, int threads,
                      size_t *bytes)
{
    if (direct)
        lm_test_setenv("LOOM_QCONV_NO_DIRECT", NULL);
    else
        lm_test_setenv("LOOM_QCONV_NO_DIRECT", "1");
    loom_context *ctx;
    loom_context_options o;
    loom_context_options_init(&o);
    o.num_threads = threads;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    loom_model *m = build(ctx, q, d);
    int64_t xd[4] = {q->n, q->c, q->h, q->w};
    loom_tensor *in, *y;
    size_t xn = (size_t)(q->n * q->c * q->h * q->w);
    int xdt = q->x_signed ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8;
    assert_int_equal(loom_tensor_wrap(xdt, 4, xd, (void *)d->x, xn, &in), LOOM_OK);
    loom_status st = loom_model_run(m, &in, 1, &y, 1);
    if (st)
        print_error("%s\n", loom_last_error());
    assert_int_equal(st, LOOM_OK);
    *bytes = loom_tensor_size(y);
    void *res = malloc(*bytes);
    memcpy(res, loom_tensor_data(y), *bytes);
    loom_tensor_destroy(y);
    loom_tensor_destroy(in);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    lm_test_setenv("LOOM_QCONV_NO_DIRECT", NULL);
    return res;
}

/* quant.c's formula on a naive convolution: the independent reference.
 * Output channel @oc of image @n at (oy, ox); *acc_out gets the sum. */
static int32_t want_at(const qconv_case *q, const qconv_data *d, int64_t n, int64_t oc, int64_t oy,
                       int64_t ox, int32_t *acc_out)
{
    int32_t acc = 0;
    int64_t grp = oc / (d->m / d->group);
    for (int64_t ci = 0; ci < d->cg; ci++)
        for (int64_t ky = 0; ky < q->k; ky++)
            for (int64_t kx = 0; kx < q->k; kx++) {
                int64_t iy = oy * q->stride + ky * q->dil - q->pads[0];
                int64_t ix = ox * q->stride + kx * q->dil - q->pads[1];
                if (iy < 0 || iy >= q->h || ix < 0 || ix >= q->w)
                    continue;
                int64_t c = grp * d->cg + ci;
                uint8_t xb = d->x[((n * q->c + c) * q->h + iy) * q->w + ix];
                uint8_t wb = d->w[((oc * d->cg + ci) * q->k + ky) * q->k + kx];
                int32_t xv = q->x_signed ? (int8_t)xb : xb, wv = q->w_signed ? (int8_t)wb : wb;
                acc += (xv - d->x_zp) * (wv - d->w_zp[q->per_channel ? oc : 0]);
            }
    *acc_out = acc;
    if (q->bias)
        acc += d->bias[oc];
    float mult = d->xs * d->ws[q->per_channel ? oc : 0] / d->ys;
    float v = nearbyintf((float)acc * mult) + (float)d->y_zp;
    float lo = q->y_signed ? -128.0f : 0.0f, hi = q->y_signed ? 127.0f : 255.0f;
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

static void qconv_ops_bit_exact(void **state)
{
    (void)state;
    static qconv_data d;
    int bad = 0;
    rng_state = 2024;
    for (size_t ci = 0; ci < sizeof(Q_CASES) / sizeof(Q_CASES[0]); ci++) {
        const qconv_case *q = &Q_CASES[ci];
        make_data(q, &d);
        size_t n1, n2, n3;
        /* one thread (the widest tiles) first: a later run may get its
         * freed output buffer, holding the right values already */
        uint8_t *single = run_case(q, &d, true, 1, &n3);
        uint8_t *direct = run_case(q, &d, true, 0, &n1);
        uint8_t *gemm = run_case(q, &d, false, 0, &n2);
        assert_int_equal(n1, n2);
        assert_int_equal(n1, n3);
        if (memcmp(direct, gemm, n1) != 0 && bad++ < 5)
            print_error("case %zu: fast and plain im2col paths differ\n", ci);
        if (memcmp(direct, single, n1) != 0 && bad++ < 5)
            print_error("case %zu: one thread and several differ\n", ci);
        int64_t oh = out_dim(q->h, q->k, q->stride, q->dil, q->pads[0], q->pads[2]);
        int64_t ow = out_dim(q->w, q->k, q->stride, q->dil, q->pads[1], q->pads[3]);
        assert_int_equal(n1, (size_t)(q->n * d.m * oh * ow) * (q->qlinear ? 1 : 4));
        for (int64_t n = 0; n < q->n; n++)
            for (int64_t c = 0; c < d.m; c++)
                for (int64_t i = 0; i < oh * ow; i++) {
                    int32_t acc, want = want_at(q, &d, n, c, i / ow, i % ow, &acc), got;
                    int64_t at = (n * d.m + c) * oh * ow + i;
                    if (!q->qlinear) {
                        memcpy(&got, direct + 4 * at, 4);
                        want = acc;
                    } else {
                        got = q->y_signed ? (int8_t)direct[at] : direct[at];
                    }
                    if (got != want && bad++ < 5)
                        print_error("case %zu: y[%lld,%lld,%lld] = %d, want %d\n", ci, (long long)n,
                                    (long long)c, (long long)i, got, want);
                }
        free(direct);
        free(gemm);
        free(single);
    }
    assert_int_equal(bad, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(dw_variants_match_reference),
    cmocka_unit_test(qconv_ops_bit_exact),
};

LM_TEST_MAIN(tests)
