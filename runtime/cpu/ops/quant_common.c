/*
 * quant_common.c - what the quantization kernels share beyond the inline
 * helpers of quant_common.h: zero points widened to int32, the rows that
 * requantize int32 accumulators (C and AVX-512), and the weights of the
 * integer matmuls and convolutions packed once per plan.
 */
#include <stdlib.h>

#include "quant_common.h"

/* Zero-point values widened to int32 in scratch; NULL tensor gives one zero. */
int32_t *lm_q_zp_to_i32(lm_kctx *k, const loom_tensor *zp, int64_t *count)
{
    int64_t n = zp ? lm_tensor_count(zp) : 1;
    int32_t *v = lm_kscratch(k, (size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (!v)
        return NULL;
    if (!zp) {
        v[0] = 0;
    } else if (zp->dtype == LOOM_DTYPE_UINT8) {
        const uint8_t *d = zp->data;
        for (int64_t i = 0; i < n; i++)
            v[i] = d[i];
    } else if (zp->dtype == LOOM_DTYPE_INT8) {
        const int8_t *d = zp->data;
        for (int64_t i = 0; i < n; i++)
            v[i] = d[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            v[i] = (int32_t)lm_tensor_get_i64(zp, i);
    }
    if (count)
        *count = n;
    return v;
}

/* Requantizes a row of int32 accumulators (plus a bias) with one multiplier. */
#define DEFINE_REQUANT_ROW(NAME, TY)                                                               \
    static void NAME(const int32_t *restrict acc, TY *restrict y, int64_t n, uint32_t bias,        \
                     float mult, float lo, float hi, int32_t z)                                    \
    {                                                                                              \
        BLOCKED_FOR(                                                                               \
            c, n,                                                                                  \
            y[c] =                                                                                 \
                (TY)(clamp_round((float)(int32_t)((uint32_t)acc[c] + bias) * mult, lo, hi) + z));  \
    }

DEFINE_REQUANT_ROW(requant_row_u8_base, uint8_t)
DEFINE_REQUANT_ROW(requant_row_s8_base, int8_t)

#if HAVE_AVX512_ROWS
/*
 * The same on 16 float lanes for CPUs with AVX-512 (every int8 output passes
 * through here), step for step: IEEE float32 rounds alike at any width; max
 * and min return their second operand for NaN, as clamp_round's compares do;
 * the rounded value is integral, so converting it truncates nothing; the
 * in-range int32 narrows to 8 bits by truncation like the C cast.
 */
/* 16 accumulators requantized to int32 codes (the zero point added). The
 * clamped value is within the 8-bit range, so converting it with the default
 * rounding (to nearest, ties to even) is clamp_round's rounding. */
TARGET_AVX512 static inline __m512i requant16(const int32_t *acc, __m512i vb, __m512 vm, __m512 vlo,
                                              __m512 vhi, __m512i vz)
{
    __m512i a = _mm512_add_epi32(_mm512_loadu_si512(acc), vb);
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(a), vm);
    v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(v), vz);
}

TARGET_AVX512 static void requant_row_avx512(const int32_t *acc, void *y, bool y_signed, int64_t n,
                                             uint32_t bias, float mult, float lo, float hi,
                                             int32_t z)
{
    const __m512i vb = _mm512_set1_epi32((int32_t)bias), vz = _mm512_set1_epi32(z);
    const __m512 vm = _mm512_set1_ps(mult), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512 magic = _mm512_set1_ps(ROUND_MAGIC);
    /* 64 at a time, narrowed by two packs (the codes are in range, so they
     * saturate nothing) and one permute back to order, instead of four
     * vpmovdb, which all wait for the one shuffle port. */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    int64_t c = 0;
    for (; c + 64 <= n; c += 64) {
        __m512i q0 = requant16(acc + c, vb, vm, vlo, vhi, vz);
        __m512i q1 = requant16(acc + c + 16, vb, vm, vlo, vhi, vz);
        __m512i q2 = requant16(acc + c + 32, vb, vm, vlo, vhi, vz);
        __m512i q3 = requant16(acc + c + 48, vb, vm, vlo, vhi, vz);
        __m512i w01 = _mm512_packs_epi32(q0, q1), w23 = _mm512_packs_epi32(q2, q3);
        __m512i b = y_signed ? _mm512_packs_epi16(w01, w23) : _mm512_packus_epi16(w01, w23);
        _mm512_storeu_si512((uint8_t *)y + c, _mm512_permutexvar_epi32(order, b));
    }
    for (; c < n; c += 16) {
        __mmask16 k = n - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - c)) - 1);
        __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, acc + c), vb);
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(a), vm);
        v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
        v = _mm512_sub_ps(_mm512_add_ps(v, magic), magic);
        __m128i q = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), vz));
        _mm_mask_storeu_epi8((int8_t *)y + c, k, q);
        (void)y_signed; /* the low byte is the value either way */
    }
}
#endif

void lm_q_requant_row_u8(const int32_t *acc, uint8_t *y, int64_t n, uint32_t bias, float mult,
                         float lo, float hi, int32_t z)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        requant_row_avx512(acc, y, false, n, bias, mult, lo, hi, z);
        return;
    }
#endif
    requant_row_u8_base(acc, y, n, bias, mult, lo, hi, z);
}

void lm_q_requant_row_s8(const int32_t *acc, int8_t *y, int64_t n, uint32_t bias, float mult,
                         float lo, float hi, int32_t z)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        requant_row_avx512(acc, y, true, n, bias, mult, lo, hi, z);
        return;
    }
#endif
    requant_row_s8_base(acc, y, n, bias, mult, lo, hi, z);
}

/* Requantizes a row with one multiplier per column (per-channel weights):
 * the same float32 steps as the rows above, with mult[c] for column c. */
#define DEFINE_REQUANT_COLS(NAME, TY)                                                              \
    static void NAME(const int32_t *restrict acc, TY *restrict y, int64_t n,                       \
                     const float *restrict mult, float lo, float hi, int32_t z)                    \
    {                                                                                              \
        BLOCKED_FOR(c, n, y[c] = (TY)(clamp_round((float)acc[c] * mult[c], lo, hi) + z));          \
    }

DEFINE_REQUANT_COLS(requant_cols_u8_base, uint8_t)
DEFINE_REQUANT_COLS(requant_cols_s8_base, int8_t)

#if HAVE_AVX512_ROWS
/* requant_cols on 16 lanes, step for step as requant_row_avx512. */
TARGET_AVX512 static void requant_cols_avx512(const int32_t *acc, void *y, int64_t n,
                                              const float *mult, float lo, float hi, int32_t z)
{
    const __m512i vz = _mm512_set1_epi32(z);
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const __m512 magic = _mm512_set1_ps(ROUND_MAGIC);
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 k = tail16(n - c);
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, acc + c)),
                                 _mm512_maskz_loadu_ps(k, mult + c));
        v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
        v = _mm512_sub_ps(_mm512_add_ps(v, magic), magic);
        __m128i q = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), vz));
        _mm_mask_storeu_epi8((int8_t *)y + c, k, q);
    }
}
#endif

void lm_q_requant_cols_u8(const int32_t *acc, uint8_t *y, int64_t n, const float *mult, float lo,
                          float hi, int32_t z)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        requant_cols_avx512(acc, y, n, mult, lo, hi, z);
        return;
    }
#endif
    requant_cols_u8_base(acc, y, n, mult, lo, hi, z);
}

void lm_q_requant_cols_s8(const int32_t *acc, int8_t *y, int64_t n, const float *mult, float lo,
                          float hi, int32_t z)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        requant_cols_avx512(acc, y, n, mult, lo, hi, z);
        return;
    }
#endif
    requant_cols_s8_base(acc, y, n, mult, lo, hi, z);
}

/* y = (float)acc * scale (+ bias), scale and bias one value or per column
 * (NULL pointers: the single values): a Cast, a Mul and an Add, each
 * rounded once like the operators (no fused multiply-add). */
static void scale_row_base(const int32_t *restrict acc, float *restrict y, int64_t n, float s1,
                           const float *restrict sc, float b1, const float *restrict bc, bool bias)
{
    for (int64_t c = 0; c < n; c++) {
        float v = (float)acc[c] * (sc ? sc[c] : s1);
        y[c] = bias ? v + (bc ? bc[c] : b1) : v;
    }
}

#if HAVE_AVX512_ROWS
TARGET_AVX512 static void scale_row_avx512(const int32_t *acc, float *y, int64_t n, float s1,
                                           const float *sc, float b1, const float *bc, bool bias)
{
    const __m512 vs = _mm512_set1_ps(s1), vb = _mm512_set1_ps(b1);
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 k = tail16(n - c);
        __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, acc + c));
        v = _mm512_mul_ps(v, sc ? _mm512_maskz_loadu_ps(k, sc + c) : vs);
        if (bias)
            v = _mm512_add_ps(v, bc ? _mm512_maskz_loadu_ps(k, bc + c) : vb);
        _mm512_mask_storeu_ps(y + c, k, v);
    }
}
#endif

void lm_q_scale_row(const int32_t *acc, float *y, int64_t n, float s1, const float *sc, float b1,
                    const float *bc, bool bias)
{
#if HAVE_AVX512_ROWS
    if (use_avx512()) {
        scale_row_avx512(acc, y, n, s1, sc, b1, bc, bias);
        return;
    }
#endif
    scale_row_base(acc, y, n, s1, sc, b1, bc, bias);
}

void lm_q_free_prepared(void *state)
{
    q_prepared *qp = state;
    for (int64_t i = 0; i < qp->n; i++)
        lm_qgemm_packed_free(qp->w[i]);
    free(qp);
}

/* What q_pack() packs: W of one op, per group. */
typedef struct q_pack_job {
    bool conv, sgn;
    int64_t groups, rows, K;
    const uint8_t *w;
} q_pack_job;

/* lm_kweights' builder. Without a SIMD kernel (or memory) nothing is packed
 * (*data stays NULL) and runs pack as they go. */
static loom_status q_pack(lm_kctx *k, void *arg, void **data, size_t *bytes)
{
    const q_pack_job *j = arg;
    q_prepared *qp = calloc(1, sizeof(*qp) + (size_t)j->groups * sizeof(qp->w[0]));
    if (!qp)
        return LOOM_OK;
    *bytes = sizeof(*qp) + (size_t)j->groups * sizeof(qp->w[0]);
    for (int64_t g = 0; g < j->groups; g++) {
        qp->w[g] = j->conv ? lm_qgemm_pack_a(j->w + g * j->rows * j->K, j->K, j->sgn, j->rows, j->K)
                           : lm_qgemm_pack_b(j->w, j->rows, j->sgn, j->K, j->rows);
        qp->n = g + 1;
        if (!qp->w[g]) {
            lm_q_free_prepared(qp);
            return LOOM_OK;
        }
        *bytes += lm_qgemm_packed_bytes(qp->w[g]);
    }
    *data = qp;
    return LOOM_OK;
}

/* Packs the constant weights: B of MatMulInteger (input 1) and QLinearMatMul
 * (input 3) when it is one 2-D matrix; W of ConvInteger (input 1) and
 * QLinearConv (input 3), per group. Once per weights in the process
 * (lm_kweights): k->prepared is the shared q_prepared itself, which the
 * plan's reference keeps alive, so the ops have no free_prepared. */
loom_status lm_q_prepare(lm_kctx *k, lm_kernel_fn run, int w_in, bool conv)
{
    loom_status st = run(k); /* validates and shapes (k->dry is set) */
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *w = lm_kin(k, w_in);
    if (x->data || !w->data)
        return LOOM_OK;
    q_pack_job j = {.conv = conv, .sgn = w->dtype == LOOM_DTYPE_INT8, .groups = 1, .w = w->data};
    if (conv) {
        j.groups = lm_node_attr_int(k->node, "group", 1);
        j.rows = w->dims[0] / j.groups;
        j.K = lm_tensor_count(w) / (w->dims[0] > 0 ? w->dims[0] : 1);
    } else {
        if (w->rank > 2)
            return LOOM_OK;
        j.K = w->dims[0];
        j.rows = w->rank == 2 ? w->dims[1] : 1;
    }
    if (j.rows <= 0 || j.K <= 0)
        return LOOM_OK;
    uint64_t layout = (uint64_t)conv | (uint64_t)j.groups << 1;
    const void *qp;
    st = lm_kweights(k, &w_in, 1, layout, q_pack, lm_q_free_prepared, &j, &qp);
    k->prepared = (void *)qp;
    return st;
}
