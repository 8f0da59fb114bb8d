/*
 * fuse_matmul_perm.c - Transposes around a float MatMul become views the
 * product reads and writes in place: MatMul(Transpose(A, pa),
 * Transpose(B, pb)) -> MatMul(A, B) with _loom_perm_a pa, _loom_perm_b pb,
 * and a Transpose(., py) of its result -> _loom_perm_y py.
 *
 * Exported attention splits heads with Reshape [b, s, h, d] and
 * Transpose(0, 2, 1, 3) before Q K^T and P V, and joins them with the same
 * perm after: three full copies per layer. Only perms that keep the last
 * axis last are taken, so every matrix the CPU's SGEMM sees is a strided
 * view with contiguous rows (cpu/ops/matmul_view.c); K^T's perm (0, 2, 3,
 * 1) moves it and stays a Transpose. Each absorbed value must have no other
 * reader and be no graph output, and the product must be float: value types
 * are rarely recorded by exporters, so float is traced back through the ops
 * that keep their input's type to a float constant or graph input.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuse.h"
#include "fuse_internal.h"
#include "op.h"

#define TRACE_DEPTH 24

/* Ops whose output 0 has the type of their input 0 (and of input 1 where
 * that is a second operand: Reshape's is int64 shape data, never float). */
static bool keeps_type(const lm_node *n)
{
    static const char *const ops[] = {"Reshape",   "Transpose", "Squeeze",
                                      "Unsqueeze", "Flatten",   "Identity",
                                      "MatMul",    "Gemm",      "Add",
                                      "Sub",       "Mul",       "Div",
                                      "Softmax",   "Relu",      "Gelu",
                                      "Tanh",      "Sigmoid",   "Erf",
                                      "Sqrt",      "Neg",       "LayerNormalization"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (lm_fuse_is_op(n, ops[i]))
            return true;
    return false;
}

/* @v is known to be float: recorded so, or traced through keeps_type ops. */
static bool known_float(const lm_graph *g, int v, int depth)
{
    if (v < 0 || depth > TRACE_DEPTH)
        return false;
    const lm_value *val = &g->values[v];
    if (val->dtype != LOOM_DTYPE_UNDEFINED || val->constant || val->producer < 0)
        return val->dtype == LOOM_DTYPE_FLOAT ||
               (val->constant && val->constant->dtype == LOOM_DTYPE_FLOAT);
    const lm_node *p = &g->nodes[val->producer];
    if (p->n_out < 1 || p->out[0] != v || !keeps_type(p))
        return false;
    /* a binary op's inputs share its type: either may be the one that is
     * known (a rewrite may have left the other without a live producer) */
    for (int i = 0; i < p->n_in && i < 2; i++)
        if (known_float(g, p->in[i], depth + 1))
            return true;
    return false;
}

/* The Transpose's perm when it keeps the last axis last, else 0 entries. */
static int usable_perm(const lm_node *t, const int64_t **perm)
{
    int n = lm_node_attr_ints(t, "perm", perm);
    if (n < 2 || t->n_in != 1 || t->n_out != 1)
        return 0;
    for (int i = 0; i < n; i++)
        if ((*perm)[i] < 0 || (*perm)[i] >= n)
            return 0;
    return (*perm)[n - 1] == n - 1 ? n : 0;
}

static loom_status add_perm(lm_node *n, const char *name, const int64_t *perm, int count)
{
    loom_status s = lm_fuse_add_attr(n, name, LM_ATTR_INTS, 0, NULL);
    if (s)
        return s;
    lm_attr *a = &n->attr[n->n_attr - 1];
    if (!(a->ints = malloc(sizeof(int64_t) * (size_t)count)))
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    memcpy(a->ints, perm, sizeof(int64_t) * (size_t)count);
    a->n = count;
    return LOOM_OK;
}

static bool private_value(const fuse_ctx *f, int v)
{
    return v >= 0 && f->readers[v] == 1 && !f->g->values[v].is_output;
}

/* Input @i of MatMul @mi read through its producing Transpose. */
static loom_status absorb_input(fuse_ctx *f, int mi, int i)
{
    lm_graph *g = f->g;
    int v = g->nodes[mi].in[i];
    int ti = lm_fuse_producer(f, v, "Transpose");
    const int64_t *perm;
    int n = ti >= 0 ? usable_perm(&g->nodes[ti], &perm) : 0;
    int src = n ? g->nodes[ti].in[0] : -1;
    /* a constant's Transpose folds at planning, and packs then */
    if (!n || !private_value(f, v) || src < 0 || g->values[src].constant)
        return LOOM_OK;
    loom_status s = add_perm(&g->nodes[mi], i ? "_loom_perm_b" : "_loom_perm_a", perm, n);
    if (s)
        return s;
    g->nodes[mi].in[i] = src;
    f->dead[ti] = true;
    lm_last_fuse_stats.matmul_transposes_fused++;
    return LOOM_OK;
}

/* The Transpose reading MatMul @mi's result, written through its view. */
static loom_status absorb_output(fuse_ctx *f, int mi)
{
    lm_graph *g = f->g;
    int ti = lm_fuse_sole_consumer(f, &g->nodes[mi]);
    const int64_t *perm;
    int n = ti >= 0 && lm_fuse_is_op(&g->nodes[ti], "Transpose") ? usable_perm(&g->nodes[ti], &perm)
                                                                 : 0;
    if (!n)
        return LOOM_OK;
    loom_status s = add_perm(&g->nodes[mi], "_loom_perm_y", perm, n);
    if (s)
        return s;
    g->nodes[mi].out[0] = g->nodes[ti].out[0];
    g->values[g->nodes[mi].out[0]].producer = mi;
    f->dead[ti] = true;
    lm_last_fuse_stats.matmul_transposes_fused++;
    return LOOM_OK;
}

static loom_status matmul_at(fuse_ctx *f, int mi)
{
    const lm_node *m = &f->g->nodes[mi];
    if (m->n_in != 2 || m->n_out != 1 || lm_node_has_attr(m, "_loom_act") ||
        !known_float(f->g, m->in[0], 0) || !known_float(f->g, m->in[1], 0))
        return LOOM_OK;
    loom_status s;
    if ((s = absorb_input(f, mi, 0)) || (s = absorb_input(f, mi, 1)) || (s = absorb_output(f, mi)))
        return s;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

loom_status lm_fuse_matmul_transposes(fuse_ctx *f)
{
    loom_status s = LOOM_OK;
    for (int i = 0; i < f->g->n_nodes && !s; i++)
        if (!f->dead[i] && lm_fuse_is_op(&f->g->nodes[i], "MatMul"))
            s = matmul_at(f, i);
    return s;
}
