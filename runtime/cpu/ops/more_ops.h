/*
 * more_ops.h - op tables of the less common operator families (recurrent nets,
 * Einsum, losses, detection/geometry ops, signal processing), registered in
 * ../backend.c, plus the small helpers those files share.
 */
#ifndef LOOM_CPU_OPS_MORE_OPS_H
#define LOOM_CPU_OPS_MORE_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/op.h"
#include "tables.h"

/* Returns from the kernel when @expr fails. */
#define MO_TRY(expr)                                                                               \
    do {                                                                                           \
        loom_status st_ = (expr);                                                                  \
        if (st_ != LOOM_OK)                                                                        \
            return st_;                                                                            \
    } while (0)

/* Whether output @i of the node is present (declared by the model). */
static inline bool mo_has_out(const lm_kctx *k, int i)
{
    return i < k->n_out && i < k->node->n_out && k->node->out[i] >= 0;
}

/* *r = a * b for non-negative sizes; false on overflow. */
static inline bool mo_mul(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}

#endif
