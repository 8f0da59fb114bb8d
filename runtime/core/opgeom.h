/*
 * opgeom.h - normalised attributes of spatial ops: the window geometry of
 * Conv (and its int8 forms), ConvTranspose and the pools by ONNX's rules.
 * Every backend takes its strides, pads and output sizes from here, so that a
 * node has one geometry whichever device runs it.
 */
#ifndef LOOM_CORE_OPGEOM_H
#define LOOM_CORE_OPGEOM_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"

/* Spatial axes of an N x C x D1 x ... x Dn tensor. */
#define LM_GEOM_MAX_SP (LOOM_MAX_RANK - 2)

/* Largest value accepted for a kernel size, stride, dilation, pad or group:
 * keeps every product of two of them inside int64_t. */
#define LM_GEOM_MAX_ATTR ((int64_t)1 << 30)

typedef enum lm_auto_pad {
    LM_AUTO_PAD_NOTSET,     /* the pads attribute (default 0) */
    LM_AUTO_PAD_SAME_UPPER, /* output = ceil(input / stride); an odd pad's extra at the end */
    LM_AUTO_PAD_SAME_LOWER, /* the same, the extra at the start */
    LM_AUTO_PAD_VALID,      /* no padding */
} lm_auto_pad;

/* A sliding window over the spatial axes. */
typedef struct lm_window_geom {
    int nsp;                     /* number of spatial axes */
    int64_t in[LM_GEOM_MAX_SP];  /* input spatial sizes */
    int64_t k[LM_GEOM_MAX_SP];   /* kernel sizes */
    int64_t s[LM_GEOM_MAX_SP];   /* strides */
    int64_t d[LM_GEOM_MAX_SP];   /* dilations */
    int64_t pb[LM_GEOM_MAX_SP];  /* padding at the start (ConvTranspose: may be negative) */
    int64_t pe[LM_GEOM_MAX_SP];  /* padding at the end (ConvTranspose: may be negative) */
    int64_t out[LM_GEOM_MAX_SP]; /* output spatial sizes */
    int64_t in_size, out_size;   /* products of in[] and out[] */
    int64_t k_size;              /* product of k[] */
} lm_window_geom;

/* Conv, QLinearConv, ConvInteger and ConvTranspose. */
typedef struct lm_conv_geom {
    lm_window_geom win;
    int64_t N, C, M;       /* batch, input channels, output channels */
    int64_t group, Cg, Mg; /* groups; input and output channels per group */
    int64_t kdim;          /* one group's weight rows: Cg * k_size (Conv), Mg * k_size
                              (ConvTranspose); the depth of its im2col GEMM */
} lm_conv_geom;

/* MaxPool, AveragePool, LpPool and their int8 forms. */
typedef struct lm_pool_geom {
    lm_window_geom win;
    bool ceil_mode;         /* output sizes rounded up */
    bool count_include_pad; /* AveragePool: padding counts in the divisor */
    bool col_major;         /* MaxPool storage_order 1: Indices column-major */
} lm_pool_geom;

/* The 2-D view that direct kernels and devices take: one or two spatial axes
 * (one as H = 1). */
typedef struct lm_conv2d_geom {
    int64_t C, M;   /* input and output channels (depthwise: M == C) */
    int64_t H, W;   /* input plane */
    int64_t OH, OW; /* output plane */
    int64_t KH, KW; /* kernel */
    int64_t sh, sw; /* strides */
    int64_t dh, dw; /* dilations */
    int64_t pt, pl; /* padding at the top and left */
    int64_t pb, pr; /* padding at the bottom and right */
} lm_conv2d_geom;

/* Reads @n's auto_pad ("" counts as NOTSET); fails naming the node otherwise. */
loom_status lm_geom_auto_pad(const lm_node *n, lm_auto_pad *mode);

/*
 * Conv with input @x (N x C x D1 x ...) and weights @w (M x C/group x k1 x ...):
 * group, a kernel_shape that matches W, strides, dilations, pads, auto_pad.
 * Fails naming the node and the rule broken; @x and @w need shapes only.
 */
loom_status lm_geom_conv(const lm_node *n, const loom_tensor *x, const loom_tensor *w,
                         lm_conv_geom *g);

/*
 * ConvTranspose with input @x and weights @w (C x M/group x k1 x ...): as Conv
 * plus output_padding and output_shape (which, when given, decides the pads).
 * win.in is X's spatial extent and win.out Y's.
 */
loom_status lm_geom_conv_transpose(const lm_node *n, const loom_tensor *x, const loom_tensor *w,
                                   lm_conv_geom *g);

/* MaxPool, AveragePool, LpPool over @x: kernel_shape (required), strides,
 * dilations, pads, auto_pad, ceil_mode, count_include_pad, storage_order. */
loom_status lm_geom_pool(const lm_node *n, const loom_tensor *x, lm_pool_geom *g);

/* GlobalMaxPool, GlobalAveragePool, GlobalLpPool: one window over each whole
 * plane; fails on an empty one. */
loom_status lm_geom_global_pool(const lm_node *n, const loom_tensor *x, lm_window_geom *g);

/* @g (one or two spatial axes) as a 2-D geometry with @C in and @M out channels. */
lm_conv2d_geom lm_geom_2d(const lm_window_geom *g, int64_t C, int64_t M);

#endif
