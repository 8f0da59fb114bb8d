/*
 * activation.h - activations that GEMM-based kernels apply in their epilogue.
 *
 * A graph pass fuses a Relu/Clip/... that follows a Conv, Gemm or MatMul into
 * the node (attributes _loom_act, _loom_alpha, _loom_beta, read by
 * ops/activation_epilogue.h). The GEMM then applies it to each output tile
 * while the tile is still in registers (clamps) or in L1 (the others), which
 * saves a full pass over the output.
 */
#ifndef LOOM_CPU_ACTIVATION_H
#define LOOM_CPU_ACTIVATION_H

#include <math.h>
#include <stdint.h>

#include "vmath.h"

typedef enum lm_act_kind {
    LM_ACT_NONE,
    LM_ACT_RELU,
    LM_ACT_CLIP,         /* alpha = min, beta = max */
    LM_ACT_LEAKY_RELU,   /* alpha = slope for x < 0 */
    LM_ACT_HARD_SIGMOID, /* max(0, min(1, alpha * x + beta)) */
    LM_ACT_HARD_SWISH,   /* x * max(0, min(1, x / 6 + 1 / 2)) */
    LM_ACT_SIGMOID,
    LM_ACT_SILU,      /* x * sigmoid(x) */
    LM_ACT_GELU,      /* x / 2 (1 + erf(x / sqrt 2)) */
    LM_ACT_GELU_TANH, /* GELU's tanh approximation */
    LM_ACT_MISH,      /* x * tanh(softplus(x)) */
} lm_act_kind;

typedef struct lm_act {
    lm_act_kind kind;
    float alpha, beta;
} lm_act;

/* True when the activation is a clamp to [*lo, *hi], which micro-kernels do in
 * registers; the bounds are +-INFINITY where open. */
static inline int lm_act_as_clamp(const lm_act *a, float *lo, float *hi)
{
    switch (a->kind) {
    case LM_ACT_NONE:
        *lo = -INFINITY;
        *hi = INFINITY;
        return 1;
    case LM_ACT_RELU:
        *lo = 0.0f;
        *hi = INFINITY;
        return 1;
    case LM_ACT_CLIP:
        *lo = a->alpha;
        *hi = a->beta;
        return 1;
    default:
        return 0;
    }
}

/* x[0..n) = act(x) in place, in portable C: the reference the vector forms
 * match. NaN passes through the clamps like ONNX's ops. */
static inline void lm_act_apply_scalar(const lm_act *a, float *x, int64_t n)
{
    float al = a->alpha, be = a->beta;
    switch (a->kind) {
    case LM_ACT_NONE:
        break;
    case LM_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case LM_ACT_CLIP:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < al ? al : x[i];
            x[i] = v > be ? be : v;
        }
        break;
    case LM_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] < 0.0f ? al * x[i] : x[i];
        break;
    case LM_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = al * x[i] + be;
            v = v < 0.0f ? 0.0f : v;
            x[i] = v > 1.0f ? 1.0f : v;
        }
        break;
    case LM_ACT_HARD_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] * (1.0f / 6.0f) + 0.5f;
            v = v < 0.0f ? 0.0f : v;
            v = v > 1.0f ? 1.0f : v;
            x[i] = x[i] * v;
        }
        break;
    case LM_ACT_SIGMOID: /* vmath's portable form, which its vector forms match */
        lm_vm_apply_isa(LM_VM_SCALAR, LM_VM_SIGMOID, x, x, n);
        break;
    case LM_ACT_SILU:
        lm_vm_apply_isa(LM_VM_SCALAR, LM_VM_SILU, x, x, n);
        break;
    case LM_ACT_GELU:
        lm_vm_apply_isa(LM_VM_SCALAR, LM_VM_GELU, x, x, n);
        break;
    case LM_ACT_GELU_TANH:
        lm_vm_apply_isa(LM_VM_SCALAR, LM_VM_GELU_TANH, x, x, n);
        break;
    case LM_ACT_MISH:
        lm_vm_apply_isa(LM_VM_SCALAR, LM_VM_MISH, x, x, n);
        break;
    }
}

/* The same with the widest vectors the CPU has (activation.c): plain C leaves
 * the kinds that are not clamps scalar and branchy. */
void lm_act_apply_vec(const lm_act *a, float *x, int64_t n);

/* x[0..n) = act(x) in place. Short clamps (a GEMM tile's row) stay inline,
 * where the compiler vectorizes them for the baseline ISA; long ones and the
 * other kinds go to lm_act_apply_vec. */
static inline void lm_act_apply(const lm_act *a, float *x, int64_t n)
{
    if (a->kind == LM_ACT_NONE)
        return;
    if ((a->kind == LM_ACT_RELU || a->kind == LM_ACT_CLIP) && n < 64)
        lm_act_apply_scalar(a, x, n);
    else
        lm_act_apply_vec(a, x, n);
}

/* act over a rows x n tile of C with row stride ldc (a GEMM epilogue): the
 * same results as lm_act_apply per row, with the dispatch paid once. */
void lm_act_apply_tile(const lm_act *a, float *c, int64_t ldc, int64_t rows, int64_t n);

#endif
