/* registry.c - maps (domain, op_type) to the CPU kernel that runs it. */
#include <string.h>

#include "kernel.h"
#include "ops/ew.h"
#include "ops/more_ops.h"
#include "ops/nn_private.h"
#include "ops/tensor_ops.h"

static const lm_op_def *const op_families[] = {
    lm_ops_elementwise, lm_ops_unary, lm_ops_reduce, lm_ops_tensor, lm_ops_index,  lm_ops_resize,
    lm_ops_nn,          lm_ops_conv,  lm_ops_pool,   lm_ops_norm,   lm_ops_quant,  lm_ops_rnn,
    lm_ops_einsum,      lm_ops_loss,  lm_ops_vision, lm_ops_misc,   lm_ops_signal, lm_ops_training,
};

/* The default domain is spelled "" or "ai.onnx" in models. */
static const char *canonical_domain(const char *domain)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0)
        return "";
    return domain;
}

const lm_op_def *lm_cpu_find_op(const char *domain, const char *op_type)
{
    domain = canonical_domain(domain);
    for (size_t f = 0; f < sizeof(op_families) / sizeof(op_families[0]); f++) {
        for (const lm_op_def *op = op_families[f]; op->op_type; op++) {
            if (strcmp(op->op_type, op_type) == 0 &&
                strcmp(canonical_domain(op->domain), domain) == 0)
                return op;
        }
    }
    return NULL;
}
