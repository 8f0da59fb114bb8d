/*
 * norm.c - normalization kernels: BatchNormalization (inference),
 * InstanceNormalization, LayerNormalization, LpNormalization,
 * MeanVarianceNormalization and LRN. float32; statistics accumulate in double
 * so that long rows do not lose precision.
 */
#include <math.h>
#include <string.h>

#include "../vmath.h"
#include "activation_epilogue.h"
#include "ew.h"
#include "nn_private.h"

static bool output_present(const lm_kctx *k, int i)
{
    return i < k->node->n_out && k->node->out[i] >= 0;
}

static loom_status need_float(lm_kctx *k, const loom_tensor *t, const char *what)
{
    if (t && t->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "%s has dtype %d: only float32 is supported", what,
                               (int)t->dtype);
    return LOOM_OK;
}

/* ---- BatchNormalization --------------------------------------------------- */

typedef struct affine_job {
    const float *x;
    float *y;
    const float *a, *b; /* y = x * a[c] + b[c], or per element when per_elem */
    int64_t C, inner;
    bool per_elem;
    lm_act act; /* the activation the fusion pass gave the node, on each row */
} affine_job;

static void affine_rows(void *arg, int64_t begin, int64_t end)
{
    const affine_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->inner;
        float *y = j->y + r * j->inner;
        if (j->per_elem) {
            const float *a = j->a + (r % j->C) * j->inner, *b = j->b + (r % j->C) * j->inner;
            for (int64_t i = 0; i < j->inner; i++)
                y[i] = x[i] * a[i] + b[i];
        } else {
            float a = j->a[r % j->C], b = j->b[r % j->C];
            for (int64_t i = 0; i < j->inner; i++)
                y[i] = x[i] * a + b;
        }
        lm_act_apply_vec(&j->act, y, j->inner);
    }
}

static loom_status op_batchnorm(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 5, 5);
    if (st != LOOM_OK)
        return st;
    int opset = lm_kopset(k);
    if (lm_node_attr_int(k->node, "training_mode", 0) != 0)
        return lm_kunsupported(k, "training_mode = 1 is not supported (inference only)");
    for (int i = 1; i < k->node->n_out; i++)
        if (output_present(k, i))
            return lm_kunsupported(k, "output %d (training statistics) is not supported", i);
    const loom_tensor *x = lm_kin(k, 0);
    if ((st = need_float(k, x, "X")) != LOOM_OK)
        return st;
    if (x->rank < 2)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X has rank %d, expected N x C x ... (>= 2)", x->rank);
    int64_t C = x->dims[1], count = lm_tensor_count(x);
    int64_t inner = x->dims[0] == 0 || C == 0 ? 0 : count / (x->dims[0] * C);
    /* Opset 7's spatial = 0 gives one parameter per (channel, position). */
    bool per_elem = opset < 9 && lm_node_attr_int(k->node, "spatial", 1) == 0;
    int64_t want = per_elem ? C * inner : C;
    static const char *const names[] = {"X", "scale", "B", "mean", "var"};
    for (int i = 1; i < 5; i++) {
        const loom_tensor *t = lm_kin(k, i);
        if (t->dtype != LOOM_DTYPE_FLOAT && t->dtype != LOOM_DTYPE_DOUBLE)
            return lm_kunsupported(k, "%s has dtype %d: only float32/double", names[i],
                                   (int)t->dtype);
        if (lm_tensor_count(t) != want)
            return lm_kfail(k, LOOM_ERR_SHAPE, "%s has %lld values, expected %lld", names[i],
                            (long long)lm_tensor_count(t), (long long)want);
    }
    float eps = lm_node_attr_float(k->node, "epsilon", 1e-5f);
    lm_act act;
    if ((st = lm_kact(k, &act)) != LOOM_OK)
        return st;
    loom_tensor *y = lm_kout_like(k, 0, x->dtype, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    if (count == 0)
        return LOOM_OK;
    for (int i = 1; i < 5; i++)
        if (!lm_kin(k, i)->data)
            return lm_kinvalid(k, "%s has no data", names[i]);
    float *ab = lm_kscratch(k, (size_t)want * 2 * sizeof(float));
    if (!ab)
        return LOOM_ERR_NO_MEMORY;
    for (int64_t c = 0; c < want; c++) {
        double sc = lm_tensor_get_f64(lm_kin(k, 1), c), bi = lm_tensor_get_f64(lm_kin(k, 2), c);
        double mu = lm_tensor_get_f64(lm_kin(k, 3), c), var = lm_tensor_get_f64(lm_kin(k, 4), c);
        double a = sc / sqrt(var + (double)eps);
        ab[c] = (float)a;
        ab[want + c] = (float)(bi - mu * a);
    }
    affine_job j = {x->data, y->data, ab, ab + want, C, inner, per_elem, act};
    lm_parallel_for(k, x->dims[0] * C, 2.0 * (double)inner, affine_rows, &j);
    return LOOM_OK;
}

/* ---- InstanceNormalization ------------------------------------------------ */

typedef struct inorm_job {
    const float *x, *scale, *bias;
    float *y;
    int64_t C, inner;
    float eps;
} inorm_job;

static void inorm_rows(void *arg, int64_t begin, int64_t end)
{
    const inorm_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->inner;
        float *y = j->y + r * j->inner;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < j->inner; i++)
            s += x[i];
        double mean = s / (double)j->inner;
        for (int64_t i = 0; i < j->inner; i++)
            s2 += ((double)x[i] - mean) * ((double)x[i] - mean);
        double inv = 1.0 / sqrt(s2 / (double)j->inner + (double)j->eps);
        float a = (float)(inv * j->scale[r % j->C]);
        float b = (float)(j->bias[r % j->C] - mean * inv * j->scale[r % j->C]);
        for (int64_t i = 0; i < j->inner; i++)
            y[i] = x[i] * a + b;
    }
}

static loom_status op_instancenorm(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 3, 3);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *sc = lm_kin(k, 1), *b = lm_kin(k, 2);
    if ((st = need_float(k, x, "input")) || (st = need_float(k, sc, "scale")) ||
        (st = need_float(k, b, "B")))
        return st;
    if (x->rank < 3)
        return lm_kfail(k, LOOM_ERR_SHAPE, "input has rank %d, expected N x C x D1 x ... (>= 3)",
                        x->rank);
    int64_t C = x->dims[1], count = lm_tensor_count(x);
    if (sc->rank != 1 || sc->dims[0] != C || b->rank != 1 || b->dims[0] != C)
        return lm_kfail(k, LOOM_ERR_SHAPE, "scale and B must be 1-D of size C = %lld",
                        (long long)C);
    loom_tensor *y = lm_kout_like(k, 0, x->dtype, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry || count == 0)
        return LOOM_OK;
    inorm_job j = {x->data,
                   sc->data,
                   b->data,
                   y->data,
                   C,
                   count / (x->dims[0] * C),
                   lm_node_attr_float(k->node, "epsilon", 1e-5f)};
    lm_parallel_for(k, x->dims[0] * C, 4.0 * (double)j.inner, inorm_rows, &j);
    return LOOM_OK;
}

/* ---- LayerNormalization --------------------------------------------------- */

/*
 * The residual fusion (core/fuse_skipnorm.c) adds a fourth input, normalising
 * X + Skip (broadcast as an Add), and a fourth output, the sum itself. Where
 * X and Skip have the output's shape the vector kernel adds on the row it
 * normalises; otherwise the sum is formed first.
 */
typedef struct lnorm_job {
    const float *x, *skip, *scale, *bias; /* scale/bias expanded to the normalized size */
    float *y, *sum, *mean, *istd;
    int64_t inner;
    float eps;
} lnorm_job;

static void lnorm_rows(void *arg, int64_t begin, int64_t end)
{
    const lnorm_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        int64_t o = r * j->inner;
        lm_vm_layernorm(j->x + o, j->skip ? j->skip + o : NULL, j->sum ? j->sum + o : NULL,
                        j->y + o, j->inner, j->scale, j->bias, j->eps, j->mean ? j->mean + r : NULL,
                        j->istd ? j->istd + r : NULL);
    }
}

/* Expands @t, unidirectionally broadcast to dims[0..rank), into @dst. */
static loom_status expand_param(lm_kctx *k, const loom_tensor *t, int rank, const int64_t *dims,
                                int64_t total, float *dst, const char *what)
{
    if (t->rank > rank)
        return lm_kfail(k, LOOM_ERR_SHAPE, "%s has rank %d > normalized rank %d", what, t->rank,
                        rank);
    for (int i = 0; i < t->rank; i++) {
        int64_t td = t->dims[i], nd = dims[rank - t->rank + i];
        if (td != 1 && td != nd)
            return lm_kfail(k, LOOM_ERR_SHAPE, "%s dim %d (%lld) does not broadcast to %lld", what,
                            i, (long long)td, (long long)nd);
    }
    if (!dst)
        return LOOM_OK;
    const float *src = t->data;
    for (int64_t e = 0; e < total; e++) {
        int64_t rem = e, off = 0, stride = 1;
        for (int i = rank - 1, ti = t->rank - 1; i >= 0; i--, ti--) {
            int64_t c = rem % dims[i];
            rem /= dims[i];
            if (ti >= 0) {
                if (t->dims[ti] != 1)
                    off += c * stride;
                stride *= t->dims[ti];
            }
        }
        dst[e] = src[off];
    }
    return LOOM_OK;
}

/* The normalized tensor's shape: X's, or X's broadcast with Skip. */
static loom_status lnorm_shape(lm_kctx *k, const loom_tensor *x, const loom_tensor *skip, int *rank,
                               int64_t *dims)
{
    if (skip) {
        const loom_tensor *ins[2] = {x, skip};
        return lm_bcast_shape(k, 2, ins, rank, dims);
    }
    *rank = x->rank;
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    return LOOM_OK;
}

static bool has_dims(const loom_tensor *t, int rank, const int64_t *dims)
{
    return t->rank == rank && memcmp(t->dims, dims, sizeof(int64_t) * (size_t)rank) == 0;
}

typedef struct sum_ctx {
    const float *a, *b;
    float *o;
} sum_ctx;

static void sum_row(void *ctx, const int64_t *off, int64_t oo, int64_t n, const int *inner)
{
    const sum_ctx *c = ctx;
    lm_vm_binary(LM_VB_ADD, c->a + off[0], c->b + off[1], c->o + oo, n, inner[0], inner[1]);
}

/* dst = x + skip, broadcast to (@rank, @dims). */
static void lnorm_sum(lm_kctx *k, const loom_tensor *x, const loom_tensor *skip, int rank,
                      const int64_t *dims, float *dst)
{
    const loom_tensor *ins[2] = {x, skip};
    lm_bcast p;
    lm_bcast_plan(&p, rank, dims, 2, ins);
    sum_ctx c = {x->data, skip->data, dst};
    lm_bcast_run(k, &p, 1.0, sum_row, &c);
}

/* Mean and InvStdDev (outputs 1, 2) and the sum (3) where the node has them. */
static loom_status lnorm_extra_outputs(lm_kctx *k, int rank, const int64_t *dims, int axis,
                                       loom_tensor **mean, loom_tensor **istd, loom_tensor **sum)
{
    int64_t sd[LOOM_MAX_RANK];
    for (int i = 0; i < rank; i++)
        sd[i] = i < axis ? dims[i] : 1;
    /* Statistics are computed in double and stored as float (stash_type's
     * precision is at least that of float). */
    if (output_present(k, 1) && !(*mean = lm_kout(k, 1, LOOM_DTYPE_FLOAT, rank, sd)))
        return LOOM_ERR_NO_MEMORY;
    if (output_present(k, 2) && !(*istd = lm_kout(k, 2, LOOM_DTYPE_FLOAT, rank, sd)))
        return LOOM_ERR_NO_MEMORY;
    if (output_present(k, 3) && !(*sum = lm_kout(k, 3, LOOM_DTYPE_FLOAT, rank, dims)))
        return LOOM_ERR_NO_MEMORY;
    return LOOM_OK;
}

static loom_status op_layernorm(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 4);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *sc = lm_kin(k, 1), *b = lm_kin(k, 2),
                      *skip = lm_kin(k, 3);
    if ((st = need_float(k, x, "X")) || (st = need_float(k, sc, "Scale")) ||
        (st = need_float(k, b, "B")) || (st = need_float(k, skip, "Skip")))
        return st;
    int64_t stash = lm_node_attr_int(k->node, "stash_type", 1);
    if (stash != LOOM_DTYPE_FLOAT && stash != LOOM_DTYPE_DOUBLE)
        return lm_kunsupported(k, "stash_type %lld is not float or double", (long long)stash);
    if (output_present(k, 3) && !skip)
        return lm_kinvalid(k, "the sum output needs the Skip input");
    int rank, axis;
    int64_t dims[LOOM_MAX_RANK];
    if ((st = lnorm_shape(k, x, skip, &rank, dims)) != LOOM_OK)
        return st;
    if (rank < 1)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X must have rank >= 1");
    if ((st = lm_kaxis(k, lm_node_attr_int(k->node, "axis", -1), rank, &axis)) != LOOM_OK)
        return st;
    int nrank = rank - axis;
    const int64_t *nd = dims + axis;
    int64_t inner = lm_dims_count(nrank, nd), outer = lm_dims_count(axis, dims);
    if ((st = expand_param(k, sc, nrank, nd, inner, NULL, "Scale")) ||
        (b && (st = expand_param(k, b, nrank, nd, inner, NULL, "B"))))
        return st;
    loom_tensor *y = lm_kout(k, 0, x->dtype, rank, dims), *mean = NULL, *istd = NULL, *sum = NULL;
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if ((st = lnorm_extra_outputs(k, rank, dims, axis, &mean, &istd, &sum)) != LOOM_OK)
        return st;
    if (k->dry || outer == 0)
        return LOOM_OK;
    if (inner == 0)
        return lm_kfail(k, LOOM_ERR_SHAPE, "normalizing over an empty extent");
    bool fused = !skip || (has_dims(x, rank, dims) && has_dims(skip, rank, dims));
    size_t tmp = fused || sum ? 0 : (size_t)(outer * inner);
    float *buf = lm_kscratch(k, ((size_t)inner * 2 + tmp) * sizeof(float));
    if (!buf)
        return LOOM_ERR_NO_MEMORY;
    expand_param(k, sc, nrank, nd, inner, buf, "Scale");
    if (b)
        expand_param(k, b, nrank, nd, inner, buf + inner, "B");
    lnorm_job j = {x->data,
                   skip ? skip->data : NULL,
                   buf,
                   b ? buf + inner : NULL,
                   y->data,
                   sum ? sum->data : NULL,
                   mean ? mean->data : NULL,
                   istd ? istd->data : NULL,
                   inner,
                   lm_node_attr_float(k->node, "epsilon", 1e-5f)};
    if (!fused) { /* broadcast: the sum first, then normalise it */
        float *s = sum ? sum->data : buf + 2 * inner;
        lnorm_sum(k, x, skip, rank, dims, s);
        j.x = s;
        j.skip = NULL;
        j.sum = NULL;
    }
    lm_parallel_for(k, outer, 4.0 * (double)inner, lnorm_rows, &j);
    return LOOM_OK;
}

/* ---- LpNormalization ------------------------------------------------------ */

static loom_status op_lpnorm(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 1, 1);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0);
    if ((st = need_float(k, x, "input")) != LOOM_OK)
        return st;
    int64_t p = lm_node_attr_int(k->node, "p", 2);
    if (p != 1 && p != 2)
        return lm_kinvalid(k, "p = %lld: only 1 and 2 are allowed", (long long)p);
    if (x->rank < 1)
        return lm_kfail(k, LOOM_ERR_SHAPE, "input must have rank >= 1");
    int axis;
    if ((st = lm_kaxis(k, lm_node_attr_int(k->node, "axis", -1), x->rank, &axis)) != LOOM_OK)
        return st;
    loom_tensor *y = lm_kout_like(k, 0, x->dtype, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t outer = lm_dims_count(axis, x->dims), n = x->dims[axis];
    int64_t inner = lm_dims_count(x->rank - axis - 1, x->dims + axis + 1);
    const float *xp = x->data;
    float *yp = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = xp + o * n * inner + i;
            float *ys = yp + o * n * inner + i;
            double acc = 0;
            for (int64_t a = 0; a < n; a++)
                acc += p == 1 ? fabs((double)xs[a * inner]) : (double)xs[a * inner] * xs[a * inner];
            float norm = (float)(p == 1 ? acc : sqrt(acc));
            for (int64_t a = 0; a < n; a++)
                ys[a * inner] = xs[a * inner] / norm;
        }
    return LOOM_OK;
}

/* ---- MeanVarianceNormalization ------------------------------------------- */

static loom_status op_mvn(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 1, 1);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0);
    if ((st = need_float(k, x, "X")) != LOOM_OK)
        return st;
    bool reduce[LOOM_MAX_RANK] = {false};
    const int64_t *axes;
    int na = lm_node_attr_ints(k->node, "axes", &axes);
    static const int64_t def_axes[] = {0, 2, 3};
    if (na < 0) {
        if (x->rank < 4)
            return lm_kfail(k, LOOM_ERR_SHAPE, "default axes [0,2,3] need rank >= 4, got %d",
                            x->rank);
        axes = def_axes;
        na = 3;
    }
    for (int i = 0; i < na; i++) {
        int a;
        if ((st = lm_kaxis(k, axes[i], x->rank, &a)) != LOOM_OK)
            return st;
        reduce[a] = true;
    }
    loom_tensor *y = lm_kout_like(k, 0, x->dtype, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    int64_t count = lm_tensor_count(x);
    if (k->dry || count == 0)
        return LOOM_OK;
    /* Group index of each element: its coordinates on the kept axes. */
    int64_t gstride[LOOM_MAX_RANK], groups = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        gstride[d] = reduce[d] ? 0 : groups;
        if (!reduce[d])
            groups *= x->dims[d];
    }
    double *acc = lm_kscratch(k, (size_t)groups * 2 * sizeof(double));
    if (!acc)
        return LOOM_ERR_NO_MEMORY;
    memset(acc, 0, (size_t)groups * 2 * sizeof(double));
    int64_t per_group = count / groups;
    const float *xp = x->data;
    float *yp = y->data;
    for (int pass = 0; pass < 3; pass++) {
        int64_t c[LOOM_MAX_RANK] = {0}, gi = 0;
        for (int64_t e = 0; e < count; e++) {
            if (pass == 0) {
                acc[gi] += xp[e];
            } else if (pass == 1) {
                double dv = xp[e] - acc[gi];
                acc[groups + gi] += dv * dv;
            } else {
                yp[e] = (float)((xp[e] - acc[gi]) / (sqrt(acc[groups + gi]) + 1e-9));
            }
            for (int d = x->rank - 1; d >= 0; d--) {
                gi += gstride[d];
                if (++c[d] < x->dims[d])
                    break;
                gi -= gstride[d] * c[d];
                c[d] = 0;
            }
        }
        for (int64_t g = 0; g < groups; g++) {
            if (pass == 0)
                acc[g] /= (double)per_group;
            else if (pass == 1)
                acc[groups + g] /= (double)per_group;
        }
    }
    return LOOM_OK;
}

/* ---- LRN ------------------------------------------------------------------ */

typedef struct lrn_job {
    const float *x;
    float *y;
    int64_t C, inner, lo, hi; /* window: channels [c - lo, c + hi] */
    float alpha, beta, bias;
    int64_t size;
} lrn_job;

static void lrn_rows(void *arg, int64_t begin, int64_t end)
{
    const lrn_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        int64_t n = r / j->C, c = r % j->C;
        int64_t c0 = c - j->lo < 0 ? 0 : c - j->lo, c1 = c + j->hi >= j->C ? j->C - 1 : c + j->hi;
        const float *xb = j->x + n * j->C * j->inner;
        float *y = j->y + r * j->inner;
        for (int64_t i = 0; i < j->inner; i++) {
            double sq = 0;
            for (int64_t cc = c0; cc <= c1; cc++) {
                double v = xb[cc * j->inner + i];
                sq += v * v;
            }
            double den =
                pow((double)j->bias + (double)j->alpha / (double)j->size * sq, (double)j->beta);
            y[i] = (float)(xb[c * j->inner + i] / den);
        }
    }
}

static loom_status op_lrn(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 1, 1);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0);
    if ((st = need_float(k, x, "X")) != LOOM_OK)
        return st;
    if (x->rank < 3)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X has rank %d, expected N x C x D1 x ... (>= 3)",
                        x->rank);
    if (!lm_node_has_attr(k->node, "size"))
        return lm_kinvalid(k, "attribute size is required");
    int64_t size = lm_node_attr_int(k->node, "size", 1);
    if (size < 1 || size > LM_GEOM_MAX_ATTR)
        return lm_kinvalid(k, "size %lld out of range", (long long)size);
    loom_tensor *y = lm_kout_like(k, 0, x->dtype, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    int64_t count = lm_tensor_count(x);
    if (k->dry || count == 0)
        return LOOM_OK;
    lrn_job j = {x->data,
                 y->data,
                 x->dims[1],
                 count / (x->dims[0] * x->dims[1]),
                 (size - 1) / 2,
                 size - 1 - (size - 1) / 2,
                 lm_node_attr_float(k->node, "alpha", 1e-4f),
                 lm_node_attr_float(k->node, "beta", 0.75f),
                 lm_node_attr_float(k->node, "bias", 1.0f),
                 size};
    lm_parallel_for(k, x->dims[0] * x->dims[1], (double)j.inner * (double)size, lrn_rows, &j);
    return LOOM_OK;
}

const lm_op_def lm_ops_norm[] = {
    {.domain = "",
     .op_type = "BatchNormalization",
     .run = op_batchnorm,
     .flags = LM_OP_FUSES_ACTIVATION | LM_OP_WRITES_OUTPUTS},
    LM_OP_FULL("", "InstanceNormalization", op_instancenorm),
    LM_OP_FULL("", "LayerNormalization", op_layernorm),
    LM_OP_FULL("", "LpNormalization", op_lpnorm),
    LM_OP_FULL("", "MeanVarianceNormalization", op_mvn),
    LM_OP_FULL("", "LRN", op_lrn),
    LM_OP_END,
};
