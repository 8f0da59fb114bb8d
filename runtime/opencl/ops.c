/*
 * ops.c - which nodes the OpenCL backend runs, and how each becomes launches.
 *
 * supports() is exact: a node is claimed only when every input is float32
 * (besides the constant shape-like inputs an op reads on the host), every
 * attribute value is one the kernels implement, and indices fit in 32 bits.
 * Anything else stays on the CPU (or, with fallback off, is reported
 * unsupported). Shapes the planner computed are trusted: the CPU's dry pass
 * has validated them before a device sees the node.
 */
#include <string.h>

#include "ops_common.h"

/* ---- the table ---- */

typedef struct op_entry {
    const char *op;
    supports_fn supports;
    lower_fn lower;
} op_entry;

static const op_entry ops[] = {
    {"Gemm", lm_cl_sup_gemm, lm_cl_low_gemm},
    {"MatMul", lm_cl_sup_matmul, lm_cl_low_matmul},
    {"Conv", lm_cl_sup_conv, lm_cl_low_conv},
    {"MaxPool", lm_cl_sup_pool, lm_cl_low_pool},
    {"AveragePool", lm_cl_sup_pool, lm_cl_low_pool},
    {"GlobalAveragePool", lm_cl_sup_global_pool, lm_cl_low_global_pool},
    {"GlobalMaxPool", lm_cl_sup_global_pool, lm_cl_low_global_pool},
    {"BatchNormalization", lm_cl_sup_batchnorm, lm_cl_low_batchnorm},
    {"Softmax", lm_cl_sup_softmax, lm_cl_low_softmax},
    {"LogSoftmax", lm_cl_sup_softmax, lm_cl_low_softmax},
    {"Clip", lm_cl_sup_clip, lm_cl_low_clip},
    {"Add", lm_cl_sup_binary, lm_cl_low_binary},
    {"Sub", lm_cl_sup_binary, lm_cl_low_binary},
    {"Mul", lm_cl_sup_binary, lm_cl_low_binary},
    {"Div", lm_cl_sup_binary, lm_cl_low_binary},
    {"Pow", lm_cl_sup_binary, lm_cl_low_binary},
    {"Max", lm_cl_sup_binary, lm_cl_low_binary},
    {"Min", lm_cl_sup_binary, lm_cl_low_binary},
    {"Sum", lm_cl_sup_binary, lm_cl_low_binary},
    {"Mean", lm_cl_sup_binary, lm_cl_low_binary},
    {"PRelu", lm_cl_sup_binary, lm_cl_low_binary},
    {"Concat", lm_cl_sup_concat, lm_cl_low_concat},
    {"Transpose", lm_cl_sup_transpose, lm_cl_low_transpose},
    {"Slice", lm_cl_sup_slice, lm_cl_low_slice},
    {"Expand", lm_cl_sup_expand, lm_cl_low_expand},
    {"Resize", lm_cl_sup_resize, lm_cl_low_resize},
    {"Split", lm_cl_sup_split, lm_cl_low_split},
    {"Pad", lm_cl_sup_pad, lm_cl_low_pad},
    {"Gather", lm_cl_sup_gather, lm_cl_low_gather},
    {"ConvTranspose", lm_cl_sup_convt, lm_cl_low_convt},
    {"InstanceNormalization", lm_cl_sup_instancenorm, lm_cl_low_instancenorm},
    {"LayerNormalization", lm_cl_sup_layernorm, lm_cl_low_layernorm},
    {"ArgMax", lm_cl_sup_argext, lm_cl_low_argext},
    {"ArgMin", lm_cl_sup_argext, lm_cl_low_argext},
    {"DepthToSpace", lm_cl_sup_d2s, lm_cl_low_d2s},
    {"SpaceToDepth", lm_cl_sup_d2s, lm_cl_low_d2s},
    {"Reshape", lm_cl_sup_view, lm_cl_low_view},
    {"Flatten", lm_cl_sup_view, lm_cl_low_view},
    {"Squeeze", lm_cl_sup_view, lm_cl_low_view},
    {"Unsqueeze", lm_cl_sup_view, lm_cl_low_view},
    {"Identity", lm_cl_sup_view, lm_cl_low_view},
    {"Dropout", lm_cl_sup_view, lm_cl_low_view},
};

static const op_entry *find_op(const lm_node *n)
{
    if (n->domain[0] != '\0')
        return NULL;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(ops[i].op, n->op_type) == 0)
            return &ops[i];
    if (lm_cl_find_act(n->op_type) || lm_cl_reduce_code(n->op_type) >= 0)
        return NULL; /* handled below */
    return NULL;
}

bool lm_cl_supports(const lm_node *n, loom_tensor *const *in)
{
    if (n->domain[0] != '\0')
        return false;
    const op_entry *e = find_op(n);
    if (e)
        return e->supports(n, in);
    if (lm_cl_reduce_code(n->op_type) >= 0)
        return lm_cl_sup_reduce(n, in);
    if (lm_cl_find_act(n->op_type))
        return lm_cl_sup_unary(n, in);
    return false;
}

loom_status lm_cl_lower(lm_cl_builder *b, const lm_node *n)
{
    const op_entry *e = find_op(n);
    if (e)
        return e->lower(b, n);
    if (lm_cl_reduce_code(n->op_type) >= 0)
        return lm_cl_low_reduce(b, n);
    return lm_cl_low_unary(b, n);
}
