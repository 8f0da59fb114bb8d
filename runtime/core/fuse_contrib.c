/*
 * fuse_contrib.c - the biases of ONNX Runtime's fused com.microsoft ops move
 * into the Linear layer before them, as the plain graph's Add would
 * (fuse_bias.c):
 *
 *   MatMul(x, W) -> BiasGelu(., b) | FastGelu(., b) | Gelu(.)
 *       becomes MatMul(x, W, b) with the GELU as its epilogue (erf, or tanh
 *       for FastGelu), one node as the unfused encoder's FFN is;
 *   MatMul(x, W) -> SkipLayerNormalization(., skip, gamma, beta, b)
 *       becomes MatMul(x, W, b) -> SkipLayerNormalization(., skip, gamma,
 *       beta), which normalises x + skip on the row it reads.
 *
 * Each saves a pass over the activations. The GEMM computes act(x W + b)
 * exactly as BiasGelu does; the norm sums (x W + b) + skip where ONNX
 * Runtime sums (x W + skip) + b, one rounding apart. W and b must be
 * constant floats (b of W's column count), and the MatMul's output read by
 * the op alone.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuse.h"
#include "fuse_internal.h"
#include "op.h"

/* The bias-less float Linear producing @v for its one reader, or -1. */
static int linear_of(const fuse_ctx *f, int v, int bias)
{
    const lm_graph *g = f->g;
    if (v < 0 || f->readers[v] != 1 || g->values[v].is_output)
        return -1;
    int mi = lm_fuse_producer(f, v, "MatMul");
    if (mi < 0)
        return -1;
    const lm_node *m = &g->nodes[mi];
    if (m->n_in != 2 || m->n_out != 1 || lm_node_attr(m, "_loom_act") ||
        !lm_fuse_fusable_producer(g, m))
        return -1;
    const loom_tensor *w = g->values[m->in[1]].constant;
    const loom_tensor *b = bias >= 0 ? g->values[bias].constant : NULL;
    if (w->rank != 2 || (bias >= 0 && (!b || b->dtype != LOOM_DTYPE_FLOAT || b->rank != 1 ||
                                       b->dims[0] != w->dims[1])))
        return -1;
    return mi;
}

static loom_status gelu_at(fuse_ctx *f, int ni, bool tanh_form)
{
    lm_graph *g = f->g;
    const lm_node *n = &g->nodes[ni];
    int b = n->n_in > 1 ? n->in[1] : -1;
    if (n->n_out != 1 || n->in[0] < 0)
        return LOOM_OK;
    int mi = linear_of(f, n->in[0], b);
    if (mi < 0)
        return LOOM_OK;
    loom_status s;
    lm_node *m = &g->nodes[mi];
    if ((s = lm_fuse_matmul_bias_in(&g->nodes[mi], b)) ||
        (s = lm_fuse_add_attr(m, "_loom_act", LM_ATTR_STRING, 0, "Gelu")) ||
        (s = lm_fuse_add_attr(m, "_loom_alpha", LM_ATTR_FLOAT, tanh_form ? 1.0f : 0.0f, NULL)) ||
        (s = lm_fuse_add_attr(m, "_loom_beta", LM_ATTR_FLOAT, 0, NULL)))
        return s;
    m->out[0] = n->out[0];
    g->values[m->out[0]].producer = mi;
    f->dead[ni] = true;
    lm_last_fuse_stats.contrib_biases_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

static loom_status skipnorm_at(fuse_ctx *f, int ni)
{
    lm_graph *g = f->g;
    lm_node *n = &g->nodes[ni];
    if (n->n_in != 5 || n->in[4] < 0)
        return LOOM_OK;
    int mi = linear_of(f, n->in[0], n->in[4]);
    if (mi < 0)
        return LOOM_OK;
    loom_status s = lm_fuse_matmul_bias_in(&g->nodes[mi], n->in[4]);
    if (s)
        return s;
    n->n_in = 4; /* the bias is the MatMul's now */
    lm_last_fuse_stats.contrib_biases_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

loom_status lm_fuse_contrib_bias(fuse_ctx *f)
{
    loom_status s = LOOM_OK;
    for (int i = 0; i < f->g->n_nodes && !s; i++) {
        const lm_node *n = &f->g->nodes[i];
        if (f->dead[i] || strcmp(n->domain, "com.microsoft") != 0)
            continue;
        if (strcmp(n->op_type, "BiasGelu") == 0 || strcmp(n->op_type, "Gelu") == 0)
            s = gelu_at(f, i, false);
        else if (strcmp(n->op_type, "FastGelu") == 0)
            s = gelu_at(f, i, true);
        else if (strcmp(n->op_type, "SkipLayerNormalization") == 0)
            s = skipnorm_at(f, i);
    }
    return s;
}
