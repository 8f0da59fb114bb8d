/*
 * fuse.c - load-time graph rewrites: BatchNorm folding, activation epilogues,
 * Identity removal.
 *
 * Rewrites mark nodes dead and reconnect values; one compaction at the end
 * drops dead nodes and recomputes producers. Every rewrite first checks that
 * the value it removes has exactly one reader and is not a graph output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "error.h"
#include "fuse.h"
#include "fuse_internal.h"
#include "model.h"

_Thread_local lm_fuse_stats lm_last_fuse_stats;

bool lm_fuse_is_op(const lm_node *n, const char *op)
{
    return n->domain[0] == '\0' && strcmp(n->op_type, op) == 0;
}

void lm_fuse_count_readers(fuse_ctx *f)
{
    lm_graph *g = f->g;
    memset(f->readers, 0, sizeof(int) * (size_t)g->n_values);
    for (int i = 0; i < g->n_nodes; i++) {
        if (f->dead[i])
            continue;
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            if (v >= 0) {
                f->readers[v]++;
                f->reader[v] = i;
            }
        }
    }
}

/* The single live node reading output 0 of @n, or -1. */
int lm_fuse_sole_consumer(const fuse_ctx *f, const lm_node *n)
{
    if (n->n_out < 1 || n->out[0] < 0)
        return -1;
    int v = n->out[0];
    for (int o = 1; o < n->n_out; o++)
        if (n->out[o] >= 0)
            return -1; /* extra outputs (e.g. MaxPool indices) keep the node whole */
    if (f->g->values[v].is_output || f->readers[v] != 1)
        return -1;
    return f->reader[v];
}

static const loom_tensor *const_input(const lm_graph *g, const lm_node *n, int i)
{
    if (i >= n->n_in || n->in[i] < 0)
        return NULL;
    const loom_tensor *t = g->values[n->in[i]].constant;
    return t && t->dtype == LOOM_DTYPE_FLOAT ? t : NULL;
}

/* Appends a constant value owning @t; returns its id or -1. */
int lm_fuse_add_constant(lm_graph *g, const char *name, loom_tensor *t)
{
    lm_value *grown = realloc(g->values, sizeof(lm_value) * ((size_t)g->n_values + 1));
    if (!grown)
        return -1;
    g->values = grown;
    lm_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof(*v));
    if (!(v->name = strdup(name)))
        return -1;
    v->constant = t;
    v->dtype = t->dtype;
    v->rank = t->rank;
    memcpy(v->dims, t->dims, sizeof(v->dims));
    v->producer = -1;
    return g->n_values++;
}

/* Conv(x, W, B) -> BatchNormalization(scale, bias, mean, var): W' = W*s, B' = (B-mean)*s + bias. */
static loom_status fold_batchnorm(fuse_ctx *f, int ci, int bi)
{
    lm_graph *g = f->g;
    lm_node *conv = &g->nodes[ci], *bn = &g->nodes[bi];
    const loom_tensor *w = const_input(g, conv, 1), *b = const_input(g, conv, 2);
    const loom_tensor *scale = const_input(g, bn, 1), *beta = const_input(g, bn, 2);
    const loom_tensor *mean = const_input(g, bn, 3), *var = const_input(g, bn, 4);
    if (!w || w->rank < 3 || (conv->n_in > 2 && conv->in[2] >= 0 && !b) || !scale || !beta ||
        !mean || !var || bn->in[0] != conv->out[0] || bn->n_in != 5)
        return LOOM_OK;
    for (int o = 1; o < bn->n_out; o++)
        if (bn->out[o] >= 0)
            return LOOM_OK; /* training outputs requested */
    const lm_attr *tm = lm_node_attr(bn, "training_mode");
    const lm_attr *spatial = lm_node_attr(bn, "spatial");
    if ((tm && tm->i) || (spatial && spatial->i == 0))
        return LOOM_OK;
    int64_t m = w->dims[0], per = lm_tensor_count(w) / (m ? m : 1);
    if (lm_tensor_count(scale) != m || lm_tensor_count(beta) != m || lm_tensor_count(mean) != m ||
        lm_tensor_count(var) != m || (b && lm_tensor_count(b) != m))
        return LOOM_OK; /* let the kernels report the mismatch */
    const lm_attr *ea = lm_node_attr(bn, "epsilon");
    double eps = ea ? ea->f : 1e-5;
    int64_t bdims[1] = {m};
    loom_tensor *nw = lm_tensor_clone(w), *nb = lm_tensor_new(LOOM_DTYPE_FLOAT, 1, bdims);
    if (!nw || !nb) {
        loom_tensor_destroy(nw);
        loom_tensor_destroy(nb);
        return LOOM_ERR_NO_MEMORY;
    }
    float *wd = nw->data, *bd = nb->data;
    const float *sd = scale->data, *btd = beta->data, *md = mean->data, *vd = var->data;
    for (int64_t c = 0; c < m; c++) {
        /* double keeps the folded weights as close as possible to running BN */
        double s = sd[c] / sqrt((double)vd[c] + eps);
        for (int64_t k = 0; k < per; k++)
            wd[c * per + k] = (float)(wd[c * per + k] * s);
        double bias0 = b ? ((const float *)b->data)[c] : 0.0;
        bd[c] = (float)((bias0 - md[c]) * s + btd[c]);
    }
    char name[512];
    snprintf(name, sizeof(name), "%s/folded_weight", conv->name);
    int wv = lm_fuse_add_constant(g, name, nw);
    snprintf(name, sizeof(name), "%s/folded_bias", conv->name);
    int bv = wv >= 0 ? lm_fuse_add_constant(g, name, nb) : -1;
    if (wv < 0 || bv < 0) {
        if (wv < 0)
            loom_tensor_destroy(nw);
        loom_tensor_destroy(nb);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory folding '%s'", bn->name);
    }
    conv = &g->nodes[ci]; /* values moved, nodes did not; refresh for clarity */
    if (conv->n_in < 3) {
        int *in = realloc(conv->in, sizeof(int) * 3);
        if (!in)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        conv->in = in;
        conv->n_in = 3;
    }
    conv->in[1] = wv;
    conv->in[2] = bv;
    conv->out[0] = bn->out[0];
    f->dead[bi] = true;
    lm_last_fuse_stats.batchnorms_folded++;
    return LOOM_OK;
}

loom_status lm_fuse_add_attr(lm_node *n, const char *name, lm_attr_type type, float f,
                             const char *s)
{
    lm_attr *grown = realloc(n->attr, sizeof(lm_attr) * ((size_t)n->n_attr + 1));
    if (!grown)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    n->attr = grown;
    lm_attr *a = &n->attr[n->n_attr];
    memset(a, 0, sizeof(*a));
    a->type = type;
    a->f = f;
    if (!(a->name = strdup(name)) || (s && !(a->s = strdup(s)))) {
        free(a->name);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    n->n_attr++;
    return LOOM_OK;
}

/* The epilogue an activation node describes: name and two parameters. */
static bool activation_params(const lm_graph *g, const lm_node *a, float *alpha, float *beta)
{
    const lm_attr *at;
    if (lm_fuse_is_op(a, "Relu") || lm_fuse_is_op(a, "Sigmoid") || lm_fuse_is_op(a, "HardSwish") ||
        lm_fuse_is_op(a, "Mish"))
        return true;
    if (lm_fuse_is_op(a, "LeakyRelu")) {
        *alpha = (at = lm_node_attr(a, "alpha")) ? at->f : 0.01f;
        return true;
    }
    if (lm_fuse_is_op(a, "Gelu")) {
        const char *ap = (at = lm_node_attr(a, "approximate")) && at->s ? at->s : "none";
        *alpha = strcmp(ap, "tanh") == 0;
        return *alpha != 0 || strcmp(ap, "none") == 0;
    }
    if (lm_fuse_is_op(a, "HardSigmoid")) {
        *alpha = (at = lm_node_attr(a, "alpha")) ? at->f : 0.2f;
        *beta = (at = lm_node_attr(a, "beta")) ? at->f : 0.5f;
        return true;
    }
    if (lm_fuse_is_op(a, "Clip")) {
        *alpha = -INFINITY;
        *beta = INFINITY;
        if (a->opset < 11) {
            *alpha = (at = lm_node_attr(a, "min")) ? at->f : -INFINITY;
            *beta = (at = lm_node_attr(a, "max")) ? at->f : INFINITY;
            return true;
        }
        for (int i = 1; i < a->n_in && i < 3; i++) {
            if (a->in[i] < 0)
                continue;
            const loom_tensor *t = g->values[a->in[i]].constant;
            if (!t || t->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(t) != 1)
                return false; /* bounds known only at run time */
            *(i == 1 ? alpha : beta) = *(const float *)t->data;
        }
        return true;
    }
    return false;
}

static loom_status fuse_activation(fuse_ctx *f, int pi, int ai)
{
    lm_graph *g = f->g;
    lm_node *p = &g->nodes[pi], *a = &g->nodes[ai];
    float alpha = 0, beta = 0;
    if (!(p->op->flags & LM_OP_FUSES_ACTIVATION) || lm_node_attr(p, "_loom_act") ||
        a->in[0] != p->out[0] || !activation_params(g, a, &alpha, &beta))
        return LOOM_OK;
    loom_status s;
    if ((s = lm_fuse_add_attr(p, "_loom_act", LM_ATTR_STRING, 0, a->op_type)) ||
        (s = lm_fuse_add_attr(p, "_loom_alpha", LM_ATTR_FLOAT, alpha, NULL)) ||
        (s = lm_fuse_add_attr(p, "_loom_beta", LM_ATTR_FLOAT, beta, NULL)))
        return s;
    p->out[0] = a->out[0];
    f->dead[ai] = true;
    lm_last_fuse_stats.activations_fused++;
    return LOOM_OK;
}

/*
 * x * HardSigmoid(x) with alpha 1/6 and beta 1/2 is HardSwish(x): exporters for
 * opsets before 14 write it that way. The Mul becomes a HardSwish of x, which
 * the activation fusion below can then fold into x's producer.
 */
static loom_status rewrite_hardswish(fuse_ctx *f, int hi)
{
    lm_graph *g = f->g;
    lm_node *h = &g->nodes[hi];
    const lm_attr *a = lm_node_attr(h, "alpha"), *b = lm_node_attr(h, "beta");
    float alpha = a ? a->f : 0.2f, beta = b ? b->f : 0.5f;
    if (fabsf(alpha - 1.0f / 6.0f) > 1e-6f || fabsf(beta - 0.5f) > 1e-6f || h->n_in != 1 ||
        h->in[0] < 0)
        return LOOM_OK;
    int mi = lm_fuse_sole_consumer(f, h);
    if (mi < 0 || !lm_fuse_is_op(&g->nodes[mi], "Mul"))
        return LOOM_OK;
    lm_node *m = &g->nodes[mi];
    int x = h->in[0];
    if (m->n_in != 2 ||
        !((m->in[0] == x && m->in[1] == h->out[0]) || (m->in[1] == x && m->in[0] == h->out[0])))
        return LOOM_OK;
    const lm_op_def *def = lm_op_find("", "HardSwish");
    char *type = strdup("HardSwish");
    if (!def || !type) {
        free(type);
        return def ? lm_error(LOOM_ERR_NO_MEMORY, "out of memory") : LOOM_OK;
    }
    free(m->op_type);
    m->op_type = type;
    m->op = def;
    m->in[0] = x;
    m->n_in = 1;
    f->dead[hi] = true;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

/*
 * Constant nodes become constant values now, so the rewrites below see Clip
 * bounds, QDQ scales and the like that exporters emit as Constant nodes (the
 * planner would fold them too, but only after these rewrites).
 */
static loom_status fold_constant(fuse_ctx *f, int ni)
{
    lm_graph *g = f->g;
    lm_node *n = &g->nodes[ni];
    if (n->n_in != 0 || n->n_out != 1 || n->out[0] < 0 || g->values[n->out[0]].is_output)
        return LOOM_OK;
    loom_tensor *out[1] = {NULL};
    loom_status s = lm_run_node(n, NULL, out, false, NULL, NULL, NULL);
    if (s) {
        loom_tensor_destroy(out[0]);
        return s; /* a malformed Constant: the same error planning would give */
    }
    lm_value *v = &g->values[n->out[0]];
    v->constant = out[0];
    v->dtype = out[0]->dtype;
    v->rank = out[0]->rank;
    memcpy(v->dims, out[0]->dims, sizeof(v->dims));
    v->producer = -1;
    f->dead[ni] = true;
    return LOOM_OK;
}

/* Identity(x) -> y: readers of y read x instead. Kept when y is a graph output. */
static void bypass_identity(fuse_ctx *f, int ni)
{
    lm_graph *g = f->g;
    lm_node *n = &g->nodes[ni];
    if (n->n_in < 1 || n->in[0] < 0 || n->n_out < 1 || n->out[0] < 0)
        return;
    for (int o = 1; o < n->n_out; o++)
        if (n->out[o] >= 0)
            return; /* Dropout's mask is read */
    if (lm_fuse_is_op(n, "Dropout") && n->n_in > 2 && n->in[2] >= 0)
        return; /* training_mode given: the kernel decides */
    int from = n->in[0], to = n->out[0];
    if (g->values[to].is_output)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == to)
                g->nodes[i].in[j] = from;
    f->dead[ni] = true;
    lm_last_fuse_stats.identities_removed++;
}

/* Marks nodes dead whose outputs nobody reads (e.g. a DequantizeLinear whose
 * reader became a QLinearConv), repeating until nothing changes. */
static void drop_unread(fuse_ctx *f)
{
    lm_graph *g = f->g;
    for (bool changed = true; changed;) {
        changed = false;
        lm_fuse_count_readers(f);
        for (int i = 0; i < g->n_nodes; i++) {
            const lm_node *n = &g->nodes[i];
            bool read = false;
            for (int o = 0; o < n->n_out && !read; o++)
                read = n->out[o] >= 0 && (f->readers[n->out[o]] || g->values[n->out[o]].is_output);
            if (!f->dead[i] && !read) {
                f->dead[i] = true;
                changed = true;
            }
        }
    }
}

static void compact(fuse_ctx *f)
{
    lm_graph *g = f->g;
    int kept = 0;
    drop_unread(f);
    for (int i = 0; i < g->n_nodes; i++) {
        lm_node *n = &g->nodes[i];
        if (!f->dead[i]) {
            g->nodes[kept++] = *n;
            continue;
        }
        lm_node_free(n); /* a dead If or Loop takes its bodies with it */
    }
    g->n_nodes = kept;
    for (int v = 0; v < g->n_values; v++)
        g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_out; o++)
            if (g->nodes[i].out[o] >= 0)
                g->values[g->nodes[i].out[o]].producer = i;
}

/* Float producers only: the epilogue is float math. Conv and Gemm kernels are
 * float32; MatMul also runs on integers, so it needs a float constant operand
 * (and may carry the bias fuse_bias.c appended). */
bool lm_fuse_fusable_producer(const lm_graph *g, const lm_node *n)
{
    if (lm_fuse_is_op(n, "Conv") || lm_fuse_is_op(n, "Gemm"))
        return true;
    if (!lm_fuse_is_op(n, "MatMul") || n->n_in < 2 || n->n_in > 3 || n->in[1] < 0)
        return false;
    const loom_tensor *b = g->values[n->in[1]].constant;
    return b && b->dtype == LOOM_DTYPE_FLOAT;
}

/* Whether value @v is float32: its declared type, or what a Conv or Gemm
 * (float32 kernels) wrote, through up to @depth ops that keep their input's
 * type. Producers may be nodes this pass already fused away: they still say
 * what the graph computed. */
static bool known_float(const lm_graph *g, int v, int depth)
{
    static const char *const same_type[] = {"Relu",    "Clip",        "LeakyRelu",
                                            "Sigmoid", "HardSwish",   "BatchNormalization",
                                            "MaxPool", "AveragePool", "GlobalAveragePool"};
    if (v < 0)
        return false;
    const lm_value *val = &g->values[v];
    if (val->dtype == LOOM_DTYPE_FLOAT)
        return true;
    if (val->producer < 0 || depth == 0)
        return false;
    const lm_node *p = &g->nodes[val->producer];
    if (lm_fuse_is_op(p, "Conv") || lm_fuse_is_op(p, "Gemm"))
        return true;
    if (lm_fuse_is_op(p, "Add") && p->n_in == 2)
        return known_float(g, p->in[0], depth - 1) || known_float(g, p->in[1], depth - 1);
    for (size_t i = 0; i < sizeof(same_type) / sizeof(same_type[0]); i++)
        if (lm_fuse_is_op(p, same_type[i]) && p->n_in >= 1)
            return known_float(g, p->in[0], depth - 1);
    return false;
}

/* A residual Add (float operands) takes the activation after it, applied
 * to each row of its result while it is in cache. */
static bool float_add(const lm_graph *g, const lm_node *n)
{
    return lm_fuse_is_op(n, "Add") && n->n_in == 2 &&
           (known_float(g, n->in[0], 8) || known_float(g, n->in[1], 8));
}

loom_status lm_fuse_graph(lm_graph *g)
{
    memset(&lm_last_fuse_stats, 0, sizeof(lm_last_fuse_stats));
    size_t nv = (size_t)g->n_values + 4 * (size_t)g->n_nodes + 1; /* rewrites add values */
    fuse_ctx f = {.g = g};
    f.readers = calloc(nv, sizeof(int));
    f.reader = calloc(nv, sizeof(int));
    f.dead = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    loom_status s = LOOM_OK;
    if (!f.readers || !f.reader || !f.dead) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->n_nodes && !s; i++)
        if (lm_fuse_is_op(&g->nodes[i], "Constant"))
            s = fold_constant(&f, i);
    if (s)
        goto out;
    for (int i = 0; i < g->n_nodes; i++)
        if (lm_fuse_is_op(&g->nodes[i], "Identity") || lm_fuse_is_op(&g->nodes[i], "Dropout"))
            bypass_identity(&f, i);
    if ((s = lm_fuse_qdq(&f)) || (s = lm_fuse_pads(&f)))
        goto out;
    lm_fuse_count_readers(&f);
    for (int i = 0; i < g->n_nodes && !s; i++)
        if (!f.dead[i] && lm_fuse_is_op(&g->nodes[i], "HardSigmoid"))
            s = rewrite_hardswish(&f, i);
    if (s || (s = lm_fuse_act_chains(&f)) || (s = lm_fuse_layernorm(&f)))
        goto out;
    lm_fuse_count_readers(&f);
    if ((s = lm_fuse_matmul_bias(&f)) || (s = lm_fuse_contrib_bias(&f)) ||
        (s = lm_fuse_attention(&f)) || (s = lm_fuse_skip_layernorm(&f)) ||
        (s = lm_fuse_matmul_transposes(&f)))
        goto out;
    /* Nodes are in topological order: a producer is visited before its reader,
     * so Conv -> BN -> Relu folds BN first, then fuses Relu into the Conv. */
    for (int i = 0; i < g->n_nodes && !s; i++) {
        /* a BatchNormalization no Conv folded (DenseNet's BN -> ReLU -> Conv)
         * and a residual Add take their activation as well */
        if (f.dead[i] ||
            !(lm_fuse_fusable_producer(g, &g->nodes[i]) ||
              lm_fuse_is_op(&g->nodes[i], "BatchNormalization") || float_add(g, &g->nodes[i])))
            continue;
        int c = lm_fuse_sole_consumer(&f, &g->nodes[i]);
        if (c >= 0 && lm_fuse_is_op(&g->nodes[i], "Conv") &&
            lm_fuse_is_op(&g->nodes[c], "BatchNormalization")) {
            if ((s = fold_batchnorm(&f, i, c)))
                break;
            lm_fuse_count_readers(&f);
            c = lm_fuse_sole_consumer(&f, &g->nodes[i]);
        }
        if (c >= 0 && !f.dead[c])
            s = fuse_activation(&f, i, c);
    }
    /* after BN folding, so Conv -> BN -> SiLU reaches the Conv */
    if (!s)
        s = lm_fuse_silu(&f);
    compact(&f);
out:
    free(f.readers);
    free(f.reader);
    free(f.dead);
    return s;
}
