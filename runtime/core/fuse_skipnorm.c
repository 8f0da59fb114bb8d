/*
 * fuse_skipnorm.c - a transformer's residual Add feeding a layer norm at load:
 * LayerNormalization(Add(a, b), gamma, beta) -> LayerNormalization(a, gamma,
 * beta, b).
 *
 * Every encoder block ends its attention and its FFN with y = LN(x + f(x));
 * the Add is a full pass writing [batch, seq, hidden] that the norm reads
 * straight back. Fused, the CPU forms a + b on the row it normalises. When
 * the sum has other readers (pre-LN blocks carry it to the next residual) it
 * becomes the node's fourth output, stored by the same pass, and the Add
 * goes. Input 3 broadcasts against input 0 as the Add's inputs did; a + b
 * and b + a round alike, so results are bit-identical to the unfused graph.
 * Runs after the decomposed-norm and bias rewrites, so it sees their
 * LayerNormalization nodes and the Add a MatMul's bias no longer occupies.
 */
#include <stdlib.h>

#include "error.h"
#include "fuse.h"
#include "fuse_internal.h"
#include "op.h"

/* Float or not yet inferred: the kernel checks again. */
static bool float_like(const lm_graph *g, int v)
{
    loom_dtype t = g->values[v].dtype;
    return t == LOOM_DTYPE_UNDEFINED || t == LOOM_DTYPE_FLOAT;
}

/* Every live reader of @v other than node @ni comes after @ni, so @ni may
 * produce @v without breaking the nodes' topological order. */
static bool readers_follow(const fuse_ctx *f, int v, int ni)
{
    for (int i = 0; i < ni; i++) {
        if (f->dead[i])
            continue;
        const lm_node *n = &f->g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] == v)
                return false;
    }
    return true;
}

/* Gives @n outputs 0..3 with @v as output 3 (1 and 2 kept or absent). */
static loom_status add_sum_output(lm_node *n, int v)
{
    int *out = malloc(sizeof(int) * 4);
    if (!out)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < 3; i++)
        out[i] = i < n->n_out ? n->out[i] : -1;
    out[3] = v;
    free(n->out);
    n->out = out;
    n->n_out = 4;
    return LOOM_OK;
}

static loom_status skipnorm_at(fuse_ctx *f, int li)
{
    lm_graph *g = f->g;
    lm_node *ln = &g->nodes[li];
    if (ln->n_in < 2 || ln->n_in > 3 || ln->n_out < 1 || ln->n_out > 3 || ln->in[0] < 0)
        return LOOM_OK;
    int s = ln->in[0];
    /* the sum read again as Scale or B would make the node its own reader */
    if (ln->in[1] == s || (ln->n_in > 2 && ln->in[2] == s))
        return LOOM_OK;
    int ai = lm_fuse_producer(f, s, "Add");
    if (ai < 0 || g->nodes[ai].n_in != 2 || g->nodes[ai].n_out != 1)
        return LOOM_OK;
    int a = g->nodes[ai].in[0], b = g->nodes[ai].in[1];
    if (a < 0 || b < 0 || !float_like(g, a) || !float_like(g, b) || !float_like(g, s))
        return LOOM_OK;
    bool shared = f->readers[s] != 1 || g->values[s].is_output;
    if (shared && !readers_follow(f, s, li))
        return LOOM_OK;
    int ins[4] = {a, ln->in[1], ln->n_in > 2 ? ln->in[2] : -1, b};
    loom_status st = lm_fuse_become(ln, "LayerNormalization", ins, 4);
    if (st)
        return st;
    if (shared) {
        if ((st = add_sum_output(ln, s)))
            return st;
        g->values[s].producer = li;
    }
    f->dead[ai] = true;
    lm_last_fuse_stats.skip_layernorms_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

loom_status lm_fuse_skip_layernorm(fuse_ctx *f)
{
    loom_status s = LOOM_OK;
    for (int i = 0; i < f->g->n_nodes && !s; i++)
        if (!f->dead[i] && lm_fuse_is_op(&f->g->nodes[i], "LayerNormalization"))
            s = skipnorm_at(f, i);
    return s;
}
