/* ops_eltwise.c - standalone activations, Clip, views and binary elementwise ops. */
#include <math.h>
#include <string.h>

#include "ops_common.h"

/* ---- activations: standalone and fused ---- */

bool lm_cl_sup_unary(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !is_f32(in[0]) || !one_output(n))
        return false;
    if (strcmp(n->op_type, "Gelu") == 0) {
        const char *ap = lm_node_attr_str(n, "approximate", "none");
        return strcmp(ap, "none") == 0 || strcmp(ap, "tanh") == 0;
    }
    return lm_cl_find_act(n->op_type) != NULL;
}

static void unary_launch(lm_cl_builder *b, const lm_node *n, int code, float a, float bb)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t cnt = lm_tensor_count(x);
    cl_kernel k = lm_clb_kernel(b, "unary");
    lm_cl_args ar = {b, k, 0};
    lm_cl_arg_mem(&ar, lm_clb_in(b, n->in[0]));
    lm_cl_arg_mem(&ar, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&ar, cnt);
    lm_cl_arg_int(&ar, code);
    lm_cl_arg_float(&ar, a);
    lm_cl_arg_float(&ar, bb);
    lm_clb_launch1d(b, k, cnt);
}

loom_status lm_cl_low_unary(lm_cl_builder *b, const lm_node *n)
{
    const act_def *d = lm_cl_find_act(n->op_type);
    int code = d->code;
    float a = d->a_name ? lm_node_attr_float(n, d->a_name, d->a_def) : d->a_def;
    float bb = d->b_name ? lm_node_attr_float(n, d->b_name, d->b_def) : d->b_def;
    if (code == 29 && strcmp(lm_node_attr_str(n, "approximate", "none"), "tanh") == 0)
        code = 30;
    unary_launch(b, n, code, a, bb);
    return lm_clb_error(b);
}

/* Clip bounds: attributes before opset 11, then optional constant inputs. */
static bool clip_bounds(const lm_node *n, loom_tensor *const *in, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    if (n->opset < 11) {
        *lo = lm_node_attr_float(n, "min", -INFINITY);
        *hi = lm_node_attr_float(n, "max", INFINITY);
        return true;
    }
    for (int i = 1; i < n->n_in && i < 3; i++) {
        if (n->in[i] < 0)
            continue;
        const loom_tensor *t = in[i];
        if (!t || !t->data || t->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(t) != 1)
            return false; /* bounds known only at run time */
        *(i == 1 ? lo : hi) = *(const float *)t->data;
    }
    return true;
}

/* Bounds given as inputs whose values come at run time: float scalars. */
static bool clip_dynamic(const lm_node *n, loom_tensor *const *in)
{
    if (n->opset < 11)
        return false;
    for (int i = 1; i < n->n_in && i < 3; i++)
        if (n->in[i] >= 0 && (!is_f32(in[i]) || lm_tensor_count(in[i]) != 1))
            return false;
    return true;
}

bool lm_cl_sup_clip(const lm_node *n, loom_tensor *const *in)
{
    float lo, hi;
    return n->n_in >= 1 && n->n_in <= 3 && is_f32(in[0]) && one_output(n) &&
           (clip_bounds(n, in, &lo, &hi) || clip_dynamic(n, in));
}

loom_status lm_cl_low_clip(lm_cl_builder *b, const lm_node *n)
{
    loom_tensor *in[3] = {NULL, NULL, NULL};
    for (int i = 0; i < n->n_in && i < 3; i++)
        in[i] = (loom_tensor *)lm_clb_const(b, n->in[i]);
    float lo, hi;
    if (clip_bounds(n, in, &lo, &hi)) {
        unary_launch(b, n, 3, lo, hi);
        return lm_clb_error(b);
    }
    /* The kernel reads the bounds from their buffers each run. */
    bool has_lo = n->n_in > 1 && n->in[1] >= 0, has_hi = n->n_in > 2 && n->in[2] >= 0;
    cl_mem x = lm_clb_in(b, n->in[0]);
    int64_t cnt = lm_tensor_count(lm_clb_shape(b, n->in[0]));
    cl_kernel k = lm_clb_kernel(b, "clip_dyn");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, x);
    lm_cl_arg_mem(&a, lm_clb_out(b, n->out[0]));
    lm_cl_arg_int(&a, cnt);
    lm_cl_arg_mem(&a, has_lo ? lm_clb_in(b, n->in[1]) : x);
    lm_cl_arg_int(&a, has_lo);
    lm_cl_arg_mem(&a, has_hi ? lm_clb_in(b, n->in[2]) : x);
    lm_cl_arg_int(&a, has_hi);
    lm_clb_launch1d(b, k, cnt);
    return lm_clb_error(b);
}

/* ---- views: the output shares the input's buffer ---- */

bool lm_cl_sup_view(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 1 || !is_f32(in[0]) || n->n_out < 1 || n->out[0] < 0)
        return false;
    if (strcmp(n->op_type, "Dropout") == 0) {
        if (n->n_out > 1 && n->out[1] >= 0)
            return false;                    /* the mask output */
        if (n->n_in >= 3 && n->in[2] >= 0) { /* training_mode must be a constant false */
            const loom_tensor *t = in[2];
            if (!t || !t->data || t->dtype != LOOM_DTYPE_BOOL || *(const uint8_t *)t->data)
                return false;
        }
        return lm_node_attr_int(n, "is_test", 1) != 0 || n->opset >= 7;
    }
    return one_output(n);
}

loom_status lm_cl_low_view(lm_cl_builder *b, const lm_node *n)
{
    lm_clb_alias(b, n->out[0], n->in[0]);
    return lm_clb_error(b);
}

/* ---- binary elementwise with broadcasting ---- */

static int binary_code(const lm_node *n)
{
    static const struct {
        const char *op;
        int code;
    } map[] = {{"Add", 0}, {"Sub", 1}, {"Mul", 2},   {"Div", 3}, {"Pow", 4},
               {"Max", 5}, {"Min", 6}, {"PRelu", 7}, {"Sum", 0}, {"Mean", 8}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].op, n->op_type) == 0)
            return map[i].code;
    return -1;
}

bool lm_cl_sup_binary(const lm_node *n, loom_tensor *const *in)
{
    int act;
    float aa, ab;
    if (!one_output(n) || binary_code(n) < 0 || !lm_cl_fused_act(n, &act, &aa, &ab))
        return false;
    bool variadic = strcmp(n->op_type, "Sum") == 0 || strcmp(n->op_type, "Mean") == 0 ||
                    strcmp(n->op_type, "Max") == 0 || strcmp(n->op_type, "Min") == 0;
    if (variadic && n->n_in == 1)
        return is_f32(in[0]);
    /* Old opsets' "broadcast"/"axis" attributes mean a different alignment. */
    if (n->n_in != 2 || lm_node_has_attr(n, "axis") ||
        (lm_node_has_attr(n, "broadcast") && n->opset < 7))
        return false;
    if (!is_f32(in[0]) || !is_f32(in[1]))
        return false;
    /* numpy broadcasting only (old PRelu broadcast a slope along axis 1). */
    const loom_tensor *a = in[0], *b = in[1];
    for (int i = 1; i <= a->rank && i <= b->rank; i++) {
        int64_t da = a->dims[a->rank - i], db = b->dims[b->rank - i];
        if (da != db && da != 1 && db != 1)
            return false;
    }
    return true;
}

loom_status lm_cl_low_binary(lm_cl_builder *b, const lm_node *n)
{
    if (n->n_in == 1)
        return lm_cl_low_view(b, n);
    int act;
    float aa, ab; /* a residual Add's ReLU (core/fuse.c) */
    lm_cl_fused_act(n, &act, &aa, &ab);
    return lm_cl_binary_act(b, binary_code(n), lm_clb_in(b, n->in[0]), lm_clb_shape(b, n->in[0]),
                            lm_clb_in(b, n->in[1]), lm_clb_shape(b, n->in[1]),
                            lm_clb_out(b, n->out[0]), lm_clb_shape(b, n->out[0]), act, aa, ab);
}

loom_status lm_cl_binary(lm_cl_builder *b, int code, cl_mem a, const loom_tensor *ta, cl_mem bm,
                         const loom_tensor *tb, cl_mem y, const loom_tensor *ty)
{
    return lm_cl_binary_act(b, code, a, ta, bm, tb, y, ty, 0, 0.0f, 0.0f);
}

loom_status lm_cl_binary_act(lm_cl_builder *b, int code, cl_mem a, const loom_tensor *ta, cl_mem bm,
                             const loom_tensor *tb, cl_mem y, const loom_tensor *ty, int act,
                             float aa, float ab)
{
    int64_t cnt = lm_tensor_count(ty);
    int64_t na = lm_tensor_count(ta), nb = lm_tensor_count(tb);
    if ((na == cnt || na == 1) && (nb == cnt || nb == 1)) {
        cl_kernel k = lm_clb_kernel(b, "binary_flat");
        lm_cl_args ar = {b, k, 0};
        lm_cl_arg_mem(&ar, a);
        lm_cl_arg_mem(&ar, bm);
        lm_cl_arg_mem(&ar, y);
        lm_cl_arg_int(&ar, cnt);
        lm_cl_arg_int(&ar, code);
        lm_cl_arg_int(&ar, na == cnt ? 1 : 0);
        lm_cl_arg_int(&ar, nb == cnt ? 1 : 0);
        lm_cl_arg_int(&ar, act);
        lm_cl_arg_float(&ar, aa);
        lm_cl_arg_float(&ar, ab);
        lm_clb_launch1d(b, k, cnt);
        return lm_clb_error(b);
    }
    int r = ty->rank;
    int meta[1 + 3 * MAX_RANK] = {r};
    const loom_tensor *src[2] = {ta, tb};
    for (int s = 0; s < 2; s++) {
        int64_t st[MAX_RANK];
        strides_of(src[s], st);
        int off = r - src[s]->rank;
        for (int d = 0; d < r; d++) {
            int sd = d - off;
            meta[1 + (s + 1) * r + d] = sd < 0 || src[s]->dims[sd] == 1 ? 0 : (int)st[sd];
        }
    }
    for (int d = 0; d < r; d++)
        meta[1 + d] = (int)ty->dims[d];
    cl_mem m = upload_ints(b, meta, 1 + 3 * r);
    cl_kernel k = lm_clb_kernel(b, "binary_bcast");
    lm_cl_args ar = {b, k, 0};
    lm_cl_arg_mem(&ar, a);
    lm_cl_arg_mem(&ar, bm);
    lm_cl_arg_mem(&ar, y);
    lm_cl_arg_int(&ar, cnt);
    lm_cl_arg_int(&ar, code);
    lm_cl_arg_mem(&ar, m);
    lm_cl_arg_int(&ar, act);
    lm_cl_arg_float(&ar, aa);
    lm_cl_arg_float(&ar, ab);
    lm_clb_launch1d(b, k, cnt);
    return lm_clb_error(b);
}
