/*
 * misc.c - Unique (opset 11, every fixed-size numeric dtype, flat or along an
 * axis), Det (float32/double, batched, LU with partial pivoting in double) and
 * TfIdfVectorizer (int32/int64 tokens, int64 pools).
 */
#include <math.h>
#include <string.h>

#include "more_ops.h"

/* ---- Unique --------------------------------------------------------------- */

/* The tensor seen as outer x A x inner: element j of the unique axis is the
 * slice x[o, j, i] over every (o, i). */
typedef struct uq_ctx {
    const void *x;
    int64_t outer, A, inner;
    int (*cmp)(const struct uq_ctx *c, int64_t a, int64_t b);
} uq_ctx;

#define DEFINE_UQ_CMP(NAME, T, IS_FLOAT)                                                           \
    static int NAME(const uq_ctx *c, int64_t a, int64_t b)                                         \
    {                                                                                              \
        const T *x = c->x;                                                                         \
        for (int64_t o = 0; o < c->outer; o++) {                                                   \
            const T *pa = x + (o * c->A + a) * c->inner, *pb = x + (o * c->A + b) * c->inner;      \
            for (int64_t i = 0; i < c->inner; i++) {                                               \
                T va = pa[i], vb = pb[i];                                                          \
                if (va < vb)                                                                       \
                    return -1;                                                                     \
                if (va > vb)                                                                       \
                    return 1;                                                                      \
                if (IS_FLOAT && va != vb) { /* NaN sorts last, NaNs are equal */                   \
                    int na = va != va, nb = vb != vb;                                              \
                    if (na != nb)                                                                  \
                        return na - nb;                                                            \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        return 0;                                                                                  \
    }

DEFINE_UQ_CMP(uq_cmp_f32, float, 1)
DEFINE_UQ_CMP(uq_cmp_f64, double, 1)
DEFINE_UQ_CMP(uq_cmp_i8, int8_t, 0)
DEFINE_UQ_CMP(uq_cmp_i16, int16_t, 0)
DEFINE_UQ_CMP(uq_cmp_i32, int32_t, 0)
DEFINE_UQ_CMP(uq_cmp_i64, int64_t, 0)
DEFINE_UQ_CMP(uq_cmp_u8, uint8_t, 0)
DEFINE_UQ_CMP(uq_cmp_u16, uint16_t, 0)
DEFINE_UQ_CMP(uq_cmp_u32, uint32_t, 0)
DEFINE_UQ_CMP(uq_cmp_u64, uint64_t, 0)

/* Stable bottom-up merge sort of @idx[0..n) by the slices they name. */
static void uq_sort(const uq_ctx *c, int64_t *idx, int64_t *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] = c->cmp(c, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[o++] = idx[i++];
            while (j < hi)
                tmp[o++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof(int64_t));
    }
}

/* Sorts @v[0..n) ascending (first-occurrence indices), carrying @w along. */
static void sort_pairs(int64_t *v, int64_t *w, int64_t *tv, int64_t *tw, int64_t n)
{
    for (int64_t s = 1; s < n; s *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * s) {
            int64_t mid = lo + s < n ? lo + s : n, hi = lo + 2 * s < n ? lo + 2 * s : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                bool right = v[j] < v[i];
                tv[o] = right ? v[j] : v[i];
                tw[o++] = right ? w[j++] : w[i++];
            }
            while (i < mid) {
                tv[o] = v[i];
                tw[o++] = w[i++];
            }
            while (j < hi) {
                tv[o] = v[j];
                tw[o++] = w[j++];
            }
        }
        memcpy(v, tv, (size_t)n * sizeof(int64_t));
        memcpy(w, tw, (size_t)n * sizeof(int64_t));
    }
}

static loom_status op_unique(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = lm_kin(k, 0);
    uq_ctx c;
    memset(&c, 0, sizeof(c));
    switch (x->dtype) {
    case LOOM_DTYPE_FLOAT:
        c.cmp = uq_cmp_f32;
        break;
    case LOOM_DTYPE_DOUBLE:
        c.cmp = uq_cmp_f64;
        break;
    case LOOM_DTYPE_INT8:
        c.cmp = uq_cmp_i8;
        break;
    case LOOM_DTYPE_INT16:
        c.cmp = uq_cmp_i16;
        break;
    case LOOM_DTYPE_INT32:
        c.cmp = uq_cmp_i32;
        break;
    case LOOM_DTYPE_INT64:
        c.cmp = uq_cmp_i64;
        break;
    case LOOM_DTYPE_UINT8:
    case LOOM_DTYPE_BOOL:
        c.cmp = uq_cmp_u8;
        break;
    case LOOM_DTYPE_UINT16:
        c.cmp = uq_cmp_u16;
        break;
    case LOOM_DTYPE_UINT32:
        c.cmp = uq_cmp_u32;
        break;
    case LOOM_DTYPE_UINT64:
        c.cmp = uq_cmp_u64;
        break;
    default:
        return lm_kunsupported(k, "dtype %s is not supported", loom_dtype_name(x->dtype));
    }
    int64_t sorted = lm_node_attr_int(k->node, "sorted", 1);
    if (sorted != 0 && sorted != 1)
        return lm_kinvalid(k, "sorted %lld is not 0 or 1", (long long)sorted);
    bool has_axis = lm_node_has_attr(k->node, "axis");
    int axis = 0;
    if (has_axis) {
        if (x->rank == 0)
            return lm_kinvalid(k, "axis given for a scalar input");
        MO_TRY(lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), x->rank, &axis));
    }
    MO_TRY(lm_kneed_data(k, 0));
    int64_t n = lm_tensor_count(x);
    c.x = x->data;
    if (has_axis) {
        c.outer = lm_dims_count(axis, x->dims);
        c.A = x->dims[axis];
        c.inner = lm_dims_count(x->rank - axis - 1, x->dims + axis + 1);
        if (c.A > 0 && n == 0) /* empty slices: all equal */
            c.outer = 0;
    } else {
        c.outer = 1;
        c.A = n;
        c.inner = 1;
    }
    int64_t A = c.A;
    size_t sz = (size_t)(A + 1) * sizeof(int64_t);
    int64_t *idx = lm_kscratch(k, sz), *tmp = lm_kscratch(k, sz), *inv = lm_kscratch(k, sz);
    int64_t *first = lm_kscratch(k, sz), *cnt = lm_kscratch(k, sz), *rep = lm_kscratch(k, sz);
    int64_t *pos = lm_kscratch(k, sz), *t2 = lm_kscratch(k, sz);
    if (!idx || !tmp || !inv || !first || !cnt || !rep || !pos || !t2)
        return LOOM_ERR_NO_MEMORY;
    for (int64_t i = 0; i < A; i++)
        idx[i] = i;
    uq_sort(&c, idx, tmp, A);
    /* Groups in sorted order: first occurrence (the stable sort puts it first),
     * count, and each element's group. */
    int64_t U = 0;
    for (int64_t i = 0; i < A; i++) {
        if (i == 0 || c.cmp(&c, idx[i - 1], idx[i]) != 0) {
            first[U] = idx[i];
            cnt[U] = 0;
            U++;
        }
        cnt[U - 1]++;
        inv[idx[i]] = U - 1;
    }
    /* pos[g]: output position of group g. */
    for (int64_t g = 0; g < U; g++)
        pos[g] = g;
    if (!sorted) {
        /* Order groups by first occurrence: rep[] lists group ids by position. */
        for (int64_t g = 0; g < U; g++) {
            rep[g] = g;
            tmp[g] = first[g];
        }
        sort_pairs(tmp, rep, idx, t2, U);
        for (int64_t p = 0; p < U; p++)
            pos[rep[p]] = p;
    }
    int64_t yd[LOOM_MAX_RANK];
    int yr = 1;
    if (has_axis) {
        yr = x->rank;
        memcpy(yd, x->dims, sizeof(int64_t) * (size_t)x->rank);
        yd[axis] = U;
    } else {
        yd[0] = U;
    }
    loom_tensor *y = lm_kout(k, 0, x->dtype, yr, yd), *yi = NULL, *yv = NULL, *yc = NULL;
    if (!y)
        return LM_KOUT_FAILED;
    if (mo_has_out(k, 1) && !(yi = lm_kout(k, 1, LOOM_DTYPE_INT64, 1, &U)))
        return LM_KOUT_FAILED;
    if (mo_has_out(k, 2) && !(yv = lm_kout(k, 2, LOOM_DTYPE_INT64, 1, &A)))
        return LM_KOUT_FAILED;
    if (mo_has_out(k, 3) && !(yc = lm_kout(k, 3, LOOM_DTYPE_INT64, 1, &U)))
        return LM_KOUT_FAILED;
    if (k->dry && !y->data)
        return LOOM_OK;
    size_t esz = loom_dtype_size(x->dtype);
    const char *xb = x->data;
    char *ybuf = y->data;
    for (int64_t g = 0; g < U; g++) {
        int64_t p = pos[g];
        for (int64_t o = 0; o < c.outer; o++)
            memcpy(ybuf + ((o * U + p) * c.inner) * esz, xb + ((o * A + first[g]) * c.inner) * esz,
                   (size_t)c.inner * esz);
        if (yi)
            ((int64_t *)yi->data)[p] = first[g];
        if (yc)
            ((int64_t *)yc->data)[p] = cnt[g];
    }
    if (yv)
        for (int64_t i = 0; i < A; i++)
            ((int64_t *)yv->data)[i] = pos[inv[i]];
    return LOOM_OK;
}

/* ---- Det ------------------------------------------------------------------ */

#define DEFINE_DET(NAME, T)                                                                        \
    static void NAME(const T *x, T *y, int64_t batch, int64_t M, double *a)                        \
    {                                                                                              \
        for (int64_t b = 0; b < batch; b++) {                                                      \
            const T *m = x + b * M * M;                                                            \
            for (int64_t i = 0; i < M * M; i++)                                                    \
                a[i] = (double)m[i];                                                               \
            double det = 1.0;                                                                      \
            for (int64_t c = 0; c < M; c++) {                                                      \
                int64_t p = c;                                                                     \
                for (int64_t r = c + 1; r < M; r++)                                                \
                    if (fabs(a[r * M + c]) > fabs(a[p * M + c]))                                   \
                        p = r;                                                                     \
                if (a[p * M + c] == 0.0) {                                                         \
                    det = 0.0;                                                                     \
                    break;                                                                         \
                }                                                                                  \
                if (p != c) {                                                                      \
                    for (int64_t j = 0; j < M; j++) {                                              \
                        double t = a[c * M + j];                                                   \
                        a[c * M + j] = a[p * M + j];                                               \
                        a[p * M + j] = t;                                                          \
                    }                                                                              \
                    det = -det;                                                                    \
                }                                                                                  \
                double piv = a[c * M + c];                                                         \
                det *= piv;                                                                        \
                for (int64_t r = c + 1; r < M; r++) {                                              \
                    double f = a[r * M + c] / piv;                                                 \
                    if (f == 0.0)                                                                  \
                        continue;                                                                  \
                    for (int64_t j = c + 1; j < M; j++)                                            \
                        a[r * M + j] -= f * a[c * M + j];                                          \
                }                                                                                  \
            }                                                                                      \
            y[b] = (T)det;                                                                         \
        }                                                                                          \
    }

DEFINE_DET(det_f32, float)
DEFINE_DET(det_f64, double)

static loom_status op_det(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = lm_kin(k, 0);
    if (x->dtype != LOOM_DTYPE_FLOAT && x->dtype != LOOM_DTYPE_DOUBLE)
        return lm_kunsupported(k, "dtype %s is not supported (float32, double)",
                               loom_dtype_name(x->dtype));
    if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
        return lm_kfail(k, LOOM_ERR_SHAPE, "X must be [..., M, M] (rank %d)", x->rank);
    loom_tensor *y = lm_kout(k, 0, x->dtype, x->rank - 2, x->dims);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    int64_t M = x->dims[x->rank - 1], batch = lm_tensor_count(y);
    if (batch == 0)
        return LOOM_OK;
    double *a = lm_kscratch(k, (size_t)(M * M + 1) * sizeof(double));
    if (!a)
        return LOOM_ERR_NO_MEMORY;
    if (x->dtype == LOOM_DTYPE_FLOAT)
        det_f32(x->data, y->data, batch, M, a);
    else
        det_f64(x->data, y->data, batch, M, a);
    return LOOM_OK;
}

/* ---- TfIdfVectorizer ------------------------------------------------------ */

/* Pool n-grams of one length, sorted so a gram is found by binary search. */
typedef struct tf_level {
    int64_t n;           /* gram length */
    int64_t count;       /* grams of this length in the pool */
    const int64_t *pool; /* first token of the level */
    int64_t first;       /* index of the level's first gram among all pool grams */
    int64_t *order;      /* gram numbers (within the level) sorted by tokens */
} tf_level;

static const int64_t *tf_gram(const tf_level *l, int64_t g)
{
    return l->pool + g * l->n;
}

static int tf_cmp(const int64_t *a, const int64_t *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* Merge sort of the level's gram numbers by token tuple. */
static void tf_sort(tf_level *l, int64_t *tmp)
{
    int64_t n = l->count, *idx = l->order;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] =
                    tf_cmp(tf_gram(l, idx[j]), tf_gram(l, idx[i]), l->n) < 0 ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[o++] = idx[i++];
            while (j < hi)
                tmp[o++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof(int64_t));
    }
}

/* Gram number of @g in the level, or -1. */
static int64_t tf_find(const tf_level *l, const int64_t *g)
{
    int64_t lo = 0, hi = l->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = tf_cmp(tf_gram(l, l->order[mid]), g, l->n);
        if (c == 0)
            return l->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

#define TF_MAX_GRAM 64

static loom_status op_tfidf(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 1, 1));
    const loom_tensor *x = lm_kin(k, 0);
    if (x->dtype != LOOM_DTYPE_INT32 && x->dtype != LOOM_DTYPE_INT64)
        return lm_kunsupported(k, "X has dtype %s: only int32/int64 are supported",
                               loom_dtype_name(x->dtype));
    if (x->rank != 1 && x->rank != 2)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X has rank %d, expected 1 or 2", x->rank);
    int64_t minn = lm_node_attr_int(k->node, "min_gram_length", 0),
            maxn = lm_node_attr_int(k->node, "max_gram_length", 0);
    int64_t skip = lm_node_attr_int(k->node, "max_skip_count", 0);
    if (minn < 1 || maxn < minn || maxn > TF_MAX_GRAM)
        return lm_kinvalid(
            k, "min_gram_length %lld / max_gram_length %lld must satisfy 1 <= min <= max <= %d",
            (long long)minn, (long long)maxn, TF_MAX_GRAM);
    if (skip < 0 || skip > ((int64_t)1 << 30))
        return lm_kinvalid(k, "max_skip_count %lld out of range", (long long)skip);
    const char *mode_s = lm_node_attr_str(k->node, "mode", "");
    int mode; /* 0 TF, 1 IDF, 2 TFIDF */
    if (strcmp(mode_s, "TF") == 0)
        mode = 0;
    else if (strcmp(mode_s, "IDF") == 0)
        mode = 1;
    else if (strcmp(mode_s, "TFIDF") == 0)
        mode = 2;
    else
        return lm_kinvalid(k, "mode '%s' is not TF, IDF or TFIDF", mode_s);
    if (lm_node_has_attr(k->node, "pool_strings"))
        return lm_kunsupported(k, "pool_strings is not supported (int64 pools only)");
    const int64_t *pool = NULL, *counts = NULL, *indexes = NULL;
    const float *weights = NULL;
    int npool = lm_node_attr_ints(k->node, "pool_int64s", &pool);
    int ncounts = lm_node_attr_ints(k->node, "ngram_counts", &counts);
    int nidx = lm_node_attr_ints(k->node, "ngram_indexes", &indexes);
    int nw = lm_node_attr_floats(k->node, "weights", &weights);
    if (npool < 0 || ncounts < 0 || nidx < 0)
        return lm_kinvalid(k, "pool_int64s, ngram_counts and ngram_indexes are required");
    if (ncounts > TF_MAX_GRAM)
        return lm_kinvalid(k, "ngram_counts has %d levels, at most %d", ncounts, TF_MAX_GRAM);
    /* Levels: ngram_counts[i] is where the (i+1)-grams start in the pool. */
    tf_level lv[TF_MAX_GRAM];
    int64_t grams = 0, out_len = 0;
    for (int i = 0; i < ncounts; i++) {
        int64_t start = counts[i], end = i + 1 < ncounts ? counts[i + 1] : npool;
        if (start < 0 || end < start || end > npool || (end - start) % (i + 1) != 0)
            return lm_kinvalid(k, "ngram_counts[%d] = %lld does not split the pool into %d-grams",
                               i, (long long)start, i + 1);
        lv[i].n = i + 1;
        lv[i].count = (end - start) / (i + 1);
        lv[i].pool = pool + start;
        lv[i].first = grams;
        grams += lv[i].count;
    }
    if (nidx != grams)
        return lm_kinvalid(k, "ngram_indexes has %d entries, the pool has %lld n-grams", nidx,
                           (long long)grams);
    for (int i = 0; i < nidx; i++) {
        if (indexes[i] < 0 || indexes[i] >= ((int64_t)1 << 31))
            return lm_kinvalid(k, "ngram_indexes[%d] = %lld out of range", i,
                               (long long)indexes[i]);
        if (indexes[i] + 1 > out_len)
            out_len = indexes[i] + 1;
    }
    if (nw >= 0 && nw < out_len)
        return lm_kinvalid(k, "weights has %d entries, need %lld", nw, (long long)out_len);
    int64_t rows = x->rank == 2 ? x->dims[0] : 1, C = x->dims[x->rank - 1];
    int64_t od[2] = {rows, out_len};
    loom_tensor *y = x->rank == 2 ? lm_kout(k, 0, LOOM_DTYPE_FLOAT, 2, od)
                                  : lm_kout(k, 0, LOOM_DTYPE_FLOAT, 1, &out_len);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    int64_t *tmp = lm_kscratch(k, (size_t)(grams + 1) * sizeof(int64_t));
    if (!tmp)
        return LOOM_ERR_NO_MEMORY;
    for (int i = 0; i < ncounts; i++) {
        lv[i].order = lm_kscratch(k, (size_t)(lv[i].count + 1) * sizeof(int64_t));
        if (!lv[i].order)
            return LOOM_ERR_NO_MEMORY;
        for (int64_t g = 0; g < lv[i].count; g++)
            lv[i].order[g] = g;
        tf_sort(&lv[i], tmp);
    }
    int64_t *tok = lm_kscratch(k, (size_t)(C + 1) * sizeof(int64_t));
    if (!tok)
        return LOOM_ERR_NO_MEMORY;
    float *yd = y->data;
    int64_t hi_n = maxn < ncounts ? maxn : ncounts;
    for (int64_t r = 0; r < rows; r++) {
        if (x->dtype == LOOM_DTYPE_INT32)
            for (int64_t i = 0; i < C; i++)
                tok[i] = ((const int32_t *)x->data)[r * C + i];
        else
            memcpy(tok, (const int64_t *)x->data + r * C, (size_t)C * sizeof(int64_t));
        float *out = yd + r * out_len;
        for (int64_t n = minn; n <= hi_n; n++) {
            const tf_level *l = &lv[n - 1];
            if (l->count == 0)
                continue;
            /* Unigrams have no gaps: count them once, not once per skip. */
            int64_t max_s = n == 1 ? 0 : skip;
            int64_t g[TF_MAX_GRAM];
            for (int64_t s = 0; s <= max_s; s++) {
                int64_t span = (n - 1) * (s + 1); /* last token's offset */
                if (span >= C)
                    break;
                for (int64_t i = 0; i + span < C; i++) {
                    for (int64_t j = 0; j < n; j++)
                        g[j] = tok[i + j * (s + 1)];
                    int64_t f = tf_find(l, g);
                    if (f >= 0)
                        out[indexes[l->first + f]] += 1.0f;
                }
            }
        }
        for (int64_t j = 0; j < out_len; j++) {
            float w = nw >= 0 ? weights[j] : 1.0f;
            if (mode == 1)
                out[j] = out[j] > 0 ? w : 0.0f;
            else if (mode == 2)
                out[j] *= w;
        }
    }
    return LOOM_OK;
}

const lm_op_def lm_ops_misc[] = {
    LM_OP("", "Unique", op_unique),
    LM_OP("", "Det", op_det),
    LM_OP("", "TfIdfVectorizer", op_tfidf),
    LM_OP_END,
};
