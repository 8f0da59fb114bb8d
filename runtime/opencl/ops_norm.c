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
    int code;
    float aa, ab;
    return lm_cl_fused_act(n, &code, &aa, &ab);
}

loom_status lm_cl_low_batchnorm(lm_cl_builder *b, const lm_node *n)
{
    int code;
    float aa, ab;
    lm_cl_fused_act(n, &code, &aa, &ab);
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
    lm_cl_arg_int(&a, code);
    lm_cl_arg_float(&a, aa);
    lm_cl_arg_float(&a, ab);
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
/* Input 3, when present, is core's fused residual (fuse_skipnorm.c): the norm
 * is of in[0] + in[3] (numpy broadcasting), stored as output 3 when some
 * other node reads the sum. */
static bool skip_fits(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 4 || n->in[3] < 0)
        return true;
    const loom_tensor *a = in[0], *s = in[3];
    if (!is_f32(s) || s->rank > a->rank)
        return false;
    for (int i = 1; i <= s->rank; i++) /* it broadcasts into in[0]'s shape */
        if (s->dims[s->rank - i] != a->dims[a->rank - i] && s->dims[s->rank - i] != 1)
            return false;
    return true;
}

bool lm_cl_sup_layernorm(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 2 || n->n_in > 4 || n->n_out < 1 || n->n_out > 4 || n->out[0] < 0 ||
        !is_f32(in[0]) || in[0]->rank < 1 || !skip_fits(n, in))
        return false;
    int64_t axis = norm_axis(n, in[0]->rank);
    if (axis < 0 || axis >= in[0]->rank || lm_node_attr_int(n, "stash_type", 1) != 1)
        return false;
    int64_t len = prod(in[0]->dims, (int)axis, in[0]->rank);
    if (len < 1 || !is_f32(in[1]) || lm_tensor_count(in[1]) != len)
        return false;
    return n->n_in < 3 || n->in[2] < 0 || (is_f32(in[2]) && lm_tensor_count(in[2]) == len);
}

/* The buffer the norm reads: in[0], or in[0] + in[3] made first (into
 * output 3 when the graph reads the sum, else into scratch). */
static cl_mem layernorm_source(lm_cl_builder *b, const lm_node *n)
{
    if (n->n_in < 4 || n->in[3] < 0)
        return lm_clb_in(b, n->in[0]);
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    bool keep = n->n_out > 3 && n->out[3] >= 0;
    cl_mem sum = keep ? lm_clb_out(b, n->out[3]) : lm_clb_scratch(b, x->nbytes);
    lm_cl_binary(b, 0, lm_clb_in(b, n->in[0]), x, lm_clb_in(b, n->in[3]), lm_clb_shape(b, n->in[3]),
                 sum, x);
    return sum;
}

loom_status lm_cl_low_layernorm(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    int64_t axis = norm_axis(n, x->rank);
    int64_t rows = prod(x->dims, 0, (int)axis), len = prod(x->dims, (int)axis, x->rank);
    bool has_bias = n->n_in >= 3 && n->in[2] >= 0;
    bool has_mean = n->n_out > 1 && n->out[1] >= 0, has_inv = n->n_out > 2 && n->out[2] >= 0;
    size_t wg = norm_wg(b);
    cl_mem y = lm_clb_out(b, n->out[0]), sc = lm_clb_in(b, n->in[1]);
    cl_mem src = layernorm_source(b, n);
    cl_kernel k = lm_clb_kernel(b, "layernorm");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, src);
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

/* Whether @m broadcasts into @x's shape (numpy). */
static bool broadcasts_into(const loom_tensor *m, const loom_tensor *x)
{
    if (m->rank > x->rank)
        return false;
    for (int i = 1; i <= m->rank; i++)
        if (m->dims[m->rank - i] != x->dims[x->rank - i] && m->dims[m->rank - i] != 1)
            return false;
    return true;
}

/* Softmax takes core's fused attention scores (fuse_attn.c): a second
 * input M added to the scores, which _loom_scale / _loom_divisor scale first. */
bool lm_cl_sup_softmax(const lm_node *n, loom_tensor *const *in)
{
    if (n->n_in < 1 || n->n_in > 2 || !one_output(n) || !is_f32(in[0]) || in[0]->rank < 1)
        return false;
    if (n->n_in == 2 && n->in[1] >= 0 && (!is_f32(in[1]) || !broadcasts_into(in[1], in[0])))
        return false;
    int64_t axis = lm_node_attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    return axis >= -in[0]->rank && axis < in[0]->rank;
}

/* What the softmax normalises: its input, or (fused attention) the input
 * scaled and the mask added, in scratch, as the unfused Div/Mul and Add did. */
static cl_mem attention_scores(lm_cl_builder *b, const lm_node *n)
{
    cl_mem s = lm_clb_in(b, n->in[0]);
    const loom_tensor *x = lm_clb_shape(b, n->in[0]);
    bool div = lm_node_has_attr(n, "_loom_divisor"), mul = lm_node_has_attr(n, "_loom_scale");
    bool mask = n->n_in == 2 && n->in[1] >= 0;
    if (!div && !mul && !mask)
        return s;
    cl_mem t = lm_clb_scratch(b, x->nbytes);
    if (div || mul) {
        float c = lm_node_attr_float(n, div ? "_loom_divisor" : "_loom_scale", 1.0f);
        uint16_t h = lm_cl_half_from_float(c); /* stored as the buffers are */
        cl_mem cm =
            lm_clb_elem(b) == 2 ? lm_clb_upload(b, &h, sizeof(h)) : lm_clb_upload(b, &c, sizeof(c));
        loom_tensor one = {.dtype = LOOM_DTYPE_FLOAT, .rank = 0, .nbytes = sizeof(float)};
        lm_cl_binary(b, div ? 3 : 2, s, x, cm, &one, t, x);
        s = t;
    }
    if (mask)
        lm_cl_binary(b, 0, s, x, lm_clb_in(b, n->in[1]), lm_clb_shape(b, n->in[1]), t, x);
    return t;
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
    cl_mem src = attention_scores(b, n);
    cl_kernel k = lm_clb_kernel(b, "softmax");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, src);
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
