/* nn_private.h - shared by the neural-network kernel files (nn.c, conv.c, pool.c, norm.c). */
#ifndef LOOM_CPU_OPS_NN_PRIVATE_H
#define LOOM_CPU_OPS_NN_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/op.h"
#include "../../core/opgeom.h"
#include "tables.h"

#endif
