/* nn_private.h - shared by the neural-network kernel files (nn.c, conv.c, pool.c, norm.c). */
#ifndef LOOM_CPU_OPS_NN_PRIVATE_H
#define LOOM_CPU_OPS_NN_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/op.h"
#include "tables.h"

/* Spatial dims of an N x C x D1 x ... x Dn tensor. */
#define LM_NN_MAX_SP (LOOM_MAX_RANK - 2)

/* Geometry of a sliding-window op over the spatial axes. */
typedef struct lm_nn_geom {
    int nsp;                   /* number of spatial axes */
    int64_t in[LM_NN_MAX_SP];  /* input spatial sizes */
    int64_t k[LM_NN_MAX_SP];   /* kernel sizes */
    int64_t s[LM_NN_MAX_SP];   /* strides */
    int64_t d[LM_NN_MAX_SP];   /* dilations */
    int64_t pb[LM_NN_MAX_SP];  /* padding at the start */
    int64_t pe[LM_NN_MAX_SP];  /* padding at the end */
    int64_t out[LM_NN_MAX_SP]; /* output spatial sizes */
    int64_t in_size, out_size; /* products of in[] and out[] */
    int64_t k_size;            /* product of k[] */
} lm_nn_geom;

/* Largest value accepted for a kernel size, stride, dilation or pad: keeps every
 * product of two of them inside int64_t. */
#define LM_NN_MAX_ATTR ((int64_t)1 << 30)

/*
 * Fills @g for a forward window op (Conv, pools) over @x (rank >= 3) with kernel
 * sizes @kernel (nsp = rank - 2 values): reads strides, dilations, pads,
 * auto_pad; computes pads and output sizes by ONNX's rules, with @ceil_mode's
 * "the last window starts inside the input or its start padding". Fails the
 * node naming the bad attribute or axis.
 */
loom_status lm_nn_geom_forward(lm_kctx *k, const loom_tensor *x, const int64_t *kernel,
                               bool ceil_mode, bool use_dilations, lm_nn_geom *g);

/* Reads an optional INTS attribute of exactly @n values each in [lo, hi] into
 * @dst (left untouched when absent). */
loom_status lm_nn_attr_ints(lm_kctx *k, const char *name, int n, int64_t lo, int64_t hi,
                            int64_t *dst);

#endif
