/*
 * qgemm_avx2.c - qu8s8_gemm_4x16c4__avx2: the int8 GEMM micro-kernel for
 * CPUs without VNNI.
 *
 * vpmaddubsw would saturate (255 * 127 * 2 > 32767) and break bit-exactness,
 * so both operands are widened to int16 and multiplied with vpmaddwd, which
 * cannot overflow here; vphaddd then folds the two k pairs of each column.
 * The packed layout is the VNNI kernel's (4 k per column), so packing is
 * shared.
 */
#include "qgemm_ukernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma")))
#define MR     4
#define NR     16

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

static inline TARGET __m256i mask_for(int n)
{
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n));
}

static inline TARGET __attribute__((always_inline)) void
tile(const int mr, int64_t k4, const uint8_t *restrict a, const int8_t *restrict b,
     int32_t *restrict c, int64_t ldc, int nr, bool accumulate, const lm_qgemm_corr *corr)
{
    /* Accumulators hold columns in the order vphaddd leaves them:
     * (c0 c1 c4 c5 | c2 c3 c6 c7); fixed once at the end. */
    __m256i acc[MR][2];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    for (int64_t k = 0; k < k4; k++) {
        __m256i braw0 = _mm256_load_si256((const __m256i *)b);
        __m256i braw1 = _mm256_load_si256((const __m256i *)(b + 32));
        __m256i b00 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(braw0));
        __m256i b01 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(braw0, 1));
        __m256i b10 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(braw1));
        __m256i b11 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(braw1, 1));
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            int32_t a4;
            memcpy(&a4, a + 4 * i, 4);
            __m128i a8 = _mm_cvtsi32_si128(a4);
            __m256i a16 = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(a8));
            __m256i p00 = _mm256_madd_epi16(b00, a16), p01 = _mm256_madd_epi16(b01, a16);
            __m256i p10 = _mm256_madd_epi16(b10, a16), p11 = _mm256_madd_epi16(b11, a16);
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_hadd_epi32(p00, p01));
            acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_hadd_epi32(p10, p11));
        }
        a += 4 * MR;
        b += 4 * NR;
    }
    __m256i m0 = mask_for(nr), m1 = mask_for(nr - 8);
    __m256i ca0 = _mm256_setzero_si256(), ca1 = ca0, pc0 = ca0, pc1 = ca0, qc0 = ca0, qc1 = ca0;
    if (corr) {
        ca0 = _mm256_maskload_epi32(corr->col_add, m0);
        ca1 = _mm256_maskload_epi32(corr->col_add + 8, m1);
        if (corr->p_row) {
            pc0 = _mm256_maskload_epi32(corr->p_col, m0);
            pc1 = _mm256_maskload_epi32(corr->p_col + 8, m1);
        }
        if (corr->q_row) {
            qc0 = _mm256_maskload_epi32(corr->q_col, m0);
            qc1 = _mm256_maskload_epi32(corr->q_col + 8, m1);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) {
        int32_t *ci = c + i * ldc;
        __m256i v0 = _mm256_permute4x64_epi64(acc[i][0], 0xD8);
        __m256i v1 = _mm256_permute4x64_epi64(acc[i][1], 0xD8);
        if (accumulate) {
            v0 = _mm256_add_epi32(v0, _mm256_maskload_epi32(ci, m0));
            v1 = _mm256_add_epi32(v1, _mm256_maskload_epi32(ci + 8, m1));
        }
        if (corr) {
            __m256i ra = _mm256_set1_epi32(corr->row_add[i]);
            v0 = _mm256_add_epi32(_mm256_add_epi32(v0, ca0), ra);
            v1 = _mm256_add_epi32(_mm256_add_epi32(v1, ca1), ra);
            if (corr->p_row) {
                __m256i pr = _mm256_set1_epi32(corr->p_row[i]);
                v0 = _mm256_sub_epi32(v0, _mm256_mullo_epi32(pr, pc0));
                v1 = _mm256_sub_epi32(v1, _mm256_mullo_epi32(pr, pc1));
            }
            if (corr->q_row) {
                __m256i qr = _mm256_set1_epi32(corr->q_row[i]);
                v0 = _mm256_sub_epi32(v0, _mm256_mullo_epi32(qr, qc0));
                v1 = _mm256_sub_epi32(v1, _mm256_mullo_epi32(qr, qc1));
            }
        }
        _mm256_maskstore_epi32(ci, m0, v0);
        _mm256_maskstore_epi32(ci + 8, m1, v1);
    }
}

#define DEFINE_TILE(R)                                                                             \
    static TARGET void tile_##R(int64_t k4, const uint8_t *a, const int8_t *b, int32_t *c,         \
                                int64_t ldc, int nr, bool accumulate, const lm_qgemm_corr *corr)   \
    {                                                                                              \
        tile(R, k4, a, b, c, ldc, nr, accumulate, corr);                                           \
    }
DEFINE_TILE(1)
DEFINE_TILE(2)
DEFINE_TILE(3)
DEFINE_TILE(4)

typedef void (*tile_fn)(int64_t, const uint8_t *, const int8_t *, int32_t *, int64_t, int, bool,
                        const lm_qgemm_corr *);
static const tile_fn tiles[MR] = {tile_1, tile_2, tile_3, tile_4};

static void ukernel(int64_t k4, const uint8_t *a, const int8_t *b, int32_t *c, int64_t ldc, int mr,
                    int nr, bool accumulate, const lm_qgemm_corr *corr)
{
    tiles[mr - 1](k4, a, b, c, ldc, nr, accumulate, corr);
}

const lm_qgemm_config lm_qgemm_config_avx2 = {
    .name = "qu8s8_gemm_4x16c4__avx2",
    .mr = MR,
    .nr = NR,
    .mc = 128,
    .kc = 1024,
    .nc = 1024,
    .ukernel = ukernel,
};

#else
const lm_qgemm_config lm_qgemm_config_avx2 = {0};
#endif
