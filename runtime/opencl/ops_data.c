/* ops_data.c - data movement, Pad, Gather, ArgMax/ArgMin, DepthToSpace, Resize. */
#include <limits.h>
#include <string.h>

#include "core/error.h"
#include "ops_common.h"

/* ---- data movement ---- */

bool lm_cl_sup_concat(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 1 || !one_output(n) || !lm_node_has_attr(n, "axis"))
        return false;
    for (int i = 0; i < n->n_in; i++)
        if (!is_f32(in[i]) || in[i]->rank != in[0]->rank || in[i]->rank < 1)
            return false;
    int64_t axis = lm_node_attr_int(n, "axis", 0);
    return axis >= -in[0]->rank && axis < in[0]->rank;
}

loom_status lm_cl_low_concat(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *y = lm_clb_shape(b, n->out[0]);
    int64_t axis = lm_node_attr_int(n, "axis", 0);
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

bool lm_cl_sup_transpose(const lm_node *n, loom_tensor *const *in)
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

loom_status lm_cl_low_transpose(lm_cl_builder *b, const lm_node *n)
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

bool lm_cl_sup_slice(const lm_node *n, loom_tensor *const *in)
{
    int64_t start[MAX_RANK], step[MAX_RANK];
    return n->n_in >= 1 && one_output(n) && is_f32(in[0]) && in[0]->rank >= 1 &&
           slice_params(n, in, in[0], start, step);
}

loom_status lm_cl_low_slice(lm_cl_builder *b, const lm_node *n)
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

bool lm_cl_sup_expand(const lm_node *n, loom_tensor *const *in)
{
    return n->n_in == 2 && one_output(n) && is_f32(in[0]);
}

loom_status lm_cl_low_expand(lm_cl_builder *b, const lm_node *n)
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

bool lm_cl_sup_split(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 1 || n->n_in > 2 || n->n_out < 1 || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    for (int o = 0; o < n->n_out; o++)
        if (n->out[o] < 0) /* an omitted output's extent is unknown here */
            return false;
    int64_t axis = lm_node_attr_int(n, "axis", 0);
    return axis >= -in[0]->rank && axis < in[0]->rank;
}

/* Each output is a slice along the axis; the planner's output shapes give
 * the split sizes (whether from the attribute, the input or num_outputs). */
loom_status lm_cl_low_split(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t axis = lm_node_attr_int(n, "axis", 0);
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
    const char *mode = lm_node_attr_str(n, "mode", "constant");
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
        p->value = lm_node_attr_float(n, "value", 0.0f);
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

bool lm_cl_sup_pad(const lm_node *n, loom_tensor *const *in)
{
    pad_p p;
    return n->n_in >= 1 && one_output(n) && is_f32(in[0]) && in[0]->rank >= 1 &&
           pad_params(n, in, in[0], &p);
}

loom_status lm_cl_low_pad(lm_cl_builder *b, const lm_node *n)
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

bool lm_cl_sup_gather(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 2 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1 || !in[1])
        return false;
    const loom_tensor *ix = in[1];
    if (ix->dtype != LOOM_DTYPE_INT64 && ix->dtype != LOOM_DTYPE_INT32)
        return false;
    if (ix->rank + in[0]->rank - 1 > MAX_RANK || lm_tensor_count(ix) >= INT_MAX / 2)
        return false;
    int64_t axis = lm_node_attr_int(n, "axis", 0);
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

loom_status lm_cl_low_gather(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]), *ix = lm_clb_shape(b, n->in[1]);
    int64_t axis = lm_node_attr_int(n, "axis", 0);
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

bool lm_cl_sup_argext(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    int64_t axis = lm_node_attr_int(n, "axis", 0);
    return axis >= -in[0]->rank && axis < in[0]->rank &&
           in[0]->dims[axis < 0 ? axis + in[0]->rank : axis] > 0;
}

/* keepdims only changes the output's shape, not its layout. */
loom_status lm_cl_low_argext(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t axis = lm_node_attr_int(n, "axis", 0);
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
    lm_cl_arg_int(&a, lm_node_attr_int(n, "select_last_index", 0) != 0);
    lm_clb_launch1d(b, k, outer * inner);
    return lm_clb_error(b);
}

/* ---- DepthToSpace / SpaceToDepth: one 6-D strided copy ---- */

bool lm_cl_sup_d2s(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !one_output(n) || !is_f32(in[0]) || in[0]->rank != 4)
        return false;
    int64_t bs = lm_node_attr_int(n, "blocksize", 0);
    const char *mode = lm_node_attr_str(n, "mode", "DCR");
    if (bs < 1 || (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0))
        return false;
    if (strcmp(n->op_type, "DepthToSpace") == 0)
        return in[0]->dims[1] % (bs * bs) == 0;
    return in[0]->dims[2] % bs == 0 && in[0]->dims[3] % bs == 0;
}

loom_status lm_cl_low_d2s(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t bs = lm_node_attr_int(n, "blocksize", 0), HW = H * W;
    int64_t dims[6], src[6], dst[6];
    if (strcmp(n->op_type, "DepthToSpace") == 0) {
        /* y[n][c][h*bs + i][w*bs + j], iterated as [N, C', H, bs, W, bs]. */
        int64_t Cp = C / (bs * bs);
        bool crd = strcmp(lm_node_attr_str(n, "mode", "DCR"), "CRD") == 0;
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
    const char *mode = lm_node_attr_str(n, "mode", "nearest");
    const char *ct = lm_node_attr_str(n, "coordinate_transformation_mode", "half_pixel");
    const char *nm = lm_node_attr_str(n, "nearest_mode", "round_prefer_floor");
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
    if (lm_node_attr_int(n, "antialias", 0) || lm_node_attr_int(n, "exclude_outside", 0) ||
        lm_node_has_attr(n, "axes"))
        return false;
    if (strcmp(lm_node_attr_str(n, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0)
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

bool lm_cl_sup_resize(const lm_node *n, loom_tensor *const *in)
{
    resize_p p;
    return n->n_in >= 2 && one_output(n) && resize_params(n, in, in[0], &p);
}

loom_status lm_cl_low_resize(lm_cl_builder *b, const lm_node *n)
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
