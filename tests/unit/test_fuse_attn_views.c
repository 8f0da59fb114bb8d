/*
 * test_fuse_attn_views.c - the Transposes around attention's MatMuls become
 * views the product reads and writes in place (core/fuse_matmul_perm.c,
 * cpu/ops/matmul_view.c), on the graph PyTorch writes for multi-head
 * self-attention, with results unchanged.
 *
 * x [2, 6, 8] (batch, seq, hidden), 2 heads of 4: Q, K, V = x W + b, each
 * Reshape [2, 6, 2, 4]; Q and V Transpose(0, 2, 1, 3), K Transpose(0, 2, 3,
 * 1); softmax(Q K^T / 2 + mask) V; Transpose(0, 2, 1, 3) and Reshape back
 * to [2, 6, 8]. Q's, V's and the result's Transposes keep the last axis and
 * are absorbed; K^T's is not. The reference is the same graph with the
 * values on the Transposes' MatMul sides (q, v, the product) also graph
 * outputs, which the pass must leave.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fuse.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define F32 1 /* TensorProto FLOAT */
#define I64 7 /* TensorProto INT64 */
#define XN  96

static const int64_t XD[3] = {2, 6, 8};

static void linear(ob_model *m, const char *name, int seed)
{
    float w[64], b[8];
    for (int i = 0; i < 64; i++)
        w[i] = (float)((i * 7 + seed * 3) % 11 - 5) / 8.0f;
    for (int i = 0; i < 8; i++)
        b[i] = (float)((i + seed) % 3) * 0.25f - 0.25f;
    int64_t wd[2] = {8, 8}, bd[1] = {8};
    char wn[16], bn[16], mm[16], ins[40];
    snprintf(wn, sizeof wn, "W%s", name);
    snprintf(bn, sizeof bn, "b%s", name);
    snprintf(mm, sizeof mm, "mm%s", name);
    ob_init_f32(m, wn, 2, wd, w);
    ob_init_f32(m, bn, 1, bd, b);
    snprintf(ins, sizeof ins, "x,%s", wn);
    ob_add_node(m, "MatMul", ins, mm);
    snprintf(ins, sizeof ins, "%s,%s", mm, bn);
    ob_add_node(m, "Add", ins, name);
}

/* @name's [2, 6, 8] -> [2, 6, 2, 4] -> Transpose(@perm) into @out. */
static void heads(ob_model *m, const char *name, const int64_t perm[4], const char *out)
{
    char ins[40], r[16];
    snprintf(r, sizeof r, "r%s", name);
    snprintf(ins, sizeof ins, "%s,split", name);
    ob_add_node(m, "Reshape", ins, r);
    ob_attr_ints(m, ob_add_node(m, "Transpose", r, out), "perm", 4, perm);
}

static ob_model *attention(bool peek)
{
    static const int64_t bshd[4] = {0, 2, 1, 3}, kt[4] = {0, 2, 3, 1};
    const int64_t split[4] = {2, 6, 2, 4}, join[3] = {2, 6, 8}, sd[1] = {4}, jd[1] = {3};
    const int64_t md[4] = {2, 1, 1, 6};
    float mask[12];
    for (int i = 0; i < 12; i++)
        mask[i] = i % 6 == 5 ? -10000.0f : 0.0f;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek) {
        ob_output(m, "q", F32);
        ob_output(m, "v", F32);
        ob_output(m, "o", F32);
    }
    ob_init_raw(m, "split", I64, 1, sd, split, sizeof split);
    ob_init_raw(m, "join", I64, 1, jd, join, sizeof join);
    ob_init_f32(m, "mask", 4, md, mask);
    float two = 2.0f;
    ob_init_f32(m, "scale", 0, NULL, &two);
    linear(m, "Q", 1);
    linear(m, "K", 2);
    linear(m, "V", 3);
    heads(m, "Q", bshd, "q");
    heads(m, "K", kt, "kt");
    heads(m, "V", bshd, "v");
    ob_add_node(m, "MatMul", "q,kt", "s");
    ob_add_node(m, "Div", "s,scale", "sd");
    ob_add_node(m, "Add", "sd,mask", "sm");
    ob_attr_int(m, ob_add_node(m, "Softmax", "sm", "p"), "axis", -1);
    ob_add_node(m, "MatMul", "p,v", "o");
    ob_attr_ints(m, ob_add_node(m, "Transpose", "o", "ctx"), "perm", 4, bshd);
    ob_add_node(m, "Reshape", "ctx,join", "y");
    return m;
}

static float *run(loom_model *m, size_t nout, const float *x)
{
    loom_tensor *in, *out[4] = {NULL, NULL, NULL, NULL};
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, XD, (void *)x, XN * sizeof(float), &in),
                     LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, out, nout);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    float *y = malloc(XN * sizeof(float));
    assert_non_null(y);
    memcpy(y, loom_tensor_data(out[0]), XN * sizeof(float));
    loom_tensor_destroy(in);
    for (size_t i = 0; i < nout; i++)
        loom_tensor_destroy(out[i]);
    return y;
}

static void attention_transposes_become_views(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *ref = lm_load_ok(ctx, attention(true), "reference.onnx");
    assert_int_equal(lm_last_fuse_stats.matmul_transposes_fused, 0);
    loom_model *fused = lm_load_ok(ctx, attention(false), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.matmul_transposes_fused, 3);
    float x[XN];
    for (size_t i = 0; i < XN; i++)
        x[i] = (float)((int)((i * 37) % 29) - 14) / 7.0f;
    float *a = run(fused, 1, x), *b = run(ref, 4, x);
    for (size_t i = 0; i < XN; i++)
        if (fabsf(a[i] - b[i]) > 1e-5f * (1.0f + fabsf(b[i]))) {
            print_error("element %zu: %.9g vs %.9g\n", i, (double)a[i], (double)b[i]);
            fail();
        }
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(attention_transposes_become_views),
};

LM_TEST_MAIN(tests)
