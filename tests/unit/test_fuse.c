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
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    loom_model *model = NULL;
    loom_status s = loom_model_load_memory(ctx, buf, len, "conv_bn.onnx", &model);
    free(buf);
    ob_free(m);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    return model;
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(batchnorm_folds_into_conv),
    cmocka_unit_test(folded_conv_keeps_following_activation),
};

LM_TEST_MAIN(tests)
