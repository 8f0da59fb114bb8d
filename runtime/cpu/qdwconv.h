/*
 * qdwconv.h - direct 8-bit depthwise convolution: the int32 accumulators of
 * one channel, sum over the filter of (x - x_zp) * (k - k_zp).
 *
 * Depthwise layers (one input channel per output channel) would otherwise run
 * as one tiny GEMM per channel through im2col; here each channel is computed
 * directly from its input plane. Positions in the padding contribute
 * zero, exactly as the im2col path's zero-point padding does, and sums wrap
 * modulo 2^32 like qgemm.h's, so results are bit-exact with it.
 *
 * The kernel is plain C compiled for the baseline and for AVX2, and an
 * AVX-512BW variant; lm_qdw_channel uses the best the CPU runs, chosen once
 * from CPUID.
 */
#ifndef LOOM_CPU_QDWCONV_H
#define LOOM_CPU_QDWCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lm_qdw_params {
    const void *x; /* one input channel, [h, w] uint8 or int8 */
    int64_t h, w;
    bool x_signed;
    int32_t x_zp;
    const void *k; /* its filter, [kh, kw] uint8 or int8 */
    int64_t kh, kw;
    bool k_signed;
    int32_t k_zp;
    int64_t stride[2], dil[2], pad[2]; /* (y, x); pad: begin side */
    int64_t oh, ow;                    /* output size */
} lm_qdw_params;

/* Bytes of workspace lm_qdw_channel needs for @p (the input plane widened
 * to int32 and split by x-stride phase), or 0 when the blocked kernels do
 * not take this shape (then lm_qdw_channel runs the reference, without
 * workspace). */
size_t lm_qdw_workspace(const lm_qdw_params *p);

/* All output rows of the channel into acc[oh * ow]; @ws holds
 * lm_qdw_workspace(p) bytes, int32-aligned (NULL when that is 0). */
void lm_qdw_channel(const lm_qdw_params *p, void *ws, int32_t *acc);

/* One element at a time, straight from the definition: the oracle for tests
 * and the path for shapes the blocked kernels do not take. */
void lm_qdw_channel_ref(const lm_qdw_params *p, int32_t *acc);

/* The blocked kernel variants this CPU can run, best first, then the
 * portable one; NULL-terminated. lm_qdw_channel uses the first. */
typedef struct lm_qdw_config {
    const char *name; /* e.g. "qs8_dwconv__avx512bw" */
    void (*channel)(const lm_qdw_params *p, void *ws, int32_t *acc);
} lm_qdw_config;

const lm_qdw_config *const *lm_qdw_available_configs(void);

#endif
