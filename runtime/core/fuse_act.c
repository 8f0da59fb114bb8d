/*
 * fuse_act.c - activations exporters write as elementwise chains become one
 * node at load, so they cost one pass over memory (and vmath's kernels)
 * instead of five to nine:
 *
 *   GELU, erf form (PyTorch opsets 13-17):
 *       Div(x, sqrt 2) | Mul(x, 1/sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5
 *   GELU, tanh form (approximate='tanh'):
 *       Mul(x, x) -> Mul x | Pow(x, 3) -> Mul 0.044715 -> Add x
 *       -> Mul sqrt(2/pi) -> Tanh -> Add 1 -> Mul x -> Mul 0.5
 *   both become Gelu(x) (approximate "none" / "tanh"); the x / 2 may also
 *   come first (Mul(Mul(x, 0.5), 1 + s)) or the 0.5 meet 1 + s first.
 *
 *   Mish: Mul(x, Tanh(Softplus(x))) -> Mish(x).
 *
 *   SiLU: P -> {Sigmoid, Mul(P, Sigmoid(P))} where P is a Conv, Gemm or
 *   MatMul with an activation epilogue: the Mul's output becomes P's, with
 *   _loom_act = "Silu" (YOLO-family detectors put one after every Conv).
 *   After anything else (an Add, a pooling, a graph input) the pair becomes
 *   loom.Silu(x), one pass instead of two.
 *
 * Constants must match to 1e-4 relative (exporters write them in float or
 * double); every intermediate value must have one reader and not be a graph
 * output, so results change only by the kernels' rounding.
 */
#include <math.h>
#include <string.h>

#include "fuse.h"
#include "fuse_internal.h"
#include "op.h"

#define MAX_CHAIN 12

static bool near(const lm_graph *g, int v, double want)
{
    return lm_fuse_is_scalar_near(g, v, want, fabs(want) * 1e-4);
}

/* Value @v is read only by the chain: one reader, not a graph output. */
static bool private_value(const fuse_ctx *f, int v)
{
    return v >= 0 && f->readers[v] == 1 && !f->g->values[v].is_output;
}

/*
 * From node @ai = Add(s, 1), matches (x * (1 + s)) * 0.5 in the associations
 * exporters write. Appends the nodes it consumes to @chain and returns the
 * node whose output is the GELU, or -1.
 */
static int gelu_tail(const fuse_ctx *f, int ai, int s, int x, int *chain, int *nc)
{
    const lm_graph *g = f->g;
    if (!near(g, lm_fuse_other_input(&g->nodes[ai], s), 1.0))
        return -1;
    int a = g->nodes[ai].out[0];
    int m1 = lm_fuse_consumer_op(f, ai, "Mul");
    if (m1 < 0)
        return -1;
    int o = lm_fuse_other_input(&g->nodes[m1], a);
    if (o == x || near(g, o, 0.5)) { /* (x (1 + s)) 0.5 or ((1 + s) 0.5) x */
        int m2 = lm_fuse_consumer_op(f, m1, "Mul");
        if (m2 < 0)
            return -1;
        int o2 = lm_fuse_other_input(&g->nodes[m2], g->nodes[m1].out[0]);
        if (o == x ? !near(g, o2, 0.5) : o2 != x)
            return -1;
        chain[(*nc)++] = m1;
        return m2;
    }
    int h = lm_fuse_producer(f, o, "Mul"); /* (x 0.5) (1 + s) */
    if (h < 0 || !private_value(f, o) || !near(g, lm_fuse_other_input(&g->nodes[h], x), 0.5))
        return -1;
    chain[(*nc)++] = h;
    return m1;
}

/* x / sqrt(2) as Div(x, 1.414..) or Mul(x, 0.707..): returns x, or -1. */
static int erf_argument(const fuse_ctx *f, int t, int *chain, int *nc)
{
    const lm_graph *g = f->g;
    if (!private_value(f, t))
        return -1;
    int d = lm_fuse_producer(f, t, "Div");
    if (d >= 0 && g->nodes[d].n_in == 2 && near(g, g->nodes[d].in[1], M_SQRT2)) {
        chain[(*nc)++] = d;
        return g->nodes[d].in[0];
    }
    int m = lm_fuse_producer(f, t, "Mul");
    if (m < 0 || g->nodes[m].n_in != 2)
        return -1;
    for (int i = 0; i < 2; i++)
        if (near(g, g->nodes[m].in[i], M_SQRT1_2)) {
            chain[(*nc)++] = m;
            return g->nodes[m].in[1 - i];
        }
    return -1;
}

/* x^3 as Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x). */
static bool is_cube(const fuse_ctx *f, int c, int x, int *chain, int *nc)
{
    const lm_graph *g = f->g;
    if (!private_value(f, c))
        return false;
    int p = lm_fuse_producer(f, c, "Pow");
    if (p >= 0 && g->nodes[p].n_in == 2 && g->nodes[p].in[0] == x &&
        near(g, g->nodes[p].in[1], 3.0)) {
        chain[(*nc)++] = p;
        return true;
    }
    int m = lm_fuse_producer(f, c, "Mul");
    if (m < 0)
        return false;
    int sq = lm_fuse_other_input(&g->nodes[m], x);
    int s = lm_fuse_producer(f, sq, "Mul");
    if (s < 0 || !private_value(f, sq) || g->nodes[s].in[0] != x || g->nodes[s].in[1] != x)
        return false;
    chain[(*nc)++] = m;
    chain[(*nc)++] = s;
    return true;
}

/* sqrt(2/pi) (x + 0.044715 x^3): returns x, or -1. */
static int tanh_argument(const fuse_ctx *f, int u, int *chain, int *nc)
{
    const lm_graph *g = f->g;
    int mu = lm_fuse_producer(f, u, "Mul");
    if (mu < 0 || !private_value(f, u) || g->nodes[mu].n_in != 2)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (!near(g, g->nodes[mu].in[i], 0.7978845608028654))
            continue;
        int w = g->nodes[mu].in[1 - i];
        int ad = lm_fuse_producer(f, w, "Add");
        if (ad < 0 || !private_value(f, w) || g->nodes[ad].n_in != 2)
            return -1;
        for (int j = 0; j < 2; j++) {
            int x = g->nodes[ad].in[j], kv = g->nodes[ad].in[1 - j];
            int km = lm_fuse_producer(f, kv, "Mul");
            if (km < 0 || !private_value(f, kv) || g->nodes[km].n_in != 2)
                continue;
            for (int c = 0; c < 2; c++) {
                int n0 = *nc;
                if (near(g, g->nodes[km].in[c], 0.044715) &&
                    is_cube(f, g->nodes[km].in[1 - c], x, chain, nc)) {
                    chain[(*nc)++] = km;
                    chain[(*nc)++] = ad;
                    chain[(*nc)++] = mu;
                    return x;
                }
                *nc = n0;
            }
        }
        return -1;
    }
    return -1;
}

/* The Erf or Tanh node @ei heads a GELU: rewrite the chain into one Gelu. */
static loom_status gelu_at(fuse_ctx *f, int ei, bool tanh_form)
{
    lm_graph *g = f->g;
    int chain[MAX_CHAIN], nc = 0;
    const lm_node *e = &g->nodes[ei];
    if (e->n_in != 1 || e->n_out != 1)
        return LOOM_OK;
    int x =
        tanh_form ? tanh_argument(f, e->in[0], chain, &nc) : erf_argument(f, e->in[0], chain, &nc);
    if (x < 0)
        return LOOM_OK;
    int ai = lm_fuse_consumer_op(f, ei, "Add");
    int last = ai >= 0 ? gelu_tail(f, ai, e->out[0], x, chain, &nc) : -1;
    if (last < 0)
        return LOOM_OK;
    chain[nc++] = ei;
    chain[nc++] = ai;
    loom_status s = lm_fuse_become(&g->nodes[last], "Gelu", &x, 1);
    if (s || !lm_fuse_is_op(&g->nodes[last], "Gelu"))
        return s;
    if (tanh_form &&
        (s = lm_fuse_add_attr(&g->nodes[last], "approximate", LM_ATTR_STRING, 0, "tanh")))
        return s;
    for (int i = 0; i < nc; i++)
        f->dead[chain[i]] = true;
    lm_last_fuse_stats.gelus_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

/* Softplus node @si: Mul(x, Tanh(Softplus(x))) -> Mish(x) (exporters before
 * opset 18, which has no Mish; YOLOv4-style detectors use it throughout). */
static loom_status mish_at(fuse_ctx *f, int si)
{
    lm_graph *g = f->g;
    const lm_node *sp = &g->nodes[si];
    if (sp->n_in != 1 || sp->n_out != 1 || sp->in[0] < 0)
        return LOOM_OK;
    int x = sp->in[0];
    int ti = lm_fuse_consumer_op(f, si, "Tanh");
    int mi = ti >= 0 ? lm_fuse_consumer_op(f, ti, "Mul") : -1;
    if (mi < 0 || lm_fuse_other_input(&g->nodes[mi], g->nodes[ti].out[0]) != x)
        return LOOM_OK;
    loom_status s = lm_fuse_become(&g->nodes[mi], "Mish", &x, 1);
    if (s || !lm_fuse_is_op(&g->nodes[mi], "Mish"))
        return s;
    f->dead[si] = true;
    f->dead[ti] = true;
    lm_last_fuse_stats.mishes_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

loom_status lm_fuse_act_chains(fuse_ctx *f)
{
    loom_status s = LOOM_OK;
    for (int i = 0; i < f->g->n_nodes && !s; i++) {
        if (f->dead[i])
            continue;
        if (lm_fuse_is_op(&f->g->nodes[i], "Erf"))
            s = gelu_at(f, i, false);
        else if (lm_fuse_is_op(&f->g->nodes[i], "Tanh"))
            s = gelu_at(f, i, true);
        else if (lm_fuse_is_op(&f->g->nodes[i], "Softplus"))
            s = mish_at(f, i);
    }
    return s;
}

/* Mul(x, Sigmoid(x)) -> loom.Silu(x) (node @mi), the Sigmoid @si dies. */
static loom_status silu_node(fuse_ctx *f, int si, int mi, int x)
{
    lm_node *m = &f->g->nodes[mi];
    loom_status s = lm_fuse_become_in(m, "loom", "Silu", &x, 1);
    if (s || strcmp(m->domain, "loom") != 0) /* no kernel: left as it was */
        return s;
    f->dead[si] = true;
    lm_last_fuse_stats.silus_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

/* Sigmoid node @si: x -> {Sigmoid, Mul(x, Sigmoid(x))}: into the epilogue
 * of x's producer P when P has one and x is read by exactly those two, else
 * into loom.Silu. */
static loom_status silu_at(fuse_ctx *f, int si)
{
    lm_graph *g = f->g;
    const lm_node *sg = &g->nodes[si];
    if (sg->n_in != 1 || sg->n_out != 1)
        return LOOM_OK;
    int x = sg->in[0];
    int mi = lm_fuse_consumer_op(f, si, "Mul");
    if (x < 0 || mi < 0 || lm_fuse_other_input(&g->nodes[mi], sg->out[0]) != x ||
        g->values[sg->out[0]].is_output)
        return LOOM_OK;
    if (f->readers[x] != 2 || g->values[x].is_output)
        return silu_node(f, si, mi, x);
    int pi = g->values[x].producer;
    if (pi < 0 || f->dead[pi] || g->nodes[pi].out[0] != x) { /* moved by a BN fold */
        pi = -1;
        for (int i = 0; i < g->n_nodes && pi < 0; i++)
            if (!f->dead[i] && g->nodes[i].n_out >= 1 && g->nodes[i].out[0] == x)
                pi = i;
    }
    if (pi < 0)
        return silu_node(f, si, mi, x);
    lm_node *p = &g->nodes[pi];
    if (!lm_fuse_fusable_producer(g, p) || !(p->op->flags & LM_OP_FUSES_ACTIVATION) ||
        lm_node_attr(p, "_loom_act"))
        return silu_node(f, si, mi, x);
    for (int o = 1; o < p->n_out; o++)
        if (p->out[o] >= 0)
            return silu_node(f, si, mi, x);
    loom_status s;
    if ((s = lm_fuse_add_attr(p, "_loom_act", LM_ATTR_STRING, 0, "Silu")) ||
        (s = lm_fuse_add_attr(p, "_loom_alpha", LM_ATTR_FLOAT, 0, NULL)) ||
        (s = lm_fuse_add_attr(p, "_loom_beta", LM_ATTR_FLOAT, 0, NULL)))
        return s;
    p->out[0] = g->nodes[mi].out[0];
    f->dead[si] = true;
    f->dead[mi] = true;
    lm_last_fuse_stats.silus_fused++;
    lm_fuse_count_readers(f);
    return LOOM_OK;
}

loom_status lm_fuse_silu(fuse_ctx *f)
{
    loom_status s = LOOM_OK;
    for (int i = 0; i < f->g->n_nodes && !s; i++)
        if (!f->dead[i] && lm_fuse_is_op(&f->g->nodes[i], "Sigmoid"))
            s = silu_at(f, i);
    return s;
}
