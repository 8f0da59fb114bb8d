/*
 * directconv.h - direct convolution for shallow inputs (AVX-512F): the first
 * layer of a CNN (3 x 224 x 224 images, 3x3 or 7x7 stride 2), and the
 * stride-2 downsampling of detectors (ops/conv.c decides where it applies).
 *
 * im2col + GEMM is a poor fit there: the GEMM's K is only C x KH x KW (27 or
 * 147) while the im2col matrix is K times the output plane, written once and
 * packed again, so the layer ran at a fifth of the GEMM's speed. This kernel
 * reads a zero-padded copy of the (small) input instead: for 16 output
 * channels at a time, each tap of 8 output pixels is one multiply-add of a
 * broadcast input value and the tap's 16 weights, accumulated pixel-major
 * and transposed back to NCHW per output row.
 */
#ifndef LOOM_CPU_DIRECTCONV_H
#define LOOM_CPU_DIRECTCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conv2d_geom.h"

/* Whether this CPU runs the kernel (AVX-512F). */
bool lm_directconv_available(void);

/* Floats of the padded input of one image, of the packed weights, and of one
 * thread's row buffer. */
size_t lm_directconv_pad_floats(const lm_conv2d_geom *g);
size_t lm_directconv_weight_floats(const lm_conv2d_geom *g);
size_t lm_directconv_row_floats(const lm_conv2d_geom *g);

/* The padded input of one image (C x H x W) into @xpad. */
void lm_directconv_pad(const lm_conv2d_geom *g, const float *x, float *xpad);

/* W (M x C x KH x KW) as 16-channel blocks of taps into @wp. */
void lm_directconv_pack_weights(const lm_conv2d_geom *g, const float *w, float *wp);

/*
 * Output rows [oh0, oh1) of channel block @cb (channels 16 cb ...) of one
 * image: y = clamp(bias + conv, lo, hi) (lo/hi +-INFINITY for no clamp),
 * then HardSwish when @hswish; y is M x OH x OW, bias M values or NULL.
 */
void lm_directconv_rows(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                        const float *bias, float lo, float hi, bool hswish, int64_t cb, int64_t oh0,
                        int64_t oh1, float *row, float *y);

#endif
