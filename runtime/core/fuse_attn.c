/*
 * fuse_attn.c - attention's score chain at load: Softmax(Add(Div(S, c), M))
 * -> Softmax(S, M) with the scale as an attribute.
 *
 * Exporters write scaled dot-product attention as MatMul(Q, K^T), Div by
 * sqrt(head dim) (or Mul by its inverse), Add of the additive mask, Softmax,
 * MatMul by V. The scaling and the mask add are each a pass over the
 * [batch, heads, seq, seq] scores; fused, the CPU's Softmax applies both on
 * the row it is about to normalise. _loom_divisor c (Div) or _loom_scale c
 * (Mul) says which, so the products are bit-identical to the unfused graph's.
 * Without a scalar Div/Mul the Add alone is absorbed (c = 1).
 */
#include "fuse.h"
#include "fuse_internal.h"
#include "op.h"

static bool private_value(const fuse_ctx *f, int v)
{
    return v >= 0 && f->readers[v] == 1 && !f->g->values[v].is_output;
}

/* Softmax's types, or not yet inferred (the kernel checks again). */
static bool float_like(const lm_graph *g, int v)
{
    loom_dtype t = g->values[v].dtype;
    return t == LOOM_DTYPE_UNDEFINED || t == LOOM_DTYPE_FLOAT || t == LOOM_DTYPE_FLOAT16 ||
           t == LOOM_DTYPE_DOUBLE;
}

/* Div(S, c) or Mul(S, c) / Mul(c, S) by a float scalar constant producing @v. */
static int scaled_scores(const fuse_ctx *f, int v, int *s, float *c, bool *div)
{
    const lm_graph *g = f->g;
    double k;
    int p = lm_fuse_producer(f, v, "Div");
    if (p >= 0 && g->nodes[p].n_in == 2 && lm_fuse_const_scalar(g, g->nodes[p].in[1], &k) &&
        k != 0 && g->nodes[p].in[0] >= 0 &&
        g->values[g->nodes[p].in[1]].dtype == LOOM_DTYPE_FLOAT) {
        *s = g->nodes[p].in[0];
        *c = (float)k;
        *div = true;
        return p;
    }
    p = lm_fuse_producer(f, v, "Mul");
    if (p < 0 || g->nodes[p].n_in != 2)
        return -1;
    for (int i = 0; i < 2; i++) {
        int cv = g->nodes[p].in[i], sv = g->nodes[p].in[1 - i];
        if (sv >= 0 && lm_fuse_const_scalar(g, cv, &k) && g->values[cv].dtype == LOOM_DTYPE_FLOAT) {
            *s = sv;
            *c = (float)k;
            *div = false;
            return p;
        }
    }
    return -1;
}

static loom_status softmax_at(fuse_ctx *f, int si)
{
    lm_graph *g = f->g;
    const lm_node *sm = &g->nodes[si];
    if (sm->n_in != 1 || sm->n_out != 1 || !private_value(f, sm->in[0]))
        return LOOM_OK;
    int ai = lm_fuse_producer(f, sm->in[0], "Add");
    if (ai < 0 || g->nodes[ai].n_in != 2 || !float_like(g, sm->in[0]))
        return LOOM_OK;
    const lm_node *add = &g->nodes[ai];
    int s = add->in[0], m = add->in[1], di = -1;
    float c = 1.0f;
    bool div = false;
    for (int i = 0; i < 2 && di < 0; i++) {
        int sv;
        if (private_value(f, add->in[i]) &&
            (di = scaled_scores(f, add->in[i], &sv, &c, &div)) >= 0) {
            s = sv;
            m = add->in[1 - i];
        }
    }
    if (s < 0 || m < 0 || !float_like(g, m) || !float_like(g, s))
        return LOOM_OK;
    int ins[2] = {s, m};
    lm_node *n = &g->nodes[si];
    loom_status st = lm_fuse_become(n, "Softmax", ins, 2);
    if (st)
        return st;
    if (di >= 0 &&
        (st = lm_fuse_add_attr(n, div ? "_loom_divisor" : "_loom_scale", LM_ATTR_FLOAT, c, NULL)))
        return st;
    f->dead[ai] = true;
    if (di >= 0)
        f->dead[di] = true;
    lm_last_fuse_stats.softmax_masks_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

loom_status lm_fuse_attention(fuse_ctx *f)
{
    loom_status s = LOOM_OK;
    for (int i = 0; i < f->g->n_nodes && !s; i++)
        if (!f->dead[i] && lm_fuse_is_op(&f->g->nodes[i], "Softmax"))
            s = softmax_at(f, i);
    return s;
}
