/* nn_private.h - shared by the neural-network kernel files (nn.c, conv.c, pool.c, norm.c). */
#ifndef LOOM_CPU_OPS_NN_PRIVATE_H
#define LOOM_CPU_OPS_NN_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/op.h"
#include "../../core/opgeom.h"
#include "tables.h"

/* MatMul with the _loom_perm_a/_b/_y views core/fuse_matmul_perm.c records
 * (matmul_view.c); op_matmul hands such nodes over. */
loom_status lm_matmul_views(lm_kctx *k);

/* True when a MatMul node carries any of those views. */
static inline bool lm_matmul_has_views(const lm_node *n)
{
    return lm_node_has_attr(n, "_loom_perm_a") || lm_node_has_attr(n, "_loom_perm_b") ||
           lm_node_has_attr(n, "_loom_perm_y");
}

#endif
