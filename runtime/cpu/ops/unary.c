/*
 * unary.c - CPU kernels for unary math, activations, Clip, Cast and CastLike.
 * Every op is a map over contiguous data: one typed loop per (op, dtype).
 */
#include <float.h>
#include <string.h>
#include <tgmath.h>

#include "../activation.h"
#include "../vmath.h"
#include "ew.h"

#define DT_f16 LOOM_DTYPE_FLOAT16

/* Attribute values and Clip bounds handed to the typed loops. */
typedef struct un_par {
    double alpha, beta, gamma;
    bool pos, neg;       /* IsInf */
    const void *lo, *hi; /* Clip bounds in the kernel's dtype, NULL when absent */
    float flo, fhi;      /* float storage for attribute / staged bounds */
} un_par;

typedef void (*un_fn)(const void *x, void *y, int64_t n, const un_par *p);

/* Expressions see x, t_t, wu_t and alpha/beta/gamma (double). <tgmath.h> picks
 * the float or double libm function from x's type. */
#define UN_PRE(T, WU)                                                                              \
    typedef T t_t;                                                                                 \
    typedef WU wu_t;                                                                               \
    (void)sizeof(t_t);                                                                             \
    (void)sizeof(wu_t);                                                                            \
    const double alpha = p->alpha, beta = p->beta, gamma = p->gamma;                               \
    (void)alpha;                                                                                   \
    (void)beta;                                                                                    \
    (void)gamma;

#define DEF_UN(sfx, T, WU, name, ...)                                                              \
    static void name##_##sfx(const void *px, void *py, int64_t n, const un_par *p)                 \
    {                                                                                              \
        UN_PRE(T, WU)                                                                              \
        const T *xs = px;                                                                          \
        T *ys = py;                                                                                \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T x = xs[i];                                                                     \
            ys[i] = (T)(__VA_ARGS__);                                                              \
        }                                                                                          \
    }

#define DEF_UNB(sfx, T, WU, name, ...)                                                             \
    static void name##_##sfx(const void *px, void *py, int64_t n, const un_par *p)                 \
    {                                                                                              \
        UN_PRE(T, WU)                                                                              \
        const T *xs = px;                                                                          \
        uint8_t *ys = py;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T x = xs[i];                                                                     \
            ys[i] = (uint8_t)(__VA_ARGS__);                                                        \
        }                                                                                          \
    }

#define TAB(name, FOR) static const un_fn name##_tab[LM_NDT] = {FOR(LM_TAB_ENTRY, name)}
#define FLOAT_OP(name, ...)                                                                        \
    LM_FOR_FLOAT(DEF_UN, name, __VA_ARGS__)                                                        \
    TAB(name, LM_FOR_FLOAT);

/* A float op whose float loop is vmath's vector function @vf (bounded error,
 * no libm call per element) and whose double loop is the libm expression. */
#define VM_OP(name, vf, ...)                                                                       \
    DEF_UN(f64, double, double, name, __VA_ARGS__)                                                 \
    static void name##_f32(const void *px, void *py, int64_t n, const un_par *p)                   \
    {                                                                                              \
        (void)p;                                                                                   \
        lm_vm_apply(vf, px, py, n);                                                                \
    }                                                                                              \
    TAB(name, LM_FOR_FLOAT);

/* Plain math. */
LM_FOR_FLOAT(DEF_UN, abs, fabs(x))
LM_FOR_SINT(DEF_UN, abs, x < 0 ? (t_t)(0 - (wu_t)x) : x)
LM_FOR_UINT(DEF_UN, abs, x)
TAB(abs, LM_FOR_NUM);
LM_FOR_FLOAT(DEF_UN, neg, -x)
LM_FOR_SINT(DEF_UN, neg, (t_t)(0 - (wu_t)x))
TAB(neg, LM_FOR_SIGNED);
LM_FOR_FLOAT(DEF_UN, sign, x > 0 ? 1 : x < 0 ? -1 : x)
LM_FOR_SINT(DEF_UN, sign, (x > 0) - (x < 0))
LM_FOR_UINT(DEF_UN, sign, x > 0)
TAB(sign, LM_FOR_NUM);
FLOAT_OP(recip, 1 / x)
FLOAT_OP(floor, floor(x))
FLOAT_OP(ceil, ceil(x))
/* nearbyint rounds half to even in the default rounding mode, as ONNX asks. */
FLOAT_OP(round, nearbyint(x))
FLOAT_OP(sqrt, sqrt(x))
VM_OP(exp, LM_VM_EXP, exp(x))
VM_OP(log, LM_VM_LOG, log(x))
FLOAT_OP(sin, sin(x))
FLOAT_OP(cos, cos(x))
FLOAT_OP(tan, tan(x))
FLOAT_OP(asin, asin(x))
FLOAT_OP(acos, acos(x))
FLOAT_OP(atan, atan(x))
FLOAT_OP(sinh, sinh(x))
FLOAT_OP(cosh, cosh(x))
FLOAT_OP(asinh, asinh(x))
FLOAT_OP(acosh, acosh(x))
FLOAT_OP(atanh, atanh(x))
VM_OP(erf, LM_VM_ERF, erf(x))
VM_OP(tanh, LM_VM_TANH, tanh(x))

/* Activations. */
LM_FOR_FLOAT(DEF_UN, relu, x < 0 ? 0 : x)
LM_FOR_SINT(DEF_UN, relu, x < 0 ? 0 : x)
TAB(relu, LM_FOR_SIGNED);
FLOAT_OP(leaky, x < 0 ? (t_t)alpha * x : x)
FLOAT_OP(elu, x < 0 ? (t_t)alpha * expm1(x) : x)
FLOAT_OP(selu, x > 0 ? (t_t)gamma * x : (t_t)gamma * ((t_t)alpha * exp(x) - (t_t)alpha))
FLOAT_OP(celu, (x > 0 ? x : 0) + (x < 0 ? (t_t)alpha * expm1(x / (t_t)alpha) : 0))
FLOAT_OP(threlu, x > (t_t)alpha ? x : 0)
/* Split by sign so exp never overflows: exp(-|x|) is in (0, 1]. */
VM_OP(sigmoid, LM_VM_SIGMOID, x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)))
static inline double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}
FLOAT_OP(hsigmoid, clamp01(alpha *x + beta))
DEF_UN(f64, double, double, hswish, x *(t_t)clamp01((double)x / 6 + 0.5))
/* Float HardSwish in the activation epilogue's vector form (in float, like the
 * Conv epilogue that fuses it). */
static void hswish_f32(const void *px, void *py, int64_t n, const un_par *p)
{
    (void)p;
    if (px != py)
        memcpy(py, px, (size_t)n * sizeof(float));
    lm_act_apply_vec(&(lm_act){LM_ACT_HARD_SWISH, 0.0f, 0.0f}, py, n);
}
TAB(hswish, LM_FOR_FLOAT);
/* log(1 + exp(x)) without overflow: x + log1p(exp(-x)) for positive x. */
VM_OP(softplus, LM_VM_SOFTPLUS, x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))
FLOAT_OP(softsign, x / (1 + fabs(x)))
/* loom.Silu, what fuse_act.c makes of Mul(x, Sigmoid(x)) */
VM_OP(silu, LM_VM_SILU, x >= 0 ? x / (1 + exp(-x)) : x * exp(x) / (1 + exp(x)))
VM_OP(mish, LM_VM_MISH, x *tanh(x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))))
VM_OP(gelu, LM_VM_GELU, 0.5 * x * erfc(-x / sqrt(2.0)))
VM_OP(gelu_tanh, LM_VM_GELU_TANH,
      0.5 * x * (1 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))))
LM_FOR_FLOAT(DEF_UN, shrink, x<-alpha ? x + beta : x> alpha ? x - beta : 0)
LM_FOR_INT(DEF_UN, shrink,
           (double)x<-alpha ? (t_t)lm_sat_i64((double)x + beta) : (double)x> alpha
               ? (t_t)lm_sat_i64((double)x - beta)
               : 0)
TAB(shrink, LM_FOR_NUM);

/* Predicates. */
LM_FOR_FLOAT(DEF_UNB, isnan, x != x)
TAB(isnan, LM_FOR_FLOAT);
LM_FOR_FLOAT(DEF_UNB, isinf, (p->pos && x == INFINITY) || (p->neg && x == -INFINITY))
TAB(isinf, LM_FOR_FLOAT);
DEF_UN(b8, uint8_t, uint32_t, not, !x)
static const un_fn not_tab[LM_NDT] = {[DT_b8] = not_b8};
LM_FOR_INT(DEF_UN, bnot, ~x)
TAB(bnot, LM_FOR_INT);

/* Clip: bounds are read in the data's own dtype (int64 bounds stay exact). */
#define DEF_CLIP(sfx, T, WU, unused)                                                               \
    static void clip_##sfx(const void *px, void *py, int64_t n, const un_par *p)                   \
    {                                                                                              \
        const T *x = px;                                                                           \
        T *y = py;                                                                                 \
        if (p->lo && p->hi) {                                                                      \
            const T lo = *(const T *)p->lo, hi = *(const T *)p->hi;                                \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T v = x[i] < lo ? lo : x[i];                                                       \
                y[i] = v > hi ? hi : v;                                                            \
            }                                                                                      \
        } else if (p->lo) {                                                                        \
            const T lo = *(const T *)p->lo;                                                        \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = x[i] < lo ? lo : x[i];                                                      \
        } else if (p->hi) {                                                                        \
            const T hi = *(const T *)p->hi;                                                        \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = x[i] > hi ? hi : x[i];                                                      \
        } else {                                                                                   \
            memcpy(y, x, (size_t)n * sizeof(T));                                                   \
        }                                                                                          \
    }
LM_FOR_NUM(DEF_CLIP, 0)
static const un_fn clip_tab[LM_NDT] = {LM_FOR_NUM(LM_TAB_ENTRY, clip)};

/* ------------------------------------------------------------------------ */
/* Drivers                                                                  */

typedef struct un_job {
    un_fn fn;
    const char *x;
    char *y;
    size_t ex, ey;
    const un_par *p;
} un_job;

static void un_range(void *arg, int64_t b, int64_t e)
{
    const un_job *j = arg;
    j->fn(j->x + b * (int64_t)j->ex, j->y + b * (int64_t)j->ey, e - b, j->p);
}

static void un_exec(lm_kctx *k, un_fn fn, const void *x, size_t ex, void *y, size_t ey, int64_t n,
                    const un_par *p, double cost)
{
    if (n <= 0)
        return;
    un_job j = {fn, x, y, ex, ey, p};
    lm_parallel_for(k, n, cost, un_range, &j);
}

/*
 * Validates a one-input op, declares Y (same shape; bool when @out_bool) and
 * runs @tab's loop; float16 goes through the float loop.
 */
static loom_status run_unary_in(lm_kctx *k, const un_fn *tab, bool out_bool, const un_par *p,
                                double cost, int max_in)
{
    loom_status s = lm_kcheck_arity(k, 1, max_in);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *x = lm_kin(k, 0);
    loom_dtype dt = x->dtype;
    bool half = false;
    un_fn fn = (unsigned)dt < LM_NDT ? tab[dt] : NULL;
    if (!fn && dt == LOOM_DTYPE_FLOAT16 && tab[LOOM_DTYPE_FLOAT]) {
        fn = tab[LOOM_DTYPE_FLOAT];
        half = true;
    }
    if (!fn)
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(dt));
    loom_tensor *y = lm_kout_like(k, 0, out_bool ? LOOM_DTYPE_BOOL : dt, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t n = lm_tensor_count(x);
    if (!half) {
        un_exec(k, fn, x->data, loom_dtype_size(dt), y->data, loom_dtype_size(y->dtype), n, p,
                cost);
        return LOOM_OK;
    }
    float *fx = lm_stage_half(k, x);
    if (!fx)
        return LOOM_ERR_NO_MEMORY;
    if (out_bool) {
        un_exec(k, fn, fx, 4, y->data, 1, n, p, cost);
        return LOOM_OK;
    }
    /* In place in the staged buffer: every loop reads x[i] before writing y[i]. */
    un_exec(k, fn, fx, 4, fx, 4, n, p, cost);
    lm_float_to_half_n(fx, y->data, n);
    return LOOM_OK;
}

static loom_status run_unary(lm_kctx *k, const un_fn *tab, bool out_bool, const un_par *p,
                             double cost)
{
    return run_unary_in(k, tab, out_bool, p, cost, 1);
}

#define SIMPLE(opname, tab, cost)                                                                  \
    static loom_status op_##opname(lm_kctx *k)                                                     \
    {                                                                                              \
        un_par p = {0};                                                                            \
        return run_unary(k, tab, false, &p, cost);                                                 \
    }

SIMPLE(abs, abs_tab, 0.5)
SIMPLE(neg, neg_tab, 0.5)
SIMPLE(sign, sign_tab, 0.5)
SIMPLE(reciprocal, recip_tab, 0.5)
SIMPLE(floor, floor_tab, 0.5)
SIMPLE(ceil, ceil_tab, 0.5)
SIMPLE(round, round_tab, 1)
SIMPLE(sqrt, sqrt_tab, 1)
SIMPLE(exp, exp_tab, 5)
SIMPLE(log, log_tab, 5)
SIMPLE(sin, sin_tab, 5)
SIMPLE(cos, cos_tab, 5)
SIMPLE(tan, tan_tab, 5)
SIMPLE(asin, asin_tab, 5)
SIMPLE(acos, acos_tab, 5)
SIMPLE(atan, atan_tab, 5)
SIMPLE(sinh, sinh_tab, 5)
SIMPLE(cosh, cosh_tab, 5)
SIMPLE(asinh, asinh_tab, 5)
SIMPLE(acosh, acosh_tab, 5)
SIMPLE(atanh, atanh_tab, 5)
SIMPLE(erf, erf_tab, 5)
SIMPLE(tanh, tanh_tab, 5)
SIMPLE(relu, relu_tab, 0.5)
SIMPLE(sigmoid, sigmoid_tab, 5)
SIMPLE(hard_swish, hswish_tab, 1)
SIMPLE(softplus, softplus_tab, 8)
SIMPLE(softsign, softsign_tab, 1)
SIMPLE(silu, silu_tab, 6)
SIMPLE(mish, mish_tab, 8)

/* Gelu (opset 20): approximate = "none" (erf) or "tanh". */
static loom_status op_gelu(lm_kctx *k)
{
    un_par p = {0};
    const char *approx = lm_node_attr_str(k->node, "approximate", "none");
    if (strcmp(approx, "none") == 0)
        return run_unary(k, gelu_tab, false, &p, 10);
    if (strcmp(approx, "tanh") == 0)
        return run_unary(k, gelu_tanh_tab, false, &p, 8);
    return lm_kinvalid(k, "approximate must be 'none' or 'tanh', got '%s'", approx);
}
SIMPLE(not, not_tab, 0.5)
SIMPLE(bitwise_not, bnot_tab, 0.5)

static loom_status op_isnan(lm_kctx *k)
{
    un_par p = {0};
    return run_unary(k, isnan_tab, true, &p, 0.5);
}

static loom_status op_isinf(lm_kctx *k)
{
    un_par p = {0};
    p.pos = lm_node_attr_int(k->node, "detect_positive", 1) != 0;
    p.neg = lm_node_attr_int(k->node, "detect_negative", 1) != 0;
    return run_unary(k, isinf_tab, true, &p, 0.5);
}

static loom_status op_leaky_relu(lm_kctx *k)
{
    un_par p = {.alpha = lm_node_attr_float(k->node, "alpha", 0.01f)};
    return run_unary(k, leaky_tab, false, &p, 0.5);
}

static loom_status op_elu(lm_kctx *k)
{
    un_par p = {.alpha = lm_node_attr_float(k->node, "alpha", 1.0f)};
    return run_unary(k, elu_tab, false, &p, 5);
}

static loom_status op_selu(lm_kctx *k)
{
    un_par p = {.alpha = lm_node_attr_float(k->node, "alpha", 1.67326319217681884765625f),
                .gamma = lm_node_attr_float(k->node, "gamma", 1.05070102214813232421875f)};
    return run_unary(k, selu_tab, false, &p, 5);
}

static loom_status op_celu(lm_kctx *k)
{
    un_par p = {.alpha = lm_node_attr_float(k->node, "alpha", 1.0f)};
    if (p.alpha == 0)
        return lm_kinvalid(k, "alpha must be non-zero");
    return run_unary(k, celu_tab, false, &p, 5);
}

static loom_status op_thresholded_relu(lm_kctx *k)
{
    un_par p = {.alpha = lm_node_attr_float(k->node, "alpha", 1.0f)};
    return run_unary(k, threlu_tab, false, &p, 0.5);
}

static loom_status op_hard_sigmoid(lm_kctx *k)
{
    un_par p = {.alpha = lm_node_attr_float(k->node, "alpha", 0.2f),
                .beta = lm_node_attr_float(k->node, "beta", 0.5f)};
    return run_unary(k, hsigmoid_tab, false, &p, 1);
}

static loom_status op_shrink(lm_kctx *k)
{
    un_par p = {.alpha = lm_node_attr_float(k->node, "lambd", 0.5f),
                .beta = lm_node_attr_float(k->node, "bias", 0)};
    return run_unary(k, shrink_tab, false, &p, 1);
}

static loom_status op_clip(lm_kctx *k)
{
    un_par p = {0};
    const loom_tensor *x = k->n_in > 0 ? lm_kin(k, 0) : NULL;
    if (lm_kopset(k) < 11) {
        p.flo = lm_node_attr_float(k->node, "min", -FLT_MAX);
        p.fhi = lm_node_attr_float(k->node, "max", FLT_MAX);
        if (x && x->dtype == LOOM_DTYPE_DOUBLE) {
            /* Attribute bounds are floats; a double copy keeps the loop typed. */
            double *b = lm_kscratch(k, 2 * sizeof(double));
            if (!b)
                return LOOM_ERR_NO_MEMORY;
            b[0] = p.flo;
            b[1] = p.fhi;
            p.lo = &b[0];
            p.hi = &b[1];
        } else if (x && (x->dtype == LOOM_DTYPE_FLOAT || x->dtype == LOOM_DTYPE_FLOAT16)) {
            p.lo = &p.flo;
            p.hi = &p.fhi;
        } else if (x) {
            return lm_kunsupported(k, "dtype %s not supported before opset 11",
                                   loom_dtype_name(x->dtype));
        }
        return run_unary_in(k, clip_tab, false, &p, 0.5, 1);
    }
    for (int i = 1; i <= 2 && x; i++) {
        const loom_tensor *b = lm_kin(k, i);
        if (!b)
            continue;
        if (b->dtype != x->dtype)
            return lm_kinvalid(k, "input %d dtype %s differs from X dtype %s", i,
                               loom_dtype_name(b->dtype), loom_dtype_name(x->dtype));
        if (lm_tensor_count(b) != 1)
            return lm_kinvalid(k, "input %d (%s) must be a scalar, has %lld elements", i,
                               i == 1 ? "min" : "max", (long long)lm_tensor_count(b));
        if (!b->data)
            continue; /* dry pass: bounds do not change the shape */
        if (x->dtype == LOOM_DTYPE_FLOAT16) {
            float *f = i == 1 ? &p.flo : &p.fhi;
            *f = lm_half_to_float(*(const uint16_t *)b->data);
            *(i == 1 ? &p.lo : &p.hi) = f;
        } else {
            *(i == 1 ? &p.lo : &p.hi) = b->data;
        }
    }
    return run_unary_in(k, clip_tab, false, &p, 0.5, 3);
}

/* ------------------------------------------------------------------------ */
/* Cast                                                                     */

/* Per target type: converters from a double (float sources, saturating into
 * integers), an int64 and a uint64 (integer sources, wrapping like C). */
#define CONV_FLT(so, TO)                                                                           \
    static inline TO to_##so##_f(double v)                                                         \
    {                                                                                              \
        return (TO)v;                                                                              \
    }                                                                                              \
    static inline TO to_##so##_i(int64_t v)                                                        \
    {                                                                                              \
        return (TO)v;                                                                              \
    }                                                                                              \
    static inline TO to_##so##_u(uint64_t v)                                                       \
    {                                                                                              \
        return (TO)v;                                                                              \
    }
#define CONV_SINT(so, TO)                                                                          \
    static inline TO to_##so##_f(double v)                                                         \
    {                                                                                              \
        return (TO)lm_sat_i64(v);                                                                  \
    }                                                                                              \
    static inline TO to_##so##_i(int64_t v)                                                        \
    {                                                                                              \
        return (TO)v;                                                                              \
    }                                                                                              \
    static inline TO to_##so##_u(uint64_t v)                                                       \
    {                                                                                              \
        return (TO)v;                                                                              \
    }
#define CONV_UINT(so, TO)                                                                          \
    static inline TO to_##so##_f(double v)                                                         \
    {                                                                                              \
        return v < 0 ? (TO)lm_sat_i64(v) : (TO)lm_sat_u64(v);                                      \
    }                                                                                              \
    static inline TO to_##so##_i(int64_t v)                                                        \
    {                                                                                              \
        return (TO)v;                                                                              \
    }                                                                                              \
    static inline TO to_##so##_u(uint64_t v)                                                       \
    {                                                                                              \
        return (TO)v;                                                                              \
    }
CONV_FLT(f32, float)
CONV_FLT(f64, double)
CONV_SINT(i8, int8_t)
CONV_SINT(i16, int16_t)
CONV_SINT(i32, int32_t)
CONV_SINT(i64, int64_t)
CONV_UINT(u8, uint8_t)
CONV_UINT(u16, uint16_t)
CONV_UINT(u32, uint32_t)
CONV_UINT(u64, uint64_t)
static inline uint8_t to_b8_f(double v)
{
    return v != 0;
}
static inline uint8_t to_b8_i(int64_t v)
{
    return v != 0;
}
static inline uint8_t to_b8_u(uint64_t v)
{
    return v != 0;
}
static inline uint16_t to_f16_f(double v)
{
    return lm_float_to_half((float)v);
}
static inline uint16_t to_f16_i(int64_t v)
{
    return lm_float_to_half((float)v);
}
static inline uint16_t to_f16_u(uint64_t v)
{
    return lm_float_to_half((float)v);
}

/* Source readers by kind: f (float), i (signed), u (unsigned), b (bool), h (half). */
#define RD_f(v)            (double)(v)
#define RD_i(v)            (int64_t)(v)
#define RD_u(v)            (uint64_t)(v)
#define RD_b(v)            (int64_t)((v) != 0)
#define RD_h(v)            (double)lm_half_to_float(v)
#define CK_f               f
#define CK_i               i
#define CK_u               u
#define CK_b               i
#define CK_h               f
#define CONV_NAME_(so, ck) to_##so##_##ck
#define CONV_NAME(so, ck)  CONV_NAME_(so, ck)

#define CAST_LOOP(so, TO, si, TI, K)                                                               \
    static void cast_##si##_##so(const void *px, void *py, int64_t n, const un_par *p)             \
    {                                                                                              \
        const TI *x = px;                                                                          \
        TO *y = py;                                                                                \
        for (int64_t i = 0; i < n; i++)                                                            \
            y[i] = CONV_NAME(so, CK_##K)(RD_##K(x[i]));                                            \
    }
#define CAST_ENTRY(so, TO, si, TI, K) [DT_##si][DT_##so] = cast_##si##_##so,

#define CAST_TARGETS(X, ...)                                                                       \
    X(f32, float, __VA_ARGS__)                                                                     \
    X(f64, double, __VA_ARGS__)                                                                    \
    X(i8, int8_t, __VA_ARGS__)                                                                     \
    X(i16, int16_t, __VA_ARGS__)                                                                   \
    X(i32, int32_t, __VA_ARGS__)                                                                   \
    X(i64, int64_t, __VA_ARGS__)                                                                   \
    X(u8, uint8_t, __VA_ARGS__)                                                                    \
    X(u16, uint16_t, __VA_ARGS__)                                                                  \
    X(u32, uint32_t, __VA_ARGS__)                                                                  \
    X(u64, uint64_t, __VA_ARGS__)                                                                  \
    X(b8, uint8_t, __VA_ARGS__)                                                                    \
    X(f16, uint16_t, __VA_ARGS__)
#define CAST_SOURCES(X, M)                                                                         \
    X(M, f32, float, f)                                                                            \
    X(M, f64, double, f)                                                                           \
    X(M, i8, int8_t, i)                                                                            \
    X(M, i16, int16_t, i)                                                                          \
    X(M, i32, int32_t, i)                                                                          \
    X(M, i64, int64_t, i)                                                                          \
    X(M, u8, uint8_t, u)                                                                           \
    X(M, u16, uint16_t, u)                                                                         \
    X(M, u32, uint32_t, u)                                                                         \
    X(M, u64, uint64_t, u)                                                                         \
    X(M, b8, uint8_t, b)                                                                           \
    X(M, f16, uint16_t, h)
#define CAST_FOR_SRC(M, si, TI, K) CAST_TARGETS(M, si, TI, K)

CAST_SOURCES(CAST_FOR_SRC, CAST_LOOP)
static const un_fn cast_tab[LM_NDT][LM_NDT] = {CAST_SOURCES(CAST_FOR_SRC, CAST_ENTRY)};

static loom_status run_cast(lm_kctx *k, int64_t to)
{
    const loom_tensor *x = lm_kin(k, 0);
    loom_dtype from = x->dtype;
    if (to < 0 || to >= LM_NDT || !cast_tab[LOOM_DTYPE_FLOAT][to])
        return lm_kunsupported(k, "cast to dtype %lld not supported", (long long)to);
    if ((unsigned)from >= LM_NDT || !cast_tab[from][LOOM_DTYPE_FLOAT])
        return lm_kunsupported(k, "cast from dtype %s not supported", loom_dtype_name(from));
    loom_tensor *y = lm_kout_like(k, 0, (loom_dtype)to, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t n = lm_tensor_count(x);
    if (from == to) {
        if (n > 0)
            memcpy(y->data, x->data, (size_t)n * loom_dtype_size(from));
        return LOOM_OK;
    }
    un_par p = {0};
    un_exec(k, cast_tab[from][to], x->data, loom_dtype_size(from), y->data,
            loom_dtype_size((loom_dtype)to), n, &p, 0.5);
    return LOOM_OK;
}

static loom_status op_cast(lm_kctx *k)
{
    loom_status s = lm_kcheck_arity(k, 1, 1);
    if (s != LOOM_OK)
        return s;
    if (!lm_node_has_attr(k->node, "to"))
        return lm_kinvalid(k, "attribute 'to' is required");
    return run_cast(k, lm_node_attr_int(k->node, "to", 0));
}

static loom_status op_cast_like(lm_kctx *k)
{
    loom_status s = lm_kcheck_arity(k, 2, 2);
    if (s != LOOM_OK)
        return s;
    return run_cast(k, lm_kin(k, 1)->dtype);
}

const lm_op_def lm_ops_unary[] = {
    LM_OP_FULL("", "Abs", op_abs),
    LM_OP_FULL("", "Neg", op_neg),
    LM_OP_FULL("", "Sign", op_sign),
    LM_OP_FULL("", "Reciprocal", op_reciprocal),
    LM_OP_FULL("", "Floor", op_floor),
    LM_OP_FULL("", "Ceil", op_ceil),
    LM_OP_FULL("", "Round", op_round),
    LM_OP_FULL("", "Sqrt", op_sqrt),
    LM_OP_FULL("", "Exp", op_exp),
    LM_OP_FULL("", "Log", op_log),
    LM_OP_FULL("", "Sin", op_sin),
    LM_OP_FULL("", "Cos", op_cos),
    LM_OP_FULL("", "Tan", op_tan),
    LM_OP_FULL("", "Asin", op_asin),
    LM_OP_FULL("", "Acos", op_acos),
    LM_OP_FULL("", "Atan", op_atan),
    LM_OP_FULL("", "Sinh", op_sinh),
    LM_OP_FULL("", "Cosh", op_cosh),
    LM_OP_FULL("", "Asinh", op_asinh),
    LM_OP_FULL("", "Acosh", op_acosh),
    LM_OP_FULL("", "Atanh", op_atanh),
    LM_OP_FULL("", "Erf", op_erf),
    LM_OP_FULL("", "Tanh", op_tanh),
    LM_OP_FULL("", "IsNaN", op_isnan),
    LM_OP_FULL("", "IsInf", op_isinf),
    LM_OP_FULL("", "Not", op_not),
    LM_OP_FULL("", "BitwiseNot", op_bitwise_not),
    LM_OP_FULL("", "Relu", op_relu),
    LM_OP_FULL("", "LeakyRelu", op_leaky_relu),
    LM_OP_FULL("", "Elu", op_elu),
    LM_OP_FULL("", "Selu", op_selu),
    LM_OP_FULL("", "Celu", op_celu),
    LM_OP_FULL("", "ThresholdedRelu", op_thresholded_relu),
    LM_OP_FULL("", "Sigmoid", op_sigmoid),
    LM_OP_FULL("", "HardSigmoid", op_hard_sigmoid),
    LM_OP_FULL("", "HardSwish", op_hard_swish),
    LM_OP_FULL("", "Softplus", op_softplus),
    LM_OP_FULL("", "Softsign", op_softsign),
    LM_OP_FULL("", "Mish", op_mish),
    LM_OP_FULL("loom", "Silu", op_silu),
    LM_OP_FULL("", "Gelu", op_gelu),
    LM_OP_FULL("", "Shrink", op_shrink),
    LM_OP_FULL("", "Clip", op_clip),
    LM_OP_FULL("", "Cast", op_cast),
    LM_OP_FULL("", "CastLike", op_cast_like),
    LM_OP_END,
};
