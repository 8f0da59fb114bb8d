/*
 * test_fuse_skipnorm.c - the residual Add + layer norm rewrite
 * (core/fuse_skipnorm.c) fires on the graphs PyTorch writes for post-LN
 * (BERT) and pre-LN blocks, embeddings plus positions, and leaves results
 * bit-identical.
 *
 * Each block is built as torch.onnx.export writes it: the sublayer a MatMul
 * by constant weights plus bias, then Add(x, sublayer) and nn.LayerNorm, as
 * LayerNormalization at opset 17 or its ReduceMean/Sub/Pow/... chain at
 * opset 13. The reference is the same graph with the norm reading Mul(sum,
 * 1), exactly the sum, which the pass does not match.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fuse.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define F32 1 /* TensorProto FLOAT */
#define H   8

static const int64_t XD[3] = {2, 5, H};
#define XN 80

typedef struct block {
    int opset;         /* 17: LayerNormalization, 13: the decomposed chain */
    bool pre_ln;       /* the sum also feeds the next residual (output 3) */
    bool positions;    /* the Add is x + a [5, H] constant (broadcast) */
    bool early_reader; /* a Relu reads the sum before the norm: no rewrite */
    bool reference;    /* the norm reads Mul(sum, 1) */
} block;

static void scalar(ob_model *m, const char *name, float v)
{
    ob_init_f32(m, name, 0, NULL, &v);
}

/* nn.LayerNorm(H) of @in into @out. */
static void layernorm(ob_model *m, int opset, const char *in, const char *out)
{
    static const float gamma[H] = {1.0f, 0.5f, -1.0f, 2.0f, 1.5f, 0.25f, 1.0f, -0.75f};
    static const float beta[H] = {0.1f, 0.0f, -0.2f, 0.3f, 0.0f, 1.0f, -1.0f, 0.5f};
    int64_t gd[1] = {H}, axes[1] = {-1};
    ob_init_f32(m, "gamma", 1, gd, gamma);
    ob_init_f32(m, "beta", 1, gd, beta);
    char ins[64];
    if (opset >= 17) {
        snprintf(ins, sizeof ins, "%s,gamma,beta", in);
        ob_attr_float(m, ob_add_node(m, "LayerNormalization", ins, out), "epsilon", 1e-5f);
        return;
    }
    scalar(m, "two", 2.0f);
    scalar(m, "eps", 1e-5f);
    ob_attr_ints(m, ob_add_node(m, "ReduceMean", in, "mean"), "axes", 1, axes);
    snprintf(ins, sizeof ins, "%s,mean", in);
    ob_add_node(m, "Sub", ins, "d");
    ob_add_node(m, "Pow", "d,two", "d2");
    ob_attr_ints(m, ob_add_node(m, "ReduceMean", "d2", "v"), "axes", 1, axes);
    ob_add_node(m, "Add", "v,eps", "ve");
    ob_add_node(m, "Sqrt", "ve", "s");
    ob_add_node(m, "Div", "d,s", "n");
    ob_add_node(m, "Mul", "n,gamma", "ng");
    ob_add_node(m, "Add", "ng,beta", out);
}

/* The sublayer: x W + b, [2, 5, H] -> [2, 5, H]. */
static void linear(ob_model *m)
{
    float w[H * H], b[H];
    for (int i = 0; i < H * H; i++)
        w[i] = (float)((i * 7) % 11 - 5) / 8.0f;
    for (int i = 0; i < H; i++)
        b[i] = (float)(i % 3) * 0.25f - 0.25f;
    int64_t wd[2] = {H, H}, bd[1] = {H};
    ob_init_f32(m, "W", 2, wd, w);
    ob_init_f32(m, "bias", 1, bd, b);
    ob_add_node(m, "MatMul", "x,W", "mm");
    ob_add_node(m, "Add", "bias,mm", "h");
}

static ob_model *build(const block *b)
{
    ob_model *m = ob_new(b->opset);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (b->positions) {
        float p[5 * H];
        for (int i = 0; i < 5 * H; i++)
            p[i] = (float)(i % 7) * 0.125f - 0.375f;
        int64_t pd[2] = {5, H};
        ob_init_f32(m, "pos", 2, pd, p);
        ob_add_node(m, "Add", "x,pos", "sum");
    } else {
        linear(m);
        ob_add_node(m, "Add", "x,h", "sum");
    }
    if (b->early_reader)
        ob_add_node(m, "Relu", "sum", "r");
    const char *ln_in = "sum";
    if (b->reference) {
        scalar(m, "one", 1.0f);
        ob_add_node(m, "Mul", "sum,one", "sum1");
        ln_in = "sum1";
    }
    bool more = b->pre_ln || b->early_reader;
    layernorm(m, b->opset, ln_in, more ? "ln" : "y");
    if (more)
        ob_add_node(m, "Add", b->early_reader ? "ln,r" : "ln,sum", "y");
    return m;
}

static float *run(loom_model *m, const float *x)
{
    loom_tensor *in, *out = NULL;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, XD, (void *)x, XN * sizeof(float), &in),
                     LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, &out, 1);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    float *y = malloc(XN * sizeof(float));
    assert_non_null(y);
    memcpy(y, loom_tensor_data(out), XN * sizeof(float));
    loom_tensor_destroy(in);
    loom_tensor_destroy(out);
    return y;
}

/* Loads @b and its reference, checks the rewrite count and the node count,
 * and that the outputs have the same bits. */
static void check_block(block b, int want_fused, int want_nodes)
{
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    b.reference = true;
    loom_model *ref = lm_load_ok(ctx, build(&b), "reference.onnx");
    assert_int_equal(lm_last_fuse_stats.skip_layernorms_fused, 0);
    b.reference = false;
    loom_model *fused = lm_load_ok(ctx, build(&b), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.skip_layernorms_fused, want_fused);
    assert_int_equal(lm_stats_of(fused).nodes, want_nodes);
    float x[XN];
    for (size_t i = 0; i < XN; i++)
        x[i] = 3.0f * (float)((int)((i * 37) % 29) - 14) / 14.0f;
    float *a = run(fused, x), *r = run(ref, x);
    for (size_t i = 0; i < XN; i++)
        if (memcmp(&a[i], &r[i], sizeof(float)) != 0) {
            print_error("element %zu: %.9g vs %.9g\n", i, (double)a[i], (double)r[i]);
            fail();
        }
    free(a);
    free(r);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

/* BERT: LN(x + Linear(x)); the biased MatMul and one norm remain. */
static void post_ln_block_fuses(void **state)
{
    (void)state;
    check_block((block){.opset = 17}, 1, 2);
    check_block((block){.opset = 13}, 1, 2);
}

/* Pre-LN: the sum also feeds the next residual Add, from output 3. */
static void pre_ln_sum_becomes_second_output(void **state)
{
    (void)state;
    check_block((block){.opset = 17, .pre_ln = true}, 1, 3);
    check_block((block){.opset = 13, .pre_ln = true}, 1, 3);
}

/* Token embeddings + [seq, hidden] positions: the broadcast path, with and
 * without the sum kept. */
static void broadcast_positions_fuse(void **state)
{
    (void)state;
    check_block((block){.opset = 17, .positions = true}, 1, 1);
    check_block((block){.opset = 17, .positions = true, .pre_ln = true}, 1, 2);
}

/* A reader of the sum ahead of the norm would follow its new producer. */
static void earlier_reader_keeps_the_add(void **state)
{
    (void)state;
    check_block((block){.opset = 17, .early_reader = true}, 0, 5);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(post_ln_block_fuses),
    cmocka_unit_test(pre_ln_sum_becomes_second_output),
    cmocka_unit_test(broadcast_positions_fuse),
    cmocka_unit_test(earlier_reader_keeps_the_add),
};

LM_TEST_MAIN(tests)
