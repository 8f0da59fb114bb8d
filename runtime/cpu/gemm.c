/*
 * gemm.c - portable cache-blocked SGEMM.
 *
 * The classic Goto/BLIS structure: op(B) is packed by KC x NC blocks into
 * NR-wide column panels, op(A) by MC x KC blocks into MR-tall row panels, and
 * an MR x NR register-tiled micro-kernel walks the packed panels. The
 * micro-kernel uses GCC vector extensions, which lower to whatever SIMD the
 * target has (SSE2 at the baseline), so the code stays portable C while the
 * accumulators stay in registers. ISA-specific micro-kernels replace
 * ukernel() and the blocking constants later; the interface does not change.
 */
#include "gemm.h"

#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 8
#define KC 256
#define MC 96 /* multiple of MR */
#define NC 512

typedef float v4f __attribute__((vector_size(16)));

static inline v4f ld4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st4(float *p, v4f v)
{
    memcpy(p, &v, sizeof v);
}

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* op(B)[pc:pc+kc, jc:jc+nc] -> panels of NR columns, each kc rows of NR floats,
 * zero-padded on the right so the micro-kernel never needs a column tail. */
static void pack_b(bool tb, const float *B, int64_t ldb, int64_t pc, int64_t jc, int64_t kc,
                   int64_t nc, float *dst)
{
    for (int64_t j = 0; j < nc; j += NR) {
        int64_t nr = min64(NR, nc - j);
        if (!tb) {
            const float *src = B + pc * ldb + jc + j;
            for (int64_t p = 0; p < kc; p++, src += ldb) {
                float *d = dst + p * NR;
                int64_t jj = 0;
                for (; jj < nr; jj++)
                    d[jj] = src[jj];
                for (; jj < NR; jj++)
                    d[jj] = 0.0f;
            }
        } else {
            /* B is N x K: read each of its rows contiguously. */
            for (int64_t jj = 0; jj < NR; jj++) {
                if (jj < nr) {
                    const float *src = B + (jc + j + jj) * ldb + pc;
                    for (int64_t p = 0; p < kc; p++)
                        dst[p * NR + jj] = src[p];
                } else {
                    for (int64_t p = 0; p < kc; p++)
                        dst[p * NR + jj] = 0.0f;
                }
            }
        }
        dst += kc * NR;
    }
}

/* op(A)[ic:ic+mc, pc:pc+kc] -> panels of MR rows, each kc columns of MR floats. */
static void pack_a(bool ta, const float *A, int64_t lda, int64_t ic, int64_t pc, int64_t mc,
                   int64_t kc, float *dst)
{
    for (int64_t i = 0; i < mc; i += MR) {
        int64_t mr = min64(MR, mc - i);
        if (!ta) {
            for (int64_t ii = 0; ii < MR; ii++) {
                if (ii < mr) {
                    const float *src = A + (ic + i + ii) * lda + pc;
                    for (int64_t p = 0; p < kc; p++)
                        dst[p * MR + ii] = src[p];
                } else {
                    for (int64_t p = 0; p < kc; p++)
                        dst[p * MR + ii] = 0.0f;
                }
            }
        } else {
            /* A is K x M: row p of the stored matrix holds column p of op(A). */
            const float *src = A + pc * lda + ic + i;
            for (int64_t p = 0; p < kc; p++, src += lda) {
                float *d = dst + p * MR;
                int64_t ii = 0;
                for (; ii < mr; ii++)
                    d[ii] = src[ii];
                for (; ii < MR; ii++)
                    d[ii] = 0.0f;
            }
        }
        dst += kc * MR;
    }
}

/* out[MR][NR] = sum_p a[p][0..MR) (x) b[p][0..NR) over packed panels. */
static void ukernel(int64_t kc, const float *restrict a, const float *restrict b,
                    float *restrict out)
{
    v4f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    v4f c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    for (int64_t p = 0; p < kc; p++) {
        v4f b0 = ld4(b), b1 = ld4(b + 4);
        v4f a0 = {a[0], a[0], a[0], a[0]};
        v4f a1 = {a[1], a[1], a[1], a[1]};
        c00 += a0 * b0;
        c01 += a0 * b1;
        c10 += a1 * b0;
        c11 += a1 * b1;
        v4f a2 = {a[2], a[2], a[2], a[2]};
        v4f a3 = {a[3], a[3], a[3], a[3]};
        c20 += a2 * b0;
        c21 += a2 * b1;
        c30 += a3 * b0;
        c31 += a3 * b1;
        v4f a4 = {a[4], a[4], a[4], a[4]};
        v4f a5 = {a[5], a[5], a[5], a[5]};
        c40 += a4 * b0;
        c41 += a4 * b1;
        c50 += a5 * b0;
        c51 += a5 * b1;
        a += MR;
        b += NR;
    }
    st4(out + 0 * NR, c00);
    st4(out + 0 * NR + 4, c01);
    st4(out + 1 * NR, c10);
    st4(out + 1 * NR + 4, c11);
    st4(out + 2 * NR, c20);
    st4(out + 2 * NR + 4, c21);
    st4(out + 3 * NR, c30);
    st4(out + 3 * NR + 4, c31);
    st4(out + 4 * NR, c40);
    st4(out + 4 * NR + 4, c41);
    st4(out + 5 * NR, c50);
    st4(out + 5 * NR + 4, c51);
}

/* C = beta * C over M x N, with beta == 0 meaning "overwrite" (NaN-safe). */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++)
                c[j] *= beta;
    }
}

/* Unblocked fallback for when the packing buffers cannot be allocated. */
static void sgemm_naive(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc)
{
    scale_c(M, N, beta, C, ldc);
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t p = 0; p < K; p++) {
            float a = alpha * (ta ? A[p * lda + i] : A[i * lda + p]);
            if (!tb) {
                const float *b = B + p * ldb;
                for (int64_t j = 0; j < N; j++)
                    c[j] += a * b[j];
            } else {
                for (int64_t j = 0; j < N; j++)
                    c[j] += a * B[j * ldb + p];
            }
        }
    }
}

void lm_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    int64_t nc_max = min64(NC, (N + NR - 1) / NR * NR);
    int64_t mc_max = min64(MC, (M + MR - 1) / MR * MR);
    int64_t kc_max = min64(KC, K);
    float *bpack = aligned_alloc(64, (size_t)((kc_max * nc_max * 4 + 63) / 64 * 64));
    float *apack = aligned_alloc(64, (size_t)((kc_max * mc_max * 4 + 63) / 64 * 64));
    if (!bpack || !apack) {
        free(bpack);
        free(apack);
        sgemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    float tile[MR * NR];
    for (int64_t jc = 0; jc < N; jc += NC) {
        int64_t nc = min64(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = min64(KC, K - pc);
            bool first = pc == 0;
            pack_b(tb, B, ldb, pc, jc, kc, nc, bpack);
            for (int64_t ic = 0; ic < M; ic += MC) {
                int64_t mc = min64(MC, M - ic);
                pack_a(ta, A, lda, ic, pc, mc, kc, apack);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int64_t nr = min64(NR, nc - jr);
                    const float *bp = bpack + (jr / NR) * kc * NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t mr = min64(MR, mc - ir);
                        ukernel(kc, apack + (ir / MR) * kc * MR, bp, tile);
                        float *c = C + (ic + ir) * ldc + jc + jr;
                        for (int64_t i = 0; i < mr; i++, c += ldc) {
                            const float *t = tile + i * NR;
                            if (!first || beta == 1.0f) {
                                for (int64_t j = 0; j < nr; j++)
                                    c[j] += alpha * t[j];
                            } else if (beta == 0.0f) {
                                for (int64_t j = 0; j < nr; j++)
                                    c[j] = alpha * t[j];
                            } else {
                                for (int64_t j = 0; j < nr; j++)
                                    c[j] = alpha * t[j] + beta * c[j];
                            }
                        }
                    }
                }
            }
        }
    }
    free(bpack);
    free(apack);
}

typedef struct sgemm_job {
    bool ta, tb, by_rows;
    int64_t M, N, K, block;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
} sgemm_job;

static void sgemm_range(void *arg, int64_t begin, int64_t end)
{
    const sgemm_job *j = arg;
    if (j->by_rows) {
        int64_t r0 = begin * j->block, r1 = min64(end * j->block, j->M);
        const float *a = j->ta ? j->A + r0 : j->A + r0 * j->lda;
        lm_sgemm(j->ta, j->tb, r1 - r0, j->N, j->K, j->alpha, a, j->lda, j->B, j->ldb, j->beta,
                 j->C + r0 * j->ldc, j->ldc);
    } else {
        int64_t c0 = begin * j->block, c1 = min64(end * j->block, j->N);
        const float *b = j->tb ? j->B + c0 * j->ldb : j->B + c0;
        lm_sgemm(j->ta, j->tb, j->M, c1 - c0, j->K, j->alpha, j->A, j->lda, b, j->ldb, j->beta,
                 j->C + c0, j->ldc);
    }
}

void lm_sgemm_parallel(lm_kctx *k, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    sgemm_job j = {.ta = ta,
                   .tb = tb,
                   .M = M,
                   .N = N,
                   .K = K,
                   .alpha = alpha,
                   .beta = beta,
                   .A = A,
                   .B = B,
                   .C = C,
                   .lda = lda,
                   .ldb = ldb,
                   .ldc = ldc};
    /* Split rows by MC-sized blocks when there are enough of them; otherwise
     * split columns (short, wide products such as 1x1 convolutions on few
     * channels). ~0.1 ns per multiply-add is a rough portable rate. */
    int64_t kk = K > 0 ? K : 1;
    if (M >= 2 * MC || M >= N) {
        j.by_rows = true;
        j.block = M >= 4 * MC ? MC : (M >= 4 * MR ? MR * 2 : M);
        int64_t n = (M + j.block - 1) / j.block;
        lm_parallel_for(k, n, 0.1 * (double)j.block * (double)N * (double)kk, sgemm_range, &j);
    } else {
        j.by_rows = false;
        j.block = N >= 8 * 64 ? 64 : NR * 2;
        int64_t n = (N + j.block - 1) / j.block;
        lm_parallel_for(k, n, 0.1 * (double)j.block * (double)M * (double)kk, sgemm_range, &j);
    }
}
