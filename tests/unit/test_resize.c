/* test_resize.c - bilinear Resize (pytorch_half_pixel and align_corners) on
 * rows of 5 to 150 inputs against a double-precision reference. Rows of up
 * to 16 and up to 32 floats take the last axis's taps by permutes, wider ones
 * by gathers, upsampling and downsampling; the conformance tests have only
 * rows of a few elements. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/test_main.h"

#define F32   1
#define INT64 7

/* The source coordinate of output @o, as the ONNX reference computes it. */
static double source(int64_t o, int64_t in, int64_t out, bool corners)
{
    if (corners)
        return out == 1 ? 0.0 : (double)o * (double)(in - 1) / (double)(out - 1);
    double scale = (double)out / (double)in;
    return out == 1 ? -0.5 : ((double)o + 0.5) / scale - 0.5;
}

/* Linear weights of the two inputs around @x, clamped to the edges. */
static void taps(double x, int64_t in, int64_t *i0, int64_t *i1, double *w1)
{
    double fl = floor(x);
    *i0 = (int64_t)fl;
    *i1 = *i0 + 1;
    *w1 = x - fl;
    if (*i0 < 0)
        *i0 = 0;
    if (*i0 > in - 1)
        *i0 = in - 1;
    if (*i1 < 0)
        *i1 = 0;
    if (*i1 > in - 1)
        *i1 = in - 1;
}

static void check_resize(int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow, bool corners)
{
    int64_t xd[4] = {1, c, h, w}, sd[1] = {4}, sizes[4] = {1, c, oh, ow};
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 4, xd);
    ob_init_raw(m, "sizes", INT64, 1, sd, sizes, sizeof(sizes));
    ob_output(m, "y", F32);
    ob_node *n = ob_add_node(m, "Resize", "x,,,sizes", "y");
    ob_attr_str(m, n, "mode", "linear");
    ob_attr_str(m, n, "coordinate_transformation_mode",
                corners ? "align_corners" : "pytorch_half_pixel");
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *model = lm_load_ok(ctx, m, "resize");
    size_t nx = (size_t)(c * h * w);
    float *x = malloc(nx * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)((i * 7919u) % 1000) / 250.0f - 2.0f;
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, xd, x, nx * sizeof(float), &in),
                     LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_OK);
    const float *y = loom_tensor_data(out);
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t r = 0; r < oh; r++) {
            int64_t r0, r1, c0, c1;
            double wr, wc;
            taps(source(r, h, oh, corners), h, &r0, &r1, &wr);
            for (int64_t col = 0; col < ow; col++) {
                taps(source(col, w, ow, corners), w, &c0, &c1, &wc);
                const float *p = x + ch * h * w;
                double top = (1 - wc) * p[r0 * w + c0] + wc * p[r0 * w + c1];
                double bot = (1 - wc) * p[r1 * w + c0] + wc * p[r1 * w + c1];
                double want = (1 - wr) * top + wr * bot;
                float got = y[(ch * oh + r) * ow + col];
                if (!(fabs(got - want) <= 1e-5 * (1 + fabs(want)))) {
                    print_error("%lldx%lld -> %lldx%lld%s: y[%lld][%lld][%lld] = %g, want %g\n",
                                (long long)h, (long long)w, (long long)oh, (long long)ow,
                                corners ? " align_corners" : "", (long long)ch, (long long)r,
                                (long long)col, got, want);
                    fail();
                }
            }
        }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    free(x);
}

static void rows_by_permutes_and_gathers(void **state)
{
    (void)state;
    /* {height, width, out height, out width}: widths 5, 16, 17, 32 (permutes),
     * 33, 70, 150 (gathers); outputs not a multiple of 16 */
    static const int64_t g[][4] = {{16, 16, 256, 256}, {4, 5, 9, 37},   {3, 17, 7, 50},
                                   {5, 32, 11, 64},    {6, 33, 12, 99}, {5, 70, 11, 150},
                                   {4, 150, 3, 70},    {2, 24, 2, 7}};
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
        for (int corners = 0; corners < 2; corners++)
            check_resize(3, g[i][0], g[i][1], g[i][2], g[i][3], corners);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rows_by_permutes_and_gathers),
};

LM_TEST_MAIN(tests)
