/*
 * ops.c - which nodes the OpenCL backend runs, and how each becomes launches.
 *
 * supports() is exact: a node is claimed only when every input is float32
 * (besides the constant shape-like inputs an op reads on the host), every
 * attribute value is one the kernels implement, and indices fit in 32 bits.
 * Anything else stays on the CPU (or, with fallback off, is reported
 * unsupported). Shapes the planner computed are trusted: the CPU's dry pass
 * has validated them before a device sees the node.
 */
#include <limits.h>
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
    const char *ap = attr_str(n, "auto_pad", "NOTSET");
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

static bool sup_conv(const lm_node *n, loom_tensor *const *in)
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
    int64_t groups = attr_int(n, "group", 1);
    if (groups < 1 || x->dims[1] % groups || w->dims[0] % groups ||
        w->dims[1] * groups != x->dims[1])
        return false;
    const lm_attr *ks = lm_node_attr(n, "kernel_shape");
    if (ks && (ks->n != x->rank - 2 || ks->ints[0] != w->dims[2] ||
               (x->rank == 4 && ks->ints[1] != w->dims[3])))
        return false;
    const char *ap = attr_str(n, "auto_pad", "NOTSET");
    return strcmp(ap, "NOTSET") == 0 || strcmp(ap, "VALID") == 0 || strcmp(ap, "SAME_UPPER") == 0 ||
           strcmp(ap, "SAME_LOWER") == 0 || ap[0] == '\0';
}

static loom_status low_conv(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *w = lm_clb_shape(b, n->in[1]);
    const loom_tensor *y = lm_clb_shape(b, n->out[0]);
    int64_t k[2] = {x->rank == 4 ? w->dims[2] : 1, w->dims[x->rank - 1]};
    conv_geom g;
    if (!spatial_geom(n, x, y, k, true, &g))
        return lm_error(LOOM_ERR_UNSUPPORTED, "convolution geometry");
    g.Co = w->dims[0];
    g.groups = attr_int(n, "group", 1);
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
    const char *ap = attr_str(n, "auto_pad", "NOTSET");
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

static bool sup_convt(const lm_node *n, loom_tensor *const *in)
{
    int act;
    float aa, ab;
    if (n->n_in < 2 || n->n_in > 3 || !one_output(n) || !lm_cl_fused_act(n, &act, &aa, &ab))
        return false;
    const loom_tensor *x = in[0], *w = in[1];
    if (!is_f32(x) || !is_f32(w) || (x->rank != 3 && x->rank != 4) || w->rank != x->rank)
        return false;
    int64_t groups = attr_int(n, "group", 1);
    if (groups < 1 || x->dims[1] % groups || w->dims[0] != x->dims[1])
        return false;
    if (n->n_in == 3 && n->in[2] >= 0 &&
        (!is_f32(in[2]) || in[2]->rank != 1 || in[2]->dims[0] != w->dims[1] * groups))
        return false;
    const lm_attr *ks = lm_node_attr(n, "kernel_shape");
    if (ks && (ks->n != x->rank - 2 || ks->ints[0] != w->dims[2] ||
               (x->rank == 4 && ks->ints[1] != w->dims[3])))
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

static loom_status low_convt(lm_cl_builder *b, const lm_node *n)
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
    int64_t groups = attr_int(n, "group", 1), C = x->dims[1], cig = C / groups;
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

static bool sup_pool(const lm_node *n, loom_tensor *const *in)
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
    int64_t cm = attr_int(n, "ceil_mode", 0), cip = attr_int(n, "count_include_pad", 0);
    if ((cm != 0 && cm != 1) || (cip != 0 && cip != 1))
        return false;
    if (strcmp(n->op_type, "AveragePool") == 0 && has_attr(n, "dilations") && n->opset < 19)
        return false;
    const char *ap = attr_str(n, "auto_pad", "NOTSET");
    return strcmp(ap, "NOTSET") == 0 || strcmp(ap, "VALID") == 0 || strcmp(ap, "SAME_UPPER") == 0 ||
           strcmp(ap, "SAME_LOWER") == 0 || ap[0] == '\0';
}

static loom_status low_pool(lm_cl_builder *b, const lm_node *n)
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
    int kind = is_max ? 0 : (attr_int(n, "count_include_pad", 0) ? 2 : 1);
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

static bool sup_global_pool(const lm_node *n, loom_tensor *const *in)
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

static loom_status low_global_pool(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    rows_reduce(b, lm_clb_in(b, n->in[0]), lm_clb_out(b, n->out[0]), x->dims[0] * x->dims[1],
                prod(x->dims, 2, x->rank), strcmp(n->op_type, "GlobalMaxPool") == 0 ? 0 : 1);
    return lm_clb_error(b);
}

/* ---- normalization and softmax ---- */

static bool sup_batchnorm(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 5 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 2)
        return false;
    if (attr_int(n, "training_mode", 0) != 0 || (n->opset < 7 && attr_int(n, "is_test", 0) == 0))
        return false;
    if (n->opset < 9 && attr_int(n, "spatial", 1) != 1)
        return false;
    for (int i = 1; i < 5; i++)
        if (!is_f32(in[i]) || in[i]->rank != 1 || in[i]->dims[0] != in[0]->dims[1])
            return false;
    return true;
}

static loom_status low_batchnorm(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t cnt = lm_tensor_count(x);
    cl_kernel k = lm_clb_kernel(b, "batchnorm");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, cnt);
    lm_cl_arg_int(&a, x->dims[1]);
    lm_cl_arg_int(&a, prod(x->dims, 2, x->rank));
    for (int i = 1; i < 5; i++)
        lm_cl_arg_mem(&a, lm_clb_in(b, n->in[i]));
    lm_cl_arg_float(&a, attr_float(n, "epsilon", 1e-5f));
    lm_clb_launch1d(b, k, cnt);
    return lm_clb_error(b);
}

static bool sup_instancenorm(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 3 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 3)
        return false;
    for (int i = 1; i < 3; i++)
        if (!is_f32(in[i]) || in[i]->rank != 1 || in[i]->dims[0] != in[0]->dims[1])
            return false;
    return prod(in[0]->dims, 2, in[0]->rank) > 0;
}

/* Work-group size of the row normalizations: a power of two up to 256. */
static size_t norm_wg(lm_cl_builder *b)
{
    size_t wg = 1;
    while (wg * 2 <= 256 && wg * 2 <= lm_clb_max_wg(b))
        wg *= 2;
    return wg;
}

/* One work-group per (n, c) row, reducing in local memory. */
static loom_status low_instancenorm(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t rows = x->dims[0] * x->dims[1], len = prod(x->dims, 2, x->rank);
    size_t wg = norm_wg(b);
    cl_kernel k = lm_clb_kernel(b, "instancenorm");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, x->dims[1]);
    lm_cl_arg_int(&a, len);
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[1]));
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[2]));
    lm_cl_arg_float(&a, attr_float(n, "epsilon", 1e-5f));
    lm_cl_arg_local(&a, wg * sizeof(float));
    size_t gws = (size_t)rows * wg;
    lm_clb_launch(b, k, 1, &gws, &wg);
    return lm_clb_error(b);
}

static int64_t norm_axis(const lm_node *n, int rank)
{
    int64_t axis = attr_int(n, "axis", -1);
    return axis < 0 ? axis + rank : axis;
}

/* Y, and optionally Mean and InvStdDev; scale and bias of the normalized
 * shape's size (no broadcasting inside it). */
static bool sup_layernorm(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 2 || n->n_in > 3 || n->n_out < 1 || n->n_out > 3 || n->out[0] < 0 ||
        !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    int64_t axis = norm_axis(n, in[0]->rank);
    if (axis < 0 || axis >= in[0]->rank || attr_int(n, "stash_type", 1) != 1)
        return false;
    int64_t len = prod(in[0]->dims, (int)axis, in[0]->rank);
    if (len < 1 || !is_f32(in[1]) || lm_tensor_count(in[1]) != len)
        return false;
    return n->n_in < 3 || n->in[2] < 0 || (is_f32(in[2]) && lm_tensor_count(in[2]) == len);
}

static loom_status low_layernorm(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t axis = norm_axis(n, x->rank);
    int64_t rows = prod(x->dims, 0, (int)axis), len = prod(x->dims, (int)axis, x->rank);
    bool has_bias = n->n_in == 3 && n->in[2] >= 0;
    bool has_mean = n->n_out > 1 && n->out[1] >= 0, has_inv = n->n_out > 2 && n->out[2] >= 0;
    size_t wg = norm_wg(b);
    cl_mem y = lm_clb_out(b, n->out[0]), sc = lm_clb_in(b, n->in[1]);
    cl_kernel k = lm_clb_kernel(b, "layernorm");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, y);
    lm_cl_arg_int(&a, len);
    lm_cl_arg_mem(&a, sc);
    lm_cl_arg_mem(&a, has_bias ? lm_clb_in(b, n->in[2]) : sc);
    lm_cl_arg_int(&a, has_bias);
    lm_cl_arg_float(&a, attr_float(n, "epsilon", 1e-5f));
    lm_cl_arg_local(&a, wg * sizeof(float));
    lm_cl_arg_mem(&a, has_mean ? lm_clb_out(b, n->out[1]) : y);
    lm_cl_arg_mem(&a, has_inv ? lm_clb_out(b, n->out[2]) : y);
    lm_cl_arg_int(&a, (has_mean ? 1 : 0) | (has_inv ? 2 : 0));
    size_t gws = (size_t)rows * wg;
    lm_clb_launch(b, k, 1, &gws, &wg);
    return lm_clb_error(b);
}

static bool sup_softmax(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    int64_t axis = attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    return axis >= -in[0]->rank && axis < in[0]->rank;
}

static loom_status low_softmax(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t axis = attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    if (axis < 0)
        axis += x->rank;
    int64_t outer = prod(x->dims, 0, (int)axis), len, inner;
    if (n->opset < 13) { /* coerced to 2-D at axis */
        len = prod(x->dims, (int)axis, x->rank);
        inner = 1;
    } else {
        len = x->dims[axis];
        inner = prod(x->dims, (int)axis + 1, x->rank);
    }
    cl_kernel k = lm_clb_kernel(b, "softmax");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, outer);
    lm_cl_arg_int(&a, len);
    lm_cl_arg_int(&a, inner);
    lm_cl_arg_int(&a, strcmp(n->op_type, "LogSoftmax") == 0);
    lm_clb_launch1d(b, k, outer * inner);
    return lm_clb_error(b);
}

/* ---- reductions ---- */

static int reduce_code(const char *op)
{
    static const char *const names[] = {"ReduceSum",    "ReduceMean",      "ReduceMax", "ReduceMin",
                                        "ReduceProd",   "ReduceSumSquare", "ReduceL1",  "ReduceL2",
                                        "ReduceLogSum", "ReduceLogSumExp"};
    for (int i = 0; i < 10; i++)
        if (strcmp(names[i], op) == 0)
            return i;
    return -1;
}

/* Reduced-axis mask of @x; false when axes are not known at planning. */
static bool reduce_axes(const lm_node *n, loom_tensor *const *in, const loom_tensor *x, bool *mask,
                        bool *noop)
{
    *noop = false;
    int cnt = 0;
    const int64_t *ax = NULL;
    int64_t tmp[MAX_RANK];
    if (n->n_in >= 2 && n->in[1] >= 0) {
        const loom_tensor *t = in[1];
        if (!t || !t->data || t->dtype != LOOM_DTYPE_INT64 || t->rank > 1 ||
            lm_tensor_count(t) > MAX_RANK)
            return false;
        cnt = (int)lm_tensor_count(t);
        for (int i = 0; i < cnt; i++)
            tmp[i] = ((const int64_t *)t->data)[i];
        ax = tmp;
    } else if (n->n_in == 1) {
        const lm_attr *a = lm_node_attr(n, "axes");
        if (a && a->type == LM_ATTR_INTS) {
            cnt = a->n;
            ax = a->ints;
        }
    } else {
        return false;
    }
    for (int d = 0; d < x->rank; d++)
        mask[d] = cnt == 0;
    if (cnt == 0 && attr_int(n, "noop_with_empty_axes", 0)) {
        *noop = true;
        for (int d = 0; d < x->rank; d++)
            mask[d] = false;
        return true;
    }
    for (int i = 0; i < cnt; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + x->rank : ax[i];
        if (a < 0 || a >= x->rank)
            return false;
        mask[a] = true;
    }
    return true;
}

static bool sup_reduce(const lm_node *n, loom_tensor *const *in)
{
    bool mask[MAX_RANK], noop;
    if (n->n_in < 1 || n->n_in > 2 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    return reduce_code(n->op_type) >= 0 && reduce_axes(n, in, in[0], mask, &noop);
}

static loom_status low_reduce(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    loom_tensor *in[2] = {(loom_tensor *)x, NULL};
    if (n->n_in >= 2)
        in[1] = (loom_tensor *)lm_clb_const(b, n->in[1]);
    bool mask[MAX_RANK], noop;
    reduce_axes(n, in, x, mask, &noop);
    if (noop)
        return lm_cl_low_view(b, n);
    int64_t st[MAX_RANK];
    strides_of(x, st);
    int meta[3 + 4 * MAX_RANK], nk = 0, nr = 0;
    int kd[MAX_RANK], ks[MAX_RANK], rd[MAX_RANK], rs[MAX_RANK];
    int64_t outn = 1, count = 1;
    for (int d = 0; d < x->rank; d++) {
        if (mask[d]) {
            rd[nr] = (int)x->dims[d];
            rs[nr++] = (int)st[d];
            count *= x->dims[d];
        } else {
            kd[nk] = (int)x->dims[d];
            ks[nk++] = (int)st[d];
            outn *= x->dims[d];
        }
    }
    int m = 0;
    meta[m++] = nk;
    for (int i = 0; i < nk; i++)
        meta[m++] = kd[i];
    for (int i = 0; i < nk; i++)
        meta[m++] = ks[i];
    meta[m++] = nr;
    for (int i = 0; i < nr; i++)
        meta[m++] = rd[i];
    for (int i = 0; i < nr; i++)
        meta[m++] = rs[i];
    cl_mem mm = upload_ints(b, meta, m);
    cl_kernel k = lm_clb_kernel(b, "reduce");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, outn);
    lm_cl_arg_mem(&a, mm);
    lm_cl_arg_int(&a, count);
    lm_cl_arg_int(&a, reduce_code(n->op_type));
    lm_clb_launch1d(b, k, outn);
    return lm_clb_error(b);
}

/* ---- data movement ---- */

static bool sup_concat(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 1 || !one_output(n) || !has_attr(n, "axis"))
        return false;
    for (int i = 0; i < n->n_in; i++)
        if (!is_f32(in[i]) || in[i]->rank != in[0]->rank || in[i]->rank < 1)
            return false;
    int64_t axis = attr_int(n, "axis", 0);
    return axis >= -in[0]->rank && axis < in[0]->rank;
}

static loom_status low_concat(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *y = lm_clb_shape(b, n->out[0]);
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < 0)
        axis += y->rank;
    int64_t outer = prod(y->dims, 0, (int)axis), out_inner = prod(y->dims, (int)axis, y->rank);
    cl_mem ym = lm_clb_out(b, n->out[0]);
    int64_t off = 0;
    for (int i = 0; i < n->n_in; i++) {
        const loom_tensor *x = lm_clb_shape(b, n->in[i]);
        int64_t inner = prod(x->dims, (int)axis, x->rank);
        int64_t dims[2] = {outer, inner}, src[2] = {inner, 1}, dst[2] = {out_inner, 1};
        lm_cl_strided_copy(b, lm_clb_in(b, n->in[i]), 0, ym, off, 2, dims, src, dst);
        off += inner;
    }
    return lm_clb_error(b);
}

static bool sup_transpose(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !one_output(n) || !is_f32(in[0]))
        return false;
    const lm_attr *p = lm_node_attr(n, "perm");
    if (!p)
        return true;
    if (p->n != in[0]->rank)
        return false;
    bool seen[MAX_RANK] = {false};
    for (int i = 0; i < p->n; i++) {
        if (p->ints[i] < 0 || p->ints[i] >= p->n || seen[p->ints[i]])
            return false;
        seen[p->ints[i]] = true;
    }
    return true;
}

static loom_status low_transpose(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *y = lm_clb_shape(b, n->out[0]);
    const lm_attr *p = lm_node_attr(n, "perm");
    int64_t xs[MAX_RANK], ys[MAX_RANK], src[MAX_RANK];
    strides_of(x, xs);
    strides_of(y, ys);
    for (int d = 0; d < x->rank; d++)
        src[d] = xs[p ? p->ints[d] : x->rank - 1 - d];
    lm_cl_strided_copy(b, lm_clb_in(b, n->in[0]), 0, lm_clb_out(b, n->out[0]), 0, y->rank, y->dims,
                       src, ys);
    return lm_clb_error(b);
}

/* Slice parameters per axis of @x: start and step; false when not constant. */
static bool slice_params(const lm_node *n, loom_tensor *const *in, const loom_tensor *x,
                         int64_t *start, int64_t *step)
{
    int r = x->rank, cnt;
    int64_t s[MAX_RANK], e[MAX_RANK], ax[MAX_RANK], sp[MAX_RANK];
    for (int d = 0; d < r; d++) {
        start[d] = 0;
        step[d] = 1;
    }
    if (n->opset < 10) {
        const lm_attr *as = lm_node_attr(n, "starts"), *ae = lm_node_attr(n, "ends"),
                      *aa = lm_node_attr(n, "axes");
        if (!as || !ae || as->n != ae->n || as->n > r || (aa && aa->n != as->n))
            return false;
        cnt = as->n;
        for (int i = 0; i < cnt; i++) {
            s[i] = as->ints[i];
            e[i] = ae->ints[i];
            ax[i] = aa ? aa->ints[i] : i;
            sp[i] = 1;
        }
    } else {
        if (n->n_in < 3)
            return false;
        const loom_tensor *t[4] = {in[1], in[2], n->n_in > 3 ? in[3] : NULL,
                                   n->n_in > 4 ? in[4] : NULL};
        for (int i = 0; i < 4; i++) {
            bool present = i < 2 || (n->n_in > i + 1 && n->in[i + 1] >= 0);
            if (!present)
                continue;
            if (!t[i] || !t[i]->data || t[i]->rank != 1 ||
                (t[i]->dtype != LOOM_DTYPE_INT64 && t[i]->dtype != LOOM_DTYPE_INT32))
                return false;
        }
        cnt = (int)t[0]->dims[0];
        if (cnt > r || t[1]->dims[0] != cnt || (t[2] && n->in[3] >= 0 && t[2]->dims[0] != cnt) ||
            (t[3] && n->in[4] >= 0 && t[3]->dims[0] != cnt))
            return false;
        for (int i = 0; i < cnt; i++) {
            s[i] = lm_tensor_get_i64(t[0], i);
            e[i] = lm_tensor_get_i64(t[1], i);
            ax[i] = t[2] && n->in[3] >= 0 ? lm_tensor_get_i64(t[2], i) : i;
            sp[i] = t[3] && n->in[4] >= 0 ? lm_tensor_get_i64(t[3], i) : 1;
        }
    }
    bool seen[MAX_RANK] = {false};
    for (int i = 0; i < cnt; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + r : ax[i];
        if (a < 0 || a >= r || seen[a] || sp[i] == 0)
            return false;
        seen[a] = true;
        int64_t dim = x->dims[a], st = s[i];
        if (st < 0)
            st = st < -dim ? 0 : st + dim;
        if (sp[i] > 0)
            st = st > dim ? dim : st;
        else
            st = st > dim - 1 ? dim - 1 : st;
        start[a] = st;
        step[a] = sp[i];
        (void)e;
    }
    return true;
}

static bool sup_slice(const lm_node *n, loom_tensor *const *in)
{
    int64_t start[MAX_RANK], step[MAX_RANK];
    return n->n_in >= 1 && one_output(n) && is_f32(in[0]) && in[0]->rank >= 1 &&
           slice_params(n, in, in[0], start, step);
}

static loom_status low_slice(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *y = lm_clb_shape(b, n->out[0]);
    loom_tensor *in[5] = {(loom_tensor *)x, NULL, NULL, NULL, NULL};
    for (int i = 1; i < n->n_in && i < 5; i++)
        in[i] = (loom_tensor *)lm_clb_const(b, n->in[i]);
    int64_t start[MAX_RANK], step[MAX_RANK], xs[MAX_RANK], ys[MAX_RANK], src[MAX_RANK];
    slice_params(n, in, x, start, step);
    strides_of(x, xs);
    strides_of(y, ys);
    int64_t off = 0;
    for (int d = 0; d < x->rank; d++) {
        off += start[d] * xs[d];
        src[d] = xs[d] * step[d];
    }
    lm_cl_strided_copy(b, lm_clb_in(b, n->in[0]), off, lm_clb_out(b, n->out[0]), 0, y->rank,
                       y->dims, src, ys);
    return lm_clb_error(b);
}

static bool sup_expand(const lm_node *n, loom_tensor *const *in)
{
    return n->n_in == 2 && one_output(n) && is_f32(in[0]);
}

static loom_status low_expand(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *y = lm_clb_shape(b, n->out[0]);
    int64_t xs[MAX_RANK], ys[MAX_RANK], src[MAX_RANK];
    strides_of(x, xs);
    strides_of(y, ys);
    int off = y->rank - x->rank;
    for (int d = 0; d < y->rank; d++) {
        int sd = d - off;
        src[d] = sd < 0 || x->dims[sd] == 1 ? 0 : xs[sd];
    }
    lm_cl_strided_copy(b, lm_clb_in(b, n->in[0]), 0, lm_clb_out(b, n->out[0]), 0, y->rank, y->dims,
                       src, ys);
    return lm_clb_error(b);
}

static bool sup_split(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 1 || n->n_in > 2 || n->n_out < 1 || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    for (int o = 0; o < n->n_out; o++)
        if (n->out[o] < 0) /* an omitted output's extent is unknown here */
            return false;
    int64_t axis = attr_int(n, "axis", 0);
    return axis >= -in[0]->rank && axis < in[0]->rank;
}

/* Each output is a slice along the axis; the planner's output shapes give
 * the split sizes (whether from the attribute, the input or num_outputs). */
static loom_status low_split(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < 0)
        axis += x->rank;
    int64_t outer = prod(x->dims, 0, (int)axis), in_inner = prod(x->dims, (int)axis, x->rank);
    cl_mem xm = lm_clb_in(b, n->in[0]);
    int64_t off = 0;
    for (int o = 0; o < n->n_out; o++) {
        const loom_tensor *y = lm_clb_shape(b, n->out[o]);
        int64_t inner = prod(y->dims, (int)axis, y->rank);
        int64_t dims[2] = {outer, inner}, src[2] = {in_inner, 1}, dst[2] = {inner, 1};
        lm_cl_strided_copy(b, xm, off, lm_clb_out(b, n->out[o]), 0, 2, dims, src, dst);
        off += inner;
    }
    if (off != in_inner)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "split outputs cover %lld of the %lld elements per outer index",
                        (long long)off, (long long)in_inner);
    return lm_clb_error(b);
}

/* ---- Pad ---- */

typedef struct pad_p {
    int mode; /* 0 constant, 1 reflect, 2 edge, 3 wrap */
    float value;
    int64_t before[MAX_RANK];
} pad_p;

/* Int64 values of a constant 1-D input, or false. */
static bool const_ints(const loom_tensor *t, int64_t *v, int max, int *n)
{
    if (!t || !t->data || (t->dtype != LOOM_DTYPE_INT64 && t->dtype != LOOM_DTYPE_INT32) ||
        t->rank > 1 || lm_tensor_count(t) > max)
        return false;
    *n = (int)lm_tensor_count(t);
    for (int i = 0; i < *n; i++)
        v[i] = lm_tensor_get_i64(t, i);
    return true;
}

static bool pad_params(const lm_node *n, loom_tensor *const *in, const loom_tensor *x, pad_p *p)
{
    int r = x->rank, np = 0, na = 0;
    int64_t pads[2 * MAX_RANK], axes[MAX_RANK];
    static const char *const modes[] = {"constant", "reflect", "edge", "wrap"};
    const char *mode = attr_str(n, "mode", "constant");
    p->mode = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(mode, modes[i]) == 0)
            p->mode = i;
    p->value = 0.0f;
    if (p->mode < 0 || (p->mode == 3 && n->opset < 19))
        return false;
    if (n->opset < 11) {
        const lm_attr *a = lm_node_attr(n, n->opset < 2 ? "paddings" : "pads");
        if (!a || a->type != LM_ATTR_INTS || a->n != 2 * r)
            return false;
        np = a->n;
        memcpy(pads, a->ints, sizeof(int64_t) * (size_t)np);
        p->value = attr_float(n, "value", 0.0f);
    } else {
        if (n->n_in < 2 || !const_ints(in[1], pads, 2 * MAX_RANK, &np))
            return false;
        if (n->n_in > 2 && n->in[2] >= 0) {
            const loom_tensor *v = in[2];
            if (!v || !v->data || v->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(v) != 1)
                return false;
            p->value = *(const float *)v->data;
        }
    }
    na = np / 2;
    for (int i = 0; i < na; i++)
        axes[i] = i;
    if (n->n_in > 3 && n->in[3] >= 0 && !const_ints(in[3], axes, MAX_RANK, &na))
        return false;
    if (np != 2 * na || (n->n_in <= 3 && na != r))
        return false;
    for (int d = 0; d < r; d++)
        p->before[d] = 0;
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + r : axes[i];
        if (a < 0 || a >= r)
            return false;
        p->before[a] = pads[i];
        /* Reflect, edge and wrap read the input: it must not be empty. */
        if (p->mode != 0 && x->dims[a] == 0 && (pads[i] > 0 || pads[i + na] > 0))
            return false;
    }
    return true;
}

static bool sup_pad(const lm_node *n, loom_tensor *const *in)
{
    pad_p p;
    return n->n_in >= 1 && one_output(n) && is_f32(in[0]) && in[0]->rank >= 1 &&
           pad_params(n, in, in[0], &p);
}

static loom_status low_pad(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *y = lm_clb_shape(b, n->out[0]);
    loom_tensor *in[4] = {(loom_tensor *)x, NULL, NULL, NULL};
    for (int i = 1; i < n->n_in && i < 4; i++)
        in[i] = (loom_tensor *)lm_clb_const(b, n->in[i]);
    pad_p p;
    pad_params(n, in, x, &p);
    int r = x->rank, meta[1 + 3 * MAX_RANK] = {r};
    for (int d = 0; d < r; d++) {
        meta[1 + d] = (int)y->dims[d];
        meta[1 + r + d] = (int)x->dims[d];
        meta[1 + 2 * r + d] = (int)p.before[d];
    }
    int64_t cnt = lm_tensor_count(y);
    cl_mem mm = upload_ints(b, meta, 1 + 3 * r);
    cl_kernel k = lm_clb_kernel(b, "pad");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, cnt);
    lm_cl_arg_mem(&a, mm);
    lm_cl_arg_int(&a, p.mode);
    lm_cl_arg_float(&a, p.value);
    lm_clb_launch1d(b, k, cnt);
    return lm_clb_error(b);
}

/* ---- Gather ---- */

static bool sup_gather(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 2 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1 || !in[1])
        return false;
    const loom_tensor *ix = in[1];
    if (ix->dtype != LOOM_DTYPE_INT64 && ix->dtype != LOOM_DTYPE_INT32)
        return false;
    if (ix->rank + in[0]->rank - 1 > MAX_RANK || lm_tensor_count(ix) >= INT_MAX / 2)
        return false;
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < -in[0]->rank || axis >= in[0]->rank)
        return false;
    if (axis < 0)
        axis += in[0]->rank;
    if (!ix->data) /* checked by the kernel at run time */
        return true;
    int64_t len = in[0]->dims[axis];
    for (int64_t i = 0; i < lm_tensor_count(ix); i++) {
        int64_t v = lm_tensor_get_i64(ix, i);
        if (v < -len || v >= len)
            return false; /* the CPU reports the bad index */
    }
    return true;
}

static loom_status low_gather(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *ix = lm_clb_shape(b, n->in[1]);
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < 0)
        axis += x->rank;
    int64_t outer = prod(x->dims, 0, (int)axis), len = x->dims[axis];
    int64_t inner = prod(x->dims, (int)axis + 1, x->rank), nidx = lm_tensor_count(ix);
    int64_t cnt = outer * nidx * inner;
    cl_kernel k = lm_clb_kernel(b, "gather");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[1]));
    lm_cl_arg_int(&a, ix->dtype == LOOM_DTYPE_INT64);
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, cnt);
    lm_cl_arg_int(&a, len);
    lm_cl_arg_int(&a, inner);
    lm_cl_arg_int(&a, nidx);
    lm_clb_launch1d(b, k, cnt);
    return lm_clb_error(b);
}

/* ---- ArgMax / ArgMin ---- */

static bool sup_argext(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    int64_t axis = attr_int(n, "axis", 0);
    return axis >= -in[0]->rank && axis < in[0]->rank &&
           in[0]->dims[axis < 0 ? axis + in[0]->rank : axis] > 0;
}

/* keepdims only changes the output's shape, not its layout. */
static loom_status low_argext(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t axis = attr_int(n, "axis", 0);
    if (axis < 0)
        axis += x->rank;
    int64_t outer = prod(x->dims, 0, (int)axis), inner = prod(x->dims, (int)axis + 1, x->rank);
    cl_kernel k = lm_clb_kernel(b, "argext");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, outer * inner);
    lm_cl_arg_int(&a, x->dims[axis]);
    lm_cl_arg_int(&a, inner);
    lm_cl_arg_int(&a, strcmp(n->op_type, "ArgMax") == 0);
    lm_cl_arg_int(&a, attr_int(n, "select_last_index", 0) != 0);
    lm_clb_launch1d(b, k, outer * inner);
    return lm_clb_error(b);
}

/* ---- DepthToSpace / SpaceToDepth: one 6-D strided copy ---- */

static bool sup_d2s(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !one_output(n) || !is_f32(in[0]) || in[0]->rank != 4)
        return false;
    int64_t bs = attr_int(n, "blocksize", 0);
    const char *mode = attr_str(n, "mode", "DCR");
    if (bs < 1 || (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0))
        return false;
    if (strcmp(n->op_type, "DepthToSpace") == 0)
        return in[0]->dims[1] % (bs * bs) == 0;
    return in[0]->dims[2] % bs == 0 && in[0]->dims[3] % bs == 0;
}

static loom_status low_d2s(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t bs = attr_int(n, "blocksize", 0), HW = H * W;
    int64_t dims[6], src[6], dst[6];
    if (strcmp(n->op_type, "DepthToSpace") == 0) {
        /* y[n][c][h*bs + i][w*bs + j], iterated as [N, C', H, bs, W, bs]. */
        int64_t Cp = C / (bs * bs);
        bool crd = strcmp(attr_str(n, "mode", "DCR"), "CRD") == 0;
        int64_t d[6] = {N, Cp, H, bs, W, bs};
        int64_t s6[6] = {C * HW, crd ? bs * bs * HW : HW, W, crd ? bs * HW : bs * Cp * HW,
                         1,      crd ? HW : Cp * HW};
        memcpy(dims, d, sizeof(d));
        memcpy(src, s6, sizeof(s6));
    } else {
        /* y[n][(i*bs + j)*C + c][h'][w'], iterated as [N, bs, bs, C, H', W']. */
        int64_t d[6] = {N, bs, bs, C, H / bs, W / bs};
        int64_t s6[6] = {C * HW, W, 1, HW, bs * W, bs};
        memcpy(dims, d, sizeof(d));
        memcpy(src, s6, sizeof(s6));
    }
    int64_t st = 1;
    for (int i = 5; i >= 0; i--) {
        dst[i] = st;
        st *= dims[i];
    }
    lm_cl_strided_copy(b, lm_clb_in(b, n->in[0]), 0, lm_clb_out(b, n->out[0]), 0, 6, dims, src,
                       dst);
    return lm_clb_error(b);
}

/* ---- Resize ---- */

typedef struct resize_p {
    int coord, mode, nearest;
    float sh, sw;
} resize_p;

static bool resize_params(const lm_node *n, loom_tensor *const *in, const loom_tensor *x,
                          resize_p *p)
{
    if (!is_f32(x) || x->rank != 4 || n->opset < 11)
        return false;
    const char *mode = attr_str(n, "mode", "nearest");
    const char *ct = attr_str(n, "coordinate_transformation_mode", "half_pixel");
    const char *nm = attr_str(n, "nearest_mode", "round_prefer_floor");
    if (strcmp(mode, "nearest") == 0)
        p->mode = 0;
    else if (strcmp(mode, "linear") == 0)
        p->mode = 1;
    else
        return false;
    static const char *const cts[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                      "asymmetric", "tf_half_pixel_for_nn"};
    p->coord = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(ct, cts[i]) == 0)
            p->coord = i;
    static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    p->nearest = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(nm, nms[i]) == 0)
            p->nearest = i;
    if (p->coord < 0 || p->nearest < 0 || (p->coord == 4 && p->mode != 0))
        return false;
    if (attr_int(n, "antialias", 0) || attr_int(n, "exclude_outside", 0) || has_attr(n, "axes"))
        return false;
    if (strcmp(attr_str(n, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0)
        return false;
    const loom_tensor *scales = n->n_in > 2 && n->in[2] >= 0 ? in[2] : NULL;
    const loom_tensor *sizes = n->n_in > 3 && n->in[3] >= 0 ? in[3] : NULL;
    if (scales && lm_tensor_count(scales) == 0)
        scales = NULL;
    if (scales) {
        if (!scales->data || scales->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(scales) != 4)
            return false;
        const float *s = scales->data;
        if (s[0] != 1.0f || s[1] != 1.0f || !(s[2] > 0) || !(s[3] > 0))
            return false;
        p->sh = s[2];
        p->sw = s[3];
        return true;
    }
    if (!sizes || !sizes->data || sizes->dtype != LOOM_DTYPE_INT64 || lm_tensor_count(sizes) != 4)
        return false;
    const int64_t *z = sizes->data;
    if (z[0] != x->dims[0] || z[1] != x->dims[1] || z[2] < 1 || z[3] < 1 || x->dims[2] < 1 ||
        x->dims[3] < 1)
        return false;
    p->sh = (float)z[2] / (float)x->dims[2];
    p->sw = (float)z[3] / (float)x->dims[3];
    return true;
}

static bool sup_resize(const lm_node *n, loom_tensor *const *in)
{
    resize_p p;
    return n->n_in >= 2 && one_output(n) && resize_params(n, in, in[0], &p);
}

static loom_status low_resize(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *y = lm_clb_shape(b, n->out[0]);
    loom_tensor *in[4] = {(loom_tensor *)x, NULL, NULL, NULL};
    for (int i = 1; i < n->n_in && i < 4; i++)
        in[i] = (loom_tensor *)lm_clb_const(b, n->in[i]);
    resize_p p;
    resize_params(n, in, x, &p);
    int64_t cnt = lm_tensor_count(y);
    cl_kernel k = lm_clb_kernel(b, "resize2d");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, cnt);
    lm_cl_arg_int(&a, x->dims[2]);
    lm_cl_arg_int(&a, x->dims[3]);
    lm_cl_arg_int(&a, y->dims[2]);
    lm_cl_arg_int(&a, y->dims[3]);
    lm_cl_arg_float(&a, p.sh);
    lm_cl_arg_float(&a, p.sw);
    lm_cl_arg_int(&a, p.coord);
    lm_cl_arg_int(&a, p.mode);
    lm_cl_arg_int(&a, p.nearest);
    lm_clb_launch1d(b, k, cnt);
    return lm_clb_error(b);
}

/* ---- the table ---- */

typedef struct op_entry {
    const char *op;
    supports_fn supports;
    lower_fn lower;
} op_entry;

static const op_entry ops[] = {
    {"Gemm", lm_cl_sup_gemm, lm_cl_low_gemm},
    {"MatMul", lm_cl_sup_matmul, lm_cl_low_matmul},
    {"Conv", sup_conv, low_conv},
    {"MaxPool", sup_pool, low_pool},
    {"AveragePool", sup_pool, low_pool},
    {"GlobalAveragePool", sup_global_pool, low_global_pool},
    {"GlobalMaxPool", sup_global_pool, low_global_pool},
    {"BatchNormalization", sup_batchnorm, low_batchnorm},
    {"Softmax", sup_softmax, low_softmax},
    {"LogSoftmax", sup_softmax, low_softmax},
    {"Clip", lm_cl_sup_clip, lm_cl_low_clip},
    {"Add", lm_cl_sup_binary, lm_cl_low_binary},
    {"Sub", lm_cl_sup_binary, lm_cl_low_binary},
    {"Mul", lm_cl_sup_binary, lm_cl_low_binary},
    {"Div", lm_cl_sup_binary, lm_cl_low_binary},
    {"Pow", lm_cl_sup_binary, lm_cl_low_binary},
    {"Max", lm_cl_sup_binary, lm_cl_low_binary},
    {"Min", lm_cl_sup_binary, lm_cl_low_binary},
    {"Sum", lm_cl_sup_binary, lm_cl_low_binary},
    {"Mean", lm_cl_sup_binary, lm_cl_low_binary},
    {"PRelu", lm_cl_sup_binary, lm_cl_low_binary},
    {"Concat", sup_concat, low_concat},
    {"Transpose", sup_transpose, low_transpose},
    {"Slice", sup_slice, low_slice},
    {"Expand", sup_expand, low_expand},
    {"Resize", sup_resize, low_resize},
    {"Split", sup_split, low_split},
    {"Pad", sup_pad, low_pad},
    {"Gather", sup_gather, low_gather},
    {"ConvTranspose", sup_convt, low_convt},
    {"InstanceNormalization", sup_instancenorm, low_instancenorm},
    {"LayerNormalization", sup_layernorm, low_layernorm},
    {"ArgMax", sup_argext, low_argext},
    {"ArgMin", sup_argext, low_argext},
    {"DepthToSpace", sup_d2s, low_d2s},
    {"SpaceToDepth", sup_d2s, low_d2s},
    {"Reshape", lm_cl_sup_view, lm_cl_low_view},
    {"Flatten", lm_cl_sup_view, lm_cl_low_view},
    {"Squeeze", lm_cl_sup_view, lm_cl_low_view},
    {"Unsqueeze", lm_cl_sup_view, lm_cl_low_view},
    {"Identity", lm_cl_sup_view, lm_cl_low_view},
    {"Dropout", lm_cl_sup_view, lm_cl_low_view},
};

static const op_entry *find_op(const lm_node *n)
{
    if (n->domain[0] != '\0')
        return NULL;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(ops[i].op, n->op_type) == 0)
            return &ops[i];
    if (lm_cl_find_act(n->op_type) || reduce_code(n->op_type) >= 0)
        return NULL; /* handled below */
    return NULL;
}

bool lm_cl_supports(const lm_node *n, loom_tensor *const *in)
{
    if (n->domain[0] != '\0')
        return false;
    const op_entry *e = find_op(n);
    if (e)
        return e->supports(n, in);
    if (reduce_code(n->op_type) >= 0)
        return sup_reduce(n, in);
    if (lm_cl_find_act(n->op_type))
        return lm_cl_sup_unary(n, in);
    return false;
}

loom_status lm_cl_lower(lm_cl_builder *b, const lm_node *n)
{
    const op_entry *e = find_op(n);
    if (e)
        return e->lower(b, n);
    if (reduce_code(n->op_type) >= 0)
        return low_reduce(b, n);
    return lm_cl_low_unary(b, n);
}
