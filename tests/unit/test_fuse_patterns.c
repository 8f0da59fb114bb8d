/*
 * test_fuse_patterns.c - the exporter-pattern rewrites (core/fuse_act.c,
 * core/fuse_norm.c, core/fuse_attn.c) fire on the graphs PyTorch writes and leave results
 * unchanged within tolerance.
 *
 * Each pattern is built node for node as torch.onnx.export (opsets 13-17)
 * writes it (its Constant nodes become initializers here, which the fusion
 * pass folds them into anyway). The reference is the same graph with one
 * intermediate value also a graph output, which the pass must not fuse.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fuse.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define F32 1 /* TensorProto FLOAT */

static const int64_t XD[3] = {2, 5, 8};
#define XN 80

static void scalar(ob_model *m, const char *name, float v)
{
    ob_init_f32(m, name, 0, NULL, &v);
}

/* Runs @m (with @nout outputs) on x of shape @dims (@xn floats) and returns
 * a copy of output 0 (@n floats). */
static float *run(loom_model *m, size_t nout, const float *x, size_t xn, int rank,
                  const int64_t *dims, size_t n)
{
    loom_tensor *in, *out[2] = {NULL, NULL};
    assert_int_equal(
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, rank, dims, (void *)x, xn * sizeof(float), &in),
        LOOM_OK);
    loom_status s = loom_model_run(m, &in, 1, out, nout);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    float *y = malloc(n * sizeof(float));
    assert_non_null(y);
    memcpy(y, loom_tensor_data(out[0]), n * sizeof(float));
    loom_tensor_destroy(in);
    loom_tensor_destroy(out[0]);
    loom_tensor_destroy(out[1]);
    return y;
}

static void input_x(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (float)((int)((i * 37) % 29) - 14) / 14.0f;
}

static void assert_close(const float *a, const float *b, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > tol * (1 + fabs((double)b[i]))) {
            print_error("element %zu: %.9g vs %.9g\n", i, (double)a[i], (double)b[i]);
            fail();
        }
}

/* ---- GELU ---------------------------------------------------------------- */

/* torch F.gelu(x): Div(x, 1.4142135) -> Erf -> Add 1 -> Mul(x, .) -> Mul(., 0.5).
 * @peek makes the Erf output a graph output too (the unfused reference). */
static ob_model *gelu_erf(bool peek)
{
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "e", F32);
    scalar(m, "sqrt2", 1.4142135381698608f);
    scalar(m, "one", 1.0f);
    scalar(m, "half", 0.5f);
    ob_add_node(m, "Div", "x,sqrt2", "t");
    ob_add_node(m, "Erf", "t", "e");
    ob_add_node(m, "Add", "e,one", "a");
    ob_add_node(m, "Mul", "x,a", "m");
    ob_add_node(m, "Mul", "m,half", "y");
    return m;
}

/* torch F.gelu(x, approximate='tanh'): Mul(x, x) -> Mul(x, .) -> Mul(0.044715, .)
 * -> Add(x, .) -> Mul(0.7978846, .) -> Tanh -> Add(1, .) -> Mul(x, .) -> Mul(0.5, .). */
static ob_model *gelu_tanh(bool peek)
{
    ob_model *m = ob_new(17);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "th", F32);
    scalar(m, "kappa", 0.044715f);
    scalar(m, "beta", 0.7978845834732056f);
    scalar(m, "one", 1.0f);
    scalar(m, "half", 0.5f);
    ob_add_node(m, "Mul", "x,x", "sq");
    ob_add_node(m, "Mul", "x,sq", "cube");
    ob_add_node(m, "Mul", "kappa,cube", "kc");
    ob_add_node(m, "Add", "x,kc", "w");
    ob_add_node(m, "Mul", "beta,w", "u");
    ob_add_node(m, "Tanh", "u", "th");
    ob_add_node(m, "Add", "one,th", "a");
    ob_add_node(m, "Mul", "x,a", "m");
    ob_add_node(m, "Mul", "half,m", "y");
    return m;
}

/* torch F.mish at opset 13-17 (no Mish op before 18): Softplus -> Tanh -> Mul x. */
static ob_model *mish(bool peek)
{
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "sp", F32);
    ob_add_node(m, "Softplus", "x", "sp");
    ob_add_node(m, "Tanh", "sp", "th");
    ob_add_node(m, "Mul", "x,th", "y");
    return m;
}

/* Another association: Mul(x, 0.7071) -> Erf -> Add 1, times Mul(x, 0.5). */
static ob_model *gelu_erf_half_first(bool peek)
{
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "e", F32);
    scalar(m, "rsqrt2", 0.70710678f);
    scalar(m, "one", 1.0f);
    scalar(m, "half", 0.5f);
    ob_add_node(m, "Mul", "x,rsqrt2", "t");
    ob_add_node(m, "Erf", "t", "e");
    ob_add_node(m, "Add", "one,e", "a");
    ob_add_node(m, "Mul", "x,half", "h");
    ob_add_node(m, "Mul", "h,a", "y");
    return m;
}

/* Loads the fused and the reference form of @build, checks the fusion count
 * (read through @stat) and the node count, and compares outputs. */
static void check_pattern(ob_model *(*build)(bool), const int *stat, int want_nodes, float scale,
                          double tol)
{
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *ref = lm_load_ok(ctx, build(true), "reference.onnx");
    assert_int_equal(*stat, 0);
    loom_model *fused = lm_load_ok(ctx, build(false), "fused.onnx");
    assert_int_equal(*stat, 1);
    assert_int_equal(lm_stats_of(fused).nodes, want_nodes);
    float x[XN];
    input_x(x, XN, scale);
    float *a = run(fused, 1, x, XN, 3, XD, XN), *b = run(ref, 2, x, XN, 3, XD, XN);
    assert_close(a, b, XN, tol);
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

static void gelu_erf_becomes_gelu(void **state)
{
    (void)state;
    check_pattern(gelu_erf, &lm_last_fuse_stats.gelus_fused, 1, 4.0f, 1e-6);
}

static void gelu_erf_other_association(void **state)
{
    (void)state;
    check_pattern(gelu_erf_half_first, &lm_last_fuse_stats.gelus_fused, 1, 4.0f, 1e-6);
}

static void gelu_tanh_becomes_gelu(void **state)
{
    (void)state;
    check_pattern(gelu_tanh, &lm_last_fuse_stats.gelus_fused, 1, 4.0f, 1e-6);
}

static void mish_chain_becomes_mish(void **state)
{
    (void)state;
    check_pattern(mish, &lm_last_fuse_stats.mishes_fused, 1, 6.0f, 1e-6);
}

/* A constant that is not GELU's keeps the chain as it is. */
static void gelu_wrong_constant_stays(void **state)
{
    (void)state;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    scalar(m, "c", 1.5f);
    scalar(m, "one", 1.0f);
    scalar(m, "half", 0.5f);
    ob_add_node(m, "Div", "x,c", "t");
    ob_add_node(m, "Erf", "t", "e");
    ob_add_node(m, "Add", "e,one", "a");
    ob_add_node(m, "Mul", "x,a", "mm");
    ob_add_node(m, "Mul", "mm,half", "y");
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *model = lm_load_ok(ctx, m, "notgelu.onnx");
    assert_int_equal(lm_last_fuse_stats.gelus_fused, 0);
    assert_int_equal(lm_stats_of(model).nodes, 5);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
}

/* ---- LayerNorm ----------------------------------------------------------- */

/* torch nn.LayerNorm(8) at opset 13: ReduceMean(axes=[-1]) -> Sub -> Pow 2 ->
 * ReduceMean -> Add eps -> Sqrt -> Div -> Mul weight -> Add bias. */
static ob_model *layernorm_sq(bool peek, bool mul_square)
{
    static const float gamma[8] = {1.0f, 0.5f, -1.0f, 2.0f, 1.5f, 0.25f, 1.0f, -0.75f};
    static const float beta[8] = {0.1f, 0.0f, -0.2f, 0.3f, 0.0f, 1.0f, -1.0f, 0.5f};
    int64_t gd[1] = {8}, axes[1] = {-1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "v", F32);
    scalar(m, "two", 2.0f);
    scalar(m, "eps", 1e-5f);
    ob_init_f32(m, "gamma", 1, gd, gamma);
    ob_init_f32(m, "beta", 1, gd, beta);
    ob_attr_ints(m, ob_add_node(m, "ReduceMean", "x", "mean"), "axes", 1, axes);
    ob_add_node(m, "Sub", "x,mean", "d");
    if (mul_square)
        ob_add_node(m, "Mul", "d,d", "d2");
    else
        ob_add_node(m, "Pow", "d,two", "d2");
    ob_attr_ints(m, ob_add_node(m, "ReduceMean", "d2", "v"), "axes", 1, axes);
    ob_add_node(m, "Add", "v,eps", "ve");
    ob_add_node(m, "Sqrt", "ve", "s");
    ob_add_node(m, "Div", "d,s", "n");
    ob_add_node(m, "Mul", "n,gamma", "ng");
    ob_add_node(m, "Add", "ng,beta", "y");
    return m;
}

static ob_model *layernorm(bool peek)
{
    return layernorm_sq(peek, false);
}

/* Hand-written layer norms square with Mul(d, d) */
static ob_model *layernorm_mul(bool peek)
{
    return layernorm_sq(peek, true);
}

static void layernorm_becomes_layernormalization(void **state)
{
    (void)state;
    check_pattern(layernorm, &lm_last_fuse_stats.layernorms_fused, 1, 3.0f, 1e-5);
    check_pattern(layernorm_mul, &lm_last_fuse_stats.layernorms_fused, 1, 3.0f, 1e-5);
}

/* ---- SiLU ---------------------------------------------------------------- */

static const int64_t ZD[4] = {1, 3, 6, 6};
#define ZN 108

/* torch F.silu(conv(z)) (YOLO's Conv block): Conv -> Sigmoid, Mul(conv, sigmoid).
 * With @bn a BatchNormalization sits between, as in an exported C2f block. */
static ob_model *conv_silu(bool peek, bool bn)
{
    float w[4 * 3 * 9], b[4] = {0.1f, -0.2f, 0.0f, 0.3f};
    float sc[4] = {1.0f, 0.5f, 2.0f, 1.5f}, sh[4] = {0, 0.1f, -0.1f, 0.2f};
    float mu[4] = {0.0f, 0.1f, -0.2f, 0.05f}, var[4] = {1.0f, 0.5f, 2.0f, 1.0f};
    for (int i = 0; i < 4 * 3 * 9; i++)
        w[i] = (float)((i * 13) % 17 - 8) / 16.0f;
    int64_t wd[4] = {4, 3, 3, 3}, cd[1] = {4};
    ob_model *m = ob_new(13);
    ob_input(m, "z", F32, 4, ZD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "c", F32);
    ob_init_f32(m, "W", 4, wd, w);
    ob_init_f32(m, "B", 1, cd, b);
    ob_add_node(m, "Conv", "z,W,B", bn ? "c0" : "c");
    if (bn) {
        ob_init_f32(m, "sc", 1, cd, sc);
        ob_init_f32(m, "sh", 1, cd, sh);
        ob_init_f32(m, "mu", 1, cd, mu);
        ob_init_f32(m, "var", 1, cd, var);
        ob_add_node(m, "BatchNormalization", "c0,sc,sh,mu,var", "c");
    }
    ob_add_node(m, "Sigmoid", "c", "s");
    ob_add_node(m, "Mul", "c,s", "y");
    return m;
}

/* Conv -> Softplus -> Tanh -> Mul(conv, .), YOLOv4's Mish before opset 18:
 * the chain becomes Mish, then the Conv's epilogue. */
static ob_model *conv_mish(bool peek)
{
    float w[4 * 3 * 9];
    for (int i = 0; i < 4 * 3 * 9; i++)
        w[i] = (float)((i * 11) % 19 - 9) / 16.0f;
    int64_t wd[4] = {4, 3, 3, 3};
    ob_model *m = ob_new(13);
    ob_input(m, "z", F32, 4, ZD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "c", F32);
    ob_init_f32(m, "W", 4, wd, w);
    ob_add_node(m, "Conv", "z,W", "c");
    ob_add_node(m, "Softplus", "c", "sp");
    ob_add_node(m, "Tanh", "sp", "t");
    ob_add_node(m, "Mul", "c,t", "y");
    return m;
}

static void mish_after_conv_becomes_epilogue(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *ref = lm_load_ok(ctx, conv_mish(true), "reference.onnx");
    loom_model *fused = lm_load_ok(ctx, conv_mish(false), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.mishes_fused, 1);
    assert_int_equal(lm_last_fuse_stats.activations_fused, 1);
    assert_int_equal(lm_stats_of(fused).nodes, 1);
    float z[ZN];
    input_x(z, ZN, 2.0f);
    const size_t yn = 4 * 4 * 4;
    float *a = run(fused, 1, z, ZN, 4, ZD, yn), *b = run(ref, 2, z, ZN, 4, ZD, yn);
    assert_close(a, b, yn, 1e-5);
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

static void check_silu(bool bn)
{
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    /* the Conv's output is read outside: the pair becomes loom.Silu instead */
    loom_model *ref = lm_load_ok(ctx, conv_silu(true, bn), "reference.onnx");
    assert_int_equal(lm_last_fuse_stats.silus_fused, 1);
    assert_int_equal(lm_stats_of(ref).nodes, 2);
    loom_model *fused = lm_load_ok(ctx, conv_silu(false, bn), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.silus_fused, 1);
    assert_int_equal(lm_stats_of(fused).nodes, 1); /* the Conv with its epilogue */
    float z[ZN];
    input_x(z, ZN, 2.0f);
    const size_t yn = 4 * 4 * 4;
    float *a = run(fused, 1, z, ZN, 4, ZD, yn), *b = run(ref, 2, z, ZN, 4, ZD, yn);
    assert_close(a, b, yn, 1e-5);
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

static void silu_after_conv_becomes_epilogue(void **state)
{
    (void)state;
    check_silu(false);
}

static void silu_after_conv_bn_becomes_epilogue(void **state)
{
    (void)state;
    check_silu(true);
}

/* x * Sigmoid(x) after an Add (a residual, a pooling, an input: no epilogue
 * to join): one loom.Silu node, x * sigmoid(x) within vmath's rounding. */
static void silu_elsewhere_becomes_one_node(void **state)
{
    (void)state;
    int64_t d[1] = {ZN};
    ob_model *m = ob_new(13);
    ob_input(m, "a", F32, 1, d);
    ob_output(m, "y", F32);
    ob_add_node(m, "Add", "a,a", "t");
    ob_add_node(m, "Sigmoid", "t", "s");
    ob_add_node(m, "Mul", "s,t", "y");
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *fused = lm_load_ok(ctx, m, "silu.onnx");
    assert_int_equal(lm_last_fuse_stats.silus_fused, 1);
    assert_int_equal(lm_stats_of(fused).nodes, 2);
    float x[ZN], want[ZN];
    input_x(x, ZN, 40.0f); /* past exp's range on both sides */
    for (size_t i = 0; i < ZN; i++) {
        double t = 2.0 * x[i];
        want[i] = (float)(t / (1.0 + exp(-t)));
    }
    float *y = run(fused, 1, x, ZN, 1, d, ZN);
    assert_close(y, want, ZN, 1e-6);
    free(y);
    loom_model_destroy(fused);
    loom_context_destroy(ctx);
}

/* DenseNet's BN -> ReLU after a Concat (no Conv to fold the BN into): the
 * BatchNormalization takes the ReLU; with the BN's output read outside
 * (@peek) nothing fuses, which is the reference. */
static ob_model *bn_relu(bool peek)
{
    float sc[3] = {1.0f, 0.5f, 2.0f}, sh[3] = {0.1f, -0.3f, 0.0f};
    float mu[3] = {0.0f, 0.2f, -0.1f}, var[3] = {1.0f, 0.5f, 2.0f};
    int64_t cd[1] = {3};
    ob_model *m = ob_new(13);
    ob_input(m, "z", F32, 4, ZD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "n", F32);
    ob_init_f32(m, "sc", 1, cd, sc);
    ob_init_f32(m, "sh", 1, cd, sh);
    ob_init_f32(m, "mu", 1, cd, mu);
    ob_init_f32(m, "var", 1, cd, var);
    ob_add_node(m, "Add", "z,z", "a");
    ob_add_node(m, "BatchNormalization", "a,sc,sh,mu,var", "n");
    ob_add_node(m, "Relu", "n", "y");
    return m;
}

/* Loads @build's reference form (3 nodes) and fused form (2: the producer
 * took the activation) on z, compares outputs exactly; returns the context
 * for more checks. */
static loom_context *check_takes_activation(ob_model *(*build)(bool))
{
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *ref = lm_load_ok(ctx, build(true), "reference.onnx");
    assert_int_equal(lm_stats_of(ref).nodes, 3);
    loom_model *fused = lm_load_ok(ctx, build(false), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.activations_fused, 1);
    assert_int_equal(lm_stats_of(fused).nodes, 2);
    float z[ZN];
    input_x(z, ZN, 2.0f);
    float *a = run(fused, 1, z, ZN, 4, ZD, ZN), *b = run(ref, 2, z, ZN, 4, ZD, ZN);
    assert_close(a, b, ZN, 0.0);
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    return ctx;
}

static void batchnorm_takes_its_activation(void **state)
{
    (void)state;
    loom_context_destroy(check_takes_activation(bn_relu));
}

/* ResNet's residual block tail: Relu(Conv(z) + z). The Add takes the Relu;
 * with the sum read outside (@peek) nothing fuses, which is the reference. */
static ob_model *residual_relu(bool peek)
{
    float w[3 * 3 * 9];
    for (int i = 0; i < 3 * 3 * 9; i++)
        w[i] = (float)((i * 11) % 13 - 6) / 8.0f;
    int64_t wd[4] = {3, 3, 3, 3}, pads[4] = {1, 1, 1, 1};
    ob_model *m = ob_new(13);
    ob_input(m, "z", F32, 4, ZD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "s", F32);
    ob_init_f32(m, "W", 4, wd, w);
    ob_attr_ints(m, ob_add_node(m, "Conv", "z,W", "c"), "pads", 4, pads);
    ob_add_node(m, "Add", "c,z", "s");
    ob_add_node(m, "Relu", "s", "y");
    return m;
}

static void residual_add_takes_its_activation(void **state)
{
    (void)state;
    loom_context *ctx = check_takes_activation(residual_relu);
    /* integer operands: the Relu stays a node of its own */
    int64_t d[1] = {4};
    ob_model *m = ob_new(14);
    ob_input(m, "i", 7, 1, d);
    ob_output(m, "y", 7);
    ob_add_node(m, "Add", "i,i", "s");
    ob_add_node(m, "Relu", "s", "y");
    loom_model *ints = lm_load_ok(ctx, m, "ints.onnx");
    assert_int_equal(lm_last_fuse_stats.activations_fused, 0);
    assert_int_equal(lm_stats_of(ints).nodes, 2);
    loom_model_destroy(ints);
    loom_context_destroy(ctx);
}

/* ---- MatMul + bias --------------------------------------------------- */

/* torch nn.Linear(8, 6) on a [2, 5, 8] input, then ReLU: MatMul(x, W^T) ->
 * Add(bias, .) -> Relu. The bias joins the MatMul, then the Relu its epilogue. */
static ob_model *linear_relu(bool peek)
{
    float w[8 * 6], b[6] = {0.5f, -0.25f, 0.0f, 1.0f, -1.0f, 0.125f};
    for (int i = 0; i < 48; i++)
        w[i] = (float)((i * 7) % 11 - 5) / 8.0f;
    int64_t wd[2] = {8, 6}, bd[1] = {6};
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "mm", F32);
    ob_init_f32(m, "W", 2, wd, w);
    ob_init_f32(m, "bias", 1, bd, b);
    ob_add_node(m, "MatMul", "x,W", "mm");
    ob_add_node(m, "Add", "bias,mm", "lin");
    ob_add_node(m, "Relu", "lin", "y");
    return m;
}

static void matmul_add_becomes_biased_matmul(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *ref = lm_load_ok(ctx, linear_relu(true), "reference.onnx");
    assert_int_equal(lm_last_fuse_stats.matmul_biases_fused, 0);
    loom_model *fused = lm_load_ok(ctx, linear_relu(false), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.matmul_biases_fused, 1);
    assert_int_equal(lm_last_fuse_stats.activations_fused, 1);
    assert_int_equal(lm_stats_of(fused).nodes, 1);
    float x[XN];
    input_x(x, XN, 2.0f);
    float *a = run(fused, 1, x, XN, 3, XD, 60), *b = run(ref, 2, x, XN, 3, XD, 60);
    assert_close(a, b, 60, 1e-6);
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

/* A transformer FFN's first half as PyTorch writes it at opset 13: MatMul ->
 * Add bias -> the erf GELU chain. All of it becomes one MatMul whose epilogue
 * adds the bias and applies GELU. */
static ob_model *linear_gelu(bool peek)
{
    float w[8 * 6], b[6] = {0.5f, -0.25f, 0.0f, 1.0f, -1.0f, 0.125f};
    for (int i = 0; i < 48; i++)
        w[i] = (float)((i * 5) % 13 - 6) / 8.0f;
    int64_t wd[2] = {8, 6}, bd[1] = {6};
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "lin", F32);
    ob_init_f32(m, "W", 2, wd, w);
    ob_init_f32(m, "bias", 1, bd, b);
    scalar(m, "sqrt2", 1.4142135381698608f);
    scalar(m, "one", 1.0f);
    scalar(m, "half", 0.5f);
    ob_add_node(m, "MatMul", "x,W", "mm");
    ob_add_node(m, "Add", "bias,mm", "lin");
    ob_add_node(m, "Div", "lin,sqrt2", "t");
    ob_add_node(m, "Erf", "t", "e");
    ob_add_node(m, "Add", "e,one", "a");
    ob_add_node(m, "Mul", "lin,a", "mg");
    ob_add_node(m, "Mul", "mg,half", "y");
    return m;
}

static void linear_gelu_becomes_one_matmul(void **state)
{
    (void)state;
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *ref = lm_load_ok(ctx, linear_gelu(true), "reference.onnx");
    loom_model *fused = lm_load_ok(ctx, linear_gelu(false), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.gelus_fused, 1);
    assert_int_equal(lm_last_fuse_stats.matmul_biases_fused, 1);
    assert_int_equal(lm_last_fuse_stats.activations_fused, 1);
    assert_int_equal(lm_stats_of(fused).nodes, 1);
    float x[XN];
    input_x(x, XN, 2.0f);
    float *a = run(fused, 1, x, XN, 3, XD, 60), *b = run(ref, 2, x, XN, 3, XD, 60);
    assert_close(a, b, 60, 1e-6);
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

/* ---- attention scores ------------------------------------------------------ */

/* Scores x [2, 5, 8] as attention writes them: Div by sqrt(head dim) (or Mul
 * by its inverse), Add of an additive mask of shape @md, Softmax over @axis.
 * @peek makes the masked scores a graph output (the unfused reference). */
static ob_model *masked_softmax(bool peek, bool mul, bool mask_first, const int64_t *md,
                                int64_t axis)
{
    float mask[2 * 5 * 8];
    int64_t mn = md[0] * md[1] * md[2];
    for (int64_t i = 0; i < mn; i++)
        mask[i] = i % 3 == 2 ? -10000.0f : (float)(i % 5) * 0.25f;
    ob_model *m = ob_new(13);
    ob_input(m, "x", F32, 3, XD);
    ob_output(m, "y", F32);
    if (peek)
        ob_output(m, "a", F32);
    scalar(m, "c", mul ? 0.35355339f : 2.828427124f);
    ob_init_f32(m, "mask", 3, md, mask);
    ob_add_node(m, mul ? "Mul" : "Div", "x,c", "t");
    ob_add_node(m, "Add", mask_first ? "mask,t" : "t,mask", "a");
    ob_node *sm = ob_add_node(m, "Softmax", "a", "y");
    ob_attr_int(m, sm, "axis", axis);
    return m;
}

static void masked_softmax_case(bool mul, bool mask_first, const int64_t *md, int64_t axis)
{
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *ref = lm_load_ok(ctx, masked_softmax(true, mul, mask_first, md, axis), "ref.onnx");
    assert_int_equal(lm_last_fuse_stats.softmax_masks_fused, 0);
    loom_model *fused =
        lm_load_ok(ctx, masked_softmax(false, mul, mask_first, md, axis), "fused.onnx");
    assert_int_equal(lm_last_fuse_stats.softmax_masks_fused, 1);
    assert_int_equal(lm_stats_of(fused).nodes, 1);
    float x[XN];
    input_x(x, XN, 6.0f);
    float *a = run(fused, 1, x, XN, 3, XD, XN), *b = run(ref, 2, x, XN, 3, XD, XN);
    assert_close(a, b, XN, 1e-6);
    free(a);
    free(b);
    loom_model_destroy(fused);
    loom_model_destroy(ref);
    loom_context_destroy(ctx);
}

/* BERT's [batch, 1, seq] mask, Div; then Mul, the mask first in the Add. */
static void attention_scores_become_masked_softmax(void **state)
{
    (void)state;
    const int64_t per_batch[3] = {2, 1, 8}, per_row[3] = {2, 5, 1}, full[3] = {2, 5, 8};
    masked_softmax_case(false, false, per_batch, -1);
    masked_softmax_case(true, true, per_batch, -1);
    masked_softmax_case(false, false, per_row, -1);
    masked_softmax_case(true, false, full, 2);
    /* not over the last axis: the kernel's general path */
    masked_softmax_case(false, false, per_batch, 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(linear_gelu_becomes_one_matmul),
    cmocka_unit_test(matmul_add_becomes_biased_matmul),
    cmocka_unit_test(gelu_erf_becomes_gelu),
    cmocka_unit_test(gelu_erf_other_association),
    cmocka_unit_test(gelu_tanh_becomes_gelu),
    cmocka_unit_test(gelu_wrong_constant_stays),
    cmocka_unit_test(mish_chain_becomes_mish),
    cmocka_unit_test(layernorm_becomes_layernormalization),
    cmocka_unit_test(silu_after_conv_becomes_epilogue),
    cmocka_unit_test(silu_after_conv_bn_becomes_epilogue),
    cmocka_unit_test(silu_elsewhere_becomes_one_node),
    cmocka_unit_test(batchnorm_takes_its_activation),
    cmocka_unit_test(residual_add_takes_its_activation),
    cmocka_unit_test(mish_after_conv_becomes_epilogue),
    cmocka_unit_test(attention_scores_become_masked_softmax),
};

LM_TEST_MAIN(tests)
