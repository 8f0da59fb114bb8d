/*
 * activation_epilogue.h - reads the activation a graph pass fused into a
 * Conv, Gemm or MatMul node.
 *
 * The pass (runtime/core) sets _loom_act to the op type of the activation it
 * removed ("Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish",
 * "Sigmoid", "Gelu", "Mish"; "Silu" for x * Sigmoid(x), which is no ONNX op) and
 * _loom_alpha / _loom_beta to its parameters (Clip min/max, LeakyRelu alpha,
 * HardSigmoid alpha/beta, Gelu 1 for the tanh approximation). Without _loom_act there is no
 * activation. Defaults follow ONNX's for each op.
 */
#ifndef LOOM_CPU_OPS_ACTIVATION_EPILOGUE_H
#define LOOM_CPU_OPS_ACTIVATION_EPILOGUE_H

#include <math.h>
#include <string.h>

#include "../activation.h"
#include "../../core/op.h"

/* Fills @act from the node's attributes; fails the node on an unknown name. */
static inline loom_status lm_kact(lm_kctx *k, lm_act *act)
{
    const char *name = lm_node_attr_str(k->node, "_loom_act", NULL);
    *act = (lm_act){LM_ACT_NONE, 0.0f, 0.0f};
    if (!name || !name[0])
        return LOOM_OK;
    if (strcmp(name, "Relu") == 0) {
        act->kind = LM_ACT_RELU;
    } else if (strcmp(name, "Clip") == 0) {
        act->kind = LM_ACT_CLIP;
        act->alpha = lm_node_attr_float(k->node, "_loom_alpha", -INFINITY);
        act->beta = lm_node_attr_float(k->node, "_loom_beta", INFINITY);
    } else if (strcmp(name, "LeakyRelu") == 0) {
        act->kind = LM_ACT_LEAKY_RELU;
        act->alpha = lm_node_attr_float(k->node, "_loom_alpha", 0.01f);
    } else if (strcmp(name, "HardSigmoid") == 0) {
        act->kind = LM_ACT_HARD_SIGMOID;
        act->alpha = lm_node_attr_float(k->node, "_loom_alpha", 0.2f);
        act->beta = lm_node_attr_float(k->node, "_loom_beta", 0.5f);
    } else if (strcmp(name, "HardSwish") == 0) {
        act->kind = LM_ACT_HARD_SWISH;
    } else if (strcmp(name, "Sigmoid") == 0) {
        act->kind = LM_ACT_SIGMOID;
    } else if (strcmp(name, "Silu") == 0) {
        act->kind = LM_ACT_SILU;
    } else if (strcmp(name, "Mish") == 0) {
        act->kind = LM_ACT_MISH;
    } else if (strcmp(name, "Gelu") == 0) { /* _loom_alpha 1: approximate = "tanh" */
        act->kind =
            lm_node_attr_float(k->node, "_loom_alpha", 0) != 0 ? LM_ACT_GELU_TANH : LM_ACT_GELU;
    } else {
        return lm_kunsupported(k,
                               "fused activation '%s' is not one of Relu, Clip, LeakyRelu, "
                               "HardSigmoid, HardSwish, Sigmoid, Silu, Gelu, Mish",
                               name);
    }
    return LOOM_OK;
}

#endif
