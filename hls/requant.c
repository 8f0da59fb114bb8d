/*
 * Host helpers of the CU contract: ONNX float32 scales to the (mult, shift)
 * table entries the CUs requantize with (exact: the entry is the float), QADD's
 * fixed-point pair, the output clamp and the table check. Used by the runtime
 * when it builds descriptors, by the card and by the testbenches.
 */
#include "loom_cu.h"

#include <math.h>

#define TWO30 1073741824.0

/*
 * scale as mult * 2^-shift, shift in [1, 63]: exact for a float32 in
 * [2^-33, 2^30) (its 24-bit mantissa fits mult); a double (QADD's pair) gets
 * the nearest 31-bit mult, and below 2^-32 loses low bits of it.
 */
static int to_fixed(double scale, int32_t *mult, int32_t *shift)
{
    double m;
    int64_t q;
    int e, s;

    if (!(scale >= 0) || scale >= TWO30) /* NaN, negative, >= 2^30 */
        return -1;
    if (scale == 0) {
        *mult = 0;
        *shift = 31;
        return 0;
    }
    m = frexp(scale, &e); /* scale = m * 2^e, m in [0.5, 1) */
    q = llround(ldexp(m, 31));
    if (q == (int64_t)1 << 31) {
        q >>= 1;
        e++;
    }
    s = 31 - e;
    if (s < 1)
        return -1;
    if (s > 63) { /* below 2^-32: keep shift 63 and lose low bits of mult */
        q = llround(ldexp((double)q, 63 - s));
        s = 63;
    }
    *mult = (int32_t)q;
    *shift = s;
    return 0;
}

int loom_rq_from_scale(float scale, struct loom_rq *out)
{
    if (!(scale >= 0) || isinf(scale)) /* NaN, negative, infinite */
        return -1;
    if (scale >= TWO30) {
        /* Any nonzero acc times S >= 2^29 lands far outside every 8-bit output
         * range, in float as here, so 2^29 stands in for every larger scale. */
        out->mult = 1 << 30;
        out->shift = 1;
        return 0;
    }
    if (scale < 0x1p-33f) {
        /* |f32(acc)| <= 2^31, so |acc * S| < 1/4 even after float rounding: the
         * result is 0 in float as here. Covers the subnormals too. */
        out->mult = 0;
        out->shift = 31;
        return 0;
    }
    /* A normal float in [2^-33, 2^30): 24-bit mantissa, exact in mult, shift in [1, 63]. */
    return to_fixed((double)scale, &out->mult, &out->shift);
}

int loom_rq_from_qlinear(float x_scale, float w_scale, float y_scale, struct loom_rq *out)
{
    /* The same float expression as the CPU backend's QLinearConv/QLinearMatMul. */
    volatile float s = x_scale * w_scale / y_scale;

    if (!(y_scale > 0))
        return -1;
    return loom_rq_from_scale(s, out);
}

int loom_rq_pair_from_scales(double a_scale, double b_scale, int32_t *a_mult, int32_t *b_mult,
                             int32_t *shift)
{
    double big = a_scale > b_scale ? a_scale : b_scale;
    int32_t m, s;

    if (!(a_scale >= 0) || !(b_scale >= 0) || to_fixed(big, &m, &s))
        return -1;
    *shift = s;
    *a_mult = (int32_t)llround(ldexp(a_scale, s));
    *b_mult = (int32_t)llround(ldexp(b_scale, s));
    if (*a_mult < 0 || *b_mult < 0) /* 2^31 after rounding */
        return -1;
    return 0;
}

void loom_rq_act_range(int y_u8, int relu, int32_t y_zp, int32_t *act_min, int32_t *act_max)
{
    *act_min = y_u8 ? 0 : -128;
    *act_max = y_u8 ? 255 : 127;
    if (relu && y_zp > *act_min)
        *act_min = y_zp > *act_max ? *act_max : y_zp;
}

int loom_rq_check(const struct loom_rq *rq, uint32_t count)
{
    uint32_t i, m, n;

    for (i = 0; i < count; i++) {
        if (rq[i].mult < 0 || rq[i].shift < 1 || rq[i].shift > 63)
            return -1;
        /* A float32 mantissa: no set bit below the 24 highest significant ones. */
        m = (uint32_t)rq[i].mult;
        n = loom_rq_bitlen32(m);
        if (n > 24 && (m & ((1u << (n - 24)) - 1)))
            return -1;
    }
    return 0;
}
