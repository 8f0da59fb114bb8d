/*
 * Testbench of the requantization contract. The main check: the CU's integer
 * requantization (loom_rq_apply) gives what the CPU backend's float32
 * expression gives (tb_requant_ref, runtime/cpu/ops/quant.c's arithmetic) on
 * 165.7 million cases chosen where the two could part: accumulators on
 * both sides of every output's rounding boundary, on and beside the midpoints
 * where (float)acc itself rounds (|acc| >= 2^24, up to INT32_MIN/MAX), with
 * thousands of scales from every binade the table can hold (2^-33..2^30),
 * every scale of two whole binades, subnormal, tiny and huge scales, and
 * narrowed clamps. It also counts where the previous fixed point (one exact
 * rounding of acc * scale) differs from the float expression: nonzero, so the
 * cases do reach float32's double rounding. Then: clamp before rounding
 * (the CPU) against after (the CU) for integer bounds, every float32 scale's
 * table entry (a stride through all bit patterns), ties, saturation, clamps,
 * bad shifts and multipliers, the QADD pair, names and argument counts.
 */
#include <float.h>

#include "tb.h"

static uint64_t n_cases, n_bad, n_old_differs;

/* The previous requantization: acc * mult / 2^shift rounded once, exactly. */
static int32_t one_rounding(int32_t acc, struct loom_rq rq, int32_t zp, int32_t lo, int32_t hi)
{
    int64_t v = loom_rq_round_shift((int64_t)acc * rq.mult, rq.shift) + zp;

    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* One accumulator: the CU against the CPU's float expression. */
static void one(int32_t acc, float s, struct loom_rq rq, int32_t zp, int32_t lo, int32_t hi)
{
    int32_t want = tb_requant_ref(acc, s, zp, lo, hi);
    int32_t got = loom_rq_apply(acc, rq, zp, lo, hi);

    n_cases++;
    n_old_differs += one_rounding(acc, rq, zp, lo, hi) != want;
    if (got != want && n_bad++ < 5)
        printf("  acc %d scale %a (mult %d shift %d) zp %d [%d, %d]: card %d, cpu %d\n", acc,
               (double)s, rq.mult, rq.shift, zp, lo, hi, got, want);
}

static void one_clamped(int64_t acc, float s, struct loom_rq rq, int32_t zp, int32_t lo, int32_t hi)
{
    if (acc >= INT32_MIN && acc <= INT32_MAX)
        one((int32_t)acc, s, rq, zp, lo, hi);
}

/*
 * The accumulators around the one that lands on output k + 1/2: below 2^24
 * the two integers on each side; above, (float)acc moves in steps of g, so
 * each of the float cells around it, at its rounding midpoints and one
 * beside them (the int-to-float rounding, ties to even, both directions).
 */
static void probe(float s, struct loom_rq rq, int32_t k, int32_t zp, int32_t lo, int32_t hi)
{
    double t = ((double)k + 0.5) / (double)s;
    int64_t a0, g, c;

    if (!(t > -4294967296.0 && t < 4294967296.0))
        return;
    a0 = (int64_t)floor(t);
    if (a0 > -(1 << 24) && a0 < (1 << 24)) {
        for (int64_t a = a0 - 1; a <= a0 + 2; a++)
            one_clamped(a, s, rq, zp, lo, hi);
        return;
    }
    g = (int64_t)1 << (loom_rq_bitlen((uint64_t)(a0 < 0 ? -a0 : a0)) - 24);
    c = a0 / g * g; /* a float near t */
    for (int64_t cell = c - 2 * g; cell <= c + 2 * g; cell += g)
        for (int64_t d = -1; d <= 1; d++)
            one_clamped(cell + g / 2 + d, s, rq, zp, lo, hi);
}

/* A random output range: the type's, ReLU's or a narrow one. */
static void random_range(int32_t *zp, int32_t *lo, int32_t *hi)
{
    int u8 = tb_rand() & 1;

    *zp = tb_zp(u8);
    tb_act(u8, *zp, lo, hi);
}

/* The table entry of s, checked: exact for [2^-33, 2^30), else its stand-in. */
static int entry_of(float s, struct loom_rq *rq)
{
    if (loom_rq_from_scale(s, rq) || loom_rq_check(rq, 1))
        return 0;
    if (s < 0x1p-33f)
        return rq->mult == 0;
    if (s >= 0x1p30f)
        return rq->mult == 1 << 30 && rq->shift == 1;
    return tb_rq_scale(*rq) == s && rq->mult >= 1 << 30;
}

/* Every output's boundary (or @nk random ones), random and extreme accumulators. */
static int scale_cases(float s, int nk, int nrand)
{
    static const int32_t extremes[] = {0,
                                       1,
                                       -1,
                                       INT32_MAX,
                                       INT32_MIN,
                                       1 << 24,
                                       -(1 << 24),
                                       (1 << 24) + 1,
                                       16777219,
                                       -16777219,
                                       INT32_MAX - 64,
                                       -INT32_MAX + 64};
    struct loom_rq rq;
    int32_t zp, lo, hi;

    if (!entry_of(s, &rq))
        return 0;
    random_range(&zp, &lo, &hi);
    if (nk < 0) {
        for (int32_t k = -256 - 1; k <= 256; k++)
            probe(s, rq, k, zp, lo, hi);
    } else {
        for (int i = 0; i < nk; i++)
            probe(s, rq, tb_range(-257, 256), zp, lo, hi);
    }
    for (int i = 0; i < nrand; i++) /* magnitudes spread over all 31 bits */
        one((int32_t)tb_rand() >> tb_range(0, 31), s, rq, zp, lo, hi);
    for (size_t i = 0; i < sizeof(extremes) / sizeof(extremes[0]); i++)
        one(extremes[i], s, rq, zp, lo, hi);
    return 1;
}

/* A float with random mantissa bits in [2^lo_exp, 2^hi_exp). */
static float random_float(int lo_exp, int hi_exp)
{
    return ldexpf(1.0f + (float)(tb_rand() & 0x7fffff) * 0x1p-23f, tb_range(lo_exp, hi_exp - 1));
}

static void exactness(void)
{
    static const float special[] = {1.0f,
                                    0.5f,
                                    0.75f,
                                    0.25f,
                                    3.0f,
                                    0x1p-33f,
                                    0x1.fffffep-34f,
                                    0x1p-32f,
                                    0x1.fffffep-33f,
                                    0x1p-24f,
                                    0x1.000002p-24f,
                                    0x1p-23f,
                                    0x1.fffffep-1f,
                                    0x1.000002p0f,
                                    0x1p29f,
                                    0x1.fffffep29f,
                                    0x1p30f,
                                    FLT_MAX,
                                    FLT_MIN,
                                    0x1p-149f,
                                    0x1p-140f,
                                    0x1.8p-8f,
                                    0x1.4p-9f,
                                    0.0f};
    int ok = 1, nscales = 0;

    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++, nscales++)
        ok &= scale_cases(special[i], -1, 2000);
    for (int i = 0; i < 4000; i++, nscales++) /* every binade the table holds, all boundaries */
        ok &= scale_cases(random_float(-33, 30), i < 1000 ? -1 : 64, 200);
    for (int i = 0; i < 20000; i++, nscales++) { /* a calibrated model's x * w / y */
        volatile float s = (tb_scale() * 64) * (tb_scale() * 4) / (tb_scale() * 256);

        ok &= scale_cases(s, 32, 16);
    }
    /* Every scale of [2^-23, 2^-22) (acc past 2^24 at the boundaries) and of
     * [2^-9, 2^-8): one random output boundary each. */
    for (int b = 0; b < 2; b++)
        for (uint32_t m = 0; m < (1u << 23); m++, nscales++) {
            float s = ldexpf(1.0f + (float)m * 0x1p-23f, b ? -9 : -23);
            struct loom_rq rq;
            int32_t zp, lo, hi;

            ok &= entry_of(s, &rq);
            random_range(&zp, &lo, &hi);
            probe(s, rq, tb_range(-257, 256), zp, lo, hi);
        }
    tb_check(ok, "requant", "every scale tested has an exact table entry");
    tb_check(!n_bad, "requant", "the CU's integer requantization equals the CPU's float32 one");
    tb_check(n_old_differs > 0, "requant",
             "the cases reach float32's double rounding (one exact rounding differs)");
    printf("# requant: %llu cases over %d scales: %llu differ from the CPU's float32 "
           "requantization; one exact rounding (the previous card) would differ on %llu\n",
           (unsigned long long)n_cases, nscales, (unsigned long long)n_bad,
           (unsigned long long)n_old_differs);
}

/* round_half_even as the CPU does it (|v| < 2^22). */
static float rne(float v)
{
    volatile float r = v + 12582912.0f;

    return r - 12582912.0f;
}

/*
 * The CPU clamps the float, then rounds; the CU rounds, then clamps the
 * integer. Equal for integer bounds: every third multiple of 2^-10 in
 * [-300, 300] and its float neighbours, against every clamp [lo, hi] made
 * of the bounds below (the int8/uint8 ends, zero and their neighbours).
 */
static void clamp_order(void)
{
    static const int32_t bounds[] = {-260, -129, -128, -127, -1,  0,   1,
                                     5,    126,  127,  128,  254, 255, 260};
    const int nb = (int)(sizeof(bounds) / sizeof(bounds[0]));
    uint64_t n = 0, bad = 0;

    for (int a = 0; a < nb; a++)
        for (int b = a; b < nb; b++)
            for (int32_t i = -300 * 1024; i <= 300 * 1024; i += 3) {
                float l = (float)bounds[a], h = (float)bounds[b], v0 = (float)i / 1024.0f;

                for (int k = -1; k <= 1; k++, n++) {
                    float v = k ? nextafterf(v0, k * INFINITY) : v0;
                    float c = v > l ? v : l, r = rne(v);

                    c = c < h ? c : h;
                    r = r > l ? r : l;
                    r = r < h ? r : h;
                    bad += rne(c) != r;
                }
            }
    tb_check(!bad, "requant", "clamping before rounding equals clamping after (integer bounds)");
    printf("# requant: clamp order: %llu (value, clamp) pairs, %llu differ\n",
           (unsigned long long)n, (unsigned long long)bad);
}

/* Table entries of float32 scales: a stride through every positive bit pattern. */
static void all_scales(void)
{
    uint64_t n = 0, bad = 0;

    for (uint32_t bits = 0; bits < 0x7f800000u; bits += 61, n++) {
        float s;
        struct loom_rq rq;

        memcpy(&s, &bits, sizeof(s));
        if (!entry_of(s, &rq) && bad++ < 3)
            printf("  scale %a: mult %d shift %d\n", (double)s, rq.mult, rq.shift);
    }
    tb_check(!bad, "requant", "float32 scales map to exact table entries (every 61st pattern)");
    printf("# requant: %llu float32 scales' table entries checked\n", (unsigned long long)n);
}

static int64_t fixed(int32_t acc, struct loom_rq rq)
{
    return loom_rq_scale(acc, rq);
}

static void contract(void)
{
    struct loom_rq rq;
    int32_t a, b, s, lo, hi;
    int ok;

    /* Ties go to even, both signs. */
    ok = !loom_rq_from_scale(0.5f, &rq);
    ok &= fixed(1, rq) == 0 && fixed(3, rq) == 2 && fixed(5, rq) == 2 && fixed(-1, rq) == 0 &&
          fixed(-3, rq) == -2 && fixed(-5, rq) == -2 && fixed(7, rq) == 4;
    ok &= !loom_rq_from_scale(0.25f, &rq) && fixed(2, rq) == 0 && fixed(6, rq) == 2 &&
          fixed(-6, rq) == -2 && fixed(5, rq) == 1 && fixed(-5, rq) == -1 && fixed(7, rq) == 2;
    /* (float)16777219 is 16777220 (a tie, to even): 16777220 / 2^25 = 0.5000001 -> 1. */
    ok &= !loom_rq_from_scale(0x1p-25f, &rq) && fixed(16777219, rq) == 1 &&
          fixed(16777217, rq) == 0 && fixed(-16777219, rq) == -1;
    tb_check(ok, "requant", "ties round half to even, in (float)acc too");

    /* Normalized multipliers, zero, large, tiny and refused scales. */
    ok = !loom_rq_from_scale(0.75f, &rq) && rq.mult >= (1 << 30) && rq.shift == 31;
    ok &= !loom_rq_from_scale(0.0f, &rq) && rq.mult == 0 && fixed(123456, rq) == 0;
    ok &= !loom_rq_from_scale(3.0f, &rq) && fixed(1000, rq) == 3000;
    ok &= !loom_rq_from_scale(1e-12f, &rq) && rq.mult == 0 && fixed(INT32_MIN, rq) == 0;
    ok &= !loom_rq_from_scale(0x1p30f, &rq) && fixed(1, rq) == 1 << 29 && fixed(0, rq) == 0;
    ok &= !loom_rq_from_scale(FLT_MAX, &rq) && loom_rq_apply(-1, rq, 3, -128, 127) == -128;
    ok &= fixed(INT32_MAX, rq) >= (int64_t)1 << 32 && fixed(INT32_MIN, rq) <= -((int64_t)1 << 32);
    ok &= loom_rq_from_scale(-1.0f, &rq) && loom_rq_from_scale(NAN, &rq) &&
          loom_rq_from_scale(INFINITY, &rq) && loom_rq_from_qlinear(1, 1, 0, &rq);
    tb_check(ok, "requant", "zero, large, tiny and refused scales");

    /* Saturation at the type and the fused clamps. */
    loom_rq_from_scale(1.0f, &rq);
    ok = loom_rq_apply(1000, rq, 0, -128, 127) == 127 &&
         loom_rq_apply(-1000, rq, 0, -128, 127) == -128;
    loom_rq_act_range(0, 1, -5, &lo, &hi);
    ok &= lo == -5 && hi == 127 && loom_rq_apply(-50, rq, -5, lo, hi) == -5;
    loom_rq_act_range(1, 1, 128, &lo, &hi);
    ok &= lo == 128 && hi == 255;
    loom_rq_act_range(0, 0, 3, &lo, &hi);
    ok &= lo == -128 && hi == 127;
    tb_check(ok, "requant", "saturation and ReLU clamp");

    /* A table rewritten under a running CU: bad entries stay defined, the check refuses them. */
    ok = loom_rq_round_shift(1000, 0) == 0 && loom_rq_round_shift(1000, 64) == 0 &&
         loom_rq_round_shift(-1000, -7) == 0 && loom_rq_round_shift(INT64_MIN, 63) == -1;
    rq.mult = -1;
    rq.shift = 0;
    ok &= fixed(INT32_MIN, rq) == -1 && fixed(INT32_MAX, rq) == 1; /* (2^32 - 1) * 2^-63 */
    rq.mult = 1 << 30;
    ok &= loom_rq_check(&rq, 1) != 0;
    rq.shift = 31;
    ok &= loom_rq_check(&rq, 1) == 0;
    rq.mult = -1;
    ok &= loom_rq_check(&rq, 1) != 0;
    rq.mult = (1 << 30) | (1 << 7); /* 24 significant bits: a float */
    ok &= loom_rq_check(&rq, 1) == 0;
    rq.mult = (1 << 30) | (1 << 6); /* 25: not a float */
    ok &= loom_rq_check(&rq, 1) != 0;
    rq.mult = 0x00ffffff; /* unnormalized, 24 bits */
    ok &= loom_rq_check(&rq, 1) == 0;
    tb_check(ok, "requant", "bad shifts and multipliers are defined and refused by the check");

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
}

int main(void)
{
    exactness();
    clamp_order();
    all_scales();
    contract();
    return tb_finish("hls-requant");
}
