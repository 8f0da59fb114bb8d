/*
 * qadd.c - loom.QDQAdd: DequantizeLinear(a), DequantizeLinear(b) -> Add ->
 * QuantizeLinear as one kernel on 8-bit tensors, with numpy broadcasting;
 * and ONNX Runtime's com.microsoft QLinearAdd and QLinearMul, which
 * quantized models in the QOperator format carry: the same inputs, and for
 * Mul a product where Add has a sum.
 */
#include "ew.h"
#include "quant_common.h"

/*
 * The fused form of that pattern (fuse_qdq.c writes it; domain "loom"), with
 * inputs (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp), per-tensor
 * parameters and numpy broadcasting. It runs the same float32 steps as the
 * three operators, element by element and without the float tensors:
 *   y = Q((float)(a - a_zp) * a_scale + (float)(b - b_zp) * b_scale).
 */
typedef struct qadd_job {
    const uint8_t *a, *b;
    bool a_signed, b_signed;
    uint8_t *y;
    bool y_signed;
    float as, bs, ys, lo, hi; /* lo/hi: the output range minus the zero point */
    int32_t az, bz, yz;
    bool mul; /* QLinearMul: the dequantized operands' product */
} qadd_job;

static inline float q8_value(const uint8_t *p, int64_t i, bool sgn)
{
    return sgn ? (float)(int8_t)p[i] : (float)p[i];
}

/* One element, as DequantizeLinear, Add and QuantizeLinear compute it. */
static inline int32_t qadd_one(const qadd_job *j, int32_t qa, int32_t qb)
{
    float fa = (float)(qa - j->az) * j->as, fb = (float)(qb - j->bz) * j->bs;
    float v = j->mul ? fa * fb : fa + fb;
    return clamp_round(v / j->ys, j->lo, j->hi) + j->yz;
}

/* The contiguous case (no broadcast along the run), vectorizable: uint8 in
 * and out is what QDQ models have; the other signedness pairs take the
 * general loop. */
static void qadd_row_u8(const qadd_job *restrict j, const uint8_t *restrict a,
                        const uint8_t *restrict b, uint8_t *restrict y, int64_t n)
{
    BLOCKED_FOR(i, n, y[i] = (uint8_t)qadd_one(j, a[i], b[i]));
}

#if HAVE_AVX512_ROWS
/* 16 elements of an operand, dequantized: loaded, or one value broadcast
 * (@inner 0) whose lanes were made once. */
TARGET_AVX512 static inline __m512 qadd_lanes(const uint8_t *p, int64_t i, __mmask16 k, bool inner,
                                              bool sgn, __m512i z, __m512 scale, __m512 bcast)
{
    if (!inner)
        return bcast;
    __m128i v = _mm_maskz_loadu_epi8(k, p + i);
    __m512i q = sgn ? _mm512_cvtepi8_epi32(v) : _mm512_cvtepu8_epi32(v);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, z)), scale);
}

/* A row on 16 lanes, any signedness, either operand contiguous or one value
 * broadcast along the row (a scalar, or a bias along the last axis): the
 * same float32 steps (see qrow_f32_avx512 in qdq.c for why the bits match). */
TARGET_AVX512 static void qadd_row_avx512(const qadd_job *j, const uint8_t *a, const uint8_t *b,
                                          uint8_t *y, int64_t n, const int *inner)
{
    const __m512i az = _mm512_set1_epi32(j->az), bz = _mm512_set1_epi32(j->bz);
    const __m512i yz = _mm512_set1_epi32(j->yz);
    const __m512 as = _mm512_set1_ps(j->as), bs = _mm512_set1_ps(j->bs), ys = _mm512_set1_ps(j->ys);
    const __m512 lo = _mm512_set1_ps(j->lo), hi = _mm512_set1_ps(j->hi);
    const __m512 magic = _mm512_set1_ps(ROUND_MAGIC);
    const __m512 a1 = _mm512_set1_ps((q8_value(a, 0, j->a_signed) - (float)j->az) * j->as);
    const __m512 b1 = _mm512_set1_ps((q8_value(b, 0, j->b_signed) - (float)j->bz) * j->bs);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = tail16(n - i);
        __m512 fa = qadd_lanes(a, i, k, inner[0], j->a_signed, az, as, a1);
        __m512 fb = qadd_lanes(b, i, k, inner[1], j->b_signed, bz, bs, b1);
        __m512 v = _mm512_div_ps(j->mul ? _mm512_mul_ps(fa, fb) : _mm512_add_ps(fa, fb), ys);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        v = _mm512_sub_ps(_mm512_add_ps(v, magic), magic);
        __m128i q = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), yz));
        _mm_mask_storeu_epi8((int8_t *)y + i, k, q);
    }
}
#endif

static void qadd_row(void *ctx, const int64_t *off, int64_t out_off, int64_t n, const int *inner)
{
    const qadd_job *j = ctx;
    const uint8_t *a = j->a + off[0], *b = j->b + off[1];
    uint8_t *y = j->y + out_off;
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        qadd_row_avx512(j, a, b, y, n, inner);
        return;
    }
#endif
    if (inner[0] && inner[1] && !j->a_signed && !j->b_signed && !j->y_signed) {
        qadd_row_u8(j, a, b, y, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t qa = (int32_t)q8_value(a, inner[0] ? i : 0, j->a_signed);
        int32_t qb = (int32_t)q8_value(b, inner[1] ? i : 0, j->b_signed);
        y[i] = (uint8_t)qadd_one(j, qa, qb);
    }
}

static loom_status qadd_param(lm_kctx *k, const char *what, const loom_tensor *s,
                              const loom_tensor *zp, loom_dtype dt, float *scale, int32_t *z)
{
    loom_status st = check_scale(k, what, s);
    if (st != LOOM_OK)
        return st;
    if (!is_single(s) || (zp && !is_single(zp)))
        return lm_kinvalid(k, "%s and its zero point must be one value each", what);
    if (zp && zp->dtype != dt)
        return lm_kinvalid(k, "%s's zero point is %s, its operand %s", what,
                           loom_dtype_name(zp->dtype), loom_dtype_name(dt));
    *scale = *(const float *)s->data;
    *z = !zp ? 0 : dt == LOOM_DTYPE_INT8 ? *(const int8_t *)zp->data : *(const uint8_t *)zp->data;
    return LOOM_OK;
}

/* Inputs (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp); the zero
 * points may be absent (0), y then of a's type. */
static loom_status qbinary(lm_kctx *k, bool mul)
{
    loom_status st = lm_kcheck_arity(k, 7, 8);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 3), *yzp = lm_kin(k, 7);
    if (!a || !b || !lm_kin(k, 1) || !lm_kin(k, 4) || !lm_kin(k, 6))
        return lm_kinvalid(k, "a, b and the three scales are required");
    loom_dtype ydt = yzp ? yzp->dtype : a->dtype;
    if (!is_q8(a->dtype) || !is_q8(b->dtype) || !is_q8(ydt))
        return lm_kunsupported(k, "a, b and y must be uint8 or int8, got %s, %s, %s",
                               loom_dtype_name(a->dtype), loom_dtype_name(b->dtype),
                               loom_dtype_name(ydt));
    qadd_job j = {.a_signed = a->dtype == LOOM_DTYPE_INT8,
                  .b_signed = b->dtype == LOOM_DTYPE_INT8,
                  .y_signed = ydt == LOOM_DTYPE_INT8,
                  .mul = mul};
    if ((st = qadd_param(k, "a_scale", lm_kin(k, 1), lm_kin(k, 2), a->dtype, &j.as, &j.az)) ||
        (st = qadd_param(k, "b_scale", lm_kin(k, 4), lm_kin(k, 5), b->dtype, &j.bs, &j.bz)) ||
        (st = qadd_param(k, "y_scale", lm_kin(k, 6), yzp, ydt, &j.ys, &j.yz)))
        return st;
    const loom_tensor *ins[2] = {a, b};
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    if ((st = lm_bcast_shape(k, 2, ins, &rank, dims)) != LOOM_OK)
        return st;
    loom_tensor *y = lm_kout(k, 0, ydt, rank, dims);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry || lm_tensor_count(y) == 0)
        return LOOM_OK;
    j.a = a->data;
    j.b = b->data;
    j.y = y->data;
    j.lo = (float)(q8_min(ydt) - j.yz);
    j.hi = (float)(q8_max(ydt) - j.yz);
    lm_bcast p;
    lm_bcast_plan(&p, rank, dims, 2, ins);
    lm_bcast_run(k, &p, NS_PER_BYTE, qadd_row, &j);
    return LOOM_OK;
}

loom_status lm_op_QDQAdd(lm_kctx *k)
{
    return qbinary(k, false);
}

loom_status lm_op_QLinearMul(lm_kctx *k)
{
    return qbinary(k, true);
}
