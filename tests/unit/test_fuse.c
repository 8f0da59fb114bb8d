/* test_fuse.c - load-time rewrites keep results and do what they claim. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fuse.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

/* x[1,2,2,2] -> Conv 1x1 (W[2,2,1,1], B[2]) -> Identity -> BatchNorm -> Relu -> y */
static const float W[4] = {1.0f, -0.5f, 0.25f, 2.0f}, B[2] = {0.1f, -0.2f};
static const float SCALE[2] = {1.5f, 0.5f}, BETA[2] = {-0.3f, 0.2f};
static const float MEAN[2] = {0.05f, -0.1f}, VAR[2] = {0.8f, 1.2f};
static const float EPS = 1e-3f;

static loom_model *load_conv_bn_relu(loom_context *ctx, bool with_relu)
{
    int64_t xd[4] = {1, 2, 2, 2}, wd[4] = {2, 2, 1, 1}, cd[1] = {2};
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "W", 4, wd, W);
    ob_init_f32(m, "B", 1, cd, B);
    ob_init_f32(m, "scale", 1, cd, SCALE);
    ob_init_f32(m, "beta", 1, cd, BETA);
    ob_init_f32(m, "mean", 1, cd, MEAN);
    ob_init_f32(m, "var", 1, cd, VAR);
    ob_add_node(m, "Conv", "x,W,B", "c");
    ob_add_node(m, "Identity", "c", "ci");
    ob_node *bn =
        ob_add_node(m, "BatchNormalization", "ci,scale,beta,mean,var", with_relu ? "b" : "y");
    ob_attr_float(m, bn, "epsilon", EPS);
    if (with_relu)
        ob_add_node(m, "Relu", "b", "y");
    return lm_load_ok(ctx, m, "conv_bn.onnx");
}

static void check_output(loom_model *m, bool relu)
{
    float x[8] = {0.5f, -1.0f, 2.0f, 0.0f, 1.5f, 0.25f, -0.75f, 3.0f};
    int64_t dims[4] = {1, 2, 2, 2};
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, dims, x, sizeof(x), &in), LOOM_OK);
    assert_int_equal(loom_model_run(m, &in, 1, &out, 1), LOOM_OK);
    const float *y = loom_tensor_data(out);
    for (int c = 0; c < 2; c++)
        for (int p = 0; p < 4; p++) {
            double conv = W[c * 2] * x[p] + W[c * 2 + 1] * x[4 + p] + B[c];
            double bn = (conv - MEAN[c]) / sqrt(VAR[c] + EPS) * SCALE[c] + BETA[c];
            if (relu && bn < 0)
                bn = 0;
            assert_float_equal(y[c * 4 + p], bn, 1e-5);
        }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
}

static void batchnorm_folds_into_conv(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_conv_bn_relu(ctx, false);
    assert_int_equal(lm_last_fuse_stats.batchnorms_folded, 1);
    assert_int_equal(lm_last_fuse_stats.identities_removed, 1);
    loom_model_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_model_get_stats(m, &st), LOOM_OK);
    assert_int_equal(st.batchnorms_folded, 1);
    assert_int_equal(st.nodes, 1); /* Conv alone remains */
    assert_int_equal(st.plans, 1); /* static input: planned at load */
    assert_int_equal(st.steps, 1);
    assert_true(st.constant_bytes >= sizeof(W) + sizeof(B));
    check_output(m, false);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static void folded_conv_keeps_following_activation(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_conv_bn_relu(ctx, true);
    assert_int_equal(lm_last_fuse_stats.batchnorms_folded, 1);
    check_output(m, true);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

/* QDQ Conv (+Relu) as ONNX Runtime's quantizer writes it:
 * Q(x) -> DQ -> Conv(DQ(W int8 per-channel), DQ(B int32)) -> Relu -> Q -> DQ -> y */
static loom_model *load_qdq_conv(loom_context *ctx)
{
    int64_t xd[4] = {1, 2, 3, 3}, wd[4] = {2, 2, 1, 1}, cd[1] = {2}, sd[1] = {1};
    int8_t w[4] = {100, -50, 25, 127};
    int8_t wz[2] = {0, 0};
    float ws[2] = {0.01f, 0.02f}, xs = 0.05f, ys = 0.1f;
    int32_t b[2] = {200, -300}, bz[2] = {0, 0};
    float bs[2] = {0.05f * 0.01f, 0.05f * 0.02f};
    uint8_t xz = 128, yz = 10;
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_output(m, "y", 1);
    ob_init_raw(m, "xs", 1, 0, sd, &xs, 4);
    ob_init_raw(m, "xz", 2, 0, sd, &xz, 1);
    ob_init_raw(m, "ys", 1, 0, sd, &ys, 4);
    ob_init_raw(m, "yz", 2, 0, sd, &yz, 1);
    ob_init_raw(m, "w", 3, 4, wd, w, sizeof(w));
    ob_init_raw(m, "ws", 1, 1, cd, ws, sizeof(ws));
    ob_init_raw(m, "wz", 3, 1, cd, wz, sizeof(wz));
    ob_init_raw(m, "b", 6, 1, cd, b, sizeof(b));
    ob_init_raw(m, "bs", 1, 1, cd, bs, sizeof(bs));
    ob_init_raw(m, "bz", 6, 1, cd, bz, sizeof(bz));
    ob_add_node(m, "QuantizeLinear", "x,xs,xz", "xq");
    ob_add_node(m, "DequantizeLinear", "xq,xs,xz", "xf");
    ob_attr_int(m, ob_add_node(m, "DequantizeLinear", "w,ws,wz", "wf"), "axis", 0);
    ob_attr_int(m, ob_add_node(m, "DequantizeLinear", "b,bs,bz", "bf"), "axis", 0);
    ob_add_node(m, "Conv", "xf,wf,bf", "c");
    ob_add_node(m, "Relu", "c", "r");
    ob_add_node(m, "QuantizeLinear", "r,ys,yz", "yq");
    ob_add_node(m, "DequantizeLinear", "yq,ys,yz", "y");
    return lm_load_ok(ctx, m, "qdq.onnx");
}

static void qdq_conv_becomes_qlinearconv(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *m = load_qdq_conv(ctx);
    loom_model_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_model_get_stats(m, &st), LOOM_OK);
    assert_int_equal(st.qdq_fused, 1);
    /* Q(x), QLinearConv, Max (the Relu), DQ(y): the float Conv and its DQs are gone. */
    assert_int_equal(st.nodes, 4);
    float x[18];
    for (int i = 0; i < 18; i++)
        x[i] = (float)(i % 7) * 0.9f - 2.5f;
    int64_t dims[4] = {1, 2, 3, 3};
    loom_tensor *in, *out;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, dims, x, sizeof(x), &in), LOOM_OK);
    assert_int_equal(loom_model_run(m, &in, 1, &out, 1), LOOM_OK);
    const float *y = loom_tensor_data(out);
    const float w[4] = {1.0f, -0.5f, 0.5f, 2.54f}, b[2] = {0.1f, -0.3f};
    for (int c = 0; c < 2; c++)
        for (int p = 0; p < 9; p++) {
            /* the reference: quantize x, float conv, relu, quantize y */
            float q0 = nearbyintf(x[p] / 0.05f) * 0.05f, q1 = nearbyintf(x[9 + p] / 0.05f) * 0.05f;
            float v = w[c * 2] * q0 + w[c * 2 + 1] * q1 + b[c];
            float want = (nearbyintf((v > 0 ? v : 0) / 0.1f)) * 0.1f;
            assert_float_equal(y[c * 9 + p], want, 0.1001f); /* one step of rounding */
        }
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(qdq_conv_becomes_qlinearconv),
    cmocka_unit_test(batchnorm_folds_into_conv),
    cmocka_unit_test(folded_conv_keeps_following_activation),
};

LM_TEST_MAIN(tests)
