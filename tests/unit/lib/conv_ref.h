/*
 * conv_ref.h - what the convolution tests (test_conv_kernels, test_conv_taps)
 * compute their double-precision references with: ONNX's output length and
 * the fused activations in double.
 */
#ifndef LOOM_TESTS_CONV_REF_H
#define LOOM_TESTS_CONV_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test_main.h" /* fail_msg */

/* Outputs along an axis of @in inputs: kernel @k, stride @s, dilation @d,
 * padding @pb before and @pe after. */
static inline int64_t lm_conv_out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb,
                                      int64_t pe)
{
    return (in + pb + pe - (k - 1) * d - 1) / s + 1;
}

/* Fused activation @act (NULL: none) applied to @v in double precision. */
static inline double lm_act_ref(const char *act, double v)
{
    if (!act)
        return v;
    if (strcmp(act, "HardSwish") == 0)
        return v * fmin(1.0, fmax(0.0, v / 6.0 + 0.5));
    if (strcmp(act, "Relu") == 0)
        return v < 0 ? 0 : v;
    if (strcmp(act, "Silu") == 0)
        return v / (1.0 + exp(-v));
    fail_msg("no reference for %s", act);
    return v;
}

#endif
