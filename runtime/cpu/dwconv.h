/*
 * dwconv.h - depthwise 2-D convolution over blocks of 16 channels (AVX-512F).
 *
 * The plain depthwise path (ops/conv.c) vectorizes along a row of one
 * channel, which leaves most lanes idle on the 7 x 7 and 14 x 14 planes of
 * MobileNets. This kernel works the way ONNX Runtime's NCHWc kernels do, but
 * locally: it transposes 16 channels of a zero-padded input plane into
 * pixel-major order (16 channels per vector, "NCHW16c"), so every tap of
 * every output pixel is one full-width multiply-add whatever the plane's
 * size, and transposes each output row back to NCHW. The graph keeps NCHW,
 * so nothing else changes. Taps are summed in the scalar order (bias first,
 * then kh, kw) with fused multiply-adds, as ONNX Runtime's kernels do: half
 * the arithmetic of separate multiplies and adds, so results differ from the
 * scalar path by rounding only (deterministic all the same).
 */
#ifndef LOOM_CPU_DWCONV_H
#define LOOM_CPU_DWCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activation.h"
#include "conv2d_geom.h"

/* Depthwise convolutions: C channels, one filter each (no multiplier), so
 * the geometry's M is C. Whether this CPU runs lm_dwconv16 (AVX-512F): */
bool lm_dwconv16_available(void);

/* Floats of scratch one call needs (64-byte aligned, not initialised). */
size_t lm_dwconv16_scratch_floats(const lm_conv2d_geom *g);

/*
 * Channel blocks [cb0, cb1) (channels 16 * cb ...) of one image:
 * y[c] = clamp(bias[c] + sum of w[c] * x[c] taps, lo, hi), then HardSwish
 * when @hswish. x is C x H x W, w is C x KH x KW, bias C values or NULL, y
 * is C x OH x OW; lo/hi are +-INFINITY when there is no clamp. The last
 * block may be partial.
 */
void lm_dwconv16(const lm_conv2d_geom *g, const float *x, const float *w, const float *bias,
                 float lo, float hi, bool hswish, int64_t cb0, int64_t cb1, float *scratch,
                 float *y);

/*
 * Large planes, one channel at a time along its rows (dwconv_rows_avx512f.c):
 * no transposes, and the image is read once, straight (stride 1) or through
 * a few padded rows in L1 (stride 2), where the 16-channel kernel packs and
 * unpacks whole planes. Takes unit dilation, strides 1 or 2, kernels up to
 * LM_DWCONV_ROWS_MAX_K, on AVX-512F; square 3, 5 and 7 windows with equal
 * strides have blocked kernels, others go one output row at a time.
 */
#define LM_DWCONV_ROWS_MAX_K 16
bool lm_dwconv_rows_applies(const lm_conv2d_geom *g);

/* Floats of scratch one lm_dwconv_rows call needs (any alignment; it zeroes
 * what it reads). */
size_t lm_dwconv_rows_scratch_floats(const lm_conv2d_geom *g);

/*
 * Channels [c0, c1) of one image: y[c] = act(bias[c] + sum of w[c] * x[c]
 * taps), x C x H x W, w C x KH x KW, bias C values or NULL, y C x OH x OW.
 * FMA in the scalar order (bias, then kh, kw), like lm_dwconv16.
 */
void lm_dwconv_rows(const lm_conv2d_geom *g, const float *x, const float *w, const float *bias,
                    const lm_act *act, int64_t c0, int64_t c1, float *scratch, float *y);

#endif
