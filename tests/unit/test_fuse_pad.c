/* test_fuse_pad.c - explicit zero Pads (core/fuse_pad.c): bypassed when
 * they pad nothing (DenseNet's export), folded into the pads of the Conv or
 * counting AveragePool reading them (TensorFlow-style "same" padding), and
 * kept where folding would change the result (MaxPool, an AveragePool that
 * excludes padding, a non-zero fill). Each fused model is checked against
 * the same graph with the Pad's output also a graph output, which keeps it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fuse.h"
#include "lib/test_main.h"

#define F32   1
#define INT64 7

static const int64_t XD[4] = {1, 3, 7, 9};
#define XN 189

typedef struct pad_case {
    int opset;
    int64_t pads[8];
    float fill;
    const char *reader; /* Conv, AveragePool, MaxPool */
    int count_include_pad;
} pad_case;

static ob_model *build(const pad_case *c, bool peek)
{
    ob_model *m = ob_new(c->opset);
    ob_input(m, "x", F32, 4, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "p", F32);
    ob_node *pad;
    if (c->opset < 11) {
        pad = ob_add_node(m, "Pad", "x", "p");
        ob_attr_ints(m, pad, "pads", 8, c->pads);
        if (c->fill != 0)
            ob_attr_float(m, pad, "value", c->fill);
    } else {
        int64_t pd[1] = {8};
        ob_init_raw(m, "pads", INT64, 1, pd, c->pads, sizeof(c->pads));
        ob_init_f32(m, "fill", 0, NULL, &c->fill);
        pad = ob_add_node(m, "Pad", "x,pads,fill", "p");
    }
    ob_attr_str(m, pad, "mode", "constant");
    int64_t k[2] = {3, 2}, pads[4] = {1, 0, 0, 1};
    ob_node *r;
    if (strcmp(c->reader, "Conv") == 0) {
        float w[4 * 3 * 3 * 2], b[4] = {0.5f, -0.25f, 0, 1};
        for (int i = 0; i < 4 * 3 * 6; i++)
            w[i] = (float)((i * 13) % 17 - 8) / 16.0f;
        int64_t wd[4] = {4, 3, 3, 2}, bd[1] = {4};
        ob_init_f32(m, "W", 4, wd, w);
        ob_init_f32(m, "B", 1, bd, b);
        r = ob_add_node(m, "Conv", "p,W,B", "y");
    } else {
        r = ob_add_node(m, c->reader, "p", "y");
        ob_attr_ints(m, r, "kernel_shape", 2, k);
        if (strcmp(c->reader, "AveragePool") == 0)
            ob_attr_int(m, r, "count_include_pad", c->count_include_pad);
    }
    ob_attr_ints(m, r, "pads", 4, pads); /* the reader's own pads add up */
    return m;
}

static float *run(loom_model *m, size_t nout, const float *x, size_t *n)
{
    loom_tensor *in, *out[2] = {NULL, NULL};
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, XD, (void *)x, XN * sizeof(float), &in),
                     LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, out, nout);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    *n = (size_t)loom_tensor_count(out[0]);
    float *y = malloc(*n * sizeof(float));
    assert_non_null(y);
    memcpy(y, loom_tensor_data(out[0]), *n * sizeof(float));
    loom_tensor_destroy(in);
    loom_tensor_destroy(out[0]);
    loom_tensor_destroy(out[1]);
    return y;
}

/* Loads @c with and without the Pad's output read outside, checks whether
 * the Pad went (@folds) and that both answer alike. */
static void check(const pad_case *c, bool folds)
{
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *ref = lm_load_ok(ctx, build(c, true), "reference.onnx");
    assert_int_equal(lm_stats_of(ref).nodes, 2);
    loom_model *fused = lm_load_ok(ctx, build(c, false), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.pads_folded, folds ? 1 : 0);
    assert_int_equal(lm_stats_of(fused).nodes, folds ? 1 : 2);
    float x[XN];
    for (int i = 0; i < XN; i++)
        x[i] = (float)((i * 37) % 29 - 14) / 7.0f;
    size_t na, nb;
    float *a = run(fused, 1, x, &na), *b = run(ref, 2, x, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        if (fabsf(a[i] - b[i]) > 1e-5f * (1 + fabsf(b[i]))) {
            print_error("%s, opset %d: element %zu: %g vs %g\n", c->reader, c->opset, i, a[i],
                        b[i]);
            fail();
        }
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

static void zero_pads_are_bypassed(void **state)
{
    (void)state;
    /* DenseNet's transitions: Pad of nothing, then a 2x2 average pool */
    pad_case c = {13, {0}, 0, "AveragePool", 0};
    check(&c, true);
    c.reader = "MaxPool";
    check(&c, true);
}

static void spatial_zero_pads_fold_into_conv(void **state)
{
    (void)state;
    /* TF "same" padding: more at the end than the start */
    pad_case c = {13, {0, 0, 0, 1, 0, 0, 2, 1}, 0, "Conv", 0};
    check(&c, true);
    c.opset = 10; /* pads as an attribute */
    check(&c, true);
}

static void counting_average_pool_takes_pads(void **state)
{
    (void)state;
    pad_case c = {13, {0, 0, 1, 0, 0, 0, 1, 0}, 0, "AveragePool", 1};
    check(&c, true);
    /* past the window (ONNX wants pads smaller than the kernel): stays */
    pad_case wide = {13, {0, 0, 1, 0, 0, 0, 1, 1}, 0, "AveragePool", 1};
    check(&wide, false);
}

static void pads_that_change_results_stay(void **state)
{
    (void)state;
    pad_case excl = {13, {0, 0, 1, 0, 0, 0, 1, 1}, 0, "AveragePool", 0};
    check(&excl, false); /* divides by the taps inside the padded image */
    pad_case maxp = {13, {0, 0, 1, 0, 0, 0, 1, 1}, 0, "MaxPool", 0};
    check(&maxp, false); /* pads with -inf, not 0 */
    pad_case fill = {13, {0, 0, 0, 1, 0, 0, 2, 1}, 0.5f, "Conv", 0};
    check(&fill, false);
    pad_case chan = {13, {0, 1, 0, 0, 0, 0, 0, 0}, 0, "Conv", 0};
    chan.reader = "AveragePool"; /* channel padding: not spatial */
    chan.count_include_pad = 1;
    check(&chan, false);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(zero_pads_are_bypassed),
    cmocka_unit_test(spatial_zero_pads_fold_into_conv),
    cmocka_unit_test(counting_average_pool_takes_pads),
    cmocka_unit_test(pads_that_change_results_stay),
};

LM_TEST_MAIN(tests)
