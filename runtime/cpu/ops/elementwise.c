/*
 * elementwise.c - CPU kernels for broadcasting binary and variadic operators:
 * arithmetic, comparison, logical, bitwise, Min/Max/Sum/Mean, Where, PRelu.
 * Unary math, activations and Cast live in unary.c.
 */
#include <math.h>
#include <string.h>

#include "../vmath.h"
#include "activation_epilogue.h"
#include "ew.h"

/*
 * A binary row kernel: o[i] = f(a[i*sa], b[i*sb]) for i < n, with sa, sb in {0,1}.
 * Each (op, dtype) gets its own function with one tight loop per stride pattern,
 * so the compiler vectorizes the contiguous and scalar-operand cases.
 */
typedef void (*bin_fn)(const void *a, const void *b, void *o, int64_t n, int sa, int sb);

#define BIN_BODY(T, TA, TB, TO, ...)                                                               \
    const TA *a = pa;                                                                              \
    const TB *b = pb;                                                                              \
    TO *o = po;                                                                                    \
    if (sa && sb) {                                                                                \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const TA x = a[i];                                                                     \
            const TB y = b[i];                                                                     \
            o[i] = (TO)(__VA_ARGS__);                                                              \
        }                                                                                          \
    } else if (sa) {                                                                               \
        const TB y = b[0];                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const TA x = a[i];                                                                     \
            o[i] = (TO)(__VA_ARGS__);                                                              \
        }                                                                                          \
    } else if (sb) {                                                                               \
        const TA x = a[0];                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const TB y = b[i];                                                                     \
            o[i] = (TO)(__VA_ARGS__);                                                              \
        }                                                                                          \
    } else {                                                                                       \
        const TA x = a[0];                                                                         \
        const TB y = b[0];                                                                         \
        const TO v = (TO)(__VA_ARGS__);                                                            \
        for (int64_t i = 0; i < n; i++)                                                            \
            o[i] = v;                                                                              \
    }

/* Same-typed operands, output of the operand type. Expressions see x, y, t_t, wu_t. */
#define DEF_ARITH(sfx, T, WU, name, ...)                                                           \
    static void name##_##sfx(const void *pa, const void *pb, void *po, int64_t n, int sa, int sb)  \
    {                                                                                              \
        typedef T t_t;                                                                             \
        typedef WU wu_t;                                                                           \
        (void)sizeof(t_t);                                                                         \
        (void)sizeof(wu_t);                                                                        \
        BIN_BODY(T, T, T, T, __VA_ARGS__)                                                          \
    }

/* Same-typed operands, bool output. */
#define DEF_CMP(sfx, T, WU, name, ...)                                                             \
    static void name##_##sfx(const void *pa, const void *pb, void *po, int64_t n, int sa, int sb)  \
    {                                                                                              \
        BIN_BODY(T, T, T, uint8_t, __VA_ARGS__)                                                    \
    }

#define TAB(name, FOR) static const bin_fn name##_tab[LM_NDT] = {FOR(LM_TAB_ENTRY, name)}

/* Wrapping integer arithmetic (see WU in ew.h); plain arithmetic for floats. */
#define E_ADD (t_t)((wu_t)x + (wu_t)y)
#define E_SUB (t_t)((wu_t)x - (wu_t)y)
#define E_MUL (t_t)((wu_t)x * (wu_t)y)
/* Integer division by zero (and INT_MIN / -1) trap on x86: define them instead. */
#define E_DIV_S (y == 0 ? 0 : y == -1 ? (t_t)(0 - (wu_t)x) : x / y)
#define E_DIV_U (y == 0 ? 0 : x / y)
/* NaN-propagating min/max, like numpy's minimum/maximum. */
#define E_MIN ((x != x || x < y) ? x : y)
#define E_MAX ((x != x || x > y) ? x : y)

LM_FOR_NUM(DEF_ARITH, add, E_ADD)
LM_FOR_NUM(DEF_ARITH, sub, E_SUB)
LM_FOR_NUM(DEF_ARITH, mul, E_MUL)
LM_FOR_FLOAT(DEF_ARITH, div, x / y)
LM_FOR_SINT(DEF_ARITH, div, E_DIV_S)
LM_FOR_UINT(DEF_ARITH, div, E_DIV_U)
LM_FOR_NUM(DEF_ARITH, min, E_MIN)
LM_FOR_NUM(DEF_ARITH, max, E_MAX)
TAB(add, LM_FOR_NUM);
TAB(sub, LM_FOR_NUM);
TAB(mul, LM_FOR_NUM);
TAB(div, LM_FOR_NUM);
TAB(min, LM_FOR_NUM);
TAB(max, LM_FOR_NUM);

/* float Add/Sub/Mul/Div rows on vmath's vector kernels (AVX-512/AVX2):
 * the same IEEE results as the loops above, several times the width. */
#define DEF_VBIN(name, OP)                                                                         \
    static void name##_f32v(const void *a, const void *b, void *o, int64_t n, int sa, int sb)      \
    {                                                                                              \
        lm_vm_binary(OP, a, b, o, n, sa, sb);                                                      \
    }
DEF_VBIN(add, LM_VB_ADD)
DEF_VBIN(sub, LM_VB_SUB)
DEF_VBIN(mul, LM_VB_MUL)
DEF_VBIN(div, LM_VB_DIV)

/* Mod: fmod=0 takes the divisor's sign (Python), fmod=1 the dividend's (C). */
static inline int64_t mod_py_i(int64_t x, int64_t y)
{
    if (y == 0 || y == -1)
        return 0;
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}
static inline double modpy_f(double x, double y)
{
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}
LM_FOR_FLOAT(DEF_ARITH, modpy, modpy_f(x, y))
LM_FOR_SINT(DEF_ARITH, modpy, mod_py_i(x, y))
LM_FOR_UINT(DEF_ARITH, modpy, y == 0 ? 0 : x % y)
LM_FOR_FLOAT(DEF_ARITH, modc, fmod(x, y))
LM_FOR_SINT(DEF_ARITH, modc, (y == 0 || y == -1) ? 0 : x % y)
LM_FOR_UINT(DEF_ARITH, modc, y == 0 ? 0 : x % y)
TAB(modpy, LM_FOR_NUM);
TAB(modc, LM_FOR_NUM);

/* Pow with both operands of one float type. */
LM_FOR_FLOAT(DEF_ARITH, powff, pow(x, y))
TAB(powff, LM_FOR_FLOAT);

/* Pow with base T and the exponent staged as double (any exponent dtype). */
static inline int64_t ipow_i64(int64_t x, int64_t e)
{
    uint64_t r = 1, b = (uint64_t)x;
    while (e > 0) {
        if (e & 1)
            r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}
#define DEF_POWX(sfx, T, WU, unused)                                                               \
    static void powx_##sfx(const void *pa, const void *pb, void *po, int64_t n, int sa, int sb)    \
    {                                                                                              \
        BIN_BODY(T, T, double, T, powx_conv_##sfx(x, y))                                           \
    }
#define POWX_FLOAT(sfx, T, WU, unused)                                                             \
    static inline T powx_conv_##sfx(T x, double y)                                                 \
    {                                                                                              \
        return (T)pow((double)x, y);                                                               \
    }
#define POWX_SINT(sfx, T, WU, unused)                                                              \
    static inline T powx_conv_##sfx(T x, double y)                                                 \
    {                                                                                              \
        if (y >= 0 && y <= 9.2e18 && y == floor(y))                                                \
            return (T)ipow_i64(x, (int64_t)y);                                                     \
        return (T)lm_sat_i64(pow((double)x, y));                                                   \
    }
#define POWX_UINT(sfx, T, WU, unused)                                                              \
    static inline T powx_conv_##sfx(T x, double y)                                                 \
    {                                                                                              \
        if (y >= 0 && y <= 9.2e18 && y == floor(y))                                                \
            return (T)ipow_i64((int64_t)x, (int64_t)y);                                            \
        return (T)lm_sat_u64(pow((double)x, y));                                                   \
    }
LM_FOR_FLOAT(POWX_FLOAT, 0)
LM_FOR_SINT(POWX_SINT, 0)
LM_FOR_UINT(POWX_UINT, 0)
LM_FOR_NUM(DEF_POWX, 0)
static const bin_fn powx_tab[LM_NDT] = {LM_FOR_NUM(LM_TAB_ENTRY, powx)};

/* Comparisons. */
LM_FOR_NUM(DEF_CMP, eq, x == y)
LM_FOR_NUM(DEF_CMP, lt, x < y)
LM_FOR_NUM(DEF_CMP, gt, x > y)
LM_FOR_NUM(DEF_CMP, le, x <= y)
LM_FOR_NUM(DEF_CMP, ge, x >= y)
DEF_CMP(b8, uint8_t, uint32_t, eq, (x != 0) == (y != 0))
static const bin_fn eq_tab[LM_NDT] = {LM_FOR_NUM(LM_TAB_ENTRY, eq)[DT_b8] = eq_b8};
TAB(lt, LM_FOR_NUM);
TAB(gt, LM_FOR_NUM);
TAB(le, LM_FOR_NUM);
TAB(ge, LM_FOR_NUM);

/* Logical ops on bool. */
DEF_CMP(b8, uint8_t, uint32_t, land, (x != 0) & (y != 0))
DEF_CMP(b8, uint8_t, uint32_t, lor, (x != 0) | (y != 0))
DEF_CMP(b8, uint8_t, uint32_t, lxor, (x != 0) ^ (y != 0))
static const bin_fn land_tab[LM_NDT] = {[DT_b8] = land_b8};
static const bin_fn lor_tab[LM_NDT] = {[DT_b8] = lor_b8};
static const bin_fn lxor_tab[LM_NDT] = {[DT_b8] = lxor_b8};

/* Bitwise ops and shifts; shifting by the width or more is undefined in C, so it
 * yields 0 here (all bits shifted out). */
LM_FOR_INT(DEF_ARITH, band, x &y)
LM_FOR_INT(DEF_ARITH, bor, x | y)
LM_FOR_INT(DEF_ARITH, bxor, x ^ y)
TAB(band, LM_FOR_INT);
TAB(bor, LM_FOR_INT);
TAB(bxor, LM_FOR_INT);
LM_FOR_UINT(DEF_ARITH, shl, (uint64_t)y >= sizeof(t_t) * 8 ? 0 : (t_t)((wu_t)x << y))
LM_FOR_UINT(DEF_ARITH, shr, (uint64_t)y >= sizeof(t_t) * 8 ? 0 : (t_t)(x >> y))
TAB(shl, LM_FOR_UINT);
TAB(shr, LM_FOR_UINT);

/* PRelu: slope y applies where x < 0. */
LM_FOR_SIGNED(DEF_ARITH, prelu, x < 0 ? E_MUL : x)
LM_FOR_UINT(DEF_ARITH, prelu, ((void)y, x))
TAB(prelu, LM_FOR_NUM);

/* ------------------------------------------------------------------------ */
/* Drivers                                                                  */

typedef struct bin_ctx {
    const char *a, *b;
    char *o;
    size_t ea, eb, eo;
    bin_fn fn;
    const lm_act *act; /* float output rows: the activation fused into the op, or NULL */
} bin_ctx;

static void bin_row(void *ctx, const int64_t *off, int64_t oo, int64_t n, const int *inner)
{
    const bin_ctx *c = ctx;
    char *o = c->o + oo * (int64_t)c->eo;
    c->fn(c->a + off[0] * (int64_t)c->ea, c->b + off[1] * (int64_t)c->eb, o, n, inner[0], inner[1]);
    if (c->act) /* while the row is in cache: a residual Add's ReLU costs no pass */
        lm_act_apply(c->act, (float *)o, n);
}

/* o (shape of @out) = act(fn(a, b)) broadcasting a and b (their shapes from
 * @ta, @tb); @act only with a float output, NULL for none. */
static void bin_exec(lm_kctx *k, bin_fn fn, const loom_tensor *ta, const void *a, size_t ea,
                     const loom_tensor *tb, const void *b, size_t eb, const loom_tensor *out,
                     void *o, size_t eo, const lm_act *act)
{
    const loom_tensor *ins[2] = {ta, tb};
    lm_bcast p;
    lm_bcast_plan(&p, out->rank, out->dims, 2, ins);
    bin_ctx c = {a, b, o, ea, eb, eo, fn, act && act->kind != LM_ACT_NONE ? act : NULL};
    lm_bcast_run(k, &p, 1.0, bin_row, &c);
}

enum { OUT_SAME = 0, OUT_BOOL = 1 };

/*
 * Runs a same-typed binary op: validates, declares the broadcast output and
 * computes it. float16 runs through the float kernel when @half_ok.
 */
static loom_status run_binary_on(lm_kctx *k, const loom_tensor *a, const loom_tensor *b,
                                 const bin_fn *tab, int out_kind, bool half_ok)
{
    loom_status s;
    if (a->dtype != b->dtype)
        return lm_kinvalid(k, "operand dtypes differ: %s and %s", loom_dtype_name(a->dtype),
                           loom_dtype_name(b->dtype));
    loom_dtype dt = a->dtype;
    bool half = false;
    bin_fn fn = (unsigned)dt < LM_NDT ? tab[dt] : NULL;
    if (!fn && dt == LOOM_DTYPE_FLOAT16 && half_ok && tab[LOOM_DTYPE_FLOAT]) {
        fn = tab[LOOM_DTYPE_FLOAT];
        half = true;
    }
    if (!fn)
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(dt));
    if (fn == add_tab[LOOM_DTYPE_FLOAT])
        fn = add_f32v;
    else if (fn == sub_tab[LOOM_DTYPE_FLOAT])
        fn = sub_f32v;
    else if (fn == mul_tab[LOOM_DTYPE_FLOAT])
        fn = mul_f32v;
    else if (fn == div_tab[LOOM_DTYPE_FLOAT])
        fn = div_f32v;
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    const loom_tensor *ins[2] = {a, b};
    if ((s = lm_bcast_shape(k, 2, ins, &rank, dims)) != LOOM_OK)
        return s;
    loom_tensor *o = lm_kout(k, 0, out_kind == OUT_BOOL ? LOOM_DTYPE_BOOL : dt, rank, dims);
    if (!o)
        return LOOM_ERR_NO_MEMORY;
    /* An activation the fusion pass moved into the op (only Add takes one,
     * and only where its operands are float). */
    lm_act act;
    if ((s = lm_kact(k, &act)) != LOOM_OK)
        return s;
    if (act.kind != LM_ACT_NONE && (out_kind != OUT_SAME || (dt != LOOM_DTYPE_FLOAT && !half)))
        return lm_kunsupported(k, "a fused activation on a %s result", loom_dtype_name(dt));
    if (k->dry)
        return LOOM_OK;
    if (!half) {
        size_t e = loom_dtype_size(dt);
        bin_exec(k, fn, a, a->data, e, b, b->data, e, o, o->data, loom_dtype_size(o->dtype), &act);
        return LOOM_OK;
    }
    int64_t n = lm_tensor_count(o);
    float *fa = lm_stage_half(k, a), *fb = lm_stage_half(k, b);
    if (!fa || !fb)
        return LOOM_ERR_NO_MEMORY;
    if (out_kind == OUT_BOOL) {
        bin_exec(k, fn, a, fa, 4, b, fb, 4, o, o->data, 1, NULL);
        return LOOM_OK;
    }
    float *fo = lm_kscratch(k, (size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!fo)
        return LOOM_ERR_NO_MEMORY;
    bin_exec(k, fn, a, fa, 4, b, fb, 4, o, fo, 4, &act);
    lm_float_to_half_n(fo, o->data, n);
    return LOOM_OK;
}

static loom_status run_binary(lm_kctx *k, const bin_fn *tab, int out_kind, bool half_ok)
{
    loom_status s = lm_kcheck_arity(k, 2, 2);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1);
    loom_tensor legacy;
    if (lm_kopset(k) < 7 && lm_node_attr_int(k->node, "broadcast", 0) &&
        lm_node_has_attr(k->node, "axis")) {
        /* Before opset 7, B broadcasts to A starting at dim 'axis' rather than at
         * the trailing dims: pad B's shape with trailing 1s to say the same. */
        int ax;
        if ((s = lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), a->rank, &ax)) != LOOM_OK)
            return s;
        if (ax + b->rank > a->rank)
            return lm_kinvalid(k, "B rank %d does not fit A rank %d at axis %d", b->rank, a->rank,
                               ax);
        legacy = *b;
        legacy.rank = a->rank - ax;
        for (int d = b->rank; d < legacy.rank; d++)
            legacy.dims[d] = 1;
        b = &legacy;
    }
    return run_binary_on(k, a, b, tab, out_kind, half_ok);
}

static loom_status op_add(lm_kctx *k)
{
    return run_binary(k, add_tab, OUT_SAME, true);
}

static loom_status op_sub(lm_kctx *k)
{
    return run_binary(k, sub_tab, OUT_SAME, true);
}

static loom_status op_mul(lm_kctx *k)
{
    return run_binary(k, mul_tab, OUT_SAME, true);
}

static loom_status op_div(lm_kctx *k)
{
    return run_binary(k, div_tab, OUT_SAME, true);
}

static loom_status op_mod(lm_kctx *k)
{
    int64_t fm = lm_node_attr_int(k->node, "fmod", 0);
    if (fm != 0 && fm != 1)
        return lm_kinvalid(k, "fmod must be 0 or 1, got %lld", (long long)fm);
    return run_binary(k, fm ? modc_tab : modpy_tab, OUT_SAME, true);
}

static loom_status op_equal(lm_kctx *k)
{
    return run_binary(k, eq_tab, OUT_BOOL, true);
}

static loom_status op_less(lm_kctx *k)
{
    return run_binary(k, lt_tab, OUT_BOOL, true);
}

static loom_status op_greater(lm_kctx *k)
{
    return run_binary(k, gt_tab, OUT_BOOL, true);
}

static loom_status op_less_or_equal(lm_kctx *k)
{
    return run_binary(k, le_tab, OUT_BOOL, true);
}

static loom_status op_greater_or_equal(lm_kctx *k)
{
    return run_binary(k, ge_tab, OUT_BOOL, true);
}

static loom_status op_and(lm_kctx *k)
{
    return run_binary(k, land_tab, OUT_BOOL, false);
}

static loom_status op_or(lm_kctx *k)
{
    return run_binary(k, lor_tab, OUT_BOOL, false);
}

static loom_status op_xor(lm_kctx *k)
{
    return run_binary(k, lxor_tab, OUT_BOOL, false);
}

static loom_status op_bitwise_and(lm_kctx *k)
{
    return run_binary(k, band_tab, OUT_SAME, false);
}

static loom_status op_bitwise_or(lm_kctx *k)
{
    return run_binary(k, bor_tab, OUT_SAME, false);
}

static loom_status op_bitwise_xor(lm_kctx *k)
{
    return run_binary(k, bxor_tab, OUT_SAME, false);
}

static loom_status op_bit_shift(lm_kctx *k)
{
    const char *dir = lm_node_attr_str(k->node, "direction", NULL);
    if (!dir)
        return lm_kinvalid(k, "attribute 'direction' is required");
    if (strcmp(dir, "LEFT") == 0)
        return run_binary(k, shl_tab, OUT_SAME, false);
    if (strcmp(dir, "RIGHT") == 0)
        return run_binary(k, shr_tab, OUT_SAME, false);
    return lm_kinvalid(k, "direction must be LEFT or RIGHT, got '%s'", dir);
}

typedef struct powc_job {
    const float *x;
    float *y;
    double e;
} powc_job;

static void powc_range(void *arg, int64_t b, int64_t e)
{
    const powc_job *j = arg;
    lm_vm_pow_const(j->x + b, j->y + b, e - b, j->e);
}

/*
 * Float Pow by a one-element exponent of 2, 3, 0.5 or -1 (LayerNorm's x^2,
 * GELU's x^3, sqrt, reciprocal as exporters write them) by multiplication,
 * sqrt or division instead of libm's pow. False when it does not apply.
 */
static bool pow_by_const(lm_kctx *k, const loom_tensor *a, const loom_tensor *b, loom_tensor *o)
{
    double e;
    int64_t n = lm_tensor_count(o);
    if (a->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(b) != 1 || n != lm_tensor_count(a))
        return false;
    if (!lm_convert_to_f64(b->data, b->dtype, &e, 1))
        return false;
    if (e != 2.0 && e != 3.0 && e != 0.5 && e != -1.0)
        return false;
    powc_job j = {a->data, o->data, e};
    if (n > 0)
        lm_parallel_for(k, n, 0.5, powc_range, &j);
    return true;
}

static loom_status op_pow(lm_kctx *k)
{
    loom_status s = lm_kcheck_arity(k, 2, 2);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1);
    loom_dtype dt = a->dtype, et = b->dtype;
    bool half = dt == LOOM_DTYPE_FLOAT16;
    loom_dtype kdt = half ? LOOM_DTYPE_FLOAT : dt;
    if ((unsigned)kdt >= LM_NDT || !powx_tab[kdt])
        return lm_kunsupported(k, "base dtype %s not supported", loom_dtype_name(dt));
    if (et == LOOM_DTYPE_BOOL || et == LOOM_DTYPE_STRING || loom_dtype_size(et) == 0)
        return lm_kunsupported(k, "exponent dtype %s not supported", loom_dtype_name(et));
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    const loom_tensor *ins[2] = {a, b};
    if ((s = lm_bcast_shape(k, 2, ins, &rank, dims)) != LOOM_OK)
        return s;
    loom_tensor *o = lm_kout(k, 0, dt, rank, dims);
    if (!o)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry || pow_by_const(k, a, b, o))
        return LOOM_OK;
    if (!half && dt == et && powff_tab[dt]) {
        size_t e = loom_dtype_size(dt);
        bin_exec(k, powff_tab[dt], a, a->data, e, b, b->data, e, o, o->data, e, NULL);
        return LOOM_OK;
    }
    int64_t nb = lm_tensor_count(b), n = lm_tensor_count(o);
    double *eb = lm_kscratch(k, (size_t)(nb > 0 ? nb : 1) * sizeof(double));
    if (!eb)
        return LOOM_ERR_NO_MEMORY;
    lm_convert_to_f64(b->data, et, eb, nb);
    if (!half) {
        size_t e = loom_dtype_size(dt);
        bin_exec(k, powx_tab[dt], a, a->data, e, b, eb, 8, o, o->data, e, NULL);
        return LOOM_OK;
    }
    float *fa = lm_stage_half(k, a);
    float *fo = lm_kscratch(k, (size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!fa || !fo)
        return LOOM_ERR_NO_MEMORY;
    bin_exec(k, powx_f32, a, fa, 4, b, eb, 8, o, fo, 4, NULL);
    lm_float_to_half_n(fo, o->data, n);
    return LOOM_OK;
}

static loom_status op_prelu(lm_kctx *k)
{
    loom_status s = lm_kcheck_arity(k, 2, 2);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *x = lm_kin(k, 0), *slope = lm_kin(k, 1);
    loom_tensor legacy;
    if (lm_kopset(k) < 7 && slope->rank == 1 && x->rank >= 2 && slope->dims[0] == x->dims[1] &&
        slope->dims[0] != 1) {
        /* Before opset 7 a 1-D slope of size C is per channel (axis 1), not numpy-aligned. */
        legacy = *slope;
        legacy.rank = x->rank - 1;
        for (int d = 1; d < legacy.rank; d++)
            legacy.dims[d] = 1;
        slope = &legacy;
    }
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    const loom_tensor *ins[2] = {x, slope};
    if ((s = lm_bcast_shape(k, 2, ins, &rank, dims)) != LOOM_OK)
        return s;
    /* Unidirectional: the slope broadcasts to X, X never grows. */
    bool same = rank == x->rank;
    for (int d = 0; same && d < rank; d++)
        same = dims[d] == x->dims[d];
    if (!same) {
        char s1[96], s2[96];
        return lm_kfail(k, LOOM_ERR_SHAPE, "slope shape %s does not broadcast to X shape %s",
                        lm_dims_str(slope->rank, slope->dims, s1, sizeof(s1)),
                        lm_dims_str(x->rank, x->dims, s2, sizeof(s2)));
    }
    return run_binary_on(k, x, slope, prelu_tab, OUT_SAME, true);
}

/* Min, Max, Sum, Mean: fold inputs pairwise into the output, broadcasting all. */
static loom_status run_variadic(lm_kctx *k, const bin_fn *tab, bool mean, bool ints_ok)
{
    if (k->n_in < 1)
        return lm_kinvalid(k, "needs at least 1 input, got %d", k->n_in);
    const loom_tensor *ins[64] = {NULL};
    int n = k->n_in;
    if (n > 64)
        return lm_kunsupported(k, "%d inputs, at most 64 supported", n);
    for (int i = 0; i < n; i++) {
        ins[i] = lm_kin(k, i);
        if (!ins[i])
            return lm_kinvalid(k, "input %d is absent", i);
        if (ins[i]->dtype != ins[0]->dtype)
            return lm_kinvalid(k, "input %d dtype %s differs from input 0's %s", i,
                               loom_dtype_name(ins[i]->dtype), loom_dtype_name(ins[0]->dtype));
    }
    loom_dtype dt = ins[0]->dtype;
    bool half = dt == LOOM_DTYPE_FLOAT16;
    loom_dtype kdt = half ? LOOM_DTYPE_FLOAT : dt;
    bin_fn fn = (unsigned)kdt < LM_NDT ? tab[kdt] : NULL;
    if (!fn || (!ints_ok && !lm_dtype_is_float(kdt)))
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(dt));
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    loom_status s = lm_bcast_shape(k, n, ins, &rank, dims);
    if (s != LOOM_OK)
        return s;
    loom_tensor *o = lm_kout(k, 0, dt, rank, dims);
    if (!o)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t cnt = lm_tensor_count(o);
    size_t e = loom_dtype_size(kdt);
    char *acc = o->data;
    if (half && !(acc = lm_kscratch(k, (size_t)(cnt > 0 ? cnt : 1) * 4)))
        return LOOM_ERR_NO_MEMORY;
    const void *d0 = ins[0]->data;
    if (half && !(d0 = lm_stage_half(k, ins[0])))
        return LOOM_ERR_NO_MEMORY;
    if (n == 1 && cnt > 0) {
        /* A single input: op(x, x) would double a Sum, so copy instead. */
        memcpy(acc, d0, (size_t)cnt * e);
    }
    for (int i = 1; i < n; i++) {
        const void *di = ins[i]->data;
        if (half && !(di = lm_stage_half(k, ins[i])))
            return LOOM_ERR_NO_MEMORY;
        if (i == 1)
            bin_exec(k, fn, ins[0], d0, e, ins[1], di, e, o, acc, e, NULL);
        else
            bin_exec(k, fn, o, acc, e, ins[i], di, e, o, acc, e, NULL);
    }
    if (mean) {
        if (kdt == LOOM_DTYPE_DOUBLE) {
            double *p = (double *)acc;
            for (int64_t i = 0; i < cnt; i++)
                p[i] /= n;
        } else {
            float *p = (float *)acc;
            for (int64_t i = 0; i < cnt; i++)
                p[i] /= (float)n;
        }
    }
    if (half)
        lm_float_to_half_n((const float *)acc, o->data, cnt);
    return LOOM_OK;
}

static loom_status op_max(lm_kctx *k)
{
    return run_variadic(k, max_tab, false, true);
}

static loom_status op_min(lm_kctx *k)
{
    return run_variadic(k, min_tab, false, true);
}

static loom_status op_sum(lm_kctx *k)
{
    return run_variadic(k, add_tab, false, false);
}

static loom_status op_mean(lm_kctx *k)
{
    return run_variadic(k, add_tab, true, false);
}

/* Where: element size is all that matters, so any dtype works. */
typedef struct where_ctx {
    const uint8_t *c;
    const char *x, *y;
    char *o;
    size_t e;
} where_ctx;

#define WHERE_LOOP(T)                                                                              \
    do {                                                                                           \
        const T *x = (const T *)(w->x + off[1] * (int64_t)sizeof(T));                              \
        const T *y = (const T *)(w->y + off[2] * (int64_t)sizeof(T));                              \
        T *o = (T *)(w->o + oo * (int64_t)sizeof(T));                                              \
        if (sc && sx && sy) {                                                                      \
            for (int64_t i = 0; i < n; i++)                                                        \
                o[i] = c[i] ? x[i] : y[i];                                                         \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                o[i] = c[i * sc] ? x[i * sx] : y[i * sy];                                          \
        }                                                                                          \
    } while (0)

static void where_row(void *ctx, const int64_t *off, int64_t oo, int64_t n, const int *inner)
{
    const where_ctx *w = ctx;
    const uint8_t *c = w->c + off[0];
    int64_t sc = inner[0], sx = inner[1], sy = inner[2];
    switch (w->e) {
    case 1:
        WHERE_LOOP(uint8_t);
        break;
    case 2:
        WHERE_LOOP(uint16_t);
        break;
    case 4:
        WHERE_LOOP(uint32_t);
        break;
    default:
        WHERE_LOOP(uint64_t);
        break;
    }
}

static loom_status op_where(lm_kctx *k)
{
    loom_status s = lm_kcheck_arity(k, 3, 3);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *c = lm_kin(k, 0), *x = lm_kin(k, 1), *y = lm_kin(k, 2);
    if (c->dtype != LOOM_DTYPE_BOOL)
        return lm_kinvalid(k, "condition dtype must be bool, got %s", loom_dtype_name(c->dtype));
    if (x->dtype != y->dtype)
        return lm_kinvalid(k, "X dtype %s differs from Y dtype %s", loom_dtype_name(x->dtype),
                           loom_dtype_name(y->dtype));
    size_t e = loom_dtype_size(x->dtype);
    if (e != 1 && e != 2 && e != 4 && e != 8)
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(x->dtype));
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    const loom_tensor *ins[3] = {c, x, y};
    if ((s = lm_bcast_shape(k, 3, ins, &rank, dims)) != LOOM_OK)
        return s;
    loom_tensor *o = lm_kout(k, 0, x->dtype, rank, dims);
    if (!o)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    lm_bcast p;
    lm_bcast_plan(&p, rank, dims, 3, ins);
    where_ctx w = {c->data, x->data, y->data, o->data, e};
    lm_bcast_run(k, &p, 1.0, where_row, &w);
    return LOOM_OK;
}

const lm_op_def lm_ops_elementwise[] = {
    {.domain = "",
     .op_type = "Add",
     .run = op_add,
     .flags = LM_OP_FUSES_ACTIVATION | LM_OP_WRITES_OUTPUTS},
    LM_OP_FULL("", "Sub", op_sub),
    LM_OP_FULL("", "Mul", op_mul),
    LM_OP_FULL("", "Div", op_div),
    LM_OP_FULL("", "Pow", op_pow),
    LM_OP_FULL("", "Mod", op_mod),
    LM_OP_FULL("", "Equal", op_equal),
    LM_OP_FULL("", "Less", op_less),
    LM_OP_FULL("", "Greater", op_greater),
    LM_OP_FULL("", "LessOrEqual", op_less_or_equal),
    LM_OP_FULL("", "GreaterOrEqual", op_greater_or_equal),
    LM_OP_FULL("", "And", op_and),
    LM_OP_FULL("", "Or", op_or),
    LM_OP_FULL("", "Xor", op_xor),
    LM_OP_FULL("", "BitShift", op_bit_shift),
    LM_OP_FULL("", "BitwiseAnd", op_bitwise_and),
    LM_OP_FULL("", "BitwiseOr", op_bitwise_or),
    LM_OP_FULL("", "BitwiseXor", op_bitwise_xor),
    LM_OP_FULL("", "PRelu", op_prelu),
    LM_OP_FULL("", "Max", op_max),
    LM_OP_FULL("", "Min", op_min),
    LM_OP_FULL("", "Sum", op_sum),
    LM_OP_FULL("", "Mean", op_mean),
    LM_OP_FULL("", "Where", op_where),
    LM_OP_END,
};
