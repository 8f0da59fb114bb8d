/* index.c - CPU kernels for indexing operators: Gather*, Scatter*, OneHot, NonZero, Compress,
 * ReverseSequence. */
#include "tensor_ops.h"

#define TK_OUT(var, i, dtype, rank, dims)                                                          \
    loom_tensor *var = lm_kout(k, (i), (dtype), (rank), (dims));                                   \
    if (!var)                                                                                      \
        return TK_KOUT_ERR;

/*
 * Reads index tensor @t (int32/int64) into scratch, normalizing negative values
 * against @dim and failing on any index outside [-dim, dim).
 */
static loom_status load_indices(lm_kctx *k, const loom_tensor *t, int64_t dim, const char *what,
                                int64_t **out)
{
    if (t->dtype != LOOM_DTYPE_INT64 && t->dtype != LOOM_DTYPE_INT32)
        return lm_kinvalid(k, "%s must be int32 or int64, got %s", what, loom_dtype_name(t->dtype));
    int64_t n = lm_tensor_count(t);
    int64_t *v = lm_kscratch(k, sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!v)
        return LOOM_ERR_NO_MEMORY;
    if (n > 0)
        TK_TRY(lm_tk_to_i64(k, t, v, n));
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < -dim || v[i] >= dim)
            return lm_kfail(k, LOOM_ERR_INVALID_ARGUMENT,
                            "%s value %lld out of range for an axis of size %lld", what,
                            (long long)v[i], (long long)dim);
        if (v[i] < 0)
            v[i] += dim;
    }
    *out = v;
    return LOOM_OK;
}

/* ------------------------------------------------------------------------ */
/* Gather                                                                   */

typedef struct gather_job {
    const uint8_t *src;
    uint8_t *dst;
    const int64_t *idx;
    int64_t nidx, D, inner; /* inner: bytes per gathered slice */
    size_t esz;
} gather_job;

#define GATHER_ELEMS(T)                                                                            \
    do {                                                                                           \
        const T *s_ = (const T *)j->src;                                                           \
        T *d_ = (T *)j->dst;                                                                       \
        for (int64_t o_ = begin; o_ < end; o_++)                                                   \
            for (int64_t i_ = 0; i_ < j->nidx; i_++)                                               \
                d_[o_ * j->nidx + i_] = s_[o_ * j->D + j->idx[i_]];                                \
    } while (0)

static void gather_outer(void *arg, int64_t begin, int64_t end)
{
    const gather_job *j = arg;
    if (j->inner == (int64_t)j->esz) {
        switch (j->esz) {
        case 1:
            GATHER_ELEMS(uint8_t);
            return;
        case 2:
            GATHER_ELEMS(uint16_t);
            return;
        case 4:
            GATHER_ELEMS(uint32_t);
            return;
        case 8:
            GATHER_ELEMS(uint64_t);
            return;
        }
    }
    for (int64_t o = begin; o < end; o++)
        for (int64_t i = 0; i < j->nidx; i++)
            memcpy(j->dst + (o * j->nidx + i) * j->inner,
                   j->src + (o * j->D + j->idx[i]) * j->inner, (size_t)j->inner);
}

static loom_status op_gather(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = k->in[0], *ind = k->in[1];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    if (x->rank < 1)
        return lm_kinvalid(k, "data must have rank >= 1");
    if (ind->dtype != LOOM_DTYPE_INT64 && ind->dtype != LOOM_DTYPE_INT32)
        return lm_kinvalid(k, "indices must be int32 or int64, got %s",
                           loom_dtype_name(ind->dtype));
    int axis;
    TK_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), x->rank, &axis));
    int r = x->rank - 1 + ind->rank;
    if (r > LOOM_MAX_RANK)
        return lm_kunsupported(k, "output rank %d exceeds %d", r, LOOM_MAX_RANK);
    int64_t dims[LOOM_MAX_RANK];
    int o = 0;
    for (int a = 0; a < axis; a++)
        dims[o++] = x->dims[a];
    for (int a = 0; a < ind->rank; a++)
        dims[o++] = ind->dims[a];
    for (int a = axis + 1; a < x->rank; a++)
        dims[o++] = x->dims[a];
    TK_OUT(y, 0, x->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    gather_job j = {.src = x->data, .dst = y->data, .esz = esz};
    j.D = x->dims[axis];
    int64_t *idx;
    TK_TRY(load_indices(k, ind, j.D, "indices", &idx));
    j.idx = idx;
    j.nidx = lm_tensor_count(ind);
    j.inner = tk_prod(x->dims, axis + 1, x->rank) * (int64_t)esz;
    int64_t outer = tk_prod(x->dims, 0, axis);
    if (lm_tensor_count(y) == 0)
        return LOOM_OK;
    lm_parallel_for(k, outer, (double)(j.nidx * (j.inner / 4 + 4)), gather_outer, &j);
    return LOOM_OK;
}

#define GATHER_EL(T)                                                                               \
    do {                                                                                           \
        const T *s_ = (const T *)x->data;                                                          \
        T *d_ = (T *)y->data;                                                                      \
        for (int64_t p_ = 0; p_ < n; p_++) {                                                       \
            d_[p_] = s_[base + idx[p_] * sa];                                                      \
            for (int a_ = r - 1; a_ >= 0; a_--) {                                                  \
                if (a_ != axis)                                                                    \
                    base += xs[a_];                                                                \
                if (++c[a_] < ind->dims[a_])                                                       \
                    break;                                                                         \
                if (a_ != axis)                                                                    \
                    base -= c[a_] * xs[a_];                                                        \
                c[a_] = 0;                                                                         \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static loom_status op_gather_elements(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = k->in[0], *ind = k->in[1];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int r = x->rank, axis;
    if (r < 1 || ind->rank != r)
        return lm_kinvalid(k, "indices rank %d must equal data rank %d (>= 1)", ind->rank, r);
    TK_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), r, &axis));
    for (int a = 0; a < r; a++) {
        if (a != axis && ind->dims[a] > x->dims[a])
            return lm_kinvalid(k, "indices dim %lld exceeds data dim %lld on axis %d",
                               (long long)ind->dims[a], (long long)x->dims[a], a);
    }
    TK_OUT(y, 0, x->dtype, r, ind->dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    int64_t *idx;
    TK_TRY(load_indices(k, ind, x->dims[axis], "indices", &idx));
    int64_t n = lm_tensor_count(ind), xs[LOOM_MAX_RANK], c[LOOM_MAX_RANK] = {0}, base = 0;
    if (n == 0)
        return LOOM_OK;
    tk_strides(r, x->dims, xs);
    int64_t sa = xs[axis];
    switch (esz) {
    case 1:
        GATHER_EL(uint8_t);
        break;
    case 2:
        GATHER_EL(uint16_t);
        break;
    case 4:
        GATHER_EL(uint32_t);
        break;
    default:
        GATHER_EL(uint64_t);
        break;
    }
    return LOOM_OK;
}

static loom_status op_gather_nd(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = k->in[0], *ind = k->in[1];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    if (ind->dtype != LOOM_DTYPE_INT64 && ind->dtype != LOOM_DTYPE_INT32)
        return lm_kinvalid(k, "indices must be int64, got %s", loom_dtype_name(ind->dtype));
    int r = x->rank, q = ind->rank;
    int64_t b = lm_kopset(k) >= 12 ? lm_node_attr_int(k->node, "batch_dims", 0) : 0;
    if (r < 1 || q < 1)
        return lm_kinvalid(k, "data and indices must have rank >= 1 (got %d, %d)", r, q);
    if (b < 0 || b >= (q < r ? q : r))
        return lm_kinvalid(k, "batch_dims %lld out of range for ranks %d and %d", (long long)b, r,
                           q);
    int64_t m = ind->dims[q - 1];
    if (m < 1 || m > r - b)
        return lm_kinvalid(k, "indices last dim %lld out of range [1, %lld]", (long long)m,
                           (long long)(r - b));
    for (int a = 0; a < b; a++) {
        if (ind->dims[a] != x->dims[a])
            return lm_kinvalid(k, "batch dim %d differs: %lld vs %lld", a, (long long)ind->dims[a],
                               (long long)x->dims[a]);
    }
    int orank = q - 1 + r - (int)b - (int)m;
    if (orank > LOOM_MAX_RANK)
        return lm_kunsupported(k, "output rank %d exceeds %d", orank, LOOM_MAX_RANK);
    int64_t dims[LOOM_MAX_RANK];
    int o = 0;
    for (int a = 0; a < q - 1; a++)
        dims[o++] = ind->dims[a];
    for (int a = (int)(b + m); a < r; a++)
        dims[o++] = x->dims[a];
    TK_OUT(y, 0, x->dtype, orank, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    int64_t B = tk_prod(x->dims, 0, (int)b), N = tk_prod(ind->dims, (int)b, q - 1);
    int64_t L = tk_prod(x->dims, (int)(b + m), r) * (int64_t)esz;
    int64_t bstride = tk_prod(x->dims, (int)b, r), xs[LOOM_MAX_RANK];
    tk_strides(r, x->dims, xs);
    int64_t n = lm_tensor_count(ind);
    if (n == 0 || lm_tensor_count(y) == 0)
        return LOOM_OK;
    int64_t *idx = lm_kscratch(k, sizeof(int64_t) * (size_t)n);
    if (!idx)
        return LOOM_ERR_NO_MEMORY;
    TK_TRY(lm_tk_to_i64(k, ind, idx, n));
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    for (int64_t bb = 0; bb < B; bb++) {
        for (int64_t t = 0; t < N; t++) {
            const int64_t *tuple = idx + (bb * N + t) * m;
            int64_t off = bb * bstride;
            for (int64_t jj = 0; jj < m; jj++) {
                int64_t v = tuple[jj], d = x->dims[b + jj];
                if (v < -d || v >= d)
                    return lm_kfail(k, LOOM_ERR_INVALID_ARGUMENT,
                                    "index %lld out of range for axis %lld of size %lld",
                                    (long long)v, (long long)(b + jj), (long long)d);
                off += (v < 0 ? v + d : v) * xs[b + jj];
            }
            memcpy(dst + (bb * N + t) * L, src + off * (int64_t)esz, (size_t)L);
        }
    }
    return LOOM_OK;
}

/* ------------------------------------------------------------------------ */
/* Scatter                                                                  */

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static loom_status read_reduction(lm_kctx *k, int *red)
{
    const char *s = lm_node_attr_str(k->node, "reduction", "none");
    if (strcmp(s, "none") == 0)
        *red = RED_NONE;
    else if (strcmp(s, "add") == 0)
        *red = RED_ADD;
    else if (strcmp(s, "mul") == 0)
        *red = RED_MUL;
    else if (strcmp(s, "max") == 0)
        *red = RED_MAX;
    else if (strcmp(s, "min") == 0)
        *red = RED_MIN;
    else
        return lm_kinvalid(k, "reduction '%s' is not none, add, mul, max or min", s);
    return LOOM_OK;
}

/* For each update u, elements dst[offs[u] + l] op= src[u * L + l], l < L, in order so
 * duplicate indices resolve like the reference (last write wins for none). */
#define SCAT_LOOP(T, EXPR)                                                                         \
    do {                                                                                           \
        T *d_ = (T *)dst;                                                                          \
        const T *s_ = (const T *)src;                                                              \
        for (int64_t u_ = 0; u_ < nu; u_++)                                                        \
            for (int64_t l_ = 0; l_ < L; l_++) {                                                   \
                T *p = d_ + offs[u_] + l_;                                                         \
                T v = s_[u_ * L + l_];                                                             \
                *p = (EXPR);                                                                       \
            }                                                                                      \
    } while (0)

/* U is the type add and mul run in: unsigned for integers so overflow wraps. */
#define SCAT_TYPED(T, U)                                                                           \
    do {                                                                                           \
        switch (red) {                                                                             \
        case RED_ADD:                                                                              \
            SCAT_LOOP(T, (T)((U)*p + (U)v));                                                       \
            break;                                                                                 \
        case RED_MUL:                                                                              \
            SCAT_LOOP(T, (T)((U)*p * (U)v));                                                       \
            break;                                                                                 \
        case RED_MAX:                                                                              \
            SCAT_LOOP(T, *p > v ? *p : v);                                                         \
            break;                                                                                 \
        case RED_MIN:                                                                              \
            SCAT_LOOP(T, *p < v ? *p : v);                                                         \
            break;                                                                                 \
        default:                                                                                   \
            SCAT_LOOP(T, v);                                                                       \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

#define HF(x) lm_half_to_float(x)

static loom_status scatter_apply(lm_kctx *k, loom_dtype dt, int red, void *dst, const void *src,
                                 const int64_t *offs, int64_t nu, int64_t L)
{
    if (red == RED_NONE) {
        size_t esz = loom_dtype_size(dt);
        switch (esz) {
        case 1:
            SCAT_LOOP(uint8_t, v);
            break;
        case 2:
            SCAT_LOOP(uint16_t, v);
            break;
        case 4:
            SCAT_LOOP(uint32_t, v);
            break;
        default:
            SCAT_LOOP(uint64_t, v);
            break;
        }
        return LOOM_OK;
    }
    switch (dt) {
    case LOOM_DTYPE_FLOAT:
        SCAT_TYPED(float, float);
        break;
    case LOOM_DTYPE_DOUBLE:
        SCAT_TYPED(double, double);
        break;
    case LOOM_DTYPE_INT8:
        SCAT_TYPED(int8_t, uint32_t);
        break;
    case LOOM_DTYPE_UINT8:
        SCAT_TYPED(uint8_t, uint32_t);
        break;
    case LOOM_DTYPE_INT16:
        SCAT_TYPED(int16_t, uint32_t);
        break;
    case LOOM_DTYPE_UINT16:
        SCAT_TYPED(uint16_t, uint32_t);
        break;
    case LOOM_DTYPE_INT32:
        SCAT_TYPED(int32_t, uint32_t);
        break;
    case LOOM_DTYPE_UINT32:
        SCAT_TYPED(uint32_t, uint32_t);
        break;
    case LOOM_DTYPE_INT64:
        SCAT_TYPED(int64_t, uint64_t);
        break;
    case LOOM_DTYPE_UINT64:
        SCAT_TYPED(uint64_t, uint64_t);
        break;
    case LOOM_DTYPE_FLOAT16:
        switch (red) {
        case RED_ADD:
            SCAT_LOOP(uint16_t, lm_float_to_half(HF(*p) + HF(v)));
            break;
        case RED_MUL:
            SCAT_LOOP(uint16_t, lm_float_to_half(HF(*p) * HF(v)));
            break;
        case RED_MAX:
            SCAT_LOOP(uint16_t, HF(*p) > HF(v) ? *p : v);
            break;
        default:
            SCAT_LOOP(uint16_t, HF(*p) < HF(v) ? *p : v);
            break;
        }
        break;
    default:
        return lm_kunsupported(k, "reduction on dtype %s is not supported", loom_dtype_name(dt));
    }
    return LOOM_OK;
}

static loom_status scatter_elements(lm_kctx *k, bool allow_reduction)
{
    TK_TRY(lm_kcheck_arity(k, 3, 3));
    const loom_tensor *x = k->in[0], *ind = k->in[1], *upd = k->in[2];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int red = RED_NONE;
    if (allow_reduction && lm_kopset(k) >= 16)
        TK_TRY(read_reduction(k, &red));
    int r = x->rank, axis;
    if (r < 1 || ind->rank != r || upd->rank != r)
        return lm_kinvalid(k, "data, indices and updates must share rank >= 1 (%d, %d, %d)", r,
                           ind->rank, upd->rank);
    if (upd->dtype != x->dtype)
        return lm_kinvalid(k, "updates dtype %s differs from data %s", loom_dtype_name(upd->dtype),
                           loom_dtype_name(x->dtype));
    TK_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), r, &axis));
    for (int a = 0; a < r; a++) {
        if (ind->dims[a] != upd->dims[a])
            return lm_kinvalid(k, "indices and updates differ on axis %d", a);
        if (a != axis && ind->dims[a] > x->dims[a])
            return lm_kinvalid(k, "indices dim %lld exceeds data dim %lld on axis %d",
                               (long long)ind->dims[a], (long long)x->dims[a], a);
    }
    TK_OUT(y, 0, x->dtype, r, x->dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    lm_tk_copy(k, y->data, x->data, x->nbytes);
    int64_t n = lm_tensor_count(ind);
    if (n == 0)
        return LOOM_OK;
    int64_t *idx;
    TK_TRY(load_indices(k, ind, x->dims[axis], "indices", &idx));
    /* Turn indices into element offsets in place. */
    int64_t xs[LOOM_MAX_RANK], c[LOOM_MAX_RANK] = {0}, base = 0;
    tk_strides(r, x->dims, xs);
    for (int64_t p = 0; p < n; p++) {
        idx[p] = base + idx[p] * xs[axis];
        for (int a = r - 1; a >= 0; a--) {
            if (a != axis)
                base += xs[a];
            if (++c[a] < ind->dims[a])
                break;
            if (a != axis)
                base -= c[a] * xs[a];
            c[a] = 0;
        }
    }
    return scatter_apply(k, x->dtype, red, y->data, upd->data, idx, n, 1);
}

static loom_status op_scatter_elements(lm_kctx *k)
{
    return scatter_elements(k, true);
}

static loom_status op_scatter(lm_kctx *k)
{
    return scatter_elements(k, false);
}

static loom_status op_scatter_nd(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 3, 3));
    const loom_tensor *x = k->in[0], *ind = k->in[1], *upd = k->in[2];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int red = RED_NONE;
    if (lm_kopset(k) >= 16)
        TK_TRY(read_reduction(k, &red));
    if (ind->dtype != LOOM_DTYPE_INT64 && ind->dtype != LOOM_DTYPE_INT32)
        return lm_kinvalid(k, "indices must be int64, got %s", loom_dtype_name(ind->dtype));
    if (upd->dtype != x->dtype)
        return lm_kinvalid(k, "updates dtype %s differs from data %s", loom_dtype_name(upd->dtype),
                           loom_dtype_name(x->dtype));
    int r = x->rank, q = ind->rank;
    if (r < 1 || q < 1)
        return lm_kinvalid(k, "data and indices must have rank >= 1 (got %d, %d)", r, q);
    int64_t m = ind->dims[q - 1];
    if (m < 1 || m > r)
        return lm_kinvalid(k, "indices last dim %lld out of range [1, %d]", (long long)m, r);
    /* updates.shape == indices.shape[:-1] + data.shape[m:] */
    int ur = q - 1 + r - (int)m;
    bool ok = upd->rank == ur;
    for (int a = 0; ok && a < q - 1; a++)
        ok = upd->dims[a] == ind->dims[a];
    for (int a = (int)m; ok && a < r; a++)
        ok = upd->dims[q - 1 + a - m] == x->dims[a];
    if (!ok)
        return lm_kinvalid(k, "updates shape does not match indices and data");
    TK_OUT(y, 0, x->dtype, r, x->dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    lm_tk_copy(k, y->data, x->data, x->nbytes);
    int64_t nu = tk_prod(ind->dims, 0, q - 1), L = tk_prod(x->dims, (int)m, r);
    if (nu == 0 || L == 0)
        return LOOM_OK;
    int64_t *idx = lm_kscratch(k, sizeof(int64_t) * (size_t)(nu * m));
    if (!idx)
        return LOOM_ERR_NO_MEMORY;
    TK_TRY(lm_tk_to_i64(k, ind, idx, nu * m));
    int64_t xs[LOOM_MAX_RANK];
    tk_strides(r, x->dims, xs);
    /* Offsets overwrite the tuples' first slots: offs[u] is written after tuple u is read. */
    int64_t *offs = idx;
    for (int64_t u = 0; u < nu; u++) {
        int64_t off = 0;
        for (int64_t jj = 0; jj < m; jj++) {
            int64_t v = idx[u * m + jj], d = x->dims[jj];
            if (v < -d || v >= d)
                return lm_kfail(k, LOOM_ERR_INVALID_ARGUMENT,
                                "index %lld out of range for axis %lld of size %lld", (long long)v,
                                (long long)jj, (long long)d);
            off += (v < 0 ? v + d : v) * xs[jj];
        }
        offs[u] = off;
    }
    return scatter_apply(k, x->dtype, red, y->data, upd->data, offs, nu, L);
}

/* ------------------------------------------------------------------------ */
/* OneHot, NonZero, Compress, ReverseSequence                               */

static loom_status op_one_hot(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 3, 3));
    const loom_tensor *ind = k->in[0], *dep = k->in[1], *vals = k->in[2];
    size_t esz = 0;
    TK_TRY(tk_esz(k, vals, &esz));
    if (lm_tensor_count(dep) != 1)
        return lm_kinvalid(k, "depth must be a scalar");
    if (lm_tensor_count(vals) != 2)
        return lm_kinvalid(k, "values must have 2 elements, got %lld",
                           (long long)lm_tensor_count(vals));
    if (ind->rank + 1 > LOOM_MAX_RANK)
        return lm_kunsupported(k, "output rank %d exceeds %d", ind->rank + 1, LOOM_MAX_RANK);
    int64_t axis = lm_node_attr_int(k->node, "axis", -1);
    int r = ind->rank + 1;
    if (axis < -r || axis >= r)
        return lm_kinvalid(k, "axis %lld out of range for output rank %d", (long long)axis, r);
    if (axis < 0)
        axis += r;
    TK_TRY(lm_kneed_data(k, 1));
    int64_t depth;
    TK_TRY(lm_tk_to_i64(k, dep, &depth, 1));
    if (depth < 1 || depth > ((int64_t)1 << 40))
        return lm_kinvalid(k, "depth %lld must be positive", (long long)depth);
    int64_t dims[LOOM_MAX_RANK];
    for (int a = 0, j = 0; a < r; a++)
        dims[a] = a == axis ? depth : ind->dims[j++];
    TK_OUT(y, 0, vals->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    int64_t n = lm_tensor_count(ind);
    const uint8_t *v = vals->data;
    lm_tk_fill(y->data, v, esz, lm_tensor_count(y));
    if (n == 0)
        return LOOM_OK;
    int64_t *idx = lm_kscratch(k, sizeof(int64_t) * (size_t)n);
    if (!idx)
        return LOOM_ERR_NO_MEMORY;
    TK_TRY(lm_tk_to_i64(k, ind, idx, n));
    int64_t inner = tk_prod(ind->dims, (int)axis, ind->rank);
    uint8_t *dst = y->data;
    for (int64_t p = 0; p < n; p++) {
        int64_t i = idx[p];
        if (i < 0 && i >= -depth)
            i += depth;
        if (i < 0 || i >= depth)
            continue; /* out of range: the row stays all off_value */
        int64_t o = p / inner, in = p % inner;
        memcpy(dst + ((o * depth + i) * inner + in) * (int64_t)esz, v + esz, esz);
    }
    return LOOM_OK;
}

/* mask[i] = x[i] != 0 (NaN counts as non-zero, -0.0 as zero). */
#define NZ_MASK(T)                                                                                 \
    do {                                                                                           \
        const T *s_ = (const T *)x->data;                                                          \
        for (int64_t i_ = 0; i_ < n; i_++)                                                         \
            mask[i_] = s_[i_] != 0;                                                                \
    } while (0)

static loom_status op_non_zero(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    TK_TRY(lm_kneed_data(k, 0));
    int64_t n = lm_tensor_count(x);
    uint8_t *mask = lm_kscratch(k, (size_t)(n > 0 ? n : 1));
    if (!mask)
        return LOOM_ERR_NO_MEMORY;
    switch (x->dtype) {
    case LOOM_DTYPE_FLOAT:
        NZ_MASK(float);
        break;
    case LOOM_DTYPE_DOUBLE:
        NZ_MASK(double);
        break;
    case LOOM_DTYPE_FLOAT16: {
        const uint16_t *s = x->data;
        for (int64_t i = 0; i < n; i++)
            mask[i] = (s[i] & 0x7fff) != 0;
        break;
    }
    default:
        switch (esz) {
        case 1:
            NZ_MASK(uint8_t);
            break;
        case 2:
            NZ_MASK(uint16_t);
            break;
        case 4:
            NZ_MASK(uint32_t);
            break;
        default:
            NZ_MASK(uint64_t);
            break;
        }
    }
    int64_t nnz = 0;
    for (int64_t i = 0; i < n; i++)
        nnz += mask[i];
    int64_t dims[2] = {x->rank, nnz};
    TK_OUT(y, 0, LOOM_DTYPE_INT64, 2, dims);
    if (!y->data)
        return LOOM_OK;
    int64_t *out = y->data, c[LOOM_MAX_RANK] = {0}, at = 0;
    for (int64_t i = 0; i < n; i++) {
        if (mask[i]) {
            for (int a = 0; a < x->rank; a++)
                out[a * nnz + at] = c[a];
            at++;
        }
        for (int a = x->rank - 1; a >= 0; a--) {
            if (++c[a] < x->dims[a])
                break;
            c[a] = 0;
        }
    }
    return LOOM_OK;
}

static loom_status op_compress(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = k->in[0], *cond = k->in[1];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    if (cond->rank != 1 || cond->dtype != LOOM_DTYPE_BOOL)
        return lm_kinvalid(k, "condition must be a 1-D bool tensor");
    bool flat = !lm_node_has_attr(k->node, "axis");
    int axis = 0;
    if (!flat)
        TK_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), x->rank, &axis));
    int64_t d = flat ? lm_tensor_count(x) : x->dims[axis];
    int64_t len = cond->dims[0];
    if (len > d)
        return lm_kinvalid(k, "condition has %lld entries for an axis of size %lld", (long long)len,
                           (long long)d);
    TK_TRY(lm_kneed_data(k, 1));
    const uint8_t *cv = cond->data;
    int64_t sel = 0;
    for (int64_t i = 0; i < len; i++)
        sel += cv[i] != 0;
    int64_t dims[LOOM_MAX_RANK];
    int r = flat ? 1 : x->rank;
    if (flat) {
        dims[0] = sel;
    } else {
        memcpy(dims, x->dims, sizeof(int64_t) * (size_t)r);
        dims[axis] = sel;
    }
    TK_OUT(y, 0, x->dtype, r, dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    if (lm_tensor_count(y) == 0)
        return LOOM_OK;
    int64_t outer = flat ? 1 : tk_prod(x->dims, 0, axis);
    int64_t inner = (flat ? 1 : tk_prod(x->dims, axis + 1, x->rank)) * (int64_t)esz;
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < len; i++) {
            if (cv[i]) {
                memcpy(dst, src + (o * d + i) * inner, (size_t)inner);
                dst += inner;
            }
        }
    }
    return LOOM_OK;
}

static loom_status op_reverse_sequence(lm_kctx *k)
{
    TK_TRY(lm_kcheck_arity(k, 2, 2));
    const loom_tensor *x = k->in[0], *lens = k->in[1];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int64_t ta = lm_node_attr_int(k->node, "time_axis", 0),
            ba = lm_node_attr_int(k->node, "batch_axis", 1);
    if (x->rank < 2)
        return lm_kinvalid(k, "input must have rank >= 2, got %d", x->rank);
    if ((ta != 0 && ta != 1) || (ba != 0 && ba != 1) || ta == ba)
        return lm_kinvalid(k, "time_axis %lld and batch_axis %lld must be 0 and 1 in some order",
                           (long long)ta, (long long)ba);
    int64_t T = x->dims[ta], B = x->dims[ba];
    if (lens->rank != 1 || lens->dims[0] != B)
        return lm_kinvalid(k, "sequence_lens must be 1-D of size %lld", (long long)B);
    if (lens->dtype != LOOM_DTYPE_INT64 && lens->dtype != LOOM_DTYPE_INT32)
        return lm_kinvalid(k, "sequence_lens must be int64, got %s", loom_dtype_name(lens->dtype));
    TK_OUT(y, 0, x->dtype, x->rank, x->dims);
    if (tk_dry_stop(k))
        return LOOM_OK;
    int64_t *lv = lm_kscratch(k, sizeof(int64_t) * (size_t)(B > 0 ? B : 1));
    if (!lv)
        return LOOM_ERR_NO_MEMORY;
    if (B > 0)
        TK_TRY(lm_tk_to_i64(k, lens, lv, B));
    int64_t inner = tk_prod(x->dims, 2, x->rank) * (int64_t)esz;
    if (inner == 0)
        return LOOM_OK;
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    for (int64_t b = 0; b < B; b++) {
        if (lv[b] < 0 || lv[b] > T)
            return lm_kfail(k, LOOM_ERR_INVALID_ARGUMENT,
                            "sequence_lens[%lld] is %lld, outside [0, %lld]", (long long)b,
                            (long long)lv[b], (long long)T);
        for (int64_t t = 0; t < T; t++) {
            int64_t st = t < lv[b] ? lv[b] - 1 - t : t;
            int64_t di = ta == 0 ? t * B + b : b * T + t;
            int64_t si = ta == 0 ? st * B + b : b * T + st;
            memcpy(dst + di * inner, src + si * inner, (size_t)inner);
        }
    }
    return LOOM_OK;
}

const lm_op_def lm_ops_index[] = {
    LM_OP("", "Gather", op_gather),
    LM_OP("", "GatherElements", op_gather_elements),
    LM_OP("", "GatherND", op_gather_nd),
    LM_OP("", "ScatterElements", op_scatter_elements),
    LM_OP("", "Scatter", op_scatter),
    LM_OP("", "ScatterND", op_scatter_nd),
    LM_OP("", "OneHot", op_one_hot),
    LM_OP("", "NonZero", op_non_zero),
    LM_OP("", "Compress", op_compress),
    LM_OP("", "ReverseSequence", op_reverse_sequence),
    LM_OP_END,
};
