/* tensor.c - CPU kernels for shape, layout and constant operators (Reshape, Concat, Slice, Pad...).
 * Gather/Scatter-like ops live in index.c, Resize/Upsample in resize.c. */
#include <math.h>

#include "tensor_ops.h"

static const char *dstr(int rank, const int64_t *dims, char *buf, size_t len)
{
    return lm_dims_str(rank, dims, buf, len);
}

/* Declares output @i and reports whether the kernel should stop (dry pass). */
#define TK_OUT(var, i, dtype, rank, dims)                                                          \
    loom_tensor *var = lm_kout(k, (i), (dtype), (rank), (dims));                                   \
    if (!var)                                                                                      \
        return TK_KOUT_ERR;

/* Copies the whole input 0 into output 0 (Identity, Reshape and friends). */
static loom_status copy_through(lm_kctx *k, int rank, const int64_t *dims)
{
    const loom_tensor *x = k->in[0];
    TK_OUT(y, 0, x->dtype, rank, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    lm_tk_copy(k, y->data, x->data, x->nbytes < y->nbytes ? x->nbytes : y->nbytes);
    return LOOM_OK;
}

/* Axes from attribute "axes" before @input_opset, from input @idx from then on. */
static loom_status read_axes(lm_kctx *k, int idx, int input_opset, int64_t *axes, int *n,
                             bool *present)
{
    *n = 0;
    *present = false;
    if (lm_kopset(k) < input_opset) {
        const int64_t *v;
        int cnt = lm_node_attr_ints(k->node, "axes", &v);
        if (cnt < 0)
            return LOOM_OK;
        if (cnt > LOOM_MAX_RANK)
            return lm_kinvalid(k, "axes has %d entries, more than rank limit %d", cnt,
                               LOOM_MAX_RANK);
        memcpy(axes, v, (size_t)cnt * sizeof(int64_t));
        *n = cnt;
        *present = true;
        return LOOM_OK;
    }
    if (!lm_kin(k, idx))
        return LOOM_OK;
    TK_TRY(lm_kneed_data(k, idx));
    TK_TRY(lm_tk_read_ints(k, lm_kin(k, idx), "axes", axes, LOOM_MAX_RANK, n));
    *present = true;
    return LOOM_OK;
}

/* ------------------------------------------------------------------------ */
/* Reshape family                                                           */

static loom_status op_reshape(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    TK_TRY(lm_kneed_data(k, 1));
    int64_t shape[LOOM_MAX_RANK], dims[LOOM_MAX_RANK];
    int n;
    TK_TRY(lm_tk_read_ints(k, k->in[1], "shape", shape, LOOM_MAX_RANK, &n));
    bool allowzero = lm_kopset(k) >= 14 && lm_node_attr_int(k->node, "allowzero", 0) != 0;
    int neg = -1;
    int64_t known = 1;
    bool has_zero = false;
    for (int i = 0; i < n; i++) {
        int64_t s = shape[i];
        if (s == -1) {
            if (neg >= 0)
                return lm_kinvalid(k, "shape has more than one -1 (at %d and %d)", neg, i);
            neg = i;
            dims[i] = 1;
            continue;
        }
        if (s == 0 && !allowzero) {
            if (i >= x->rank)
                return lm_kinvalid(k, "shape[%d] is 0 but the input has rank %d", i, x->rank);
            s = x->dims[i];
        }
        if (s < 0)
            return lm_kinvalid(k, "shape[%d] is %lld, must be >= -1", i, (long long)s);
        if (s == 0)
            has_zero = true;
        dims[i] = s;
        if (!tk_mul_ok(known, s, &known))
            return lm_kinvalid(k, "shape overflows");
    }
    int64_t total = lm_tensor_count(x);
    char b1[128], b2[128];
    if (neg >= 0) {
        if (allowzero && has_zero)
            return lm_kinvalid(k, "shape has both 0 and -1 with allowzero=1");
        if (known == 0) {
            if (total != 0)
                return lm_kinvalid(k, "cannot infer -1 in shape %s from %lld elements",
                                   dstr(n, shape, b1, sizeof(b1)), (long long)total);
            dims[neg] = 0;
        } else {
            if (total % known != 0)
                return lm_kinvalid(k, "cannot reshape %s to %s",
                                   dstr(x->rank, x->dims, b1, sizeof(b1)),
                                   dstr(n, shape, b2, sizeof(b2)));
            dims[neg] = total / known;
        }
    } else if (known != total) {
        return lm_kinvalid(k, "cannot reshape %s to %s", dstr(x->rank, x->dims, b1, sizeof(b1)),
                           dstr(n, shape, b2, sizeof(b2)));
    }
    return copy_through(k, n, dims);
}

static loom_status op_flatten(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int64_t axis = lm_node_attr_int(k->node, "axis", 1);
    if (axis < -x->rank || axis > x->rank)
        return lm_kinvalid(k, "axis %lld out of range for rank %d", (long long)axis, x->rank);
    if (axis < 0)
        axis += x->rank;
    int64_t dims[2] = {tk_prod(x->dims, 0, (int)axis), tk_prod(x->dims, (int)axis, x->rank)};
    return copy_through(k, 2, dims);
}

static loom_status op_squeeze(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 2));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int64_t axes[LOOM_MAX_RANK];
    int n;
    bool present;
    TK_TRY(read_axes(k, 1, 13, axes, &n, &present));
    bool drop[LOOM_MAX_RANK] = {false};
    if (present && n > 0) {
        for (int i = 0; i < n; i++) {
            int a;
            TK_TRY(lm_kaxis(k, axes[i], x->rank, &a));
            if (x->dims[a] != 1)
                return lm_kinvalid(k, "cannot squeeze axis %d of size %lld", a,
                                   (long long)x->dims[a]);
            drop[a] = true;
        }
    } else {
        for (int a = 0; a < x->rank; a++)
            drop[a] = x->dims[a] == 1;
    }
    int64_t dims[LOOM_MAX_RANK];
    int r = 0;
    for (int a = 0; a < x->rank; a++) {
        if (!drop[a])
            dims[r++] = x->dims[a];
    }
    return copy_through(k, r, dims);
}

static loom_status op_unsqueeze(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 2));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int64_t axes[LOOM_MAX_RANK];
    int n;
    bool present;
    TK_TRY(read_axes(k, 1, 13, axes, &n, &present));
    if (!present)
        return lm_kinvalid(k, "axes is required");
    int r = x->rank + n;
    if (r > LOOM_MAX_RANK)
        return lm_kunsupported(k, "output rank %d exceeds %d", r, LOOM_MAX_RANK);
    bool ins[LOOM_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        TK_TRY(lm_kaxis(k, axes[i], r, &a));
        if (ins[a])
            return lm_kinvalid(k, "axis %d repeated in axes", a);
        ins[a] = true;
    }
    int64_t dims[LOOM_MAX_RANK];
    for (int a = 0, j = 0; a < r; a++)
        dims[a] = ins[a] ? 1 : x->dims[j++];
    return copy_through(k, r, dims);
}

static loom_status op_identity(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    size_t esz = 0;
    TK_TRY(tk_esz(k, k->in[0], &esz));
    return copy_through(k, k->in[0]->rank, k->in[0]->dims);
}

static loom_status op_dropout(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 3));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    if (!lm_dtype_is_float(x->dtype))
        return lm_kinvalid(k, "input must be a float tensor, got %s", loom_dtype_name(x->dtype));
    bool training = false;
    double ratio = 0.5;
    if (lm_kopset(k) >= 12) {
        if (lm_kin(k, 2)) {
            TK_TRY(lm_kneed_data(k, 2));
            if (lm_tensor_count(k->in[2]) != 1 || k->in[2]->dtype != LOOM_DTYPE_BOOL)
                return lm_kinvalid(k, "training_mode must be a bool scalar");
            training = lm_tensor_get_i64(k->in[2], 0) != 0;
        }
        if (training && lm_kin(k, 1)) {
            TK_TRY(lm_kneed_data(k, 1));
            if (lm_tensor_count(k->in[1]) != 1 || !lm_dtype_is_float(k->in[1]->dtype))
                return lm_kinvalid(k, "ratio must be a float scalar");
            ratio = lm_tensor_get_f64(k->in[1], 0);
        }
    } else if (k->n_in > 1) {
        return lm_kinvalid(k, "Dropout-%d takes one input, got %d", lm_kopset(k), k->n_in);
    }
    /* Training with a non-zero ratio needs a random mask: not an inference op. */
    if (training && ratio != 0.0)
        return lm_kunsupported(k, "training_mode with ratio %g", ratio);
    TK_OUT(y, 0, x->dtype, x->rank, x->dims);
    loom_tensor *mask = NULL;
    if (tk_has_out(k, 1)) {
        loom_dtype mdt = lm_kopset(k) >= 10 ? LOOM_DTYPE_BOOL : x->dtype;
        mask = lm_kout(k, 1, mdt, x->rank, x->dims);
        if (!mask)
            return TK_KOUT_ERR;
    }
    if (tk_dry_stop(k))
        return LOOM_OK;
    lm_tk_copy(k, y->data, x->data, x->nbytes);
    if (mask) {
        /* Every element is kept in inference. */
        uint8_t one[8];
        lm_tk_store_f64(mask->dtype, one, 1.0);
        lm_tk_fill(mask->data, one, loom_dtype_size(mask->dtype), lm_tensor_count(mask));
    }
    return LOOM_OK;
}

/* ------------------------------------------------------------------------ */
/* Constants and shapes                                                     */

static loom_status op_shape(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = k->in[0];
    int64_t r = x->rank, start = 0, end = r;
    if (lm_kopset(k) >= 15) {
        start = lm_node_attr_int(k->node, "start", 0);
        end = lm_node_attr_int(k->node, "end", r);
    }
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    TK_OUT(y, 0, LOOM_DTYPE_INT64, 1, &n);
    /* Needs only the input's shape: fill whenever the executor gave storage. */
    if (!y->data)
        return LOOM_OK;
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)y->data)[i] = x->dims[start + i];
    return LOOM_OK;
}

static loom_status op_size(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    int64_t c = lm_tensor_count(k->in[0]);
    if (c < 0)
        return lm_kinvalid(k, "input element count overflows");
    TK_OUT(y, 0, LOOM_DTYPE_INT64, 0, NULL);
    if (y->data)
        *(int64_t *)y->data = c;
    return LOOM_OK;
}

static loom_status op_constant(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 0, 0));
    if (lm_node_has_attr(k->node, "sparse_value"))
        return lm_kunsupported(k, "sparse_value constants are not supported");
    if (lm_node_has_attr(k->node, "value_string") || lm_node_has_attr(k->node, "value_strings"))
        return lm_kunsupported(k, "string constants are not supported");
    const loom_tensor *t = lm_node_attr_tensor(k->node, "value");
    if (t) {
        size_t esz = 0;
        TK_TRY(tk_esz(k, t, &esz));
        int64_t c = lm_tensor_count(t);
        if (c < 0 || (c > 0 && !t->data) || t->nbytes < (size_t)c * esz)
            return lm_kinvalid(k, "value tensor is malformed");
        TK_OUT(y, 0, t->dtype, t->rank, t->dims);
        if (y->data && c > 0)
            memcpy(y->data, t->data, (size_t)c * esz);
        return LOOM_OK;
    }
    if (lm_node_has_attr(k->node, "value_float")) {
        TK_OUT(y, 0, LOOM_DTYPE_FLOAT, 0, NULL);
        if (y->data)
            *(float *)y->data = lm_node_attr_float(k->node, "value_float", 0.0f);
        return LOOM_OK;
    }
    if (lm_node_has_attr(k->node, "value_int")) {
        TK_OUT(y, 0, LOOM_DTYPE_INT64, 0, NULL);
        if (y->data)
            *(int64_t *)y->data = lm_node_attr_int(k->node, "value_int", 0);
        return LOOM_OK;
    }
    if (lm_node_has_attr(k->node, "value_floats")) {
        const float *v;
        int64_t n = lm_node_attr_floats(k->node, "value_floats", &v);
        TK_OUT(y, 0, LOOM_DTYPE_FLOAT, 1, &n);
        if (y->data && n > 0)
            memcpy(y->data, v, (size_t)n * sizeof(float));
        return LOOM_OK;
    }
    if (lm_node_has_attr(k->node, "value_ints")) {
        const int64_t *v;
        int64_t n = lm_node_attr_ints(k->node, "value_ints", &v);
        TK_OUT(y, 0, LOOM_DTYPE_INT64, 1, &n);
        if (y->data && n > 0)
            memcpy(y->data, v, (size_t)n * sizeof(int64_t));
        return LOOM_OK;
    }
    return lm_kinvalid(k, "Constant has no value attribute");
}

static loom_status op_constant_of_shape(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    TK_TRY(lm_kneed_data(k, 0));
    int64_t dims[LOOM_MAX_RANK];
    int n;
    TK_TRY(lm_tk_read_ints(k, k->in[0], "shape", dims, LOOM_MAX_RANK, &n));
    for (int i = 0; i < n; i++) {
        if (dims[i] < 0)
            return lm_kinvalid(k, "shape[%d] is %lld, must be >= 0", i, (long long)dims[i]);
    }
    loom_dtype dt = LOOM_DTYPE_FLOAT;
    uint8_t val[8] = {0};
    const loom_tensor *v = lm_node_attr_tensor(k->node, "value");
    if (v) {
        size_t esz = 0;
        TK_TRY(tk_esz(k, v, &esz));
        if (lm_tensor_count(v) != 1 || !v->data)
            return lm_kinvalid(k, "value must hold exactly one element");
        dt = v->dtype;
        memcpy(val, v->data, esz);
    }
    TK_OUT(y, 0, dt, n, dims);
    if (!y->data)
        return LOOM_OK;
    lm_tk_fill(y->data, val, loom_dtype_size(dt), lm_tensor_count(y));
    return LOOM_OK;
}

#define RANGE_FILL(T)                                                                              \
    do {                                                                                           \
        T s_ = *(const T *)k->in[0]->data, d_ = *(const T *)k->in[2]->data;                        \
        T *o_ = (T *)y->data;                                                                      \
        for (int64_t i_ = 0; i_ < n; i_++)                                                         \
            o_[i_] = (T)(s_ + (T)i_ * d_);                                                         \
    } while (0)

static loom_status op_range(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 3, 3));
    loom_dtype dt = k->in[0]->dtype;
    for (int i = 0; i < 3; i++) {
        if (k->in[i]->dtype != dt)
            return lm_kinvalid(k, "input %d has dtype %s, expected %s", i,
                               loom_dtype_name(k->in[i]->dtype), loom_dtype_name(dt));
        if (lm_tensor_count(k->in[i]) != 1)
            return lm_kinvalid(k, "input %d must be a scalar", i);
    }
    if (dt != LOOM_DTYPE_FLOAT && dt != LOOM_DTYPE_DOUBLE && dt != LOOM_DTYPE_INT16 &&
        dt != LOOM_DTYPE_INT32 && dt != LOOM_DTYPE_INT64)
        return lm_kinvalid(k, "dtype %s is not allowed", loom_dtype_name(dt));
    for (int i = 0; i < 3; i++)
        TK_TRY(lm_kneed_data(k, i));
    int64_t n;
    if (lm_dtype_is_float(dt)) {
        double s = lm_tensor_get_f64(k->in[0], 0), l = lm_tensor_get_f64(k->in[1], 0),
               d = lm_tensor_get_f64(k->in[2], 0);
        double diff = dt == LOOM_DTYPE_FLOAT ? (double)((float)l - (float)s) : l - s;
        double c = ceil(diff / d);
        if (d == 0 || c != c)
            return lm_kinvalid(k, "delta %g gives no element count", d);
        if (c > 1e15)
            return lm_kinvalid(k, "range has too many elements (%g)", c);
        n = c > 0 ? (int64_t)c : 0;
    } else {
        int64_t s = lm_tensor_get_i64(k->in[0], 0), l = lm_tensor_get_i64(k->in[1], 0),
                d = lm_tensor_get_i64(k->in[2], 0);
        if (d == 0)
            return lm_kinvalid(k, "delta is 0");
        uint64_t diff, step;
        if (d > 0) {
            diff = l > s ? (uint64_t)l - (uint64_t)s : 0;
            step = (uint64_t)d;
        } else {
            diff = s > l ? (uint64_t)s - (uint64_t)l : 0;
            step = (uint64_t)(-(d + 1)) + 1;
        }
        uint64_t c = diff / step + (diff % step != 0);
        if (c > ((uint64_t)1 << 50))
            return lm_kinvalid(k, "range has too many elements (%llu)", (unsigned long long)c);
        n = (int64_t)c;
    }
    TK_OUT(y, 0, dt, 1, &n);
    if (!y->data)
        return LOOM_OK;
    switch (dt) {
    case LOOM_DTYPE_FLOAT:
        RANGE_FILL(float);
        break;
    case LOOM_DTYPE_DOUBLE:
        RANGE_FILL(double);
        break;
    case LOOM_DTYPE_INT16:
        RANGE_FILL(int16_t);
        break;
    case LOOM_DTYPE_INT32:
        RANGE_FILL(int32_t);
        break;
    default:
        RANGE_FILL(int64_t);
        break;
    }
    return LOOM_OK;
}

static loom_status op_eye_like(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = k->in[0];
    if (x->rank != 2)
        return lm_kinvalid(k, "input must be 2-D, got rank %d", x->rank);
    loom_dtype dt = (loom_dtype)lm_node_attr_int(k->node, "dtype", x->dtype);
    if (loom_dtype_size(dt) == 0 || dt == LOOM_DTYPE_STRING)
        return lm_kunsupported(k, "dtype %d is not supported", (int)dt);
    int64_t kk = lm_node_attr_int(k->node, "k", 0);
    TK_OUT(y, 0, dt, 2, x->dims);
    if (!y->data)
        return LOOM_OK;
    size_t esz = loom_dtype_size(dt);
    if (y->nbytes == 0)
        return LOOM_OK;
    memset(y->data, 0, y->nbytes);
    uint8_t one[8];
    lm_tk_store_f64(dt, one, 1.0);
    int64_t rows = x->dims[0], cols = x->dims[1];
    for (int64_t i = 0; i < rows; i++) {
        if (kk < -rows || kk > cols)
            break;
        int64_t j = i + kk;
        if (j >= 0 && j < cols)
            memcpy((uint8_t *)y->data + (size_t)(i * cols + j) * esz, one, esz);
    }
    return LOOM_OK;
}

/* ------------------------------------------------------------------------ */
/* Layout                                                                   */

static loom_status op_transpose(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int r = x->rank;
    int64_t perm[LOOM_MAX_RANK];
    const int64_t *p;
    int n = lm_node_attr_ints(k->node, "perm", &p);
    if (n < 0) {
        for (int i = 0; i < r; i++)
            perm[i] = r - 1 - i;
    } else {
        if (n != r)
            return lm_kinvalid(k, "perm has %d entries for rank %d", n, r);
        bool seen[LOOM_MAX_RANK] = {false};
        for (int i = 0; i < r; i++) {
            int64_t a = p[i];
            /* ORT accepts negative perm entries; normalize them too. */
            if (a < 0)
                a += r;
            if (a < 0 || a >= r || seen[a])
                return lm_kinvalid(k, "perm is not a permutation (entry %d is %lld)", i,
                                   (long long)p[i]);
            seen[a] = true;
            perm[i] = a;
        }
    }
    int64_t dims[LOOM_MAX_RANK], istr[LOOM_MAX_RANK], vstr[LOOM_MAX_RANK];
    tk_strides(r, x->dims, istr);
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[perm[i]];
        vstr[i] = istr[perm[i]];
    }
    TK_OUT(y, 0, x->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    lm_tk_strided_copy(k, esz, r, dims, x->data, vstr, y->data);
    return LOOM_OK;
}

static loom_status op_concat(lm_kctx *k)
{
    if (k->n_in < 1)
        return lm_kinvalid(k, "Concat needs at least one input");
    TK_TRY(lm_kcheck_arity(k, k->n_in, k->n_in));
    const loom_tensor *x0 = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x0, &esz));
    if (!lm_node_has_attr(k->node, "axis"))
        return lm_kinvalid(k, "axis is required");
    int r = x0->rank, axis;
    if (r == 0)
        return lm_kinvalid(k, "cannot concatenate scalars");
    TK_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), r, &axis));
    int64_t dims[LOOM_MAX_RANK];
    memcpy(dims, x0->dims, sizeof(int64_t) * (size_t)r);
    dims[axis] = 0;
    for (int i = 0; i < k->n_in; i++) {
        const loom_tensor *t = k->in[i];
        if (t->dtype != x0->dtype || t->rank != r)
            return lm_kinvalid(k, "input %d (%s, rank %d) does not match input 0 (%s, rank %d)", i,
                               loom_dtype_name(t->dtype), t->rank, loom_dtype_name(x0->dtype), r);
        for (int a = 0; a < r; a++) {
            if (a != axis && t->dims[a] != x0->dims[a])
                return lm_kinvalid(k, "input %d has dim %lld on axis %d, expected %lld", i,
                                   (long long)t->dims[a], a, (long long)x0->dims[a]);
        }
        dims[axis] += t->dims[axis];
        if (dims[axis] < 0 || dims[axis] > ((int64_t)1 << 50))
            return lm_kinvalid(k, "concatenated axis is too large");
    }
    TK_OUT(y, 0, x0->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    int64_t outer = tk_prod(dims, 0, axis), inner = tk_prod(dims, axis + 1, r) * (int64_t)esz;
    int64_t row = dims[axis] * inner, at = 0;
    uint8_t *dst = y->data;
    for (int i = 0; i < k->n_in; i++) {
        const loom_tensor *t = k->in[i];
        int64_t blk = t->dims[axis] * inner;
        if (blk == 0)
            continue;
        if (outer == 1) {
            lm_tk_copy(k, dst + at, t->data, (size_t)blk);
        } else {
            const uint8_t *src = t->data;
            for (int64_t o = 0; o < outer; o++)
                memcpy(dst + o * row + at, src + o * blk, (size_t)blk);
        }
        at += blk;
    }
    return LOOM_OK;
}

#define MAX_SPLIT 4096

static loom_status op_split(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 2));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int r = x->rank, axis;
    if (r == 0)
        return lm_kinvalid(k, "cannot split a scalar");
    TK_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), r, &axis));
    int nout = k->n_out;
    if (nout < 1 || nout > MAX_SPLIT)
        return lm_kinvalid(k, "Split has %d outputs", nout);
    int64_t *split = lm_kscratch(k, sizeof(int64_t) * (size_t)nout);
    if (!split)
        return LOOM_ERR_NO_MEMORY;
    int ns = -1;
    if (lm_kopset(k) < 13) {
        const int64_t *v;
        ns = lm_node_attr_ints(k->node, "split", &v);
        if (ns >= 0) {
            if (ns != nout)
                return lm_kinvalid(k, "split has %d entries for %d outputs", ns, nout);
            memcpy(split, v, sizeof(int64_t) * (size_t)ns);
        }
    } else if (lm_kin(k, 1)) {
        TK_TRY(lm_kneed_data(k, 1));
        TK_TRY(lm_tk_read_ints(k, k->in[1], "split", split, nout, &ns));
        if (ns != nout)
            return lm_kinvalid(k, "split has %d entries for %d outputs", ns, nout);
    }
    int64_t d = x->dims[axis];
    if (ns < 0) {
        if (d % nout != 0)
            return lm_kinvalid(k, "axis %d of size %lld does not split into %d equal parts", axis,
                               (long long)d, nout);
        for (int i = 0; i < nout; i++)
            split[i] = d / nout;
    } else {
        int64_t sum = 0;
        for (int i = 0; i < nout; i++) {
            if (split[i] < 0 || split[i] > d)
                return lm_kinvalid(k, "split[%d] is %lld", i, (long long)split[i]);
            sum += split[i];
        }
        if (sum != d)
            return lm_kinvalid(k, "split sums to %lld, axis %d has %lld", (long long)sum, axis,
                               (long long)d);
    }
    int64_t dims[LOOM_MAX_RANK];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)r);
    for (int i = 0; i < nout; i++) {
        if (!tk_has_out(k, i))
            continue;
        dims[axis] = split[i];
        if (!lm_kout(k, i, x->dtype, r, dims))
            return TK_KOUT_ERR;
    }
    if (tk_dry_stop(k))
        return LOOM_OK;
    int64_t outer = tk_prod(x->dims, 0, axis), inner = tk_prod(x->dims, axis + 1, r) * (int64_t)esz;
    int64_t row = d * inner, at = 0;
    const uint8_t *src = x->data;
    for (int i = 0; i < nout; i++) {
        int64_t blk = split[i] * inner;
        if (tk_has_out(k, i) && blk > 0) {
            uint8_t *dst = k->out[i]->data;
            if (outer == 1)
                lm_tk_copy(k, dst, src + at, (size_t)blk);
            else
                for (int64_t o = 0; o < outer; o++)
                    memcpy(dst + o * blk, src + o * row + at, (size_t)blk);
        }
        at += blk;
    }
    return LOOM_OK;
}

static loom_status op_slice(lm_kctx *k)
{
    const loom_tensor *x = lm_kin(k, 0);
    int64_t starts[LOOM_MAX_RANK], ends[LOOM_MAX_RANK], axes[LOOM_MAX_RANK], steps[LOOM_MAX_RANK];
    int ns, ne, na = -1, nst = -1;
    if (lm_kopset(k) < 10) {
        TK_TRY(lm_kcheck_arity(k, 1, 1));
        const int64_t *v;
        ns = lm_node_attr_ints(k->node, "starts", &v);
        if (ns < 0 || ns > LOOM_MAX_RANK)
            return lm_kinvalid(k, "starts is required (at most %d entries)", LOOM_MAX_RANK);
        memcpy(starts, v, sizeof(int64_t) * (size_t)ns);
        ne = lm_node_attr_ints(k->node, "ends", &v);
        if (ne < 0 || ne > LOOM_MAX_RANK)
            return lm_kinvalid(k, "ends is required (at most %d entries)", LOOM_MAX_RANK);
        memcpy(ends, v, sizeof(int64_t) * (size_t)ne);
        na = lm_node_attr_ints(k->node, "axes", &v);
        if (na > LOOM_MAX_RANK)
            return lm_kinvalid(k, "axes has %d entries", na);
        if (na > 0)
            memcpy(axes, v, sizeof(int64_t) * (size_t)na);
    } else {
        TK_TRY(lm_kcheck_arity(k, 3, 5));
        for (int i = 1; i < 5; i++) {
            if (lm_kin(k, i))
                TK_TRY(lm_kneed_data(k, i));
        }
        TK_TRY(lm_tk_read_ints(k, k->in[1], "starts", starts, LOOM_MAX_RANK, &ns));
        TK_TRY(lm_tk_read_ints(k, k->in[2], "ends", ends, LOOM_MAX_RANK, &ne));
        if (lm_kin(k, 3))
            TK_TRY(lm_tk_read_ints(k, k->in[3], "axes", axes, LOOM_MAX_RANK, &na));
        if (lm_kin(k, 4))
            TK_TRY(lm_tk_read_ints(k, k->in[4], "steps", steps, LOOM_MAX_RANK, &nst));
    }
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int r = x->rank;
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return lm_kinvalid(k, "starts/ends/axes/steps lengths differ (%d/%d/%d/%d)", ns, ne, na,
                           nst);
    int64_t first[LOOM_MAX_RANK], step[LOOM_MAX_RANK], dims[LOOM_MAX_RANK];
    bool seen[LOOM_MAX_RANK] = {false};
    for (int a = 0; a < r; a++) {
        first[a] = 0;
        step[a] = 1;
        dims[a] = x->dims[a];
    }
    for (int i = 0; i < ns; i++) {
        int a = i;
        if (na >= 0)
            TK_TRY(lm_kaxis(k, axes[i], r, &a));
        else if (i >= r)
            return lm_kinvalid(k, "starts has %d entries for rank %d", ns, r);
        if (seen[a])
            return lm_kinvalid(k, "axis %d repeated in axes", a);
        seen[a] = true;
        int64_t st = nst >= 0 ? steps[i] : 1;
        if (st == 0)
            return lm_kinvalid(k, "steps[%d] is 0", i);
        int64_t d = x->dims[a], s = starts[i], e = ends[i];
        if (s < 0)
            s += d;
        if (e < 0)
            e += d;
        int64_t cnt;
        if (st > 0) {
            s = s < 0 ? 0 : s > d ? d : s;
            e = e < 0 ? 0 : e > d ? d : e;
            int64_t span = e - s;
            cnt = span <= 0 ? 0 : span / st + (span % st != 0);
        } else {
            s = s < 0 ? 0 : s > d - 1 ? d - 1 : s;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            int64_t span = s - e;
            /* -st cannot overflow: st == INT64_MIN gives span / huge. */
            uint64_t mag = (uint64_t)(-(st + 1)) + 1;
            cnt = span <= 0 ? 0 : (int64_t)((uint64_t)span / mag + ((uint64_t)span % mag != 0));
        }
        first[a] = cnt > 0 ? s : 0;
        step[a] = st;
        dims[a] = cnt;
    }
    TK_OUT(y, 0, x->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    if (lm_tensor_count(y) == 0)
        return LOOM_OK;
    int64_t istr[LOOM_MAX_RANK], vstr[LOOM_MAX_RANK], off = 0;
    tk_strides(r, x->dims, istr);
    for (int a = 0; a < r; a++) {
        off += first[a] * istr[a];
        /* A dim of 1 never moves, so a huge step cannot overflow the stride. */
        vstr[a] = dims[a] > 1 ? step[a] * istr[a] : 0;
    }
    lm_tk_strided_copy(k, esz, r, dims, (const uint8_t *)x->data + off * (int64_t)esz, vstr,
                       y->data);
    return LOOM_OK;
}

static loom_status op_expand(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    TK_TRY(lm_kneed_data(k, 1));
    int64_t shape[LOOM_MAX_RANK];
    int n;
    TK_TRY(lm_tk_read_ints(k, k->in[1], "shape", shape, LOOM_MAX_RANK, &n));
    int r = n > x->rank ? n : x->rank;
    int64_t dims[LOOM_MAX_RANK], vstr[LOOM_MAX_RANK], istr[LOOM_MAX_RANK];
    tk_strides(x->rank, x->dims, istr);
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->rank), si = i - (r - n);
        int64_t a = xi >= 0 ? x->dims[xi] : 1, b = si >= 0 ? shape[si] : 1;
        if (b < 0)
            return lm_kinvalid(k, "shape[%d] is %lld", si, (long long)b);
        if (a != b && a != 1 && b != 1)
            return lm_kinvalid(k, "cannot broadcast dim %lld to %lld on axis %d", (long long)a,
                               (long long)b, i);
        dims[i] = a == 1 ? b : a;
        vstr[i] = (xi >= 0 && a != 1) ? istr[xi] : 0;
    }
    TK_OUT(y, 0, x->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    lm_tk_strided_copy(k, esz, r, dims, x->data, vstr, y->data);
    return LOOM_OK;
}

static loom_status op_tile(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    TK_TRY(lm_kneed_data(k, 1));
    int64_t rep[LOOM_MAX_RANK];
    int n;
    TK_TRY(lm_tk_read_ints(k, k->in[1], "repeats", rep, LOOM_MAX_RANK, &n));
    int r = x->rank;
    if (n != r)
        return lm_kinvalid(k, "repeats has %d entries for rank %d", n, r);
    int64_t dims[LOOM_MAX_RANK], istr[LOOM_MAX_RANK];
    int64_t vdims[TK_MAX_VRANK], vstr[TK_MAX_VRANK];
    tk_strides(r, x->dims, istr);
    for (int i = 0; i < r; i++) {
        if (rep[i] < 0)
            return lm_kinvalid(k, "repeats[%d] is %lld", i, (long long)rep[i]);
        if (!tk_mul_ok(x->dims[i], rep[i], &dims[i]))
            return lm_kinvalid(k, "tiled dim %d overflows", i);
        /* Output axis i is (repeat, element): the repeat walks nothing. */
        vdims[2 * i] = rep[i];
        vstr[2 * i] = 0;
        vdims[2 * i + 1] = x->dims[i];
        vstr[2 * i + 1] = istr[i];
    }
    TK_OUT(y, 0, x->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    lm_tk_strided_copy(k, esz, 2 * r, vdims, x->data, vstr, y->data);
    return LOOM_OK;
}

static loom_status op_depth_to_space(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    if (x->rank != 4)
        return lm_kinvalid(k, "input must be 4-D, got rank %d", x->rank);
    int64_t b = lm_node_attr_int(k->node, "blocksize", 0);
    const char *mode = lm_node_attr_str(k->node, "mode", "DCR");
    bool crd = strcmp(mode, "CRD") == 0;
    if (!crd && strcmp(mode, "DCR") != 0)
        return lm_kinvalid(k, "mode '%s' is not DCR or CRD", mode);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (b <= 0 || b > 65536 || C % (b * b) != 0)
        return lm_kinvalid(k, "blocksize %lld does not divide %lld channels", (long long)b,
                           (long long)C);
    int64_t C2 = C / (b * b), dims[4] = {N, C2, H * b, W * b};
    if (H * b / b != H || W * b / b != W)
        return lm_kinvalid(k, "output overflows");
    TK_OUT(y, 0, x->dtype, 4, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    /* View the output as [N, C2, H, b1, W, b2]; find each coordinate's input stride. */
    int64_t sN = C * H * W, sH = W, sW = 1, sC2, sb1, sb2;
    if (crd) {
        sC2 = b * b * H * W;
        sb1 = b * H * W;
        sb2 = H * W;
    } else {
        sb1 = b * C2 * H * W;
        sb2 = C2 * H * W;
        sC2 = H * W;
    }
    int64_t vd[6] = {N, C2, H, b, W, b}, vs[6] = {sN, sC2, sH, sb1, sW, sb2};
    lm_tk_strided_copy(k, esz, 6, vd, x->data, vs, y->data);
    return LOOM_OK;
}

static loom_status op_space_to_depth(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    if (x->rank != 4)
        return lm_kinvalid(k, "input must be 4-D, got rank %d", x->rank);
    int64_t b = lm_node_attr_int(k->node, "blocksize", 0);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (b <= 0 || b > 65536 || H % b != 0 || W % b != 0)
        return lm_kinvalid(k, "blocksize %lld does not divide spatial dims %lldx%lld", (long long)b,
                           (long long)H, (long long)W);
    int64_t dims[4] = {N, C * b * b, H / b, W / b};
    TK_OUT(y, 0, x->dtype, 4, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    /* Output viewed as [N, b1, b2, C, H/b, W/b] over input [N, C, H/b, b1, W/b, b2]. */
    int64_t vd[6] = {N, b, b, C, H / b, W / b};
    int64_t vs[6] = {C * H * W, W, 1, H * W, b * W, b};
    lm_tk_strided_copy(k, esz, 6, vd, x->data, vs, y->data);
    return LOOM_OK;
}

static loom_status op_trilu(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 2));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    if (x->rank < 2)
        return lm_kinvalid(k, "input must have rank >= 2, got %d", x->rank);
    bool upper = lm_node_attr_int(k->node, "upper", 1) != 0;
    const loom_tensor *kt = lm_kin(k, 1);
    if (kt && (lm_tensor_count(kt) != 1 || kt->dtype != LOOM_DTYPE_INT64))
        return lm_kinvalid(k, "k must be an int64 scalar");
    TK_OUT(y, 0, x->dtype, x->rank, x->dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    int64_t diag = kt ? *(const int64_t *)kt->data : 0;
    int64_t M = x->dims[x->rank - 2], N = x->dims[x->rank - 1];
    int64_t mats = tk_prod(x->dims, 0, x->rank - 2);
    /* Beyond +-(M + N) every row is fully kept or fully zeroed. */
    int64_t lim = M + N + 1;
    diag = diag < -lim ? -lim : diag > lim ? lim : diag;
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    if (y->nbytes == 0)
        return LOOM_OK;
    memset(dst, 0, y->nbytes);
    for (int64_t m = 0; m < mats; m++) {
        for (int64_t i = 0; i < M; i++) {
            int64_t lo, hi;
            if (upper) {
                lo = i + diag;
                hi = N;
            } else {
                lo = 0;
                hi = i + diag + 1;
            }
            lo = lo < 0 ? 0 : lo;
            hi = hi > N ? N : hi;
            if (hi > lo) {
                size_t at = (size_t)((m * M + i) * N + lo) * esz;
                memcpy(dst + at, src + at, (size_t)(hi - lo) * esz);
            }
        }
    }
    return LOOM_OK;
}

/* ------------------------------------------------------------------------ */
/* Pad                                                                      */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE };

typedef struct pad_job {
    const loom_tensor *x;
    loom_tensor *y;
    size_t esz;
    int rank;
    int64_t *map[LOOM_MAX_RANK]; /* output index -> input index, -1 for the constant */
    int64_t istr[LOOM_MAX_RANK];
    int64_t lo, hi; /* last-axis output range that maps 1:1 onto a contiguous input run */
} pad_job;

#define PAD_ROW(T)                                                                                 \
    do {                                                                                           \
        const T *s_ = (const T *)src;                                                              \
        T *d_ = (T *)drow;                                                                         \
        for (int64_t o_ = 0; o_ < n; o_++) {                                                       \
            if (o_ == j->lo && j->hi > j->lo) {                                                    \
                memcpy(d_ + o_, s_ + lm[o_], (size_t)(j->hi - j->lo) * sizeof(T));                 \
                o_ = j->hi - 1;                                                                    \
                continue;                                                                          \
            }                                                                                      \
            if (lm[o_] >= 0)                                                                       \
                d_[o_] = s_[lm[o_]];                                                               \
        }                                                                                          \
    } while (0)

static void pad_rows(void *arg, int64_t begin, int64_t end)
{
    const pad_job *j = arg;
    int r = j->rank;
    const int64_t *dims = j->y->dims;
    int64_t n = dims[r - 1];
    const int64_t *lm = j->map[r - 1];
    for (int64_t row = begin; row < end; row++) {
        int64_t rem = row, off = 0;
        bool fill = false;
        for (int a = r - 2; a >= 0; a--) {
            int64_t c = rem % dims[a];
            rem /= dims[a];
            int64_t m = j->map[a][c];
            if (m < 0) {
                fill = true;
                break;
            }
            off += m * j->istr[a];
        }
        if (fill)
            continue; /* the row keeps the constant it was filled with */
        const uint8_t *src = (const uint8_t *)j->x->data + off * (int64_t)j->esz;
        uint8_t *drow = (uint8_t *)j->y->data + row * n * (int64_t)j->esz;
        switch (j->esz) {
        case 1:
            PAD_ROW(uint8_t);
            break;
        case 2:
            PAD_ROW(uint16_t);
            break;
        case 4:
            PAD_ROW(uint32_t);
            break;
        default:
            PAD_ROW(uint64_t);
            break;
        }
    }
}

static loom_status op_pad(lm_kctx *k)
{
    const loom_tensor *x = lm_kin(k, 0);
    int64_t pads[2 * LOOM_MAX_RANK];
    int np;
    uint8_t cval[8] = {0};
    if (lm_kopset(k) < 11) {
        TK_TRY(lm_kcheck_arity(k, 1, 1));
        const int64_t *v;
        np = lm_node_attr_ints(k->node, "pads", &v);
        if (np < 0 || np > 2 * LOOM_MAX_RANK)
            return lm_kinvalid(k, "pads is required (at most %d entries)", 2 * LOOM_MAX_RANK);
        memcpy(pads, v, sizeof(int64_t) * (size_t)np);
        lm_tk_store_f64(x->dtype, cval, lm_node_attr_float(k->node, "value", 0.0f));
    } else {
        TK_TRY(lm_kcheck_arity(k, 2, 3));
        if (lm_kin(k, 3) || k->n_in > 3)
            return lm_kunsupported(k, "the axes input (opset 18) is not supported");
        TK_TRY(lm_kneed_data(k, 1));
        TK_TRY(lm_tk_read_ints(k, k->in[1], "pads", pads, 2 * LOOM_MAX_RANK, &np));
        const loom_tensor *cv = lm_kin(k, 2);
        if (cv) {
            if (cv->dtype != x->dtype || lm_tensor_count(cv) > 1)
                return lm_kinvalid(k, "constant_value must be a scalar of the input's dtype");
            if (lm_tensor_count(cv) == 1 && cv->data)
                memcpy(cval, cv->data, loom_dtype_size(x->dtype));
        }
    }
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int r = x->rank;
    if (np != 2 * r)
        return lm_kinvalid(k, "pads has %d entries for rank %d", np, r);
    const char *ms = lm_node_attr_str(k->node, "mode", "constant");
    int mode;
    if (strcmp(ms, "constant") == 0)
        mode = PAD_CONSTANT;
    else if (strcmp(ms, "reflect") == 0)
        mode = PAD_REFLECT;
    else if (strcmp(ms, "edge") == 0)
        mode = PAD_EDGE;
    else
        return lm_kunsupported(k, "mode '%s' is not supported", ms);
    int64_t dims[LOOM_MAX_RANK];
    for (int a = 0; a < r; a++) {
        int64_t b = pads[a], e = pads[a + r], d = x->dims[a];
        if (b < -d || e < -d || b > ((int64_t)1 << 40) || e > ((int64_t)1 << 40))
            return lm_kinvalid(k, "pads %lld,%lld out of range on axis %d of size %lld",
                               (long long)b, (long long)e, a, (long long)d);
        dims[a] = d + b + e;
        if (dims[a] < 0)
            return lm_kinvalid(k, "pads make axis %d negative (%lld)", a, (long long)dims[a]);
        if (mode != PAD_CONSTANT && d == 0 && dims[a] > 0)
            return lm_kinvalid(k, "%s padding of empty axis %d", ms, a);
    }
    TK_OUT(y, 0, x->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    int64_t total = lm_tensor_count(y);
    if (total == 0)
        return LOOM_OK;
    if (r == 0) {
        memcpy(y->data, x->data, esz);
        return LOOM_OK;
    }
    pad_job j = {.x = x, .y = y, .esz = esz, .rank = r};
    tk_strides(r, x->dims, j.istr);
    for (int a = 0; a < r; a++) {
        int64_t *m = lm_kscratch(k, sizeof(int64_t) * (size_t)dims[a]);
        if (!m)
            return LOOM_ERR_NO_MEMORY;
        int64_t b = pads[a], d = x->dims[a];
        for (int64_t o = 0; o < dims[a]; o++) {
            int64_t i = o - b;
            if (i < 0 || i >= d) {
                if (mode == PAD_CONSTANT) {
                    i = -1;
                } else if (mode == PAD_EDGE || d == 1) {
                    i = i < 0 ? 0 : d - 1;
                } else {
                    /* Reflection without repeating the edge, period 2(d-1). */
                    int64_t p = 2 * (d - 1);
                    i %= p;
                    if (i < 0)
                        i += p;
                    if (i >= d)
                        i = p - i;
                }
            }
            m[o] = i;
        }
        j.map[a] = m;
    }
    int64_t n = dims[r - 1], b = pads[r - 1];
    j.lo = b > 0 ? b : 0;
    j.hi = b + x->dims[r - 1] < n ? b + x->dims[r - 1] : n;
    if (mode == PAD_CONSTANT)
        lm_tk_fill(y->data, cval, esz, total);
    lm_parallel_for(k, total / n, (double)n + 20.0, pad_rows, &j);
    return LOOM_OK;
}

const lm_op_def lm_ops_tensor[] = {
    LM_OP_FULL("", "Reshape", op_reshape),
    LM_OP_FULL("", "Flatten", op_flatten),
    LM_OP("", "Squeeze", op_squeeze),
    LM_OP("", "Unsqueeze", op_unsqueeze),
    LM_OP("", "Identity", op_identity),
    LM_OP("", "Dropout", op_dropout),
    LM_OP("", "Shape", op_shape),
    LM_OP("", "Size", op_size),
    LM_OP("", "Constant", op_constant),
    LM_OP("", "ConstantOfShape", op_constant_of_shape),
    LM_OP("", "Range", op_range),
    LM_OP("", "EyeLike", op_eye_like),
    LM_OP_FULL("", "Transpose", op_transpose),
    LM_OP_FULL("", "Concat", op_concat),
    LM_OP("", "Split", op_split),
    LM_OP("", "Slice", op_slice),
    LM_OP("", "Expand", op_expand),
    LM_OP("", "Tile", op_tile),
    LM_OP("", "DepthToSpace", op_depth_to_space),
    LM_OP("", "SpaceToDepth", op_space_to_depth),
    LM_OP("", "Trilu", op_trilu),
    LM_OP("", "Pad", op_pad),
    LM_OP_END,
};
