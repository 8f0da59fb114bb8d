/* nn_private.h - shared by the neural-network kernel files (nn.c, conv.c, pool.c, norm.c). */
#ifndef LOOM_CPU_OPS_NN_PRIVATE_H
#define LOOM_CPU_OPS_NN_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/opgeom.h"
#include "../kernel.h"

/* Op tables of the files split out of nn.c; listed in registry.c. */
extern const lm_op_def lm_ops_conv[]; /* conv.c: Conv, ConvTranspose */
extern const lm_op_def lm_ops_pool[]; /* pool.c: MaxPool, AveragePool, LpPool, Global* */
extern const lm_op_def lm_ops_norm[]; /* norm.c: *Normalization, LRN */

#endif
