/* ops_conv.c - Conv, ConvTranspose, and max, average and global pooling. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/opgeom.h"
#include "ops_common.h"

/* ---- convolution ---- */

/* The int array nn.cl's conv_direct, im2col and col2im read (G_* there). */
static cl_mem upload_conv_geo(lm_cl_builder *b, const lm_conv_geom *cg, const lm_conv2d_geom *g)
{
    int geo[15] = {(int)g->C,  (int)g->H,  (int)g->W,  (int)g->OH,     (int)g->OW,
                   (int)g->KH, (int)g->KW, (int)g->sh, (int)g->sw,     (int)g->pt,
                   (int)g->pl, (int)g->dh, (int)g->dw, (int)cg->group, (int)g->M};
    return upload_ints(b, geo, 15);
}

/*
 * What Conv and ConvTranspose both need: X, W (and an optional bias) float,
 * 1-D or 2-D, one output, a fusable activation. Their geometry is core's
 * (core/opgeom.h), checked by each.
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
    return n->n_in < 3 || n->in[2] < 0 || (is_f32(in[2]) && in[2]->rank == 1);
}

bool lm_cl_sup_conv(const lm_node *n, loom_tensor *const *in)
{
    if (!conv_like_supported(n, in))
        return false;
    lm_conv_geom g;
    return lm_geom_conv(n, in[0], in[1], &g) == LOOM_OK;
}

loom_status lm_cl_low_conv(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *w = lm_clb_shape(b, n->in[1]);
    const loom_tensor *y = lm_clb_shape(b, n->out[0]);
    lm_conv_geom cg;
    loom_status st = lm_geom_conv(n, x, w, &cg);
    if (st != LOOM_OK)
        return st;
    lm_conv2d_geom g = lm_geom_2d(&cg.win, cg.C, cg.M);
    int act;
    float aa, ab;
    lm_cl_fused_act(n, &act, &aa, &ab);
    int64_t cog = cg.Mg, P = g.OH * g.OW;
    bool has_bias = n->n_in == 3 && n->in[2] >= 0;
    cl_mem xm = lm_clb_in(b, n->in[0]), wm = lm_clb_in(b, n->in[1]);
    cl_mem bm = has_bias ? lm_clb_in(b, n->in[2]) : NULL;
    cl_mem ym = lm_clb_out(b, n->out[0]);
    cl_mem gm = upload_conv_geo(b, &cg, &g);
    int64_t taps = cg.kdim;
    if (cg.Cg == 1 || taps <= 16) { /* depthwise and the like: direct */
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
    bool pointwise = g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 &&
                     g.pb == 0 && g.pr == 0;
    cl_mem col =
        pointwise ? NULL : lm_clb_scratch(b, lm_clb_elem(b) * (size_t)(g.C * g.KH * g.KW * P));
    gemm_args ga = {.M = (int)cog,
                    .N = (int)P,
                    .K = (int)taps,
                    .batch = (int)cg.group,
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
    for (int64_t i = 0; i < cg.N; i++) {
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
            size_t gws[2] = {(size_t)((P + 15) / 16 * 16), (size_t)(g.C * g.KH * g.KW)};
            lm_clb_launch(b, ki, 2, gws, lws);
            ga.B = col;
            ga.b_off = 0;
        }
        ga.c_off = (int)(i * g.M * P);
        lm_cl_gemm_launch(b, &ga);
    }
    return lm_clb_error(b);
}

/* ---- ConvTranspose: per group a GEMM (W_g^T X_g) into columns, then
 * col2im gathers each output pixel's taps (adding bias and activation) ---- */

bool lm_cl_sup_convt(const lm_node *n, loom_tensor *const *in)
{
    lm_conv_geom g;
    if (!conv_like_supported(n, in) || lm_geom_conv_transpose(n, in[0], in[1], &g) != LOOM_OK)
        return false;
    return n->n_in < 3 || n->in[2] < 0 || in[2]->dims[0] == g.M;
}

static float *convt_gemm_weights(const loom_tensor *c, const void *arg, size_t *n)
{
    const int64_t *gcm = arg, groups = gcm[0], cig = gcm[1], m = gcm[2];
    size_t cnt = (size_t)(groups * m * cig);
    float *t = malloc(cnt ? cnt * sizeof(float) : 4);
    if (!t)
        return NULL;
    const float *w = c->data;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r = 0; r < m; r++)
            for (int64_t q = 0; q < cig; q++)
                t[(g * m + r) * cig + q] = w[(g * cig + q) * m + r];
    *n = cnt;
    return t;
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
    int64_t gcm[3] = {groups, cig, m}; /* cig and m follow from W's dims and groups */
    return lm_clb_const_copy(b, v, LM_CL_LAYOUT_CONVT | (uint64_t)groups << 8, convt_gemm_weights,
                             gcm);
}

loom_status lm_cl_low_convt(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *w = lm_clb_shape(b, n->in[1]);
    lm_conv_geom cg;
    loom_status st = lm_geom_conv_transpose(n, x, w, &cg);
    if (st != LOOM_OK)
        return st;
    /* nn.cl's col2im reads the output plane as G_HO x G_WO, the input as G_H x G_W */
    lm_conv2d_geom g = lm_geom_2d(&cg.win, cg.C, cg.M);
    int64_t groups = cg.group, C = cg.C, cig = cg.Cg, Co = cg.M, HW = g.H * g.W, M = cg.kdim;
    int act;
    float aa, ab;
    lm_cl_fused_act(n, &act, &aa, &ab);
    bool has_bias = n->n_in == 3 && n->in[2] >= 0;
    cl_mem xm = lm_clb_in(b, n->in[0]), wt = convt_weights(b, n->in[1], groups, cig, M);
    cl_mem bm = has_bias ? lm_clb_in(b, n->in[2]) : NULL, ym = lm_clb_out(b, n->out[0]);
    cl_mem gm = upload_conv_geo(b, &cg, &g);
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
    size_t P = (size_t)(g.OH * g.OW);
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
    if (strcmp(n->op_type, "AveragePool") == 0 && lm_node_has_attr(n, "dilations") && n->opset < 19)
        return false;
    lm_pool_geom g;
    return lm_geom_pool(n, in[0], &g) == LOOM_OK;
}

loom_status lm_cl_low_pool(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *y = lm_clb_shape(b, n->out[0]);
    lm_pool_geom pg;
    loom_status st = lm_geom_pool(n, x, &pg);
    if (st != LOOM_OK)
        return st;
    lm_conv2d_geom g = lm_geom_2d(&pg.win, x->dims[1], x->dims[1]);
    int geo[14] = {(int)g.H,  (int)g.W,  (int)g.OH, (int)g.OW, (int)g.KH, (int)g.KW, (int)g.sh,
                   (int)g.sw, (int)g.pt, (int)g.pl, (int)g.pb, (int)g.pr, (int)g.dh, (int)g.dw};
    int kind = strcmp(n->op_type, "MaxPool") == 0 ? 0 : (pg.count_include_pad ? 2 : 1);
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
    lm_window_geom g;
    return n->n_in == 1 && one_output(n) && is_f32(in[0]) &&
           lm_geom_global_pool(n, in[0], &g) == LOOM_OK;
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
