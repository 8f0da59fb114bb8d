/*
 * tune.c - picks gemm.cl's tile for a device: at first use each candidate is
 * built and timed on a 512^3 product (1024^3 on GPUs, where 512^3 is mostly
 * launch overhead), and the winner is written to the cache directory beside
 * the program binaries, so later starts read it and build (load) only that
 * variant. Tuning stops trying candidates after TUNE_BUDGET_S seconds.
 * LOOM_OPENCL_GEMM=TSM,TSN,TSK,WPTM,WPTN[,VW] forces one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/env.h"
#include "core/cache.h"
#include "core/error.h"
#include "core/log.h"
#include "opencl.h"

#define TUNE_BUDGET_S 8.0

/* Candidates are tried in this order until the budget runs out, so the
 * likely winners come first. On PoCL (CPUs) each work-item is a vector lane,
 * so large per-item blocks (8x8) in big tiles win, and scalar loads
 * vectorize well enough. */
static const lm_cl_gemm_cfg cpu_candidates[] = {
    {128, 128, 16, 8, 8, 1}, {64, 64, 32, 8, 8, 1}, {64, 64, 16, 8, 8, 1}, {64, 64, 8, 8, 4, 1},
    {128, 64, 16, 8, 8, 1},  {32, 64, 16, 4, 8, 1}, {32, 32, 16, 4, 4, 1}, {16, 64, 16, 2, 8, 1},
};

/* GPUs: work-groups of 64-256 items, 4x4 to 8x8 outputs per item in
 * registers, local tiles of 32-128 and float4 loads from global memory. */
static const lm_cl_gemm_cfg gpu_candidates[] = {
    {128, 128, 16, 8, 8, 4}, {128, 64, 16, 8, 8, 4},  {64, 128, 16, 8, 8, 4},
    {64, 64, 16, 4, 4, 4},   {64, 64, 16, 8, 8, 4},   {128, 64, 16, 8, 4, 4},
    {128, 128, 8, 8, 8, 4},  {128, 128, 32, 8, 8, 4}, {64, 64, 32, 8, 8, 4},
    {32, 32, 16, 4, 4, 4},   {64, 64, 16, 4, 4, 1},   {128, 128, 16, 8, 8, 1},
};

static bool cfg_valid(const lm_cl_device *dev, const lm_cl_gemm_cfg *c)
{
    if (c->tsm < 1 || c->tsn < 1 || c->tsk < 1 || c->wptm < 1 || c->wptn < 1)
        return false;
    if (c->vw != 1 && c->vw != 2 && c->vw != 4 && c->vw != 8 && c->vw != 16)
        return false;
    if (c->tsm % c->wptm || c->tsn % c->wptn || c->tsk % c->vw || c->tsn % c->vw)
        return false;
    int threads = (c->tsm / c->wptm) * (c->tsn / c->wptn);
    if (threads <= 0 || (size_t)threads > dev->info.max_wg)
        return false;
    if ((c->tsk * c->tsm) % (threads * c->vw) || (c->tsk * c->tsn) % (threads * c->vw))
        return false;
    uint64_t local = (uint64_t)c->tsk * (uint64_t)(c->tsm + c->tsn) * 4;
    return local <= dev->info.local_mem;
}

int lm_cl_gemm_candidates_for(const lm_cl_device *dev, bool gpu, lm_cl_gemm_cfg *out, int max)
{
    const lm_cl_gemm_cfg *all = gpu ? gpu_candidates : cpu_candidates;
    size_t count = gpu ? sizeof(gpu_candidates) / sizeof(gpu_candidates[0])
                       : sizeof(cpu_candidates) / sizeof(cpu_candidates[0]);
    int n = 0;
    for (size_t i = 0; i < count; i++)
        if (n < max && cfg_valid(dev, &all[i]))
            out[n++] = all[i];
    return n;
}

int lm_cl_gemm_candidates(const lm_cl_device *dev, lm_cl_gemm_cfg *out, int max)
{
    return lm_cl_gemm_candidates_for(dev, !dev->info.is_cpu, out, max);
}

const char *lm_cl_gemm_cfg_str(const lm_cl_gemm_cfg *c, char *buf, size_t len)
{
    snprintf(buf, len, "%d,%d,%d,%d,%d,%d", c->tsm, c->tsn, c->tsk, c->wptm, c->wptn, c->vw);
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

cl_int lm_cl_gemm_enqueue(cl_command_queue q, cl_kernel k, const lm_cl_gemm_cfg *c, int M, int N,
                          int K, cl_mem A, cl_mem B, cl_mem C, cl_event *ev)
{
    int zero = 0, one = 1;
    float fone = 1.0f, fzero = 0.0f;
    cl_int err = 0;
    cl_uint i = 0;
#define SET(v) err |= clSetKernelArg(k, i++, sizeof(v), &(v))
    SET(M), SET(N), SET(K);
    SET(A), SET(zero), SET(K), SET(zero);
    SET(B), SET(zero), SET(N), SET(zero);
    SET(C), SET(zero), SET(N), SET(zero);
    SET(C), SET(zero), SET(zero), SET(one), SET(zero); /* bias unused: beta = 0 */
    SET(fone), SET(fzero), SET(zero), SET(fzero), SET(fzero);
#undef SET
    if (err)
        return CL_INVALID_KERNEL_ARGS;
    size_t lws[3] = {(size_t)(c->tsn / c->wptn), (size_t)(c->tsm / c->wptm), 1};
    size_t gws[3] = {(size_t)((N + c->tsn - 1) / c->tsn) * lws[0],
                     (size_t)((M + c->tsm - 1) / c->tsm) * lws[1], 1};
    return clEnqueueNDRangeKernel(q, k, 3, NULL, gws, lws, 0, NULL, ev);
}

/* Seconds per @n^3 product with @cfg (fp32 storage: the tile suits both);
 * a negative value when it fails. */
static double time_cfg(lm_cl_device *dev, const lm_cl_gemm_cfg *cfg, int n, cl_program *prog)
{
    if (lm_cl_gemm_program(dev, cfg, false, prog))
        return -1;
    cl_int err = 0;
    cl_kernel k = clCreateKernel(*prog, "gemm", &err);
    cl_command_queue q = clCreateCommandQueue(dev->ctx, dev->id, 0, &err);
    size_t bytes = sizeof(float) * (size_t)n * (size_t)n;
    float *host = malloc(bytes);
    cl_mem m[3] = {0};
    double best = -1;
    if (!k || !q || !host)
        goto out;
    for (int i = 0; i < n * n; i++)
        host[i] = (float)((i * 7) % 13) * 0.125f - 0.75f;
    for (int i = 0; i < 3; i++)
        if (!(m[i] = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, host,
                                    &err)))
            goto out;
    /* The first run includes the driver's per-kernel compile (PoCL); not timed. */
    if (lm_cl_gemm_enqueue(q, k, cfg, n, n, n, m[0], m[1], m[2], NULL) || clFinish(q))
        goto out;
    for (int r = 0; r < 3; r++) {
        double t0 = now_s();
        if (lm_cl_gemm_enqueue(q, k, cfg, n, n, n, m[0], m[1], m[2], NULL) || clFinish(q))
            goto out;
        double t = now_s() - t0;
        if (best < 0 || t < best)
            best = t;
    }
out:
    for (int i = 0; i < 3; i++)
        if (m[i])
            clReleaseMemObject(m[i]);
    free(host);
    if (q)
        clReleaseCommandQueue(q);
    if (k)
        clReleaseKernel(k);
    return best;
}

/* "TSM,TSN,TSK,WPTM,WPTN[,VW]" (files written before VW existed mean 1). */
static bool parse_cfg(const char *s, lm_cl_gemm_cfg *c)
{
    c->vw = 1;
    int n =
        s ? sscanf(s, "%d,%d,%d,%d,%d,%d", &c->tsm, &c->tsn, &c->tsk, &c->wptm, &c->wptn, &c->vw)
          : 0;
    return n == 5 || n == 6;
}

/* Times the candidates (within the budget); the index of the fastest, or -1. */
static int tune(lm_cl_device *dev, const lm_cl_gemm_cfg *cand, int nc)
{
    int best = -1, n = dev->info.is_cpu ? 512 : 1024;
    double best_t = -1, t0 = now_s();
    for (int i = 0; i < nc && now_s() - t0 < TUNE_BUDGET_S; i++) {
        cl_program p = NULL;
        double s = time_cfg(dev, &cand[i], n, &p);
        if (p)
            clReleaseProgram(p);
        if (lm_log_enabled(LOOM_LOG_DEBUG)) {
            char buf[64];
            lm_log(LOOM_LOG_DEBUG, "opencl: %s: gemm tile %s: %.3f ms", dev->base.name,
                   lm_cl_gemm_cfg_str(&cand[i], buf, sizeof(buf)), s * 1e3);
        }
        if (s > 0 && (best_t < 0 || s < best_t)) {
            best_t = s;
            best = i;
        }
    }
    return best;
}

loom_status lm_cl_gemm_setup(lm_cl_device *dev)
{
    if (dev->tuned)
        return LOOM_OK;
    lm_cl_gemm_cfg cand[16], cfg;
    int nc = lm_cl_gemm_candidates(dev, cand, 16);
    if (!nc)
        return lm_error(LOOM_ERR_UNSUPPORTED, "%s: no GEMM tile fits (work-group %zu)",
                        dev->base.name, dev->info.max_wg);
    if (parse_cfg(lm_env_str(LM_ENV_OPENCL_GEMM), &cfg)) {
        if (!cfg_valid(dev, &cfg))
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "LOOM_OPENCL_GEMM tile is not valid on %s",
                            dev->base.name);
        dev->gemm = cfg;
        dev->tuned = true;
        return LOOM_OK;
    }
    char path[4200] = "";
    const char *dir = lm_cache_dir();
    if (dir) {
        snprintf(path, sizeof(path), "%s/opencl-gemm-%016" PRIx64 ".txt", dir,
                 lm_cl_device_key(dev));
        FILE *f = fopen(path, "r");
        char line[128] = "";
        if (f) {
            bool ok = fgets(line, sizeof(line), f) && parse_cfg(line, &cfg) && cfg_valid(dev, &cfg);
            fclose(f);
            if (ok) {
                dev->gemm = cfg;
                dev->tuned = true;
                return LOOM_OK;
            }
        }
    }
    int best = lm_env_flag(LM_ENV_OPENCL_TUNE) ? tune(dev, cand, nc) : -1;
    dev->gemm = cand[best < 0 ? 0 : best];
    if (path[0] && best >= 0) {
        FILE *f = fopen(path, "w");
        if (f) {
            char buf[64];
            fprintf(f, "%s\n", lm_cl_gemm_cfg_str(&dev->gemm, buf, sizeof(buf)));
            fclose(f);
        }
    }
    dev->tuned = true;
    return LOOM_OK;
}
