/*
 * fuse_match.c - small pattern-matching helpers the load-time rewrites of
 * exporter patterns (fuse_act.c, fuse_norm.c) share: who produces a value,
 * what a binary node's other operand is, whether a value is a known scalar,
 * and turning a node into another op.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuse_internal.h"
#include "op.h"

int lm_fuse_producer(const fuse_ctx *f, int v, const char *op)
{
    if (v < 0)
        return -1;
    int p = f->g->values[v].producer;
    /* producer ids go stale when a rewrite moves an output: check it */
    if (p < 0 || p >= f->g->n_nodes || f->dead[p])
        return -1;
    const lm_node *n = &f->g->nodes[p];
    if (n->n_out < 1 || n->out[0] != v || !lm_fuse_is_op(n, op))
        return -1;
    return p;
}

int lm_fuse_other_input(const lm_node *n, int v)
{
    if (n->n_in != 2)
        return -1;
    if (n->in[0] == v)
        return n->in[1];
    if (n->in[1] == v)
        return n->in[0];
    return -1;
}

bool lm_fuse_const_scalar(const lm_graph *g, int v, double *out)
{
    if (v < 0)
        return false;
    const loom_tensor *t = g->values[v].constant;
    if (!t || lm_tensor_count(t) != 1)
        return false;
    if (t->dtype == LOOM_DTYPE_FLOAT)
        *out = *(const float *)t->data;
    else if (t->dtype == LOOM_DTYPE_DOUBLE)
        *out = *(const double *)t->data;
    else
        return false;
    return true;
}

bool lm_fuse_is_scalar_near(const lm_graph *g, int v, double want, double tol)
{
    double d;
    return lm_fuse_const_scalar(g, v, &d) && d >= want - tol && d <= want + tol;
}

int lm_fuse_consumer_op(const fuse_ctx *f, int ni, const char *op)
{
    int c = lm_fuse_sole_consumer(f, &f->g->nodes[ni]);
    return c >= 0 && !f->dead[c] && lm_fuse_is_op(&f->g->nodes[c], op) ? c : -1;
}

loom_status lm_fuse_become(lm_node *n, const char *op, const int *in, int n_in)
{
    return lm_fuse_become_in(n, "", op, in, n_in);
}

loom_status lm_fuse_become_in(lm_node *n, const char *domain, const char *op, const int *in,
                              int n_in)
{
    const lm_op_def *def = lm_op_find(domain, op);
    if (!def)
        return LOOM_OK; /* no kernel for it: leave the pattern as it is */
    char *dom = strdup(domain), *type = strdup(op);
    int *ins = malloc(sizeof(int) * (size_t)n_in);
    if (!dom || !type || !ins) {
        free(dom);
        free(type);
        free(ins);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(ins, in, sizeof(int) * (size_t)n_in);
    free(n->domain);
    free(n->op_type);
    free(n->in);
    n->domain = dom;
    n->op_type = type;
    n->op = def;
    n->in = ins;
    n->n_in = n_in;
    return LOOM_OK;
}
