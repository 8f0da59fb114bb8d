/* conv2d_geom.h - the geometry of one 2-D convolution, shared by the direct kernels. */
#ifndef LOOM_CPU_CONV2D_GEOM_H
#define LOOM_CPU_CONV2D_GEOM_H

#include <stdint.h>

typedef struct lm_conv2d_geom {
    int64_t C, M;   /* input and output channels (depthwise: M == C) */
    int64_t H, W;   /* input plane */
    int64_t OH, OW; /* output plane */
    int64_t KH, KW; /* kernel */
    int64_t sh, sw; /* strides */
    int64_t dh, dw; /* dilations */
    int64_t pt, pl; /* padding at the top and left */
} lm_conv2d_geom;

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
