/*
 * test_qdq.c - the QDQ rewrites of Add and MaxPool (fuse_qdq.c) give the same
 * bytes as the float graph they replace, a MatMul of two activations (as in
 * attention) is within a quantization step of it, and QuantizeLinear/DequantizeLinear
 * and DynamicQuantizeLinear (vector rows where the CPU has AVX-512) follow
 * quant.c's formulas. The reference is the same model with the float
 * intermediate also exported as a graph output, which keeps the rewrite from
 * applying.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

static uint32_t rng_state = 4321;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* Adds scale @sname = s and zero point @zname = z of dtype @dt to the model. */
static void qparams(ob_model *m, const char *sname, float s, const char *zname, int dt, int z)
{
    uint8_t zb = (uint8_t)z;
    ob_init_f32(m, sname, 0, NULL, &s);
    ob_init_raw(m, zname, dt, 0, NULL, &zb, 1);
}

/* Runs @m on the float inputs (@n_out outputs: y, maybe f); returns y's
 * bytes (malloc'd) and the number of QDQ rewrites. */
static float *run(ob_model *m, int n_in, loom_tensor **in, int n_out, size_t *bytes, int *fused)
{
    loom_context *ctx;
    assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
    loom_model *model = lm_load_ok(ctx, m, "qdq.onnx");
    loom_model_stats st = {.struct_size = sizeof(st)};
    assert_int_equal(loom_model_get_stats(model, &st), LOOM_OK);
    *fused = st.qdq_fused;
    loom_tensor *out[2] = {NULL, NULL};
    loom_status s = loom_model_run(model, in, n_in, out, n_out);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    *bytes = loom_tensor_size(out[0]);
    float *res = malloc(*bytes);
    memcpy(res, loom_tensor_data(out[0]), *bytes);
    loom_tensor_destroy(out[0]);
    loom_tensor_destroy(out[1]);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    return res;
}

/* @fused_m (its rewrites expected: @want_fused) and @plain_m (the same
 * graph with the float result as a second output, which keeps it float) on
 * @in: y must be the same bytes. */
static void assert_matches_float_graph(ob_model *fused_m, ob_model *plain_m, int n_in,
                                       loom_tensor **in, int want_fused)
{
    size_t n1, n2;
    int f1, f2;
    float *fused = run(fused_m, n_in, in, 1, &n1, &f1);
    float *plain = run(plain_m, n_in, in, 2, &n2, &f2);
    assert_int_equal(f1, want_fused);
    assert_int_equal(f2, 0);
    assert_int_equal(n1, n2);
    assert_memory_equal(fused, plain, n1);
    free(fused);
    free(plain);
}

/* x1 [1,4,30,40] and x2 (@bdims) quantized, dequantized, added, quantized with
 * @ydt, dequantized. @b_signed quantizes x2 to int8. */
static ob_model *add_model(bool block, const int64_t *bdims, bool b_signed, int ydt)
{
    int64_t ad[4] = {1, 4, 30, 40};
    int bdt = b_signed ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8;
    ob_model *m = ob_new(13);
    ob_input(m, "x1", LOOM_DTYPE_FLOAT, 4, ad);
    ob_input(m, "x2", LOOM_DTYPE_FLOAT, 4, bdims);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    if (block)
        ob_output(m, "f", LOOM_DTYPE_FLOAT);
    qparams(m, "s1", 0.013f, "z1", LOOM_DTYPE_UINT8, 121);
    qparams(m, "s2", 0.0071f, "z2", bdt, b_signed ? -7 : 30);
    qparams(m, "s3", 0.0187f, "z3", ydt, ydt == LOOM_DTYPE_INT8 ? 3 : 140);
    ob_add_node(m, "QuantizeLinear", "x1,s1,z1", "q1");
    ob_add_node(m, "DequantizeLinear", "q1,s1,z1", "d1");
    ob_add_node(m, "QuantizeLinear", "x2,s2,z2", "q2");
    ob_add_node(m, "DequantizeLinear", "q2,s2,z2", "d2");
    ob_add_node(m, "Add", "d1,d2", "f");
    ob_add_node(m, "QuantizeLinear", "f,s3,z3", "q3");
    ob_add_node(m, "DequantizeLinear", "q3,s3,z3", "y");
    return m;
}

static void add_case(const int64_t *bdims, bool b_signed, int ydt)
{
    static float x1[4800], x2[4800];
    int64_t ad[4] = {1, 4, 30, 40}, bn = bdims[0] * bdims[1] * bdims[2] * bdims[3];
    for (int i = 0; i < 4800; i++)
        x1[i] = frand() * 2.0f;
    for (int64_t i = 0; i < bn; i++)
        x2[i] = frand() * 1.5f;
    loom_tensor *in[2];
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, ad, x1, sizeof(x1), &in[0]), LOOM_OK);
    assert_int_equal(
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, bdims, x2, (size_t)bn * sizeof(float), &in[1]),
        LOOM_OK);
    assert_matches_float_graph(add_model(false, bdims, b_signed, ydt),
                               add_model(true, bdims, b_signed, ydt), 2, in, 1);
    loom_tensor_destroy(in[0]);
    loom_tensor_destroy(in[1]);
}

static void qdq_add_matches_float_graph(void **state)
{
    (void)state;
    int64_t same[4] = {1, 4, 30, 40}, chan[4] = {1, 4, 1, 1}, row[4] = {1, 1, 1, 40};
    int64_t scalar[4] = {1, 1, 1, 1}; /* GELU's 1 + erf(x): one value along every row */
    add_case(same, false, LOOM_DTYPE_UINT8);
    add_case(same, true, LOOM_DTYPE_INT8);
    add_case(chan, false, LOOM_DTYPE_UINT8);
    add_case(row, true, LOOM_DTYPE_UINT8);
    add_case(scalar, false, LOOM_DTYPE_UINT8);
    add_case(scalar, true, LOOM_DTYPE_INT8);
}

/* x [1,2,9,11] -> Q -> DQ -> MaxPool 3x3 stride 2 pad 1 -> Q -> DQ -> y. */
static ob_model *pool_model(bool block, float ys, int xdt)
{
    int64_t xd[4] = {1, 2, 9, 11}, k[2] = {3, 3}, s[2] = {2, 2}, p[4] = {1, 1, 1, 1};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    if (block)
        ob_output(m, "f", LOOM_DTYPE_FLOAT);
    int z = xdt == LOOM_DTYPE_INT8 ? -20 : 77;
    qparams(m, "s1", 0.0123f, "z1", xdt, z);
    qparams(m, "s2", ys, "z2", xdt, z);
    ob_add_node(m, "QuantizeLinear", "x,s1,z1", "q1");
    ob_add_node(m, "DequantizeLinear", "q1,s1,z1", "d1");
    ob_node *n = ob_add_node(m, "MaxPool", "d1", "f");
    ob_attr_ints(m, n, "kernel_shape", 2, k);
    ob_attr_ints(m, n, "strides", 2, s);
    ob_attr_ints(m, n, "pads", 4, p);
    ob_add_node(m, "QuantizeLinear", "f,s2,z2", "q2");
    ob_add_node(m, "DequantizeLinear", "q2,s2,z2", "y");
    return m;
}

static void pool_case(float ys, int xdt, int want_fused)
{
    float x[198];
    int64_t xd[4] = {1, 2, 9, 11};
    for (int i = 0; i < 198; i++)
        x[i] = frand() * 2.0f;
    loom_tensor *in;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, xd, x, sizeof(x), &in), LOOM_OK);
    assert_matches_float_graph(pool_model(false, ys, xdt), pool_model(true, ys, xdt), 1, &in,
                               want_fused);
    loom_tensor_destroy(in);
}

static void qdq_maxpool_matches_float_graph(void **state)
{
    (void)state;
    pool_case(0.0123f, LOOM_DTYPE_UINT8, 1);
    pool_case(0.0123f, LOOM_DTYPE_INT8, 1);
    pool_case(0.0125f, LOOM_DTYPE_UINT8, 0); /* another output scale: stays float */
}

/* QuantizeLinear then DequantizeLinear on edge values (ties, saturation,
 * infinities, NaN, a tail shorter than a vector), against the formulas in
 * quant.c's header computed here one element at a time. */
/* MaxPool straight on an 8-bit map with these attributes, or (@via_float)
 * through Casts to float and back: the same values either way. */
static ob_model *maxpool_8bit_model(int dt, const int64_t *xd, const int64_t *k, int64_t s,
                                    int64_t pad, int64_t dil, bool ceil, bool via_float)
{
    ob_model *m = ob_new(13);
    ob_input(m, "x", dt, 4, xd);
    ob_output(m, "y", dt);
    ob_node *n = ob_add_node(m, "MaxPool", via_float ? "xf" : "x", via_float ? "yf" : "y");
    if (via_float) {
        ob_attr_int(m, ob_add_node(m, "Cast", "x", "xf"), "to", LOOM_DTYPE_FLOAT);
        ob_attr_int(m, ob_add_node(m, "Cast", "yf", "y"), "to", dt);
    }
    ob_attr_ints(m, n, "kernel_shape", 2, k);
    ob_attr_ints(m, n, "strides", 2, (int64_t[]){s, s});
    ob_attr_ints(m, n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    ob_attr_ints(m, n, "dilations", 2, (int64_t[]){dil, dil});
    ob_attr_int(m, n, "ceil_mode", ceil);
    return m;
}

/* The 8-bit MaxPool paths (whole padded planes, a vector of 64 columns at
 * strides 1 and 2 with rows padded once) against the float kernel on the
 * same values: multi-vector rows, narrow ones, padding, ceil_mode,
 * dilation, and a stride the vector rows leave to the scalar one. */
static void maxpool_on_8_bits_matches_float(void **state)
{
    (void)state;
    static const struct {
        int64_t h, w, kh, kw, s, pad, dil;
        bool ceil;
    } cases[] = {
        {9, 11, 3, 3, 2, 1, 1, false},
        {7, 150, 3, 3, 1, 1, 1, false},
        {10, 131, 2, 2, 2, 0, 1, false},
        {13, 13, 3, 3, 2, 0, 1, true},
        {12, 70, 3, 3, 1, 2, 2, false},
        {11, 200, 3, 5, 2, 2, 1, true},
        {9, 17, 3, 3, 3, 1, 1, false},
        /* SqueezeNet's pools (whole planes at once), and a plane too big
         * for that (output rows) */
        {27, 27, 3, 3, 2, 0, 1, true},
        {55, 55, 3, 3, 2, 0, 1, true},
        {14, 14, 3, 3, 1, 1, 1, false},
        {130, 131, 3, 3, 2, 1, 1, false},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        for (int signed8 = 0; signed8 < 2; signed8++) {
            int dt = signed8 ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8;
            int64_t xd[4] = {2, 3, cases[c].h, cases[c].w}, k[2] = {cases[c].kh, cases[c].kw};
            size_t n = (size_t)(2 * 3 * cases[c].h * cases[c].w);
            uint8_t *x = malloc(n);
            for (size_t i = 0; i < n; i++)
                x[i] = (uint8_t)(i * 2654435761u >> 13);
            loom_tensor *in;
            assert_int_equal(loom_tensor_wrap(dt, 4, xd, x, n, &in), LOOM_OK);
            size_t n1, n2;
            int f1, f2;
            uint8_t *y8 = (uint8_t *)run(maxpool_8bit_model(dt, xd, k, cases[c].s, cases[c].pad,
                                                            cases[c].dil, cases[c].ceil, false),
                                         1, &in, 1, &n1, &f1);
            uint8_t *yf = (uint8_t *)run(maxpool_8bit_model(dt, xd, k, cases[c].s, cases[c].pad,
                                                            cases[c].dil, cases[c].ceil, true),
                                         1, &in, 1, &n2, &f2);
            assert_int_equal(n1, n2);
            if (memcmp(y8, yf, n1))
                print_error("case %zu (%s) differs\n", c, signed8 ? "int8" : "uint8");
            assert_memory_equal(y8, yf, n1);
            free(y8);
            free(yf);
            loom_tensor_destroy(in);
            free(x);
        }
}

static void quantize_edges_match_formula(void **state)
{
    (void)state;
    enum { N = 37 };
    const float s = 0.5f;
    float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i - 18) * 0.25f * (float)(i % 5 + 1); /* many exact ties */
    x[0] = NAN;
    x[1] = INFINITY;
    x[2] = -INFINITY;
    x[3] = 1e9f;
    x[4] = -1e9f;
    for (int sg = 0; sg < 2; sg++) {
        int dt = sg ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8, z = sg ? -3 : 128;
        int64_t d[1] = {N};
        ob_model *m = ob_new(13);
        ob_input(m, "x", LOOM_DTYPE_FLOAT, 1, d);
        ob_output(m, "q", dt);
        ob_output(m, "y", LOOM_DTYPE_FLOAT);
        qparams(m, "s", s, "z", dt, z);
        ob_add_node(m, "QuantizeLinear", "x,s,z", "q");
        ob_add_node(m, "DequantizeLinear", "q,s,z", "y");
        loom_context *ctx;
        assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
        loom_model *model = lm_load_ok(ctx, m, "q.onnx");
        loom_tensor *in, *out[2];
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 1, d, x, sizeof(x), &in), LOOM_OK);
        assert_int_equal(loom_model_run(model, &in, 1, out, 2), LOOM_OK);
        const uint8_t *q = loom_tensor_data(out[0]);
        const float *y = loom_tensor_data(out[1]);
        float lo = sg ? -128.0f : 0.0f, hi = sg ? 127.0f : 255.0f;
        for (int i = 0; i < N; i++) {
            float v = x[i] / s;
            v = v > lo - (float)z ? v : lo - (float)z; /* NaN takes the low end */
            v = v < hi - (float)z ? v : hi - (float)z;
            int want = (int)nearbyintf(v) + z, got = sg ? (int8_t)q[i] : q[i];
            assert_int_equal(got, want);
            float back = (float)(want - z) * s;
            assert_memory_equal(&y[i], &back, sizeof(float));
        }
        loom_tensor_destroy(in);
        loom_tensor_destroy(out[0]);
        loom_tensor_destroy(out[1]);
        loom_model_destroy(model);
        loom_context_destroy(ctx);
    }
}

/* DynamicQuantizeLinear's range (vector lanes and a tail where the CPU has
 * AVX-512) is the scalar formula's: min and max of x and 0, NaN passed over,
 * the extreme anywhere in the tensor; y, scale and zero point to the bit. */
static void dynamic_quantize_matches_formula(void **state)
{
    (void)state;
    static const int64_t lengths[] = {5, 16, 63, 64, 100, 1007, 4099};
    static float x[4099];
    for (size_t c = 0; c < sizeof(lengths) / sizeof(lengths[0]) * 3; c++) {
        int64_t n = lengths[c / 3];
        int sign = (int)(c % 3); /* 0: both signs, 1: all positive, 2: all negative */
        for (int64_t i = 0; i < n; i++) {
            float v = frand() * 4.0f;
            x[i] = sign == 1 ? fabsf(v) + 0.5f : sign == 2 ? -fabsf(v) - 0.5f : v;
        }
        x[(c * 7919) % (size_t)n] = sign == 2 ? -9.0f : 9.0f; /* an extreme, also in tails */
        x[n / 2] = NAN;
        float mn = 0.0f, mx = 0.0f;
        for (int64_t i = 0; i < n; i++) {
            mn = x[i] < mn ? x[i] : mn;
            mx = x[i] > mx ? x[i] : mx;
        }
        float s = mx == mn ? 1.0f : (mx - mn) / 255.0f;
        float zf = nearbyintf(0.0f - mn / s);
        int z = (int)(zf < 0.0f ? 0.0f : zf > 255.0f ? 255.0f : zf);

        ob_model *m = ob_new(13);
        ob_input(m, "x", LOOM_DTYPE_FLOAT, 1, &n);
        ob_output(m, "y", LOOM_DTYPE_UINT8);
        ob_output(m, "s", LOOM_DTYPE_FLOAT);
        ob_output(m, "z", LOOM_DTYPE_UINT8);
        ob_add_node(m, "DynamicQuantizeLinear", "x", "y,s,z");
        loom_context *ctx;
        assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
        loom_model *model = lm_load_ok(ctx, m, "dql.onnx");
        loom_tensor *in, *out[3];
        assert_int_equal(
            loom_tensor_wrap(LOOM_DTYPE_FLOAT, 1, &n, x, sizeof(float) * (size_t)n, &in), LOOM_OK);
        assert_int_equal(loom_model_run(model, &in, 1, out, 3), LOOM_OK);
        float got_s = *(const float *)loom_tensor_data(out[1]);
        assert_memory_equal(&got_s, &s, sizeof(float));
        assert_int_equal(*(const uint8_t *)loom_tensor_data(out[2]), z);
        const uint8_t *q = loom_tensor_data(out[0]);
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] / s;
            v = v > 0.0f - (float)z ? v : 0.0f - (float)z; /* NaN takes the low end */
            v = v < 255.0f - (float)z ? v : 255.0f - (float)z;
            assert_int_equal(q[i], (int)nearbyintf(v) + z);
        }
        loom_tensor_destroy(in);
        for (int o = 0; o < 3; o++)
            loom_tensor_destroy(out[o]);
        loom_model_destroy(model);
        loom_context_destroy(ctx);
    }
}

/* x [2,3,4,5] -> Q -> DQ -> @op -> Q -> DQ -> y, both quantizers alike: the
 * op runs on the 8-bit tensor. @block adds the float result as an output,
 * which keeps the float graph. */
static ob_model *move_model(bool block, const char *op, int xdt)
{
    int64_t xd[4] = {2, 3, 4, 5}, perm[4] = {0, 2, 3, 1}, shape[2] = {6, 20}, sd[1] = {2};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 4, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    if (block)
        ob_output(m, "f", LOOM_DTYPE_FLOAT);
    qparams(m, "s", 0.021f, "z", xdt, xdt == LOOM_DTYPE_INT8 ? -5 : 131);
    ob_add_node(m, "QuantizeLinear", "x,s,z", "q1");
    ob_add_node(m, "DequantizeLinear", "q1,s,z", "d1");
    if (!strcmp(op, "Transpose")) {
        ob_attr_ints(m, ob_add_node(m, "Transpose", "d1", "f"), "perm", 4, perm);
    } else {
        ob_init_raw(m, "shape", LOOM_DTYPE_INT64, 1, sd, shape, sizeof(shape));
        ob_add_node(m, "Reshape", "d1,shape", "f");
    }
    ob_add_node(m, "QuantizeLinear", "f,s,z", "q2");
    ob_add_node(m, "DequantizeLinear", "q2,s,z", "y");
    return m;
}

/* Transpose and Reshape between quantizers that agree run on the 8-bit
 * tensor, with the float graph's bytes. */
static void qdq_movement_runs_on_8_bits(void **state)
{
    (void)state;
    static float x[120];
    int64_t xd[4] = {2, 3, 4, 5};
    for (int i = 0; i < 120; i++)
        x[i] = frand() * 3.0f;
    loom_tensor *in;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, xd, x, sizeof(x), &in), LOOM_OK);
    static const char *const ops[] = {"Transpose", "Reshape"};
    for (int k = 0; k < 2; k++)
        for (int dt = LOOM_DTYPE_UINT8; dt <= LOOM_DTYPE_INT8; dt++)
            assert_matches_float_graph(move_model(false, ops[k], dt), move_model(true, ops[k], dt),
                                       1, &in, 1);
    loom_tensor_destroy(in);
}

/* Like assert_matches_float_graph, for rewrites whose integer arithmetic is
 * exact where the float graph rounds (a GEMM's sums): y may differ by one
 * quantization step @step, and only in a few elements. @want_plain: the
 * rewrites still made in the float graph (the ones before the blocked one). */
static void assert_within_step(ob_model *fused_m, ob_model *plain_m, int n_in, loom_tensor **in,
                               int want_fused, int want_plain, float step)
{
    size_t n1, n2;
    int f1, f2;
    float *fused = run(fused_m, n_in, in, 1, &n1, &f1);
    float *plain = run(plain_m, n_in, in, 2, &n2, &f2);
    assert_int_equal(f1, want_fused);
    assert_int_equal(f2, want_plain);
    assert_int_equal(n1, n2);
    size_t n = n1 / sizeof(float), off = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(fused[i] - plain[i]);
        if (d > step * 1.001f)
            fail_msg("y[%zu] = %g, float graph %g: more than a step (%g) apart", i, fused[i],
                     plain[i], step);
        off += d != 0.0f;
    }
    if (off * 20 > n)
        fail_msg("%zu of %zu outputs a step off the float graph", off, n);
    free(fused);
    free(plain);
}

/*
 * Attention's two matmuls as ONNX Runtime's quantize_static writes them:
 * a [2,5,3,8] and b [2,6,3,8] ([batch, seq, heads, dim]) quantized, Transposed
 * on the 8-bit tensor between quantizers that agree (a to [2,3,5,8], b to
 * [2,3,8,6], K^T), then DQ(a) x DQ(b) -> Q -> DQ. @bcast gives b one batch
 * ([1,6,3,8]), broadcast over a's. 3 rewrites: the two transposes and the matmul.
 */
static ob_model *attn_model(bool block, int adt, int bdt, int ydt, bool bcast)
{
    int64_t ad[4] = {2, 5, 3, 8}, bd[4] = {bcast ? 1 : 2, 6, 3, 8};
    int64_t pa[4] = {0, 2, 1, 3}, pb[4] = {0, 2, 3, 1};
    ob_model *m = ob_new(13);
    ob_input(m, "a", LOOM_DTYPE_FLOAT, 4, ad);
    ob_input(m, "b", LOOM_DTYPE_FLOAT, 4, bd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    if (block)
        ob_output(m, "f", LOOM_DTYPE_FLOAT);
    bool as = adt == LOOM_DTYPE_INT8, bs = bdt == LOOM_DTYPE_INT8, ys = ydt == LOOM_DTYPE_INT8;
    qparams(m, "sa", 0.017f, "za", adt, as ? 4 : 118);
    qparams(m, "sb", 0.023f, "zb", bdt, bs ? 0 : 131);
    qparams(m, "sy", 0.041f, "zy", ydt, ys ? -3 : 127);
    ob_add_node(m, "QuantizeLinear", "a,sa,za", "qa");
    ob_add_node(m, "DequantizeLinear", "qa,sa,za", "da");
    ob_attr_ints(m, ob_add_node(m, "Transpose", "da", "ta"), "perm", 4, pa);
    ob_add_node(m, "QuantizeLinear", "ta,sa,za", "qta");
    ob_add_node(m, "DequantizeLinear", "qta,sa,za", "dta");
    ob_add_node(m, "QuantizeLinear", "b,sb,zb", "qb");
    ob_add_node(m, "DequantizeLinear", "qb,sb,zb", "db");
    ob_attr_ints(m, ob_add_node(m, "Transpose", "db", "tb"), "perm", 4, pb);
    ob_add_node(m, "QuantizeLinear", "tb,sb,zb", "qtb");
    ob_add_node(m, "DequantizeLinear", "qtb,sb,zb", "dtb");
    ob_add_node(m, "MatMul", "dta,dtb", "f");
    ob_add_node(m, "QuantizeLinear", "f,sy,zy", "qy");
    ob_add_node(m, "DequantizeLinear", "qy,sy,zy", "y");
    return m;
}

/* DQ(activation) x DQ(activation) -> Q becomes QLinearMatMul for every
 * signedness pair, batched and broadcast, within a step of the float graph. */
static void qdq_attention_matmul_runs_on_8_bits(void **state)
{
    (void)state;
    static float a[240], b[288];
    for (int i = 0; i < 240; i++)
        a[i] = frand();
    for (int i = 0; i < 288; i++)
        b[i] = frand() * 1.25f;
    static const int pairs[4][3] = {{LOOM_DTYPE_UINT8, LOOM_DTYPE_UINT8, LOOM_DTYPE_UINT8},
                                    {LOOM_DTYPE_UINT8, LOOM_DTYPE_INT8, LOOM_DTYPE_UINT8},
                                    {LOOM_DTYPE_INT8, LOOM_DTYPE_INT8, LOOM_DTYPE_INT8},
                                    {LOOM_DTYPE_INT8, LOOM_DTYPE_UINT8, LOOM_DTYPE_INT8}};
    for (int bc = 0; bc < 2; bc++)
        for (int p = 0; p < 4; p++) {
            int64_t ad[4] = {2, 5, 3, 8}, bd[4] = {bc ? 1 : 2, 6, 3, 8};
            loom_tensor *in[2];
            assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, ad, a, sizeof(a), &in[0]),
                             LOOM_OK);
            assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, bd, b,
                                              (size_t)(bd[0] * 144) * sizeof(float), &in[1]),
                             LOOM_OK);
            const int *t = pairs[p];
            assert_within_step(attn_model(false, t[0], t[1], t[2], bc),
                               attn_model(true, t[0], t[1], t[2], bc), 2, in, 3, 2, 0.041f);
            loom_tensor_destroy(in[0]);
            loom_tensor_destroy(in[1]);
        }
}

/*
 * GELU as ONNX Runtime's quantize_static writes it after a QDQ'd layer output
 * h [2,3,70]: DQ(h) / 1.4142 -> Erf -> Q -> DQ -> + DQ(1) -> Q -> DQ ->
 * DQ(h) * . -> Q -> DQ -> * DQ(0.5) -> Q -> DQ -> y. The whole chain is one
 * function of h's byte: one loom.QLut. @block exports the Add's float output
 * too, which keeps that Add from becoming loom.QDQAdd; the reference runs it
 * with LOOM_QDQ_NO_TABLES=1, so it is the float graph.
 */
static ob_model *gelu_model(bool block, int hdt, int ydt)
{
    int64_t hd[3] = {2, 3, 70};
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 3, hd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    if (block)
        ob_output(m, "f", LOOM_DTYPE_FLOAT);
    bool hs = hdt == LOOM_DTYPE_INT8, ys = ydt == LOOM_DTYPE_INT8;
    qparams(m, "sh", 0.031f, "zh", hdt, hs ? -9 : 119);
    qparams(m, "se", 0.0078f, "ze", LOOM_DTYPE_UINT8, 128);
    qparams(m, "sa", 0.0079f, "za", LOOM_DTYPE_UINT8, 0);
    qparams(m, "sm", 0.027f, "zm", LOOM_DTYPE_UINT8, 10);
    qparams(m, "sy", 0.0137f, "zy", ydt, ys ? -100 : 12);
    qparams(m, "sc", 0.0039f, "zc", LOOM_DTYPE_UINT8, 0);
    uint8_t one = 255, half = 128;
    ob_init_raw(m, "c1", LOOM_DTYPE_UINT8, 0, NULL, &one, 1);
    ob_init_raw(m, "c05", LOOM_DTYPE_UINT8, 0, NULL, &half, 1);
    float sqrt2 = 1.4142135f;
    ob_init_f32(m, "r2", 0, NULL, &sqrt2);
    ob_add_node(m, "QuantizeLinear", "x,sh,zh", "h");
    ob_add_node(m, "DequantizeLinear", "h,sh,zh", "dh");
    ob_add_node(m, "Div", "dh,r2", "dv");
    ob_add_node(m, "Erf", "dv", "e");
    ob_add_node(m, "QuantizeLinear", "e,se,ze", "qe");
    ob_add_node(m, "DequantizeLinear", "qe,se,ze", "de");
    ob_add_node(m, "DequantizeLinear", "c1,sc,zc", "d1");
    ob_add_node(m, "Add", "de,d1", "f");
    ob_add_node(m, "QuantizeLinear", "f,sa,za", "qa");
    ob_add_node(m, "DequantizeLinear", "qa,sa,za", "da");
    ob_add_node(m, "Mul", "dh,da", "mu");
    ob_add_node(m, "QuantizeLinear", "mu,sm,zm", "qm");
    ob_add_node(m, "DequantizeLinear", "qm,sm,zm", "dm");
    ob_add_node(m, "DequantizeLinear", "c05,sc,zc", "d05");
    ob_add_node(m, "Mul", "dm,d05", "g");
    ob_add_node(m, "QuantizeLinear", "g,sy,zy", "qy");
    ob_add_node(m, "DequantizeLinear", "qy,sy,zy", "y");
    return m;
}

/* The quantized GELU becomes one table with the float graph's bytes; the
 * sizes reach the table kernel's 64-byte steps and their tail. */
static void qdq_gelu_becomes_a_table(void **state)
{
    (void)state;
    static float x[420];
    int64_t hd[3] = {2, 3, 70};
    for (int i = 0; i < 420; i++)
        x[i] = frand() * 4.0f;
    loom_tensor *in;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, hd, x, sizeof(x), &in), LOOM_OK);
    static const int types[3][2] = {{LOOM_DTYPE_UINT8, LOOM_DTYPE_UINT8},
                                    {LOOM_DTYPE_INT8, LOOM_DTYPE_UINT8},
                                    {LOOM_DTYPE_UINT8, LOOM_DTYPE_INT8}};
    for (int t = 0; t < 3; t++) {
        size_t n1, n2;
        int f1, f2;
        float *fused = run(gelu_model(false, types[t][0], types[t][1]), 1, &in, 1, &n1, &f1);
        lm_test_setenv("LOOM_QDQ_NO_TABLES", "1");
        float *plain = run(gelu_model(true, types[t][0], types[t][1]), 1, &in, 2, &n2, &f2);
        lm_test_setenv("LOOM_QDQ_NO_TABLES", NULL);
        assert_int_equal(f1, 1);
        assert_int_equal(f2, 0);
        assert_int_equal(n1, n2);
        assert_memory_equal(fused, plain, n1);
        free(fused);
        free(plain);
    }
    loom_tensor_destroy(in);
}

/* loom.QLut itself against t[byte of x], u8 and s8 inputs, lengths around the
 * 64-byte vector step and the 4096-byte parallel block. */
static void qlut_kernel_matches_lookup(void **state)
{
    (void)state;
    static const int64_t lens[] = {1, 63, 64, 65, 4096 + 17, 3 * 4096 + 100};
    static uint8_t x[3 * 4096 + 100], table[256];
    for (int i = 0; i < 256; i++)
        table[i] = (uint8_t)(i * 97 + 13);
    for (size_t i = 0; i < sizeof(x); i++)
        x[i] = (uint8_t)(frand() * 128.0f + 128.0f);
    for (int dt = LOOM_DTYPE_UINT8; dt <= LOOM_DTYPE_INT8; dt++)
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            int64_t n = lens[l], td = 256;
            ob_model *m = ob_new(13);
            ob_opset(m, "loom", 1);
            ob_input(m, "x", dt, 1, &n);
            ob_output(m, "y", LOOM_DTYPE_INT8);
            ob_init_raw(m, "t", LOOM_DTYPE_INT8, 1, &td, table, 256);
            ob_node_domain(m, ob_add_node(m, "QLut", "x,t", "y"), "loom");
            loom_context *ctx;
            assert_int_equal(loom_context_create(NULL, &ctx), LOOM_OK);
            loom_model *model = lm_load_ok(ctx, m, "qlut.onnx");
            loom_tensor *in, *y = NULL;
            assert_int_equal(loom_tensor_wrap(dt, 1, &n, x, (size_t)n, &in), LOOM_OK);
            assert_int_equal(loom_model_run(model, &in, 1, &y, 1), LOOM_OK);
            const uint8_t *got = loom_tensor_data(y);
            for (int64_t i = 0; i < n; i++)
                if (got[i] != table[x[i]])
                    fail_msg("len %lld: y[%lld] = %u, want table[%u] = %u", (long long)n,
                             (long long)i, got[i], x[i], table[x[i]]);
            loom_tensor_destroy(y);
            loom_tensor_destroy(in);
            loom_model_destroy(model);
            loom_context_destroy(ctx);
        }
}

/*
 * A Linear layer as ONNX Runtime's quantize_dynamic writes it: x [2,5,40]
 * -> DynamicQuantizeLinear -> MatMulInteger with W [40,24] (@w_signed) ->
 * Cast(float) -> Mul(x_scale * W_scale) [-> Add(bias) with @bias]. W_scale
 * is one value or, with @per_col, one per column. @block exports the Cast's
 * output too, which keeps the graph as written.
 */
static ob_model *dyn_model(bool block, bool w_signed, bool per_col, bool bias)
{
    int64_t xd[3] = {2, 5, 40}, wd[2] = {40, 24}, nd[1] = {24};
    static int8_t w[960];
    static float ws[24], b[24];
    for (int i = 0; i < 960; i++)
        w[i] = (int8_t)(frand() * 120.0f + (w_signed ? 0.0f : 128.0f));
    for (int i = 0; i < 24; i++) {
        ws[i] = 0.003f + 0.0004f * (float)i;
        b[i] = frand();
    }
    int wdt = w_signed ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8;
    uint8_t wz = w_signed ? 0 : 128;
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_FLOAT, 3, xd);
    ob_output(m, "y", LOOM_DTYPE_FLOAT);
    if (block)
        ob_output(m, "f", LOOM_DTYPE_FLOAT);
    ob_init_raw(m, "w", wdt, 2, wd, w, sizeof(w));
    ob_init_raw(m, "wz", wdt, 0, NULL, &wz, 1);
    ob_init_f32(m, "ws", per_col ? 1 : 0, per_col ? nd : NULL, ws);
    ob_init_f32(m, "b", 1, nd, b);
    ob_add_node(m, "DynamicQuantizeLinear", "x", "xq,xs,xz");
    ob_add_node(m, "Mul", "xs,ws", "s");
    ob_add_node(m, "MatMulInteger", "xq,w,xz,wz", "acc");
    ob_attr_int(m, ob_add_node(m, "Cast", "acc", "f"), "to", LOOM_DTYPE_FLOAT);
    ob_add_node(m, "Mul", "f,s", bias ? "mm" : "y");
    if (bias)
        ob_add_node(m, "Add", "b,mm", "y");
    return m;
}

/* The dynamic-quantization tail runs in the GEMM's epilogue with the
 * unfused graph's bytes: weights either signedness, per-tensor or
 * per-column scales, with and without a bias. */
static void qdq_dynamic_matmul_scales_in_epilogue(void **state)
{
    (void)state;
    static float x[400];
    int64_t xd[3] = {2, 5, 40};
    for (int i = 0; i < 400; i++)
        x[i] = frand() * 3.0f;
    loom_tensor *in;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, xd, x, sizeof(x), &in), LOOM_OK);
    for (int c = 0; c < 8; c++) {
        bool ws = c & 1, pc = c & 2, bias = c & 4;
        uint32_t seed = rng_state;
        ob_model *fused = dyn_model(false, ws, pc, bias);
        rng_state = seed;
        assert_matches_float_graph(fused, dyn_model(true, ws, pc, bias), 1, &in, 1);
    }
    loom_tensor_destroy(in);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(qdq_movement_runs_on_8_bits),
    cmocka_unit_test(qdq_add_matches_float_graph),
    cmocka_unit_test(qdq_attention_matmul_runs_on_8_bits),
    cmocka_unit_test(qdq_gelu_becomes_a_table),
    cmocka_unit_test(qlut_kernel_matches_lookup),
    cmocka_unit_test(qdq_dynamic_matmul_scales_in_epilogue),
    cmocka_unit_test(qdq_maxpool_matches_float_graph),
    cmocka_unit_test(maxpool_on_8_bits_matches_float),
    cmocka_unit_test(quantize_edges_match_formula),
    cmocka_unit_test(dynamic_quantize_matches_formula),
};

LM_TEST_MAIN(tests)
