/* ops_conv.c - Conv, ConvTranspose, and max, average and global pooling. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops_common.h"

/* ---- convolution ---- */

typedef struct conv_geom {
    int64_t N, C, H, W, Co, Ho, Wo, kh, kw, sh, sw, ph, pw, peh, pew, dh, dw, groups;
} conv_geom;

/* Spatial geometry of Conv and pooling on rank-3 (as H = 1) or rank-4
 * input @x with output @y; @k: kernel extents (kh, kw). */
static bool spatial_geom(const lm_node *n, const loom_tensor *x, const loom_tensor *y,
                         const int64_t *k, bool dilations, conv_geom *g)
{
    int ns = x->rank - 2;
    if (ns < 1 || ns > 2 || y->rank != x->rank)
        return false;
    const lm_attr *st = lm_node_attr(n, "strides"), *pa = lm_node_attr(n, "pads"),
                  *di = dilations ? lm_node_attr(n, "dilations") : NULL;
    if ((st && st->n != ns) || (pa && pa->n != 2 * ns) || (di && di->n != ns))
        return false;
    int64_t in[2] = {1, 1}, out[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0},
            pe[2] = {0, 0};
    const char *ap = lm_node_attr_str(n, "auto_pad", "NOTSET");
    for (int i = 0; i < ns; i++) {
        int j = i + (2 - ns); /* rank 3: the one spatial axis is W */
        in[j] = x->dims[2 + i];
        out[j] = y->dims[2 + i];
        if (st)
            s[j] = st->ints[i];
        if (di)
            d[j] = di->ints[i];
        if (s[j] < 1 || d[j] < 1)
            return false;
        int64_t keff = (k[j] - 1) * d[j] + 1;
        if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
            int64_t total = (out[j] - 1) * s[j] + keff - in[j];
            if (total < 0)
                total = 0;
            pb[j] = strcmp(ap, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
            pe[j] = total - pb[j];
        } else if (strcmp(ap, "VALID") == 0) {
            pb[j] = pe[j] = 0;
        } else if (strcmp(ap, "NOTSET") == 0 || ap[0] == '\0') {
            if (pa) {
                pb[j] = pa->ints[i];
                pe[j] = pa->ints[i + ns];
            }
        } else {
            return false;
        }
        if (pb[j] < 0 || pe[j] < 0)
            return false;
    }
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->H = in[0];
    g->W = in[1];
    g->Ho = out[0];
    g->Wo = out[1];
    g->kh = k[0];
    g->kw = k[1];
    g->sh = s[0];
    g->sw = s[1];
    g->dh = d[0];
    g->dw = d[1];
    g->ph = pb[0];
    g->pw = pb[1];
    g->peh = pe[0];
    g->pew = pe[1];
    return true;
}

/*
 * What Conv and ConvTranspose both need: X, W (and an optional bias) float,
 * 1-D or 2-D, one output, a fusable activation, and a kernel_shape, if given,
 * that matches W.
 */
static bool conv_like_supported(const lm_node *n, loom_tensor *const *in)
{
    int act;
    float aa, ab;
    if (n->n_in < 2 || n->n_in > 3 || !one_output(n) || !lm_cl_fused_act(n, &act, &aa, &ab))
        return false;
    const loom_tensor *x = in[0], *w = in[1];
    if (!is_f32(x) || !is_f32(w) || (x->rank != 3 && x->rank != 4) || w->rank != x->rank)
        return false;
    if (n->n_in == 3 && n->in[2] >= 0 && (!is_f32(in[2]) || in[2]->rank != 1))
        return false;
    const lm_attr *ks = lm_node_attr(n, "kernel_shape");
    return !ks || (ks->n == x->rank - 2 && ks->ints[0] == w->dims[2] &&
                   (x->rank != 4 || ks->ints[1] == w->dims[3]));
}

bool lm_cl_sup_conv(const lm_node *n, loom_tensor *const *in)
{
    if (!conv_like_supported(n, in))
        return false;
    const loom_tensor *x = in[0], *w = in[1];
    int64_t groups = lm_node_attr_int(n, "group", 1);
    if (groups < 1 || x->dims[1] % groups || w->dims[0] % groups ||
        w->dims[1] * groups != x->dims[1])
        return false;
    const char *ap = lm_node_attr_str(n, "auto_pad", "NOTSET");
    return strcmp(ap, "NOTSET") == 0 || strcmp(ap, "VALID") == 0 || strcmp(ap, "SAME_UPPER") == 0 ||
           strcmp(ap, "SAME_LOWER") == 0 || ap[0] == '\0';
}

loom_status lm_cl_low_conv(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *w = lm_clb_shape(b, n->in[1]);
    const loom_tensor *y = lm_clb_shape(b, n->out[0]);
    int64_t k[2] = {x->rank == 4 ? w->dims[2] : 1, w->dims[x->rank - 1]};
    conv_geom g;
    if (!spatial_geom(n, x, y, k, true, &g))
        return lm_error(LOOM_ERR_UNSUPPORTED, "convolution geometry");
    g.Co = w->dims[0];
    g.groups = lm_node_attr_int(n, "group", 1);
    int act;
    float aa, ab;
    lm_cl_fused_act(n, &act, &aa, &ab);
    int geo[15] = {(int)g.C,  (int)g.H,  (int)g.W,  (int)g.Ho,     (int)g.Wo,
                   (int)g.kh, (int)g.kw, (int)g.sh, (int)g.sw,     (int)g.ph,
                   (int)g.pw, (int)g.dh, (int)g.dw, (int)g.groups, (int)g.Co};
    int64_t cig = g.C / g.groups, cog = g.Co / g.groups, P = g.Ho * g.Wo;
    bool has_bias = n->n_in == 3 && n->in[2] >= 0;
    cl_mem xm = lm_clb_in(b, n->in[0]), wm = lm_clb_in(b, n->in[1]);
    cl_mem bm = has_bias ? lm_clb_in(b, n->in[2]) : NULL;
    cl_mem ym = lm_clb_out(b, n->out[0]);
    cl_mem gm = upload_ints(b, geo, 15);
    int64_t taps = cig * g.kh * g.kw;
    if (cig == 1 || taps <= 16) { /* depthwise and the like: direct */
        int64_t cnt = lm_tensor_count(y);
        cl_kernel kd = lm_clb_kernel(b, "conv_direct");
        lm_cl_args a = {b, kd, 0};
        lm_cl_arg_mem(&a, xm);
        lm_cl_arg_mem(&a, wm);
        lm_cl_arg_mem(&a, bm ? bm : wm);
        lm_cl_arg_int(&a, has_bias);
        lm_cl_arg_mem(&a, ym);
        lm_cl_arg_int(&a, cnt);
        lm_cl_arg_mem(&a, gm);
        lm_cl_arg_int(&a, act);
        lm_cl_arg_float(&a, aa);
        lm_cl_arg_float(&a, ab);
        lm_clb_launch1d(b, kd, cnt);
        return lm_clb_error(b);
    }
    bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 &&
                     g.peh == 0 && g.pew == 0;
    cl_mem col =
        pointwise ? NULL : lm_clb_scratch(b, lm_clb_elem(b) * (size_t)(g.C * g.kh * g.kw * P));
    gemm_args ga = {.M = (int)cog,
                    .N = (int)P,
                    .K = (int)taps,
                    .batch = (int)g.groups,
                    .A = wm,
                    .lda = (int)taps,
                    .a_bs = (int)(cog * taps),
                    .ldb = (int)P,
                    .b_bs = (int)(taps * P),
                    .C = ym,
                    .ldc = (int)P,
                    .c_bs = (int)(cog * P),
                    .bias = bm,
                    .bsm = 1,
                    .bsn = 0,
                    .bias_bs = (int)cog,
                    .alpha = 1.0f,
                    .beta = 1.0f,
                    .act = act,
                    .aa = aa,
                    .ab = ab};
    for (int64_t i = 0; i < g.N; i++) {
        int64_t x_off = i * g.C * g.H * g.W;
        if (pointwise) {
            ga.B = xm;
            ga.b_off = (int)x_off;
        } else {
            cl_kernel ki = lm_clb_kernel(b, "im2col");
            lm_cl_args a = {b, ki, 0};
            lm_cl_arg_mem(&a, xm);
            lm_cl_arg_int(&a, x_off);
            lm_cl_arg_mem(&a, col);
            lm_cl_arg_mem(&a, gm);
            size_t lws[2] = {16, 1};
            size_t gws[2] = {(size_t)((P + 15) / 16 * 16), (size_t)(g.C * g.kh * g.kw)};
            lm_clb_launch(b, ki, 2, gws, lws);
            ga.B = col;
            ga.b_off = 0;
        }
        ga.c_off = (int)(i * g.Co * P);
        lm_cl_gemm_launch(b, &ga);
    }
    return lm_clb_error(b);
}

/* ---- ConvTranspose: per group a GEMM (W_g^T X_g) into columns, then
 * col2im gathers each output pixel's taps (adding bias and activation) ---- */

/* Begin pads of ConvTranspose along spatial axis @i (of @ns), input extent
 * @in, output @out, kernel @k; false when the attributes are not handled. */
static bool convt_pad(const lm_node *n, int i, int ns, int64_t in, int64_t out, int64_t k,
                      int64_t *pad)
{
    const lm_attr *st = lm_node_attr(n, "strides"), *di = lm_node_attr(n, "dilations"),
                  *pa = lm_node_attr(n, "pads"), *op = lm_node_attr(n, "output_padding");
    if ((st && st->n != ns) || (di && di->n != ns) || (pa && pa->n != 2 * ns) ||
        (op && op->n != ns))
        return false;
    int64_t s = st ? st->ints[i] : 1, d = di ? di->ints[i] : 1, opad = op ? op->ints[i] : 0;
    if (s < 1 || d < 1 || opad < 0)
        return false;
    const char *ap = lm_node_attr_str(n, "auto_pad", "NOTSET");
    bool same = strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0;
    if (same) { /* output_shape otherwise only extends the output with zeros */
        int64_t total = s * (in - 1) + opad + (k - 1) * d + 1 - out;
        *pad = strcmp(ap, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
        return true;
    }
    if (strcmp(ap, "VALID") == 0) {
        *pad = 0;
        return true;
    }
    if (strcmp(ap, "NOTSET") != 0 && ap[0] != '\0')
        return false;
    *pad = pa ? pa->ints[i] : 0;
    return *pad >= 0 && (!pa || pa->ints[i + ns] >= 0);
}

bool lm_cl_sup_convt(const lm_node *n, loom_tensor *const *in)
{
    if (!conv_like_supported(n, in))
        return false;
    const loom_tensor *x = in[0], *w = in[1];
    int64_t groups = lm_node_attr_int(n, "group", 1);
    if (groups < 1 || x->dims[1] % groups || w->dims[0] != x->dims[1])
        return false;
    if (n->n_in == 3 && n->in[2] >= 0 && in[2]->dims[0] != w->dims[1] * groups)
        return false;
    int64_t pad, ns = x->rank - 2;
    for (int i = 0; i < ns; i++) /* out is checked at lowering; 1 suffices here */
        if (!convt_pad(n, i, (int)ns, x->dims[2 + i], 1, w->dims[2 + i], &pad))
            return false;
    return true;
}

/* W [C, Co/g, kh, kw] as per-group [Co/g * kh * kw, C/g] GEMM operands. */
static cl_mem convt_weights(lm_cl_builder *b, int v, int64_t groups, int64_t cig, int64_t m)
{
    const loom_tensor *c = lm_clb_const(b, v);
    int64_t dims[3] = {groups, m, cig}, src[3] = {cig * m, 1, m}, dst[3] = {m * cig, cig, 1};
    if (!c) {
        cl_mem t = lm_clb_scratch(b, lm_clb_elem(b) * (size_t)(groups * m * cig));
        lm_cl_strided_copy(b, lm_clb_in(b, v), 0, t, 0, 3, dims, src, dst);
        return t;
    }
    size_t cnt = (size_t)(groups * m * cig);
    float *t = malloc(cnt ? cnt * sizeof(float) : 4);
    if (!t) {
        lm_clb_fail(b, CL_OUT_OF_HOST_MEMORY, "transposing ConvTranspose weights");
        return NULL;
    }
    const float *w = c->data;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r = 0; r < m; r++)
            for (int64_t q = 0; q < cig; q++)
                t[(g * m + r) * cig + q] = w[(g * cig + q) * m + r];
    cl_mem mem = lm_clb_upload_f32(b, t, cnt);
    free(t);
    return mem;
}

loom_status lm_cl_low_convt(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *w = lm_clb_shape(b, n->in[1]);
    const loom_tensor *y = lm_clb_shape(b, n->out[0]);
    const lm_attr *st = lm_node_attr(n, "strides"), *di = lm_node_attr(n, "dilations");
    int ns = x->rank - 2;
    int64_t in[2] = {1, 1}, out[2] = {1, 1}, k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1},
            pad[2] = {0, 0};
    for (int i = 0; i < ns; i++) {
        int j = i + (2 - ns); /* rank 3: the one spatial axis is W */
        in[j] = x->dims[2 + i];
        out[j] = y->dims[2 + i];
        k[j] = w->dims[2 + i];
        s[j] = st ? st->ints[i] : 1;
        d[j] = di ? di->ints[i] : 1;
        if (!convt_pad(n, i, ns, in[j], out[j], k[j], &pad[j]))
            return lm_error(LOOM_ERR_UNSUPPORTED, "ConvTranspose geometry");
    }
    int64_t groups = lm_node_attr_int(n, "group", 1), C = x->dims[1], cig = C / groups;
    int64_t cog = w->dims[1], Co = cog * groups, HW = in[0] * in[1], M = cog * k[0] * k[1];
    int act;
    float aa, ab;
    lm_cl_fused_act(n, &act, &aa, &ab);
    int geo[15] = {(int)C,      (int)in[0], (int)in[1], (int)out[0], (int)out[1],
                   (int)k[0],   (int)k[1],  (int)s[0],  (int)s[1],   (int)pad[0],
                   (int)pad[1], (int)d[0],  (int)d[1],  (int)groups, (int)Co};
    bool has_bias = n->n_in == 3 && n->in[2] >= 0;
    cl_mem xm = lm_clb_in(b, n->in[0]), wt = convt_weights(b, n->in[1], groups, cig, M);
    cl_mem bm = has_bias ? lm_clb_in(b, n->in[2]) : NULL, ym = lm_clb_out(b, n->out[0]);
    cl_mem gm = upload_ints(b, geo, 15);
    cl_mem col = lm_clb_scratch(b, lm_clb_elem(b) * (size_t)(groups * M * HW));
    gemm_args ga = {.M = (int)M,
                    .N = (int)HW,
                    .K = (int)cig,
                    .batch = (int)groups,
                    .A = wt,
                    .lda = (int)cig,
                    .a_bs = (int)(M * cig),
                    .B = xm,
                    .ldb = (int)HW,
                    .b_bs = (int)(cig * HW),
                    .C = col,
                    .ldc = (int)HW,
                    .c_bs = (int)(M * HW),
                    .alpha = 1.0f};
    size_t P = (size_t)(out[0] * out[1]);
    for (int64_t i = 0; i < x->dims[0]; i++) {
        ga.b_off = (int)(i * C * HW);
        lm_cl_gemm_launch(b, &ga);
        cl_kernel kc = lm_clb_kernel(b, "col2im");
        lm_cl_args a = {b, kc, 0};
        lm_cl_arg_mem(&a, col);
        lm_cl_arg_mem(&a, ym);
        lm_cl_arg_int(&a, i * Co * (int64_t)P);
        lm_cl_arg_mem(&a, bm ? bm : col);
        lm_cl_arg_int(&a, has_bias);
        lm_cl_arg_mem(&a, gm);
        lm_cl_arg_int(&a, act);
        lm_cl_arg_float(&a, aa);
        lm_cl_arg_float(&a, ab);
        size_t lws[2] = {16, 1}, gws[2] = {(P + 15) / 16 * 16, (size_t)Co};
        lm_clb_launch(b, kc, 2, gws, lws);
    }
    return lm_clb_error(b);
}

/* ---- pooling ---- */

bool lm_cl_sup_pool(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !one_output(n) || !is_f32(in[0]))
        return false;
    if (in[0]->rank != 3 && in[0]->rank != 4)
        return false;
    const lm_attr *ks = lm_node_attr(n, "kernel_shape");
    if (!ks || ks->n != in[0]->rank - 2)
        return false;
    for (int i = 0; i < ks->n; i++)
        if (ks->ints[i] < 1)
            return false;
    int64_t cm = lm_node_attr_int(n, "ceil_mode", 0),
            cip = lm_node_attr_int(n, "count_include_pad", 0);
    if ((cm != 0 && cm != 1) || (cip != 0 && cip != 1))
        return false;
    if (strcmp(n->op_type, "AveragePool") == 0 && lm_node_has_attr(n, "dilations") && n->opset < 19)
        return false;
    const char *ap = lm_node_attr_str(n, "auto_pad", "NOTSET");
    return strcmp(ap, "NOTSET") == 0 || strcmp(ap, "VALID") == 0 || strcmp(ap, "SAME_UPPER") == 0 ||
           strcmp(ap, "SAME_LOWER") == 0 || ap[0] == '\0';
}

loom_status lm_cl_low_pool(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *y = lm_clb_shape(b, n->out[0]);
    const lm_attr *ks = lm_node_attr(n, "kernel_shape");
    int64_t k[2] = {x->rank == 4 ? ks->ints[0] : 1, ks->ints[ks->n - 1]};
    conv_geom g;
    bool is_max = strcmp(n->op_type, "MaxPool") == 0;
    if (!spatial_geom(n, x, y, k, true, &g))
        return lm_error(LOOM_ERR_UNSUPPORTED, "pooling geometry");
    int geo[14] = {(int)g.H,  (int)g.W,  (int)g.Ho, (int)g.Wo,  (int)g.kh,  (int)g.kw, (int)g.sh,
                   (int)g.sw, (int)g.ph, (int)g.pw, (int)g.peh, (int)g.pew, (int)g.dh, (int)g.dw};
    int kind = is_max ? 0 : (lm_node_attr_int(n, "count_include_pad", 0) ? 2 : 1);
    int64_t cnt = lm_tensor_count(y);
    cl_mem gm = upload_ints(b, geo, 14);
    cl_kernel kk = lm_clb_kernel(b, "pool2d");
    lm_cl_args a = {b, kk, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, cnt);
    lm_cl_arg_mem(&a, gm);
    lm_cl_arg_int(&a, kind);
    lm_clb_launch1d(b, kk, cnt);
    return lm_clb_error(b);
}

bool lm_cl_sup_global_pool(const lm_node *n, loom_tensor *const *in)
{
    return n->n_in == 1 && one_output(n) && is_f32(in[0]) && in[0]->rank >= 3 &&
           prod(in[0]->dims, 2, in[0]->rank) > 0;
}

static void rows_reduce(lm_cl_builder *b, cl_mem x, cl_mem y, int64_t rows, int64_t len, int kind)
{
    cl_kernel k = lm_clb_kernel(b, "global_pool");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, x);
    lm_cl_arg_mem(&a, y);
    lm_cl_arg_int(&a, rows);
    lm_cl_arg_int(&a, len);
    lm_cl_arg_int(&a, kind);
    lm_clb_launch1d(b, k, rows);
}

loom_status lm_cl_low_global_pool(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    rows_reduce(b, lm_clb_in(b, n->in[0]), lm_clb_out(b, n->out[0]), x->dims[0] * x->dims[1],
                prod(x->dims, 2, x->rank), strcmp(n->op_type, "GlobalMaxPool") == 0 ? 0 : 1);
    return lm_clb_error(b);
}
