/*
 * sgemm_scalar.c - f32_gemm_6x8__scalar: the portable SGEMM micro-kernel.
 *
 * GCC vector extensions keep the 6 x 8 accumulators in registers on any
 * target (SSE2 at the x86-64 baseline, NEON elsewhere); the epilogue is
 * plain C over a tile in L1. This is the path for CPUs without AVX2 and the
 * reference the SIMD kernels' structure follows.
 */
#include <math.h>
#include <string.h>

#include "sgemm_ukernel.h"

#define MR 6
#define NR 8

typedef float v4f __attribute__((vector_size(16)));

static inline v4f ld4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void ukernel(int64_t kc, const float *restrict a, const float *restrict b, float *c,
                    int64_t ldc, int mr, int nr, const lm_sgemm_ukparams *p)
{
    v4f acc[MR][2];
    memset(acc, 0, sizeof acc);
    const int64_t rs = p->a_rs, cs = p->a_cs, bs = p->b_rs;
    /* B read in place has only nr valid columns: copy them, zero the rest. */
    const int partial_b = bs != NR && nr < NR;
    for (int64_t k = 0; k < kc; k++) {
        v4f b0, b1;
        if (partial_b) {
            float t[NR] = {0};
            memcpy(t, b, (size_t)nr * sizeof(float));
            b0 = ld4(t);
            b1 = ld4(t + 4);
        } else {
            b0 = ld4(b);
            b1 = ld4(b + 4);
        }
        for (int i = 0; i < mr; i++) {
            float av = a[i * rs];
            v4f ai = {av, av, av, av};
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
        }
        a += cs;
        b += bs;
    }
    float tile[MR][NR];
    memcpy(tile, acc, sizeof tile);
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        float br = p->bias_row ? p->bias_row[i] : 0.0f;
        for (int j = 0; j < nr; j++) {
            float v = p->alpha * tile[i][j];
            if (p->beta != 0.0f)
                v += p->beta * ci[j];
            v += br + (p->bias_col ? p->bias_col[j] : 0.0f);
            v = v < p->lo ? p->lo : v;
            ci[j] = v > p->hi ? p->hi : v;
        }
    }
}

const lm_sgemm_config lm_sgemm_config_scalar = {
    .name = "f32_gemm_6x8__scalar",
    .mr = MR,
    .nr = NR,
    .mc = 96,
    .kc = 256,
    .nc = 512,
    .ukernel = ukernel,
};
