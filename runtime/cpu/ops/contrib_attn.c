/*
 * contrib_attn.c - com.microsoft Attention, the BERT form that ONNX Runtime's
 * transformer optimizer writes for an encoder's self-attention: one
 * projection input x weights + bias into Q, K and V, per head
 * softmax(scale * Q K^T + mask) V, heads concatenated.
 *
 * The projection is one GEMM with its bias in the epilogue (constant
 * weights packed once at plan time, as MatMul's are); each (batch,
 * head) then multiplies Q by K^T and the probabilities by V in place in the
 * packed QKV rows (row stride, no transposes), and its softmax rows are
 * vmath's, with the additive mask read as Softmax's fused mask is
 * (core/fuse_attn.c). mask_index may be absent, [B] key lengths (right
 * padding), [2B] ends then starts, [B, T] 0/1 key padding ([B, 1] a dummy)
 * or [B, S, T]; masked keys get mask_filter_value added, and unidirectional
 * adds it again to keys after the query, as ONNX Runtime does. The forms with
 * a past state (past, past_sequence_length, present), rotary embeddings and
 * the 4-D Megatron mask are refused naming the node.
 */
#include <math.h>
#include <string.h>

#include "../gemm.h"
#include "../vmath.h"

typedef struct attn_geom {
    int64_t B, S, Din, N, dq, dk, dv; /* dq..dv: per head */
    int64_t Dq, Dk, Dv, Dt;           /* whole widths; Dt = Dq + Dk + Dv */
    float scale, filter;
    bool causal;
} attn_geom;

typedef struct attn_job {
    const attn_geom *g;
    const float *qkv, *abias; /* abias [B or 1, N, S, S] or NULL */
    const float *mask;        /* NULL, [B, S] per key, or [B, S, S] when per_query */
    bool per_query;
    int64_t abias_batch; /* 1: attention_bias shared by every batch */
    float *scores, *y;
} attn_job;

static void attn_heads(void *arg, int64_t begin, int64_t end)
{
    const attn_job *j = arg;
    const attn_geom *g = j->g;
    int64_t S = g->S;
    for (int64_t bh = begin; bh < end; bh++) {
        int64_t b = bh / g->N, h = bh % g->N;
        const float *q = j->qkv + b * S * g->Dt + h * g->dq;
        const float *k = j->qkv + b * S * g->Dt + g->Dq + h * g->dk;
        const float *v = j->qkv + b * S * g->Dt + g->Dq + g->Dk + h * g->dv;
        float *p = j->scores + bh * S * S;
        lm_sgemm(false, true, S, S, g->dq, g->scale, q, g->Dt, k, g->Dt, 0.0f, p, S);
        for (int64_t i = 0; i < S; i++) {
            float *row = p + i * S;
            if (j->abias)
                lm_vm_binary(LM_VB_ADD, row,
                             j->abias + (((b % j->abias_batch) * g->N + h) * S + i) * S, row, S, 1,
                             1);
            const float *add = !j->mask ? NULL : j->mask + (j->per_query ? b * S + i : b) * S;
            lm_vm_softmax(row, add, 1, row, S, 1.0f, false);
        }
        lm_sgemm(false, false, S, g->dv, S, 1.0f, p, S, v, g->Dt, 0.0f,
                 j->y + b * S * g->Dv + h * g->dv, g->Dv);
    }
}

/* ---- the additive mask ----------------------------------------------------- */

/* Key j of batch b is masked by a lengths or key-padding mask_index. */
static bool key_masked(const loom_tensor *m, const attn_geom *g, int64_t b, int64_t j)
{
    if (m->rank == 1) {
        int64_t end = lm_tensor_get_i64(m, b);
        int64_t start = m->dims[0] == 2 * g->B ? lm_tensor_get_i64(m, g->B + b) : 0;
        return j >= end || j < start;
    }
    return m->dims[1] != 1 && lm_tensor_get_i64(m, b * g->S + j) <= 0;
}

/* The additive mask: filter where mask_index masks key j, plus filter again
 * past the diagonal when unidirectional. Per key ([B, S], every query of a
 * batch shares its row) unless the mask is 3-D or causal ([B, S, S]). */
static void attn_mask(const loom_tensor *m, const attn_geom *g, bool per_query, float *mask)
{
    int64_t S = g->S;
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t i = 0; i < (per_query ? S : 1); i++)
            for (int64_t j = 0; j < S; j++) {
                bool off = m && (m->rank == 3 ? lm_tensor_get_i64(m, (b * S + i) * S + j) <= 0
                                              : key_masked(m, g, b, j));
                mask[((per_query ? b * S + i : b)) * S + j] =
                    (off ? g->filter : 0) + (g->causal && j > i ? g->filter : 0);
            }
}

static loom_status check_mask(lm_kctx *k, const loom_tensor *m, const attn_geom *g)
{
    if (!m)
        return LOOM_OK;
    if (m->dtype != LOOM_DTYPE_INT32 && m->dtype != LOOM_DTYPE_INT64)
        return lm_kunsupported(k, "mask_index must be int32");
    bool ok = (m->rank == 1 && (m->dims[0] == g->B || m->dims[0] == 2 * g->B)) ||
              (m->rank == 2 && m->dims[0] == g->B && (m->dims[1] == g->S || m->dims[1] == 1)) ||
              (m->rank == 3 && m->dims[0] == g->B && m->dims[1] == g->S && m->dims[2] == g->S);
    if (!ok)
        return lm_kunsupported(k,
                               "mask_index of rank %d: supported are [B] and [2B] lengths, [B, S] "
                               "key padding and [B, S, S] (B %lld, S %lld)",
                               m->rank, (long long)g->B, (long long)g->S);
    return LOOM_OK;
}

/* ---- validation ------------------------------------------------------------ */

/* The forms with a past state, rotary embeddings or a present output. */
static loom_status check_form(lm_kctx *k)
{
    if (lm_kin(k, 4) || lm_kin(k, 6))
        return lm_kunsupported(k, "past and past_sequence_length are not supported");
    if (k->node->n_out > 1 && k->node->out[1] >= 0)
        return lm_kunsupported(k, "the present output is not supported");
    if (lm_node_attr_int(k->node, "do_rotary", 0))
        return lm_kunsupported(k, "do_rotary is not supported");
    return LOOM_OK;
}

/* The head widths from qkv_hidden_sizes (else three equal parts). */
static loom_status attn_widths(lm_kctx *k, int64_t Dt, attn_geom *g)
{
    const int64_t *qkv;
    int n = lm_node_attr_ints(k->node, "qkv_hidden_sizes", &qkv);
    n = n < 0 ? 0 : n; /* absent */
    if (n != 0 && n != 3)
        return lm_kinvalid(k, "qkv_hidden_sizes has %d values, not 3", n);
    g->Dq = n ? qkv[0] : Dt / 3;
    g->Dk = n ? qkv[1] : Dt / 3;
    g->Dv = n ? qkv[2] : Dt / 3;
    if (g->Dq + g->Dk + g->Dv != Dt || g->Dq != g->Dk)
        return lm_kfail(k, LOOM_ERR_SHAPE,
                        "weights' %lld columns are not q, k, v widths %lld, "
                        "%lld, %lld with q as wide as k",
                        (long long)Dt, (long long)g->Dq, (long long)g->Dk, (long long)g->Dv);
    if (g->N <= 0 || g->Dq % g->N || g->Dv % g->N)
        return lm_kinvalid(k, "num_heads %lld does not divide the widths %lld and %lld",
                           (long long)g->N, (long long)g->Dq, (long long)g->Dv);
    g->dq = g->dk = g->Dq / g->N;
    g->dv = g->Dv / g->N;
    return LOOM_OK;
}

static loom_status attn_geometry(lm_kctx *k, attn_geom *g)
{
    const loom_tensor *x = lm_kin(k, 0), *w = lm_kin(k, 1), *bias = lm_kin(k, 2);
    if (x->dtype != LOOM_DTYPE_FLOAT || x->rank != 3)
        return lm_kunsupported(k, "input must be float32 [batch, sequence, hidden]");
    if (w->dtype != LOOM_DTYPE_FLOAT || w->rank != 2 || w->dims[0] != x->dims[2])
        return lm_kfail(k, LOOM_ERR_SHAPE, "weights must be float32 [%lld, q + k + v]",
                        (long long)x->dims[2]);
    *g = (attn_geom){.B = x->dims[0],
                     .S = x->dims[1],
                     .Din = x->dims[2],
                     .N = lm_node_attr_int(k->node, "num_heads", 0),
                     .Dt = w->dims[1],
                     .filter = lm_node_attr_float(k->node, "mask_filter_value", -10000.0f),
                     .causal = lm_node_attr_int(k->node, "unidirectional", 0) != 0};
    loom_status st = attn_widths(k, g->Dt, g);
    if (st)
        return st;
    if (bias && (bias->dtype != LOOM_DTYPE_FLOAT || bias->rank != 1 || bias->dims[0] != g->Dt))
        return lm_kfail(k, LOOM_ERR_SHAPE, "bias must be float32 [%lld]", (long long)g->Dt);
    g->scale = lm_node_attr_float(k->node, "scale", 0.0f);
    if (g->scale == 0.0f)
        g->scale = 1.0f / sqrtf((float)g->dq);
    return LOOM_OK;
}

/* attention_bias: [B, N, S, S] or [1, N, S, S]; *batch its first dim. */
static loom_status check_abias(lm_kctx *k, const loom_tensor *a, const attn_geom *g, int64_t *batch)
{
    *batch = 1;
    if (!a)
        return LOOM_OK;
    if (a->dtype != LOOM_DTYPE_FLOAT || a->rank != 4 || (a->dims[0] != 1 && a->dims[0] != g->B) ||
        a->dims[1] != g->N || a->dims[2] != g->S || a->dims[3] != g->S)
        return lm_kfail(k, LOOM_ERR_SHAPE,
                        "attention_bias must be float32 [B or 1, %lld, %lld, "
                        "%lld]",
                        (long long)g->N, (long long)g->S, (long long)g->S);
    *batch = a->dims[0];
    return LOOM_OK;
}

static loom_status op_attention(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 7);
    if (st || (st = check_form(k)))
        return st;
    attn_geom g;
    attn_job j = {.g = &g, .abias = NULL};
    const loom_tensor *m = lm_kin(k, 3), *ab = lm_kin(k, 5), *bias = lm_kin(k, 2);
    if ((st = attn_geometry(k, &g)) || (st = check_mask(k, m, &g)) ||
        (st = check_abias(k, ab, &g, &j.abias_batch)))
        return st;
    int64_t yd[3] = {g.B, g.S, g.Dv};
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, 3, yd);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry || g.B * g.S == 0)
        return LOOM_OK;
    bool masked = m || g.causal, per_query = g.causal || (m && m->rank == 3);
    size_t n = (size_t)(g.B * g.S * g.Dt + g.B * g.N * g.S * g.S +
                        (masked ? g.B * g.S * (per_query ? g.S : 1) : 0));
    float *qkv = lm_kscratch(k, n * sizeof(float));
    if (!qkv)
        return LOOM_ERR_NO_MEMORY;
    lm_sgemm_args pg = {.M = g.B * g.S,
                        .N = g.Dt,
                        .K = g.Din,
                        .alpha = 1.0f,
                        .A = lm_kin(k, 0)->data,
                        .lda = g.Din,
                        .B = lm_kin(k, 1)->data,
                        .ldb = g.Dt,
                        .pb = k->prepared,
                        .C = qkv,
                        .ldc = g.Dt,
                        .bias = bias ? bias->data : NULL,
                        .bias_per_col = true};
    lm_sgemm_run_parallel(k, &pg);
    j.qkv = qkv;
    j.scores = qkv + g.B * g.S * g.Dt;
    float *mask = masked ? j.scores + g.B * g.N * g.S * g.S : NULL;
    if (mask)
        attn_mask(m, &g, per_query, mask);
    j.mask = mask;
    j.per_query = per_query;
    j.abias = ab ? ab->data : NULL;
    j.y = y->data;
    lm_parallel_for(k, g.B * g.N, 4.0 * (double)(g.S * g.S * (g.dq + g.dv)), attn_heads, &j);
    return LOOM_OK;
}

static loom_status pack_weights(lm_kctx *k, void *arg, void **data, size_t *bytes)
{
    const loom_tensor *w = arg;
    lm_sgemm_packed *pk = lm_sgemm_pack_b(false, w->dims[0], w->dims[1], w->data, w->dims[1]);
    if (!pk)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory packing the weights");
    *data = pk;
    *bytes = lm_sgemm_packed_bytes(pk);
    return LOOM_OK;
}

static void free_packed(void *data)
{
    lm_sgemm_packed_free(data);
}

/* Constant weights are packed for the QKV GEMM once, shared by every plan;
 * the packed operand is the whole per-plan state. */
static loom_status attn_prepare(lm_kctx *k)
{
    loom_status st = op_attention(k); /* validates and shapes (k->dry is set) */
    const loom_tensor *w = lm_kin(k, 1);
    if (st || !w->data || lm_tensor_count(w) == 0)
        return st;
    int in = 1;
    const void *packed;
    st = lm_kweights(k, &in, 1, 0, pack_weights, free_packed, (void *)w, &packed);
    k->prepared = (void *)packed;
    return st;
}

const lm_op_def lm_ops_contrib_attn[] = {
    {.domain = "com.microsoft",
     .op_type = "Attention",
     .run = op_attention,
     .prepare = attn_prepare,
     .flags = LM_OP_WRITES_OUTPUTS},
    LM_OP_END,
};
