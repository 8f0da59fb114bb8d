/*
 * bench_vmath.c - vmath's vector transcendentals against glibc's libm on the
 * same data in the same run: Melem/s for ours (widest ISA, and the portable
 * scalar form), libm's loop, and the ratio ours / libm (> 1: ours faster).
 *
 * The machine is shared and noisy: each figure is the best of several timed
 * repetitions, ours and libm's alternating. Nothing gates on time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu/vmath.h"

#define N      4096 /* in L1: measures the arithmetic, not memory */
#define REPS   2000
#define ROUNDS 7

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float sigmoidf_(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static float geluf_(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678f));
}

static float siluf_(float x)
{
    return x / (1.0f + expf(-x));
}

static float softplusf_(float x)
{
    return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

typedef struct case_ {
    lm_vm_fn f;
    float (*libm)(float);
    float lo, hi; /* input range */
} case_;

static const case_ cases[] = {
    {LM_VM_EXP, expf, -20, 20},    {LM_VM_LOG, logf, 0.001f, 1000},
    {LM_VM_TANH, tanhf, -5, 5},    {LM_VM_SIGMOID, sigmoidf_, -10, 10},
    {LM_VM_ERF, erff, -3, 3},      {LM_VM_GELU, geluf_, -5, 5},
    {LM_VM_SILU, siluf_, -10, 10}, {LM_VM_SOFTPLUS, softplusf_, -10, 10},
};

/* Seconds for REPS passes of libm's loop over x (volatile sink keeps it). */
static double time_libm(float (*fn)(float), const float *x, float *y)
{
    double t = now_s();
    for (int r = 0; r < REPS; r++)
        for (int i = 0; i < N; i++)
            y[i] = fn(x[i]);
    return now_s() - t;
}

static double time_ours(lm_vm_isa isa, lm_vm_fn f, const float *x, float *y)
{
    double t = now_s();
    for (int r = 0; r < REPS; r++)
        lm_vm_apply_isa(isa, f, x, y, N);
    return now_s() - t;
}

int main(void)
{
    static float x[N], y[N];
    lm_vm_isa best = lm_vm_best_isa();
    const char *isa_name[] = {"scalar", "avx2", "avx512"};
    printf("vmath vs glibc libm, %d floats in L1, Melem/s (best of %d); ours uses %s\n", N, ROUNDS,
           isa_name[best]);
    printf("%-10s %10s %10s %10s %8s\n", "function", "ours", "ours-scal", "libm", "ratio");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        srand(1);
        for (int i = 0; i < N; i++)
            x[i] = cases[c].lo + (cases[c].hi - cases[c].lo) * (float)rand() / (float)RAND_MAX;
        double to = 1e30, ts = 1e30, tl = 1e30;
        for (int r = 0; r < ROUNDS; r++) {
            to = fmin(to, time_ours(best, cases[c].f, x, y));
            ts = fmin(ts, time_ours(LM_VM_SCALAR, cases[c].f, x, y));
            tl = fmin(tl, time_libm(cases[c].libm, x, y));
        }
        double m = (double)N * REPS / 1e6;
        printf("%-10s %10.0f %10.0f %10.0f %7.1fx\n", lm_vm_name(cases[c].f), m / to, m / ts,
               m / tl, tl / to);
    }
    return 0;
}
