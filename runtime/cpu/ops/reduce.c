/*
 * reduce.c - CPU kernels for reductions and normalizing reductions: Reduce*,
 * ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax, CumSum, TopK.
 */
#include <math.h>
#include <string.h>

#include "../cpu_features.h"
#include "../vmath.h"
#include "ew.h"

/* ------------------------------------------------------------------------ */
/* Reduce*                                                                  */

enum { R_SUM, R_SUMSQ, R_L1, R_L2, R_MEAN, R_LOGSUM, R_LSE, R_PROD, R_MAX, R_MIN, R_N };

/*
 * A row kernel folds @L input elements into the accumulators: when @inner_red the
 * row reduces into acc[0], otherwise acc[j] takes x[j]. Accumulators are 8 bytes:
 * double for float data (so float sums keep precision), int64 / uint64 for
 * integers with wrapping arithmetic.
 */
typedef void (*red_fn)(const void *x, int64_t L, void *acc, const void *aux, int inner_red);

#define DEF_RED(sfx, T, ACC, UACC, op, INIT, MAP, RED)                                             \
    static void red_##op##_##sfx(const void *px, int64_t L, void *pacc, const void *aux,           \
                                 int inner_red)                                                    \
    {                                                                                              \
        typedef ACC acc_t;                                                                         \
        typedef UACC uacc_t;                                                                       \
        (void)sizeof(acc_t);                                                                       \
        (void)sizeof(uacc_t);                                                                      \
        const T *x = px;                                                                           \
        ACC *acc = pacc;                                                                           \
        if (inner_red) {                                                                           \
            ACC u = INIT;                                                                          \
            for (int64_t j = 0; j < L; j++) {                                                      \
                const ACC a = (ACC)x[j];                                                           \
                const ACC v = MAP;                                                                 \
                u = RED;                                                                           \
            }                                                                                      \
            const ACC v = u;                                                                       \
            u = acc[0];                                                                            \
            acc[0] = RED;                                                                          \
        } else {                                                                                   \
            for (int64_t j = 0; j < L; j++) {                                                      \
                const ACC a = (ACC)x[j];                                                           \
                const ACC v = MAP;                                                                 \
                const ACC u = acc[j];                                                              \
                acc[j] = RED;                                                                      \
            }                                                                                      \
        }                                                                                          \
    }

#define R_ADD  (acc_t)((uacc_t)u + (uacc_t)v)
#define R_MUL  (acc_t)((uacc_t)u * (uacc_t)v)
#define R_SQ   (acc_t)((uacc_t)a * (uacc_t)a)
#define R_MAXE ((v != v || v > u) ? v : u)
#define R_MINE ((v != v || v < u) ? v : u)

#define RED_FLOAT(X, ...)                                                                          \
    X(f32, float, double, double, __VA_ARGS__)                                                     \
    X(f64, double, double, double, __VA_ARGS__)
#define RED_SINT(X, ...)                                                                           \
    X(i8, int8_t, int64_t, uint64_t, __VA_ARGS__)                                                  \
    X(i16, int16_t, int64_t, uint64_t, __VA_ARGS__)                                                \
    X(i32, int32_t, int64_t, uint64_t, __VA_ARGS__)                                                \
    X(i64, int64_t, int64_t, uint64_t, __VA_ARGS__)
#define RED_UINT(X, ...)                                                                           \
    X(u8, uint8_t, uint64_t, uint64_t, __VA_ARGS__)                                                \
    X(u16, uint16_t, uint64_t, uint64_t, __VA_ARGS__)                                              \
    X(u32, uint32_t, uint64_t, uint64_t, __VA_ARGS__)                                              \
    X(u64, uint64_t, uint64_t, uint64_t, __VA_ARGS__)
#define RED_INT(X, ...) RED_SINT(X, __VA_ARGS__) RED_UINT(X, __VA_ARGS__)
#define RED_NUM(X, ...) RED_FLOAT(X, __VA_ARGS__) RED_INT(X, __VA_ARGS__)

/*
 * Float sums along the row: eight running sums in double (element j into sum
 * j % 8), added pairwise at the end. The sums are independent, so they run
 * in one vector (one sum at a time waited on each add's latency: a
 * LayerNorm's ReduceMean over 256 values took 4x ONNX Runtime's time), and
 * the AVX-512 and plain loops add in the same order: the same bits on every
 * ISA (a float's square and magnitude are exact in double).
 */
enum { MAP_X, MAP_SQ, MAP_ABS };

static inline double map_f32(float v, int map)
{
    double a = (double)v;
    return map == MAP_SQ ? a * a : map == MAP_ABS ? fabs(a) : a;
}

static double fold8(const double *s)
{
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx512f"))) static double lanes_avx512f(const float *x, int64_t L, int map)
{
    __m512d acc = _mm512_setzero_pd();
    for (int64_t j = 0; j < L; j += 8) {
        __mmask8 m = L - j >= 8 ? 0xFF : (__mmask8)((1u << (L - j)) - 1);
        __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps(m, x + j)));
        if (map == MAP_SQ)
            a = _mm512_mul_pd(a, a);
        else if (map == MAP_ABS)
            a = _mm512_abs_pd(a);
        acc = _mm512_add_pd(acc, a); /* lanes past the row add +0 */
    }
    double s[8];
    _mm512_storeu_pd(s, acc);
    return fold8(s);
}
#endif

static double lanes_f32(const float *x, int64_t L, int map)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lm_cpu_features_get()->avx512f)
        return lanes_avx512f(x, L, map);
#endif
    double s[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= L; j += 8)
        for (int l = 0; l < 8; l++)
            s[l] += map_f32(x[j + l], map);
    for (int l = 0; j < L; j++, l++)
        s[l] += map_f32(x[j], map);
    return fold8(s);
}

/* The same order for double data, without the vector form. */
static double lanes_f64(const double *x, int64_t L, int map)
{
    double s[8] = {0};
    for (int64_t j = 0; j < L; j++) {
        double a = x[j];
        s[j % 8] += map == MAP_SQ ? a * a : map == MAP_ABS ? fabs(a) : a;
    }
    return fold8(s);
}

#define DEF_RED_ADD(sfx, T, ACC, UACC, op, MAP)                                                    \
    static void red_##op##_##sfx(const void *px, int64_t L, void *pacc, const void *aux,           \
                                 int inner_red)                                                    \
    {                                                                                              \
        (void)aux;                                                                                 \
        const T *x = px;                                                                           \
        double *acc = pacc;                                                                        \
        if (inner_red) {                                                                           \
            acc[0] += lanes_##sfx(x, L, MAP);                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t j = 0; j < L; j++) {                                                          \
            const double a = (double)x[j];                                                         \
            acc[j] += MAP == MAP_SQ ? a * a : MAP == MAP_ABS ? fabs(a) : a;                        \
        }                                                                                          \
    }

RED_FLOAT(DEF_RED_ADD, sum, MAP_X)
RED_INT(DEF_RED, sum, 0, a, R_ADD)
RED_FLOAT(DEF_RED_ADD, mean, MAP_X)
RED_INT(DEF_RED, mean, 0, a, R_ADD)
RED_FLOAT(DEF_RED_ADD, sumsq, MAP_SQ)
RED_INT(DEF_RED, sumsq, 0, R_SQ, R_ADD)
RED_FLOAT(DEF_RED_ADD, l1, MAP_ABS)
RED_SINT(DEF_RED, l1, 0, a < 0 ? (acc_t)(0 - (uacc_t)a) : a, R_ADD)
RED_UINT(DEF_RED, l1, 0, a, R_ADD)
RED_FLOAT(DEF_RED_ADD, l2, MAP_SQ)
RED_INT(DEF_RED, l2, 0, R_SQ, R_ADD)
RED_FLOAT(DEF_RED_ADD, logsum, MAP_X)

/* LogSumExp: sum of exp(x - m) where m (in @aux) is the max of the output's
 * inputs, found by a first ReduceMax pass, so exp never overflows. */
#define DEF_LSE(sfx, T, ACC, UACC, unused)                                                         \
    static void red_lse_##sfx(const void *px, int64_t L, void *pacc, const void *aux,              \
                              int inner_red)                                                       \
    {                                                                                              \
        const T *x = px;                                                                           \
        double *acc = pacc;                                                                        \
        const double *m = aux;                                                                     \
        if (inner_red) {                                                                           \
            double u = 0, mm = isfinite(m[0]) ? m[0] : 0;                                          \
            for (int64_t j = 0; j < L; j++)                                                        \
                u += exp((double)x[j] - mm);                                                       \
            acc[0] += u;                                                                           \
        } else {                                                                                   \
            for (int64_t j = 0; j < L; j++)                                                        \
                acc[j] += exp((double)x[j] - (isfinite(m[j]) ? m[j] : 0));                         \
        }                                                                                          \
    }
RED_FLOAT(DEF_LSE, 0)
RED_NUM(DEF_RED, prod, 1, a, R_MUL)
RED_FLOAT(DEF_RED, max, -INFINITY, a, R_MAXE)
RED_SINT(DEF_RED, max, INT64_MIN, a, R_MAXE)
RED_UINT(DEF_RED, max, 0, a, R_MAXE)
RED_FLOAT(DEF_RED, min, INFINITY, a, R_MINE)
RED_SINT(DEF_RED, min, INT64_MAX, a, R_MINE)
RED_UINT(DEF_RED, min, UINT64_MAX, a, R_MINE)

#define RTAB_ENTRY(sfx, T, ACC, UACC, name) [DT_##sfx] = name##_##sfx,
static const red_fn red_tab[R_N][LM_NDT] = {
    [R_SUM] = {RED_NUM(RTAB_ENTRY, red_sum)},   [R_SUMSQ] = {RED_NUM(RTAB_ENTRY, red_sumsq)},
    [R_L1] = {RED_NUM(RTAB_ENTRY, red_l1)},     [R_L2] = {RED_NUM(RTAB_ENTRY, red_l2)},
    [R_MEAN] = {RED_NUM(RTAB_ENTRY, red_mean)}, [R_LOGSUM] = {RED_FLOAT(RTAB_ENTRY, red_logsum)},
    [R_LSE] = {RED_FLOAT(RTAB_ENTRY, red_lse)}, [R_PROD] = {RED_NUM(RTAB_ENTRY, red_prod)},
    [R_MAX] = {RED_NUM(RTAB_ENTRY, red_max)},   [R_MIN] = {RED_NUM(RTAB_ENTRY, red_min)},
};

/* Input dims with size-1 dims dropped and neighbours of the same kind merged. */
typedef struct red_plan {
    int nd;
    int64_t dims[LOOM_MAX_RANK];
    bool red[LOOM_MAX_RANK];
    int64_t ost[LOOM_MAX_RANK]; /* output element stride; 0 for reduced dims */
} red_plan;

static void red_plan_make(red_plan *p, int rank, const int64_t *dims, const bool *mask)
{
    memset(p, 0, sizeof(*p));
    int nd = 0;
    for (int d = 0; d < rank; d++) {
        if (dims[d] == 1)
            continue;
        if (nd > 0 && p->red[nd - 1] == mask[d]) {
            p->dims[nd - 1] *= dims[d];
            continue;
        }
        p->dims[nd] = dims[d];
        p->red[nd] = mask[d];
        nd++;
    }
    if (nd == 0) {
        p->dims[0] = 1;
        p->red[0] = false;
        nd = 1;
    }
    p->nd = nd;
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        p->ost[d] = p->red[d] ? 0 : s;
        if (!p->red[d])
            s *= p->dims[d];
    }
}

typedef struct red_job {
    const red_plan *p;
    red_fn fn;
    const char *x;
    size_t ex;
    char *acc;
    const char *aux; /* per-output values for the LogSumExp pass, else NULL */
    int64_t rows_per_d0;
} red_job;

/* Runs rows [b*rows_per_d0, e*rows_per_d0), i.e. outermost indices [b, e). */
static void red_range(void *arg, int64_t b, int64_t e)
{
    const red_job *j = arg;
    const red_plan *p = j->p;
    int nd = p->nd;
    int64_t L = p->dims[nd - 1];
    int inner_red = p->red[nd - 1];
    int64_t row = b * j->rows_per_d0, end = e * j->rows_per_d0;
    int64_t idx[LOOM_MAX_RANK] = {0};
    int64_t r = row;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = r % p->dims[d];
        r /= p->dims[d];
    }
    int64_t o = 0;
    for (int d = 0; d < nd - 1; d++)
        o += idx[d] * p->ost[d];
    for (; row < end; row++) {
        j->fn(j->x + row * L * (int64_t)j->ex, L, j->acc + o * 8, j->aux ? j->aux + o * 8 : NULL,
              inner_red);
        for (int d = nd - 2; d >= 0; d--) {
            idx[d]++;
            o += p->ost[d];
            if (idx[d] < p->dims[d])
                break;
            o -= idx[d] * p->ost[d];
            idx[d] = 0;
        }
    }
}

/* Outermost dim kept: its slices write disjoint outputs and run in parallel. */
static void red_run(lm_kctx *k, const red_plan *p, red_job *j, int64_t rows, int64_t nin)
{
    if (p->nd > 1 && !p->red[0]) {
        j->rows_per_d0 = rows / p->dims[0];
        lm_parallel_for(k, p->dims[0], (double)(nin / p->dims[0]), red_range, j);
    } else {
        j->rows_per_d0 = rows;
        red_range(j, 0, 1);
    }
}

static void acc_init(void *acc, int64_t n, int op, loom_dtype kdt)
{
    bool flt = lm_dtype_is_float(kdt), sgn = lm_dtype_is_signed_int(kdt);
    if (flt) {
        double v = op == R_PROD ? 1 : op == R_MAX ? -INFINITY : op == R_MIN ? INFINITY : 0;
        double *a = acc;
        for (int64_t i = 0; i < n; i++)
            a[i] = v;
    } else if (sgn) {
        int64_t v = op == R_PROD ? 1 : op == R_MAX ? INT64_MIN : op == R_MIN ? INT64_MAX : 0;
        int64_t *a = acc;
        for (int64_t i = 0; i < n; i++)
            a[i] = v;
    } else {
        uint64_t v = op == R_PROD ? 1 : op == R_MIN ? UINT64_MAX : 0;
        uint64_t *a = acc;
        for (int64_t i = 0; i < n; i++)
            a[i] = v;
    }
}

#define ACC_STORE(sfx, T, ACC, UACC, unused)                                                       \
    case DT_##sfx: {                                                                               \
        const ACC *a = acc;                                                                        \
        T *o = out;                                                                                \
        for (int64_t i = 0; i < n; i++)                                                            \
            o[i] = (T)a[i];                                                                        \
        break;                                                                                     \
    }

/* Applies the op's final step in the accumulator domain and stores into @out. */
static void acc_finish(void *acc, void *out, int64_t n, int op, loom_dtype kdt, int64_t cnt)
{
    if (lm_dtype_is_float(kdt)) {
        double *a = acc;
        if (op == R_MEAN)
            for (int64_t i = 0; i < n; i++)
                a[i] /= (double)cnt;
        else if (op == R_L2)
            for (int64_t i = 0; i < n; i++)
                a[i] = sqrt(a[i]);
        else if (op == R_LOGSUM)
            for (int64_t i = 0; i < n; i++)
                a[i] = log(a[i]);
    } else if (lm_dtype_is_signed_int(kdt)) {
        int64_t *a = acc;
        if (op == R_MEAN)
            for (int64_t i = 0; i < n; i++)
                a[i] = cnt > 0 ? a[i] / cnt : 0;
        else if (op == R_L2)
            for (int64_t i = 0; i < n; i++)
                a[i] = lm_sat_i64(sqrt((double)a[i]));
    } else {
        uint64_t *a = acc;
        if (op == R_MEAN)
            for (int64_t i = 0; i < n; i++)
                a[i] = cnt > 0 ? a[i] / (uint64_t)cnt : 0;
        else if (op == R_L2)
            for (int64_t i = 0; i < n; i++)
                a[i] = lm_sat_u64(sqrt((double)a[i]));
    }
    switch (kdt) {
        RED_NUM(ACC_STORE, 0)
    default:
        break;
    }
}

/* Reads a 1-D int64 axes tensor into @axes; fails naming a bad count or dtype. */
static loom_status read_axes_input(lm_kctx *k, const loom_tensor *t, int64_t *axes, int *n)
{
    if (t->dtype != LOOM_DTYPE_INT64)
        return lm_kinvalid(k, "axes dtype must be int64, got %s", loom_dtype_name(t->dtype));
    int64_t c = lm_tensor_count(t);
    if (c < 0 || c > LOOM_MAX_RANK)
        return lm_kinvalid(k, "axes has %lld entries, at most %d allowed", (long long)c,
                           LOOM_MAX_RANK);
    for (int64_t i = 0; i < c; i++)
        axes[i] = ((const int64_t *)t->data)[i];
    *n = (int)c;
    return LOOM_OK;
}

static loom_status run_reduce(lm_kctx *k, int op)
{
    loom_status s = lm_kcheck_arity(k, 1, 2);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *x = lm_kin(k, 0);
    bool is_sum = op == R_SUM;
    bool axes_in = lm_kopset(k) >= 18 || (is_sum && lm_kopset(k) >= 13);
    int64_t axes[LOOM_MAX_RANK];
    int naxes = 0;
    if (axes_in) {
        if (lm_kin(k, 1)) {
            if ((s = lm_kneed_data(k, 1)) != LOOM_OK)
                return s;
            if ((s = read_axes_input(k, lm_kin(k, 1), axes, &naxes)) != LOOM_OK)
                return s;
        }
    } else {
        if (k->n_in > 1)
            return lm_kinvalid(k, "axes input needs opset %d, model has %d", is_sum ? 13 : 18,
                               lm_kopset(k));
        const int64_t *a;
        int c = lm_node_attr_ints(k->node, "axes", &a);
        if (c > LOOM_MAX_RANK)
            return lm_kinvalid(k, "axes has %d entries, at most %d allowed", c, LOOM_MAX_RANK);
        for (int i = 0; i < c; i++)
            axes[i] = a[i];
        naxes = c > 0 ? c : 0;
    }
    int64_t keep = lm_node_attr_int(k->node, "keepdims", 1);
    int64_t noop = lm_node_attr_int(k->node, "noop_with_empty_axes", 0);
    int rank = x->rank;
    bool mask[LOOM_MAX_RANK] = {false};
    for (int i = 0; i < naxes; i++) {
        int ax;
        if ((s = lm_kaxis(k, axes[i], rank, &ax)) != LOOM_OK)
            return s;
        if (mask[ax])
            return lm_kinvalid(k, "axis %lld repeated in axes", (long long)axes[i]);
        mask[ax] = true;
    }
    bool identity = naxes == 0 && noop;
    if (naxes == 0 && !noop)
        for (int d = 0; d < rank; d++)
            mask[d] = true;
    loom_dtype dt = x->dtype;
    bool half = dt == LOOM_DTYPE_FLOAT16;
    loom_dtype kdt = half ? LOOM_DTYPE_FLOAT : dt;
    red_fn fn = (unsigned)kdt < LM_NDT ? red_tab[op][kdt] : NULL;
    if (!fn)
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(dt));
    int64_t odims[LOOM_MAX_RANK];
    int orank = 0;
    int64_t cnt = 1;
    for (int d = 0; d < rank; d++) {
        if (!mask[d])
            odims[orank++] = x->dims[d];
        else {
            cnt *= x->dims[d];
            if (keep)
                odims[orank++] = 1;
        }
    }
    if (identity) {
        loom_tensor *y = lm_kout_like(k, 0, dt, x);
        if (!y)
            return LOOM_ERR_NO_MEMORY;
        if (!k->dry && y->nbytes)
            memcpy(y->data, x->data, y->nbytes);
        return LOOM_OK;
    }
    loom_tensor *y = lm_kout(k, 0, dt, orank, odims);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t nout = lm_tensor_count(y), nin = lm_tensor_count(x);
    void *acc = lm_kscratch(k, (size_t)(nout > 0 ? nout : 1) * 8);
    if (!acc)
        return LOOM_ERR_NO_MEMORY;
    acc_init(acc, nout, op, kdt);
    if (nin > 0) {
        const void *xd = x->data;
        if (half && !(xd = lm_stage_half(k, x)))
            return LOOM_ERR_NO_MEMORY;
        red_plan p;
        red_plan_make(&p, rank, x->dims, mask);
        int64_t rows = nin / p.dims[p.nd - 1];
        red_job j = {&p, fn, xd, loom_dtype_size(kdt), acc, NULL, rows};
        if (op == R_LSE) {
            /* First pass: the max per output, kept in @aux for the shifted sum. */
            if (!(j.aux = lm_kscratch(k, (size_t)nout * 8)))
                return LOOM_ERR_NO_MEMORY;
            red_job jm = j;
            jm.fn = red_tab[R_MAX][kdt];
            jm.acc = (char *)j.aux;
            jm.aux = NULL;
            acc_init(jm.acc, nout, R_MAX, kdt);
            red_run(k, &p, &jm, rows, nin);
        }
        red_run(k, &p, &j, rows, nin);
        if (op == R_LSE) {
            const double *m = (const double *)j.aux;
            double *a = acc;
            for (int64_t i = 0; i < nout; i++)
                a[i] = log(a[i]) + (isfinite(m[i]) ? m[i] : 0);
        }
    } else if (op == R_LSE) {
        double *a = acc;
        for (int64_t i = 0; i < nout; i++)
            a[i] = log(a[i]);
    }
    if (!half) {
        acc_finish(acc, y->data, nout, op, kdt, cnt);
        return LOOM_OK;
    }
    float *f = lm_kscratch(k, (size_t)(nout > 0 ? nout : 1) * sizeof(float));
    if (!f)
        return LOOM_ERR_NO_MEMORY;
    acc_finish(acc, f, nout, op, kdt, cnt);
    lm_float_to_half_n(f, y->data, nout);
    return LOOM_OK;
}

#define REDUCE_OP(name, op)                                                                        \
    static loom_status op_##name(lm_kctx *k)                                                       \
    {                                                                                              \
        return run_reduce(k, op);                                                                  \
    }
REDUCE_OP(reduce_sum, R_SUM)
REDUCE_OP(reduce_sum_square, R_SUMSQ)
REDUCE_OP(reduce_l1, R_L1)
REDUCE_OP(reduce_l2, R_L2)
REDUCE_OP(reduce_mean, R_MEAN)
REDUCE_OP(reduce_log_sum, R_LOGSUM)
REDUCE_OP(reduce_log_sum_exp, R_LSE)
REDUCE_OP(reduce_prod, R_PROD)
REDUCE_OP(reduce_max, R_MAX)
REDUCE_OP(reduce_min, R_MIN)

/* ------------------------------------------------------------------------ */
/* Axis helpers                                                             */

/* Splits @t's shape around @ax into outer * n * inner. */
static void split_axis(const loom_tensor *t, int ax, int64_t *outer, int64_t *n, int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int d = 0; d < ax; d++)
        o *= t->dims[d];
    for (int d = ax + 1; d < t->rank; d++)
        in *= t->dims[d];
    *outer = o;
    *n = t->dims[ax];
    *inner = in;
}

/* ------------------------------------------------------------------------ */
/* ArgMax / ArgMin                                                          */

/* Row-wise scan: for each of @inner lanes keep the best value so far, so the
 * loop over the reduced axis reads memory contiguously. */
typedef void (*arg_fn)(const void *x, int64_t *idx, void *best, int64_t n, int64_t inner,
                       int is_max, int last);

#define DEF_ARG(sfx, T, WU, unused)                                                                \
    static void arg_##sfx(const void *px, int64_t *idx, void *pbest, int64_t n, int64_t inner,     \
                          int is_max, int last)                                                    \
    {                                                                                              \
        const T *x = px;                                                                           \
        T *b = pbest;                                                                              \
        memcpy(b, x, (size_t)inner * sizeof(T));                                                   \
        for (int64_t j = 0; j < inner; j++)                                                        \
            idx[j] = 0;                                                                            \
        for (int64_t i = 1; i < n; i++) {                                                          \
            const T *r = x + i * inner;                                                            \
            if (is_max && last) {                                                                  \
                for (int64_t j = 0; j < inner; j++)                                                \
                    if (r[j] >= b[j]) {                                                            \
                        b[j] = r[j];                                                               \
                        idx[j] = i;                                                                \
                    }                                                                              \
            } else if (is_max) {                                                                   \
                for (int64_t j = 0; j < inner; j++)                                                \
                    if (r[j] > b[j]) {                                                             \
                        b[j] = r[j];                                                               \
                        idx[j] = i;                                                                \
                    }                                                                              \
            } else if (last) {                                                                     \
                for (int64_t j = 0; j < inner; j++)                                                \
                    if (r[j] <= b[j]) {                                                            \
                        b[j] = r[j];                                                               \
                        idx[j] = i;                                                                \
                    }                                                                              \
            } else {                                                                               \
                for (int64_t j = 0; j < inner; j++)                                                \
                    if (r[j] < b[j]) {                                                             \
                        b[j] = r[j];                                                               \
                        idx[j] = i;                                                                \
                    }                                                                              \
            }                                                                                      \
        }                                                                                          \
    }
LM_FOR_NUM(DEF_ARG, 0)
static const arg_fn arg_tab[LM_NDT] = {LM_FOR_NUM(LM_TAB_ENTRY, arg)};

typedef struct arg_job {
    arg_fn fn;
    const char *x;
    int64_t *idx;
    char *best;
    size_t e;
    int64_t n, inner;
    int is_max, last;
} arg_job;

static void arg_range(void *arg, int64_t b, int64_t e)
{
    const arg_job *j = arg;
    for (int64_t o = b; o < e; o++)
        j->fn(j->x + o * j->n * j->inner * (int64_t)j->e, j->idx + o * j->inner,
              j->best + o * j->inner * (int64_t)j->e, j->n, j->inner, j->is_max, j->last);
}

static loom_status run_arg(lm_kctx *k, int is_max)
{
    loom_status s = lm_kcheck_arity(k, 1, 1);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *x = lm_kin(k, 0);
    int ax;
    if ((s = lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), x->rank, &ax)) != LOOM_OK)
        return s;
    int64_t keep = lm_node_attr_int(k->node, "keepdims", 1);
    int last = lm_node_attr_int(k->node, "select_last_index", 0) != 0;
    loom_dtype dt = x->dtype;
    bool half = dt == LOOM_DTYPE_FLOAT16;
    loom_dtype kdt = half ? LOOM_DTYPE_FLOAT : dt;
    arg_fn fn = (unsigned)kdt < LM_NDT ? arg_tab[kdt] : NULL;
    if (!fn)
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(dt));
    if (x->dims[ax] == 0)
        return lm_kinvalid(k, "axis %d has size 0: no index to select", ax);
    int64_t odims[LOOM_MAX_RANK];
    int orank = 0;
    for (int d = 0; d < x->rank; d++) {
        if (d != ax)
            odims[orank++] = x->dims[d];
        else if (keep)
            odims[orank++] = 1;
    }
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_INT64, orank, odims);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t outer, n, inner;
    split_axis(x, ax, &outer, &n, &inner);
    int64_t nout = outer * inner;
    if (nout <= 0)
        return LOOM_OK;
    const void *xd = x->data;
    if (half && !(xd = lm_stage_half(k, x)))
        return LOOM_ERR_NO_MEMORY;
    size_t e = loom_dtype_size(kdt);
    char *best = lm_kscratch(k, (size_t)nout * e);
    if (!best)
        return LOOM_ERR_NO_MEMORY;
    arg_job j = {fn, xd, y->data, best, e, n, inner, is_max, last};
    lm_parallel_for(k, outer, (double)(n * inner), arg_range, &j);
    return LOOM_OK;
}

static loom_status op_arg_max(lm_kctx *k)
{
    return run_arg(k, 1);
}

static loom_status op_arg_min(lm_kctx *k)
{
    return run_arg(k, 0);
}

/* ------------------------------------------------------------------------ */
/* Softmax, LogSoftmax, Hardmax                                             */

enum { SM_SOFT, SM_LOG, SM_HARD };

/*
 * One outer slice: n rows of @inner lanes. The max is subtracted before exp so
 * large inputs do not overflow. @m and @sum are @inner-sized scratch.
 */
#define DEF_SMAX(sfx, T, WU, unused)                                                               \
    static void smax_##sfx(const T *x, T *y, int64_t n, int64_t inner, int kind, T *m, T *sum)     \
    {                                                                                              \
        if (inner == 1) {                                                                          \
            T mx = x[0];                                                                           \
            int64_t am = 0;                                                                        \
            for (int64_t i = 1; i < n; i++)                                                        \
                if (x[i] > mx) {                                                                   \
                    mx = x[i];                                                                     \
                    am = i;                                                                        \
                }                                                                                  \
            if (kind == SM_HARD) {                                                                 \
                for (int64_t i = 0; i < n; i++)                                                    \
                    y[i] = i == am;                                                                \
                return;                                                                            \
            }                                                                                      \
            T s = 0;                                                                               \
            for (int64_t i = 0; i < n; i++)                                                        \
                y[i] = x[i] - mx;                                                                  \
            EXPN_##sfx(y, n);                                                                      \
            for (int64_t i = 0; i < n; i++)                                                        \
                s += y[i];                                                                         \
            if (kind == SM_SOFT) {                                                                 \
                T r = 1 / s;                                                                       \
                for (int64_t i = 0; i < n; i++)                                                    \
                    y[i] *= r;                                                                     \
            } else {                                                                               \
                T ls = LOG_##sfx(s);                                                               \
                for (int64_t i = 0; i < n; i++)                                                    \
                    y[i] = x[i] - mx - ls;                                                         \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        int64_t *am = (int64_t *)sum;                                                              \
        memcpy(m, x, (size_t)inner * sizeof(T));                                                   \
        if (kind == SM_HARD)                                                                       \
            memset(am, 0, (size_t)inner * sizeof(int64_t));                                        \
        for (int64_t i = 1; i < n; i++) {                                                          \
            const T *r = x + i * inner;                                                            \
            if (kind != SM_HARD) /* a select, not a branch: it vectorizes */                       \
                for (int64_t j = 0; j < inner; j++)                                                \
                    m[j] = r[j] > m[j] ? r[j] : m[j];                                              \
            else                                                                                   \
                for (int64_t j = 0; j < inner; j++)                                                \
                    if (r[j] > m[j]) {                                                             \
                        m[j] = r[j];                                                               \
                        am[j] = i;                                                                 \
                    }                                                                              \
        }                                                                                          \
        if (kind == SM_HARD) {                                                                     \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t j = 0; j < inner; j++)                                                \
                    y[i * inner + j] = am[j] == i;                                                 \
            return;                                                                                \
        }                                                                                          \
        for (int64_t j = 0; j < inner; j++)                                                        \
            sum[j] = 0;                                                                            \
        for (int64_t i = 0; i < n; i++) {                                                          \
            const T *r = x + i * inner;                                                            \
            T *w = y + i * inner;                                                                  \
            for (int64_t j = 0; j < inner; j++)                                                    \
                w[j] = r[j] - m[j];                                                                \
            EXPN_##sfx(w, inner);                                                                  \
            for (int64_t j = 0; j < inner; j++)                                                    \
                sum[j] += w[j];                                                                    \
        }                                                                                          \
        if (kind == SM_SOFT) {                                                                     \
            for (int64_t j = 0; j < inner; j++)                                                    \
                sum[j] = 1 / sum[j];                                                               \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t j = 0; j < inner; j++)                                                \
                    y[i * inner + j] *= sum[j];                                                    \
        } else {                                                                                   \
            for (int64_t j = 0; j < inner; j++)                                                    \
                sum[j] = m[j] + LOG_##sfx(sum[j]);                                                 \
            for (int64_t i = 0; i < n; i++)                                                        \
                for (int64_t j = 0; j < inner; j++)                                                \
                    y[i * inner + j] = x[i * inner + j] - sum[j];                                  \
        }                                                                                          \
    }
/* p[0..n) = exp(p) in place: vector exp for float (a row at a time keeps the
 * libm call out of the loop), libm for double. */
static void expn_f64(double *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = exp(p[i]);
}
#define EXPN_f32(p, n) lm_vm_apply(LM_VM_EXP, p, p, n)
#define EXPN_f64(p, n) expn_f64(p, n)
#define LOG_f32        logf
#define LOG_f64        log
LM_FOR_FLOAT(DEF_SMAX, 0)

typedef struct smax_job {
    loom_dtype dt;
    const void *x;
    void *y;
    int64_t n, inner;
    int kind;
    char *scratch; /* 2 * inner * 8 bytes per outer slice */
} smax_job;

static void smax_range(void *arg, int64_t b, int64_t e)
{
    const smax_job *j = arg;
    int64_t sz = j->n * j->inner;
    for (int64_t o = b; o < e; o++) {
        /* No scratch when inner == 1: the kernels then use none. */
        char *sc = j->scratch ? j->scratch + o * j->inner * 16 : NULL;
        char *sc2 = sc ? sc + j->inner * 8 : NULL;
        if (j->dt == LOOM_DTYPE_FLOAT && j->inner == 1 && j->kind == SM_SOFT)
            lm_vm_softmax((const float *)j->x + o * sz, NULL, 0, (float *)j->y + o * sz, j->n, 1.0f,
                          false);
        else if (j->dt == LOOM_DTYPE_DOUBLE)
            smax_f64((const double *)j->x + o * sz, (double *)j->y + o * sz, j->n, j->inner,
                     j->kind, (double *)sc, (double *)sc2);
        else
            smax_f32((const float *)j->x + o * sz, (float *)j->y + o * sz, j->n, j->inner, j->kind,
                     (float *)sc, (float *)sc2);
    }
}

/*
 * Softmax with a second input, which attention fusion (core/fuse_attn.c)
 * makes of Softmax(Add(Div(S, c), M)): softmax(S / c + M) with c in
 * _loom_divisor (Mul: S * c with c in _loom_scale; neither: c = 1). M
 * broadcasts against S as the Add did.
 */
typedef struct smask_job {
    const float *x, *m;
    float *y;
    int64_t n;
    int nd; /* outer dims of the output */
    int64_t dims[LOOM_MAX_RANK], mst[LOOM_MAX_RANK];
    int64_t sa; /* the mask's stride along the softmax axis: 0 or 1 */
    float scale;
    bool div;
} smask_job;

static void smask_rows(void *arg, int64_t b, int64_t e)
{
    const smask_job *j = arg;
    for (int64_t r = b; r < e; r++) {
        int64_t rem = r, mo = 0;
        for (int d = j->nd - 1; d >= 0; d--) {
            mo += (rem % j->dims[d]) * j->mst[d];
            rem /= j->dims[d];
        }
        lm_vm_softmax(j->x + r * j->n, j->m + mo, j->sa, j->y + r * j->n, j->n, j->scale, j->div);
    }
}

typedef struct sadd_ctx {
    const void *x, *m;
    void *y;
    double scale;
    bool div, f64;
} sadd_ctx;

/* y = x * scale (x / scale) + m in float (from float or staged half) or double. */
static void sadd_row(void *ctx, const int64_t *off, int64_t oo, int64_t n, const int *inner)
{
    const sadd_ctx *c = ctx;
    if (c->f64) {
        const double *x = c->x, *m = c->m;
        double *y = c->y;
        for (int64_t i = 0; i < n; i++) {
            double t = x[off[0] + i * inner[0]];
            t = c->div ? t / c->scale : t * c->scale;
            y[oo + i] = t + m[off[1] + i * inner[1]];
        }
        return;
    }
    const float *x = c->x, *m = c->m;
    float *y = c->y, sc = (float)c->scale;
    for (int64_t i = 0; i < n; i++) {
        float t = x[off[0] + i * inner[0]];
        t = c->div ? t / sc : t * sc;
        y[oo + i] = t + m[off[1] + i * inner[1]];
    }
}

static loom_status run_softmax_masked(lm_kctx *k)
{
    const loom_tensor *x = lm_kin(k, 0), *m = lm_kin(k, 1);
    loom_dtype dt = x->dtype;
    if (m->dtype != dt ||
        (dt != LOOM_DTYPE_FLOAT && dt != LOOM_DTYPE_DOUBLE && dt != LOOM_DTYPE_FLOAT16))
        return lm_kinvalid(k, "fused softmax inputs are %s and %s", loom_dtype_name(dt),
                           loom_dtype_name(m->dtype));
    loom_status s;
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    const loom_tensor *ins[2] = {x, m};
    if ((s = lm_bcast_shape(k, 2, ins, &rank, dims)) != LOOM_OK)
        return s;
    if (rank == 0)
        return lm_kinvalid(k, "input must have rank >= 1");
    int ax;
    bool legacy = lm_kopset(k) < 13;
    if ((s = lm_kaxis(k, lm_node_attr_int(k->node, "axis", legacy ? 1 : -1), rank, &ax)) != LOOM_OK)
        return s;
    loom_tensor *y = lm_kout(k, 0, dt, rank, dims);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    float scale = lm_node_attr_float(k->node, "_loom_scale", 1.0f);
    bool div = lm_node_has_attr(k->node, "_loom_divisor");
    if (div)
        scale = lm_node_attr_float(k->node, "_loom_divisor", 1.0f);
    int64_t total = lm_tensor_count(y), n = dims[rank - 1];
    if (total <= 0 || n <= 0)
        return LOOM_OK;
    bool same = x->rank == rank && memcmp(x->dims, dims, sizeof(int64_t) * (size_t)rank) == 0;
    if (dt == LOOM_DTYPE_FLOAT && same && ax == rank - 1) {
        smask_job j = {x->data, m->data, y->data, n, rank - 1, {0}, {0}, 0, scale, div};
        int lead = rank - m->rank;
        int64_t st = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t md = d >= lead ? m->dims[d - lead] : 1;
            int64_t v = md == 1 ? 0 : st;
            if (d == rank - 1)
                j.sa = v;
            else
                j.mst[d] = v;
            j.dims[d] = dims[d];
            st *= md;
        }
        lm_parallel_for(k, total / n, (double)n * 10, smask_rows, &j);
        return LOOM_OK;
    }
    /* Elsewhere: the scaled, masked scores into y (float scratch for half),
     * then Softmax in place. */
    const void *xd = x->data, *md = m->data;
    void *yd = y->data;
    loom_dtype kdt = dt;
    if (dt == LOOM_DTYPE_FLOAT16) {
        kdt = LOOM_DTYPE_FLOAT;
        if (!(xd = lm_stage_half(k, x)) || !(md = lm_stage_half(k, m)) ||
            !(yd = lm_kscratch(k, (size_t)total * sizeof(float))))
            return LOOM_ERR_NO_MEMORY;
    }
    lm_bcast p;
    lm_bcast_plan(&p, rank, dims, 2, ins);
    sadd_ctx c = {xd, md, yd, scale, div, kdt == LOOM_DTYPE_DOUBLE};
    lm_bcast_run(k, &p, 2.0, sadd_row, &c);
    int64_t outer, len, inner;
    if (legacy) {
        outer = lm_dims_count(ax, dims);
        len = lm_dims_count(rank - ax, dims + ax);
        inner = 1;
    } else {
        split_axis(y, ax, &outer, &len, &inner);
    }
    char *sc = NULL;
    if (inner > 1 && !(sc = lm_kscratch(k, (size_t)(outer * inner) * 16)))
        return LOOM_ERR_NO_MEMORY;
    smax_job j = {kdt, yd, yd, len, inner, SM_SOFT, sc};
    lm_parallel_for(k, outer, (double)(len * inner) * 8, smax_range, &j);
    if (dt == LOOM_DTYPE_FLOAT16)
        lm_float_to_half_n(yd, y->data, total);
    return LOOM_OK;
}

static loom_status run_softmax(lm_kctx *k, int kind)
{
    loom_status s = lm_kcheck_arity(k, 1, kind == SM_SOFT ? 2 : 1);
    if (s != LOOM_OK)
        return s;
    if (k->node->n_in > 1 && k->node->in[1] >= 0)
        return run_softmax_masked(k);
    const loom_tensor *x = lm_kin(k, 0);
    loom_dtype dt = x->dtype;
    if (dt != LOOM_DTYPE_FLOAT && dt != LOOM_DTYPE_DOUBLE && dt != LOOM_DTYPE_FLOAT16)
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(dt));
    bool legacy = lm_kopset(k) < 13;
    int ax;
    int rank = x->rank;
    if (rank == 0)
        return lm_kinvalid(k, "input must have rank >= 1");
    if ((s = lm_kaxis(k, lm_node_attr_int(k->node, "axis", legacy ? 1 : -1), rank, &ax)) != LOOM_OK)
        return s;
    loom_tensor *y = lm_kout_like(k, 0, dt, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t outer, n, inner;
    if (legacy) {
        /* Before opset 13 the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])]. */
        outer = 1;
        n = 1;
        for (int d = 0; d < ax; d++)
            outer *= x->dims[d];
        for (int d = ax; d < rank; d++)
            n *= x->dims[d];
        inner = 1;
    } else {
        split_axis(x, ax, &outer, &n, &inner);
    }
    int64_t total = lm_tensor_count(x);
    if (total <= 0 || n <= 0)
        return LOOM_OK;
    const void *xd = x->data;
    void *yd = y->data;
    loom_dtype kdt = dt;
    if (dt == LOOM_DTYPE_FLOAT16) {
        kdt = LOOM_DTYPE_FLOAT;
        if (!(xd = lm_stage_half(k, x)) || !(yd = lm_kscratch(k, (size_t)total * sizeof(float))))
            return LOOM_ERR_NO_MEMORY;
    }
    char *sc = NULL;
    if (inner > 1 && !(sc = lm_kscratch(k, (size_t)(outer * inner) * 16)))
        return LOOM_ERR_NO_MEMORY;
    smax_job j = {kdt, xd, yd, n, inner, kind, sc};
    lm_parallel_for(k, outer, (double)(n * inner) * 8, smax_range, &j);
    if (dt == LOOM_DTYPE_FLOAT16)
        lm_float_to_half_n(yd, y->data, total);
    return LOOM_OK;
}

static loom_status op_softmax(lm_kctx *k)
{
    return run_softmax(k, SM_SOFT);
}

static loom_status op_log_softmax(lm_kctx *k)
{
    return run_softmax(k, SM_LOG);
}

static loom_status op_hardmax(lm_kctx *k)
{
    return run_softmax(k, SM_HARD);
}

/* ------------------------------------------------------------------------ */
/* CumSum                                                                   */

typedef void (*cum_fn)(const void *x, void *y, int64_t n, int64_t inner, int excl, int rev);

/* Row-wise running sum along the axis; integers wrap. */
#define DEF_CUM(sfx, T, WU, unused)                                                                \
    static void cum_##sfx(const void *px, void *py, int64_t n, int64_t inner, int excl, int rev)   \
    {                                                                                              \
        const T *x = px;                                                                           \
        T *y = py;                                                                                 \
        int64_t step = rev ? -inner : inner;                                                       \
        int64_t first = rev ? (n - 1) * inner : 0;                                                 \
        T *w = y + first;                                                                          \
        const T *r = x + first;                                                                    \
        for (int64_t j = 0; j < inner; j++)                                                        \
            w[j] = excl ? 0 : r[j];                                                                \
        for (int64_t i = 1; i < n; i++) {                                                          \
            T *wn = w + step;                                                                      \
            const T *rn = excl ? r : r + step;                                                     \
            for (int64_t j = 0; j < inner; j++)                                                    \
                wn[j] = (T)((WU)w[j] + (WU)rn[j]);                                                 \
            w = wn;                                                                                \
            r += step;                                                                             \
        }                                                                                          \
    }
LM_FOR_NUM(DEF_CUM, 0)
static const cum_fn cum_tab[LM_NDT] = {LM_FOR_NUM(LM_TAB_ENTRY, cum)};

static loom_status op_cum_sum(lm_kctx *k)
{
    loom_status s = lm_kcheck_arity(k, 2, 2);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *x = lm_kin(k, 0), *a = lm_kin(k, 1);
    loom_dtype dt = x->dtype;
    bool half = dt == LOOM_DTYPE_FLOAT16;
    loom_dtype kdt = half ? LOOM_DTYPE_FLOAT : dt;
    cum_fn fn = (unsigned)kdt < LM_NDT ? cum_tab[kdt] : NULL;
    if (!fn)
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(dt));
    if (a->dtype != LOOM_DTYPE_INT32 && a->dtype != LOOM_DTYPE_INT64)
        return lm_kinvalid(k, "axis dtype must be int32 or int64, got %s",
                           loom_dtype_name(a->dtype));
    if (lm_tensor_count(a) != 1)
        return lm_kinvalid(k, "axis must be a scalar, has %lld elements",
                           (long long)lm_tensor_count(a));
    if (x->rank == 0)
        return lm_kinvalid(k, "input must have rank >= 1");
    int ax = 0;
    if (a->data && (s = lm_kaxis(k, lm_tensor_get_i64(a, 0), x->rank, &ax)) != LOOM_OK)
        return s;
    int excl = lm_node_attr_int(k->node, "exclusive", 0) != 0;
    int rev = lm_node_attr_int(k->node, "reverse", 0) != 0;
    loom_tensor *y = lm_kout_like(k, 0, dt, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    if ((s = lm_kneed_data(k, 1)) != LOOM_OK)
        return s;
    int64_t outer, n, inner, total = lm_tensor_count(x);
    split_axis(x, ax, &outer, &n, &inner);
    if (total <= 0)
        return LOOM_OK;
    const char *xd = x->data;
    char *yd = y->data;
    if (half && (!(xd = (const char *)lm_stage_half(k, x)) ||
                 !(yd = lm_kscratch(k, (size_t)total * sizeof(float)))))
        return LOOM_ERR_NO_MEMORY;
    size_t e = loom_dtype_size(kdt);
    int64_t sz = n * inner * (int64_t)e;
    for (int64_t o = 0; o < outer; o++)
        fn(xd + o * sz, yd + o * sz, n, inner, excl, rev);
    if (half)
        lm_float_to_half_n((const float *)yd, y->data, total);
    return LOOM_OK;
}

/* ------------------------------------------------------------------------ */
/* TopK                                                                     */

/*
 * Per (outer, inner) lane: copy the n values contiguously, stable merge sort of
 * their indices (best first), keep the first k. Stability gives the lower index
 * first among equal values, as ONNX asks.
 */
typedef void (*topk_fn)(const void *x, void *vals_out, int64_t *idx_out, int64_t outer, int64_t n,
                        int64_t inner, int64_t kk, int largest, void *vals, int64_t *idx,
                        int64_t *tmp);

#define DEF_TOPK(sfx, T, WU, unused)                                                               \
    static void topk_##sfx(const void *px, void *pvo, int64_t *io, int64_t outer, int64_t n,       \
                           int64_t inner, int64_t kk, int largest, void *pvals, int64_t *idx,      \
                           int64_t *tmp)                                                           \
    {                                                                                              \
        const T *x = px;                                                                           \
        T *vo = pvo;                                                                               \
        T *v = pvals;                                                                              \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            for (int64_t j = 0; j < inner; j++) {                                                  \
                const T *xs = x + o * n * inner + j;                                               \
                for (int64_t i = 0; i < n; i++) {                                                  \
                    v[i] = xs[i * inner];                                                          \
                    idx[i] = i;                                                                    \
                }                                                                                  \
                int64_t *src = idx, *dst = tmp;                                                    \
                for (int64_t w = 1; w < n; w *= 2) {                                               \
                    for (int64_t lo = 0; lo < n; lo += 2 * w) {                                    \
                        int64_t mid = lo + w < n ? lo + w : n;                                     \
                        int64_t hi = lo + 2 * w < n ? lo + 2 * w : n;                              \
                        int64_t a = lo, b = mid, d = lo;                                           \
                        while (a < mid && b < hi) {                                                \
                            bool tb = largest ? v[src[b]] > v[src[a]] : v[src[b]] < v[src[a]];     \
                            dst[d++] = tb ? src[b++] : src[a++];                                   \
                        }                                                                          \
                        while (a < mid)                                                            \
                            dst[d++] = src[a++];                                                   \
                        while (b < hi)                                                             \
                            dst[d++] = src[b++];                                                   \
                    }                                                                              \
                    int64_t *t = src;                                                              \
                    src = dst;                                                                     \
                    dst = t;                                                                       \
                }                                                                                  \
                for (int64_t r = 0; r < kk; r++) {                                                 \
                    int64_t off = (o * kk + r) * inner + j;                                        \
                    vo[off] = v[src[r]];                                                           \
                    io[off] = src[r];                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
LM_FOR_NUM(DEF_TOPK, 0)
static const topk_fn topk_tab[LM_NDT] = {LM_FOR_NUM(LM_TAB_ENTRY, topk)};

static bool out_present(const lm_kctx *k, int i)
{
    return i < k->n_out && k->node->out[i] >= 0;
}

static loom_status op_top_k(lm_kctx *k)
{
    bool k_input = lm_kopset(k) >= 10;
    loom_status s = lm_kcheck_arity(k, k_input ? 2 : 1, k_input ? 2 : 1);
    if (s != LOOM_OK)
        return s;
    const loom_tensor *x = lm_kin(k, 0);
    loom_dtype dt = x->dtype;
    bool half = dt == LOOM_DTYPE_FLOAT16;
    loom_dtype kdt = half ? LOOM_DTYPE_FLOAT : dt;
    topk_fn fn = (unsigned)kdt < LM_NDT ? topk_tab[kdt] : NULL;
    if (!fn)
        return lm_kunsupported(k, "dtype %s not supported", loom_dtype_name(dt));
    if (x->rank == 0)
        return lm_kinvalid(k, "input must have rank >= 1");
    int ax;
    if ((s = lm_kaxis(k, lm_node_attr_int(k->node, "axis", -1), x->rank, &ax)) != LOOM_OK)
        return s;
    int64_t kk;
    if (k_input) {
        const loom_tensor *kt = lm_kin(k, 1);
        if (kt->dtype != LOOM_DTYPE_INT64)
            return lm_kinvalid(k, "K dtype must be int64, got %s", loom_dtype_name(kt->dtype));
        if (lm_tensor_count(kt) != 1)
            return lm_kinvalid(k, "K must hold one value, has %lld",
                               (long long)lm_tensor_count(kt));
        if ((s = lm_kneed_data(k, 1)) != LOOM_OK)
            return s;
        kk = ((const int64_t *)kt->data)[0];
    } else {
        if (!lm_node_has_attr(k->node, "k"))
            return lm_kinvalid(k, "attribute 'k' is required before opset 10");
        kk = lm_node_attr_int(k->node, "k", 0);
    }
    if (kk < 0 || kk > x->dims[ax])
        return lm_kinvalid(k, "k %lld out of range [0, %lld] for axis %d", (long long)kk,
                           (long long)x->dims[ax], ax);
    int largest = lm_kopset(k) >= 11 ? lm_node_attr_int(k->node, "largest", 1) != 0 : 1;
    int64_t odims[LOOM_MAX_RANK];
    memcpy(odims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    odims[ax] = kk;
    loom_tensor *vo = NULL, *io = NULL;
    if (out_present(k, 0) && !(vo = lm_kout(k, 0, dt, x->rank, odims)))
        return LOOM_ERR_NO_MEMORY;
    if (out_present(k, 1) && !(io = lm_kout(k, 1, LOOM_DTYPE_INT64, x->rank, odims)))
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t outer, n, inner;
    split_axis(x, ax, &outer, &n, &inner);
    int64_t nout = outer * kk * inner;
    if (nout <= 0)
        return LOOM_OK;
    size_t e = loom_dtype_size(kdt);
    const void *xd = x->data;
    if (half && !(xd = lm_stage_half(k, x)))
        return LOOM_ERR_NO_MEMORY;
    void *vals = lm_kscratch(k, (size_t)n * e);
    int64_t *idx = lm_kscratch(k, (size_t)n * 8), *tmp = lm_kscratch(k, (size_t)n * 8);
    void *vod = vo ? vo->data : NULL;
    int64_t *iod = io ? io->data : NULL;
    if (!vod || half)
        vod = lm_kscratch(k, (size_t)nout * e);
    if (!iod)
        iod = lm_kscratch(k, (size_t)nout * 8);
    if (!vals || !idx || !tmp || !vod || !iod)
        return LOOM_ERR_NO_MEMORY;
    fn(xd, vod, iod, outer, n, inner, kk, largest, vals, idx, tmp);
    if (half && vo)
        lm_float_to_half_n(vod, vo->data, nout);
    return LOOM_OK;
}

const lm_op_def lm_ops_reduce[] = {
    LM_OP("", "ReduceSum", op_reduce_sum),
    LM_OP("", "ReduceSumSquare", op_reduce_sum_square),
    LM_OP("", "ReduceL1", op_reduce_l1),
    LM_OP("", "ReduceL2", op_reduce_l2),
    LM_OP("", "ReduceMean", op_reduce_mean),
    LM_OP("", "ReduceLogSum", op_reduce_log_sum),
    LM_OP("", "ReduceLogSumExp", op_reduce_log_sum_exp),
    LM_OP("", "ReduceProd", op_reduce_prod),
    LM_OP("", "ReduceMax", op_reduce_max),
    LM_OP("", "ReduceMin", op_reduce_min),
    LM_OP("", "ArgMax", op_arg_max),
    LM_OP("", "ArgMin", op_arg_min),
    LM_OP_FULL("", "Softmax", op_softmax),
    LM_OP_FULL("", "LogSoftmax", op_log_softmax),
    LM_OP_FULL("", "Hardmax", op_hardmax),
    LM_OP("", "CumSum", op_cum_sum),
    LM_OP("", "TopK", op_top_k),
    LM_OP_END,
};
