/* test_qround.c - QuantizeLinear and QLinearAdd (the kernel of the fused
 * loom.QDQAdd) round v / scale to the integers float division and
 * round-half-even give, on inputs that sit on, and a few ulps either side of,
 * every half-integer in range; with NaN, infinities, zeros and subnormals;
 * scales whose reciprocal is inexact, a power of two, and subnormal; and
 * QLinearAdd operands whose sums are all exact ties. The expected bytes are
 * computed here, with float division. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/test_main.h"

#define F32   1
#define U8    2
#define I8    3
#define NSPEC 12

static uint8_t expect_q(float v, float lo, float hi, int32_t zp)
{
    v = v > lo ? v : lo; /* NaN becomes lo, as in clamp_round */
    v = v < hi ? v : hi;
    return (uint8_t)((int32_t)rintf(v) + zp);
}

/* x: for each k in [-300, 300], (k + 0.5) * s and 3 floats either side. */
static int64_t fill(float *x, float s)
{
    static const float spec[NSPEC] = {NAN,    -NAN,    INFINITY, -INFINITY, 0.0f,    -0.0f,
                                      1e-40f, -1e-40f, FLT_MAX,  -FLT_MAX,  FLT_MIN, 3.0f};
    int64_t n = 0;
    for (int k = -300; k <= 300; k++) {
        float h = ((float)k + 0.5f) * s;
        x[n++] = h;
        float up = h, down = h;
        for (int u = 0; u < 3; u++) {
            x[n++] = up = nextafterf(up, INFINITY);
            x[n++] = down = nextafterf(down, -INFINITY);
        }
    }
    memcpy(x + n, spec, sizeof(spec));
    return n + NSPEC;
}

static loom_model *load(loom_context *ctx, ob_model *m)
{
    return lm_load_ok(ctx, m, "qround.onnx");
}

static void run1(loom_model *m, loom_tensor **in, int nin, uint8_t *y, int64_t n)
{
    loom_tensor *out;
    assert_int_equal(loom_model_run(m, in, nin, &out, 1), LOOM_OK);
    assert_int_equal(loom_tensor_count(out), n);
    memcpy(y, loom_tensor_data(out), (size_t)n);
    loom_tensor_destroy(out);
}

static void quantize_matches_division(void **state)
{
    (void)state;
    static const float scales[] = {0.1f, 0.0236f, 1.0f / 128, 7.0f, 3.7e-3f, 1e-39f};
    float *x = malloc(4300 * 7 * sizeof(float));
    uint8_t *y = malloc(4300 * 7);
    assert_non_null(x);
    assert_non_null(y);
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    for (size_t si = 0; si < sizeof(scales) / sizeof(scales[0]); si++)
        for (int sgn = 0; sgn < 2; sgn++) {
            float s = scales[si];
            int64_t n = fill(x, s > 1e-30f ? s : 1.0f), xd[1] = {n}, one[1] = {1};
            uint8_t zp = sgn ? 0 : 128;
            ob_model *om = ob_new(13);
            ob_input(om, "x", F32, 1, xd);
            ob_init_f32(om, "s", 0, one, &s);
            ob_init_raw(om, "z", sgn ? I8 : U8, 0, one, &zp, 1);
            ob_output(om, "y", sgn ? I8 : U8);
            ob_add_node(om, "QuantizeLinear", "x,s,z", "y");
            loom_model *m = load(ctx, om);
            loom_tensor *in;
            assert_int_equal(
                loom_tensor_wrap(LOOM_DTYPE_FLOAT, 1, xd, x, (size_t)n * sizeof(float), &in),
                LOOM_OK);
            run1(m, &in, 1, y, n);
            const float lo = -128.0f, hi = 127.0f; /* both zero points leave this range */
            for (int64_t i = 0; i < n; i++) {
                uint8_t want = expect_q(x[i] / s, lo, hi, sgn ? 0 : 128);
                if (y[i] != want) {
                    print_error("scale %a: x = %a: got %u, want %u\n", (double)s, (double)x[i],
                                y[i], want);
                    fail();
                }
            }
            loom_tensor_destroy(in);
            loom_model_destroy(m);
        }
    loom_context_destroy(ctx);
    free(x);
    free(y);
}

/* QLinearAdd with operand scales half the output's: every sum of two
 * dequantized values is a half-integer multiple of y_scale, a tie for
 * the rounding, for all 256 x 256 byte pairs. */
static void qlinear_add_matches_division(void **state)
{
    (void)state;
    static const float yscales[] = {0.05f, 0.0173f, 0.25f, 1e-39f};
    int64_t d[1] = {65536}, one[1] = {1};
    uint8_t *a = malloc(65536), *b = malloc(65536), *y = malloc(65536);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(y);
    for (int i = 0; i < 65536; i++) {
        a[i] = (uint8_t)(i & 255);
        b[i] = (uint8_t)(i >> 8);
    }
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    for (size_t si = 0; si < sizeof(yscales) / sizeof(yscales[0]); si++) {
        float ys = yscales[si], as = ys * 0.5f, bs = ys * 1.5f;
        uint8_t az = 120, bz = 7, yz = 128;
        ob_model *om = ob_new(13);
        ob_opset(om, "com.microsoft", 1);
        ob_input(om, "a", U8, 1, d);
        ob_input(om, "b", U8, 1, d);
        ob_init_f32(om, "as", 0, one, &as);
        ob_init_raw(om, "az", U8, 0, one, &az, 1);
        ob_init_f32(om, "bs", 0, one, &bs);
        ob_init_raw(om, "bz", U8, 0, one, &bz, 1);
        ob_init_f32(om, "ys", 0, one, &ys);
        ob_init_raw(om, "yz", U8, 0, one, &yz, 1);
        ob_output(om, "y", U8);
        ob_node_domain(om, ob_add_node(om, "QLinearAdd", "a,as,az,b,bs,bz,ys,yz", "y"),
                       "com.microsoft");
        loom_model *m = load(ctx, om);
        loom_tensor *in[2];
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_UINT8, 1, d, a, 65536, &in[0]), LOOM_OK);
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_UINT8, 1, d, b, 65536, &in[1]), LOOM_OK);
        run1(m, in, 2, y, 65536);
        for (int i = 0; i < 65536; i++) {
            float fa = (float)(a[i] - az) * as, fb = (float)(b[i] - bz) * bs;
            uint8_t want = expect_q((fa + fb) / ys, -128.0f, 127.0f, 128);
            if (y[i] != want) {
                print_error("y_scale %a: a %u b %u: got %u, want %u\n", (double)ys, a[i], b[i],
                            y[i], want);
                fail();
            }
        }
        loom_tensor_destroy(in[0]);
        loom_tensor_destroy(in[1]);
        loom_model_destroy(m);
    }
    loom_context_destroy(ctx);
    free(a);
    free(b);
    free(y);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(quantize_matches_division),
    cmocka_unit_test(qlinear_add_matches_division),
};

LM_TEST_MAIN(tests)
