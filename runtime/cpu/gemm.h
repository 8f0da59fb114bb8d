/*
 * gemm.h - single-precision matrix multiply for the CPU kernels (Gemm, MatMul,
 * Conv, ConvTranspose).
 *
 * All matrices are row-major. The interface is BLAS-like so that the portable
 * implementation in gemm.c can later be swapped for ISA-specific micro-kernels
 * without touching the callers.
 */
#ifndef LOOM_CPU_GEMM_H
#define LOOM_CPU_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel.h"

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

#endif
