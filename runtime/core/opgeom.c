/* opgeom.c - the window geometry of Conv, ConvTranspose and the pools (opgeom.h). */
#include <string.h>

#include "opgeom.h"

/* Reads an optional INTS attribute of exactly @cnt values, each in [lo, hi],
 * into @dst (left untouched when absent). */
static loom_status read_ints(const lm_node *n, const char *name, int cnt, int64_t lo, int64_t hi,
                             int64_t *dst)
{
    const int64_t *v;
    int got = lm_node_attr_ints(n, name, &v);
    if (got < 0)
        return LOOM_OK;
    if (got != cnt)
        return lm_node_error(n, LOOM_ERR_INVALID_MODEL, "attribute %s has %d values, expected %d",
                             name, got, cnt);
    for (int i = 0; i < cnt; i++) {
        if (v[i] < lo || v[i] > hi)
            return lm_node_error(n, LOOM_ERR_INVALID_MODEL,
                                 "attribute %s[%d] = %lld out of range [%lld, %lld]", name, i,
                                 (long long)v[i], (long long)lo, (long long)hi);
        dst[i] = v[i];
    }
    return LOOM_OK;
}

/* An optional 0/1 INT attribute. */
static loom_status read_flag(const lm_node *n, const char *name, bool *flag)
{
    int64_t v = lm_node_attr_int(n, name, 0);
    if (v != 0 && v != 1)
        return lm_node_error(n, LOOM_ERR_INVALID_MODEL, "%s %lld is not 0 or 1", name,
                             (long long)v);
    *flag = v == 1;
    return LOOM_OK;
}

loom_status lm_geom_auto_pad(const lm_node *n, lm_auto_pad *mode)
{
    /* In lm_auto_pad's order. */
    static const char *const names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    const char *ap = lm_node_attr_str(n, "auto_pad", "NOTSET");
    *mode = LM_AUTO_PAD_NOTSET;
    if (ap[0] == '\0')
        return LOOM_OK;
    for (int i = 0; i < 4; i++)
        if (strcmp(ap, names[i]) == 0) {
            *mode = (lm_auto_pad)i;
            return LOOM_OK;
        }
    return lm_node_error(n, LOOM_ERR_INVALID_MODEL,
                         "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", ap);
}

static bool is_same(lm_auto_pad mode)
{
    return mode == LM_AUTO_PAD_SAME_UPPER || mode == LM_AUTO_PAD_SAME_LOWER;
}

static loom_status check_rank(const lm_node *n, const loom_tensor *x)
{
    if (x->rank < 3 || x->rank > LOOM_MAX_RANK)
        return lm_node_error(n, LOOM_ERR_SHAPE, "X has rank %d, expected N x C x D1 x ... (>= 3)",
                             x->rank);
    return LOOM_OK;
}

/* @x's spatial sizes and the kernel @kernel into @g, strides and dilations 1;
 * then strides, dilations and @pads (begins, then ends) from the attributes. */
static loom_status window_init(const lm_node *n, const loom_tensor *x, const int64_t *kernel,
                               lm_window_geom *g, int64_t *pads)
{
    memset(g, 0, sizeof(*g));
    int nsp = g->nsp = x->rank - 2;
    for (int i = 0; i < nsp; i++) {
        if (kernel[i] < 1 || kernel[i] > LM_GEOM_MAX_ATTR)
            return lm_node_error(n, LOOM_ERR_INVALID_MODEL,
                                 "kernel size %lld on spatial axis %d out of range",
                                 (long long)kernel[i], i);
        g->in[i] = x->dims[i + 2];
        g->k[i] = kernel[i];
        g->s[i] = g->d[i] = 1;
    }
    loom_status st;
    if ((st = read_ints(n, "strides", nsp, 1, LM_GEOM_MAX_ATTR, g->s)) != LOOM_OK ||
        (st = read_ints(n, "dilations", nsp, 1, LM_GEOM_MAX_ATTR, g->d)) != LOOM_OK)
        return st;
    return read_ints(n, "pads", 2 * nsp, 0, LM_GEOM_MAX_ATTR, pads);
}

/* The size products; fails when the output size overflows or the kernel
 * grows past LM_GEOM_MAX_ATTR taps. */
static loom_status window_totals(const lm_node *n, lm_window_geom *g)
{
    g->in_size = g->out_size = g->k_size = 1;
    for (int i = 0; i < g->nsp; i++) {
        if (g->out[i] > 0 && g->out_size > INT64_MAX / g->out[i])
            return lm_node_error(n, LOOM_ERR_SHAPE, "output spatial size overflows");
        g->in_size *= g->in[i];
        g->out_size *= g->out[i];
        g->k_size *= g->k[i];
        if (g->k_size > LM_GEOM_MAX_ATTR)
            return lm_node_error(n, LOOM_ERR_INVALID_MODEL, "kernel has more than %lld elements",
                                 (long long)LM_GEOM_MAX_ATTR);
    }
    return LOOM_OK;
}

/* Splits the total pad @total of axis @i and sets its output size @out.
 * SAME_UPPER puts an odd pad's extra at the end, other modes at the start;
 * floor division, as ONNX's reference: a negative total (ConvTranspose's
 * output_shape beyond its natural size) grows the end. */
static loom_status split_pad(lm_window_geom *g, int i, lm_auto_pad mode, int64_t total, int64_t out)
{
    int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
    g->pb[i] = mode == LM_AUTO_PAD_SAME_UPPER ? half : total - half;
    g->pe[i] = total - g->pb[i];
    g->out[i] = out;
    return LOOM_OK;
}

/* NOTSET's pads of axis @i from @pads (begins, then ends); VALID keeps 0. */
static void explicit_pads(lm_window_geom *g, int i, lm_auto_pad mode, const int64_t *pads)
{
    if (mode == LM_AUTO_PAD_NOTSET) {
        g->pb[i] = pads[i];
        g->pe[i] = pads[i + g->nsp];
    }
}

/* Pads and output size of a forward window along axis @i. SAME pads to
 * ceil(in / stride) outputs; otherwise the windows must fit the padded input,
 * and ceil_mode (explicit pads only) adds a last partial window when it
 * starts inside the input or its start padding. */
static loom_status forward_axis(const lm_node *n, lm_window_geom *g, int i, lm_auto_pad mode,
                                const int64_t *pads, bool ceil_mode)
{
    int64_t keff = (g->k[i] - 1) * g->d[i] + 1, in = g->in[i], s = g->s[i];
    if (is_same(mode)) {
        int64_t out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + keff - in;
        return split_pad(g, i, mode, total < 0 ? 0 : total, out);
    }
    explicit_pads(g, i, mode, pads);
    int64_t span = in + g->pb[i] + g->pe[i] - keff;
    if (span < 0)
        return lm_node_error(n, LOOM_ERR_SHAPE,
                             "kernel extent %lld larger than padded input %lld on spatial axis %d",
                             (long long)keff, (long long)(in + g->pb[i] + g->pe[i]), i);
    int64_t out = span / s + 1;
    if (ceil_mode && mode == LM_AUTO_PAD_NOTSET) {
        out = (span + s - 1) / s + 1;
        if ((out - 1) * s >= in + g->pb[i])
            out--;
    }
    g->out[i] = out;
    return LOOM_OK;
}

/* The window of a forward op (Conv, pools) over @x with kernel sizes @kernel. */
static loom_status forward_window(const lm_node *n, const loom_tensor *x, const int64_t *kernel,
                                  bool ceil_mode, lm_window_geom *g)
{
    int64_t pads[2 * LM_GEOM_MAX_SP] = {0};
    lm_auto_pad mode;
    loom_status st;
    if ((st = window_init(n, x, kernel, g, pads)) != LOOM_OK ||
        (st = lm_geom_auto_pad(n, &mode)) != LOOM_OK)
        return st;
    for (int i = 0; i < g->nsp; i++)
        if ((st = forward_axis(n, g, i, mode, pads, ceil_mode)) != LOOM_OK)
            return st;
    return window_totals(n, g);
}

/* Pads and output size of ConvTranspose along axis @i. Its natural output is
 * s * (in - 1) + output_padding + dilated kernel; an output size (from
 * output_shape, @os, or SAME's in * s) sets the total pad instead of pads. */
static loom_status transpose_axis(const lm_node *n, lm_window_geom *g, int i, lm_auto_pad mode,
                                  const int64_t *pads, int64_t opad, const int64_t *os)
{
    if (g->in[i] > LM_GEOM_MAX_ATTR)
        return lm_node_error(n, LOOM_ERR_SHAPE, "spatial axis %d of size %lld too large", i,
                             (long long)g->in[i]);
    int64_t natural = g->s[i] * (g->in[i] - 1) + opad + (g->k[i] - 1) * g->d[i] + 1;
    if (os || is_same(mode)) {
        int64_t out = os ? *os : g->in[i] * g->s[i];
        if (out < 0 || out > LM_GEOM_MAX_ATTR)
            return lm_node_error(n, LOOM_ERR_INVALID_MODEL, "output_shape[%d] = %lld out of range",
                                 i, (long long)out);
        return split_pad(g, i, mode, natural - out, out);
    }
    explicit_pads(g, i, mode, pads);
    g->out[i] = natural - g->pb[i] - g->pe[i];
    if (g->out[i] < 0)
        return lm_node_error(n, LOOM_ERR_SHAPE,
                             "pads %lld+%lld exceed the output extent %lld on spatial axis %d",
                             (long long)g->pb[i], (long long)g->pe[i], (long long)natural, i);
    return LOOM_OK;
}

/* output_shape's spatial sizes (some exporters give the full N x C x ...
 * shape), or NULL when absent. */
static loom_status output_shape(const lm_node *n, int nsp, const int64_t **os)
{
    int cnt = lm_node_attr_ints(n, "output_shape", os);
    if (cnt < 0 || cnt == nsp)
        return LOOM_OK;
    if (cnt == nsp + 2) {
        *os += 2;
        return LOOM_OK;
    }
    return lm_node_error(n, LOOM_ERR_INVALID_MODEL,
                         "output_shape has %d values for %d spatial axes", cnt, nsp);
}

/* The window of ConvTranspose over @x with kernel sizes @kernel. */
static loom_status transpose_window(const lm_node *n, const loom_tensor *x, const int64_t *kernel,
                                    lm_window_geom *g)
{
    int64_t pads[2 * LM_GEOM_MAX_SP] = {0}, opad[LM_GEOM_MAX_SP] = {0};
    const int64_t *os;
    lm_auto_pad mode;
    loom_status st;
    if ((st = window_init(n, x, kernel, g, pads)) != LOOM_OK ||
        (st = read_ints(n, "output_padding", g->nsp, 0, LM_GEOM_MAX_ATTR, opad)) != LOOM_OK ||
        (st = lm_geom_auto_pad(n, &mode)) != LOOM_OK ||
        (st = output_shape(n, g->nsp, &os)) != LOOM_OK)
        return st;
    if (lm_tensor_count(x) < 0)
        return lm_node_error(n, LOOM_ERR_SHAPE, "X is too large");
    for (int i = 0; i < g->nsp; i++)
        if ((st = transpose_axis(n, g, i, mode, pads, opad[i], os ? os + i : NULL)) != LOOM_OK)
            return st;
    return window_totals(n, g);
}

/* What Conv and ConvTranspose share: ranks, group, a kernel_shape that matches W. */
static loom_status conv_common(const lm_node *n, const loom_tensor *x, const loom_tensor *w,
                               lm_conv_geom *g)
{
    memset(g, 0, sizeof(*g));
    loom_status st = check_rank(n, x);
    if (st != LOOM_OK)
        return st;
    if (w->rank != x->rank)
        return lm_node_error(n, LOOM_ERR_SHAPE, "W has rank %d but X has rank %d", w->rank,
                             x->rank);
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->group = lm_node_attr_int(n, "group", 1);
    if (g->group < 1 || g->group > LM_GEOM_MAX_ATTR)
        return lm_node_error(n, LOOM_ERR_INVALID_MODEL, "group %lld out of range [1, %lld]",
                             (long long)g->group, (long long)LM_GEOM_MAX_ATTR);
    int nsp = x->rank - 2;
    const int64_t *ks;
    int nk = lm_node_attr_ints(n, "kernel_shape", &ks);
    if (nk >= 0 && nk != nsp)
        return lm_node_error(n, LOOM_ERR_INVALID_MODEL,
                             "kernel_shape has %d values for %d spatial axes", nk, nsp);
    for (int i = 0; i < nk; i++)
        if (ks[i] != w->dims[i + 2])
            return lm_node_error(n, LOOM_ERR_INVALID_MODEL,
                                 "kernel_shape[%d] = %lld but W has %lld", i, (long long)ks[i],
                                 (long long)w->dims[i + 2]);
    return LOOM_OK;
}

/* Channels and groups: Conv's W is M x C/group x k1 x ..., ConvTranspose's
 * C x M/group x k1 x .... */
static loom_status conv_channels(const lm_node *n, const loom_tensor *w, bool transpose,
                                 lm_conv_geom *g)
{
    if (transpose) {
        if (w->dims[0] != g->C || g->C % g->group != 0)
            return lm_node_error(n, LOOM_ERR_SHAPE,
                                 "X has %lld channels but W has %lld input channels (group %lld)",
                                 (long long)g->C, (long long)w->dims[0], (long long)g->group);
        if (w->dims[1] > INT64_MAX / g->group)
            return lm_node_error(n, LOOM_ERR_SHAPE, "output channel count overflows");
        g->M = w->dims[1] * g->group;
    } else {
        g->M = w->dims[0];
        if (g->C % g->group != 0 || g->C / g->group != w->dims[1])
            return lm_node_error(n, LOOM_ERR_SHAPE,
                                 "X has %lld channels but W expects %lld per group x %lld groups",
                                 (long long)g->C, (long long)w->dims[1], (long long)g->group);
        if (g->M % g->group != 0)
            return lm_node_error(n, LOOM_ERR_SHAPE,
                                 "W has %lld output channels, not a multiple of group %lld",
                                 (long long)g->M, (long long)g->group);
    }
    g->Cg = g->C / g->group;
    g->Mg = g->M / g->group;
    return LOOM_OK;
}

static loom_status conv_geom(const lm_node *n, const loom_tensor *x, const loom_tensor *w,
                             bool transpose, lm_conv_geom *g)
{
    loom_status st;
    if ((st = conv_common(n, x, w, g)) != LOOM_OK ||
        (st = conv_channels(n, w, transpose, g)) != LOOM_OK)
        return st;
    st = transpose ? transpose_window(n, x, w->dims + 2, &g->win)
                   : forward_window(n, x, w->dims + 2, false, &g->win);
    g->kdim = (transpose ? g->Mg : g->Cg) * g->win.k_size;
    return st;
}

loom_status lm_geom_conv(const lm_node *n, const loom_tensor *x, const loom_tensor *w,
                         lm_conv_geom *g)
{
    return conv_geom(n, x, w, false, g);
}

loom_status lm_geom_conv_transpose(const lm_node *n, const loom_tensor *x, const loom_tensor *w,
                                   lm_conv_geom *g)
{
    return conv_geom(n, x, w, true, g);
}

loom_status lm_geom_pool(const lm_node *n, const loom_tensor *x, lm_pool_geom *g)
{
    memset(g, 0, sizeof(*g));
    loom_status st = check_rank(n, x);
    if (st != LOOM_OK)
        return st;
    int nsp = x->rank - 2;
    const int64_t *ks;
    int nk = lm_node_attr_ints(n, "kernel_shape", &ks);
    if (nk < 0)
        return lm_node_error(n, LOOM_ERR_INVALID_MODEL, "kernel_shape attribute is required");
    if (nk != nsp)
        return lm_node_error(n, LOOM_ERR_INVALID_MODEL,
                             "kernel_shape has %d values for %d spatial axes", nk, nsp);
    if ((st = read_flag(n, "ceil_mode", &g->ceil_mode)) != LOOM_OK ||
        (st = read_flag(n, "count_include_pad", &g->count_include_pad)) != LOOM_OK ||
        (st = read_flag(n, "storage_order", &g->col_major)) != LOOM_OK)
        return st;
    return forward_window(n, x, ks, g->ceil_mode, &g->win);
}

loom_status lm_geom_global_pool(const lm_node *n, const loom_tensor *x, lm_window_geom *g)
{
    memset(g, 0, sizeof(*g));
    loom_status st = check_rank(n, x);
    if (st != LOOM_OK)
        return st;
    g->nsp = x->rank - 2;
    g->in_size = g->out_size = g->k_size = 1;
    for (int i = 0; i < g->nsp; i++) {
        g->in[i] = g->k[i] = x->dims[i + 2];
        g->s[i] = g->d[i] = g->out[i] = 1;
        g->in_size *= g->in[i];
        g->k_size *= g->k[i];
    }
    if (g->in_size == 0)
        return lm_node_error(n, LOOM_ERR_SHAPE, "global pooling over an empty spatial extent");
    return LOOM_OK;
}

lm_conv2d_geom lm_geom_2d(const lm_window_geom *g, int64_t C, int64_t M)
{
    lm_conv2d_geom r = {.C = C, .M = M, .H = 1, .OH = 1, .KH = 1, .sh = 1, .dh = 1};
    int w = g->nsp - 1, h = g->nsp - 2; /* one spatial axis: it is W */
    if (h >= 0) {
        r.H = g->in[h];
        r.OH = g->out[h];
        r.KH = g->k[h];
        r.sh = g->s[h];
        r.dh = g->d[h];
        r.pt = g->pb[h];
        r.pb = g->pe[h];
    }
    r.W = g->in[w];
    r.OW = g->out[w];
    r.KW = g->k[w];
    r.sw = g->s[w];
    r.dw = g->d[w];
    r.pl = g->pb[w];
    r.pr = g->pe[w];
    return r;
}
