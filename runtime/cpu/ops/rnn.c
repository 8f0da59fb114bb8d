/*
 * rnn.c - recurrent layers: RNN, GRU and LSTM (ONNX opsets 7..14+), float32.
 *
 * All three share one driver: the input projection X * W^T (+ biases) of every
 * timestep of a direction is one SGEMM, then each step multiplies the previous
 * hidden state by R^T (one small SGEMM over the batch) and applies the gate
 * equations per batch row. sequence_lens is honoured per batch row: a row stops
 * updating after its length, its later Y entries stay zero, and the reverse
 * direction walks each row from its own last valid step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../gemm.h"
#include "../vmath.h"
#include "more_ops.h"

enum rnn_kind { RNN_SIMPLE, RNN_GRU, RNN_LSTM };

enum act_kind {
    ACT_RELU,
    ACT_TANH,
    ACT_SIGMOID,
    ACT_AFFINE,
    ACT_LEAKY_RELU,
    ACT_THRESHOLDED_RELU,
    ACT_SCALED_TANH,
    ACT_HARD_SIGMOID,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS,
};

typedef struct rnn_act {
    enum act_kind kind;
    float alpha, beta;
} rnn_act;

/* Activation names, their default alpha/beta and how many of the two they take
 * from activation_alpha / activation_beta. */
static const struct {
    const char *name;
    enum act_kind kind;
    float alpha, beta;
    int n_alpha, n_beta;
} act_table[] = {
    {"Relu", ACT_RELU, 0, 0, 0, 0},
    {"Tanh", ACT_TANH, 0, 0, 0, 0},
    {"Sigmoid", ACT_SIGMOID, 0, 0, 0, 0},
    {"Affine", ACT_AFFINE, 1.0f, 0.0f, 1, 1},
    {"LeakyRelu", ACT_LEAKY_RELU, 0.01f, 0, 1, 0},
    {"ThresholdedRelu", ACT_THRESHOLDED_RELU, 1.0f, 0, 1, 0},
    {"ScaledTanh", ACT_SCALED_TANH, 1.0f, 1.0f, 1, 1},
    {"HardSigmoid", ACT_HARD_SIGMOID, 0.2f, 0.5f, 1, 1},
    {"Elu", ACT_ELU, 1.0f, 0, 1, 0},
    {"Softsign", ACT_SOFTSIGN, 0, 0, 0, 0},
    {"Softplus", ACT_SOFTPLUS, 0, 0, 0, 0},
};

/* Applies @a to @n values in place; one tight loop per kind. */
static void act_vec(const rnn_act *a, float *v, int64_t n)
{
    float al = a->alpha, be = a->beta;
    switch (a->kind) {
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] > 0 ? v[i] : 0;
        break;
    case ACT_TANH: /* the gates' transcendentals: vmath, not libm per element */
        lm_vm_apply(LM_VM_TANH, v, v, n);
        break;
    case ACT_SIGMOID:
        lm_vm_apply(LM_VM_SIGMOID, v, v, n);
        break;
    case ACT_AFFINE:
        for (int64_t i = 0; i < n; i++)
            v[i] = al * v[i] + be;
        break;
    case ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] >= 0 ? v[i] : al * v[i];
        break;
    case ACT_THRESHOLDED_RELU:
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] > al ? v[i] : 0;
        break;
    case ACT_SCALED_TANH:
        for (int64_t i = 0; i < n; i++)
            v[i] = al * tanhf(be * v[i]);
        break;
    case ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            v[i] = fmaxf(0.0f, fminf(1.0f, al * v[i] + be));
        break;
    case ACT_ELU:
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] >= 0 ? v[i] : al * (expf(v[i]) - 1.0f);
        break;
    case ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] / (1.0f + fabsf(v[i]));
        break;
    case ACT_SOFTPLUS:
        lm_vm_apply(LM_VM_SOFTPLUS, v, v, n);
        break;
    }
}

static void clip_vec(float *v, int64_t n, float clip)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = fminf(fmaxf(v[i], -clip), clip);
}

#define RNN_MAX_ACTS 6 /* 3 functions (LSTM) x 2 directions */

typedef struct rnn_cfg {
    enum rnn_kind kind;
    int G;        /* gates: 1, 3 or 4 */
    int D;        /* directions */
    bool reverse; /* the only direction runs backwards */
    int layout;
    int64_t S, B, I, H;
    bool has_clip;
    float clip;
    bool lbr;          /* GRU linear_before_reset */
    bool input_forget; /* LSTM: f = 1 - i */
    rnn_act act[RNN_MAX_ACTS];
    int n_act_per_dir;
} rnn_cfg;

/* Reads activations / activation_alpha / activation_beta into c->act, D sets of
 * n_act_per_dir functions, starting from @defaults. */
static loom_status read_activations(lm_kctx *k, rnn_cfg *c, const char *const *defaults)
{
    int per = c->n_act_per_dir, total = per * c->D;
    const lm_attr *names = lm_node_attr(k->node, "activations");
    const float *alphas = NULL, *betas = NULL;
    int na = lm_node_attr_floats(k->node, "activation_alpha", &alphas);
    int nb = lm_node_attr_floats(k->node, "activation_beta", &betas);
    if (na < 0)
        na = 0;
    if (nb < 0)
        nb = 0;
    int n_names = 0;
    if (names) {
        if (names->type != LM_ATTR_STRINGS)
            return lm_kinvalid(k, "activations is not a list of strings");
        n_names = names->n;
        /* One set for both directions is accepted, as onnxruntime does. */
        if (n_names != total && !(n_names == per && c->D == 2))
            return lm_kinvalid(k, "activations has %d entries, expected %d (%d per direction)",
                               n_names, total, per);
    }
    int ia = 0, ib = 0;
    for (int i = 0; i < total; i++) {
        const char *name = names ? names->strings[i % n_names] : defaults[i % per];
        int f = -1;
        for (size_t j = 0; j < sizeof(act_table) / sizeof(act_table[0]); j++)
            if (strcasecmp(name, act_table[j].name) == 0)
                f = (int)j;
        if (f < 0)
            return lm_kunsupported(k, "activation '%s' is not supported", name);
        c->act[i].kind = act_table[f].kind;
        c->act[i].alpha = act_table[f].alpha;
        c->act[i].beta = act_table[f].beta;
        /* alpha/beta lists are consumed in order by the functions that take them
         * (onnxruntime's reading of the spec). */
        if (names && act_table[f].n_alpha && ia < na)
            c->act[i].alpha = alphas[ia++];
        if (names && act_table[f].n_beta && ib < nb)
            c->act[i].beta = betas[ib++];
    }
    return LOOM_OK;
}

static loom_status need_float(lm_kctx *k, const loom_tensor *t, const char *what)
{
    if (t && t->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "%s has dtype %s: only float32 is supported", what,
                               loom_dtype_name(t->dtype));
    return LOOM_OK;
}

static loom_status check_shape(lm_kctx *k, const loom_tensor *t, const char *what, int rank,
                               const int64_t *dims)
{
    if (!t)
        return LOOM_OK;
    bool ok = t->rank == rank;
    for (int i = 0; ok && i < rank; i++)
        ok = t->dims[i] == dims[i];
    if (!ok) {
        if (rank == 1)
            return lm_kfail(k, LOOM_ERR_SHAPE, "%s must have shape [%lld]", what,
                            (long long)dims[0]);
        if (rank == 2)
            return lm_kfail(k, LOOM_ERR_SHAPE, "%s must have shape [%lld, %lld]", what,
                            (long long)dims[0], (long long)dims[1]);
        return lm_kfail(k, LOOM_ERR_SHAPE, "%s must have shape [%lld, %lld, %lld]", what,
                        (long long)dims[0], (long long)dims[1], (long long)dims[2]);
    }
    return LOOM_OK;
}

/*
 * out[b, n] = h[b, :] . R[n, :] for n < N: the recurrent term, one GEMM per
 * step on R packed as B = R^T once per direction (@rp). At batch 1 it is a
 * matrix-vector product; reading R in panel order streams it better than
 * dot products over its rows (measured: LSTM 256 x 1024, 3.4 ms against
 * 4.8 for 16 rows at a time with AVX-512).
 */
static void recurrent_gemm(lm_kctx *k, int64_t B, int64_t N, int64_t H, const float *h,
                           const lm_sgemm_packed *rp, float *out, int64_t ldo)
{
    lm_sgemm_args g = {.trans_b = true,
                       .M = B,
                       .N = N,
                       .K = H,
                       .alpha = 1.0f,
                       .A = h,
                       .lda = H,
                       .pb = rp,
                       .C = out,
                       .ldc = ldo,
                       .act = {.kind = LM_ACT_NONE}};
    lm_sgemm_run_parallel(k, &g);
}

/*
 * The weights as the GEMMs read them, per direction: W^T (the input term,
 * B of x W^T) and R's rows for the recurrent term, rg (all gates, or z and
 * r for GRU without linear_before_reset) and rh (that GRU's hidden gate,
 * multiplied by r * h apart). Packed once per weights in the process by the
 * prepare hook when W and R are constant, else per run.
 */
typedef struct rnn_packed {
    int D;
    lm_sgemm_packed *w[2], *rg[2], *rh[2];
} rnn_packed;

static void rnn_packed_free(void *state)
{
    rnn_packed *pk = state;
    for (int d = 0; pk && d < pk->D; d++) {
        lm_sgemm_packed_free(pk->w[d]);
        lm_sgemm_packed_free(pk->rg[d]);
        lm_sgemm_packed_free(pk->rh[d]);
    }
    free(pk);
}

/* What rnn_pack() packs: W (D x GH x I) and R (D x GH x H). */
typedef struct rnn_pack_job {
    int D;
    int64_t GH, I, H;
    bool gru_h; /* GRU without linear_before_reset: R's hidden rows apart */
    const float *w, *r;
} rnn_pack_job;

static loom_status rnn_pack(lm_kctx *k, void *arg, void **data, size_t *bytes)
{
    const rnn_pack_job *j = arg;
    rnn_packed *pk = calloc(1, sizeof(*pk));
    if (!pk)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory packing the weights");
    pk->D = j->D;
    int64_t H = j->H, nr = j->gru_h ? 2 * H : j->GH;
    *bytes = sizeof(*pk);
    for (int d = 0; d < j->D; d++) {
        const float *r = j->r + d * j->GH * H;
        pk->w[d] = lm_sgemm_pack_b(true, j->I, j->GH, j->w + d * j->GH * j->I, j->I);
        pk->rg[d] = lm_sgemm_pack_b(true, H, nr, r, H);
        pk->rh[d] = j->gru_h ? lm_sgemm_pack_b(true, H, H, r + 2 * H * H, H) : NULL;
        if (!pk->w[d] || !pk->rg[d] || (j->gru_h && !pk->rh[d])) {
            rnn_packed_free(pk);
            return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory packing the weights");
        }
        *bytes += lm_sgemm_packed_bytes(pk->w[d]) + lm_sgemm_packed_bytes(pk->rg[d]) +
                  lm_sgemm_packed_bytes(pk->rh[d]);
    }
    *data = pk;
    return LOOM_OK;
}

/* Offset of (direction d, batch b) in initial_h / Y_h / Y_c by layout. */
static inline int64_t state_off(const rnn_cfg *c, int d, int64_t b)
{
    return (c->layout == 0 ? (int64_t)d * c->B + b : b * c->D + d) * c->H;
}

static loom_status rnn_run(lm_kctx *k, enum rnn_kind kind)
{
    loom_status st = lm_kcheck_arity(k, 3, kind == RNN_LSTM ? 8 : 6);
    if (st != LOOM_OK)
        return st;
    rnn_cfg c;
    memset(&c, 0, sizeof(c));
    c.kind = kind;
    c.G = kind == RNN_SIMPLE ? 1 : kind == RNN_GRU ? 3 : 4;
    const loom_tensor *X = lm_kin(k, 0), *W = lm_kin(k, 1), *R = lm_kin(k, 2);
    const loom_tensor *Bias = lm_kin(k, 3), *lens = lm_kin(k, 4), *h0 = lm_kin(k, 5);
    const loom_tensor *c0 = kind == RNN_LSTM ? lm_kin(k, 6) : NULL;
    const loom_tensor *P = kind == RNN_LSTM ? lm_kin(k, 7) : NULL;
    MO_TRY(need_float(k, X, "X"));
    MO_TRY(need_float(k, W, "W"));
    MO_TRY(need_float(k, R, "R"));
    MO_TRY(need_float(k, Bias, "B"));
    MO_TRY(need_float(k, h0, "initial_h"));
    MO_TRY(need_float(k, c0, "initial_c"));
    MO_TRY(need_float(k, P, "P"));

    const char *dir = lm_node_attr_str(k->node, "direction", "forward");
    if (strcmp(dir, "forward") == 0) {
        c.D = 1;
    } else if (strcmp(dir, "reverse") == 0) {
        c.D = 1;
        c.reverse = true;
    } else if (strcmp(dir, "bidirectional") == 0) {
        c.D = 2;
    } else {
        return lm_kinvalid(k, "direction '%s' is not forward, reverse or bidirectional", dir);
    }
    c.layout = (int)lm_node_attr_int(k->node, "layout", 0);
    if (lm_node_attr_int(k->node, "layout", 0) != 0 && lm_node_attr_int(k->node, "layout", 0) != 1)
        return lm_kinvalid(k, "layout %lld is not 0 or 1",
                           (long long)lm_node_attr_int(k->node, "layout", 0));
    if (X->rank != 3)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X has rank %d, expected 3", X->rank);
    c.S = c.layout == 0 ? X->dims[0] : X->dims[1];
    c.B = c.layout == 0 ? X->dims[1] : X->dims[0];
    c.I = X->dims[2];
    if (R->rank != 3)
        return lm_kfail(k, LOOM_ERR_SHAPE, "R has rank %d, expected 3", R->rank);
    c.H = R->dims[2];
    if (lm_node_has_attr(k->node, "hidden_size") &&
        lm_node_attr_int(k->node, "hidden_size", 0) != c.H)
        return lm_kfail(k, LOOM_ERR_SHAPE, "hidden_size %lld does not match R's last dim %lld",
                        (long long)lm_node_attr_int(k->node, "hidden_size", 0), (long long)c.H);
    if (c.H <= 0 || c.H > ((int64_t)1 << 28))
        return lm_kfail(k, LOOM_ERR_SHAPE, "hidden size %lld out of range", (long long)c.H);
    int64_t GH = c.G * c.H;
    int64_t wd[3] = {c.D, GH, c.I}, rd[3] = {c.D, GH, c.H}, bd[2] = {c.D, 2 * GH};
    MO_TRY(check_shape(k, W, "W", 3, wd));
    MO_TRY(check_shape(k, R, "R", 3, rd));
    MO_TRY(check_shape(k, Bias, "B", 2, bd));
    int64_t sd[3] = {c.D, c.B, c.H};
    if (c.layout == 1) {
        sd[0] = c.B;
        sd[1] = c.D;
    }
    MO_TRY(check_shape(k, h0, "initial_h", 3, sd));
    MO_TRY(check_shape(k, c0, "initial_c", 3, sd));
    int64_t pd[2] = {c.D, 3 * c.H};
    MO_TRY(check_shape(k, P, "P", 2, pd));
    if (lens) {
        if (lens->dtype != LOOM_DTYPE_INT32 && lens->dtype != LOOM_DTYPE_INT64)
            return lm_kunsupported(k, "sequence_lens has dtype %s, expected int32",
                                   loom_dtype_name(lens->dtype));
        int64_t ld[1] = {c.B};
        MO_TRY(check_shape(k, lens, "sequence_lens", 1, ld));
    }
    c.has_clip = lm_node_has_attr(k->node, "clip");
    c.clip = lm_node_attr_float(k->node, "clip", 0.0f);
    if (c.has_clip && !(c.clip > 0))
        return lm_kinvalid(k, "clip %g must be positive", (double)c.clip);
    c.lbr = lm_node_attr_int(k->node, "linear_before_reset", 0) != 0;
    c.input_forget = lm_node_attr_int(k->node, "input_forget", 0) != 0;
    static const char *const def_rnn[] = {"Tanh"};
    static const char *const def_gru[] = {"Sigmoid", "Tanh"};
    static const char *const def_lstm[] = {"Sigmoid", "Tanh", "Tanh"};
    c.n_act_per_dir = c.G == 1 ? 1 : c.G == 3 ? 2 : 3;
    MO_TRY(read_activations(k, &c, c.G == 1 ? def_rnn : c.G == 3 ? def_gru : def_lstm));

    /* Outputs: Y, Y_h, and Y_c for LSTM. */
    int64_t yd[4] = {c.S, c.D, c.B, c.H};
    if (c.layout == 1) {
        yd[0] = c.B;
        yd[1] = c.S;
        yd[2] = c.D;
    }
    loom_tensor *Y = NULL, *Yh = NULL, *Yc = NULL;
    if (mo_has_out(k, 0) && !(Y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, 4, yd)))
        return LM_KOUT_FAILED;
    if (mo_has_out(k, 1) && !(Yh = lm_kout(k, 1, LOOM_DTYPE_FLOAT, 3, sd)))
        return LM_KOUT_FAILED;
    if (kind == RNN_LSTM && mo_has_out(k, 2) && !(Yc = lm_kout(k, 2, LOOM_DTYPE_FLOAT, 3, sd)))
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;

    /* Sequence lengths, validated before any work. */
    int64_t SB, xw_n;
    if (!mo_mul(c.S, c.B, &SB) || !mo_mul(SB, GH, &xw_n) || xw_n > (INT64_MAX >> 3))
        return lm_kfail(k, LOOM_ERR_SHAPE, "X is too large");
    int64_t *len = lm_kscratch(k, (size_t)(c.B ? c.B : 1) * sizeof(int64_t));
    if (!len)
        return LOOM_ERR_NO_MEMORY;
    for (int64_t b = 0; b < c.B; b++) {
        len[b] = lens ? lm_tensor_get_i64(lens, b) : c.S;
        if (len[b] < 0 || len[b] > c.S)
            return lm_kinvalid(k, "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b,
                               (long long)len[b], (long long)c.S);
    }
    if (c.B == 0 || SB == 0) {
        /* Nothing runs: the states are the initial ones. */
        for (int d = 0; d < c.D; d++)
            for (int64_t b = 0; b < c.B; b++) {
                int64_t o = state_off(&c, d, b);
                if (Yh && h0)
                    memcpy((float *)Yh->data + o, (const float *)h0->data + o, c.H * 4);
                if (Yc && c0)
                    memcpy((float *)Yc->data + o, (const float *)c0->data + o, c.H * 4);
            }
        return LOOM_OK;
    }
    float *xw = lm_kscratch(k, (size_t)xw_n * sizeof(float));
    float *gates = lm_kscratch(k, (size_t)(c.B * GH) * sizeof(float));
    float *h = lm_kscratch(k, (size_t)(c.B * c.H) * sizeof(float));
    float *cs = lm_kscratch(k, (size_t)(c.B * c.H) * sizeof(float));
    float *tmp = lm_kscratch(k, (size_t)(c.B * c.H) * sizeof(float)); /* GRU r*h, h*Rh */
    float *hh = lm_kscratch(k, (size_t)(c.B * c.H) * sizeof(float));
    if (!xw || !gates || !h || !cs || !tmp || !hh)
        return LOOM_ERR_NO_MEMORY;

    const float *x = X->data;
    int64_t H = c.H;
    bool gru_h = kind == RNN_GRU && !c.lbr;
    int64_t nr = gru_h ? 2 * H : GH;
    rnn_packed *own = NULL;
    const rnn_packed *pk = k->prepared;
    if (!pk) {
        rnn_pack_job pj = {c.D, GH, c.I, H, gru_h, W->data, R->data};
        size_t bytes;
        if ((st = rnn_pack(k, &pj, (void **)&own, &bytes)))
            return st;
        pk = own;
    }
    for (int d = 0; d < c.D; d++) {
        bool rev = c.D == 2 ? d == 1 : c.reverse;
        const float *wb = Bias ? (const float *)Bias->data + (int64_t)d * 2 * GH : NULL;
        const float *rb = wb ? wb + GH : NULL;
        const float *p = P ? (const float *)P->data + (int64_t)d * 3 * H : NULL;
        const rnn_act *act = &c.act[d * c.n_act_per_dir];

        /* xw[row] = x[row] * W^T + Wb + Rb (GRU with linear_before_reset keeps
         * Rbh apart: it is scaled by r). Rows follow X's layout. */
        lm_sgemm_args xg = {.trans_b = true,
                            .M = SB,
                            .N = GH,
                            .K = c.I,
                            .alpha = 1.0f,
                            .A = x,
                            .lda = c.I,
                            .pb = pk->w[d],
                            .C = xw,
                            .ldc = GH,
                            .act = {.kind = LM_ACT_NONE}};
        lm_sgemm_run_parallel(k, &xg);
        if (wb) {
            for (int64_t row = 0; row < SB; row++) {
                float *v = xw + row * GH;
                for (int64_t j = 0; j < GH; j++)
                    v[j] += wb[j];
                int64_t nrb = kind == RNN_GRU && c.lbr ? 2 * H : GH;
                for (int64_t j = 0; j < nrb; j++)
                    v[j] += rb[j];
            }
        }
        for (int64_t b = 0; b < c.B; b++) {
            int64_t o = state_off(&c, d, b);
            if (h0)
                memcpy(h + b * H, (const float *)h0->data + o, H * sizeof(float));
            else
                memset(h + b * H, 0, H * sizeof(float));
            if (c0)
                memcpy(cs + b * H, (const float *)c0->data + o, H * sizeof(float));
            else
                memset(cs + b * H, 0, H * sizeof(float));
        }

        for (int64_t s = 0; s < c.S; s++) {
            /* Recurrent term for every batch row (rows past their length are
             * computed but not used: one GEMM beats a gather). */
            recurrent_gemm(k, c.B, nr, H, h, pk->rg[d], gates, GH);
            for (int64_t b = 0; b < c.B; b++) {
                if (s >= len[b])
                    continue;
                int64_t t = rev ? len[b] - 1 - s : s;
                const float *xr = xw + (c.layout == 0 ? t * c.B + b : b * c.S + t) * GH;
                float *g = gates + b * GH;
                float *hb = h + b * H;
                if (kind == RNN_SIMPLE) {
                    for (int64_t j = 0; j < H; j++)
                        g[j] += xr[j];
                    if (c.has_clip)
                        clip_vec(g, H, c.clip);
                    act_vec(&act[0], g, H);
                    memcpy(hb, g, H * sizeof(float));
                } else if (kind == RNN_LSTM) {
                    float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
                    float *cb = cs + b * H;
                    for (int64_t j = 0; j < GH; j++)
                        g[j] += xr[j];
                    if (p) {
                        for (int64_t j = 0; j < H; j++) {
                            gi[j] += p[j] * cb[j];
                            gf[j] += p[2 * H + j] * cb[j];
                        }
                    }
                    if (c.has_clip) {
                        clip_vec(gi, H, c.clip);
                        clip_vec(gf, H, c.clip);
                        clip_vec(gc, H, c.clip);
                    }
                    act_vec(&act[0], gi, H);
                    if (c.input_forget) {
                        for (int64_t j = 0; j < H; j++)
                            gf[j] = 1.0f - gi[j];
                    } else {
                        act_vec(&act[0], gf, H);
                    }
                    act_vec(&act[1], gc, H);
                    for (int64_t j = 0; j < H; j++)
                        cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
                    if (p)
                        for (int64_t j = 0; j < H; j++)
                            go[j] += p[H + j] * cb[j];
                    if (c.has_clip)
                        clip_vec(go, H, c.clip);
                    act_vec(&act[0], go, H);
                    memcpy(hb, cb, H * sizeof(float));
                    act_vec(&act[2], hb, H);
                    for (int64_t j = 0; j < H; j++)
                        hb[j] *= go[j];
                } else {
                    for (int64_t j = 0; j < 2 * H; j++)
                        g[j] += xr[j];
                    if (c.has_clip)
                        clip_vec(g, 2 * H, c.clip);
                    act_vec(&act[0], g, 2 * H); /* z and r */
                    if (c.lbr) {
                        const float *gr = g + H;
                        float *gh = g + 2 * H;
                        for (int64_t j = 0; j < H; j++)
                            gh[j] = xr[2 * H + j] + gr[j] * (gh[j] + (rb ? rb[2 * H + j] : 0.0f));
                    } else {
                        for (int64_t j = 0; j < H; j++)
                            tmp[b * H + j] = g[H + j] * hb[j];
                    }
                }
            }
            if (kind == RNN_GRU) {
                if (gru_h)
                    recurrent_gemm(k, c.B, H, H, tmp, pk->rh[d], hh, H);
                for (int64_t b = 0; b < c.B; b++) {
                    if (s >= len[b])
                        continue;
                    int64_t t = rev ? len[b] - 1 - s : s;
                    const float *xr = xw + (c.layout == 0 ? t * c.B + b : b * c.S + t) * GH;
                    float *g = gates + b * GH, *gh = g + 2 * H, *hb = h + b * H;
                    if (!c.lbr)
                        for (int64_t j = 0; j < H; j++)
                            gh[j] = xr[2 * H + j] + hh[b * H + j];
                    if (c.has_clip)
                        clip_vec(gh, H, c.clip);
                    act_vec(&act[1], gh, H);
                    for (int64_t j = 0; j < H; j++)
                        hb[j] = (1.0f - g[j]) * gh[j] + g[j] * hb[j];
                }
            }
            if (Y) {
                for (int64_t b = 0; b < c.B; b++) {
                    if (s >= len[b])
                        continue;
                    int64_t t = rev ? len[b] - 1 - s : s;
                    int64_t o = c.layout == 0 ? ((t * c.D + d) * c.B + b) * H
                                              : ((b * c.S + t) * c.D + d) * H;
                    memcpy((float *)Y->data + o, h + b * H, H * sizeof(float));
                }
            }
        }
        for (int64_t b = 0; b < c.B; b++) {
            int64_t o = state_off(&c, d, b);
            if (Yh)
                memcpy((float *)Yh->data + o, h + b * H, H * sizeof(float));
            if (Yc)
                memcpy((float *)Yc->data + o, cs + b * H, H * sizeof(float));
        }
    }
    rnn_packed_free(own);
    return LOOM_OK;
}

static loom_status op_rnn(lm_kctx *k)
{
    return rnn_run(k, RNN_SIMPLE);
}

static loom_status op_gru(lm_kctx *k)
{
    return rnn_run(k, RNN_GRU);
}

static loom_status op_lstm(lm_kctx *k)
{
    return rnn_run(k, RNN_LSTM);
}

/* Packs constant W and R once per weights in the process (lm_kweights):
 * k->prepared is the shared rnn_packed itself, which the plan's reference
 * keeps alive, so the ops have no free_prepared. */
static loom_status rnn_prepare(lm_kctx *k, enum rnn_kind kind, lm_kernel_fn run)
{
    loom_status st = run(k); /* validates and shapes (k->dry is set) */
    if (st != LOOM_OK)
        return st;
    const loom_tensor *W = lm_kin(k, 1), *R = lm_kin(k, 2);
    if (!W->data || !R->data)
        return LOOM_OK;
    int G = kind == RNN_SIMPLE ? 1 : kind == RNN_GRU ? 3 : 4;
    bool gru_h = kind == RNN_GRU && lm_node_attr_int(k->node, "linear_before_reset", 0) == 0;
    rnn_pack_job j = {(int)W->dims[0], W->dims[1], W->dims[2], R->dims[2], gru_h, W->data, R->data};
    if (j.GH != G * j.H || j.GH == 0 || j.I == 0 || j.H == 0)
        return LOOM_OK;
    int in[2] = {1, 2};
    const void *pk;
    st = lm_kweights(k, in, 2, (uint64_t)gru_h, rnn_pack, rnn_packed_free, &j, &pk);
    k->prepared = (void *)pk;
    return st;
}

static loom_status rnn_prepare_rnn(lm_kctx *k)
{
    return rnn_prepare(k, RNN_SIMPLE, op_rnn);
}

static loom_status rnn_prepare_gru(lm_kctx *k)
{
    return rnn_prepare(k, RNN_GRU, op_gru);
}

static loom_status rnn_prepare_lstm(lm_kctx *k)
{
    return rnn_prepare(k, RNN_LSTM, op_lstm);
}

const lm_op_def lm_ops_rnn[] = {
    {.domain = "", .op_type = "RNN", .run = op_rnn, .prepare = rnn_prepare_rnn},
    {.domain = "", .op_type = "GRU", .run = op_gru, .prepare = rnn_prepare_gru},
    {.domain = "", .op_type = "LSTM", .run = op_lstm, .prepare = rnn_prepare_lstm},
    LM_OP_END,
};
