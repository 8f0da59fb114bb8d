/* qgemm.c - portable reference for the 8-bit GEMM with zero points (see qgemm.h). */
#include "qgemm.h"

/* Columns accumulated at once: the accumulators (1 KiB) stay in L1 while a row
 * of A streams over k. */
#define QGEMM_NB 256

/*
 * One row-major pass per A row: for each k, the row's (a - za) scales row k of
 * (B - zb) into the accumulators. Both factors fit int16 ([-255, 255]), so the
 * product is a 16x16->32 widening multiply, which SSE2 already does well
 * (pmullw/pmulhw) where a 32-bit multiply would be emulated. The inner loop
 * runs in fixed blocks of 16 so that GCC's -O2 "very cheap" vectorizer cost
 * model accepts it (a variable trip count alone makes it give up: 2.5x slower).
 * Sums are kept in uint32 so that overflow for huge k wraps instead of being UB.
 */
#define DEFINE_QGEMM_REF(NAME, TA, TB)                                                             \
    static void NAME(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)     \
    {                                                                                              \
        const TA *A = (const TA *)p->a;                                                            \
        const TB *B = (const TB *)p->b;                                                            \
        uint32_t acc[QGEMM_NB];                                                                    \
        int16_t zbv[QGEMM_NB];                                                                     \
        for (int64_t nb = n0; nb < n1; nb += QGEMM_NB) {                                           \
            int64_t nn = n1 - nb < QGEMM_NB ? n1 - nb : QGEMM_NB;                                  \
            for (int64_t j = 0; j < nn; j++)                                                       \
                zbv[j] = (int16_t)(!p->b_zp ? 0 : p->b_zp_per_col ? p->b_zp[nb + j] : p->b_zp[0]); \
            for (int64_t i = m0; i < m1; i++) {                                                    \
                const TA *arow = A + i * p->lda;                                                   \
                int32_t za = !p->a_zp ? 0 : p->a_zp_per_row ? p->a_zp[i] : p->a_zp[0];             \
                for (int64_t j = 0; j < nn; j++)                                                   \
                    acc[j] = 0;                                                                    \
                for (int64_t kk = 0; kk < p->k; kk++) {                                            \
                    int16_t av = (int16_t)((int32_t)arow[kk] - za);                                \
                    if (av == 0)                                                                   \
                        continue;                                                                  \
                    const TB *brow = B + kk * p->ldb + nb;                                         \
                    int64_t j = 0;                                                                 \
                    for (; j + 16 <= nn; j += 16)                                                  \
                        for (int t = 0; t < 16; t++)                                               \
                            acc[j + t] +=                                                          \
                                (uint32_t)((int32_t)av * (int16_t)(brow[j + t] - zbv[j + t]));     \
                    for (; j < nn; j++)                                                            \
                        acc[j] += (uint32_t)(av * ((int32_t)brow[j] - zbv[j]));                    \
                }                                                                                  \
                int32_t *crow = p->c + i * p->ldc + nb;                                            \
                for (int64_t j = 0; j < nn; j++)                                                   \
                    crow[j] = (int32_t)acc[j];                                                     \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_QGEMM_REF(qgemm_u8u8_ref, uint8_t, uint8_t)
DEFINE_QGEMM_REF(qgemm_u8s8_ref, uint8_t, int8_t)
DEFINE_QGEMM_REF(qgemm_s8u8_ref, int8_t, uint8_t)
DEFINE_QGEMM_REF(qgemm_s8s8_ref, int8_t, int8_t)

void lm_qgemm_u8s8_tile(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    qgemm_u8s8_ref(p, m0, m1, n0, n1);
}

void lm_qgemm_tile(const lm_qgemm_params *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    if (!p->a_signed && !p->b_signed)
        qgemm_u8u8_ref(p, m0, m1, n0, n1);
    else if (!p->a_signed && p->b_signed)
        lm_qgemm_u8s8_tile(p, m0, m1, n0, n1);
    else if (p->a_signed && !p->b_signed)
        qgemm_s8u8_ref(p, m0, m1, n0, n1);
    else
        qgemm_s8s8_ref(p, m0, m1, n0, n1);
}
