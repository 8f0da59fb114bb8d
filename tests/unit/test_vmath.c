/*
 * test_vmath.c - the vector transcendentals (cpu/vmath.h) against libm in
 * double precision: every 1021st float bit pattern (all exponents, both
 * signs, subnormals, NaN payloads) plus the special values, on every ISA
 * this CPU has. Asserts the ulp bounds vmath.h documents, exact special
 * values, and that all ISAs return the same bits.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/vmath.h"
#include "lib/test_main.h"

/* Under AddressSanitizer, which checks memory and not accuracy and runs the
 * sweep twenty times slower, every 16381st pattern (262 K floats) does. */
#if defined(__SANITIZE_ADDRESS__)
#define STRIDE 16381u
#else
#define STRIDE 1021u
#endif

static double sigmoid_ref(double x)
{
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

static double softplus_ref(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* The double references; GELU via erfc so its negative tail is exact. */
static double ref(lm_vm_fn f, double x)
{
    switch (f) {
    case LM_VM_EXP:
        return exp(x);
    case LM_VM_LOG:
        return log(x);
    case LM_VM_TANH:
        return tanh(x);
    case LM_VM_SIGMOID:
        return sigmoid_ref(x);
    case LM_VM_ERF:
        return erf(x);
    case LM_VM_GELU:
        return 0.5 * x * erfc(-x / sqrt(2.0));
    case LM_VM_GELU_TANH:
        return x * sigmoid_ref(2 * sqrt(2 / M_PI) * (x + 0.044715 * x * x * x));
    case LM_VM_SILU:
        return x * sigmoid_ref(x);
    case LM_VM_SOFTPLUS:
        return softplus_ref(x);
    case LM_VM_MISH:
        return x * tanh(softplus_ref(x));
    default:
        return NAN;
    }
}

/* Error of @y in ulps of the float nearest @r (subnormal ulps below FLT_MIN). */
static double ulp_err(float y, double r)
{
    double a = fabs(r);
    int e;
    frexp(a < FLT_MIN ? FLT_MIN : a, &e);
    double ulp = ldexp(1.0, e - 24);
    return fabs((double)y - r) / ulp;
}

/* Documented bound for @f at @x (vmath.h). GELU's negative side grows with
 * x^2: the rounding of x / sqrt(2) (or of the tanh argument) is amplified by
 * erfc's (sigmoid's) condition number there, which no float algorithm avoids. */
static double bound(lm_vm_fn f, float x)
{
    static const double base[LM_VM_NFN] = {
        [LM_VM_EXP] = 1,      [LM_VM_LOG] = 1,  [LM_VM_TANH] = 2,      [LM_VM_SIGMOID] = 3,
        [LM_VM_ERF] = 3,      [LM_VM_GELU] = 6, [LM_VM_GELU_TANH] = 6, [LM_VM_SILU] = 5,
        [LM_VM_SOFTPLUS] = 3, [LM_VM_MISH] = 5,
    };
    double b = base[f];
    if (f == LM_VM_GELU && x < 0)
        b += 1.25 * (double)x * x;
    if (f == LM_VM_GELU_TANH && x < 0)
        b += 2.1 * (double)x * x;
    return b;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

typedef struct sweep {
    float *x, *y, *y0;
    int64_t n;
} sweep;

static void sweep_fill(sweep *s)
{
    static const float special[] = {0.0f,      -0.0f,      INFINITY,   -INFINITY, NAN,
                                    -NAN,      FLT_MIN,    -FLT_MIN,   FLT_MAX,   -FLT_MAX,
                                    1.0f,      -1.0f,      1e-45f,     -1e-45f,   88.72283f,
                                    88.72284f, -87.33655f, -103.9721f, -104.0f,   0.625f,
                                    0.921875f, -0.921875f, 3.925f,     -15.0f,    20.0f};
    int64_t ns = (int64_t)(sizeof special / sizeof special[0]);
    s->n = (int64_t)(0x100000000ull / STRIDE) + 1 + ns;
    s->x = malloc((size_t)s->n * sizeof(float));
    s->y = malloc((size_t)s->n * sizeof(float));
    s->y0 = malloc((size_t)s->n * sizeof(float));
    assert_non_null(s->x);
    assert_non_null(s->y);
    assert_non_null(s->y0);
    int64_t i = 0;
    for (uint64_t u = 0; u <= 0xffffffffull; u += STRIDE)
        s->x[i++] = from_bits((uint32_t)u);
    memcpy(s->x + i, special, sizeof special);
    s->n = i + ns;
}

static void sweep_free(sweep *s)
{
    free(s->x);
    free(s->y);
    free(s->y0);
}

/* Checks one result: NaN exactly where the reference is NaN, infinities and
 * zeros (with their sign) exactly, everything else within the bound. */
static int check_one(lm_vm_fn f, float x, float y, double worst[2])
{
    double r = ref(f, x);
    if (isnan(r) || isnan(y))
        return isnan(r) && isnan(y);
    float rf = (float)r;
    if (isinf(rf) || isinf(y) || rf == 0 || y == 0) {
        if (bits(rf) == bits(y))
            return 1;
        /* a result at the overflow or underflow edge may round either way */
        if (ulp_err(y, r) <= bound(f, x) && signbit(y) == signbit(rf) && !isinf(y))
            return 1;
        return 0;
    }
    double e = ulp_err(y, r);
    if (x >= -4 && e > worst[0])
        worst[0] = e;
    if (x < -4 && e > worst[1])
        worst[1] = e;
    return e <= bound(f, x);
}

static void check_fn(const sweep *s, lm_vm_fn f, lm_vm_isa isa, double worst[2])
{
    for (int64_t i = 0; i < s->n; i++) {
        if (check_one(f, s->x[i], s->y[i], worst))
            continue;
        print_error("%s isa %d: x = %a (%g): got %a, want %a (%.2f ulp)\n", lm_vm_name(f), isa,
                    s->x[i], s->x[i], s->y[i], ref(f, s->x[i]), ulp_err(s->y[i], ref(f, s->x[i])));
        fail();
    }
}

/* Equal bits, any NaN equal to any other: which operand's payload survives
 * depends on how the compiler ordered a commutative operation. */
static bool same_bits(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (bits(a[i]) != bits(b[i]) && !(isnan(a[i]) && isnan(b[i])))
            return false;
    return true;
}

static void sweep_all(void **state)
{
    (void)state;
    sweep s;
    sweep_fill(&s);
    for (int f = 0; f < LM_VM_NFN; f++) {
        double worst[2] = {0, 0};
        assert_true(lm_vm_apply_isa(LM_VM_SCALAR, (lm_vm_fn)f, s.x, s.y0, s.n));
        for (int isa = 0; isa < LM_VM_NISA; isa++) {
            if (!lm_vm_apply_isa((lm_vm_isa)isa, (lm_vm_fn)f, s.x, s.y, s.n))
                continue;
            check_fn(&s, (lm_vm_fn)f, (lm_vm_isa)isa, worst);
            /* every ISA runs the same operations in the same order */
            assert_true(same_bits(s.y, s.y0, s.n));
        }
        /* the measured figures vmath.h quotes */
        printf("vmath %-9s max %.2f ulp for x >= -4, %.2f below (bound %.0f at 0)\n",
               lm_vm_name((lm_vm_fn)f), worst[0], worst[1], bound((lm_vm_fn)f, 0));
    }
    sweep_free(&s);
}

/* Exact special values the documentation promises. */
static void special_values(void **state)
{
    (void)state;
    const float in[] = {0.0f, -0.0f, INFINITY, -INFINITY};
    float y[4];
    lm_vm_apply(LM_VM_EXP, in, y, 4);
    assert_true(y[0] == 1 && y[1] == 1 && y[2] == INFINITY && y[3] == 0 && !signbit(y[3]));
    lm_vm_apply(LM_VM_LOG, in, y, 4);
    assert_true(y[0] == -INFINITY && y[1] == -INFINITY && y[2] == INFINITY && isnan(y[3]));
    lm_vm_apply(LM_VM_TANH, in, y, 4);
    assert_true(y[0] == 0 && !signbit(y[0]) && y[1] == 0 && signbit(y[1]));
    assert_true(y[2] == 1 && y[3] == -1);
    lm_vm_apply(LM_VM_ERF, in, y, 4);
    assert_true(y[0] == 0 && !signbit(y[0]) && y[1] == 0 && signbit(y[1]));
    assert_true(y[2] == 1 && y[3] == -1);
    lm_vm_apply(LM_VM_SIGMOID, in, y, 4);
    assert_true(y[0] == 0.5f && y[1] == 0.5f && y[2] == 1 && y[3] == 0);
    lm_vm_apply(LM_VM_SOFTPLUS, in, y, 4);
    assert_true(y[2] == INFINITY && y[3] == 0);
    for (int f = LM_VM_GELU; f <= LM_VM_MISH; f++) {
        if (f == LM_VM_SOFTPLUS)
            continue;
        lm_vm_apply((lm_vm_fn)f, in, y, 4);
        assert_true(y[0] == 0 && !signbit(y[0]) && y[1] == 0 && signbit(y[1]));
        assert_true(y[2] == INFINITY && isnan(y[3])); /* -inf * 0, as the formula */
    }
}

/* Lengths around the vector widths: the tail path writes only n elements. */
static void tails(void **state)
{
    (void)state;
    float x[40], y[41], want[40];
    for (int i = 0; i < 40; i++)
        x[i] = (float)i * 0.37f - 7.0f;
    lm_vm_apply_isa(LM_VM_SCALAR, LM_VM_TANH, x, want, 40);
    for (int n = 0; n <= 40; n++) {
        y[n] = 42.0f;
        lm_vm_apply(LM_VM_TANH, x, y, n);
        assert_memory_equal(y, want, (size_t)n * sizeof(float));
        assert_true(y[n] == 42.0f);
    }
}

/* A tile in place (GEMM epilogues): every row as lm_vm_apply gives it, the
 * gaps between rows untouched, for widths with and without a tail. */
static void tile_rows(void **state)
{
    (void)state;
    enum { LD = 41, ROWS = 5 };
    const lm_vm_fn fns[] = {LM_VM_GELU, LM_VM_SILU, LM_VM_TANH};
    float t[ROWS * LD], want[LD];
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++)
        for (int n = 1; n <= LD; n += 9) {
            for (int i = 0; i < ROWS * LD; i++)
                t[i] = (float)(i % 53) * 0.29f - 7.0f;
            lm_vm_apply_rows(fns[k], t, LD, ROWS, n);
            for (int r = 0; r < ROWS; r++) {
                float x[LD];
                for (int i = 0; i < LD; i++)
                    x[i] = (float)((r * LD + i) % 53) * 0.29f - 7.0f;
                lm_vm_apply(fns[k], x, want, n);
                assert_memory_equal(t + r * LD, want, (size_t)n * sizeof(float));
                for (int i = n; i < LD; i++)
                    assert_true(t[r * LD + i] == x[i]);
            }
        }
}

static void pow_constants(void **state)
{
    (void)state;
    const float x[] = {2.0f, -3.0f, 0.0f, -0.0f, INFINITY, -INFINITY, NAN, 0.3f, 1e-40f, 7.5f};
    const double es[] = {2.0, 0.5, 3.0, -1.0};
    float y[10];
    for (int k = 0; k < 4; k++) {
        assert_true(lm_vm_pow_const(x, y, 10, es[k]));
        for (int i = 0; i < 10; i++) {
            double r = pow((double)x[i], es[k]);
            if (isnan(r)) {
                assert_true(isnan(y[i]));
                continue;
            }
            float rf = (float)r;
            if (rf == 0 || isinf(rf))
                assert_int_equal(bits(y[i]), bits(rf));
            else
                assert_true(ulp_err(y[i], r) <= (es[k] == 3.0 ? 1.0 : 0.5));
        }
    }
    assert_false(lm_vm_pow_const(x, y, 10, 4.0));
}

/* ---- rows ---------------------------------------------------------------- */

static float frand(unsigned *seed, float lo, float hi)
{
    *seed = *seed * 1103515245u + 12345u;
    return lo + (hi - lo) * (float)((*seed >> 8) & 0xffffff) / 16777216.0f;
}

/* Add/Sub/Mul/Div: bit-exact against the C operators, every stride pattern
 * and length 0-40 (vector bodies and tails), special values included. */
static void rows_binary(void **state)
{
    (void)state;
    float a[40], b[40], o[41];
    const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -3e38f, 1.0f};
    unsigned seed = 7;
    for (int i = 0; i < 40; i++) {
        a[i] = i % 5 == 0 ? sp[i / 5] : frand(&seed, -100, 100);
        b[i] = i % 7 == 0 ? sp[(i / 7) % 8] : frand(&seed, -100, 100);
    }
    for (int isa = 0; isa < LM_VM_NISA; isa++) {
        const lm_vm_rows *r = lm_vm_rows_isa((lm_vm_isa)isa);
        if (!r)
            continue;
        for (int op = 0; op < LM_VB_NOPS; op++)
            for (int pat = 0; pat < 4; pat++)
                for (int n = 0; n <= 40; n++) {
                    int sa = pat & 1, sb = pat >> 1;
                    o[n] = 42.0f;
                    r->binary((lm_vm_bop)op, a, b, o, n, sa, sb);
                    assert_true(o[n] == 42.0f);
                    for (int i = 0; i < n; i++) {
                        float x = a[i * sa], y = b[i * sb];
                        float w = op == LM_VB_ADD   ? x + y
                                  : op == LM_VB_SUB ? x - y
                                  : op == LM_VB_MUL ? x * y
                                                    : x / y;
                        if (isnan(w))
                            assert_true(isnan(o[i]));
                        else
                            assert_int_equal(bits(o[i]), bits(w));
                    }
                }
    }
}

/* Softmax rows against double: within the documented bound, identical bits on
 * every ISA, with scale, division, row and scalar masks, and masked lanes. */
static void rows_softmax(void **state)
{
    (void)state;
    enum { MAXN = 300 };
    static float x[MAXN], m[MAXN], y[MAXN], y0[MAXN];
    unsigned seed = 11;
    const int lens[] = {1, 5, 16, 17, 31, 64, 128, 129, 300};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        for (int var = 0; var < 4; var++) {
            for (int i = 0; i < n; i++) {
                x[i] = frand(&seed, -30, 30);
                m[i] = (var == 3 && i % 3 == 1) ? -10000.0f : frand(&seed, -2, 2);
            }
            const float *add = var == 0 ? NULL : m;
            int64_t sa = var == 1 ? 0 : 1;
            float scale = var == 2 ? 8.0f : 0.125f;
            bool div = var == 2;
            double t[MAXN], mx = -INFINITY, sum = 0;
            for (int i = 0; i < n; i++) {
                float tf = div ? x[i] / scale : x[i] * scale;
                if (add)
                    tf = tf + add[i * sa];
                t[i] = tf;
                mx = t[i] > mx ? t[i] : mx;
            }
            for (int i = 0; i < n; i++)
                sum += exp(t[i] - mx);
            bool have0 = false;
            for (int isa = 0; isa < LM_VM_NISA; isa++) {
                const lm_vm_rows *r = lm_vm_rows_isa((lm_vm_isa)isa);
                if (!r)
                    continue;
                r->softmax(x, add, sa, y, n, scale, div);
                for (int i = 0; i < n; i++) {
                    double want = exp(t[i] - mx) / sum;
                    double tol = want * (2.0 * FLT_EPSILON / 2 + n * 0x1p-24) + 0x1p-126;
                    assert_true(fabs(y[i] - want) <= tol);
                }
                if (have0)
                    assert_memory_equal(y, y0, (size_t)n * sizeof(float));
                memcpy(y0, y, (size_t)n * sizeof(float));
                have0 = true;
            }
        }
    }
    /* in place, NaN and all -inf */
    x[0] = 1;
    x[1] = NAN;
    x[2] = 3;
    lm_vm_softmax(x, NULL, 0, x, 3, 1.0f, false);
    assert_true(isnan(x[0]) && isnan(x[1]) && isnan(x[2]));
    for (int i = 0; i < 20; i++)
        x[i] = -INFINITY;
    lm_vm_softmax(x, NULL, 0, y, 20, 1.0f, false);
    assert_true(isnan(y[0]) && isnan(y[19]));
    x[0] = 0;
    x[1] = 0;
    lm_vm_softmax(x, NULL, 0, y, 2, 1.0f, false);
    assert_true(y[0] == 0.5f && y[1] == 0.5f);
}

/* LayerNorm rows against double, identical bits on every ISA, with the
 * residual input and its sum stored. */
static void rows_layernorm(void **state)
{
    (void)state;
    enum { MAXN = 1030 };
    static float x[MAXN], sk[MAXN], g[MAXN], b[MAXN], y[MAXN], v[MAXN], y0[MAXN];
    unsigned seed = 3;
    const int lens[] = {1, 7, 16, 33, 64, 256, 768, 1030};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        for (int i = 0; i < n; i++) {
            x[i] = frand(&seed, -4, 6);
            sk[i] = frand(&seed, -1, 1);
            g[i] = frand(&seed, 0.5f, 1.5f);
            b[i] = frand(&seed, -1, 1);
        }
        for (int var = 0; var < 2; var++) {
            const float *skip = var ? sk : NULL;
            double s = 0, s2 = 0, vv[MAXN];
            for (int i = 0; i < n; i++) {
                vv[i] = skip ? (double)(x[i] + sk[i]) : x[i];
                s += vv[i];
            }
            double mean = s / n;
            for (int i = 0; i < n; i++)
                s2 += (vv[i] - mean) * (vv[i] - mean);
            double istd = 1 / sqrt(s2 / n + 1e-5);
            bool have0 = false;
            for (int isa = 0; isa < LM_VM_NISA; isa++) {
                const lm_vm_rows *r = lm_vm_rows_isa((lm_vm_isa)isa);
                if (!r)
                    continue;
                float fm, fi;
                r->layernorm(x, skip, var ? v : NULL, y, n, g, b, 1e-5f, &fm, &fi);
                assert_true(fabs(fm - mean) <= 1e-6 * (fabs(mean) + 1));
                assert_true(fabs(fi - istd) <= 1e-6 * istd);
                for (int i = 0; i < n; i++) {
                    double want = (vv[i] - mean) * istd * g[i] + b[i];
                    assert_true(fabs(y[i] - want) <= 1e-5 * (fabs(want) + 1));
                    if (var)
                        assert_int_equal(bits(v[i]), bits(x[i] + sk[i]));
                }
                if (have0)
                    assert_memory_equal(y, y0, (size_t)n * sizeof(float));
                memcpy(y0, y, (size_t)n * sizeof(float));
                have0 = true;
            }
        }
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sweep_all),    cmocka_unit_test(special_values), cmocka_unit_test(tails),
    cmocka_unit_test(tile_rows),    cmocka_unit_test(pow_constants),  cmocka_unit_test(rows_binary),
    cmocka_unit_test(rows_softmax), cmocka_unit_test(rows_layernorm),
};

LM_TEST_MAIN(tests)
