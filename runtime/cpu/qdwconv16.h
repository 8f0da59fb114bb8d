/*
 * qdwconv16.h - 8-bit depthwise 2-D convolution over blocks of 16 channels
 * (AVX-512BW).
 *
 * The per-channel kernels (qdwconv.h) vectorize along an output row, which
 * leaves most lanes idle on the 7 x 7 and 14 x 14 planes deep in a network,
 * where depthwise layers have hundreds of channels. This one works like the
 * float kernel (dwconv.h): it transposes 16 channels of a zero-padded input
 * band into pixel-major order, widened to 32 bits minus the zero point, so
 * each tap of each output pixel is one multiply-add of 16 channels whatever
 * the plane's size; requantizes each pixel's 16 channels with their own
 * multipliers; and transposes 16 output pixels at a time back to NCHW.
 * Integer sums are exact (they wrap modulo 2^32 like the reference) and the
 * requantization takes the steps of quant_common.h's rows, so results are
 * bit-exact with every other 8-bit path.
 */
#ifndef LOOM_CPU_QDWCONV16_H
#define LOOM_CPU_QDWCONV16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conv2d_geom.h"

/* One image's depthwise convolution (C channels, one filter each). */
typedef struct lm_qdw16_args {
    lm_conv2d_geom g;
    const void *x; /* C x H x W, uint8 or int8 */
    bool x_signed;
    int32_t x_zp;
    const void *k; /* C x KH x KW, uint8 or int8 */
    bool k_signed;
    const int32_t *k_zp; /* one value, or C with k_zp_per_ch */
    bool k_zp_per_ch;
    /* Output: int32 sums into out32 (C x OH x OW), or when out32 is NULL
     * 8-bit y = clamp(round((sum + bias[c]) * x_s * w_s[c] / y_s)) + y_zp */
    int32_t *out32;
    void *y;
    bool y_signed;
    int32_t y_zp;
    float x_s, y_s;
    const float *w_s; /* one value, or C with w_s_per_ch */
    bool w_s_per_ch;
    const int32_t *bias; /* C values or NULL */
} lm_qdw16_args;

/* Whether this CPU runs lm_qdw16 (AVX-512BW). */
bool lm_qdw16_available(void);

/* Output rows per band: each band's padded input rows stay within a few
 * hundred KiB of scratch. */
int64_t lm_qdw16_band_rows(const lm_conv2d_geom *g);

/* Bytes of scratch one call needs (64-byte aligned, not initialised). */
size_t lm_qdw16_scratch_bytes(const lm_conv2d_geom *g);

/* Channels 16 * cb .. 16 * cb + 15 (fewer in the last block), output rows
 * [oy0, oy1). */
void lm_qdw16(const lm_qdw16_args *a, int64_t cb, int64_t oy0, int64_t oy1, void *scratch);

#endif
