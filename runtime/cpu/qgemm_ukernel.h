/*
 * qgemm_ukernel.h - the contract between the 8-bit GEMM driver (qgemm.c) and
 * its SIMD micro-kernels (qgemm_<isa>.c).
 *
 * Every operand pair is reduced to uint8 x int8, what vpdpbusd multiplies:
 * A is packed as uint8 (int8 values XOR 0x80, i.e. +128, with the zero point
 * moved by +128), B as int8 (uint8 values XOR 0x80, i.e. -128, zero point
 * moved by -128). Both are exact, so results stay bit-exact with the
 * reference. K is padded to a multiple of 4 with zeros.
 *
 * Panels: a holds k4 steps of MR rows x 4 bytes (row i's bytes k..k+3 at
 * a + 4 * i); b holds k4 steps of NR columns x 4 bytes. The kernel forms
 * acc[i][j] = sum over the panel of a * b in int32 (wrapping), and writes
 * the top-left mr x nr of the tile:
 *   c = (accumulate ? c : 0) + acc                             when corr is NULL,
 *   v = ... + acc + row_add[i] + col_add[j]
 *           - p_row[i] * p_col[j] - q_row[i] * q_col[j]       otherwise,
 * (all modulo 2^32; a product whose row pointer is NULL is absent) applied
 * with the last K block: the zero points' correction, which the driver
 * reduces to the two sums when a zero point is one value for all rows or
 * columns. v goes to c, or, when y is set and the config can requantize,
 * to y as 8 bits (lm_qgemm_requant's arithmetic).
 */
#ifndef LOOM_CPU_QGEMM_UKERNEL_H
#define LOOM_CPU_QGEMM_UKERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "qgemm.h"

typedef struct lm_qgemm_corr {
    const int32_t *row_add;       /* mr values */
    const int32_t *col_add;       /* nr values */
    const int32_t *p_row, *p_col; /* (optional) mr and nr values */
    const int32_t *q_row, *q_col; /* (optional) mr and nr values */
    /* (optional) the tile's 8-bit output, row stride ldy, and its
     * multipliers: mr values (per row) or nr (per column) */
    void *y;
    int64_t ldy;
    const float *mult;
    const lm_qgemm_requant *rq;
} lm_qgemm_corr;

typedef void (*lm_qgemm_ukernel_fn)(int64_t k4, const uint8_t *a, const int8_t *b, int32_t *c,
                                    int64_t ldc, int mr, int nr, bool accumulate,
                                    const lm_qgemm_corr *corr);

/*
 * Packs rows[0, kc) (each pointing at the block's first column) x nc
 * columns of B into NR-column panels as described above, values XOR flip,
 * and adds each column's sum of the packed int8 values to colsum[0, nc).
 */
typedef void (*lm_qgemm_pack_b_fn)(const uint8_t *const *rows, int64_t kc, int64_t nc, uint8_t flip,
                                   int8_t *dst, int32_t *colsum);

/* kc of every config is at most this (the driver's row-pointer array). */
#define LM_QGEMM_MAX_KC 1024

/*
 * Packs rows [i0, i0+mc) x k [pc, pc+kc) of A into MR-row panels of the
 * config's own layout, values XOR flip (as uint8), rows past mc and k past
 * kc zero. Each panel holds MR rows of lm_qgemm_a_row_bytes(cfg, kc) bytes.
 */
typedef void (*lm_qgemm_pack_a_fn)(const uint8_t *A, int64_t lda, uint8_t flip, int64_t i0,
                                   int64_t mc, int64_t pc, int64_t kc, uint8_t *dst);

typedef struct lm_qgemm_config {
    const char *name; /* e.g. "qs8_gemm_12x32c4__avx512vnni" */
    int mr, nr;
    int mc, kc, nc; /* kc in K elements, a multiple of 4, <= LM_QGEMM_MAX_KC */
    lm_qgemm_ukernel_fn ukernel;
    lm_qgemm_pack_b_fn pack_b; /* (optional) NULL: the driver's portable packer */
    /* (optional) run on the calling thread before a call's first ukernel
     * (AMX loads its tile configuration) */
    void (*begin)(void);
    /* (optional) NULL: the portable A layout above (k4 steps of MR x 4
     * bytes); else this packer's, with rows of K rounded up to a_kalign */
    lm_qgemm_pack_a_fn pack_a;
    int a_kalign;
    /* Bytes the kernel may read past the end of packed B (whole tile rows
     * beyond K, multiplied by A's zero padding): buffers holding packed B
     * are that much longer. */
    int b_overread;
    /* The kernel requantizes when corr->y is set; else the driver does,
     * from c. */
    bool requant;
} lm_qgemm_config;

/* Bytes of one packed row of A for a K block of @kc. */
static inline int64_t lm_qgemm_a_row_bytes(const lm_qgemm_config *cfg, int64_t kc)
{
    int64_t al = cfg->pack_a ? cfg->a_kalign : 4;
    return (kc + al - 1) / al * al;
}

/* The VNNI config's B packer (x86-64 with GCC or clang only), which the AMX
 * config shares: AMX CPUs have VNNI. */
void lm_qgemm_pack_b_avx512vnni(const uint8_t *const *rows, int64_t kc, int64_t nc, uint8_t flip,
                                int8_t *dst, int32_t *colsum);

extern const lm_qgemm_config lm_qgemm_config_amx;
extern const lm_qgemm_config lm_qgemm_config_avx512vnni;
extern const lm_qgemm_config lm_qgemm_config_avx2;

#endif
