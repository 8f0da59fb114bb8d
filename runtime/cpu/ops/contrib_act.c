/*
 * contrib_act.c - ONNX Runtime's com.microsoft float activations that its
 * transformer optimizer writes in place of an encoder's subgraphs: Gelu,
 * BiasGelu, FastGelu (the tanh form, with an optional bias), QuickGelu
 * (x * sigmoid(alpha * x)) and BiasAdd (X + bias + skip).
 *
 * Each is a bias added along the last axis and one of vmath's vectorised
 * functions over the row, the same functions as the Gelu/Sigmoid ops and
 * the GEMM epilogues, so a fused and an unfused graph round alike.
 */
#include <string.h>

#include "../vmath.h"
#include "../../core/op.h"

/* How a row is finished after the bias: y = f(v), or v * sigmoid(alpha v). */
typedef struct act_job {
    const float *x, *bias, *skip; /* bias: one row of C, or NULL; skip: like x, or NULL */
    float *y;
    int64_t C;
    lm_vm_fn fn; /* LM_VM_NFN: no function */
    bool quick;  /* QuickGelu */
    float alpha;
} act_job;

static void quick_gelu_row(const float *x, float *y, int64_t n, float alpha, float *tmp)
{
    for (int64_t i = 0; i < n; i++)
        tmp[i] = x[i] * alpha;
    lm_vm_apply(LM_VM_SIGMOID, tmp, tmp, n);
    lm_vm_binary(LM_VB_MUL, x, tmp, y, n, 1, 1);
}

static void act_rows(void *arg, int64_t begin, int64_t end)
{
    const act_job *j = arg;
    float tmp[256];
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->x + r * j->C;
        float *y = j->y + r * j->C;
        const float *src = x;
        if (j->bias) {
            lm_vm_binary(LM_VB_ADD, src, j->bias, y, j->C, 1, 1);
            src = y;
        }
        if (j->skip) {
            lm_vm_binary(LM_VB_ADD, src, j->skip + r * j->C, y, j->C, 1, 1);
            src = y;
        }
        if (j->fn != LM_VM_NFN)
            lm_vm_apply(j->fn, src, y, j->C);
        else if (j->quick)
            for (int64_t o = 0; o < j->C; o += 256)
                quick_gelu_row(src + o, y + o, j->C - o < 256 ? j->C - o : 256, j->alpha, tmp);
    }
}

/* X, float of rank >= 1, and its bias (input @bi, absent when bi < 0 or not
 * given): a vector of X's last dimension. */
static loom_status act_inputs(lm_kctx *k, int bi, bool bias_required, act_job *j)
{
    const loom_tensor *x = lm_kin(k, 0), *b = bi >= 0 ? lm_kin(k, bi) : NULL;
    if (!x || x->dtype != LOOM_DTYPE_FLOAT || x->rank < 1)
        return lm_kunsupported(k, "X must be float32 of rank 1 or more");
    j->C = x->dims[x->rank - 1];
    if (bias_required && !b)
        return lm_kinvalid(k, "the bias input is required");
    if (b && (b->dtype != LOOM_DTYPE_FLOAT || b->rank != 1 || b->dims[0] != j->C))
        return lm_kfail(k, LOOM_ERR_SHAPE,
                        "the bias must be float32 of shape [%lld], X's last dimension",
                        (long long)j->C);
    j->x = x->data;
    j->bias = b ? b->data : NULL;
    return LOOM_OK;
}

static loom_status act_run(lm_kctx *k, act_job *j)
{
    const loom_tensor *x = lm_kin(k, 0);
    loom_tensor *y = lm_kout_like(k, 0, LOOM_DTYPE_FLOAT, x);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry || j->C == 0)
        return LOOM_OK;
    j->y = y->data;
    lm_parallel_for(k, lm_tensor_count(x) / j->C, 3.0 * (double)j->C, act_rows, j);
    return LOOM_OK;
}

static loom_status op_gelu(lm_kctx *k)
{
    act_job j = {.fn = LM_VM_GELU};
    loom_status st = lm_kcheck_arity(k, 1, 1);
    if (st || (st = act_inputs(k, -1, false, &j)))
        return st;
    return act_run(k, &j);
}

static loom_status op_bias_gelu(lm_kctx *k)
{
    act_job j = {.fn = LM_VM_GELU};
    loom_status st = lm_kcheck_arity(k, 2, 2);
    if (st || (st = act_inputs(k, 1, true, &j)))
        return st;
    return act_run(k, &j);
}

static loom_status op_fast_gelu(lm_kctx *k)
{
    act_job j = {.fn = LM_VM_GELU_TANH};
    loom_status st = lm_kcheck_arity(k, 1, 2);
    if (st || (st = act_inputs(k, 1, false, &j)))
        return st;
    return act_run(k, &j);
}

static loom_status op_quick_gelu(lm_kctx *k)
{
    act_job j = {
        .fn = LM_VM_NFN, .quick = true, .alpha = lm_node_attr_float(k->node, "alpha", 1.702f)};
    loom_status st = lm_kcheck_arity(k, 1, 1);
    if (st || (st = act_inputs(k, -1, false, &j)))
        return st;
    return act_run(k, &j);
}

/* BiasAdd: Y = X + bias + skip, X and skip [N, S, C], bias [C]. */
static loom_status op_bias_add(lm_kctx *k)
{
    act_job j = {.fn = LM_VM_NFN};
    loom_status st = lm_kcheck_arity(k, 3, 3);
    if (st || (st = act_inputs(k, 1, true, &j)))
        return st;
    const loom_tensor *x = lm_kin(k, 0), *s = lm_kin(k, 2);
    if (x->rank != 3)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X must have rank 3 (got %d)", x->rank);
    if (s->dtype != LOOM_DTYPE_FLOAT || s->rank != 3 ||
        memcmp(s->dims, x->dims, 3 * sizeof(int64_t)) != 0)
        return lm_kfail(k, LOOM_ERR_SHAPE, "skip must be float32 of X's shape");
    j.skip = s->data;
    return act_run(k, &j);
}

const lm_op_def lm_ops_contrib_act[] = {
    LM_OP_FULL("com.microsoft", "Gelu", op_gelu),
    LM_OP_FULL("com.microsoft", "BiasGelu", op_bias_gelu),
    LM_OP_FULL("com.microsoft", "FastGelu", op_fast_gelu),
    LM_OP_FULL("com.microsoft", "QuickGelu", op_quick_gelu),
    LM_OP_FULL("com.microsoft", "BiasAdd", op_bias_add),
    LM_OP_END,
};
