/*
 * fuse_bias.c - a Linear layer exported as MatMul(x, W) -> Add(., b) (how
 * PyTorch writes nn.Linear on inputs of rank > 2, i.e. every transformer
 * projection) becomes MatMul(x, W, b): the GEMM adds b in its epilogue while
 * the output tile is in cache instead of a second pass over the output.
 *
 * The third MatMul input exists only through this pass; kernels that take it
 * (CPU, OpenCL) document it. W must be a constant float matrix (the bias is
 * then per output column) and b a constant float vector of W's column count,
 * so the Add changes neither shape nor dtype.
 */
#include <stdlib.h>

#include "error.h"
#include "fuse.h"
#include "fuse_internal.h"
#include "op.h"

static loom_status bias_at(fuse_ctx *f, int mi)
{
    lm_graph *g = f->g;
    lm_node *m = &g->nodes[mi];
    if (m->n_in != 2 || m->n_out != 1 || lm_node_attr(m, "_loom_act") ||
        !lm_fuse_fusable_producer(g, m))
        return LOOM_OK;
    const loom_tensor *w = g->values[m->in[1]].constant;
    int ai = lm_fuse_consumer_op(f, mi, "Add");
    if (!w || w->rank != 2 || ai < 0)
        return LOOM_OK;
    int b = lm_fuse_other_input(&g->nodes[ai], m->out[0]);
    const loom_tensor *bt = b >= 0 ? g->values[b].constant : NULL;
    if (!bt || bt->dtype != LOOM_DTYPE_FLOAT || bt->rank != 1 || bt->dims[0] != w->dims[1])
        return LOOM_OK;
    loom_status s = lm_fuse_matmul_bias_in(m, b);
    if (s)
        return s;
    m->out[0] = g->nodes[ai].out[0];
    f->dead[ai] = true;
    lm_last_fuse_stats.matmul_biases_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

loom_status lm_fuse_matmul_bias(fuse_ctx *f)
{
    loom_status s = LOOM_OK;
    for (int i = 0; i < f->g->n_nodes && !s; i++)
        if (!f->dead[i] && lm_fuse_is_op(&f->g->nodes[i], "MatMul"))
            s = bias_at(f, i);
    return s;
}

loom_status lm_fuse_matmul_bias_in(lm_node *m, int b)
{
    if (b < 0)
        return LOOM_OK;
    int *in = realloc(m->in, sizeof(int) * 3);
    if (!in)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    m->in = in;
    m->in[2] = b;
    m->n_in = 3;
    return LOOM_OK;
}
