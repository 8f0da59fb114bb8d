/* test_contrib.c - ONNX Runtime's com.microsoft 8-bit operators against
 * plain reference loops, for the forms the quantized test models (made by
 * ORT's quantizer, `make models`) do not reach: QGemm with A transposed and
 * B as stored, float output, per-column scales; QLinearLeakyRelu; the
 * zero points left out; QLinearGlobalAveragePool's layouts and run lengths;
 * QLinearSoftmax along a strided axis. */
#include <math.h>
#include <string.h>

#include "lib/test_main.h"

#define F32   1
#define U8    2
#define I8    3
#define INT32 6

static loom_context *ctx;

static loom_model *load(ob_model *m, const char *name)
{
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    return lm_load_ok(ctx, m, name);
}

static void unload(loom_model *model)
{
    loom_model_destroy(model);
    loom_context_destroy(ctx);
}

static void qgemm_matches_the_reference(void **state)
{
    (void)state;
    enum { M = 3, K = 5, N = 4 };
    int64_t dat[2] = {K, M}, dbt[2] = {K, N}, dn[1] = {N};
    uint8_t a[K * M]; /* A^T: K x M */
    int8_t b[K * N];
    int32_t c[N] = {7, -3, 0, 100};
    float bs[N] = {0.01f, 0.02f, 0.005f, 0.04f}, as = 0.1f;
    int8_t bz[N] = {1, -2, 0, 3};
    uint8_t az = 128;
    for (int i = 0; i < K * M; i++)
        a[i] = (uint8_t)(i * 37 % 251);
    for (int i = 0; i < K * N; i++)
        b[i] = (int8_t)(i * 53 % 200 - 100);
    ob_model *m = ob_new(13);
    ob_opset(m, "com.microsoft", 1);
    ob_input(m, "A", U8, 2, dat);
    ob_output(m, "Y", F32);
    ob_init_f32(m, "as", 0, NULL, &as);
    ob_init_byte(m, "az", U8, az);
    ob_init_raw(m, "B", I8, 2, dbt, b, sizeof(b));
    ob_init_f32(m, "bs", 1, dn, bs);
    ob_init_raw(m, "bz", I8, 1, dn, bz, sizeof(bz));
    ob_init_raw(m, "C", INT32, 1, dn, c, sizeof(c));
    ob_node *n =
        ob_node_domain(m, ob_add_node(m, "QGemm", "A,as,az,B,bs,bz,C", "Y"), "com.microsoft");
    ob_attr_int(m, n, "transA", 1);
    ob_attr_float(m, n, "alpha", 0.5f);
    loom_model *model = load(m, "qgemm");
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_UINT8, 2, dat, a, sizeof(a), &in), LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_OK);
    const float *y = loom_tensor_data(out);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int32_t acc = c[j];
            for (int k = 0; k < K; k++)
                acc += ((int32_t)a[k * M + i] - az) * ((int32_t)b[k * N + j] - bz[j]);
            assert_float_equal(y[i * N + j], (float)acc * as * bs[j] * 0.5f, 1e-4);
        }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    unload(model);
}

static void qlinear_leaky_relu_matches_the_reference(void **state)
{
    (void)state;
    int64_t d[1] = {256};
    int8_t x[256];
    float xs = 0.05f, ys = 0.03f;
    for (int i = 0; i < 256; i++)
        x[i] = (int8_t)(i - 128);
    ob_model *m = ob_new(13);
    ob_opset(m, "com.microsoft", 1);
    ob_input(m, "x", I8, 1, d);
    ob_output(m, "y", I8);
    ob_init_f32(m, "xs", 0, NULL, &xs);
    ob_init_f32(m, "ys", 0, NULL, &ys);
    ob_init_byte(m, "yz", I8, -5);
    ob_node *n =
        ob_node_domain(m, ob_add_node(m, "QLinearLeakyRelu", "x,xs,,ys,yz", "y"), "com.microsoft");
    ob_attr_float(m, n, "alpha", 0.2f);
    loom_model *model = load(m, "leaky");
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_INT8, 1, d, x, sizeof(x), &in), LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_OK);
    const int8_t *y = loom_tensor_data(out);
    for (int i = 0; i < 256; i++) {
        float v = (float)x[i] * xs;
        v = v >= 0 ? v : 0.2f * v;
        float q = nearbyintf(v / ys) - 5;
        q = q < -128 ? -128 : q > 127 ? 127 : q;
        assert_int_equal(y[i], (int8_t)q);
    }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    unload(model);
}

/* N x C x H x W (or N x H x W x C with channels_last) of @sgn codes. */
static void gap_case(bool sgn, bool last, int64_t H, int64_t W)
{
    enum { N = 2, C = 5 };
    int64_t S = H * W, d[4] = {N, C, H, W};
    if (last)
        d[1] = H, d[2] = W, d[3] = C;
    uint8_t x[N * C * 64];
    for (int64_t i = 0; i < N * C * S; i++)
        x[i] = (uint8_t)(i * 97 % 256);
    float xs = 0.07f, ys = 0.05f;
    int zx = sgn ? -3 : 131, zy = sgn ? 6 : 120;
    ob_model *m = ob_new(13);
    ob_opset(m, "com.microsoft", 1);
    ob_input(m, "x", sgn ? I8 : U8, 4, d);
    ob_output(m, "y", sgn ? I8 : U8);
    ob_init_f32(m, "xs", 0, NULL, &xs);
    ob_init_f32(m, "ys", 0, NULL, &ys);
    ob_init_byte(m, "xz", sgn ? I8 : U8, zx);
    ob_init_byte(m, "yz", sgn ? I8 : U8, zy);
    ob_node *n = ob_node_domain(m, ob_add_node(m, "QLinearGlobalAveragePool", "x,xs,xz,ys,yz", "y"),
                                "com.microsoft");
    ob_attr_int(m, n, "channels_last", last);
    loom_model *model = load(m, "gap");
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(sgn ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8, 4, d, x,
                                      (size_t)(N * C * S), &in),
                     LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_OK);
    const uint8_t *y = loom_tensor_data(out);
    for (int64_t i = 0; i < N * C; i++) {
        int64_t nn = i / C, c = i % C, sum = 0;
        for (int64_t s = 0; s < S; s++) {
            uint8_t b = x[last ? (nn * S + s) * C + c : i * S + s];
            sum += sgn ? (int8_t)b : b;
        }
        float v = (float)((double)(sum - (int64_t)zx * S) / (double)S) * xs;
        float q = nearbyintf(v / ys) + (float)zy, lo = sgn ? -128 : 0, hi = sgn ? 127 : 255;
        q = q < lo ? lo : q > hi ? hi : q;
        assert_int_equal(sgn ? (int8_t)y[i] : y[i], (int)q);
    }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    unload(model);
}

/* Runs of 16 codes (psadbw) and a tail, both 8-bit types, both layouts. */
static void qlinear_global_average_pool_matches_the_reference(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        gap_case(t & 1, t >> 1, 7, 7);
        gap_case(t & 1, t >> 1, 8, 4);
        gap_case(t & 1, t >> 1, 1, 3);
    }
}

/* QLinearSoftmax along axis 1 of [2, 16, 37] (rows 37 apart), against the
 * plain loop: dequantize, subtract the row's maximum, expf, divide by the
 * sum, quantize. Codes repeat across rows, so the op's cached exponentials
 * serve most of them. */
static void softmax_case(bool sgn)
{
    enum { O = 2, J = 16, I = 37 };
    int64_t d[3] = {O, J, I};
    uint8_t x[O * J * I];
    for (int i = 0; i < O * J * I; i++)
        x[i] = (uint8_t)(i * 2654435761u >> 11) % 41 + (sgn ? 230 : 100);
    float xs = 0.11f, ys = 1.0f / 256.0f;
    int zx = sgn ? 5 : 107, zy = sgn ? -128 : 0;
    ob_model *m = ob_new(13);
    ob_opset(m, "com.microsoft", 1);
    ob_input(m, "x", sgn ? I8 : U8, 3, d);
    ob_output(m, "y", sgn ? I8 : U8);
    ob_init_f32(m, "xs", 0, NULL, &xs);
    ob_init_f32(m, "ys", 0, NULL, &ys);
    ob_init_byte(m, "xz", sgn ? I8 : U8, zx);
    ob_init_byte(m, "yz", sgn ? I8 : U8, zy);
    ob_node *n =
        ob_node_domain(m, ob_add_node(m, "QLinearSoftmax", "x,xs,xz,ys,yz", "y"), "com.microsoft");
    ob_attr_int(m, n, "axis", 1);
    ob_attr_int(m, n, "opset", 13);
    loom_model *model = load(m, "softmax");
    loom_tensor *in, *out;
    assert_int_equal(
        loom_tensor_wrap(sgn ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8, 3, d, x, sizeof(x), &in),
        LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &out, 1), LOOM_OK);
    const uint8_t *y = loom_tensor_data(out);
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) {
            float v[J], mx = -INFINITY, sum = 0.0f;
            for (int j = 0; j < J; j++) {
                uint8_t b = x[(o * J + j) * I + i];
                v[j] = (float)((sgn ? (int8_t)b : b) - zx) * xs;
                mx = v[j] > mx ? v[j] : mx;
            }
            for (int j = 0; j < J; j++)
                sum += v[j] = expf(v[j] - mx);
            for (int j = 0; j < J; j++) {
                float q = nearbyintf(v[j] / sum / ys) + (float)zy;
                float lo = sgn ? -128 : 0, hi = sgn ? 127 : 255;
                q = q < lo ? lo : q > hi ? hi : q;
                uint8_t got = y[(o * J + j) * I + i];
                assert_int_equal(sgn ? (int8_t)got : got, (int)q);
            }
        }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    unload(model);
}

static void qlinear_softmax_matches_the_reference(void **state)
{
    (void)state;
    softmax_case(false);
    softmax_case(true);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(qgemm_matches_the_reference),
    cmocka_unit_test(qlinear_leaky_relu_matches_the_reference),
    cmocka_unit_test(qlinear_global_average_pool_matches_the_reference),
    cmocka_unit_test(qlinear_softmax_matches_the_reference),
};

LM_TEST_MAIN(tests)
