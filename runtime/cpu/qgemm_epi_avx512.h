/*
 * qgemm_epi_avx512.h - the end of an AVX-512 int8 GEMM tile (qgemm_avx512vnni.c,
 * qgemm_amx.c): rows of up to 32 int32 sums get the correction of
 * qgemm_ukernel.h, then go to C, or through the output stage of qgemm.h
 * into 8 bits while still in registers (C is never written).
 *
 * The output stage is step for step quant_common.c's AVX-512 requantization
 * row, so results are bit-exact with it and with lm_qgemm_requant1: the same
 * float32 multiply; max and min return their second operand for NaN, as the
 * scalar compares do; the clamped value converts with the default rounding
 * (to nearest, ties to even); the codes are in the 8-bit range, so the packs
 * saturate nothing.
 */
#ifndef LOOM_CPU_QGEMM_EPI_AVX512_H
#define LOOM_CPU_QGEMM_EPI_AVX512_H

#include <immintrin.h>

#include "qgemm_ukernel.h"

#define EPI_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl")))

/* What every row of a tile shares: its columns' terms, loaded once. */
typedef struct epi_cols {
    __mmask16 m0, m1; /* columns 0-15, 16-31 present */
    __m512i ca0, ca1, pc0, pc1, qc0, qc1;
    __m512 mu0, mu1, lo, hi; /* mu: per-column multipliers */
    __m512i zp, order;
} epi_cols;

/* corr NULL: the sums go to C as they are (a K block before the last). */
EPI_INLINE void epi_load(const lm_qgemm_corr *corr, int nr, epi_cols *e)
{
    e->m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    e->m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    /* every field set, so that no path reads an unset one */
    e->ca0 = e->ca1 = e->pc0 = e->pc1 = e->qc0 = e->qc1 = e->zp = e->order = _mm512_setzero_si512();
    e->mu0 = e->mu1 = e->lo = e->hi = _mm512_setzero_ps();
    if (!corr)
        return;
    e->ca0 = _mm512_maskz_loadu_epi32(e->m0, corr->col_add);
    e->ca1 = _mm512_maskz_loadu_epi32(e->m1, corr->col_add + 16);
    if (corr->p_row) {
        e->pc0 = _mm512_maskz_loadu_epi32(e->m0, corr->p_col);
        e->pc1 = _mm512_maskz_loadu_epi32(e->m1, corr->p_col + 16);
    }
    if (corr->q_row) {
        e->qc0 = _mm512_maskz_loadu_epi32(e->m0, corr->q_col);
        e->qc1 = _mm512_maskz_loadu_epi32(e->m1, corr->q_col + 16);
    }
    if (!corr->y)
        return;
    const lm_qgemm_requant *rq = corr->rq;
    e->lo = _mm512_set1_ps(rq->lo);
    e->hi = _mm512_set1_ps(rq->hi);
    e->zp = _mm512_set1_epi32(rq->zp);
    /* after the two packs, 128-bit lane k holds bytes 4k-4k+3 of the first
     * vector, then of the second: dwords back in column order */
    e->order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    if (rq->per_col) {
        e->mu0 = _mm512_maskz_loadu_ps(e->m0, corr->mult);
        e->mu1 = _mm512_maskz_loadu_ps(e->m1, corr->mult + 16);
    }
}

/* 16 corrected sums to their int32 output codes. */
EPI_INLINE __m512i epi_code(__m512i v, __m512 mu, const epi_cols *e)
{
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(v), mu);
    f = _mm512_min_ps(_mm512_max_ps(f, e->lo), e->hi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(f), e->zp);
}

/* Row i of the tile, sums v0 (columns 0-15) and v1 (16-31; zero when the
 * tile has at most 16), to c (int32) or corr->y (8-bit). */
EPI_INLINE void epi_row(const lm_qgemm_corr *corr, const epi_cols *e, int i, __m512i v0, __m512i v1,
                        int32_t *c, int64_t ldc)
{
    if (!corr) {
        _mm512_mask_storeu_epi32(c + i * ldc, e->m0, v0);
        _mm512_mask_storeu_epi32(c + i * ldc + 16, e->m1, v1);
        return;
    }
    __m512i ra = _mm512_set1_epi32(corr->row_add[i]);
    v0 = _mm512_add_epi32(_mm512_add_epi32(v0, e->ca0), ra);
    v1 = _mm512_add_epi32(_mm512_add_epi32(v1, e->ca1), ra);
    if (corr->p_row) {
        __m512i pr = _mm512_set1_epi32(corr->p_row[i]);
        v0 = _mm512_sub_epi32(v0, _mm512_mullo_epi32(pr, e->pc0));
        v1 = _mm512_sub_epi32(v1, _mm512_mullo_epi32(pr, e->pc1));
    }
    if (corr->q_row) {
        __m512i qr = _mm512_set1_epi32(corr->q_row[i]);
        v0 = _mm512_sub_epi32(v0, _mm512_mullo_epi32(qr, e->qc0));
        v1 = _mm512_sub_epi32(v1, _mm512_mullo_epi32(qr, e->qc1));
    }
    if (!corr->y) {
        _mm512_mask_storeu_epi32(c + i * ldc, e->m0, v0);
        _mm512_mask_storeu_epi32(c + i * ldc + 16, e->m1, v1);
        return;
    }
    const lm_qgemm_requant *rq = corr->rq;
    __m512 mu0 = e->mu0, mu1 = e->mu1;
    if (!rq->per_col)
        mu0 = mu1 = _mm512_set1_ps(corr->mult[i]);
    __m512i w = _mm512_packs_epi32(epi_code(v0, mu0, e), epi_code(v1, mu1, e));
    __m512i b = rq->y_signed ? _mm512_packs_epi16(w, w) : _mm512_packus_epi16(w, w);
    __m256i y = _mm512_castsi512_si256(_mm512_permutexvar_epi32(e->order, b));
    __mmask32 m = (__mmask32)e->m0 | (__mmask32)e->m1 << 16;
    _mm256_mask_storeu_epi8((uint8_t *)corr->y + i * corr->ldy, m, y);
}

#endif
