/*
 * contrib_norm.c - ONNX Runtime's normalisations of transformer encoders:
 * com.microsoft SkipLayerNormalization and SkipSimplifiedLayerNormalization
 * (a residual sum, with an optional bias, then LayerNorm or RMS norm over the
 * last axis), EmbedLayerNormalization (word + position (+ segment)
 * embeddings, LayerNorm, and the mask's lengths for Attention), and
 * SimplifiedLayerNormalization, the RMS norm that ONNX Runtime registers in
 * the default ONNX domain.
 *
 * The LayerNorm rows are vmath's lm_vm_layernorm, the kernel of
 * LayerNormalization and of its skip fusion (core/fuse_skipnorm.c).
 */
#include <math.h>
#include <string.h>

#include "../vmath.h"
#include "../../core/op.h"

static bool output_present(const lm_kctx *k, int i)
{
    return i < k->node->n_out && k->node->out[i] >= 0;
}

/* A float32 vector of @n values, or absent when optional. */
static loom_status need_vector(lm_kctx *k, const loom_tensor *t, int64_t n, const char *what)
{
    if (t && (t->dtype != LOOM_DTYPE_FLOAT || t->rank != 1 || t->dims[0] != n))
        return lm_kfail(k, LOOM_ERR_SHAPE, "%s must be float32 of shape [%lld]", what,
                        (long long)n);
    return LOOM_OK;
}

/* One RMS-norm row: y = v / sqrt(mean(v^2) + eps) * g, the mean in double. */
static void rms_row(const float *v, float *y, int64_t n, const float *g, float eps, float *istd)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (double)v[i] * v[i];
    float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++)
        y[i] = v[i] * r * g[i];
    if (istd)
        *istd = r;
}

/* ---- SkipLayerNormalization, SkipSimplifiedLayerNormalization -------------- */

typedef struct skip_job {
    const float *x, *skip, *gamma, *beta, *bias;
    float *y, *mean, *istd, *sum;
    int64_t H, skip_rows; /* skip repeats every skip_rows rows (broadcast over batch) */
    float eps;
    bool rms;
} skip_job;

static void skip_rows(void *arg, int64_t begin, int64_t end)
{
    const skip_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->H, *s = j->skip + (r % j->skip_rows) * j->H;
        float *y = j->y + r * j->H, *sum = j->sum ? j->sum + r * j->H : NULL;
        float *mean = j->mean ? j->mean + r : NULL, *istd = j->istd ? j->istd + r : NULL;
        if (!j->rms && !j->bias) {
            lm_vm_layernorm(x, s, sum, y, j->H, j->gamma, j->beta, j->eps, mean, istd);
            continue;
        }
        /* v = (x + skip) + bias, as ONNX Runtime sums, formed in y */
        lm_vm_binary(LM_VB_ADD, x, s, y, j->H, 1, 1);
        if (j->bias)
            lm_vm_binary(LM_VB_ADD, y, j->bias, y, j->H, 1, 1);
        if (sum)
            memcpy(sum, y, (size_t)j->H * sizeof(float));
        if (j->rms)
            rms_row(y, y, j->H, j->gamma, j->eps, istd);
        else
            lm_vm_layernorm(y, NULL, NULL, y, j->H, j->gamma, j->beta, j->eps, mean, istd);
    }
}

/* Input [B, S, H] or [tokens, H]; skip of its shape, or [1, S, H] / [S, H]
 * shared by every batch. */
static loom_status skip_shapes(lm_kctx *k, const loom_tensor *x, const loom_tensor *s,
                               int64_t *skip_rows)
{
    if (x->dtype != LOOM_DTYPE_FLOAT || (x->rank != 2 && x->rank != 3))
        return lm_kunsupported(k, "input must be float32 of rank 2 or 3");
    int64_t H = x->dims[x->rank - 1], rows = lm_tensor_count(x) / (H ? H : 1);
    if (s->dtype != LOOM_DTYPE_FLOAT || s->rank < 2 || s->rank > x->rank ||
        s->dims[s->rank - 1] != H)
        return lm_kfail(k, LOOM_ERR_SHAPE, "skip must be float32 with input's hidden size");
    int64_t sn = lm_tensor_count(s);
    bool same = sn == lm_tensor_count(x) && s->rank == x->rank &&
                memcmp(s->dims, x->dims, sizeof(int64_t) * (size_t)x->rank) == 0;
    bool per_seq =
        x->rank == 3 && s->dims[s->rank - 2] == x->dims[1] && (s->rank == 2 || s->dims[0] == 1);
    if (!same && !per_seq)
        return lm_kfail(k, LOOM_ERR_SHAPE, "skip must have input's shape or [1, S, H]");
    *skip_rows = same ? (rows ? rows : 1) : x->dims[1] ? x->dims[1] : 1;
    return LOOM_OK;
}

static loom_status skipnorm(lm_kctx *k, bool rms)
{
    loom_status st = lm_kcheck_arity(k, 3, rms ? 4 : 5);
    if (st)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *s = lm_kin(k, 1), *g = lm_kin(k, 2);
    const loom_tensor *beta = rms ? NULL : lm_kin(k, 3), *bias = lm_kin(k, rms ? 3 : 4);
    skip_job j = {.eps = lm_node_attr_float(k->node, "epsilon", 1e-12f), .rms = rms};
    if ((st = skip_shapes(k, x, s, &j.skip_rows)))
        return st;
    j.H = x->dims[x->rank - 1];
    if ((st = need_vector(k, g, j.H, "gamma")) || (st = need_vector(k, beta, j.H, "beta")) ||
        (st = need_vector(k, bias, j.H, "bias")))
        return st;
    if (rms && output_present(k, 1))
        return lm_kunsupported(k, "the mean output of an RMS norm is not supported");
    int64_t sd[3];
    memcpy(sd, x->dims, sizeof(int64_t) * (size_t)x->rank);
    sd[x->rank - 1] = 1;
    loom_tensor *y = lm_kout_like(k, 0, LOOM_DTYPE_FLOAT, x), *o[4] = {y};
    if (!y)
        return LM_KOUT_FAILED;
    for (int i = 1; i < 4; i++)
        if (output_present(k, i) && !(o[i] = i == 3 ? lm_kout_like(k, 3, LOOM_DTYPE_FLOAT, x)
                                                    : lm_kout(k, i, LOOM_DTYPE_FLOAT, x->rank, sd)))
            return LM_KOUT_FAILED;
    if (k->dry || j.H == 0)
        return LOOM_OK;
    j.x = x->data, j.skip = s->data, j.gamma = g->data;
    j.beta = beta ? beta->data : NULL, j.bias = bias ? bias->data : NULL;
    j.y = y->data;
    j.mean = o[1] ? o[1]->data : NULL, j.istd = o[2] ? o[2]->data : NULL;
    j.sum = o[3] ? o[3]->data : NULL;
    lm_parallel_for(k, lm_tensor_count(x) / j.H, 5.0 * (double)j.H, skip_rows, &j);
    return LOOM_OK;
}

static loom_status op_skip_layernorm(lm_kctx *k)
{
    return skipnorm(k, false);
}

static loom_status op_skip_simplified_layernorm(lm_kctx *k)
{
    return skipnorm(k, true);
}

/* ---- SimplifiedLayerNormalization ----------------------------------------- */

typedef struct rms_job {
    const float *x, *g;
    float *y, *istd;
    int64_t inner;
    float eps;
} rms_job;

static void rms_rows(void *arg, int64_t begin, int64_t end)
{
    const rms_job *j = arg;
    for (int64_t r = begin; r < end; r++)
        rms_row(j->x + r * j->inner, j->y + r * j->inner, j->inner, j->g, j->eps,
                j->istd ? j->istd + r : NULL);
}

static loom_status op_simplified_layernorm(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 2);
    if (st)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *g = lm_kin(k, 1);
    if (x->dtype != LOOM_DTYPE_FLOAT || x->rank < 1)
        return lm_kunsupported(k, "X must be float32 of rank 1 or more");
    int axis;
    if ((st = lm_kaxis(k, lm_node_attr_int(k->node, "axis", -1), x->rank, &axis)))
        return st;
    rms_job j = {.inner = lm_dims_count(x->rank - axis, x->dims + axis),
                 .eps = lm_node_attr_float(k->node, "epsilon", 1e-5f)};
    if (g->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(g) != j.inner)
        return lm_kfail(k, LOOM_ERR_SHAPE, "scale must be float32 of the %lld normalized values",
                        (long long)j.inner);
    int64_t sd[LOOM_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        sd[i] = i < axis ? x->dims[i] : 1;
    loom_tensor *y = lm_kout_like(k, 0, LOOM_DTYPE_FLOAT, x), *istd = NULL;
    if (!y || (output_present(k, 1) && !(istd = lm_kout(k, 1, LOOM_DTYPE_FLOAT, x->rank, sd))))
        return LM_KOUT_FAILED;
    if (k->dry || j.inner == 0)
        return LOOM_OK;
    j.x = x->data, j.g = g->data, j.y = y->data, j.istd = istd ? istd->data : NULL;
    lm_parallel_for(k, lm_tensor_count(x) / j.inner, 4.0 * (double)j.inner, rms_rows, &j);
    return LOOM_OK;
}

/* ---- EmbedLayerNormalization ---------------------------------------------- */

typedef struct embed_job {
    const loom_tensor *ids, *seg_ids, *pos_ids;
    const float *word, *pos, *seg, *gamma, *beta;
    float *y, *sum;
    int64_t S, H;
    float eps;
} embed_job;

/* Row @r's position: position_ids ([B, S] or [1, S]) or its index in the sequence. */
static int64_t embed_position(const embed_job *j, int64_t r)
{
    if (!j->pos_ids)
        return r % j->S;
    return lm_tensor_get_i64(j->pos_ids, lm_tensor_count(j->pos_ids) == j->S ? r % j->S : r);
}

static void embed_rows(void *arg, int64_t begin, int64_t end)
{
    const embed_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        float *y = j->y + r * j->H;
        lm_vm_binary(LM_VB_ADD, j->word + lm_tensor_get_i64(j->ids, r) * j->H,
                     j->pos + embed_position(j, r) * j->H, y, j->H, 1, 1);
        if (j->seg)
            lm_vm_binary(LM_VB_ADD, y, j->seg + lm_tensor_get_i64(j->seg_ids, r) * j->H, y, j->H, 1,
                         1);
        lm_vm_layernorm(y, NULL, j->sum ? j->sum + r * j->H : NULL, y, j->H, j->gamma, j->beta,
                        j->eps, NULL, NULL);
    }
}

static bool is_index(const loom_tensor *t)
{
    return t->dtype == LOOM_DTYPE_INT32 || t->dtype == LOOM_DTYPE_INT64;
}

/* An embedding table [rows, H], and (with its ids) every id in range. */
static loom_status embed_table(lm_kctx *k, const loom_tensor *tab, int64_t H,
                               const loom_tensor *ids, const char *what)
{
    if (tab->dtype != LOOM_DTYPE_FLOAT || tab->rank != 2 || tab->dims[1] != H)
        return lm_kfail(k, LOOM_ERR_SHAPE, "%s must be float32 [rows, %lld]", what, (long long)H);
    if (k->dry || !ids)
        return LOOM_OK;
    for (int64_t i = 0, n = lm_tensor_count(ids); i < n; i++) {
        int64_t v = lm_tensor_get_i64(ids, i);
        if (v < 0 || v >= tab->dims[0])
            return lm_kinvalid(k, "index %lld is out of range for %s of %lld rows", (long long)v,
                               what, (long long)tab->dims[0]);
    }
    return LOOM_OK;
}

/* input_ids, and segment_ids, mask and position_ids where given: integer
 * tensors of input_ids' [B, S] shape (position_ids also [1, S]). */
static loom_status embed_ids(lm_kctx *k, const loom_tensor *ids)
{
    if (!is_index(ids) || ids->rank != 2)
        return lm_kunsupported(k, "input_ids must be int32 or int64 [batch, sequence]");
    static const int opt[] = {1, 7, 8};
    for (int i = 0; i < 3; i++) {
        const loom_tensor *t = lm_kin(k, opt[i]);
        bool row =
            opt[i] == 8 && t && t->rank == 2 && t->dims[0] == 1 && t->dims[1] == ids->dims[1];
        if (t && (!is_index(t) || t->rank != 2 ||
                  (!row && memcmp(t->dims, ids->dims, 2 * sizeof(int64_t)) != 0)))
            return lm_kfail(k, LOOM_ERR_SHAPE, "input %d must be integers of input_ids' shape",
                            opt[i]);
    }
    if (!lm_kin(k, 1) != !lm_kin(k, 4))
        return lm_kinvalid(k, "segment_ids and segment_embedding go together");
    return LOOM_OK;
}

/* mask_index: each batch's count of mask values equal to 1 (0 without a mask). */
static void embed_mask_index(const loom_tensor *mask, int64_t B, int64_t S, int32_t *out)
{
    for (int64_t b = 0; b < B; b++) {
        int32_t n = 0;
        for (int64_t s = 0; mask && s < S; s++)
            n += lm_tensor_get_i64(mask, b * S + s) == 1;
        out[b] = n;
    }
}

static loom_status op_embed_layernorm(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 1, 9);
    if (st)
        return st;
    if (!lm_kin(k, 2) || !lm_kin(k, 3) || !lm_kin(k, 5) || !lm_kin(k, 6))
        return lm_kinvalid(k, "word_embedding, position_embedding, gamma and beta are required");
    const loom_tensor *ids = lm_kin(k, 0), *word = lm_kin(k, 2), *pos = lm_kin(k, 3);
    const loom_tensor *seg = lm_kin(k, 4), *mask = lm_kin(k, 7);
    if ((st = embed_ids(k, ids)))
        return st;
    embed_job j = {.ids = ids,
                   .seg_ids = lm_kin(k, 1),
                   .pos_ids = lm_kin(k, 8),
                   .S = ids->dims[1],
                   .H = word->rank == 2 ? word->dims[1] : -1,
                   .eps = lm_node_attr_float(k->node, "epsilon", 1e-12f)};
    int64_t B = ids->dims[0];
    if (!j.pos_ids && pos->rank == 2 && pos->dims[0] < j.S)
        return lm_kfail(k, LOOM_ERR_SHAPE, "%lld positions, sequence of %lld",
                        (long long)pos->dims[0], (long long)j.S);
    if ((st = embed_table(k, word, j.H, ids, "word_embedding")) ||
        (st = embed_table(k, pos, j.H, j.pos_ids, "position_embedding")) ||
        (seg && (st = embed_table(k, seg, j.H, j.seg_ids, "segment_embedding"))) ||
        (st = need_vector(k, lm_kin(k, 5), j.H, "gamma")) ||
        (st = need_vector(k, lm_kin(k, 6), j.H, "beta")))
        return st;
    int64_t yd[3] = {B, j.S, j.H};
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, 3, yd), *mi = NULL, *sum = NULL;
    if (!y || (output_present(k, 1) && !(mi = lm_kout(k, 1, LOOM_DTYPE_INT32, 1, &B))) ||
        (output_present(k, 2) && !(sum = lm_kout(k, 2, LOOM_DTYPE_FLOAT, 3, yd))))
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    if (mi)
        embed_mask_index(mask, B, j.S, mi->data);
    j.word = word->data, j.pos = pos->data, j.seg = seg ? seg->data : NULL;
    j.gamma = lm_kin(k, 5)->data, j.beta = lm_kin(k, 6)->data;
    j.y = y->data, j.sum = sum ? sum->data : NULL;
    lm_parallel_for(k, B * j.S, 5.0 * (double)j.H, embed_rows, &j);
    return LOOM_OK;
}

const lm_op_def lm_ops_contrib_norm[] = {
    LM_OP_FULL("com.microsoft", "SkipLayerNormalization", op_skip_layernorm),
    LM_OP_FULL("com.microsoft", "SkipSimplifiedLayerNormalization", op_skip_simplified_layernorm),
    LM_OP_FULL("com.microsoft", "EmbedLayerNormalization", op_embed_layernorm),
    /* ONNX Runtime registers it in the default domain (onnx's own is RMSNormalization) */
    LM_OP_FULL("", "SimplifiedLayerNormalization", op_simplified_layernorm),
    LM_OP_END,
};
