/*
 * test_conv_taps.c - the tap-sparse GEMM path of float Conv (cpu/ops/conv.c)
 * against a double-precision loop.
 *
 * Dilated convolutions whose taps mostly read padding run one GEMM per tap
 * over the outputs where that tap reads the input. The cases cover DeepLab's
 * ASPP shapes (dilation 12: a tap valid everywhere plus partial ones;
 * dilation 24: the centre tap alone), asymmetric pads where no tap covers
 * every output, strides 2 and 3, non-square planes, batches, groups, 1-D,
 * a window entirely in the padding, bias or none and fused activations, on
 * 1 and 2 threads. Each case must log that it took the path (the plan's
 * debug message), and ordinary convolutions must not take it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/onnx_builder.h"
#include "lib/conv_ref.h"
#include "lib/test_main.h"
#include "loom/loom.h"

static uint32_t rng_state = 4242;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* One Conv node; rank 3 uses only axis 1 of the per-axis fields. */
typedef struct tap_case {
    int64_t N, C, M, group;
    int rank;
    int64_t H, W;
    int64_t k[2], s[2], d[2];
    int64_t pb[2], pe[2]; /* padding at the start and the end of each axis */
    bool bias;
    const char *act; /* fused activation or NULL */
} tap_case;

static int64_t out_len(const tap_case *c, int a, int64_t in)
{
    return lm_conv_out_len(in, c->k[a], c->s[a], c->d[a], c->pb[a], c->pe[a]);
}

/* Rounding allowed per unit of the sum of |terms|: Winograd (which the
 * dense cases take) rounds its transforms too. */
static double mag_tol = 1e-6;

/* Debug messages that name the tap-sparse path. */
static void count_taps_log(void *user, loom_log_level level, const char *msg)
{
    (void)level;
    if (strstr(msg, "tap-sparse"))
        (*(int *)user)++;
}

/* Y of case @c against the double-precision loop; returns the mismatches. */
static int check(const tap_case *c, const float *x, const float *w, const float *b, const float *y,
                 int threads)
{
    const int64_t H = c->rank == 4 ? c->H : 1, OH = c->rank == 4 ? out_len(c, 0, H) : 1;
    const int64_t OW = out_len(c, 1, c->W), Cg = c->C / c->group, Mg = c->M / c->group;
    const int64_t KH = c->rank == 4 ? c->k[0] : 1, KW = c->k[1];
    int bad = 0;
    for (int64_t i = 0; i < c->N * c->M * OH * OW; i++) {
        int64_t ow = i % OW, oh = i / OW % OH, m = i / (OW * OH) % c->M, n = i / (OW * OH * c->M);
        int64_t gi = m / Mg;
        double acc = b ? b[m] : 0.0, mag = fabs(acc); /* mag: the sum of |terms|, for rounding */
        for (int64_t ci = 0; ci < Cg; ci++)
            for (int64_t kh = 0; kh < KH; kh++)
                for (int64_t kw = 0; kw < KW; kw++) {
                    int64_t ih = c->rank == 4 ? oh * c->s[0] - c->pb[0] + kh * c->d[0] : 0;
                    int64_t iw = ow * c->s[1] - c->pb[1] + kw * c->d[1];
                    if (ih < 0 || ih >= H || iw < 0 || iw >= c->W)
                        continue;
                    double t = (double)x[((n * c->C + gi * Cg + ci) * H + ih) * c->W + iw] *
                               w[((m * Cg + ci) * KH + kh) * KW + kw];
                    acc += t;
                    mag += fabs(t);
                }
        double want = lm_act_ref(c->act, acc);
        if (!(fabs((double)y[i] - want) <= 1e-5 * (1.0 + fabs(want)) + mag_tol * mag) && bad++ < 3)
            print_error("N%lld C%lld M%lld g%lld %lldx%lld k%lldx%lld s%lldx%lld d%lldx%lld "
                        "threads %d: y[%lld] = %g, want %g\n",
                        (long long)c->N, (long long)c->C, (long long)c->M, (long long)c->group,
                        (long long)H, (long long)c->W, (long long)KH, (long long)KW,
                        (long long)c->s[0], (long long)c->s[1], (long long)c->d[0],
                        (long long)c->d[1], threads, (long long)i, y[i], want);
    }
    return bad;
}

/* Runs case @c; returns the mismatches, and in *@logged the plan messages
 * naming the tap-sparse path and in *@prepared the packed weights' bytes. */
static int run_case(const tap_case *c, int threads, int *logged, size_t *prepared)
{
    const int r = c->rank, sp = r - 2, a0 = 2 - sp; /* the first axis the node has */
    const int64_t H = r == 4 ? c->H : 1, Cg = c->C / c->group;
    const int64_t KK = (r == 4 ? c->k[0] : 1) * c->k[1];
    int64_t xd[4] = {c->N, c->C, c->H, c->W}, wd[4] = {c->M, Cg, c->k[0], c->k[1]};
    if (r == 3) {
        xd[2] = c->W;
        wd[2] = c->k[1];
    }
    int64_t xn = c->N * c->C * H * c->W, wn = c->M * Cg * KK, bd[1] = {c->M};
    float *x = malloc(sizeof(float) * (size_t)xn), *w = malloc(sizeof(float) * (size_t)wn);
    float *b = malloc(sizeof(float) * (size_t)c->M);
    for (int64_t i = 0; i < xn; i++)
        x[i] = 2.0f * frand();
    for (int64_t i = 0; i < wn; i++)
        w[i] = 0.5f * frand();
    for (int64_t i = 0; i < c->M; i++)
        b[i] = frand();
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, r, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w", r, wd, w);
    if (c->bias)
        ob_init_f32(m, "b", 1, bd, b);
    ob_node *n = ob_add_node(m, "Conv", c->bias ? "x,w,b" : "x,w", "y");
    int64_t pads[4] = {c->pb[a0], c->pb[1], c->pe[a0], c->pe[1]};
    if (sp == 1)
        pads[1] = c->pe[1];
    ob_attr_ints(m, n, "pads", 2 * sp, pads);
    ob_attr_ints(m, n, "strides", sp, c->s + a0);
    ob_attr_ints(m, n, "dilations", sp, c->d + a0);
    ob_attr_ints(m, n, "kernel_shape", sp, c->k + a0);
    ob_attr_int(m, n, "group", c->group);
    if (c->act)
        ob_attr_str(m, n, "_loom_act", c->act);

    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    o.num_threads = threads;
    o.log = count_taps_log;
    o.log_user = logged;
    o.log_level = LOOM_LOG_DEBUG;
    *logged = 0;
    loom_context *ctx = NULL;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    loom_model *model = lm_load_ok(ctx, m, "taps.onnx");
    loom_tensor *in, *y;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, r, xd, x, sizeof(float) * (size_t)xn, &in),
                     LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &y, 1), LOOM_OK);
    int64_t OH = r == 4 ? out_len(c, 0, H) : 1, OW = out_len(c, 1, c->W);
    assert_int_equal(loom_tensor_count(y), c->N * c->M * OH * OW);
    int bad = check(c, x, w, c->bias ? b : NULL, loom_tensor_data(y), threads);
    *prepared = lm_stats_of(model).prepared_bytes;
    loom_tensor_destroy(y);
    loom_tensor_destroy(in);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    free(x);
    free(w);
    free(b);
    return bad;
}

/* N, C, M, group, rank, H, W, k, s, d, pb, pe, bias, act */
static const tap_case taps_cases[] = {
    /* ASPP, dilation 12: the centre tap everywhere, the others on bands */
    {2, 32, 24, 1, 4, 16, 16, {3, 3}, {1, 1}, {12, 12}, {12, 12}, {12, 12}, true, "Relu"},
    /* ASPP, dilation 24: the centre tap alone, straight from X */
    {1, 40, 20, 1, 4, 16, 16, {3, 3}, {1, 1}, {24, 24}, {24, 24}, {24, 24}, true, "HardSwish"},
    /* a wider plane than the input: the centre tap's rows in a tile */
    {1, 16, 16, 1, 4, 12, 12, {3, 3}, {1, 1}, {10, 10}, {12, 12}, {12, 12}, false, NULL},
    /* asymmetric pads: no tap covers every output, Y starts as the bias */
    {2, 16, 9, 1, 4, 10, 12, {3, 3}, {1, 1}, {6, 7}, {8, 2}, {4, 9}, true, "Relu"},
    /* stride 2 (the wide gather), non-square, asymmetric */
    {1, 17, 33, 1, 4, 15, 13, {3, 3}, {2, 2}, {5, 4}, {3, 5}, {1, 6}, true, NULL},
    /* stride 3 */
    {2, 20, 12, 1, 4, 11, 14, {3, 3}, {3, 3}, {9, 9}, {9, 7}, {9, 9}, false, "Relu"},
    /* groups, 5x5 dilation 2 on 4 x 4 planes */
    {1, 32, 8, 2, 4, 8, 8, {3, 3}, {1, 1}, {8, 8}, {8, 8}, {8, 8}, true, NULL},
    {2, 48, 24, 3, 4, 4, 4, {5, 5}, {1, 1}, {2, 2}, {4, 4}, {4, 4}, true, "HardSwish"},
    /* 1-D */
    {2, 16, 10, 1, 3, 1, 12, {1, 3}, {1, 1}, {1, 10}, {0, 10}, {0, 10}, true, "Relu"},
    {1, 24, 7, 1, 3, 1, 16, {1, 5}, {1, 2}, {1, 6}, {0, 12}, {0, 11}, false, NULL},
    /* every tap in the padding: Y = act(bias) */
    {1, 16, 5, 1, 4, 7, 5, {3, 3}, {1, 1}, {36, 36}, {36, 30}, {36, 40}, true, "Relu"},
};

static void taps_match_reference(void **state)
{
    (void)state;
    int bad = 0;
    for (int t = 1; t <= 2; t++)
        for (size_t i = 0; i < sizeof taps_cases / sizeof taps_cases[0]; i++) {
            int logged;
            size_t prepared;
            bad += run_case(&taps_cases[i], t, &logged, &prepared);
            if (logged == 0 && bad++ < 3)
                print_error("case %zu: the tap-sparse path was not taken\n", i);
        }
    assert_int_equal(bad, 0);
}

/* Taps that read only padding are not packed: ASPP's dilation 24 keeps 1 of
 * its 9 taps; LOOM_CONV_NO_TAPS packs (and computes) all of W again. */
static void taps_pack_only_valid_taps(void **state)
{
    (void)state;
    const tap_case *c = &taps_cases[1];
    int logged;
    size_t sparse, full;
    assert_int_equal(run_case(c, 1, &logged, &sparse), 0);
    assert_int_equal(logged, 1);
    lm_test_setenv("LOOM_CONV_NO_TAPS", "1");
    assert_int_equal(run_case(c, 1, &logged, &full), 0);
    lm_test_setenv("LOOM_CONV_NO_TAPS", NULL);
    assert_int_equal(logged, 0);
    assert_true(sparse > 0 && 4 * sparse < full);
}

/* Where most taps read the input, the other paths stay: 3x3 pad 1 (Winograd,
 * pixel-major on 4 x 4), 5x5 dilation 2 on a 16 x 16 plane, few channels. */
static void taps_not_for_dense_convs(void **state)
{
    (void)state;
    static const tap_case cases[] = {
        {1, 32, 32, 1, 4, 16, 16, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true, "Relu"},
        {1, 32, 32, 1, 4, 4, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true, NULL},
        {1, 32, 16, 1, 4, 16, 16, {5, 5}, {1, 1}, {2, 2}, {4, 4}, {4, 4}, false, NULL},
        {1, 8, 16, 1, 4, 16, 16, {3, 3}, {1, 1}, {12, 12}, {12, 12}, {12, 12}, false, NULL},
    };
    int bad = 0;
    mag_tol = 1e-5;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int logged;
        size_t prepared;
        bad += run_case(&cases[i], 1, &logged, &prepared);
        if (logged != 0 && bad++ < 3)
            print_error("case %zu took the tap-sparse path\n", i);
    }
    mag_tol = 1e-6;
    assert_int_equal(bad, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(taps_match_reference),
    cmocka_unit_test(taps_pack_only_valid_taps),
    cmocka_unit_test(taps_not_for_dense_convs),
};

LM_TEST_MAIN(tests)
