/*
 * Testbench of the requantization contract: loom_rq_from_qlinear() is exact
 * for float scales (fixed point == round_half_even(acc * scale) computed in
 * exact arithmetic) over random accumulators and scales, ties go to even,
 * saturation and clamps, tiny and refused scales, the QADD pair helper, and
 * how often the CPU backend's float path ((float)acc * scale, rintf) would
 * round differently (reported, not failed: it is the float path that errs).
 */
#include "tb.h"

static int64_t fixed(int32_t acc, struct loom_rq rq)
{
    return loom_rq_round_shift((int64_t)acc * rq.mult, rq.shift);
}

int main(void)
{
    struct loom_rq rq;
    uint64_t float_diffs = 0, exact_bad = 0, n = 0, n_int8 = 0;
    int32_t a, b, s, lo, hi;
    int ok;

    /* Exactness against long double over a million random (acc, scale) pairs. */
    for (int i = 0; i < 1000000; i++) {
        float xs = tb_scale() * 64, ws = tb_scale() * 4, ys = tb_scale() * 256;
        float sc = xs * ws / ys;
        int32_t acc = (int32_t)tb_rand() >> tb_range(0, 24);

        if (loom_rq_from_qlinear(xs, ws, ys, &rq)) {
            exact_bad++;
            continue;
        }
        long double want = nearbyintl((long double)acc * sc);
        if (fixed(acc, rq) != want && exact_bad++ < 3)
            printf("  acc %d scale %a: %lld, want %.0Lf\n", acc, sc, (long long)fixed(acc, rq),
                   want);
        n++;
        if (want >= -256 && want <= 256) { /* outputs that survive an int8 clamp */
            float_diffs += rintf((float)acc * sc) != want;
            n_int8++;
        }
    }
    tb_check(!exact_bad, "requant", "fixed point equals exact rounding of acc * float scale");
    printf("# requant: %llu random cases; where the result is within [-256, 256] the CPU's float "
           "path (rintf((float)acc * scale)) rounds differently in %llu of %llu\n",
           (unsigned long long)n, (unsigned long long)float_diffs, (unsigned long long)n_int8);

    /* Ties go to even, both signs. */
    ok = !loom_rq_from_scale(0.5, &rq);
    ok &= fixed(1, rq) == 0 && fixed(3, rq) == 2 && fixed(5, rq) == 2 && fixed(-1, rq) == 0 &&
          fixed(-3, rq) == -2 && fixed(-5, rq) == -2 && fixed(7, rq) == 4;
    ok &= !loom_rq_from_scale(0.25, &rq) && fixed(2, rq) == 0 && fixed(6, rq) == 2 &&
          fixed(-6, rq) == -2 && fixed(5, rq) == 1 && fixed(-5, rq) == -1 && fixed(7, rq) == 2;
    tb_check(ok, "requant", "ties round half to even");

    /* Normalized multipliers, zero, scales above one, tiny and refused scales. */
    ok = !loom_rq_from_scale(0.75, &rq) && rq.mult >= (1 << 30) && rq.shift == 31;
    ok &= !loom_rq_from_scale(0.0, &rq) && rq.mult == 0 && fixed(123456, rq) == 0;
    ok &= !loom_rq_from_scale(3.0, &rq) && fixed(1000, rq) == 3000;
    ok &= !loom_rq_from_scale(1e-12, &rq) && rq.shift == 63 && fixed(INT32_MAX, rq) == 0;
    ok &= !loom_rq_from_scale(ldexp(1.0, -33), &rq) && fixed(INT32_MAX, rq) == 0 &&
          fixed(INT32_MIN, rq) == 0;
    ok &= loom_rq_from_scale(-1.0, &rq) && loom_rq_from_scale(NAN, &rq) &&
          loom_rq_from_scale(ldexp(1.0, 30), &rq) && loom_rq_from_qlinear(1, 1, 0, &rq);
    tb_check(ok, "requant", "zero, large, tiny and refused scales");

    /* Saturation at the type and the fused clamps. */
    loom_rq_from_scale(1.0, &rq);
    ok = loom_rq_apply(1000, rq, 0, -128, 127) == 127 &&
         loom_rq_apply(-1000, rq, 0, -128, 127) == -128;
    loom_rq_act_range(0, 1, -5, &lo, &hi);
    ok &= lo == -5 && hi == 127 && loom_rq_apply(-50, rq, -5, lo, hi) == -5;
    loom_rq_act_range(1, 1, 128, &lo, &hi);
    ok &= lo == 128 && hi == 255;
    loom_rq_act_range(0, 0, 3, &lo, &hi);
    ok &= lo == -128 && hi == 127;
    tb_check(ok, "requant", "saturation and ReLU clamp");

    /* A table rewritten under a running CU: bad shifts stay defined. */
    ok = loom_rq_round_shift(1000, 0) == 0 && loom_rq_round_shift(1000, 64) == 0 &&
         loom_rq_round_shift(-1000, -7) == 0 && loom_rq_round_shift(INT64_MIN, 63) == -1;
    rq.mult = 1 << 30;
    rq.shift = 0;
    ok &= loom_rq_check(&rq, 1) != 0;
    rq.shift = 31;
    ok &= loom_rq_check(&rq, 1) == 0;
    rq.mult = -1;
    ok &= loom_rq_check(&rq, 1) != 0;
    tb_check(ok, "requant", "shift outside 1..63 is defined and refused by the table check");

    /* The QADD pair: one shift, both multipliers exact for double scales in range. */
    ok = !loom_rq_pair_from_scales(0.5, 0.125, &a, &b, &s) &&
         loom_rq_round_shift((int64_t)3 * a + (int64_t)4 * b, s) == 2; /* 1.5 + 0.5 */
    ok &= !loom_rq_pair_from_scales(0.75, 0.0, &a, &b, &s) && b == 0;
    ok &= loom_rq_pair_from_scales(-1, 0.5, &a, &b, &s) != 0;
    tb_check(ok, "requant", "QADD scale pair");

    /* Names and argument counts of the kinds. */
    ok = loom_cu_kind_from_name("loom_qconv") == LOOM_CU_KIND_QCONV &&
         !strcmp(loom_cu_kind_name(LOOM_CU_KIND_POOL), "loom_pool") && !loom_cu_kind_name(8) &&
         !loom_cu_kind_from_name("nope") && loom_cu_nargs(LOOM_CU_KIND_QGEMM, 0) == 4 &&
         loom_cu_nargs(LOOM_CU_KIND_QCONV, LOOM_CU_F_BIAS) == 5 &&
         loom_cu_nargs(LOOM_CU_KIND_POOL, 0) == 3 && loom_cu_nargs(LOOM_CU_KIND_QADD, 0) == 4;
    tb_check(ok, "contract", "kind names and argument counts");
    return tb_finish("hls-requant");
}
