/*
 * loss.c - NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12+),
 * float32 and double, inputs N x C x d1 x ... x dk, targets N x d1 x ... x dk.
 *
 * Both reduce to one routine over (n, position): loss = -logp[n, t, pos] * w[t]
 * with t the target class; ignored targets contribute 0 and no weight. "mean"
 * divides by the total weight of the targets that count (ONNX's definition).
 */
#include <math.h>
#include <string.h>

#include "more_ops.h"

enum { RED_NONE, RED_SUM, RED_MEAN };

typedef struct loss_cfg {
    int64_t N, C, D; /* D: product of the dims after C */
    int red;
    bool has_ii;
    int64_t ii;
} loss_cfg;

/* Validates input/target/weight shapes and reads attributes. */
static loom_status loss_setup(lm_kctx *k, loss_cfg *c)
{
    MO_TRY(lm_kcheck_arity(k, 2, 3));
    const loom_tensor *x = lm_kin(k, 0), *t = lm_kin(k, 1), *w = lm_kin(k, 2);
    if (x->dtype != LOOM_DTYPE_FLOAT && x->dtype != LOOM_DTYPE_DOUBLE)
        return lm_kunsupported(k, "input has dtype %s (float32, double supported)",
                               loom_dtype_name(x->dtype));
    if (w && w->dtype != x->dtype)
        return lm_kinvalid(k, "weight has dtype %s, input has %s", loom_dtype_name(w->dtype),
                           loom_dtype_name(x->dtype));
    if (t->dtype != LOOM_DTYPE_INT32 && t->dtype != LOOM_DTYPE_INT64)
        return lm_kinvalid(k, "target has dtype %s, expected int32 or int64",
                           loom_dtype_name(t->dtype));
    if (x->rank < 2)
        return lm_kfail(k, LOOM_ERR_SHAPE, "input has rank %d, expected N x C x ... (>= 2)",
                        x->rank);
    if (t->rank != x->rank - 1)
        return lm_kfail(k, LOOM_ERR_SHAPE, "target has rank %d, expected %d", t->rank, x->rank - 1);
    if (t->dims[0] != x->dims[0])
        return lm_kfail(k, LOOM_ERR_SHAPE, "target dim 0 is %lld, input's N is %lld",
                        (long long)t->dims[0], (long long)x->dims[0]);
    c->N = x->dims[0];
    c->C = x->dims[1];
    c->D = 1;
    for (int i = 2; i < x->rank; i++) {
        if (t->dims[i - 1] != x->dims[i])
            return lm_kfail(k, LOOM_ERR_SHAPE, "target dim %d is %lld, input dim %d is %lld", i - 1,
                            (long long)t->dims[i - 1], i, (long long)x->dims[i]);
        c->D *= x->dims[i]; /* bounded: x's element count is */
    }
    if (w && (w->rank != 1 || w->dims[0] != c->C))
        return lm_kfail(k, LOOM_ERR_SHAPE, "weight must have shape [%lld]", (long long)c->C);
    const char *red = lm_node_attr_str(k->node, "reduction", "mean");
    if (strcmp(red, "none") == 0)
        c->red = RED_NONE;
    else if (strcmp(red, "sum") == 0)
        c->red = RED_SUM;
    else if (strcmp(red, "mean") == 0)
        c->red = RED_MEAN;
    else
        return lm_kinvalid(k, "reduction '%s' is not none, sum or mean", red);
    c->has_ii = lm_node_has_attr(k->node, "ignore_index");
    c->ii = lm_node_attr_int(k->node, "ignore_index", 0);
    return LOOM_OK;
}

/* Declares the loss output: target's shape for "none", else a scalar. */
static loom_tensor *loss_out(lm_kctx *k, const loss_cfg *c, loom_dtype dt)
{
    const loom_tensor *t = lm_kin(k, 1);
    if (c->red == RED_NONE)
        return lm_kout(k, 0, dt, t->rank, t->dims);
    return lm_kout(k, 0, dt, 0, NULL);
}

/* Copies the targets to int64 in *@out, checking each is a class index or the
 * ignore index. */
static loom_status read_targets(lm_kctx *k, const loss_cfg *c, const loom_tensor *t,
                                const int64_t **out)
{
    int64_t n = lm_tensor_count(t);
    int64_t *v64 = lm_kscratch(k, (size_t)(n + 1) * sizeof(int64_t));
    if (!v64)
        return LOOM_ERR_NO_MEMORY;
    *out = v64;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = t->dtype == LOOM_DTYPE_INT32 ? ((const int32_t *)t->data)[i]
                                                 : ((const int64_t *)t->data)[i];
        v64[i] = v;
        if ((c->has_ii && v == c->ii))
            continue;
        if (v < 0 || v >= c->C)
            return lm_kinvalid(k, "target[%lld] = %lld is not a class in [0, %lld)", (long long)i,
                               (long long)v, (long long)c->C);
    }
    return LOOM_OK;
}

#define DEFINE_NLL(NAME, T)                                                                        \
    static void NAME(const loss_cfg *c, const T *lp, const int64_t *tg, const T *w, T *out)        \
    {                                                                                              \
        double sum = 0, wsum = 0;                                                                  \
        for (int64_t n = 0; n < c->N; n++) {                                                       \
            for (int64_t i = 0; i < c->D; i++) {                                                   \
                int64_t p = n * c->D + i;                                                          \
                int64_t t = tg[p];                                                                 \
                double l = 0, wt = 0;                                                              \
                if (!(c->has_ii && t == c->ii)) {                                                  \
                    wt = w ? (double)w[t] : 1.0;                                                   \
                    l = -(double)lp[(n * c->C + t) * c->D + i] * wt;                               \
                }                                                                                  \
                if (c->red == RED_NONE)                                                            \
                    out[p] = (T)l;                                                                 \
                sum += l;                                                                          \
                wsum += wt;                                                                        \
            }                                                                                      \
        }                                                                                          \
        if (c->red == RED_SUM)                                                                     \
            out[0] = (T)sum;                                                                       \
        else if (c->red == RED_MEAN)                                                               \
            out[0] = (T)(sum / wsum);                                                              \
    }

DEFINE_NLL(nll_f32, float)
DEFINE_NLL(nll_f64, double)

/* log_softmax over the class axis of an N x C x D tensor. */
#define DEFINE_LOG_SOFTMAX(NAME, T)                                                                \
    static void NAME(const loss_cfg *c, const T *x, T *y)                                          \
    {                                                                                              \
        for (int64_t n = 0; n < c->N; n++) {                                                       \
            for (int64_t i = 0; i < c->D; i++) {                                                   \
                const T *xp = x + n * c->C * c->D + i;                                             \
                T *yp = y + n * c->C * c->D + i;                                                   \
                double mx = -INFINITY, s = 0;                                                      \
                for (int64_t j = 0; j < c->C; j++)                                                 \
                    mx = fmax(mx, (double)xp[j * c->D]);                                           \
                for (int64_t j = 0; j < c->C; j++)                                                 \
                    s += exp((double)xp[j * c->D] - mx);                                           \
                double ls = log(s) + mx;                                                           \
                for (int64_t j = 0; j < c->C; j++)                                                 \
                    yp[j * c->D] = (T)((double)xp[j * c->D] - ls);                                 \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_LOG_SOFTMAX(log_softmax_f32, float)
DEFINE_LOG_SOFTMAX(log_softmax_f64, double)

static loom_status op_nllloss(lm_kctx *k)
{
    loss_cfg c;
    MO_TRY(loss_setup(k, &c));
    const loom_tensor *x = lm_kin(k, 0), *t = lm_kin(k, 1), *w = lm_kin(k, 2);
    loom_tensor *y = loss_out(k, &c, x->dtype);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    const int64_t *tg;
    MO_TRY(read_targets(k, &c, t, &tg));
    if (x->dtype == LOOM_DTYPE_FLOAT)
        nll_f32(&c, x->data, tg, w ? w->data : NULL, y->data);
    else
        nll_f64(&c, x->data, tg, w ? w->data : NULL, y->data);
    return LOOM_OK;
}

static loom_status op_sce(lm_kctx *k)
{
    loss_cfg c;
    MO_TRY(loss_setup(k, &c));
    const loom_tensor *x = lm_kin(k, 0), *t = lm_kin(k, 1), *w = lm_kin(k, 2);
    loom_tensor *y = loss_out(k, &c, x->dtype);
    if (!y)
        return LM_KOUT_FAILED;
    loom_tensor *lp = NULL;
    if (mo_has_out(k, 1) && !(lp = lm_kout_like(k, 1, x->dtype, x)))
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    const int64_t *tg;
    MO_TRY(read_targets(k, &c, t, &tg));
    size_t esz = x->dtype == LOOM_DTYPE_FLOAT ? sizeof(float) : sizeof(double);
    void *buf = lp ? lp->data : lm_kscratch(k, (size_t)lm_tensor_count(x) * esz + esz);
    if (!buf)
        return LOOM_ERR_NO_MEMORY;
    if (x->dtype == LOOM_DTYPE_FLOAT) {
        log_softmax_f32(&c, x->data, buf);
        nll_f32(&c, buf, tg, w ? w->data : NULL, y->data);
    } else {
        log_softmax_f64(&c, x->data, buf);
        nll_f64(&c, buf, tg, w ? w->data : NULL, y->data);
    }
    return LOOM_OK;
}

const lm_op_def lm_ops_loss[] = {
    LM_OP("", "NegativeLogLikelihoodLoss", op_nllloss),
    LM_OP("", "SoftmaxCrossEntropyLoss", op_sce),
    LM_OP_END,
};
