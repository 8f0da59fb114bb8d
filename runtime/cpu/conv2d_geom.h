/* conv2d_geom.h - what the direct 2-D convolution kernels derive from core's lm_conv2d_geom. */
#ifndef LOOM_CPU_CONV2D_GEOM_H
#define LOOM_CPU_CONV2D_GEOM_H

#include <stdint.h>

#include "../core/opgeom.h" /* lm_conv2d_geom */

/* The padded input plane the direct kernels build: exactly the rows and columns
 * the taps reach. */
static inline int64_t lm_conv2d_padded_rows(const lm_conv2d_geom *g)
{
    return (g->OH - 1) * g->sh + (g->KH - 1) * g->dh + 1;
}

static inline int64_t lm_conv2d_padded_cols(const lm_conv2d_geom *g)
{
    return (g->OW - 1) * g->sw + (g->KW - 1) * g->dw + 1;
}

#endif
