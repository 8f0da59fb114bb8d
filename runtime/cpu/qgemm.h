/*
 * qgemm.h - 8-bit integer GEMM with zero points: C(int32) = (A - a_zp) x (B - b_zp).
 *
 * The quantized operators (MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv)
 * all reduce to this one primitive. lm_qgemm_tile() runs packed AVX-512 VNNI
 * or AVX2 micro-kernels (qgemm_<isa>.c) where the CPU has them, bit-exact
 * with the portable reference, which runs elsewhere.
 *
 * Layout: A is [m, k] row-major with row stride lda, B is [k, n] with row stride
 * ldb, C is [m, n] with row stride ldc (all in elements). Element types are
 * uint8 or int8, chosen per operand by a_signed/b_signed.
 *
 * Zero points: a_zp is NULL (zero), one value (a_zp_per_row false) or one value
 * per row of A (a_zp[i] for row i); b_zp likewise per column of B. Per-row A and
 * per-column B zero points keep the sum separable, which is what lets a fast
 * kernel fold them into row/column sums.
 *
 * Accumulation wraps modulo 2^32 (as int32 accumulation does on every backend we
 * compare against) instead of being undefined behaviour for huge k.
 */
#ifndef LOOM_CPU_QGEMM_H
#define LOOM_CPU_QGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lm_qgemm_packed lm_qgemm_packed;

/*
 * (optional) The output stage of QLinearConv and the quantized matmuls:
 * element (i, j) of C becomes the 8-bit
 *   y = clamp_round((float)(int32)(c + bias) * mult, lo, hi) + zp
 * (float32 steps, clamp with NaN to lo, round half to even; lo and hi are the
 * output range minus zp), with bias and mult those of row i, or of column j
 * when per_col. The SIMD kernels apply it to a tile while it is in
 * registers, so C never holds the finished sums.
 */
typedef struct lm_qgemm_requant {
    void *y; /* [m, n] uint8 or int8, row stride ldy */
    int64_t ldy;
    bool y_signed;
    bool per_col;
    const int32_t *bias; /* NULL, or m values (n when per_col) */
    const float *mult;   /* m values (n when per_col) */
    float lo, hi;
    int32_t zp;
} lm_qgemm_requant;

/* One element of the output stage, the definition the kernels match. */
static inline int32_t lm_qgemm_requant1(int32_t v, float mult, float lo, float hi, int32_t zp)
{
    float f = (float)v * mult;
    f = f > lo ? f : lo;
    f = f < hi ? f : hi;
    /* 1.5 * 2^23 rounds |f| < 2^22 to an integer, half to even */
    return (int32_t)((f + 12582912.0f) - 12582912.0f) + zp;
}

typedef struct lm_qgemm_params {
    int64_t m, n, k;
    const void *a; /* [m, k] uint8 or int8 */
    int64_t lda;
    bool a_signed;
    const void *b; /* [k, n] uint8 or int8 */
    int64_t ldb;
    bool b_signed;
    /* (optional) row k of B starts at b_rows[k] instead of b + k * ldb: a
     * convolution's im2col matrix as pointers into its padded input. */
    const void *const *b_rows;
    int32_t *c; /* [m, n]; with rq, scratch for the sums (its contents undefined) */
    int64_t ldc;
    const int32_t *a_zp; /* NULL, one value, or m values */
    bool a_zp_per_row;
    const int32_t *b_zp; /* NULL, one value, or n values */
    bool b_zp_per_col;
    /* (optional) A or B packed once by lm_qgemm_pack_a/b, e.g. constant
     * weights at plan time; a and b stay required (the reference reads them). */
    const lm_qgemm_packed *pa, *pb;
    const lm_qgemm_requant *rq; /* (optional) 8-bit output */
} lm_qgemm_params;

/* Packs all of A ([m, k], row stride lda) or B ([k, n]) with its sums for the
 * default SIMD kernel; NULL when there is none or memory is short (callers
 * then simply run unpacked). Free with lm_qgemm_packed_free (NULL is fine). */
lm_qgemm_packed *lm_qgemm_pack_a(const void *a, int64_t lda, bool a_signed, int64_t m, int64_t k);
lm_qgemm_packed *lm_qgemm_pack_b(const void *b, int64_t ldb, bool b_signed, int64_t k, int64_t n);
void lm_qgemm_packed_free(lm_qgemm_packed *p);
/* The bytes @p holds (its panels and sums). */
size_t lm_qgemm_packed_bytes(const lm_qgemm_packed *p);

/* Computes rows [m0, m1) x columns [n0, n1) of C, overwriting them. Tiles are
 * independent, so callers may run disjoint tiles on different threads. */
void lm_qgemm_tile(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

/* The whole of C. */
static inline void lm_qgemm(const lm_qgemm_params *p)
{
    lm_qgemm_tile(p, 0, p->m, 0, p->n);
}

/* uint8 A x int8 B, the pair VNNI's vpdpbusd takes natively. */
void lm_qgemm_u8s8_tile(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

/* The portable reference: the oracle for tests and the path without SIMD. */
void lm_qgemm_ref_tile(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

/* Explicit-config form for tests and benchmarks (NULL: the reference), and
 * the SIMD configs this CPU can run, best first, NULL-terminated (empty
 * without AVX2). lm_qgemm_tile uses the first. Tiles are best made large
 * (all rows of C, hundreds of columns): each call packs its part of B. */
struct lm_qgemm_config;
void lm_qgemm_tile_cfg(const struct lm_qgemm_config *cfg, const lm_qgemm_params *p, int64_t m0,
                       int64_t m1, int64_t n0, int64_t n1);
const struct lm_qgemm_config *const *lm_qgemm_available_configs(void);

#endif
