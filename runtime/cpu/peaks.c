/*
 * peaks.c - measures the CPU's arithmetic rate and memory bandwidth once per
 * machine (peaks.h).
 *
 * One thread's figures: a batch-1 model's ops are mostly too small to split
 * well, and a context may have one thread; the cost model compares devices,
 * so a consistent figure matters more than the machine's maximum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/cache.h"
#include "gemm.h"
#include "peaks.h"

#define GEMM_N     256
#define COPY_BYTES ((size_t)32 << 20)
#define REPEATS    3

/* The int8 GEMM's advantage over float (bench-gemm: 3.3-4.1x with VNNI). */
#define INT8_FACTOR_VNNI 3.0
#define INT8_FACTOR_AVX2 2.0

/* A kernel call's fixed cost inside a run (dispatch, output setup). */
#define CPU_OP_US 1.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best of REPEATS: a shared machine's noise only ever slows a run down. */
static double sgemm_gflops(void)
{
    size_t n = GEMM_N;
    float *a = calloc(n * n, sizeof(float)), *b = calloc(n * n, sizeof(float));
    float *c = calloc(n * n, sizeof(float));
    double best = 0;
    for (int r = 0; a && b && c && r < REPEATS; r++) {
        double t0 = now_s();
        lm_sgemm(false, false, GEMM_N, GEMM_N, GEMM_N, 1.0f, a, GEMM_N, b, GEMM_N, 0.0f, c, GEMM_N);
        double rate = 2.0 * GEMM_N * GEMM_N * GEMM_N / (now_s() - t0) / 1e9;
        if (rate > best)
            best = rate;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static double copy_gbps(void)
{
    char *src = malloc(COPY_BYTES), *dst = malloc(COPY_BYTES);
    double best = 0;
    if (src && dst) {
        memset(src, 1, COPY_BYTES);
        memset(dst, 0, COPY_BYTES);
        for (int r = 0; r < REPEATS; r++) {
            double t0 = now_s();
            memcpy(dst, src, COPY_BYTES);
            double rate = 2.0 * (double)COPY_BYTES / (now_s() - t0) / 1e9; /* read + write */
            if (rate > best)
                best = rate;
        }
    }
    free(src);
    free(dst);
    return best;
}

/* The cached figure @what of this CPU, measured by @measure when missing. */
static double figure(const lm_device_props *p, const char *isa, const char *what,
                     double (*measure)(void))
{
    char key[200];
    double v;
    snprintf(key, sizeof(key), "cpu|%.100s|%.30s|%s", p->description, isa, what);
    if (lm_cost_cache_get(key, &v) && v > 0)
        return v;
    v = measure();
    if (v > 0)
        lm_cost_cache_put(key, v);
    return v;
}

void lm_cpu_measure_peaks(lm_device_props *p, const char *isa)
{
    p->peak_gflops = figure(p, isa, "sgemm_gflops", sgemm_gflops);
    p->mem_gbps = figure(p, isa, "copy_gbps", copy_gbps);
    double factor = strstr(isa, "VNNI")          ? INT8_FACTOR_VNNI
                    : strcmp(isa, "scalar") != 0 ? INT8_FACTOR_AVX2
                                                 : 1.0;
    p->peak_int8_gops = p->peak_gflops * factor;
    p->op_us = CPU_OP_US;
}
