/*
 * test_gemm.c - every SGEMM micro-kernel this CPU can run, against a naive
 * double-precision reference.
 *
 * Cases follow XNNPACK's generated edge cases: M, N and K equal to, below,
 * above and multiples of each kernel's tile and block sizes; row strides
 * larger than the width (with sentinels in the gaps that must survive);
 * alpha/beta including beta = 0 over NaN; both transpose flags; K = 0;
 * prepacked operands; and the fused bias/activation epilogue.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/gemm.h"
#include "cpu/qgemm.h"
#include "cpu/qgemm_ukernel.h"
#include "core/threadpool.h"
#include "lib/onnx_builder.h"
#include "lib/test_main.h"
#include "loom/loom.h"

#define SENTINEL 12345.0f

typedef struct gcase {
    bool ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    int64_t pad; /* extra elements per row of A, B and C */
    int pack;    /* bit 0: prepack A, bit 1: prepack B */
    int bias;    /* 0 none, 1 per row, 2 per column */
    lm_act act;
} gcase;

static uint32_t rng_state = 12345;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static float act_ref(const lm_act *a, float v)
{
    lm_act_apply(a, &v, 1);
    return v;
}

/* Runs one case with @cfg (parallel when @pool) and checks every element of
 * C, including the sentinels between rows. Returns the number of mismatches. */
static int run_case(const lm_sgemm_config *cfg, lm_threadpool *pool, const gcase *c)
{
    int64_t ar = c->ta ? c->K : c->M, ac = c->ta ? c->M : c->K;
    int64_t br = c->tb ? c->N : c->K, bc = c->tb ? c->K : c->N;
    int64_t lda = ac + c->pad, ldb = bc + c->pad, ldc = c->N + c->pad;
    float *A = malloc(sizeof(float) * (size_t)(ar * lda + 1));
    float *B = malloc(sizeof(float) * (size_t)(br * ldb + 1));
    float *C = malloc(sizeof(float) * (size_t)(c->M * ldc + 1));
    float *C0 = malloc(sizeof(float) * (size_t)(c->M * ldc + 1));
    /* Per-row bias values at bias[0..M), per-column ones at bias[M..M+N). */
    float *bias = malloc(sizeof(float) * (size_t)(c->M + c->N + 1));
    for (int64_t i = 0; i < ar * lda; i++)
        A[i] = frand();
    for (int64_t i = 0; i < br * ldb; i++)
        B[i] = frand();
    for (int64_t i = 0; i < c->M + c->N; i++)
        bias[i] = frand();
    for (int64_t i = 0; i < c->M; i++)
        for (int64_t j = 0; j < ldc; j++)
            C0[i * ldc + j] = j >= c->N ? SENTINEL : c->beta == 0.0f ? NAN : frand();
    memcpy(C, C0, sizeof(float) * (size_t)(c->M * ldc));

    lm_sgemm_packed *pa = NULL, *pb = NULL;
    if (c->pack & 1)
        pa = lm_sgemm_pack_a_cfg(cfg, c->ta, c->M, c->K, A, lda);
    if (c->pack & 2)
        pb = lm_sgemm_pack_b_cfg(cfg, c->tb, c->K, c->N, B, ldb);
    lm_sgemm_args g = {.trans_a = c->ta,
                       .trans_b = c->tb,
                       .M = c->M,
                       .N = c->N,
                       .K = c->K,
                       .alpha = c->alpha,
                       .beta = c->beta,
                       .A = A,
                       .lda = lda,
                       .pa = pa,
                       .B = B,
                       .ldb = ldb,
                       .pb = pb,
                       .C = C,
                       .ldc = ldc,
                       .bias = !c->bias       ? NULL
                               : c->bias == 2 ? bias + c->M
                                              : bias,
                       .bias_per_col = c->bias == 2,
                       .act = c->act};
    if (pool) {
        lm_kctx k = {.pool = pool};
        /* The parallel entry uses the packed operand's config, or the default. */
        lm_sgemm_run_parallel(&k, &g);
    } else {
        lm_sgemm_run_cfg(cfg, &g);
    }

    int bad = 0;
    for (int64_t i = 0; i < c->M; i++) {
        for (int64_t j = 0; j < ldc; j++) {
            float got = C[i * ldc + j];
            if (j >= c->N) {
                if (got != SENTINEL && bad++ < 3)
                    print_error("sentinel overwritten at (%lld,%lld)\n", (long long)i,
                                (long long)j);
                continue;
            }
            double acc = 0, mag = 0;
            for (int64_t p = 0; p < c->K; p++) {
                double a = c->ta ? A[p * lda + i] : A[i * lda + p];
                double b = c->tb ? B[j * ldb + p] : B[p * ldb + j];
                acc += a * b;
                mag += fabs(a * b);
            }
            double ref = c->alpha * acc;
            if (c->beta != 0.0f)
                ref += c->beta * (double)C0[i * ldc + j];
            if (c->bias)
                ref += c->bias == 2 ? bias[c->M + j] : bias[i];
            float want = act_ref(&c->act, (float)ref);
            double tol = 1e-5 * (fabs(c->alpha) * mag + fabs(ref) + 1.0);
            if (!(fabs((double)got - (double)want) <= tol) && bad++ < 3)
                print_error("%s M=%lld N=%lld K=%lld ta=%d tb=%d pack=%d: C[%lld,%lld] = %g, "
                            "want %g\n",
                            cfg->name, (long long)c->M, (long long)c->N, (long long)c->K, c->ta,
                            c->tb, c->pack, (long long)i, (long long)j, got, want);
        }
    }
    lm_sgemm_packed_free(pa);
    lm_sgemm_packed_free(pb);
    free(A);
    free(B);
    free(C);
    free(C0);
    free(bias);
    return bad;
}

static void sizes_around(int64_t t, int64_t *out, int *n)
{
    int64_t v[] = {1, t - 1, t, t + 1, 2 * t, 3 * t - 1};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] >= 1)
            out[(*n)++] = v[i];
}

/* M and N around the register tile, for each transpose pair and pack mode. */
static void tile_edges(void **state)
{
    (void)state;
    for (const lm_sgemm_config *const *cp = lm_sgemm_available_configs(); *cp; cp++) {
        const lm_sgemm_config *cfg = *cp;
        int64_t ms[8], ns[8];
        int nm = 0, nn = 0;
        sizes_around(cfg->mr, ms, &nm);
        sizes_around(cfg->nr, ns, &nn);
        int bad = 0;
        for (int t = 0; t < 4; t++)
            for (int a = 0; a < nm; a++)
                for (int b = 0; b < nn; b++) {
                    gcase c = {.ta = t & 1,
                               .tb = (t >> 1) & 1,
                               .M = ms[a],
                               .N = ns[b],
                               .K = 17,
                               .alpha = 1.0f,
                               .beta = 0.0f,
                               .pad = 3,
                               .pack = (a + b + t) % 4};
                    bad += run_case(cfg, NULL, &c);
                }
        assert_int_equal(bad, 0);
    }
}

/* K around the k block (and 0, 1), M and N around the cache blocks. */
static void block_edges(void **state)
{
    (void)state;
    for (const lm_sgemm_config *const *cp = lm_sgemm_available_configs(); *cp; cp++) {
        const lm_sgemm_config *cfg = *cp;
        int bad = 0;
        int64_t ks[] = {0, 1, 2, cfg->kc - 1, cfg->kc, cfg->kc + 1, 2 * cfg->kc + 5};
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
            for (int pack = 0; pack < 4; pack++) {
                gcase c = {.M = cfg->mr + 3,
                           .N = cfg->nr * 2 + 5,
                           .K = ks[i],
                           .alpha = 1.0f,
                           .beta = 0.0f,
                           .pad = 1,
                           .pack = pack,
                           .tb = pack == 2};
                bad += run_case(cfg, NULL, &c);
            }
        gcase big_m = {.M = cfg->mc + cfg->mr + 1, .N = 9, .K = 33, .alpha = 1.0f, .pack = 1};
        bad += run_case(cfg, NULL, &big_m);
        gcase big_n = {.M = 5, .N = cfg->nc + cfg->nr + 3, .K = 20, .alpha = 1.0f, .pack = 2};
        bad += run_case(cfg, NULL, &big_n);
        gcase all = {.M = cfg->mc + 7, .N = cfg->nc + 9, .K = cfg->kc + 3, .alpha = 1.0f};
        bad += run_case(cfg, NULL, &all);
        /* Rows of A 2 KiB apart (lda = 512) are packed instead of read in place. */
        gcase a512 = {.M = 30, .N = 40, .K = 509, .alpha = 1.0f, .pad = 3};
        bad += run_case(cfg, NULL, &a512);
        gcase a512t = {.ta = true, .M = 509, .N = 20, .K = 30, .alpha = 1.0f, .pad = 3};
        bad += run_case(cfg, NULL, &a512t);
        /* ... except a few rows (a batch-1 Linear layer), read in place */
        gcase a512r = {.M = 2, .N = 40, .K = 509, .alpha = 1.0f, .pad = 3};
        bad += run_case(cfg, NULL, &a512r);
        assert_int_equal(bad, 0);
    }
}

/* alpha and beta, beta = 0 over NaN, beta = 1 accumulating, K = 0 scaling. */
static void alpha_beta(void **state)
{
    (void)state;
    float ab[][2] = {{1, 0}, {1, 1}, {-0.5f, 0}, {2, 0.5f}, {0, 0.25f}, {0.75f, -1}};
    for (const lm_sgemm_config *const *cp = lm_sgemm_available_configs(); *cp; cp++) {
        int bad = 0;
        for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++)
            for (int64_t K = 0; K <= 300; K += 150) {
                gcase c = {.M = 13,
                           .N = 37,
                           .K = K,
                           .alpha = ab[i][0],
                           .beta = ab[i][1],
                           .pad = 2,
                           .pack = (int)i % 4};
                bad += run_case(*cp, NULL, &c);
            }
        assert_int_equal(bad, 0);
    }
}

/* Bias per row / per column and every fused activation, over split K. */
static void epilogues(void **state)
{
    (void)state;
    lm_act acts[] = {{LM_ACT_NONE, 0, 0},
                     {LM_ACT_RELU, 0, 0},
                     {LM_ACT_CLIP, -0.5f, 0.75f},
                     {LM_ACT_LEAKY_RELU, 0.1f, 0},
                     {LM_ACT_HARD_SIGMOID, 0.2f, 0.5f},
                     {LM_ACT_HARD_SWISH, 0, 0},
                     {LM_ACT_SIGMOID, 0, 0}};
    for (const lm_sgemm_config *const *cp = lm_sgemm_available_configs(); *cp; cp++) {
        const lm_sgemm_config *cfg = *cp;
        int bad = 0;
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
            for (int bias = 0; bias < 3; bias++)
                for (int64_t K = 0; K <= cfg->kc + 9; K += cfg->kc + 9) {
                    gcase c = {.M = cfg->mr + 1,
                               .N = cfg->nr + 3,
                               .K = K,
                               .alpha = 1.0f,
                               .beta = bias == 1 ? 0.5f : 0.0f,
                               .pad = 1,
                               .pack = bias,
                               .bias = bias,
                               .act = acts[a]};
                    bad += run_case(cfg, NULL, &c);
                }
        assert_int_equal(bad, 0);
    }
}

/* The parallel entry, both split directions, plain and prepacked. */
static void parallel_split(void **state)
{
    (void)state;
    lm_threadpool *pool;
    assert_int_equal(lm_threadpool_create(2, NULL, &pool), LOOM_OK);
    const lm_sgemm_config *cfg = lm_sgemm_default_config();
    int64_t shapes[][3] = {{200, 70, 90}, {20, 700, 64}, {1, 1000, 300}, {300, 1, 200}};
    int bad = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int pack = 0; pack < 4; pack++) {
            gcase c = {.M = shapes[s][0],
                       .N = shapes[s][1],
                       .K = shapes[s][2],
                       .alpha = 1.0f,
                       .beta = pack == 3 ? 1.0f : 0.0f,
                       .pad = 4,
                       .pack = pack,
                       .tb = pack == 1,
                       .bias = pack % 3,
                       .act = {LM_ACT_RELU, 0, 0}};
            bad += run_case(cfg, pool, &c);
        }
    lm_threadpool_destroy(pool);
    assert_int_equal(bad, 0);
}

/* The BLAS-like wrapper keeps its contract (M or N = 0 is a no-op). */
static void blas_wrapper(void **state)
{
    (void)state;
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, C[4] = {NAN, NAN, NAN, NAN};
    lm_sgemm(false, false, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    assert_float_equal(C[0], 4.0f, 1e-6);
    assert_float_equal(C[1], 5.0f, 1e-6);
    assert_float_equal(C[2], 10.0f, 1e-6);
    assert_float_equal(C[3], 11.0f, 1e-6);
    lm_sgemm(false, false, 0, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    assert_float_equal(C[0], 4.0f, 0);
    assert_non_null(lm_sgemm_default_config()->name);
}

/* A context on the CPU only: these tests are about the CPU kernels, and the
 * default ("auto") would hand nodes to an accelerator if one is present. */
static loom_context *cpu_context(void)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "cpu";
    loom_context *ctx = NULL;
    assert_int_equal(loom_context_create(&o, &ctx), LOOM_OK);
    return ctx;
}

/* ---- fused epilogues through the operators --------------------------------- */

typedef struct fuse_case {
    const char *op;    /* "Conv", "Conv/g2", "Conv/dw", "Gemm", "MatMul" */
    const char *act;   /* fused activation op type */
    float alpha, beta; /* its parameters, when it has them */
} fuse_case;

static void fill_f32(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = scale * frand();
}

/*
 * The node @fc->op with constant weights, followed by the activation either as
 * its own node (@fused false) or folded into _loom_act/_loom_alpha/_loom_beta
 * as the graph pass does (@fused true). Returns the output for a fixed input.
 */
static float *run_fuse_model(const fuse_case *fc, bool fused, int64_t *count)
{
    ob_model *m = ob_new(13);
    int64_t xd[4], wd[4], bd[1];
    int xr;
    bool conv = strncmp(fc->op, "Conv", 4) == 0;
    int64_t group = strcmp(fc->op, "Conv/g2") == 0 ? 2 : strcmp(fc->op, "Conv/dw") == 0 ? 4 : 1;
    if (conv) {
        int64_t x4[4] = {1, 4, 7, 9}, w4[4] = {group == 4 ? 4 : 6, 4 / group, 3, 3};
        memcpy(xd, x4, sizeof x4);
        memcpy(wd, w4, sizeof w4);
        xr = 4;
        bd[0] = wd[0];
    } else if (strcmp(fc->op, "Gemm") == 0) {
        int64_t x2[2] = {5, 20}, w2[2] = {13, 20}; /* transB = 1, like a Linear */
        memcpy(xd, x2, sizeof x2);
        memcpy(wd, w2, sizeof w2);
        xr = 2;
        bd[0] = 13;
    } else {
        int64_t x3[3] = {2, 5, 20}, w2[2] = {20, 13};
        memcpy(xd, x3, sizeof x3);
        memcpy(wd, w2, sizeof w2);
        xr = 3;
        bd[0] = 0;
    }
    int wr = conv ? 4 : 2;
    int64_t wn = 1, xn = 1;
    for (int i = 0; i < wr; i++)
        wn *= wd[i];
    for (int i = 0; i < xr; i++)
        xn *= xd[i];
    float w[1024], b[16], x[1024];
    rng_state = 777;
    fill_f32(w, wn, 0.5f);
    fill_f32(b, bd[0], 1.0f);
    fill_f32(x, xn, 2.0f);
    ob_input(m, "x", 1, xr, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w", wr, wd, w);
    const char *out = fused ? "y" : "t";
    ob_node *n;
    if (conv) {
        ob_init_f32(m, "b", 1, bd, b);
        n = ob_add_node(m, "Conv", "x,w,b", out);
        int64_t pads[4] = {1, 1, 1, 1};
        ob_attr_ints(m, n, "pads", 4, pads);
        ob_attr_int(m, n, "group", group);
    } else if (strcmp(fc->op, "Gemm") == 0) {
        ob_init_f32(m, "b", 1, bd, b);
        n = ob_add_node(m, "Gemm", "x,w,b", out);
        ob_attr_int(m, n, "transB", 1);
    } else {
        n = ob_add_node(m, "MatMul", "x,w", out);
    }
    if (fused) {
        ob_attr_str(m, n, "_loom_act", fc->act);
        if (strcmp(fc->act, "Clip") == 0 || strcmp(fc->act, "LeakyRelu") == 0 ||
            strcmp(fc->act, "HardSigmoid") == 0)
            ob_attr_float(m, n, "_loom_alpha", fc->alpha);
        if (strcmp(fc->act, "Clip") == 0 || strcmp(fc->act, "HardSigmoid") == 0)
            ob_attr_float(m, n, "_loom_beta", fc->beta);
    } else if (strcmp(fc->act, "Clip") == 0) {
        ob_init_f32(m, "lo", 0, NULL, &fc->alpha);
        ob_init_f32(m, "hi", 0, NULL, &fc->beta);
        ob_add_node(m, "Clip", "t,lo,hi", "y");
    } else {
        ob_node *a = ob_add_node(m, fc->act, "t", "y");
        if (strcmp(fc->act, "LeakyRelu") == 0 || strcmp(fc->act, "HardSigmoid") == 0)
            ob_attr_float(m, a, "alpha", fc->alpha);
        if (strcmp(fc->act, "HardSigmoid") == 0)
            ob_attr_float(m, a, "beta", fc->beta);
    }
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    loom_context *ctx;
    loom_model *model = NULL;
    ctx = cpu_context();
    loom_status st = loom_model_load_memory(ctx, buf, len, "fuse.onnx", &model);
    if (st)
        print_error("%s\n", loom_last_error());
    assert_int_equal(st, LOOM_OK);
    free(buf);
    ob_free(m);
    loom_tensor *in, *y;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, xr, xd, x, sizeof(float) * (size_t)xn, &in),
                     LOOM_OK);
    st = loom_model_run(model, &in, 1, &y, 1);
    if (st)
        print_error("%s\n", loom_last_error());
    assert_int_equal(st, LOOM_OK);
    *count = loom_tensor_count(y);
    float *res = malloc(sizeof(float) * (size_t)*count);
    memcpy(res, loom_tensor_data(y), sizeof(float) * (size_t)*count);
    loom_tensor_destroy(y);
    loom_tensor_destroy(in);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    return res;
}

/* Conv (dense, grouped, depthwise), Gemm and MatMul with each fused
 * activation give what the unfused pair gives. */
static void fused_ops_match_unfused(void **state)
{
    (void)state;
    const char *ops[] = {"Conv", "Conv/g2", "Conv/dw", "Gemm", "MatMul"};
    fuse_case acts[] = {{NULL, "Relu", 0, 0},
                        {NULL, "Clip", 0.0f, 6.0f},
                        {NULL, "Clip", -0.5f, 0.5f},
                        {NULL, "LeakyRelu", 0.1f, 0},
                        {NULL, "HardSigmoid", 0.2f, 0.5f},
                        {NULL, "HardSwish", 0, 0},
                        {NULL, "Sigmoid", 0, 0}};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            fuse_case fc = acts[a];
            fc.op = ops[o];
            int64_t n1, n2;
            float *want = run_fuse_model(&fc, false, &n1);
            float *got = run_fuse_model(&fc, true, &n2);
            assert_int_equal(n1, n2);
            for (int64_t i = 0; i < n1; i++)
                if (fabsf(got[i] - want[i]) > 1e-5f * (1.0f + fabsf(want[i]))) {
                    print_error("%s + %s: y[%lld] = %g, want %g\n", fc.op, fc.act, (long long)i,
                                got[i], want[i]);
                    fail();
                }
            free(want);
            free(got);
        }
}

/* ---- int8 GEMM: every SIMD kernel bit-exact with the reference ------------- */

/* One qgemm case on a sub-tile [m0,m1) x [n0,n1) of an M x N product with
 * padded strides; returns the number of mismatching or clobbered elements. */
static int run_qcase_packed(const lm_qgemm_config *cfg, int64_t M, int64_t N, int64_t K, bool as,
                            bool bs, int zp_mode, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                            int pack)
{
    int64_t lda = K + 3, ldb = N + 5, ldc = N + 2;
    uint8_t *A = malloc((size_t)(M * lda + 1)), *B = malloc((size_t)(K * ldb + 1));
    int32_t *C = malloc(sizeof(int32_t) * (size_t)(M * ldc + 1));
    int32_t *R = malloc(sizeof(int32_t) * (size_t)(M * ldc + 1));
    int32_t *azp = malloc(sizeof(int32_t) * (size_t)(M + 1));
    int32_t *bzp = malloc(sizeof(int32_t) * (size_t)(N + 1));
    for (int64_t i = 0; i < M * lda; i++)
        A[i] = (uint8_t)(frand() * 128.0f + 128.0f);
    for (int64_t i = 0; i < K * ldb; i++)
        B[i] = (uint8_t)(frand() * 128.0f + 128.0f);
    for (int64_t i = 0; i < M; i++)
        azp[i] = as ? (int32_t)(frand() * 100.0f) : (int32_t)(frand() * 100.0f + 128.0f);
    for (int64_t i = 0; i < N; i++)
        bzp[i] = bs ? (int32_t)(frand() * 100.0f) : (int32_t)(frand() * 100.0f + 128.0f);
    for (int64_t i = 0; i < M * ldc; i++)
        C[i] = R[i] = 0x5A5A5A5A;
    lm_qgemm_params p = {.m = M,
                         .n = N,
                         .k = K,
                         .a = A,
                         .lda = lda,
                         .a_signed = as,
                         .b = B,
                         .ldb = ldb,
                         .b_signed = bs,
                         .c = C,
                         .ldc = ldc,
                         /* 0: none, 1: single values, 2: per row and per column */
                         .a_zp = zp_mode ? azp : NULL,
                         .a_zp_per_row = zp_mode == 2,
                         .b_zp = zp_mode ? bzp : NULL,
                         .b_zp_per_col = zp_mode == 2};
    lm_qgemm_packed *pa = pack & 1 ? lm_qgemm_pack_a(A, lda, as, M, K) : NULL;
    lm_qgemm_packed *pb = pack & 2 ? lm_qgemm_pack_b(B, ldb, bs, K, N) : NULL;
    p.pa = pa;
    p.pb = pb;
    lm_qgemm_tile_cfg(cfg, &p, m0, m1, n0, n1);
    lm_qgemm_packed_free(pa);
    lm_qgemm_packed_free(pb);
    p.pa = p.pb = NULL;
    p.c = R;
    lm_qgemm_ref_tile(&p, m0, m1, n0, n1);
    int bad = 0;
    for (int64_t i = 0; i < M * ldc; i++)
        if (C[i] != R[i] && bad++ < 3)
            print_error("%s M=%lld N=%lld K=%lld as=%d bs=%d zp=%d: C[%lld] = %d, want %d\n",
                        cfg ? cfg->name : "ref", (long long)M, (long long)N, (long long)K, as, bs,
                        zp_mode, (long long)i, C[i], R[i]);
    free(A);
    free(B);
    free(C);
    free(R);
    free(azp);
    free(bzp);
    return bad;
}

static int run_qcase(const lm_qgemm_config *cfg, int64_t M, int64_t N, int64_t K, bool as, bool bs,
                     int zp_mode, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    return run_qcase_packed(cfg, M, N, K, as, bs, zp_mode, m0, m1, n0, n1, 0);
}

/* Prepacked A and/or B (the default kernel's), over tiles that start on and
 * off panel boundaries (the latter fall back to packing). */
static void qgemm_prepacked(void **state)
{
    (void)state;
    const lm_qgemm_config *cfg = lm_qgemm_available_configs()[0];
    if (!cfg)
        skip();
    int bad = 0;
    for (int pack = 1; pack < 4; pack++)
        for (int t = 0; t < 4; t++) {
            bad += run_qcase_packed(cfg, 50, 70, 1100, t & 1, t >> 1, 2, 0, 50, 0, 70, pack);
            bad +=
                run_qcase_packed(cfg, 50, 70, 33, t & 1, t >> 1, 1, cfg->mr, 41, cfg->nr, 69, pack);
            bad += run_qcase_packed(cfg, 50, 70, 9, t & 1, t >> 1, 1, 3, 50, 5, 70, pack);
        }
    assert_int_equal(bad, 0);
}

static void qgemm_bit_exact(void **state)
{
    (void)state;
    for (const lm_qgemm_config *const *cp = lm_qgemm_available_configs(); *cp; cp++) {
        const lm_qgemm_config *cfg = *cp;
        int bad = 0;
        int64_t ms[] = {1, cfg->mr - 1, cfg->mr, cfg->mr + 1, 3 * cfg->mr + 2};
        int64_t ns[] = {1, cfg->nr - 1, cfg->nr, cfg->nr + 1, 2 * cfg->nr + 7};
        int64_t ks[] = {0, 1, 3, 4, 5, 63, cfg->kc, cfg->kc + 6};
        for (int t = 0; t < 4; t++)
            for (int zp = 0; zp < 3; zp++)
                for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
                    for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
                        int64_t K = ks[(a + b + (size_t)t) % (sizeof ks / sizeof ks[0])];
                        bad +=
                            run_qcase(cfg, ms[a], ns[b], K, t & 1, t >> 1, zp, 0, ms[a], 0, ns[b]);
                    }
        /* Sub-tiles, and blocks bigger than the cache blocks. */
        bad += run_qcase(cfg, 40, 90, 37, false, true, 2, 5, 33, 7, 80);
        bad += run_qcase(cfg, cfg->mc + 5, cfg->nc + 9, 70, true, false, 1, 0, cfg->mc + 5, 0,
                         cfg->nc + 9);
        assert_int_equal(bad, 0);
    }
}

/* ---- int8 GEMM with the 8-bit output stage == int32 GEMM + quant.c's formula */

typedef struct rqcase {
    int64_t M, N, K;
    bool as, bs, y_signed, per_col, bias;
    int zp_mode; /* run_qcase's, and 3: per row/column arrays of one value */
    int64_t m0, m1, n0, n1;
    int pack; /* bit 0: prepack A, bit 1: prepack B */
} rqcase;

/* Mismatches of the tile [m0,m1) x [n0,n1) of y, and bytes outside it that
 * changed, against quant.c's formula on the reference's int32 sums. */
static int run_rqcase(const lm_qgemm_config *cfg, const rqcase *q)
{
    int64_t M = q->M, N = q->N, K = q->K, lda = K + 3, ldb = N + 5, ldc = N + 2, ldy = N + 7;
    uint8_t *A = malloc((size_t)(M * lda + 1)), *B = malloc((size_t)(K * ldb + 1));
    int32_t *C = malloc(sizeof(int32_t) * (size_t)(M * ldc + 1));
    uint8_t *Y = malloc((size_t)(M * ldy + 1));
    int64_t nch = q->per_col ? N : M;
    float *mult = malloc(sizeof(float) * (size_t)nch);
    int32_t *bias = malloc(sizeof(int32_t) * (size_t)nch);
    int32_t *azp = malloc(sizeof(int32_t) * (size_t)(M + 1)),
            *bzp = malloc(sizeof(int32_t) * (size_t)(N + 1));
    for (int64_t i = 0; i < M * lda; i++)
        A[i] = (uint8_t)(frand() * 128.0f + 128.0f);
    for (int64_t i = 0; i < K * ldb; i++)
        B[i] = (uint8_t)(frand() * 128.0f + 128.0f);
    for (int64_t i = 0; i < M; i++)
        azp[i] = (q->as ? 0 : 128) + (q->zp_mode == 3 ? 5 : (int32_t)(frand() * 100.0f));
    for (int64_t i = 0; i < N; i++)
        bzp[i] = (q->bs ? 0 : 128) + (q->zp_mode == 3 ? -7 : (int32_t)(frand() * 100.0f));
    /* multipliers that put most values inside the range, some clamped */
    for (int64_t c = 0; c < nch; c++) {
        mult[c] = (1.0f + frand()) / (float)(K > 0 ? 40 * K : 1);
        bias[c] = (int32_t)(frand() * 3000.0f);
    }
    memset(Y, 0xA5, (size_t)(M * ldy + 1));
    int32_t yzp = q->y_signed ? -3 : 121;
    lm_qgemm_requant rq = {.y = Y,
                           .ldy = ldy,
                           .y_signed = q->y_signed,
                           .per_col = q->per_col,
                           .bias = q->bias ? bias : NULL,
                           .mult = mult,
                           .lo = (q->y_signed ? -128.0f : 0.0f) - (float)yzp,
                           .hi = (q->y_signed ? 127.0f : 255.0f) - (float)yzp,
                           .zp = yzp};
    lm_qgemm_params p = {.m = M,
                         .n = N,
                         .k = K,
                         .a = A,
                         .lda = lda,
                         .a_signed = q->as,
                         .b = B,
                         .ldb = ldb,
                         .b_signed = q->bs,
                         .c = C,
                         .ldc = ldc,
                         .a_zp = q->zp_mode ? azp : NULL,
                         .a_zp_per_row = q->zp_mode >= 2,
                         .b_zp = q->zp_mode ? bzp : NULL,
                         .b_zp_per_col = q->zp_mode >= 2,
                         .rq = &rq};
    lm_qgemm_packed *pa = q->pack & 1 ? lm_qgemm_pack_a(A, lda, q->as, M, K) : NULL;
    lm_qgemm_packed *pb = q->pack & 2 ? lm_qgemm_pack_b(B, ldb, q->bs, K, N) : NULL;
    p.pa = pa;
    p.pb = pb;
    lm_qgemm_tile_cfg(cfg, &p, q->m0, q->m1, q->n0, q->n1);
    lm_qgemm_packed_free(pa);
    lm_qgemm_packed_free(pb);
    p.pa = p.pb = NULL;
    p.rq = NULL;
    lm_qgemm_ref_tile(&p, q->m0, q->m1, q->n0, q->n1);
    int bad = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldy; j++) {
            int32_t got = q->y_signed ? (int8_t)Y[i * ldy + j] : Y[i * ldy + j];
            int32_t want = (int8_t)0xA5;
            if (!q->y_signed)
                want = 0xA5;
            if (i >= q->m0 && i < q->m1 && j >= q->n0 && j < q->n1) {
                int64_t ch = q->per_col ? j : i;
                int32_t acc = C[i * ldc + j] + (q->bias ? bias[ch] : 0);
                float v = nearbyintf((float)acc * mult[ch]) + (float)yzp;
                float lo = q->y_signed ? -128.0f : 0.0f, hi = q->y_signed ? 127.0f : 255.0f;
                want = (int32_t)(v < lo ? lo : v > hi ? hi : v);
            }
            if (got != want && bad++ < 3)
                print_error("%s M=%lld N=%lld K=%lld: y[%lld][%lld] = %d, want %d\n",
                            cfg ? cfg->name : "ref", (long long)M, (long long)N, (long long)K,
                            (long long)i, (long long)j, got, want);
        }
    free(A);
    free(B);
    free(C);
    free(Y);
    free(mult);
    free(bias);
    free(azp);
    free(bzp);
    return bad;
}

/* Every config (the AVX2 one requantizing from C in the driver) and the
 * reference: per row and per column, 8-bit types, zero-point forms (one
 * value, per row/column, arrays of one value), K over several blocks,
 * sub-tiles and prepacked operands. */
static void qgemm_requant_bit_exact(void **state)
{
    (void)state;
    const lm_qgemm_config *const *cfgs = lm_qgemm_available_configs();
    int bad = 0;
    for (int c = -1; c < 0 || cfgs[c]; c++) {
        const lm_qgemm_config *cfg = c < 0 ? NULL : cfgs[c];
        int mr = cfg ? cfg->mr : 4, nr = cfg ? cfg->nr : 16, kc = cfg ? cfg->kc : 64;
        for (int t = 0; t < 16; t++) {
            int zp = t % 4;
            rqcase q = {.M = 3 * mr + 5,
                        .N = 2 * nr + 9,
                        .K = t < 8 ? 19 + t : kc + 37,
                        .as = t & 1,
                        .bs = (t >> 1) & 1,
                        .y_signed = (t >> 2) & 1,
                        .per_col = (t >> 3) & 1,
                        .bias = t != 5,
                        .zp_mode = zp};
            q.m0 = 0, q.m1 = q.M, q.n0 = 0, q.n1 = q.N;
            bad += run_rqcase(cfg, &q);
            q.m0 = 2, q.m1 = q.M - 3, q.n0 = 5, q.n1 = q.N - 1;
            bad += run_rqcase(cfg, &q);
        }
        rqcase one = {.M = 1, .N = 1, .K = 1, .y_signed = true, .bias = true, .zp_mode = 1};
        one.m1 = one.n1 = 1;
        bad += run_rqcase(cfg, &one);
        rqcase k0 = {.M = 5, .N = 7, .K = 0, .per_col = true, .bias = true};
        k0.m1 = 5, k0.n1 = 7;
        bad += run_rqcase(cfg, &k0);
    }
    /* the default config's packed weights, on and off panel boundaries */
    for (int pack = 1; pack < 4; pack++) {
        rqcase q = {
            .M = 50, .N = 70, .K = 33, .as = true, .bias = true, .zp_mode = 1, .pack = pack};
        q.m1 = 50, q.n1 = 70;
        bad += run_rqcase(cfgs[0], &q);
        q.m0 = 3, q.n0 = 5;
        bad += run_rqcase(cfgs[0], &q);
    }
    assert_int_equal(bad, 0);
}

/* ---- int8 operators: packed constant weights == weights fed at run time ---- */

/*
 * QLinearConv / ConvInteger / QLinearMatMul / MatMulInteger with W either an
 * initializer (packed once per plan) or a graph input (packed per run); both
 * must give identical bytes. Returns a malloc'd copy of the output.
 */
static uint8_t q_model_x[1024];
static int8_t q_model_w[4096];
/* QLinearMatMul's b_scale: per column ("ws", 0.01 + 0.001 j) instead of one value. */
static bool q_model_per_col;

/* The inputs it used stay in q_model_x / q_model_w for reference checks. */
static void *run_q_model(const char *op, bool w_const, size_t *bytes)
{
    bool conv = strstr(op, "Conv") != NULL, qlinear = strncmp(op, "QLinear", 7) == 0;
    int64_t xd[4] = {1, 6, 9, 11}, wd[4] = {32, 3, 3, 3}; /* conv: group 2 */
    int64_t mxd[3] = {2, 7, 45}, mwd[2] = {45, 70};
    int xr = conv ? 4 : 3, wr = conv ? 4 : 2;
    const int64_t *xdims = conv ? xd : mxd, *wdims = conv ? wd : mwd;
    int64_t xn = 1, wn = 1;
    for (int i = 0; i < xr; i++)
        xn *= xdims[i];
    for (int i = 0; i < wr; i++)
        wn *= wdims[i];
    uint8_t *x = q_model_x;
    int8_t *w = q_model_w;
    rng_state = 99;
    for (int64_t i = 0; i < xn; i++)
        x[i] = (uint8_t)(frand() * 127.0f + 128.0f);
    for (int64_t i = 0; i < wn; i++)
        w[i] = (int8_t)(frand() * 127.0f);
    ob_model *m = ob_new(13);
    ob_input(m, "x", LOOM_DTYPE_UINT8, xr, xdims);
    if (w_const)
        ob_init_raw(m, "w", LOOM_DTYPE_INT8, wr, wdims, w, (size_t)wn);
    else
        ob_input(m, "w", LOOM_DTYPE_INT8, wr, wdims);
    ob_output(m, "y", qlinear ? LOOM_DTYPE_UINT8 : LOOM_DTYPE_INT32);
    float xs = 0.02f, ys = 0.5f, wsv[70];
    uint8_t xz = 120, yz = 100;
    int8_t wz = 0;
    int32_t bias[70];
    for (int i = 0; i < 70; i++) {
        wsv[i] = 0.01f + 0.001f * (float)i;
        bias[i] = i * 37 - 500;
    }
    ob_init_f32(m, "xs", 0, NULL, &xs);
    ob_init_f32(m, "ys", 0, NULL, &ys);
    ob_init_raw(m, "xz", LOOM_DTYPE_UINT8, 0, NULL, &xz, 1);
    ob_init_raw(m, "yz", LOOM_DTYPE_UINT8, 0, NULL, &yz, 1);
    ob_init_raw(m, "wz", LOOM_DTYPE_INT8, 0, NULL, &wz, 1);
    int64_t nch[1] = {conv ? 32 : 70};
    ob_init_f32(m, "ws", 1, nch, wsv);
    ob_init_raw(m, "b", LOOM_DTYPE_INT32, 1, nch, bias, sizeof(int32_t) * (size_t)nch[0]);
    int8_t wzc[70] = {0};
    ob_init_raw(m, "wzc", LOOM_DTYPE_INT8, 1, nch, wzc, (size_t)nch[0]);
    ob_node *n;
    if (strcmp(op, "QLinearConv") == 0)
        n = ob_add_node(m, op, "x,xs,xz,w,ws,wz,ys,yz,b", "y");
    else if (strcmp(op, "ConvInteger") == 0)
        n = ob_add_node(m, op, "x,w,xz,wz", "y");
    else if (strcmp(op, "QLinearMatMul") == 0 && q_model_per_col)
        n = ob_add_node(m, op, "x,xs,xz,w,ws,wzc,ys,yz", "y");
    else if (strcmp(op, "QLinearMatMul") == 0)
        n = ob_add_node(m, op, "x,xs,xz,w,xs,wz,ys,yz", "y");
    else
        n = ob_add_node(m, op, "x,w,xz,wz", "y");
    if (conv) {
        int64_t pads[4] = {1, 0, 1, 2};
        ob_attr_ints(m, n, "pads", 4, pads);
        ob_attr_int(m, n, "group", 2);
    }
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    loom_context *ctx;
    loom_model *model = NULL;
    ctx = cpu_context();
    loom_status st = loom_model_load_memory(ctx, buf, len, "q.onnx", &model);
    if (st)
        print_error("%s\n", loom_last_error());
    assert_int_equal(st, LOOM_OK);
    free(buf);
    ob_free(m);
    loom_tensor *in[2], *y;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_UINT8, xr, xdims, x, (size_t)xn, &in[0]), LOOM_OK);
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_INT8, wr, wdims, w, (size_t)wn, &in[1]), LOOM_OK);
    st = loom_model_run(model, in, w_const ? 1 : 2, &y, 1);
    if (st)
        print_error("%s\n", loom_last_error());
    assert_int_equal(st, LOOM_OK);
    *bytes = loom_tensor_size(y);
    void *res = malloc(*bytes);
    memcpy(res, loom_tensor_data(y), *bytes);
    loom_tensor_destroy(y);
    loom_tensor_destroy(in[0]);
    loom_tensor_destroy(in[1]);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    return res;
}

static void q_ops_prepacked_weights(void **state)
{
    (void)state;
    const char *ops[] = {"QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n1, n2;
        void *packed = run_q_model(ops[i], true, &n1);
        void *plain = run_q_model(ops[i], false, &n2);
        assert_int_equal(n1, n2);
        if (memcmp(packed, plain, n1) != 0) {
            print_error("%s: prepacked weights change the result\n", ops[i]);
            fail();
        }
        free(packed);
        free(plain);
    }
}

/* ---- depthwise convolution: vector rows and edges vs a naive loop ---------- */

static void depthwise_case(int64_t k, int64_t stride, int64_t pad_l, int64_t pad_r, int64_t W)
{
    const int64_t C = 3, H = 9;
    int64_t xd[4] = {1, C, H, W}, wd[4] = {C, 1, k, k}, bd[1] = {C};
    float x[3 * 9 * 80], w[3 * 25], b[3];
    rng_state = 4242;
    fill_f32(x, C * H * W, 1.0f);
    fill_f32(w, C * k * k, 1.0f);
    fill_f32(b, C, 1.0f);
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    ob_output(m, "y", 1);
    ob_init_f32(m, "w", 4, wd, w);
    ob_init_f32(m, "b", 1, bd, b);
    ob_node *n = ob_add_node(m, "Conv", "x,w,b", "y");
    int64_t pads[4] = {pad_l, pad_l, pad_r, pad_r}, strides[2] = {stride, stride};
    ob_attr_ints(m, n, "pads", 4, pads);
    ob_attr_ints(m, n, "strides", 2, strides);
    ob_attr_int(m, n, "group", C);
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    loom_context *ctx;
    loom_model *model = NULL;
    ctx = cpu_context();
    assert_int_equal(loom_model_load_memory(ctx, buf, len, "dw.onnx", &model), LOOM_OK);
    free(buf);
    ob_free(m);
    loom_tensor *in, *y;
    assert_int_equal(
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, xd, x, sizeof(float) * (size_t)(C * H * W), &in),
        LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, &y, 1), LOOM_OK);
    const int64_t *yd = loom_tensor_dims(y);
    int64_t OH = (H + pad_l + pad_r - k) / stride + 1, OW = (W + pad_l + pad_r - k) / stride + 1;
    assert_int_equal(yd[2], OH);
    assert_int_equal(yd[3], OW);
    const float *yp = loom_tensor_data(y);
    int bad = 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double acc = b[c], mag = fabs(b[c]); /* mag: sum of |terms| */
                for (int64_t kh = 0; kh < k; kh++)
                    for (int64_t kw = 0; kw < k; kw++) {
                        int64_t ih = oh * stride - pad_l + kh, iw = ow * stride - pad_l + kw;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                            double t = (double)x[(c * H + ih) * W + iw] * w[(c * k + kh) * k + kw];
                            acc += t;
                            mag += fabs(t);
                        }
                    }
                float got = yp[(c * OH + oh) * OW + ow];
                if (!(fabs((double)got - acc) <= 1e-6 * (1.0 + fabs(acc)) + 1e-6 * mag) &&
                    bad++ < 3)
                    print_error("k=%lld s=%lld pad=%lld/%lld W=%lld: y[%lld,%lld,%lld] = %g, want "
                                "%g\n",
                                (long long)k, (long long)stride, (long long)pad_l, (long long)pad_r,
                                (long long)W, (long long)c, (long long)oh, (long long)ow, got, acc);
            }
    loom_tensor_destroy(y);
    loom_tensor_destroy(in);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    assert_int_equal(bad, 0);
}

/* 3x3 and 5x5, stride 1 and 2, with and without padding, at widths that give
 * zero, one and several 16-wide vectors plus edges; within rounding of a
 * double-precision loop (the blocked kernel uses fused multiply-adds). */
static void depthwise_vector_rows(void **state)
{
    (void)state;
    int64_t widths[] = {7, 17, 20, 37, 50, 80};
    for (int64_t k = 3; k <= 5; k += 2)
        for (int64_t s = 1; s <= 2; s++)
            for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
                depthwise_case(k, s, k / 2, k / 2, widths[i]);
                depthwise_case(k, s, 0, 0, widths[i]);
                depthwise_case(k, s, 1, 0, widths[i]);
            }
}

/* ---- Winograd F(2x2, 3x3) vs the im2col GEMM --------------------------------- */

static float *run_conv3x3(int64_t C, int64_t M, int64_t H, int64_t W, int64_t pad, bool w_const,
                          const char *act, int64_t *count)
{
    int64_t xd[4] = {2, C, H, W}, wd[4] = {M, C, 3, 3}, bd[1] = {M};
    int64_t xn = 2 * C * H * W, wn = M * C * 9;
    float *x = malloc(sizeof(float) * (size_t)xn), *w = malloc(sizeof(float) * (size_t)wn);
    float *b = malloc(sizeof(float) * (size_t)M);
    rng_state = 31337;
    fill_f32(x, xn, 1.0f);
    fill_f32(w, wn, 0.2f);
    fill_f32(b, M, 1.0f);
    ob_model *m = ob_new(13);
    ob_input(m, "x", 1, 4, xd);
    if (w_const)
        ob_init_f32(m, "w", 4, wd, w);
    else
        ob_input(m, "w", 1, 4, wd);
    ob_init_f32(m, "b", 1, bd, b);
    ob_output(m, "y", 1);
    ob_node *n = ob_add_node(m, "Conv", "x,w,b", "y");
    int64_t pads[4] = {pad, pad, pad, pad};
    ob_attr_ints(m, n, "pads", 4, pads);
    if (act)
        ob_attr_str(m, n, "_loom_act", act);
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    loom_context *ctx;
    loom_model *model = NULL;
    ctx = cpu_context();
    assert_int_equal(loom_model_load_memory(ctx, buf, len, "wino.onnx", &model), LOOM_OK);
    free(buf);
    ob_free(m);
    loom_tensor *in[2], *y;
    assert_int_equal(
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, xd, x, sizeof(float) * (size_t)xn, &in[0]), LOOM_OK);
    assert_int_equal(
        loom_tensor_wrap(LOOM_DTYPE_FLOAT, 4, wd, w, sizeof(float) * (size_t)wn, &in[1]), LOOM_OK);
    assert_int_equal(loom_model_run(model, in, w_const ? 1 : 2, &y, 1), LOOM_OK);
    *count = loom_tensor_count(y);
    float *res = malloc(sizeof(float) * (size_t)*count);
    memcpy(res, loom_tensor_data(y), sizeof(float) * (size_t)*count);
    loom_tensor_destroy(y);
    loom_tensor_destroy(in[0]);
    loom_tensor_destroy(in[1]);
    loom_model_destroy(model);
    loom_context_destroy(ctx);
    free(x);
    free(w);
    free(b);
    return res;
}

/* F(2x2) and F(4x4); odd and even output sizes, widths past 16 tiles,
 * padding 0 and 1, packed and unpacked weights, a fused activation:
 * Winograd agrees with im2col. */
static void winograd_matches_im2col(void **state)
{
    (void)state;
    /* C, M, H, W, pad: F(2x2) below 16 x 16 outputs, F(4x4) from there.
     * Rows of 4-18 tiles and 34-72 columns: the transforms' partial stores
     * of 1-3, 4-7, 8-15 and 16 lanes. */
    int64_t cases[][5] = {{16, 16, 10, 10, 1}, {17, 24, 9, 13, 0},  {32, 20, 12, 70, 1},
                          {16, 33, 40, 35, 1}, {24, 16, 33, 19, 1}, {16, 20, 18, 130, 0},
                          {16, 16, 17, 18, 0}, {16, 16, 10, 34, 1}, {16, 20, 16, 70, 1},
                          {20, 16, 8, 8, 0}};
    int bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int wc = 0; wc < 2; wc++) {
            const char *act = c == 2 ? "Relu" : NULL;
            int64_t n1, n2;
            lm_test_setenv("LOOM_CONV_NO_WINOGRAD", NULL);
            float *wino = run_conv3x3(cases[c][0], cases[c][1], cases[c][2], cases[c][3],
                                      cases[c][4], wc, act, &n1);
            lm_test_setenv("LOOM_CONV_NO_WINOGRAD", "1");
            float *ref = run_conv3x3(cases[c][0], cases[c][1], cases[c][2], cases[c][3],
                                     cases[c][4], wc, act, &n2);
            lm_test_setenv("LOOM_CONV_NO_WINOGRAD", NULL);
            assert_int_equal(n1, n2);
            for (int64_t i = 0; i < n1; i++)
                if (!(fabsf(wino[i] - ref[i]) <= 1e-4f * (1.0f + fabsf(ref[i]))) && bad++ < 3)
                    print_error("case %zu w_const %d: y[%lld] = %g, im2col %g\n", c, wc,
                                (long long)i, wino[i], ref[i]);
            free(wino);
            free(ref);
        }
    assert_int_equal(bad, 0);
}

/* QLinearMatMul against the formula in quant.c's header, element by element:
 * rows of 70 outputs run through the vector requantization (16 lanes) and its
 * scalar tail; the scales make outputs saturate on both sides. With
 * @per_col, b_scale has one value per column (per-channel weights), which
 * takes the per-column multipliers. */
static void requant_case(bool per_col)
{
    size_t bytes;
    q_model_per_col = per_col;
    uint8_t *y = run_q_model("QLinearMatMul", true, &bytes);
    q_model_per_col = false;
    const int64_t B = 2, M = 7, K = 45, N = 70;
    assert_int_equal(bytes, (size_t)(B * M * N));
    const float a_s = 0.02f, y_s = 0.5f;
    const int32_t a_zp = 120, y_zp = 100;
    int bad = 0;
    for (int64_t t = 0; t < B; t++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                float b_s = per_col ? 0.01f + 0.001f * (float)j : 0.02f;
                float mult = a_s * b_s / y_s;
                int32_t acc = 0;
                for (int64_t p = 0; p < K; p++)
                    acc += ((int32_t)q_model_x[(t * M + i) * K + p] - a_zp) *
                           (int32_t)q_model_w[p * N + j];
                float v = nearbyintf((float)acc * mult) + (float)y_zp;
                v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
                uint8_t want = (uint8_t)v, got = y[(t * M + i) * N + j];
                if (got != want && bad++ < 3)
                    print_error("per_col %d: y[%lld,%lld,%lld] = %u, want %u (acc %d)\n", per_col,
                                (long long)t, (long long)i, (long long)j, got, want, acc);
            }
    free(y);
    assert_int_equal(bad, 0);
}

static void qlinear_requant_matches_formula(void **state)
{
    (void)state;
    requant_case(false);
    requant_case(true);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tile_edges),
    cmocka_unit_test(block_edges),
    cmocka_unit_test(alpha_beta),
    cmocka_unit_test(epilogues),
    cmocka_unit_test(parallel_split),
    cmocka_unit_test(blas_wrapper),
    cmocka_unit_test(fused_ops_match_unfused),
    cmocka_unit_test(qgemm_bit_exact),
    cmocka_unit_test(qgemm_prepacked),
    cmocka_unit_test(qgemm_requant_bit_exact),
    cmocka_unit_test(q_ops_prepacked_weights),
    cmocka_unit_test(qlinear_requant_matches_formula),
    cmocka_unit_test(depthwise_vector_rows),
    cmocka_unit_test(winograd_matches_im2col),
};

LM_TEST_MAIN(tests)
