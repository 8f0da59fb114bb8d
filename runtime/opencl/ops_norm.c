/* ops_norm.c - Batch/Instance/LayerNormalization, Softmax/LogSoftmax, Reduce*. */
#include <string.h>

#include "ops_common.h"

/* ---- normalization and softmax ---- */

bool lm_cl_sup_batchnorm(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 5 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 2)
        return false;
    if (lm_node_attr_int(n, "training_mode", 0) != 0 ||
        (n->opset < 7 && lm_node_attr_int(n, "is_test", 0) == 0))
        return false;
    if (n->opset < 9 && lm_node_attr_int(n, "spatial", 1) != 1)
        return false;
    for (int i = 1; i < 5; i++)
        if (!is_f32(in[i]) || in[i]->rank != 1 || in[i]->dims[0] != in[0]->dims[1])
            return false;
    return true;
}

loom_status lm_cl_low_batchnorm(lm_cl_builder *b, const lm_node *n)
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
    lm_cl_arg_float(&a, lm_node_attr_float(n, "epsilon", 1e-5f));
    lm_clb_launch1d(b, k, cnt);
    return lm_clb_error(b);
}

bool lm_cl_sup_instancenorm(const lm_node *n, loom_tensor *const *in)
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
loom_status lm_cl_low_instancenorm(lm_cl_builder *b, const lm_node *n)
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
    lm_cl_arg_float(&a, lm_node_attr_float(n, "epsilon", 1e-5f));
    lm_cl_arg_local(&a, wg * sizeof(float));
    size_t gws = (size_t)rows * wg;
    lm_clb_launch(b, k, 1, &gws, &wg);
    return lm_clb_error(b);
}

static int64_t norm_axis(const lm_node *n, int rank)
{
    int64_t axis = lm_node_attr_int(n, "axis", -1);
    return axis < 0 ? axis + rank : axis;
}

/* Y, and optionally Mean and InvStdDev; scale and bias of the normalized
 * shape's size (no broadcasting inside it). */
bool lm_cl_sup_layernorm(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 2 || n->n_in > 3 || n->n_out < 1 || n->n_out > 3 || n->out[0] < 0 ||
        !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    int64_t axis = norm_axis(n, in[0]->rank);
    if (axis < 0 || axis >= in[0]->rank || lm_node_attr_int(n, "stash_type", 1) != 1)
        return false;
    int64_t len = prod(in[0]->dims, (int)axis, in[0]->rank);
    if (len < 1 || !is_f32(in[1]) || lm_tensor_count(in[1]) != len)
        return false;
    return n->n_in < 3 || n->in[2] < 0 || (is_f32(in[2]) && lm_tensor_count(in[2]) == len);
}

loom_status lm_cl_low_layernorm(lm_cl_builder *b, const lm_node *n)
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
    lm_cl_arg_float(&a, lm_node_attr_float(n, "epsilon", 1e-5f));
    lm_cl_arg_local(&a, wg * sizeof(float));
    lm_cl_arg_mem(&a, has_mean ? lm_clb_out(b, n->out[1]) : y);
    lm_cl_arg_mem(&a, has_inv ? lm_clb_out(b, n->out[2]) : y);
    lm_cl_arg_int(&a, (has_mean ? 1 : 0) | (has_inv ? 2 : 0));
    size_t gws = (size_t)rows * wg;
    lm_clb_launch(b, k, 1, &gws, &wg);
    return lm_clb_error(b);
}

bool lm_cl_sup_softmax(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in != 1 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    int64_t axis = lm_node_attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    return axis >= -in[0]->rank && axis < in[0]->rank;
}

loom_status lm_cl_low_softmax(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t axis = lm_node_attr_int(n, "axis", n->opset < 13 ? 1 : -1);
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

int lm_cl_reduce_code(const char *op)
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
    if (cnt == 0 && lm_node_attr_int(n, "noop_with_empty_axes", 0)) {
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

bool lm_cl_sup_reduce(const lm_node *n, loom_tensor *const *in)
{
    bool mask[MAX_RANK], noop;
    if (n->n_in < 1 || n->n_in > 2 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    return lm_cl_reduce_code(n->op_type) >= 0 && reduce_axes(n, in, in[0], mask, &noop);
}

loom_status lm_cl_low_reduce(lm_cl_builder *b, const lm_node *n)
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
    lm_cl_arg_int(&a, lm_cl_reduce_code(n->op_type));
    lm_clb_launch1d(b, k, outn);
    return lm_clb_error(b);
}
