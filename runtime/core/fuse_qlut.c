/*
 * fuse_qlut.c - element-wise chains between quantizers become a 256-entry
 * table (loom.QLut, cpu/ops/qlut.c).
 *
 * ONNX Runtime's quantizer wraps every float operator in DQ and Q, so a GELU
 * is DQ(h) -> Div -> Erf -> Q -> DQ -> Add 1 -> Q -> DQ -> Mul(DQ(h)) -> Q ->
 * DQ -> Mul 0.5 -> Q: eleven float passes over the FFN's widest tensor. Every
 * node there is element-wise and every operand other than h is a one-value
 * constant, so the chain's result at each position depends only on the byte
 * of h there: it is a function of 256 values. The rewrite finds, from a
 * QuantizeLinear, the largest such set of nodes with one varying 8-bit input,
 * runs those nodes' own kernels once on the 256 possible bytes, and replaces
 * the QuantizeLinear with a lookup in the result. Intermediate Q and DQ are
 * part of the function (their rounding included), so the table holds what the
 * float graph computes, up to a last-bit difference where a vector kernel
 * and its scalar tail round alike-but-not-equal.
 *
 * Nodes of the set whose outputs something else still reads stay for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "error.h"
#include "fuse_internal.h"
#include "op.h"
#include "model.h"

/* Operators whose output at a position depends only on their inputs at that
 * position (one-value operands broadcast), and which keep the shape. */
static bool elementwise(const lm_node *n)
{
    static const char *const ops[] = {"Add",
                                      "Sub",
                                      "Mul",
                                      "Div",
                                      "Pow",
                                      "Max",
                                      "Min",
                                      "Abs",
                                      "Neg",
                                      "Exp",
                                      "Log",
                                      "Sqrt",
                                      "Reciprocal",
                                      "Erf",
                                      "Tanh",
                                      "Sigmoid",
                                      "Relu",
                                      "LeakyRelu",
                                      "Elu",
                                      "Selu",
                                      "Celu",
                                      "Softplus",
                                      "Softsign",
                                      "HardSigmoid",
                                      "HardSwish",
                                      "Gelu",
                                      "Mish",
                                      "Clip",
                                      "Floor",
                                      "Ceil",
                                      "Round",
                                      "QuantizeLinear",
                                      "DequantizeLinear"};
    if (n->n_out != 1)
        return false;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (lm_fuse_is_op(n, ops[i]))
            return true;
    return false;
}

/* The walk's state: the nodes taken (in_set, list) and the varying input. */
typedef struct lut_walk {
    fuse_ctx *f;
    bool *in_set; /* per node */
    bool *dies;   /* per node: taken, and read by nothing else */
    int *list;    /* nodes taken, in the order found */
    int n_list;
    int leaf; /* the 8-bit value the set is a function of, or -1 */
    bool rank1_const;
} lut_walk;

static bool is_8bit(loom_dtype dt)
{
    return dt == LOOM_DTYPE_UINT8 || dt == LOOM_DTYPE_INT8;
}

/* The type of 8-bit value @v: recorded, or that of the QuantizeLinear
 * making it (its zero point's; uint8 without one); UNDEFINED otherwise. */
static loom_dtype q8_type(const fuse_ctx *f, int v)
{
    const lm_value *val = &f->g->values[v];
    if (is_8bit(val->dtype))
        return val->dtype;
    int p = val->producer;
    if (val->dtype != LOOM_DTYPE_UNDEFINED || p < 0 ||
        !lm_fuse_is_op(&f->g->nodes[p], "QuantizeLinear"))
        return LOOM_DTYPE_UNDEFINED;
    const lm_node *q = &f->g->nodes[p];
    if (q->n_in < 3 || q->in[2] < 0)
        return LOOM_DTYPE_UINT8;
    const loom_tensor *z = f->g->values[q->in[2]].constant;
    return z && is_8bit(z->dtype) ? z->dtype : LOOM_DTYPE_UNDEFINED;
}

/* A constant operand that keeps the function element-wise: one value. */
static bool one_value(lut_walk *w, const loom_tensor *c)
{
    if (lm_tensor_count(c) != 1 || c->rank > 1)
        return false;
    w->rank1_const |= c->rank == 1;
    return true;
}

static bool take_leaf(lut_walk *w, int v)
{
    if (!is_8bit(q8_type(w->f, v)) || (w->leaf >= 0 && w->leaf != v))
        return false;
    w->leaf = v;
    return true;
}

static bool walk(lut_walk *w, int v);

/* Takes producer @p of @v and its inputs; on failure undoes what it took
 * and tries @v itself as the varying input. */
static bool expand(lut_walk *w, int v, int p)
{
    int saved_n = w->n_list, saved_leaf = w->leaf;
    bool saved_rank1 = w->rank1_const;
    const lm_node *n = &w->f->g->nodes[p];
    w->in_set[p] = true;
    w->list[w->n_list++] = p;
    bool ok = true;
    for (int i = 0; i < n->n_in && ok; i++)
        ok = walk(w, n->in[i]);
    if (ok)
        return true;
    for (int i = saved_n; i < w->n_list; i++)
        w->in_set[w->list[i]] = false;
    w->n_list = saved_n;
    w->leaf = saved_leaf;
    w->rank1_const = saved_rank1;
    return take_leaf(w, v);
}

/* Whether value @v is a function of the one varying 8-bit input. */
static bool walk(lut_walk *w, int v)
{
    if (v < 0 || v == w->leaf)
        return true;
    const lm_value *val = &w->f->g->values[v];
    if (val->constant)
        return one_value(w, val->constant);
    int p = val->producer;
    if (p < 0 || w->f->dead[p])
        return take_leaf(w, v);
    if (w->in_set[p])
        return true;
    if (!elementwise(&w->f->g->nodes[p]))
        return take_leaf(w, v);
    return expand(w, v, p);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The 256 values of the leaf's type in byte order: byte b is the value whose
 * representation is b (int8: 0..127, then -128..-1). */
static loom_tensor *byte_values(loom_dtype dt)
{
    int64_t d = 256;
    loom_tensor *t = lm_tensor_new(dt, 1, &d);
    if (t)
        for (int i = 0; i < 256; i++)
            ((uint8_t *)t->data)[i] = (uint8_t)i;
    return t;
}

/* Runs the set's nodes (sorted, so producers first) on the 256 byte values;
 * the last node's output is the table. vals[v]: tensors computed so far. */
static loom_status tabulate(lut_walk *w, loom_tensor **vals, loom_tensor **table)
{
    lm_graph *g = w->f->g;
    *table = NULL;
    if (!(vals[w->leaf] = byte_values(q8_type(w->f, w->leaf))))
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < w->n_list; i++) {
        const lm_node *n = &g->nodes[w->list[i]];
        loom_tensor *in[n->n_in + 1], *out[1] = {NULL};
        for (int j = 0; j < n->n_in; j++) {
            int v = n->in[j];
            in[j] = v < 0 ? NULL : g->values[v].constant ? g->values[v].constant : vals[v];
            if (v >= 0 && !in[j])
                return LOOM_ERR_UNSUPPORTED; /* not in topological order: leave it */
        }
        loom_status s = lm_run_node(n, in, out, false, NULL, NULL, NULL);
        if (s) {
            loom_tensor_destroy(out[0]);
            return s;
        }
        vals[n->out[0]] = out[0];
    }
    int last = g->nodes[w->list[w->n_list - 1]].out[0];
    *table = vals[last];
    vals[last] = NULL;
    return LOOM_OK;
}

/* Which of the set's nodes nothing outside it (nor the graph's outputs)
 * reads once @final reads only the leaf: dies[ni], last first so a node
 * whose readers all die dies too. Returns how many of them compute (are
 * neither Q nor DQ): the rewrite is worth it only if some do. */
static int unread(lut_walk *w, int final, bool *dies)
{
    fuse_ctx *f = w->f;
    lm_graph *g = f->g;
    int compute = 0;
    for (int i = w->n_list - 1; i >= 0; i--) {
        int ni = w->list[i];
        if (ni == final)
            continue;
        int v = g->nodes[ni].out[0];
        bool read = g->values[v].is_output;
        for (int r = 0; r < g->n_nodes && !read; r++) {
            if (f->dead[r] || dies[r] || r == final)
                continue;
            for (int j = 0; j < g->nodes[r].n_in && !read; j++)
                read = g->nodes[r].in[j] == v;
        }
        if (read)
            continue;
        dies[ni] = true;
        compute += !lm_fuse_is_op(&g->nodes[ni], "QuantizeLinear") &&
                   !lm_fuse_is_op(&g->nodes[ni], "DequantizeLinear");
    }
    return compute;
}

/* The final Q becomes loom.QLut(leaf, table); the rest of the set dies
 * where nothing else reads it. */
static loom_status rewrite(lut_walk *w, int final, loom_tensor *table)
{
    lm_graph *g = w->f->g;
    lm_node *q = &g->nodes[final];
    char name[300];
    snprintf(name, sizeof(name), "%s/table", q->name);
    int tv = lm_fuse_add_constant(g, name, table);
    if (tv < 0) {
        loom_tensor_destroy(table);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory rewriting '%s'", q->name);
    }
    const lm_op_def *def = lm_op_find("loom", "QLut");
    char *domain = strdup("loom"), *type = strdup("QLut");
    int *in = realloc(q->in, sizeof(int) * (size_t)(q->n_in > 2 ? q->n_in : 2));
    if (!domain || !type || !in) {
        free(domain);
        free(type);
        if (in)
            q->in = in;
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory rewriting '%s'", q->name);
    }
    q->in = in;
    for (int i = 0; i < w->n_list; i++)
        if (w->dies[w->list[i]])
            w->f->dead[w->list[i]] = true;
    q->in[0] = w->leaf;
    q->in[1] = tv;
    q->n_in = 2;
    free(q->domain);
    free(q->op_type);
    q->domain = domain;
    q->op_type = type;
    q->op = def;
    lm_last_fuse_stats.qdq_fused++;
    return LOOM_OK;
}

/* Clears the walk's per-node marks and the tensors tabulate() made. */
static void reset(lut_walk *w, loom_tensor **vals)
{
    lm_graph *g = w->f->g;
    for (int i = 0; i < w->n_list; i++) {
        int ni = w->list[i];
        w->in_set[ni] = w->dies[ni] = false;
        loom_tensor_destroy(vals[g->nodes[ni].out[0]]);
        vals[g->nodes[ni].out[0]] = NULL;
    }
    if (w->leaf >= 0) {
        loom_tensor_destroy(vals[w->leaf]);
        vals[w->leaf] = NULL;
    }
}

/* Whether the set from @qi is one function of an 8-bit leaf that saves work:
 * some computing node dies with the rewrite. */
static bool worth_a_table(lut_walk *w, int qi)
{
    lm_graph *g = w->f->g;
    const lm_node *q = &g->nodes[qi];
    bool ok = true;
    for (int i = 0; i < q->n_in && ok; i++)
        ok = walk(w, q->in[i]);
    /* A one-value operand of rank 1 would make a rank-0 input rank 1. */
    if (!ok || w->leaf < 0 || (w->rank1_const && g->values[w->leaf].rank < 1))
        return false;
    qsort(w->list, (size_t)w->n_list, sizeof(int), cmp_int);
    return unread(w, qi, w->dies) > 0;
}

/* From QuantizeLinear @qi: the set, its table, the rewrite. */
static loom_status fuse_from(lut_walk *w, int qi, loom_tensor **vals)
{
    w->n_list = 0;
    w->leaf = -1;
    w->rank1_const = false;
    w->in_set[qi] = true;
    w->list[w->n_list++] = qi;
    loom_status s = LOOM_OK;
    if (worth_a_table(w, qi)) {
        loom_tensor *table = NULL;
        s = tabulate(w, vals, &table);
        if (s == LOOM_OK && lm_tensor_count(table) == 256 && is_8bit(table->dtype))
            s = rewrite(w, qi, table);
        else
            loom_tensor_destroy(table);
        if (s == LOOM_ERR_UNSUPPORTED)
            s = LOOM_OK; /* a kernel refused these values: keep the float chain */
    }
    reset(w, vals);
    return s;
}

loom_status lm_fuse_qlut(fuse_ctx *f)
{
    lm_graph *g = f->g;
    if (!lm_op_find("loom", "QLut") || lm_env_flag(LM_ENV_QDQ_NO_TABLES))
        return LOOM_OK;
    lut_walk w = {.f = f};
    w.in_set = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    w.dies = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    w.list = malloc(sizeof(int) * ((size_t)g->n_nodes + 1));
    /* Indexed by the values that exist now: tables are added after them. */
    loom_tensor **vals = calloc((size_t)g->n_values + 1, sizeof(loom_tensor *));
    loom_status s = LOOM_OK;
    if (!w.in_set || !w.dies || !w.list || !vals)
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    /* Last first: the QuantizeLinear that ends a chain takes all of it. */
    for (int i = g->n_nodes - 1; i >= 0 && !s; i--)
        if (!f->dead[i] && lm_fuse_is_op(&g->nodes[i], "QuantizeLinear") && g->nodes[i].n_out == 1)
            s = fuse_from(&w, i, vals);
    free(w.in_set);
    free(w.dies);
    free(w.list);
    free(vals);
    return s;
}
