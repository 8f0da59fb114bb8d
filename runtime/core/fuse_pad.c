/*
 * fuse_pad.c - explicit zero Pad nodes folded away at load.
 *
 * Exporters write padding as its own node where the framework's layer pads
 * differently from ONNX's Conv: TensorFlow-style "same" padding (asymmetric,
 * in ports of EfficientNet and MobileNet), and PyTorch's functional pads,
 * which torchvision's DenseNet export writes even with all-zero pads before
 * its average pools. Each such Pad copies a whole activation. Here:
 *   - a Pad whose pads are all zero is bypassed;
 *   - a constant-zero Pad of the spatial axes only, whose sole reader is a
 *     float Conv or an AveragePool that counts padding (count_include_pad=1),
 *     is added to that reader's pads and dropped.
 * A MaxPool pads with -inf, and an AveragePool that excludes padding divides
 * by the taps inside the image: neither equals reading zeros, so both keep
 * their Pad.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuse.h"
#include "fuse_internal.h"

/* The Pad's pads (2 x *rank values) when they and its fill are constants and
 * the fill is zero; false otherwise. */
static bool zero_pad(const lm_graph *g, const lm_node *n, int *rank, int64_t *pads)
{
    const lm_attr *mode = lm_node_attr(n, "mode");
    if (mode && mode->s && strcmp(mode->s, "constant") != 0)
        return false;
    if (n->n_in > 3 && n->in[3] >= 0)
        return false; /* axes (opset 18): rare in exports, not folded */
    const int64_t *attr_pads;
    int np = lm_node_attr_ints(n, "pads", &attr_pads);
    if (np > 0) { /* opset < 11: pads and value are attributes */
        if (np % 2 || np > 2 * LOOM_MAX_RANK || lm_node_attr_float(n, "value", 0.0f) != 0.0f)
            return false;
        *rank = np / 2;
        memcpy(pads, attr_pads, sizeof(int64_t) * (size_t)np);
        return true;
    }
    if (n->n_in < 2 || n->in[1] < 0)
        return false;
    const loom_tensor *p = g->values[n->in[1]].constant;
    int64_t count = p ? loom_tensor_count(p) : 0;
    if (!p || p->dtype != LOOM_DTYPE_INT64 || count % 2 || count > 2 * LOOM_MAX_RANK)
        return false;
    *rank = (int)(count / 2);
    memcpy(pads, p->data, sizeof(int64_t) * (size_t)count);
    double fill = 0;
    if (n->n_in > 2 && n->in[2] >= 0 && (!lm_fuse_const_scalar(g, n->in[2], &fill) || fill != 0))
        return false;
    return true;
}

/* Sets the INTS attribute @name of @n to @v, adding it when absent. */
static loom_status set_ints(lm_node *n, const char *name, const int64_t *v, int count)
{
    int64_t *copy = malloc(sizeof(int64_t) * (size_t)count);
    if (!copy)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    memcpy(copy, v, sizeof(int64_t) * (size_t)count);
    lm_attr *a = (lm_attr *)lm_node_attr(n, name);
    if (!a) {
        loom_status s = lm_fuse_add_attr(n, name, LM_ATTR_INTS, 0.0f, NULL);
        if (s) {
            free(copy);
            return s;
        }
        a = &n->attr[n->n_attr - 1];
    }
    free(a->ints);
    a->type = LM_ATTR_INTS;
    a->ints = copy;
    a->n = count;
    return LOOM_OK;
}

/* Whether @r reads zeros in its padding the way it would read them from
 * a zero-padded input. */
static bool reads_zero_padding(const lm_node *r)
{
    const lm_attr *ap = lm_node_attr(r, "auto_pad");
    if (ap && ap->s && strcmp(ap->s, "NOTSET") != 0)
        return false;
    if (lm_fuse_is_op(r, "Conv"))
        return true;
    return lm_fuse_is_op(r, "AveragePool") && lm_node_attr_int(r, "count_include_pad", 0) == 1;
}

/* Pad @pi's spatial pads added to its reader @ri's, which then reads the
 * Pad's input. */
static loom_status fold_into(fuse_ctx *f, int pi, int ri, int rank, const int64_t *pads)
{
    lm_graph *g = f->g;
    lm_node *p = &g->nodes[pi], *r = &g->nodes[ri];
    int nsp = rank - 2;
    if (nsp < 1 || pads[0] || pads[1] || pads[rank] || pads[rank + 1])
        return LOOM_OK; /* batch or channel padding */
    const int64_t *old;
    int n_old = lm_node_attr_ints(r, "pads", &old);
    if (n_old != 0 && n_old != 2 * nsp)
        return LOOM_OK; /* malformed: let the kernel report it */
    int64_t sum[2 * LOOM_MAX_RANK];
    for (int a = 0; a < nsp; a++) {
        sum[a] = pads[2 + a] + (n_old ? old[a] : 0);
        sum[nsp + a] = pads[rank + 2 + a] + (n_old ? old[nsp + a] : 0);
    }
    const int64_t *k;
    if (lm_fuse_is_op(r, "AveragePool")) { /* ONNX wants pads below the window */
        if (lm_node_attr_ints(r, "kernel_shape", &k) != nsp)
            return LOOM_OK;
        for (int a = 0; a < nsp; a++)
            if (sum[a] >= k[a] || sum[nsp + a] >= k[a])
                return LOOM_OK;
    }
    loom_status s = set_ints(r, "pads", sum, 2 * nsp);
    if (s)
        return s;
    for (int j = 0; j < r->n_in; j++)
        if (r->in[j] == p->out[0])
            r->in[j] = p->in[0];
    f->dead[pi] = true;
    lm_last_fuse_stats.pads_folded++;
    return LOOM_OK;
}

static loom_status fold_pad(fuse_ctx *f, int pi)
{
    lm_graph *g = f->g;
    lm_node *p = &g->nodes[pi];
    if (p->n_in < 1 || p->in[0] < 0 || p->n_out < 1 || p->out[0] < 0)
        return LOOM_OK;
    const lm_value *x = &g->values[p->in[0]];
    int rank = 0;
    int64_t pads[2 * LOOM_MAX_RANK];
    if (!zero_pad(g, p, &rank, pads) || rank < 1 || (x->rank >= 0 && x->rank != rank))
        return LOOM_OK; /* a rank mismatch is the kernel's error to report */
    bool none = true, negative = false;
    for (int i = 0; i < 2 * rank; i++) {
        none = none && pads[i] == 0;
        negative = negative || pads[i] < 0;
    }
    if (negative)
        return LOOM_OK; /* a crop */
    int out = p->out[0];
    if (g->values[out].is_output)
        return LOOM_OK;
    if (none) {
        for (int i = 0; i < g->n_nodes; i++)
            for (int j = 0; j < g->nodes[i].n_in; j++)
                if (g->nodes[i].in[j] == out)
                    g->nodes[i].in[j] = p->in[0];
        f->dead[pi] = true;
        lm_last_fuse_stats.pads_folded++;
        return LOOM_OK;
    }
    int ri = lm_fuse_sole_consumer(f, p);
    if (ri < 0 || x->dtype != LOOM_DTYPE_FLOAT || !reads_zero_padding(&g->nodes[ri]) ||
        g->nodes[ri].n_in < 1 || g->nodes[ri].in[0] != out)
        return LOOM_OK;
    return fold_into(f, pi, ri, rank, pads);
}

loom_status lm_fuse_pads(fuse_ctx *f)
{
    lm_fuse_count_readers(f);
    for (int i = 0; i < f->g->n_nodes; i++) {
        if (f->dead[i] || !lm_fuse_is_op(&f->g->nodes[i], "Pad"))
            continue;
        loom_status s = fold_pad(f, i);
        if (s)
            return s;
    }
    return LOOM_OK;
}
