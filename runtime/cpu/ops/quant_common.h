/*
 * quant_common.h - private helpers shared by the quantization kernels (qdq.c,
 * qmatmul.c, qconv.c, qadd.c; their op table is quant.c): rounding, 8-bit type
 * and parameter checks, parallel-loop costs, AVX-512 dispatch, the
 * requantization rows and the weights packed at plan time (the last two in
 * quant_common.c), and the kernels the table lists. The numerics they follow
 * are in quant.c's header.
 */
#ifndef LOOM_CPU_OPS_QUANT_COMMON_H
#define LOOM_CPU_OPS_QUANT_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "../cpu_features.h"
#include "../../core/op.h"
#include "../qgemm.h"

#ifdef __FAST_MATH__
#error "the quantization kernels round with the 1.5*2^23 trick, which -ffast-math would fold away"
#endif

/* Adding and subtracting 1.5 * 2^23 rounds a float with |v| < 2^22 to an integer
 * in the current rounding mode (nearest, ties to even), like MLAS does; it
 * vectorizes where rintf() would be a libm call per element without SSE4.1.
 * Callers clamp v to the output range first, so the precondition always holds. */
#define ROUND_MAGIC 12582912.0f

static inline float round_half_even_small(float v)
{
    return (v + ROUND_MAGIC) - ROUND_MAGIC;
}

/* Clamps v into [lo, hi] - with the operands ordered so that NaN becomes lo
 * (deterministic) - then rounds half to even. lo/hi are the output range minus
 * the zero point, so the result plus zero point is in the output type's range. */
static inline int32_t clamp_round(float v, float lo, float hi)
{
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    return (int32_t)round_half_even_small(v);
}

/*
 * for (j = 0; j < n; j++) BODY, in fixed blocks of 16 then the tail: GCC's -O2
 * ("very cheap") vectorizer cost model skips loops with a variable trip count,
 * and these elementwise loops are 3-4x faster vectorized. Pointers used in
 * BODY should be restrict so that no aliasing check is needed either.
 */
#define BLOCKED_FOR(j, n, BODY)                                                                    \
    do {                                                                                           \
        int64_t j##_blk = 0;                                                                       \
        for (; j##_blk + 16 <= (n); j##_blk += 16)                                                 \
            for (int j##_t = 0; j##_t < 16; j##_t++) {                                             \
                int64_t j = j##_blk + j##_t;                                                       \
                BODY;                                                                              \
            }                                                                                      \
        for (int64_t j = j##_blk; j < (n); j++) {                                                  \
            BODY;                                                                                  \
        }                                                                                          \
    } while (0)

static inline bool is_q8(loom_dtype dt)
{
    return dt == LOOM_DTYPE_UINT8 || dt == LOOM_DTYPE_INT8;
}

static inline int32_t q8_min(loom_dtype dt)
{
    return dt == LOOM_DTYPE_INT8 ? -128 : 0;
}

static inline int32_t q8_max(loom_dtype dt)
{
    return dt == LOOM_DTYPE_INT8 ? 127 : 255;
}

/* A quantization parameter (scale or zero point) that holds one value. */
static inline bool is_single(const loom_tensor *t)
{
    return lm_tensor_count(t) == 1 && (t->rank == 0 || t->rank == 1);
}

static inline loom_status check_scale(lm_kctx *k, const char *what, const loom_tensor *s)
{
    if (s->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "%s must be float, got %s", what, loom_dtype_name(s->dtype));
    if (s->rank > 1)
        return lm_kinvalid(k, "%s must be a scalar or 1-D, got rank %d", what, s->rank);
    return LOOM_OK;
}

static inline loom_status check_zp(lm_kctx *k, const char *what, const loom_tensor *zp,
                                   const loom_tensor *scale, loom_dtype want)
{
    if (!zp)
        return LOOM_OK;
    if (zp->dtype != want)
        return lm_kinvalid(k, "%s is %s but must be %s like its operand", what,
                           loom_dtype_name(zp->dtype), loom_dtype_name(want));
    if (scale && (zp->rank != scale->rank || lm_tensor_count(zp) != lm_tensor_count(scale)))
        return lm_kinvalid(k, "%s must have the shape of its scale", what);
    return LOOM_OK;
}

/* Zero-point values widened to int32 in scratch; NULL tensor gives one zero. */
int32_t *lm_q_zp_to_i32(lm_kctx *k, const loom_tensor *zp, int64_t *count);

/* Runs the parallel range loops; cost is a rough ns per item. */
#define PAR(k, n, cost, fn, arg) lm_parallel_for((k), (n), (cost), (fn), (arg))

/*
 * Rough ns per unit of work for the costs PAR gets: they decide whether a
 * loop is worth waking the other threads for (about 20 us), so they should
 * be near the real speed. The VNNI GEMM does ~100-250 int8 multiply-adds
 * per ns; packing, requantizing and the elementwise ops ~0.1-1 ns a byte.
 */
#define NS_PER_MAC  0.01
#define NS_PER_BYTE 0.3

/* Columns per output tile handed to the int8 GEMM, by matmuls and convolutions alike. */
#define MM_TN 256

static inline bool use_avx512(void)
{
    return lm_cpu_features_get()->avx512bw_vl;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX512_ROWS 1
#define TARGET_AVX512    __attribute__((target("avx512f,avx512bw,avx512vl")))

static inline __mmask16 tail16(int64_t left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}
#else
#define HAVE_AVX512_ROWS 0
#endif

/* Requantizes a row of int32 accumulators (plus a bias) with one multiplier, into uint8. */
void lm_q_requant_row_u8(const int32_t *acc, uint8_t *y, int64_t n, uint32_t bias, float mult,
                         float lo, float hi, int32_t z);
/* The same into int8. */
void lm_q_requant_row_s8(const int32_t *acc, int8_t *y, int64_t n, uint32_t bias, float mult,
                         float lo, float hi, int32_t z);

/* The same with one multiplier per column, mult[0, n). */
void lm_q_requant_cols_u8(const int32_t *acc, uint8_t *y, int64_t n, const float *mult, float lo,
                          float hi, int32_t z);
void lm_q_requant_cols_s8(const int32_t *acc, int8_t *y, int64_t n, const float *mult, float lo,
                          float hi, int32_t z);

/* y[c] = (float)acc[c] * scale (+ bias) for c < n: scale is sc[c], or s1 when
 * sc is NULL; with @bias, bias is bc[c], or b1 when bc is NULL. */
void lm_q_scale_row(const int32_t *acc, float *y, int64_t n, float s1, const float *sc, float b1,
                    const float *bc, bool bias);

/* Prepared state of the int8 matmuls and convolutions: the constant weights
 * packed for the GEMM (B of a matmul; A of each convolution group), shared
 * by every plan through lm_kweights(). */
typedef struct q_prepared {
    int64_t n;
    lm_qgemm_packed *w[];
} q_prepared;

/* Packs the constant weights of the op @run (weight input @w_in) once per
 * weights in the process; k->prepared points at the shared state. */
loom_status lm_q_prepare(lm_kctx *k, lm_kernel_fn run, int w_in, bool conv);
/* Frees a q_prepared: the shared store's free function. */
void lm_q_free_prepared(void *state);

/* The kernels of the table in quant.c, by file. qdq.c: */
loom_status lm_op_QuantizeLinear(lm_kctx *k);
loom_status lm_op_DequantizeLinear(lm_kctx *k);
loom_status lm_op_DynamicQuantizeLinear(lm_kctx *k);

/* qmatmul.c: */
loom_status lm_op_MatMulInteger(lm_kctx *k);
loom_status lm_op_QLinearMatMul(lm_kctx *k);
loom_status lm_op_MatMulIntegerScaled(lm_kctx *k);
/* Their prepare hooks: B packed by lm_q_prepare(). */
loom_status lm_prepare_MatMulInteger(lm_kctx *k);
loom_status lm_prepare_QLinearMatMul(lm_kctx *k);
loom_status lm_prepare_MatMulIntegerScaled(lm_kctx *k);

/* qconv.c: */
loom_status lm_op_ConvInteger(lm_kctx *k);
loom_status lm_op_QLinearConv(lm_kctx *k);
/* Their prepare hooks: W packed per group by lm_q_prepare(). */
loom_status lm_prepare_ConvInteger(lm_kctx *k);
loom_status lm_prepare_QLinearConv(lm_kctx *k);

/* qadd.c: */
loom_status lm_op_QDQAdd(lm_kctx *k);
/* com.microsoft QLinearMul (qadd.c); QLinearAdd is lm_op_QDQAdd. */
loom_status lm_op_QLinearMul(lm_kctx *k);

/* qlut.c: */
loom_status lm_op_qlut(lm_kctx *k);

#endif
