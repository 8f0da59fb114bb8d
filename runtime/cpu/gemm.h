/*
 * gemm.h - single-precision matrix multiply for the CPU kernels (Gemm, MatMul,
 * Conv, ConvTranspose).
 *
 * All matrices are row-major. lm_sgemm() is BLAS-like; lm_sgemm_run() adds
 * what the operators need beyond BLAS: an operand packed once at plan time
 * (lm_sgemm_pack_a/b, for constant weights) and an epilogue (bias, fused
 * activation) applied to each tile of C while it is still hot. The work is
 * done by the micro-kernel that sgemm_<isa>.c provides for the best ISA that
 * CPUID reports, chosen once (see sgemm_ukernel.h).
 */
#ifndef LOOM_CPU_GEMM_H
#define LOOM_CPU_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "activation.h"
#include "../core/op.h"
#include "sgemm_ukernel.h"

/*
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
 *
 * op(A) is A (an M x K array with row stride lda) or, with @trans_a, the
 * transpose of A stored as K x M with row stride lda; likewise for B.
 * When beta == 0, C is not read (it may hold NaN or garbage). When K == 0,
 * C = beta * C. Runs on the calling thread.
 */
void lm_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc);

/* Same, with the work split across lm_parallel_for() of @k (by blocks of rows
 * of C, or of columns when C is short and wide). */
void lm_sgemm_parallel(lm_kctx *k, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                       float beta, float *C, int64_t ldc);

/* An operand in the micro-kernel's panel layout, for one config. Immutable
 * after packing, so concurrent runs may share it. */
typedef struct lm_sgemm_packed lm_sgemm_packed;

/* Packs op(A) (M x K) / op(B) (K x N) for the default config; NULL when out
 * of memory. Free with lm_sgemm_packed_free (NULL is fine). */
lm_sgemm_packed *lm_sgemm_pack_a(bool trans_a, int64_t M, int64_t K, const float *A, int64_t lda);
lm_sgemm_packed *lm_sgemm_pack_b(bool trans_b, int64_t K, int64_t N, const float *B, int64_t ldb);
void lm_sgemm_packed_free(lm_sgemm_packed *p);

/* Bytes held by a packed operand (for plan statistics). */
size_t lm_sgemm_packed_bytes(const lm_sgemm_packed *p);

typedef struct lm_sgemm_args {
    bool trans_a, trans_b;
    int64_t M, N, K;
    float alpha, beta; /* beta == 0: C is not read */
    const float *A;    /* ignored when pa is set */
    int64_t lda;
    const lm_sgemm_packed *pa; /* op(A) packed with the same config, or NULL */
    const float *B;
    int64_t ldb;
    const lm_sgemm_packed *pb;
    float *C;
    int64_t ldc;
    /* Epilogue, applied after alpha/beta: C = act(C + bias). */
    const float *bias; /* NULL, M values (per row) or N values (bias_per_col) */
    bool bias_per_col;
    lm_act act;
} lm_sgemm_args;

/* The general entry: runs on the calling thread / across @k's pool. */
void lm_sgemm_run(const lm_sgemm_args *g);
void lm_sgemm_run_parallel(lm_kctx *k, const lm_sgemm_args *g);

/* The config the entry points above use: the best the CPU supports, chosen
 * once and logged at LOOM_LOG_DEBUG (loomctl -vv shows it). */
const lm_sgemm_config *lm_sgemm_default_config(void);

/* Explicit-config forms, for tests and benchmarks that compare ISAs; a packed
 * operand must come from the same config. */
lm_sgemm_packed *lm_sgemm_pack_a_cfg(const lm_sgemm_config *cfg, bool trans_a, int64_t M, int64_t K,
                                     const float *A, int64_t lda);
lm_sgemm_packed *lm_sgemm_pack_b_cfg(const lm_sgemm_config *cfg, bool trans_b, int64_t K, int64_t N,
                                     const float *B, int64_t ldb);
void lm_sgemm_run_cfg(const lm_sgemm_config *cfg, const lm_sgemm_args *g);

/* Every config this CPU can run, best first, NULL-terminated. */
const lm_sgemm_config *const *lm_sgemm_available_configs(void);

#endif
