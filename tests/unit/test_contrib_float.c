/* test_contrib_float.c - ONNX Runtime's com.microsoft float operators
 * against reference loops, for the forms the optimized BERT test model
 * (tests/models/optimize_bert.py, `make models`) does not reach: FastGelu's
 * bias, QuickGelu's alpha, BiasAdd, Gelu; SkipLayerNormalization without
 * beta and with its bias and optional outputs, the RMS norms; FusedMatMul's
 * transposes (of batches too), alpha and batch broadcast; Attention's mask
 * forms, causal mask and refused forms; EmbedLayerNormalization's segments
 * and sum, position_ids; skip broadcast over the batch; the biases
 * core/fuse_contrib.c moves into a MatMul. */
#include <math.h>
#include <string.h>

#include "core/fuse.h"
#include "lib/test_main.h"

#define F32   1
#define INT32 6

LM_TEST_DEFAULT_CONTEXT

/* A deterministic float in [-1.5, 1.5). */
static float val(int i)
{
    return (float)((i * 7919 + 13) % 300) / 100.0f - 1.5f;
}

static void fill(float *x, int n, int seed)
{
    for (int i = 0; i < n; i++)
        x[i] = val(i + seed * 101);
}

/* Runs @model on one float input and returns its first @n_out outputs. */
static void run1(loom_model *model, int rank, const int64_t *dims, float *x, size_t n,
                 loom_tensor **out, int n_out)
{
    loom_tensor *in;
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, rank, dims, x, n * sizeof(float), &in),
                     LOOM_OK);
    loom_status s = loom_model_run(model, &in, 1, out, (size_t)n_out);
    if (s)
        print_error("%s\n", loom_last_error());
    assert_int_equal(s, LOOM_OK);
    loom_tensor_destroy(in);
}

static void expect_near(loom_tensor *t, const double *ref, int n, double tol)
{
    const float *y = loom_tensor_data(t);
    for (int i = 0; i < n; i++)
        assert_float_equal(y[i], ref[i], tol);
}

static ob_model *ms_model(void)
{
    ob_model *m = ob_new(13);
    ob_opset(m, "com.microsoft", 1);
    return m;
}

static ob_node *ms_node(ob_model *m, const char *op, const char *in, const char *out)
{
    return ob_node_domain(m, ob_add_node(m, op, in, out), "com.microsoft");
}

/* ---- activations ----------------------------------------------------------- */

static void activations_match_the_reference(void **state)
{
    (void)state;
    enum { R = 3, C = 5 };
    int64_t dc[1] = {C};
    float x[R * C], b[C], s[R * C];
    fill(x, R * C, 0);
    fill(b, C, 1);
    fill(s, R * C, 2);
    int64_t d3[3] = {1, R, C};
    ob_model *m = ms_model();
    ob_input(m, "x", F32, 3, d3);
    ob_init_f32(m, "b", 1, dc, b);
    ob_init_f32(m, "s", 3, d3, s);
    const char *outs[] = {"fast", "quick", "badd", "gelu"};
    for (int i = 0; i < 4; i++)
        ob_output(m, outs[i], F32);
    ms_node(m, "FastGelu", "x,b", "fast");
    ob_attr_float(m, ms_node(m, "QuickGelu", "x", "quick"), "alpha", 1.5f);
    ms_node(m, "BiasAdd", "x,b,s", "badd");
    ms_node(m, "Gelu", "x", "gelu");
    loom_model *model = lm_load_ok(ctx, m, "act");
    loom_tensor *out[4];
    run1(model, 3, d3, x, R * C, out, 4);
    double fast[R * C], quick[R * C], badd[R * C], gelu[R * C];
    for (int i = 0; i < R * C; i++) {
        double v = (double)x[i] + b[i % C], u = x[i];
        fast[i] = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        quick[i] = u / (1 + exp(-1.5 * u));
        badd[i] = v + s[i];
        gelu[i] = 0.5 * u * (1 + erf(u / sqrt(2)));
    }
    expect_near(out[0], fast, R * C, 1e-5);
    expect_near(out[1], quick, R * C, 1e-5);
    expect_near(out[2], badd, R * C, 1e-5);
    expect_near(out[3], gelu, R * C, 1e-5);
    for (int i = 0; i < 4; i++)
        loom_tensor_destroy(out[i]);
    loom_model_destroy(model);
}

/* MatMul -> FastGelu(., b) and MatMul -> SkipLayerNormalization(..., b): the
 * biases move into the MatMuls (core/fuse_contrib.c), the FastGelu becoming
 * the GEMM's tanh-GELU epilogue; results stay ORT's. */
static void biases_move_into_the_matmul(void **state)
{
    (void)state;
    enum { R = 3, K = 4, C = 5 };
    int64_t dx[2] = {R, K}, dw[2] = {K, C}, dy[2] = {R, C}, dc[1] = {C};
    float x[R * K], w[K * C], b[C], s[R * C], g[C], b2[C];
    fill(x, R * K, 20);
    fill(w, K * C, 21);
    fill(b, C, 22);
    fill(s, R * C, 23);
    fill(g, C, 24);
    fill(b2, C, 25);
    ob_model *m = ms_model();
    ob_input(m, "x", F32, 2, dx);
    ob_init_f32(m, "w", 2, dw, w);
    ob_init_f32(m, "b", 1, dc, b);
    ob_init_f32(m, "s", 2, dy, s);
    ob_init_f32(m, "g", 1, dc, g);
    ob_init_f32(m, "b2", 1, dc, b2);
    ob_output(m, "gelu", F32);
    ob_output(m, "norm", F32);
    ob_add_node(m, "MatMul", "x,w", "mm1");
    ms_node(m, "FastGelu", "mm1,b", "gelu");
    ob_add_node(m, "MatMul", "x,w", "mm2");
    ob_attr_float(m, ms_node(m, "SkipLayerNormalization", "mm2,s,g,,b2", "norm"), "epsilon", 1e-5f);
    loom_model *model = lm_load_ok(ctx, m, "fused");
    assert_int_equal(lm_last_fuse_stats.contrib_biases_fused, 2);
    loom_tensor *out[2];
    run1(model, 2, dx, x, R * K, out, 2);
    double gelu[R * C], norm[R * C];
    for (int r = 0; r < R; r++) {
        double v[C], mu = 0, var = 0;
        for (int c = 0; c < C; c++) {
            double acc = 0;
            for (int q = 0; q < K; q++)
                acc += (double)x[r * K + q] * w[q * C + c];
            double u = acc + b[c];
            gelu[r * C + c] = 0.5 * u * (1 + tanh(sqrt(2 / M_PI) * (u + 0.044715 * u * u * u)));
            v[c] = acc + s[r * C + c] + b2[c];
            mu += v[c] / C;
        }
        for (int c = 0; c < C; c++)
            var += (v[c] - mu) * (v[c] - mu) / C;
        for (int c = 0; c < C; c++)
            norm[r * C + c] = (v[c] - mu) / sqrt(var + 1e-5) * g[c];
    }
    expect_near(out[0], gelu, R * C, 1e-5);
    expect_near(out[1], norm, R * C, 1e-5);
    loom_tensor_destroy(out[0]);
    loom_tensor_destroy(out[1]);
    loom_model_destroy(model);
}

/* ---- norms ----------------------------------------------------------------- */

enum { NR = 4, NH = 6 };

/* v = x + skip + bias; y = LN(v) * g (+ beta) or RMS(v) * g; mean and istd per row. */
static void norm_ref(const float *x, const float *skip, const float *g, const float *beta,
                     const float *bias, bool rms, double *y, double *mean, double *istd,
                     double *sum)
{
    for (int r = 0; r < NR; r++) {
        double v[NH], mu = 0, var = 0;
        for (int i = 0; i < NH; i++) {
            v[i] = (double)x[r * NH + i] + (skip ? skip[r * NH + i] : 0) + (bias ? bias[i] : 0);
            sum[r * NH + i] = v[i];
            mu += v[i] / NH;
        }
        mu = rms ? 0 : mu;
        for (int i = 0; i < NH; i++)
            var += (v[i] - mu) * (v[i] - mu) / NH;
        mean[r] = mu;
        istd[r] = 1 / sqrt(var + 1e-5);
        for (int i = 0; i < NH; i++)
            y[r * NH + i] = (v[i] - mu) * istd[r] * g[i] + (beta ? beta[i] : 0);
    }
}

static void skip_layernorm_optional_inputs_and_outputs(void **state)
{
    (void)state;
    int64_t d[2] = {NR, NH}, dh[1] = {NH};
    float x[NR * NH], s[NR * NH], g[NH], bias[NH];
    fill(x, NR * NH, 3);
    fill(s, NR * NH, 4);
    fill(g, NH, 5);
    fill(bias, NH, 6);
    ob_model *m = ms_model();
    ob_input(m, "x", F32, 2, d);
    ob_init_f32(m, "s", 2, d, s);
    ob_init_f32(m, "g", 1, dh, g);
    ob_init_f32(m, "bias", 1, dh, bias);
    const char *outs[] = {"y", "mean", "istd", "sum", "ry", "rsum", "sy", "sistd"};
    for (int i = 0; i < 8; i++)
        ob_output(m, outs[i], F32);
    /* no beta, a bias, every output */
    ob_attr_float(m, ms_node(m, "SkipLayerNormalization", "x,s,g,,bias", "y,mean,istd,sum"),
                  "epsilon", 1e-5f);
    ob_attr_float(m, ms_node(m, "SkipSimplifiedLayerNormalization", "x,s,g,bias", "ry,,,rsum"),
                  "epsilon", 1e-5f);
    ob_node *n = ob_add_node(m, "SimplifiedLayerNormalization", "x,g", "sy,sistd");
    ob_attr_float(m, n, "epsilon", 1e-5f);
    loom_model *model = lm_load_ok(ctx, m, "skipnorm");
    loom_tensor *out[8];
    run1(model, 2, d, x, NR * NH, out, 8);
    double y[NR * NH], mean[NR], istd[NR], sum[NR * NH];
    norm_ref(x, s, g, NULL, bias, false, y, mean, istd, sum);
    expect_near(out[0], y, NR * NH, 1e-5);
    expect_near(out[1], mean, NR, 1e-5);
    expect_near(out[2], istd, NR, 1e-4);
    expect_near(out[3], sum, NR * NH, 1e-6);
    norm_ref(x, s, g, NULL, bias, true, y, mean, istd, sum);
    expect_near(out[4], y, NR * NH, 1e-5);
    expect_near(out[5], sum, NR * NH, 1e-6);
    norm_ref(x, NULL, g, NULL, NULL, true, y, mean, istd, sum);
    expect_near(out[6], y, NR * NH, 1e-5);
    expect_near(out[7], istd, NR, 1e-4);
    for (int i = 0; i < 8; i++)
        loom_tensor_destroy(out[i]);
    loom_model_destroy(model);
}

/* ---- FusedMatMul ------------------------------------------------------------ */

static void fused_matmul_transposes_and_broadcasts(void **state)
{
    (void)state;
    enum { NB = 2, M = 3, K = 4, N = 5 };
    int64_t da[3] = {NB, K, M}, db[2] = {N, K};
    float a[NB * K * M], b[N * K];
    fill(a, NB * K * M, 7);
    fill(b, N * K, 8);
    ob_model *m = ms_model();
    ob_input(m, "a", F32, 3, da);
    ob_init_f32(m, "b", 2, db, b);
    ob_output(m, "y", F32);
    ob_node *n = ms_node(m, "FusedMatMul", "a,b", "y");
    ob_attr_int(m, n, "transA", 1);
    ob_attr_int(m, n, "transB", 1);
    ob_attr_float(m, n, "alpha", 0.5f);
    loom_model *model = lm_load_ok(ctx, m, "fmm");
    loom_tensor *out;
    run1(model, 3, da, a, NB * K * M, &out, 1);
    assert_int_equal(loom_tensor_rank(out), 3);
    double ref[NB * M * N];
    for (int p = 0; p < NB; p++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int q = 0; q < K; q++)
                    acc += (double)a[(p * K + q) * M + i] * b[j * K + q];
                ref[(p * M + i) * N + j] = 0.5 * acc;
            }
    expect_near(out, ref, NB * M * N, 1e-5);
    loom_tensor_destroy(out);
    loom_model_destroy(model);
}

/* transBatchA reads A [M, P, K] as [P, M, K]; transBatchB and transB read
 * B [N, P, K] as [P, N, K] transposed. */
static void fused_matmul_transposes_batches(void **state)
{
    (void)state;
    enum { P = 2, M = 3, K = 4, N = 5 };
    int64_t da[3] = {M, P, K}, db[3] = {N, P, K};
    float a[M * P * K], b[N * P * K];
    fill(a, M * P * K, 17);
    fill(b, N * P * K, 18);
    ob_model *m = ms_model();
    ob_input(m, "a", F32, 3, da);
    ob_init_f32(m, "b", 3, db, b);
    ob_output(m, "y", F32);
    ob_node *n = ms_node(m, "FusedMatMul", "a,b", "y");
    ob_attr_int(m, n, "transBatchA", 1);
    ob_attr_int(m, n, "transBatchB", 1);
    ob_attr_int(m, n, "transB", 1);
    loom_model *model = lm_load_ok(ctx, m, "fmm_batch");
    loom_tensor *out;
    run1(model, 3, da, a, M * P * K, &out, 1);
    double ref[P * M * N];
    for (int p = 0; p < P; p++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int q = 0; q < K; q++)
                    acc += (double)a[(i * P + p) * K + q] * b[(j * P + p) * K + q];
                ref[(p * M + i) * N + j] = acc;
            }
    expect_near(out, ref, P * M * N, 1e-5);
    loom_tensor_destroy(out);
    loom_model_destroy(model);
}

/* ---- Attention -------------------------------------------------------------- */

enum { AB = 2, AS = 3, AH = 4, AN = 2, AD = AH / AN };

typedef struct mask_form {
    int rank;
    int64_t dims[3];
    int32_t v[AB * AS * AS];
    bool causal;
} mask_form;

/* Key j of query i in batch b is masked under @f (rank 0: none). */
static bool ref_masked(const mask_form *f, int b, int i, int j)
{
    switch (f->rank) {
    case 1:
        return j >= f->v[b] || (f->dims[0] == 2 * AB && j < f->v[AB + b]);
    case 2:
        return f->v[b * AS + j] == 0;
    case 3:
        return f->v[(b * AS + i) * AS + j] == 0;
    default:
        return false;
    }
}

static void attention_ref(const float *x, const float *w, const float *bias, const mask_form *f,
                          double *y)
{
    double qkv[AB * AS * 3 * AH];
    for (int r = 0; r < AB * AS; r++)
        for (int c = 0; c < 3 * AH; c++) {
            double acc = bias[c];
            for (int q = 0; q < AH; q++)
                acc += (double)x[r * AH + q] * w[q * 3 * AH + c];
            qkv[r * 3 * AH + c] = acc;
        }
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < AN; h++)
            for (int i = 0; i < AS; i++) {
                double p[AS], mx = -INFINITY, tot = 0;
                for (int j = 0; j < AS; j++) {
                    double s = 0;
                    for (int e = 0; e < AD; e++)
                        s += qkv[(b * AS + i) * 3 * AH + h * AD + e] *
                             qkv[(b * AS + j) * 3 * AH + AH + h * AD + e];
                    p[j] = s / sqrt(AD) + (ref_masked(f, b, i, j) ? -10000.0 : 0) +
                           (f->causal && j > i ? -10000.0 : 0);
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j < AS; j++)
                    tot += p[j] = exp(p[j] - mx);
                for (int e = 0; e < AD; e++) {
                    double acc = 0;
                    for (int j = 0; j < AS; j++)
                        acc += p[j] / tot * qkv[(b * AS + j) * 3 * AH + 2 * AH + h * AD + e];
                    y[(b * AS + i) * AH + h * AD + e] = acc;
                }
            }
}

static ob_model *attention_model(const float *w, const float *bias, const mask_form *f)
{
    int64_t dx[3] = {AB, AS, AH}, dw[2] = {AH, 3 * AH}, db[1] = {3 * AH};
    ob_model *m = ms_model();
    ob_input(m, "x", F32, 3, dx);
    ob_init_f32(m, "w", 2, dw, w);
    ob_init_f32(m, "bias", 1, db, bias);
    ob_output(m, "y", F32);
    if (f->rank) {
        int64_t n = f->dims[0] * (f->rank > 1 ? f->dims[1] : 1) * (f->rank > 2 ? f->dims[2] : 1);
        ob_init_raw(m, "mask", INT32, f->rank, f->dims, f->v, (size_t)n * sizeof(int32_t));
    }
    ob_node *n = ms_node(m, "Attention", f->rank ? "x,w,bias,mask" : "x,w,bias", "y");
    ob_node_name(m, n, "attn");
    ob_attr_int(m, n, "num_heads", AN);
    if (f->causal)
        ob_attr_int(m, n, "unidirectional", 1);
    return m;
}

static void attention_mask_forms_match_the_reference(void **state)
{
    (void)state;
    float x[AB * AS * AH], w[AH * 3 * AH], bias[3 * AH];
    fill(x, AB * AS * AH, 9);
    fill(w, AH * 3 * AH, 10);
    fill(bias, 3 * AH, 11);
    static const mask_form forms[] = {
        {.rank = 0},
        {.rank = 1, .dims = {AB}, .v = {2, 3}},
        {.rank = 1, .dims = {2 * AB}, .v = {3, 2, 1, 0}},
        {.rank = 2, .dims = {AB, AS}, .v = {1, 0, 1, 1, 1, 0}},
        {.rank = 3,
         .dims = {AB, AS, AS},
         .v = {1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1}},
        {.rank = 2, .dims = {AB, AS}, .v = {1, 1, 0, 1, 1, 1}, .causal = true},
    };
    int64_t dx[3] = {AB, AS, AH};
    for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
        loom_model *model = lm_load_ok(ctx, attention_model(w, bias, &forms[k]), "attn");
        loom_tensor *out;
        run1(model, 3, dx, x, AB * AS * AH, &out, 1);
        double ref[AB * AS * AH];
        attention_ref(x, w, bias, &forms[k], ref);
        expect_near(out, ref, AB * AS * AH, 1e-5);
        loom_tensor_destroy(out);
        loom_model_destroy(model);
    }
}

static void attention_refuses_an_unsupported_mask_naming_the_node(void **state)
{
    (void)state;
    float x[AB * AS * AH], w[AH * 3 * AH], bias[3 * AH];
    fill(x, AB * AS * AH, 9);
    fill(w, AH * 3 * AH, 10);
    fill(bias, 3 * AH, 11);
    mask_form f = {.rank = 3, .dims = {AB, AS, 1}};
    loom_model *model = NULL;
    loom_status s = (loom_status)ob_load(attention_model(w, bias, &f), ctx, "attn4", &model);
    if (s == LOOM_OK) { /* planned at the first run's shapes */
        int64_t dx[3] = {AB, AS, AH};
        loom_tensor *in, *out;
        assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_FLOAT, 3, dx, x, sizeof(x), &in), LOOM_OK);
        s = loom_model_run(model, &in, 1, &out, 1);
        loom_tensor_destroy(in);
        loom_model_destroy(model);
    }
    assert_int_equal(s, LOOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(loom_last_error(), "'attn'"));
    assert_non_null(strstr(loom_last_error(), "mask_index"));
}

/* ---- EmbedLayerNormalization ------------------------------------------------ */

static void embed_layernorm_segments_mask_and_sum(void **state)
{
    (void)state;
    enum { B = 2, S = 3, H = 4, V = 5, P = 4, G = 2 };
    int64_t di[2] = {B, S}, dwv[2] = {V, H}, dp[2] = {P, H}, dg[2] = {G, H}, dh[1] = {H};
    int32_t ids[B * S] = {4, 0, 2, 1, 3, 3}, seg[B * S] = {0, 1, 1, 0, 0, 1};
    int32_t mask[B * S] = {1, 1, 0, 1, 1, 1};
    float word[V * H], pos[P * H], sge[G * H], g[H], beta[H];
    fill(word, V * H, 12);
    fill(pos, P * H, 13);
    fill(sge, G * H, 14);
    fill(g, H, 15);
    fill(beta, H, 16);
    ob_model *m = ms_model();
    ob_input(m, "ids", INT32, 2, di);
    ob_init_raw(m, "seg", INT32, 2, di, seg, sizeof(seg));
    ob_init_raw(m, "mask", INT32, 2, di, mask, sizeof(mask));
    ob_init_f32(m, "word", 2, dwv, word);
    ob_init_f32(m, "pos", 2, dp, pos);
    ob_init_f32(m, "sge", 2, dg, sge);
    ob_init_f32(m, "g", 1, dh, g);
    ob_init_f32(m, "beta", 1, dh, beta);
    ob_output(m, "y", F32);
    ob_output(m, "mi", INT32);
    ob_output(m, "sum", F32);
    ob_attr_float(
        m, ms_node(m, "EmbedLayerNormalization", "ids,seg,word,pos,sge,g,beta,mask", "y,mi,sum"),
        "epsilon", 1e-5f);
    loom_model *model = lm_load_ok(ctx, m, "embed");
    loom_tensor *in, *out[3];
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_INT32, 2, di, ids, sizeof(ids), &in), LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, out, 3), LOOM_OK);
    const int32_t *mi = loom_tensor_data(out[1]);
    assert_int_equal(mi[0], 2);
    assert_int_equal(mi[1], 3);
    double y[B * S * H], sum[B * S * H];
    for (int r = 0; r < B * S; r++) {
        double mu = 0, var = 0;
        for (int i = 0; i < H; i++) {
            sum[r * H + i] =
                (double)word[ids[r] * H + i] + pos[(r % S) * H + i] + sge[seg[r] * H + i];
            mu += sum[r * H + i] / H;
        }
        for (int i = 0; i < H; i++)
            var += (sum[r * H + i] - mu) * (sum[r * H + i] - mu) / H;
        for (int i = 0; i < H; i++)
            y[r * H + i] = (sum[r * H + i] - mu) / sqrt(var + 1e-5) * g[i] + beta[i];
    }
    expect_near(out[0], y, B * S * H, 1e-5);
    expect_near(out[2], sum, B * S * H, 1e-6);
    loom_tensor_destroy(in);
    for (int i = 0; i < 3; i++)
        loom_tensor_destroy(out[i]);
    loom_model_destroy(model);
}

/* position_ids [1, S] shared by the batch, no segments and no mask (a
 * mask_index of zeros, as ORT writes); and SkipLayerNormalization's skip
 * [1, S, H] shared by the batch, no bias. */
static void embed_position_ids_and_skip_broadcast(void **state)
{
    (void)state;
    enum { B = 2, S = 3, H = 4, V = 5, P = 6 };
    int64_t di[2] = {B, S}, dpi[2] = {1, S}, dwv[2] = {V, H}, dp[2] = {P, H}, dh[1] = {H};
    int64_t ds[3] = {1, S, H};
    int32_t ids[B * S] = {4, 0, 2, 1, 3, 3}, pids[S] = {5, 0, 2};
    float word[V * H], pos[P * H], g[H], beta[H], skip[S * H];
    fill(word, V * H, 30);
    fill(pos, P * H, 31);
    fill(g, H, 32);
    fill(beta, H, 33);
    fill(skip, S * H, 34);
    ob_model *m = ms_model();
    ob_input(m, "ids", INT32, 2, di);
    ob_init_raw(m, "pids", INT32, 2, dpi, pids, sizeof(pids));
    ob_init_f32(m, "word", 2, dwv, word);
    ob_init_f32(m, "pos", 2, dp, pos);
    ob_init_f32(m, "g", 1, dh, g);
    ob_init_f32(m, "beta", 1, dh, beta);
    ob_init_f32(m, "skip", 3, ds, skip);
    ob_output(m, "y", F32);
    ob_output(m, "mi", INT32);
    ob_output(m, "z", F32);
    ob_attr_float(m, ms_node(m, "EmbedLayerNormalization", "ids,,word,pos,,g,beta,,pids", "y,mi"),
                  "epsilon", 1e-5f);
    ob_attr_float(m, ms_node(m, "SkipLayerNormalization", "y,skip,g,beta", "z"), "epsilon", 1e-5f);
    loom_model *model = lm_load_ok(ctx, m, "embed_pos");
    loom_tensor *in, *out[3];
    assert_int_equal(loom_tensor_wrap(LOOM_DTYPE_INT32, 2, di, ids, sizeof(ids), &in), LOOM_OK);
    assert_int_equal(loom_model_run(model, &in, 1, out, 3), LOOM_OK);
    const int32_t *mi = loom_tensor_data(out[1]);
    assert_int_equal(mi[0], 0);
    assert_int_equal(mi[1], 0);
    double y[B * S * H], z[B * S * H];
    for (int r = 0; r < B * S; r++) {
        double v[H], mu = 0, var = 0, w[H], mu2 = 0, var2 = 0;
        for (int i = 0; i < H; i++)
            mu += (v[i] = (double)word[ids[r] * H + i] + pos[pids[r % S] * H + i]) / H;
        for (int i = 0; i < H; i++)
            var += (v[i] - mu) * (v[i] - mu) / H;
        for (int i = 0; i < H; i++) {
            y[r * H + i] = (v[i] - mu) / sqrt(var + 1e-5) * g[i] + beta[i];
            mu2 += (w[i] = y[r * H + i] + skip[(r % S) * H + i]) / H;
        }
        for (int i = 0; i < H; i++)
            var2 += (w[i] - mu2) * (w[i] - mu2) / H;
        for (int i = 0; i < H; i++)
            z[r * H + i] = (w[i] - mu2) / sqrt(var2 + 1e-5) * g[i] + beta[i];
    }
    expect_near(out[0], y, B * S * H, 1e-5);
    expect_near(out[2], z, B * S * H, 1e-5);
    loom_tensor_destroy(in);
    for (int i = 0; i < 3; i++)
        loom_tensor_destroy(out[i]);
    loom_model_destroy(model);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(activations_match_the_reference),
    cmocka_unit_test(biases_move_into_the_matmul),
    cmocka_unit_test(skip_layernorm_optional_inputs_and_outputs),
    cmocka_unit_test(fused_matmul_transposes_and_broadcasts),
    cmocka_unit_test(fused_matmul_transposes_batches),
    cmocka_unit_test(attention_mask_forms_match_the_reference),
    cmocka_unit_test(attention_refuses_an_unsupported_mask_naming_the_node),
    cmocka_unit_test(embed_layernorm_segments_mask_and_sum),
    cmocka_unit_test(embed_position_ids_and_skip_broadcast),
};

LM_TEST_MAIN_WITH(tests, ctx_setup, ctx_teardown)
