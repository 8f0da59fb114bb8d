/*
 * qdq.c - QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear: float
 * (or int32) to 8-bit integers and back, per tensor or per axis, in rows the
 * compiler vectorizes or, where the CPU has AVX-512, 16 lanes at a time.
 */
#include "quant_common.h"

static bool out_present(const lm_kctx *k, int i)
{
    return i < k->n_out && k->node->out[i] >= 0;
}

/* x seen as [outer, n, inner] where n is the quantization axis (n = 1 per-tensor). */
typedef struct qdq_job {
    const void *x;
    void *y;
    const float *scale;
    const int32_t *zp;
    int64_t n, inner;
    float lo, hi; /* quantize: output range (without zero point) */
} qdq_job;

/* Row kernels take restrict parameters: GCC honours restrict on parameters
 * (also once inlined), not on block-scope pointers, and the vectorizer needs it
 * to avoid an aliasing check. */
#define DEFINE_QUANTIZE_ROW(NAME, TX, TY)                                                          \
    static void NAME(const TX *restrict x, TY *restrict y, int64_t n, float s, float lo, float hi, \
                     int32_t z)                                                                    \
    {                                                                                              \
        BLOCKED_FOR(i, n, y[i] = (TY)(clamp_round((float)x[i] / s, lo, hi) + z));                  \
    }

DEFINE_QUANTIZE_ROW(qrow_f32_u8_c, float, uint8_t)
DEFINE_QUANTIZE_ROW(qrow_f32_s8_c, float, int8_t)
DEFINE_QUANTIZE_ROW(qrow_i32_u8, int32_t, uint8_t)
DEFINE_QUANTIZE_ROW(qrow_i32_s8, int32_t, int8_t)

/* WT: the type x - zp is computed in; int32 data needs int64 (a nonzero zero
 * point is out of spec for it but must not overflow). */
#define DEFINE_DEQUANTIZE_ROW(NAME, TX, WT)                                                        \
    static void NAME(const TX *restrict x, float *restrict y, int64_t n, float s, WT z)            \
    {                                                                                              \
        BLOCKED_FOR(i, n, y[i] = (float)((WT)x[i] - z) * s);                                       \
    }

DEFINE_DEQUANTIZE_ROW(dqrow_u8_c, uint8_t, int32_t)
DEFINE_DEQUANTIZE_ROW(dqrow_s8_c, int8_t, int32_t)
DEFINE_DEQUANTIZE_ROW(dqrow_i32, int32_t, int64_t)

#if HAVE_AVX512_ROWS
/*
 * The QDQ edges on 16 float lanes, step for step like the C rows: IEEE
 * float32 division, multiplication and conversion round alike at any width;
 * max and min return their second operand for NaN, as clamp_round's
 * compares do; the rounded value is integral, so converting it truncates
 * nothing; the in-range int32 narrows to 8 bits by truncation like the C cast.
 */
TARGET_AVX512 static void qrow_f32_avx512(const float *x, void *y, int64_t n, float s, float lo,
                                          float hi, int32_t z)
{
    const __m512 vs = _mm512_set1_ps(s), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512 magic = _mm512_set1_ps(ROUND_MAGIC);
    const __m512i vz = _mm512_set1_epi32(z);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = tail16(n - i);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(k, x + i), vs);
        v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
        v = _mm512_sub_ps(_mm512_add_ps(v, magic), magic);
        __m128i q = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), vz));
        _mm_mask_storeu_epi8((int8_t *)y + i, k, q);
    }
}

TARGET_AVX512 static void dqrow_8_avx512(const void *x, bool sgn, float *y, int64_t n, float s,
                                         int32_t z)
{
    const __m512 vs = _mm512_set1_ps(s);
    const __m512i vz = _mm512_set1_epi32(z);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = tail16(n - i);
        __m128i b = _mm_maskz_loadu_epi8(k, (const int8_t *)x + i);
        __m512i v = sgn ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
        __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(v, vz));
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(f, vs));
    }
}
#endif

static void qrow_f32_u8(const float *x, uint8_t *y, int64_t n, float s, float lo, float hi,
                        int32_t z)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        qrow_f32_avx512(x, y, n, s, lo, hi, z);
        return;
    }
#endif
    qrow_f32_u8_c(x, y, n, s, lo, hi, z);
}

static void qrow_f32_s8(const float *x, int8_t *y, int64_t n, float s, float lo, float hi,
                        int32_t z)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        qrow_f32_avx512(x, y, n, s, lo, hi, z);
        return;
    }
#endif
    qrow_f32_s8_c(x, y, n, s, lo, hi, z);
}

static void dqrow_u8(const uint8_t *x, float *y, int64_t n, float s, int32_t z)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        dqrow_8_avx512(x, false, y, n, s, z);
        return;
    }
#endif
    dqrow_u8_c(x, y, n, s, z);
}

static void dqrow_s8(const int8_t *x, float *y, int64_t n, float s, int32_t z)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        dqrow_8_avx512(x, true, y, n, s, z);
        return;
    }
#endif
    dqrow_s8_c(x, y, n, s, z);
}

/* The parallel range loops over rows of [outer, n, inner]. */
#define DEFINE_QUANTIZE(NAME, TX, TY, ROW)                                                         \
    static void NAME(void *arg, int64_t begin, int64_t end)                                        \
    {                                                                                              \
        const qdq_job *j = arg;                                                                    \
        for (int64_t r = begin; r < end; r++) {                                                    \
            int64_t a = r % j->n;                                                                  \
            int32_t z = j->zp[a];                                                                  \
            ROW((const TX *)j->x + r * j->inner, (TY *)j->y + r * j->inner, j->inner, j->scale[a], \
                j->lo - (float)z, j->hi - (float)z, z);                                            \
        }                                                                                          \
    }

DEFINE_QUANTIZE(quantize_f32_u8, float, uint8_t, qrow_f32_u8)
DEFINE_QUANTIZE(quantize_f32_s8, float, int8_t, qrow_f32_s8)
DEFINE_QUANTIZE(quantize_i32_u8, int32_t, uint8_t, qrow_i32_u8)
DEFINE_QUANTIZE(quantize_i32_s8, int32_t, int8_t, qrow_i32_s8)

#define DEFINE_DEQUANTIZE(NAME, TX, WT, ROW)                                                       \
    static void NAME(void *arg, int64_t begin, int64_t end)                                        \
    {                                                                                              \
        const qdq_job *j = arg;                                                                    \
        for (int64_t r = begin; r < end; r++) {                                                    \
            int64_t a = r % j->n;                                                                  \
            ROW((const TX *)j->x + r * j->inner, (float *)j->y + r * j->inner, j->inner,           \
                j->scale[a], (WT)j->zp[a]);                                                        \
        }                                                                                          \
    }

DEFINE_DEQUANTIZE(dequantize_u8, uint8_t, int32_t, dqrow_u8)
DEFINE_DEQUANTIZE(dequantize_s8, int8_t, int32_t, dqrow_s8)
DEFINE_DEQUANTIZE(dequantize_i32, int32_t, int64_t, dqrow_i32)

/*
 * Validates scale/zero point against x for (De)QuantizeLinear and splits x into
 * [outer, n, inner] around the quantization axis. One value means per-tensor at
 * every opset; a 1-D scale of dims[axis] values is per-axis, from opset 13.
 */
static loom_status qdq_layout(lm_kctx *k, const loom_tensor *x, const loom_tensor *scale,
                              int64_t *outer, int64_t *n, int64_t *inner)
{
    int64_t count = lm_tensor_count(x);
    if (is_single(scale)) {
        *outer = 1;
        *n = 1;
        *inner = count;
        return LOOM_OK;
    }
    if (lm_kopset(k) < 13)
        return lm_kinvalid(k,
                           "scale has %lld values but per-axis quantization needs opset 13 "
                           "(model imports %d)",
                           (long long)lm_tensor_count(scale), lm_kopset(k));
    if (scale->rank != 1)
        return lm_kinvalid(k, "per-axis scale must be 1-D, got rank %d", scale->rank);
    int axis;
    loom_status st = lm_kaxis(k, lm_node_attr_int(k->node, "axis", 1), x->rank, &axis);
    if (st != LOOM_OK)
        return st;
    if (scale->dims[0] != x->dims[axis])
        return lm_kinvalid(k, "scale has %lld values but input dimension %d (axis) is %lld",
                           (long long)scale->dims[0], axis, (long long)x->dims[axis]);
    int64_t o = 1, in = 1;
    for (int d = 0; d < axis; d++)
        o *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++)
        in *= x->dims[d];
    *outer = o;
    *n = x->dims[axis];
    *inner = in;
    return LOOM_OK;
}

/*
 * What QuantizeLinear and DequantizeLinear share once their parameters are
 * checked: the layout, the output of type @ydt, and the job over its
 * *rows = outer * n rows (0 when there is nothing to compute, or in a dry run).
 */
static loom_status qdq_start(lm_kctx *k, const loom_tensor *x, const loom_tensor *scale,
                             const loom_tensor *zp, loom_dtype ydt, qdq_job *j, int64_t *rows)
{
    int64_t outer = 0, n = 0, inner = 0;
    loom_status st = qdq_layout(k, x, scale, &outer, &n, &inner);
    if (st != LOOM_OK)
        return st;
    loom_tensor *y = lm_kout_like(k, 0, ydt, x);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    *rows = 0;
    if (k->dry || outer * n * inner == 0)
        return LOOM_OK;
    *j = (qdq_job){.x = x->data, .y = y->data, .scale = scale->data, .n = n, .inner = inner};
    j->zp = lm_q_zp_to_i32(k, zp, NULL);
    if (!j->zp)
        return LOOM_ERR_NO_MEMORY;
    *rows = outer * n;
    return LOOM_OK;
}

loom_status lm_op_QuantizeLinear(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 3);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *scale = lm_kin(k, 1), *zp = lm_kin(k, 2);
    if (x->dtype != LOOM_DTYPE_FLOAT && x->dtype != LOOM_DTYPE_INT32)
        return lm_kunsupported(k, "input must be float or int32, got %s",
                               loom_dtype_name(x->dtype));
    if ((st = check_scale(k, "y_scale", scale)) != LOOM_OK)
        return st;
    loom_dtype ydt = zp ? zp->dtype : LOOM_DTYPE_UINT8; /* spec: uint8 without zero point */
    if (!is_q8(ydt))
        return lm_kunsupported(k, "y_zero_point must be uint8 or int8, got %s",
                               loom_dtype_name(ydt));
    if ((st = check_zp(k, "y_zero_point", zp, scale, ydt)) != LOOM_OK)
        return st;
    qdq_job j;
    int64_t rows;
    if ((st = qdq_start(k, x, scale, zp, ydt, &j, &rows)) != LOOM_OK || rows == 0)
        return st;
    j.lo = (float)q8_min(ydt);
    j.hi = (float)q8_max(ydt);
    lm_range_fn fn;
    if (x->dtype == LOOM_DTYPE_FLOAT)
        fn = ydt == LOOM_DTYPE_UINT8 ? quantize_f32_u8 : quantize_f32_s8;
    else
        fn = ydt == LOOM_DTYPE_UINT8 ? quantize_i32_u8 : quantize_i32_s8;
    PAR(k, rows, (double)j.inner * 2.0, fn, &j);
    return LOOM_OK;
}

loom_status lm_op_DequantizeLinear(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 3);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *scale = lm_kin(k, 1), *zp = lm_kin(k, 2);
    if (!is_q8(x->dtype) && x->dtype != LOOM_DTYPE_INT32)
        return lm_kunsupported(k, "input must be uint8, int8 or int32, got %s",
                               loom_dtype_name(x->dtype));
    if ((st = check_scale(k, "x_scale", scale)) != LOOM_OK)
        return st;
    if ((st = check_zp(k, "x_zero_point", zp, scale, x->dtype)) != LOOM_OK)
        return st;
    qdq_job j;
    int64_t rows;
    if ((st = qdq_start(k, x, scale, zp, LOOM_DTYPE_FLOAT, &j, &rows)) != LOOM_OK || rows == 0)
        return st;
    if (x->dtype == LOOM_DTYPE_INT32) {
        /* The spec fixes the zero point of int32 data at 0; a nonzero one is
         * still honoured (in int64, so it cannot overflow). */
        PAR(k, rows, (double)j.inner, dequantize_i32, &j);
    } else {
        PAR(k, rows, (double)j.inner, x->dtype == LOOM_DTYPE_UINT8 ? dequantize_u8 : dequantize_s8,
            &j);
    }
    return LOOM_OK;
}

/*
 * The smallest and largest of @n floats and 0 into @mn, @mx; NaNs are passed
 * over (x < m ? x : m keeps m), as the scalar loop did. The order of the
 * compares does not matter: min and max are exact, and a zero that comes out
 * as -0 instead of +0 gives the same scale and zero point. 16 lanes, each with
 * its own running pair, so that the compares do not wait on each other.
 */
static void range_f32_c(const float *restrict x, int64_t n, float *mn, float *mx)
{
    float lo[16] = {0}, hi[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            lo[l] = x[i + l] < lo[l] ? x[i + l] : lo[l];
            hi[l] = x[i + l] > hi[l] ? x[i + l] : hi[l];
        }
    for (int l = 0; i + l < n; l++) {
        lo[l] = x[i + l] < lo[l] ? x[i + l] : lo[l];
        hi[l] = x[i + l] > hi[l] ? x[i + l] : hi[l];
    }
    *mn = *mx = 0.0f;
    for (int l = 0; l < 16; l++) {
        *mn = lo[l] < *mn ? lo[l] : *mn;
        *mx = hi[l] > *mx ? hi[l] : *mx;
    }
}

#if HAVE_AVX512_ROWS
/* The same on 16-float vectors, four pairs of accumulators deep: min_ps(x, m)
 * is x < m ? x : m lane by lane, NaN in x giving m. */
TARGET_AVX512 static void range_f32_avx512(const float *x, int64_t n, float *mn, float *mx)
{
    __m512 lo[4], hi[4];
    for (int a = 0; a < 4; a++)
        lo[a] = hi[a] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int a = 0; a < 4; a++) {
            __m512 v = _mm512_loadu_ps(x + i + 16 * a);
            lo[a] = _mm512_min_ps(v, lo[a]);
            hi[a] = _mm512_max_ps(v, hi[a]);
        }
    for (; i < n; i += 16) { /* masked-off lanes load 0, which the range holds */
        __m512 v = _mm512_maskz_loadu_ps(tail16(n - i), x + i);
        lo[0] = _mm512_min_ps(v, lo[0]);
        hi[0] = _mm512_max_ps(v, hi[0]);
    }
    *mn = _mm512_reduce_min_ps(
        _mm512_min_ps(_mm512_min_ps(lo[0], lo[1]), _mm512_min_ps(lo[2], lo[3])));
    *mx = _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_max_ps(hi[0], hi[1]), _mm512_max_ps(hi[2], hi[3])));
}
#endif

static void range_f32(const float *x, int64_t n, float *mn, float *mx)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        range_f32_avx512(x, n, mn, mx);
        return;
    }
#endif
    range_f32_c(x, n, mn, mx);
}

/*
 * DynamicQuantizeLinear (uint8): the range is widened to include 0, then
 *   scale = (max - min) / 255, zp = saturate(round(0 - min / scale)),
 *   y = saturate(round(x / scale) + zp),
 * all in float32. A zero range would divide by zero; like ONNX Runtime we use
 * scale 1 there (the input is all zeros, so y = zp = 0).
 */
loom_status lm_op_DynamicQuantizeLinear(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 1, 1);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0);
    if (x->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "input must be float, got %s", loom_dtype_name(x->dtype));
    loom_tensor *y = NULL, *ys = NULL, *yzp = NULL;
    if (out_present(k, 0) && !(y = lm_kout_like(k, 0, LOOM_DTYPE_UINT8, x)))
        return LOOM_ERR_NO_MEMORY;
    if (out_present(k, 1) && !(ys = lm_kout(k, 1, LOOM_DTYPE_FLOAT, 0, NULL)))
        return LOOM_ERR_NO_MEMORY;
    if (out_present(k, 2) && !(yzp = lm_kout(k, 2, LOOM_DTYPE_UINT8, 0, NULL)))
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;

    int64_t count = lm_tensor_count(x);
    const float *xd = x->data;
    float mn, mx; /* the range always includes zero */
    range_f32(xd, count, &mn, &mx);
    float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
    int32_t zp = clamp_round(0.0f - mn / scale, 0.0f, 255.0f);
    if (ys)
        *(float *)ys->data = scale;
    if (yzp)
        *(uint8_t *)yzp->data = (uint8_t)zp;
    if (y && count > 0) {
        qdq_job j = {.x = xd, .y = y->data, .scale = &scale, .zp = &zp, .n = 1, .inner = count};
        j.lo = 0.0f;
        j.hi = 255.0f;
        /* One row: split it so the threads share the work. */
        int64_t chunk = 16384, rows = (count + chunk - 1) / chunk;
        if (rows > 1) {
            j.inner = chunk;
            int64_t full = count / chunk;
            PAR(k, full, (double)chunk * 2.0, quantize_f32_u8, &j);
            if (full * chunk < count) {
                qdq_job t = j;
                t.x = xd + full * chunk;
                t.y = (uint8_t *)y->data + full * chunk;
                t.inner = count - full * chunk;
                quantize_f32_u8(&t, 0, 1);
            }
        } else {
            quantize_f32_u8(&j, 0, 1);
        }
    }
    return LOOM_OK;
}
