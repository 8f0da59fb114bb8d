/*
 * directconv.h - direct convolution for shallow inputs (AVX-512F): the first
 * layer of a CNN (3 x 224 x 224 images, 3x3 or 7x7 stride 2), and the
 * stride-2 downsampling of detectors (ops/conv.c decides where it applies).
 *
 * im2col + GEMM is a poor fit there: the GEMM's K is only C x KH x KW (27 or
 * 147) while the im2col matrix is K times the output plane, written once and
 * packed again, so the layer ran at a fifth of the GEMM's speed. These
 * kernels read a zero-padded copy of the (small) input instead: by pixels
 * (16 output pixels of a row per vector, 8 channels at a time, written to
 * NCHW as they are) where rows fill the vectors, else by channels (16 output
 * channels per vector, 8 pixels at a time, transposed back per row); see
 * directconv_avx512f.c.
 */
#ifndef LOOM_CPU_DIRECTCONV_H
#define LOOM_CPU_DIRECTCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conv2d_geom.h"

/* Whether this CPU runs the kernel (AVX-512F). */
bool lm_directconv_available(void);

/* Output channels per block of packed weights, i.e. per channel block of
 * lm_directconv_rows, for the kernel that takes @g (8 or 16). */
int64_t lm_directconv_block(const lm_conv2d_geom *g);

/* Floats of the padded input of one image, of the packed weights, and of one
 * thread's row buffer (possibly 0). */
size_t lm_directconv_pad_floats(const lm_conv2d_geom *g);
size_t lm_directconv_weight_floats(const lm_conv2d_geom *g);
size_t lm_directconv_row_floats(const lm_conv2d_geom *g);

/* The padded input of one image (C x H x W) into @xpad. */
void lm_directconv_pad(const lm_conv2d_geom *g, const float *x, float *xpad);

/* W (M x C x KH x KW) as blocks of lm_directconv_block() channels into @wp. */
void lm_directconv_pack_weights(const lm_conv2d_geom *g, const float *w, float *wp);

/*
 * Output rows [oh0, oh1) of channel block @mb (channels lm_directconv_block()
 * x mb ...) of one image: y = clamp(bias + conv, lo, hi) (lo/hi +-INFINITY
 * for no clamp), then HardSwish when @hswish; y is M x OH x OW, bias M values
 * or NULL, @row the thread's row buffer.
 */
void lm_directconv_rows(const lm_conv2d_geom *g, const float *xpad, const float *wp,
                        const float *bias, float lo, float hi, bool hswish, int64_t mb, int64_t oh0,
                        int64_t oh1, float *row, float *y);

#endif
