/*
 * Host helpers of the CU contract: ONNX float scales to the fixed-point
 * (mult, shift) the CUs apply, and the output clamp. Used by the runtime
 * when it builds descriptors and by the testbenches.
 */
#include "loom_cu.h"

#include <math.h>

#define TWO31 2147483648.0

/* mult * 2^-shift == scale exactly when scale is a float; shift in [1, 63]. */
static int to_fixed(double scale, int32_t *mult, int32_t *shift)
{
    double m;
    int64_t q;
    int e, s;

    if (!(scale >= 0) || scale >= 1073741824.0) /* NaN, negative, >= 2^30 */
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

int loom_rq_from_scale(double scale, struct loom_rq *out)
{
    return to_fixed(scale, &out->mult, &out->shift);
}

int loom_rq_from_qlinear(float x_scale, float w_scale, float y_scale, struct loom_rq *out)
{
    /* The same float expression as the CPU backend's QLinearConv/QLinearMatMul. */
    volatile float s = x_scale * w_scale / y_scale;

    if (!(y_scale > 0))
        return -1;
    return loom_rq_from_scale((double)s, out);
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
    uint32_t i;

    for (i = 0; i < count; i++)
        if (rq[i].mult < 0 || rq[i].shift < 1 || rq[i].shift > 63)
            return -1;
    return 0;
}
