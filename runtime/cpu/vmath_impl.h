/*
 * vmath_impl.h - the algorithms behind vmath.h, written once over a vector
 * type and included by vmath.c once per ISA. No include guard: it is a
 * template. The includer defines
 *   V, VI, VU   float, int32 and uint32 vectors of VM_W lanes (plain scalars
 *               when VM_W is 1)
 *   VM_W        lanes per vector
 *   VM_SFX      suffix for this instance's names
 *   VM_ATTR     function attributes (the target ISA), possibly empty
 *
 * Only +, -, *, /, comparisons and bit operations are used, so GCC's generic
 * vectors compile to the target's instructions and the scalar instance runs
 * the very same operations in the same order: every instance gives the same
 * bits. Multiplies and adds stay separate for that reason, except where a
 * step is written N(fma): the includer's VM_FMA(a, b, c) rounds a * b + c
 * once on every instance (fmaf in scalar C, the FMA instructions in the
 * vector ones), so those bits agree too.
 * Branches become selects: every lane computes every path and keeps one.
 */

#define VM_CAT_(a, b) a##_##b
#define VM_CAT(a, b)  VM_CAT_(a, b)
#define N(f)          VM_CAT(f, VM_SFX)
#define FN            static inline __attribute__((always_inline)) VM_ATTR
#define C(c)          ((V){0} + (c))

#if VM_W == 1
/* Comparisons yield all-ones masks like vector compares do. */
#define LT(a, b) (-(VI)((a) < (b)))
#define GT(a, b) (-(VI)((a) > (b)))
#define EQ(a, b) (-(VI)((a) == (b)))
#define NE(a, b) (-(VI)((a) != (b)))
FN VU N(asu)(V v)
{
    VU u;
    memcpy(&u, &v, sizeof u);
    return u;
}
FN V N(asf)(VU u)
{
    V v;
    memcpy(&v, &u, sizeof v);
    return v;
}
/* Arithmetic right shift; C leaves it implementation-defined for negatives. */
FN VI N(sra1)(VI i)
{
    return i < 0 ? -((-i + 1) / 2) : i / 2;
}
#else
#define LT(a, b) ((a) < (b))
#define GT(a, b) ((a) > (b))
#define EQ(a, b) ((a) == (b))
#define NE(a, b) ((a) != (b))
FN VU N(asu)(V v)
{
    return (VU)v;
}
FN V N(asf)(VU u)
{
    return (V)u;
}
FN VI N(sra1)(VI i)
{
    return i >> 1;
}
#endif

/* a * b + c rounded once, the same on every instance. */
FN V N(fma)(V a, V b, V c)
{
    return VM_FMA(a, b, c);
}

/* m ? a : b per lane; m is all-ones or zero. */
FN V N(sel)(VI m, V a, V b)
{
    VU mu = (VU)m;
    return N(asf)((N(asu)(a) & mu) | (N(asu)(b) & ~mu));
}

FN V N(vabs)(V x)
{
    return N(asf)(N(asu)(x) & 0x7fffffffu);
}

/* |r| with x's sign bit. */
FN V N(withsign)(V r, V x)
{
    return N(asf)(N(asu)(r) | (N(asu)(x) & 0x80000000u));
}

/* 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits. */
#define MAGIC 12582912.0f

/*
 * exp: x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, Cody-Waite),
 * e^r by Cephes' degree-6 polynomial, then * 2^n applied in two halves so
 * results that are subnormal round once. Inputs are clamped to where the
 * result is neither 0 nor inf, which the scaling then produces; NaN passes
 * the clamps (compares are false) and poisons the polynomial.
 */
FN V N(vexp)(V x)
{
    V xc = N(sel)(GT(x, C(88.8f)), C(88.8f), x);
    xc = N(sel)(LT(xc, C(-104.0f)), C(-104.0f), xc);
    V k = xc * 1.44269504088896341f + MAGIC;
    V nf = k - MAGIC;
    V r = xc - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    V z = r * r;
    V p = C(1.9875691500e-4f);
    p = N(fma)(p, r, C(1.3981999507e-3f));
    p = N(fma)(p, r, C(8.3334519073e-3f));
    p = N(fma)(p, r, C(4.1665795894e-2f));
    p = N(fma)(p, r, C(1.6666665459e-1f));
    p = N(fma)(p, r, C(5.0000001201e-1f));
    V y = p * z + r + 1.0f;
    VI n = (VI)(N(asu)(k) - N(asu)(C(MAGIC)));
    VI n1 = N(sra1)(n), n2 = n - n1;
    V s1 = N(asf)((VU)(n1 + 127) << 23), s2 = N(asf)((VU)(n2 + 127) << 23);
    return y * s1 * s2;
}

/*
 * e^(x - s) for an exact x in [-113, 0] and 0 <= s <= 0.11 (erfc's split
 * square): n is chosen from x - s, but x - s itself is never rounded: s
 * leaves the reduced argument after the exact Cody-Waite steps, so r stays
 * near ln2 / 2 and the error stays vexp's, one exp instead of an exp times a
 * Taylor series in s. No clamps: in this range 2^n, applied in two halves,
 * neither overflows nor leaves the normal range before its last multiply.
 */
FN V N(vexp_split)(V x, V s)
{
    V k = N(fma)(x - s, C(1.44269504088896341f), C(MAGIC));
    V nf = k - MAGIC;
    V r = x - nf * 0.693359375f; /* exact */
    r = N(fma)(nf, C(2.12194440e-4f), r);
    r = r - s;
    V z = r * r;
    V p = C(1.9875691500e-4f);
    p = N(fma)(p, r, C(1.3981999507e-3f));
    p = N(fma)(p, r, C(8.3334519073e-3f));
    p = N(fma)(p, r, C(4.1665795894e-2f));
    p = N(fma)(p, r, C(1.6666665459e-1f));
    p = N(fma)(p, r, C(5.0000001201e-1f));
    V y = N(fma)(p, z, r) + 1.0f;
    VI n = (VI)(N(asu)(k) - N(asu)(C(MAGIC)));
    VI n1 = N(sra1)(n), n2 = n - n1;
    V s1 = N(asf)((VU)(n1 + 127) << 23), s2 = N(asf)((VU)(n2 + 127) << 23);
    return y * s1 * s2;
}

/*
 * log (Cephes logf): x = m 2^e with m in [sqrt(1/2), sqrt(2)), then
 * log(m) = f - f^2/2 + f^3 P(f) for f = m - 1 and e ln2 added in two parts.
 * Subnormals are scaled by 2^23 first; 0, negatives, inf and NaN are
 * selected at the end.
 */
FN V N(vlog)(V x)
{
    VI sub = LT(x, C(1.17549435e-38f));
    V xs = N(sel)(sub, x * 8388608.0f, x);
    VU u = N(asu)(xs);
    VI e = (VI)((u >> 23) & 0xffu) - 126 + (sub & -23);
    V m = N(asf)((u & 0x007fffffu) | 0x3f000000u);
    VI lo = LT(m, C(0.707106781186547524f));
    m = N(sel)(lo, m + m, m);
    e = e + lo; /* lo is -1 where m was doubled */
    V ef = N(asf)(N(asu)(C(MAGIC)) + (VU)e) - MAGIC;
    V f = m - 1.0f;
    V z = f * f;
    V p = C(7.0376836292e-2f);
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    V y = p * f * z;
    y = y + ef * -2.12194440e-4f;
    y = y - z * 0.5f;
    V r = f + y;
    r = r + ef * 0.693359375f;
    r = N(sel)(EQ(x, C(INFINITY)), C(INFINITY), r);
    r = N(sel)(EQ(x, C(0.0f)), C(-INFINITY), r);
    r = N(sel)(LT(x, C(0.0f)), C(NAN), r);
    return N(sel)(NE(x, x), x, r);
}

/* log(1 + u) for u >= 0: u * log(w) / (w - 1) with w = 1 + u cancels the
 * rounding of w (Goldberg); where w rounds to 1, log1p(u) = u. */
FN V N(vlog1p)(V u)
{
    V w = u + 1.0f;
    V r = N(vlog)(w) * (u / (w - 1.0f));
    return N(sel)(EQ(w, C(1.0f)), u, r);
}

/* tanh: Cephes' odd polynomial below 0.625, 1 - 2 / (e^2|x| + 1) above,
 * computed on |x| with x's sign put back (keeps -0). */
FN V N(vtanh)(V x)
{
    V ax = N(vabs)(x);
    V z = ax * ax;
    V p = C(-5.70498872745e-3f);
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    V small = p * z * ax + ax;
    V big = 1.0f - 2.0f / (N(vexp)(ax + ax) + 1.0f);
    return N(withsign)(N(sel)(LT(ax, C(0.625f)), small, big), x);
}

/* sigmoid: with e = exp(-|x|) in (0, 1], 1 / (1 + e) for x >= 0 and
 * e / (1 + e) below, so neither overflows nor cancels. */
FN V N(vsigmoid)(V x)
{
    V e = N(vexp)(-N(vabs)(x));
    V r = 1.0f / (1.0f + e);
    return N(sel)(LT(x, C(0.0f)), e * r, r);
}

/* erf(x) / x = P(x^2) on [0, 0.921875], fitted for relative error. */
FN V N(verf_small)(V x)
{
    V z = x * x;
    V p = C(-5.991155630908906e-4f);
    p = N(fma)(p, z, C(4.99325105920434e-3f));
    p = N(fma)(p, z, C(-2.676667645573616e-2f));
    p = N(fma)(p, z, C(1.1281818151473999e-1f));
    p = N(fma)(p, z, C(-3.7612494826316833e-1f));
    p = N(fma)(p, z, C(1.1283791065216064f));
    return p * x;
}

/*
 * mul * erfc(t) for t >= 0.921875 as mul * R(t) * exp(-t^2), R(t) =
 * erfc(t) e^(t^2) a polynomial in w = 1 / (1 + t / 2) fitted over [0.5,
 * 10.6]. t^2 is split exactly: t = th + tl with th 12 bits wide, so th^2 is
 * exact and t^2 = th^2 + tl (t + th). exp(-th^2), the factor that may be
 * subnormal, is applied last so the result rounds once there (|mul R| < 1).
 */
FN V N(verfc_big)(V t, V mul)
{
    t = N(sel)(GT(t, C(10.6f)), C(10.6f), t); /* erfc is 0 by then; keeps inf out */
    V th = N(asf)(N(asu)(t) & 0xfffff000u);
    V tl = t - th;
    V w = 1.0f / N(fma)(t, C(0.5f), C(1.0f));
    V p = C(-0.07349405437707901f);
    p = N(fma)(p, w, C(0.3473718762397766f));
    p = N(fma)(p, w, C(-0.6039369702339172f));
    p = N(fma)(p, w, C(0.3991803526878357f));
    p = N(fma)(p, w, C(-0.1035616546869278f));
    p = N(fma)(p, w, C(0.23357607424259186f));
    p = N(fma)(p, w, C(0.2353009134531021f));
    p = N(fma)(p, w, C(0.2835661768913269f));
    p = N(fma)(p, w, C(0.28198713064193726f));
    p = N(fma)(p, w, C(3.4344893720117398e-06f));
    /* e^-(th^2 + s) for s = tl (t + th) < t^2 / 1024 <= 0.11, th^2 exact */
    V s = tl * (t + th);
    V e1 = N(vexp_split)(-(th * th), s);
    return mul * p * e1;
}

#define ERF_SPLIT 0.921875f

/* erf: the odd polynomial near 0, 1 - erfc beyond, 1 past 3.925 where erfc
 * is below half an ulp of 1. */
FN V N(verf)(V x)
{
    V ax = N(vabs)(x);
    V big = 1.0f - N(verfc_big)(ax, C(1.0f));
    big = N(sel)(GT(ax, C(3.925f)), C(1.0f), big);
    return N(sel)(LT(ax, C(ERF_SPLIT)), N(verf_small)(x), N(withsign)(big, x));
}

/*
 * GELU: x/2 (1 + erf(t)), t = x / sqrt(2). For x < 0 that is x/2 erfc(|t|),
 * computed from erfc directly instead of as 1 - (1 - erfc), which would lose
 * every digit in the tail. Below -15 the result is -0 (erfc(10.6) x 7.5 is
 * under the smallest subnormal); -inf gives NaN as the ONNX formula does.
 */
FN V N(vgelu)(V x)
{
    V h = x * 0.5f;
    V at = N(vabs)(x * 0.70710678118654752f);
    VI neg = LT(x, C(0.0f));
    V es = N(verf_small)(at);
    V small = h * N(sel)(neg, 1.0f - es, 1.0f + es);
    V eb = N(verfc_big)(at, N(sel)(neg, h, C(1.0f)));
    V big = N(sel)(neg, eb, h * (2.0f - eb));
    /* erfc(|t|) = 1 - erf(|t|) loses bits as erf nears 1: from 0.5 down the
     * negative side takes erfc directly */
    V y = N(sel)(LT(at, N(sel)(neg, C(0.5f), C(ERF_SPLIT))), small, big);
    return N(sel)(LT(x, C(-15.0f)), x * 0.0f, y);
}

/*
 * x * sigmoid(v). For v < 0 that is x e / (1 + e) with e = e^v, and e may be
 * subnormal (v < -87) while the product is not, so e is taken as h^2 with
 * h = e^(v/2) and the product formed as (x h)(h r): both factors normal, one
 * rounding.
 */
FN V N(vx_sigmoid)(V x, V v)
{
    V h = N(vexp)(N(vabs)(v) * -0.5f);
    V r = 1.0f / (1.0f + h * h);
    return N(sel)(LT(v, C(0.0f)), (x * h) * (h * r), x * r);
}

/* GELU, tanh form: x/2 (1 + tanh(u)) = x sigmoid(2u), which does not cancel
 * for negative x. 2u = x (2 sqrt(2/pi) + 2 sqrt(2/pi) 0.044715 x^2). */
FN V N(vgelu_tanh)(V x)
{
    V v = x * (x * x * 0.0713548162726f + 1.5957691216057308f);
    return N(vx_sigmoid)(x, v);
}

FN V N(vsilu)(V x)
{
    return N(vx_sigmoid)(x, x);
}

/* softplus: max(x, 0) + log1p(exp(-|x|)), exact in both tails. */
FN V N(vsoftplus)(V x)
{
    V m = N(sel)(GT(x, C(0.0f)), x, C(0.0f));
    return m + N(vlog1p)(N(vexp)(-N(vabs)(x)));
}

/*
 * Mish: x tanh(softplus(x)) = x n / (n + 2) with u = e^x, n = u (u + 2),
 * which stays accurate where tanh's argument is tiny (x very negative). As in
 * vx_sigmoid, u = h^2 (h = e^(x/2)) so a subnormal u costs no precision:
 * y = (x h)(h (u + 2) / (n + 2)). Past 20 tanh(softplus(x)) rounds to 1.
 */
FN V N(vmish)(V x)
{
    V h = N(vexp)(N(sel)(GT(x, C(20.0f)), C(20.0f), x) * 0.5f);
    V u = h * h;
    V n = u * (u + 2.0f);
    V y = (x * h) * (h * (u + 2.0f) / (n + 2.0f));
    return N(sel)(GT(x, C(20.0f)), x, y);
}

FN V N(veval)(lm_vm_fn f, V x)
{
    switch (f) {
    case LM_VM_EXP:
        return N(vexp)(x);
    case LM_VM_LOG:
        return N(vlog)(x);
    case LM_VM_TANH:
        return N(vtanh)(x);
    case LM_VM_SIGMOID:
        return N(vsigmoid)(x);
    case LM_VM_ERF:
        return N(verf)(x);
    case LM_VM_GELU:
        return N(vgelu)(x);
    case LM_VM_GELU_TANH:
        return N(vgelu_tanh)(x);
    case LM_VM_SILU:
        return N(vsilu)(x);
    case LM_VM_SOFTPLUS:
        return N(vsoftplus)(x);
    case LM_VM_MISH:
        return N(vmish)(x);
    default:
        return x;
    }
}

/* One loop per function keeps the switch out of the hot loop. */
#define VM_LOOP(fn)                                                                                \
    for (; i + VM_W <= n; i += VM_W) {                                                             \
        V v;                                                                                       \
        memcpy(&v, x + i, sizeof v);                                                               \
        v = N(fn)(v);                                                                              \
        memcpy(y + i, &v, sizeof v);                                                               \
    }                                                                                              \
    break

static VM_ATTR void N(vm_run)(lm_vm_fn f, const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    switch (f) {
    case LM_VM_EXP:
        VM_LOOP(vexp);
    case LM_VM_LOG:
        VM_LOOP(vlog);
    case LM_VM_TANH:
        VM_LOOP(vtanh);
    case LM_VM_SIGMOID:
        VM_LOOP(vsigmoid);
    case LM_VM_ERF:
        VM_LOOP(verf);
    case LM_VM_GELU:
        VM_LOOP(vgelu);
    case LM_VM_GELU_TANH:
        VM_LOOP(vgelu_tanh);
    case LM_VM_SILU:
        VM_LOOP(vsilu);
    case LM_VM_SOFTPLUS:
        VM_LOOP(vsoftplus);
    case LM_VM_MISH:
        VM_LOOP(vmish);
    default:
        return;
    }
    if (i < n) { /* the tail through a zero-padded vector */
        float buf[VM_W] = {0};
        memcpy(buf, x + i, (size_t)(n - i) * sizeof(float));
        V v;
        memcpy(&v, buf, sizeof v);
        v = N(veval)(f, v);
        memcpy(buf, &v, sizeof v);
        memcpy(y + i, buf, (size_t)(n - i) * sizeof(float));
    }
}

#undef VM_LOOP

/* In place over @rows rows of @n values @ld apart (a GEMM tile's columns):
 * whole vectors of every row in one loop nest, so the CPU overlaps the
 * long dependency chains of successive rows instead of meeting a call and
 * a switch every two vectors; the rows' tails (n not a multiple of VM_W)
 * after, through vm_run. */
#define VM_ROWS(fn)                                                                                \
    for (int64_t r = 0; r < rows; r++)                                                             \
        for (int64_t i = 0; i < nv; i += VM_W) {                                                   \
            float *p = x + r * ld + i;                                                             \
            V v;                                                                                   \
            memcpy(&v, p, sizeof v);                                                               \
            v = N(fn)(v);                                                                          \
            memcpy(p, &v, sizeof v);                                                               \
        }                                                                                          \
    break

static VM_ATTR void N(vm_run_rows)(lm_vm_fn f, float *x, int64_t ld, int64_t rows, int64_t n)
{
    int64_t nv = n / VM_W * VM_W;
    switch (f) {
    case LM_VM_SIGMOID:
        VM_ROWS(vsigmoid);
    case LM_VM_GELU:
        VM_ROWS(vgelu);
    case LM_VM_GELU_TANH:
        VM_ROWS(vgelu_tanh);
    case LM_VM_SILU:
        VM_ROWS(vsilu);
    case LM_VM_MISH:
        VM_ROWS(vmish);
    default:
        nv = 0; /* the rest row by row */
        break;
    }
    if (nv < n)
        for (int64_t r = 0; r < rows; r++)
            N(vm_run)(f, x + r * ld + nv, x + r * ld + nv, n - nv);
}

#undef VM_ROWS

/* ------------------------------------------------------------------------ */
/* Rows: binary arithmetic, softmax, layer normalisation                     */

/* o[i] = a[i*sa] OP b[i*sb], sa and sb 0 or 1: IEEE operations, so every ISA
 * and the plain C loops give the same bits. */
#define VM_BIN(EXPR)                                                                               \
    if (sa && sb) {                                                                                \
        for (; i + VM_W <= n; i += VM_W) {                                                         \
            V x, y;                                                                                \
            memcpy(&x, a + i, sizeof x);                                                           \
            memcpy(&y, b + i, sizeof y);                                                           \
            V r = EXPR;                                                                            \
            memcpy(o + i, &r, sizeof r);                                                           \
        }                                                                                          \
    } else if (sa) {                                                                               \
        V y = C(b[0]);                                                                             \
        for (; i + VM_W <= n; i += VM_W) {                                                         \
            V x;                                                                                   \
            memcpy(&x, a + i, sizeof x);                                                           \
            V r = EXPR;                                                                            \
            memcpy(o + i, &r, sizeof r);                                                           \
        }                                                                                          \
    } else if (sb) {                                                                               \
        V x = C(a[0]);                                                                             \
        for (; i + VM_W <= n; i += VM_W) {                                                         \
            V y;                                                                                   \
            memcpy(&y, b + i, sizeof y);                                                           \
            V r = EXPR;                                                                            \
            memcpy(o + i, &r, sizeof r);                                                           \
        }                                                                                          \
    }                                                                                              \
    for (; i < n; i++) {                                                                           \
        float x = a[i * sa], y = b[i * sb];                                                        \
        o[i] = EXPR;                                                                               \
    }                                                                                              \
    break

static VM_ATTR void N(vm_binary)(lm_vm_bop op, const float *a, const float *b, float *o, int64_t n,
                                 int sa, int sb)
{
    int64_t i = 0;
    switch (op) {
    case LM_VB_ADD:
        VM_BIN(x + y);
    case LM_VB_SUB:
        VM_BIN(x - y);
    case LM_VB_MUL:
        VM_BIN(x * y);
    case LM_VB_DIV:
        VM_BIN(x / y);
    default:
        return;
    }
}
#undef VM_BIN

/*
 * Reductions keep LM_VM_LANES partial results whatever the ISA (one
 * AVX-512 vector, two AVX2 vectors, sixteen scalars), element i going to
 * lane i % LM_VM_LANES, and fold them in one fixed tree, so sums are
 * bit-identical across ISAs too.
 */
#define VM_NV (LM_VM_LANES / VM_W)

FN void N(vm_lanes)(const V *acc, float *l)
{
    for (int j = 0; j < VM_NV; j++)
        memcpy(l + j * VM_W, &acc[j], sizeof(V));
}

static inline float N(fold_sum)(float *l)
{
    for (int w = LM_VM_LANES / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            l[i] += l[i + w];
    return l[0];
}

/* The lane sums in double, pairwise: four dependent adds instead of
 * sixteen, whose latency a 256-wide layer-norm row could not hide. */
static inline double N(fold_sum_f64)(const float *l)
{
    double d[LM_VM_LANES];
    for (int i = 0; i < LM_VM_LANES; i++)
        d[i] = l[i];
    for (int w = LM_VM_LANES / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            d[i] += d[i + w];
    return d[0];
}

static inline float N(fold_max)(float *l)
{
    for (int w = LM_VM_LANES / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            l[i] = l[i + w] > l[i] ? l[i + w] : l[i];
    return l[0];
}

/* t = x * scale (x / scale when @div), plus add[i * sa] when @add. */
FN V N(vm_pre)(V v, const float *add, int64_t i, int64_t sa, float scale, int div)
{
    v = div ? v / scale : v * scale;
    if (add) {
        V m;
        if (sa)
            memcpy(&m, add + i, sizeof m);
        else
            m = C(add[0]);
        v = v + m;
    }
    return v;
}

/* ln(FLT_MIN), rounded up: exp of anything below is subnormal or 0. */
#define VM_SM_MIN -87.33654f

/* exp(d), or 0 where that is below FLT_MIN (and NaN for NaN). */
FN V N(vm_exp_norm)(V d)
{
    VI lo = LT(d, C(VM_SM_MIN));
    return N(sel)(lo, C(0.0f), N(vexp)(N(sel)(lo, C(0.0f), d)));
}

static VM_ATTR void N(vm_softmax)(const float *x, const float *add, int64_t sa, float *y, int64_t n,
                                  float scale, int div)
{
    V acc[VM_NV];
    float l[LM_VM_LANES];
    int64_t i = 0, nb = n - n % LM_VM_LANES;
    for (int j = 0; j < VM_NV; j++)
        acc[j] = C(-INFINITY);
    for (; i < nb; i += LM_VM_LANES)
        for (int j = 0; j < VM_NV; j++) {
            V v;
            memcpy(&v, x + i + j * VM_W, sizeof v);
            v = N(vm_pre)(v, add, (i + j * VM_W) * sa, sa, scale, div);
            memcpy(y + i + j * VM_W, &v, sizeof v);
            acc[j] = N(sel)(GT(v, acc[j]), v, acc[j]);
        }
    N(vm_lanes)(acc, l);
    for (; i < n; i++) {
        float t = div ? x[i] / scale : x[i] * scale;
        if (add)
            t = t + add[i * sa];
        y[i] = t;
        l[i % LM_VM_LANES] = t > l[i % LM_VM_LANES] ? t : l[i % LM_VM_LANES];
    }
    float mx = N(fold_max)(l);
    /* exp(t - max) and its sum; the tail runs through a block padded with
     * -inf, whose exp adds zeros. Below VM_SM_MIN exp is under FLT_MIN: 0
     * there, and the argument clamped, so masked lanes (t - max near -1e4)
     * do no subnormal arithmetic, which x86 runs a hundred times slower. */
    for (int j = 0; j < VM_NV; j++)
        acc[j] = C(0.0f);
    for (i = 0; i < nb; i += LM_VM_LANES)
        for (int j = 0; j < VM_NV; j++) {
            V v;
            memcpy(&v, y + i + j * VM_W, sizeof v);
            v = N(vm_exp_norm)(v - mx);
            memcpy(y + i + j * VM_W, &v, sizeof v);
            acc[j] = acc[j] + v;
        }
    if (nb < n) {
        float buf[LM_VM_LANES];
        for (int j = 0; j < LM_VM_LANES; j++)
            buf[j] = nb + j < n ? y[nb + j] : -INFINITY;
        for (int j = 0; j < VM_NV; j++) {
            V v;
            memcpy(&v, buf + j * VM_W, sizeof v);
            v = N(vm_exp_norm)(v - mx);
            memcpy(buf + j * VM_W, &v, sizeof v);
            acc[j] = acc[j] + v;
        }
        memcpy(y + nb, buf, (size_t)(n - nb) * sizeof(float));
    }
    N(vm_lanes)(acc, l);
    float r = 1 / N(fold_sum)(l);
    for (i = 0; i + VM_W <= n; i += VM_W) {
        V v;
        memcpy(&v, y + i, sizeof v);
        v = v * r;
        memcpy(y + i, &v, sizeof v);
    }
    for (; i < n; i++)
        y[i] = y[i] * r;
}

/*
 * Layer normalisation of one row: v = x (+ skip), mean and variance of v
 * (two passes, lanes folded in double), y = (v - mean) * istd * g (+ b).
 * @v_out receives v when given; y may be it.
 */
static VM_ATTR void N(vm_layernorm)(const float *x, const float *skip, float *v_out, float *y,
                                    int64_t n, const float *g, const float *b, float eps,
                                    float *mean_out, float *istd_out)
{
    V acc[VM_NV];
    float l[LM_VM_LANES];
    int64_t i = 0, nb = n - n % LM_VM_LANES;
    const float *v = x;
    if (skip) { /* v = x + skip, kept in v_out (or y) for the passes below */
        float *w = v_out ? v_out : y;
        N(vm_binary)(LM_VB_ADD, x, skip, w, n, 1, 1);
        v = w;
    } else if (v_out) {
        memcpy(v_out, x, (size_t)n * sizeof(float));
    }
    for (int j = 0; j < VM_NV; j++)
        acc[j] = C(0.0f);
    for (; i < nb; i += LM_VM_LANES)
        for (int j = 0; j < VM_NV; j++) {
            V t;
            memcpy(&t, v + i + j * VM_W, sizeof t);
            acc[j] = acc[j] + t;
        }
    N(vm_lanes)(acc, l);
    for (; i < n; i++)
        l[i % LM_VM_LANES] += v[i];
    double s = N(fold_sum_f64)(l);
    float fm = (float)(s / (double)n);
    for (int j = 0; j < VM_NV; j++)
        acc[j] = C(0.0f);
    for (i = 0; i < nb; i += LM_VM_LANES)
        for (int j = 0; j < VM_NV; j++) {
            V t;
            memcpy(&t, v + i + j * VM_W, sizeof t);
            t = t - fm;
            acc[j] = acc[j] + t * t;
        }
    N(vm_lanes)(acc, l);
    for (; i < n; i++) {
        float t = v[i] - fm;
        l[i % LM_VM_LANES] += t * t;
    }
    double s2 = N(fold_sum_f64)(l);
    float fi = (float)(1.0 / sqrt(s2 / (double)n + (double)eps));
    for (i = 0; i + VM_W <= n; i += VM_W) {
        V t, gv;
        memcpy(&t, v + i, sizeof t);
        memcpy(&gv, g + i, sizeof gv);
        t = (t - fm) * fi * gv;
        if (b) {
            V bv;
            memcpy(&bv, b + i, sizeof bv);
            t = t + bv;
        }
        memcpy(y + i, &t, sizeof t);
    }
    for (; i < n; i++) {
        float t = (v[i] - fm) * fi * g[i];
        y[i] = b ? t + b[i] : t;
    }
    if (mean_out)
        *mean_out = fm;
    if (istd_out)
        *istd_out = fi;
}
#undef VM_NV
#undef VM_SM_MIN
#undef ERF_SPLIT
#undef MAGIC
#undef LT
#undef GT
#undef EQ
#undef NE
#undef C
#undef FN
#undef N
#undef VM_CAT
#undef VM_CAT_
