/*
 * fuse_norm.c - layer normalization written out as its arithmetic becomes
 * one LayerNormalization node at load. PyTorch before opset 17 and
 * hand-written layer norms export
 *
 *   m = ReduceMean(x, axes=[-1]); d = Sub(x, m);
 *   v = ReduceMean(Pow(d, 2) | Mul(d, d), axes=[-1]);
 *   y = Div(d, Sqrt(Add(v, eps))) * gamma + beta
 *
 * which is seven to nine passes over the activations. gamma and beta must be
 * constant vectors (the normalized axis); every intermediate value is read
 * only inside the pattern (d twice) and is no graph output.
 */
#include <string.h>

#include "fuse.h"
#include "fuse_internal.h"
#include "op.h"

#define MAX_CHAIN 10

static bool private_value(const fuse_ctx *f, int v, int readers)
{
    return v >= 0 && f->readers[v] == readers && !f->g->values[v].is_output;
}

/* ReduceMean over the last axis only, keeping it (attribute before opset 18,
 * constant input from 18). */
static bool mean_last_axis(const lm_graph *g, const lm_node *r)
{
    const lm_attr *kd = lm_node_attr(r, "keepdims");
    if (kd && kd->i != 1)
        return false;
    int64_t axis;
    const lm_attr *ax = lm_node_attr(r, "axes");
    if (ax) {
        if (ax->n != 1)
            return false;
        axis = ax->ints[0];
    } else if (r->n_in >= 2 && r->in[1] >= 0) {
        const loom_tensor *t = g->values[r->in[1]].constant;
        if (!t || t->dtype != LOOM_DTYPE_INT64 || lm_tensor_count(t) != 1)
            return false;
        axis = *(const int64_t *)t->data;
    } else {
        return false; /* all axes */
    }
    int rank = g->values[r->in[0]].rank;
    return axis == -1 || (rank > 0 && axis == rank - 1);
}

/* @v is a float constant vector (rank 1). */
static bool const_vector(const lm_graph *g, int v)
{
    const loom_tensor *t = v >= 0 ? g->values[v].constant : NULL;
    return t && t->dtype == LOOM_DTYPE_FLOAT && t->rank == 1;
}

/* The live node other than @not reading @v, or -1. */
static int other_reader(const fuse_ctx *f, int v, int not )
{
    for (int i = 0; i < f->g->n_nodes; i++) {
        if (f->dead[i] || i == not )
            continue;
        const lm_node *n = &f->g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] == v)
                return i;
    }
    return -1;
}

/* Pow(d, 2) or Mul(d, d) */
static bool is_square(const fuse_ctx *f, int ni, int d)
{
    const lm_node *n = &f->g->nodes[ni];
    if (n->n_in != 2 || n->in[0] != d)
        return false;
    if (lm_fuse_is_op(n, "Mul"))
        return n->in[1] == d;
    return lm_fuse_is_op(n, "Pow") && lm_fuse_is_scalar_near(f->g, n->in[1], 2.0, 0.0);
}

/* From the Sqrt of the variance: Div(d, sqrt) -> Mul gamma -> Add beta. */
static int affine_tail(const fuse_ctx *f, int qi, int d, int *gamma, int *beta, int *chain, int *nc)
{
    const lm_graph *g = f->g;
    int di = lm_fuse_consumer_op(f, qi, "Div");
    if (di < 0 || g->nodes[di].in[0] != d || g->nodes[di].in[1] != g->nodes[qi].out[0])
        return -1;
    int mi = lm_fuse_consumer_op(f, di, "Mul");
    if (mi < 0)
        return -1;
    *gamma = lm_fuse_other_input(&g->nodes[mi], g->nodes[di].out[0]);
    int ai = lm_fuse_consumer_op(f, mi, "Add");
    if (ai < 0)
        return -1;
    *beta = lm_fuse_other_input(&g->nodes[ai], g->nodes[mi].out[0]);
    if (!const_vector(g, *gamma) || !const_vector(g, *beta) ||
        lm_tensor_count(g->values[*gamma].constant) != lm_tensor_count(g->values[*beta].constant))
        return -1;
    chain[(*nc)++] = di;
    chain[(*nc)++] = mi;
    return ai;
}

/* ReduceMean node @ri is the pattern's first mean: rewrite if it matches. */
static loom_status layernorm_at(fuse_ctx *f, int ri)
{
    lm_graph *g = f->g;
    int chain[MAX_CHAIN], nc = 0;
    const lm_node *r1 = &g->nodes[ri];
    if (r1->n_out != 1 || !mean_last_axis(g, r1))
        return LOOM_OK;
    int x = r1->in[0];
    int si = lm_fuse_consumer_op(f, ri, "Sub");
    if (si < 0 || g->nodes[si].in[0] != x || g->nodes[si].in[1] != r1->out[0])
        return LOOM_OK;
    int d = g->nodes[si].out[0];
    /* d's readers: the square, and the Div found from the other side */
    int pi = other_reader(f, d, -1);
    if (pi >= 0 && !is_square(f, pi, d))
        pi = other_reader(f, d, pi);
    if (pi < 0 || !is_square(f, pi, d))
        return LOOM_OK;
    /* Mul(d, d) reads d twice */
    if (!private_value(f, d, lm_fuse_is_op(&g->nodes[pi], "Mul") ? 3 : 2))
        return LOOM_OK;
    int r2 = lm_fuse_consumer_op(f, pi, "ReduceMean");
    if (r2 < 0 || !mean_last_axis(g, &g->nodes[r2]))
        return LOOM_OK;
    int ai = lm_fuse_consumer_op(f, r2, "Add");
    double eps;
    if (ai < 0 ||
        !lm_fuse_const_scalar(g, lm_fuse_other_input(&g->nodes[ai], g->nodes[r2].out[0]), &eps))
        return LOOM_OK;
    int qi = lm_fuse_consumer_op(f, ai, "Sqrt");
    int gamma, beta;
    int last = qi >= 0 ? affine_tail(f, qi, d, &gamma, &beta, chain, &nc) : -1;
    if (last < 0)
        return LOOM_OK;
    int ins[3] = {x, gamma, beta};
    loom_status s = lm_fuse_become(&g->nodes[last], "LayerNormalization", ins, 3);
    if (s || !lm_fuse_is_op(&g->nodes[last], "LayerNormalization"))
        return s;
    if ((s = lm_fuse_add_attr(&g->nodes[last], "epsilon", LM_ATTR_FLOAT, (float)eps, NULL)))
        return s;
    int rest[] = {ri, si, pi, r2, ai, qi};
    for (int i = 0; i < nc; i++)
        f->dead[chain[i]] = true;
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        f->dead[rest[i]] = true;
    lm_last_fuse_stats.layernorms_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

loom_status lm_fuse_layernorm(fuse_ctx *f)
{
    loom_status s = LOOM_OK;
    for (int i = 0; i < f->g->n_nodes && !s; i++)
        if (!f->dead[i] && lm_fuse_is_op(&f->g->nodes[i], "ReduceMean"))
            s = layernorm_at(f, i);
    return s;
}
