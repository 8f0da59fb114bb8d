/*
 * training.c - the optimizer steps of the ai.onnx.preview.training domain:
 * Adagrad, Momentum (standard and Nesterov) and Adam, float32 and double.
 * Each node updates n tensors at once: inputs R, T, then n X, n G and the n
 * (or 2n for Adam) optimizer states; outputs the new X and states, in the
 * same order. Arithmetic in double, as the ONNX reference does with numpy.
 */
#include <math.h>
#include <string.h>

#include "more_ops.h"

enum opt_kind { OPT_ADAGRAD, OPT_MOMENTUM, OPT_ADAM };

typedef struct opt_params {
    enum opt_kind kind;
    double r;  /* learning rate as the update uses it */
    int64_t t; /* update count */
    double decay, eps, norm, norm_post, alpha, beta;
    bool nesterov;
} opt_params;

/* Per-element update of one tensor; @s1/@s2 the states (s2 only for Adam). */
#define DEFINE_OPT_STEP(NAME, T)                                                                   \
    static void NAME(const opt_params *p, int64_t n, const T *x, const T *g, const T *s1,          \
                     const T *s2, T *xo, T *s1o, T *s2o)                                           \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double gr = p->norm * (double)x[i] + (double)g[i], xn;                                 \
            if (p->kind == OPT_ADAGRAD) {                                                          \
                double h = (double)s1[i] + gr * gr;                                                \
                xn = (double)x[i] - p->r * gr / (sqrt(h) + p->eps);                                \
                if (s1o)                                                                           \
                    s1o[i] = (T)h;                                                                 \
            } else if (p->kind == OPT_MOMENTUM) {                                                  \
                double v = p->alpha * (double)s1[i] + p->beta * gr;                                \
                xn = (double)x[i] - p->r * (p->nesterov ? gr + p->alpha * v : v);                  \
                if (s1o)                                                                           \
                    s1o[i] = (T)v;                                                                 \
            } else {                                                                               \
                double v = p->alpha * (double)s1[i] + (1 - p->alpha) * gr;                         \
                double h = p->beta * (double)s2[i] + (1 - p->beta) * gr * gr;                      \
                xn = (1 - p->norm_post) * ((double)x[i] - p->r * (v / (sqrt(h) + p->eps)));        \
                if (s1o)                                                                           \
                    s1o[i] = (T)v;                                                                 \
                if (s2o)                                                                           \
                    s2o[i] = (T)h;                                                                 \
            }                                                                                      \
            if (xo)                                                                                \
                xo[i] = (T)xn;                                                                     \
        }                                                                                          \
    }

DEFINE_OPT_STEP(opt_step_f32, float)
DEFINE_OPT_STEP(opt_step_f64, double)

static loom_status run_optimizer(lm_kctx *k, enum opt_kind kind)
{
    int states = kind == OPT_ADAM ? 2 : 1, per = 2 + states;
    if (k->n_in < 2 + per || (k->n_in - 2) % per != 0)
        return lm_kinvalid(k, "has %d inputs, expected R, T and %d per tensor", k->n_in, per);
    int n = (k->n_in - 2) / per;
    if (k->n_out > n * (1 + states))
        return lm_kinvalid(k, "has %d outputs, expected at most %d", k->n_out, n * (1 + states));
    for (int i = 0; i < k->n_in; i++)
        if (!lm_kin(k, i))
            return lm_kinvalid(k, "input %d is missing", i);
    const loom_tensor *R = lm_kin(k, 0), *T = lm_kin(k, 1);
    if (lm_tensor_count(R) != 1 || !lm_dtype_is_float(R->dtype))
        return lm_kinvalid(k, "R must be one float value");
    if (lm_tensor_count(T) != 1 || T->dtype != LOOM_DTYPE_INT64)
        return lm_kinvalid(k, "T must be one int64 value");
    for (int j = 0; j < n; j++) {
        const loom_tensor *x = lm_kin(k, 2 + j);
        if (x->dtype != LOOM_DTYPE_FLOAT && x->dtype != LOOM_DTYPE_DOUBLE)
            return lm_kunsupported(k, "X%d has dtype %s (float32, double supported)", j + 1,
                                   loom_dtype_name(x->dtype));
        for (int s = 1; s < per; s++) {
            const loom_tensor *o = lm_kin(k, 2 + s * n + j);
            bool same = o->dtype == x->dtype && o->rank == x->rank;
            for (int d = 0; same && d < x->rank; d++)
                same = o->dims[d] == x->dims[d];
            if (!same)
                return lm_kfail(k, LOOM_ERR_SHAPE, "input %d must have X%d's dtype and shape",
                                2 + s * n + j, j + 1);
        }
    }
    opt_params p;
    memset(&p, 0, sizeof(p));
    p.kind = kind;
    if (kind == OPT_ADAGRAD) {
        p.decay = lm_node_attr_float(k->node, "decay_factor", 0.0f);
        p.eps = lm_node_attr_float(k->node, "epsilon", 1e-6f);
        p.norm = lm_node_attr_float(k->node, "norm_coefficient", 0.0f);
    } else if (kind == OPT_MOMENTUM) {
        static const char *const req[] = {"alpha", "beta", "mode", "norm_coefficient"};
        for (int i = 0; i < 4; i++)
            if (!lm_node_has_attr(k->node, req[i]))
                return lm_kinvalid(k, "attribute '%s' is required", req[i]);
        p.alpha = lm_node_attr_float(k->node, "alpha", 0.0f);
        p.beta = lm_node_attr_float(k->node, "beta", 0.0f);
        p.norm = lm_node_attr_float(k->node, "norm_coefficient", 0.0f);
        const char *mode = lm_node_attr_str(k->node, "mode", "standard");
        if (strcmp(mode, "nesterov") == 0)
            p.nesterov = true;
        else if (strcmp(mode, "standard") != 0)
            return lm_kinvalid(k, "mode '%s' is not standard or nesterov", mode);
    } else {
        p.alpha = lm_node_attr_float(k->node, "alpha", 0.9f);
        p.beta = lm_node_attr_float(k->node, "beta", 0.999f);
        p.eps = lm_node_attr_float(k->node, "epsilon", 1e-6f);
        p.norm = lm_node_attr_float(k->node, "norm_coefficient", 0.0f);
        p.norm_post = lm_node_attr_float(k->node, "norm_coefficient_post", 0.0f);
    }
    loom_tensor *outs[64] = {NULL};
    if (k->n_out > 64)
        return lm_kunsupported(k, "more than 64 outputs");
    for (int i = 0; i < k->n_out; i++) {
        if (!mo_has_out(k, i))
            continue;
        const loom_tensor *like = lm_kin(k, 2 + (i / n == 0 ? 0 : (i / n + 1) * n) + i % n);
        if (!(outs[i] = lm_kout_like(k, i, like->dtype, like)))
            return LM_KOUT_FAILED;
    }
    if (k->dry)
        return LOOM_OK;
    MO_TRY(lm_kneed_data(k, 0));
    MO_TRY(lm_kneed_data(k, 1));
    double r = lm_tensor_get_f64(R, 0);
    p.t = lm_tensor_get_i64(T, 0);
    if (kind == OPT_ADAGRAD) {
        p.r = r / (1.0 + (double)p.t * p.decay);
    } else if (kind == OPT_MOMENTUM) {
        p.r = r;
        if (p.t <= 0)
            p.beta = 1.0; /* the first step takes the whole gradient */
    } else {
        p.r = p.t > 0 ? r * sqrt(1.0 - pow(p.beta, (double)p.t)) / (1.0 - pow(p.alpha, (double)p.t))
                      : r;
    }
    for (int j = 0; j < n; j++) {
        const loom_tensor *x = lm_kin(k, 2 + j), *g = lm_kin(k, 2 + n + j);
        const loom_tensor *s1 = lm_kin(k, 2 + 2 * n + j);
        const loom_tensor *s2 = states == 2 ? lm_kin(k, 2 + 3 * n + j) : NULL;
        loom_tensor *xo = outs[j], *s1o = n + j < k->n_out ? outs[n + j] : NULL;
        loom_tensor *s2o = states == 2 && 2 * n + j < k->n_out ? outs[2 * n + j] : NULL;
        int64_t cnt = lm_tensor_count(x);
        if (x->dtype == LOOM_DTYPE_FLOAT)
            opt_step_f32(&p, cnt, x->data, g->data, s1->data, s2 ? s2->data : NULL,
                         xo ? xo->data : NULL, s1o ? s1o->data : NULL, s2o ? s2o->data : NULL);
        else
            opt_step_f64(&p, cnt, x->data, g->data, s1->data, s2 ? s2->data : NULL,
                         xo ? xo->data : NULL, s1o ? s1o->data : NULL, s2o ? s2o->data : NULL);
    }
    return LOOM_OK;
}

static loom_status op_adagrad(lm_kctx *k)
{
    return run_optimizer(k, OPT_ADAGRAD);
}

static loom_status op_momentum(lm_kctx *k)
{
    return run_optimizer(k, OPT_MOMENTUM);
}

static loom_status op_adam(lm_kctx *k)
{
    return run_optimizer(k, OPT_ADAM);
}

const lm_op_def lm_ops_training[] = {
    LM_OP("ai.onnx.preview.training", "Adagrad", op_adagrad),
    LM_OP("ai.onnx.preview.training", "Momentum", op_momentum),
    LM_OP("ai.onnx.preview.training", "Adam", op_adam),
    LM_OP_END,
};
