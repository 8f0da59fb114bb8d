/*
 * bench_opencl.c - our OpenCL SGEMM (the tile tuned for the device) against
 * CLBlast's on the same device, context and queue, in the same run, at square
 * sizes. Prints GFLOP/s and the ratio; checks both agree. Never gates.
 *
 *   bench_opencl [N ...]      (default 256 512 1024)
 */
/* CLBlast's header asks for OpenCL 3.0 declarations; we use 1.2 calls. */
#define CL_TARGET_OPENCL_VERSION 120
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/model.h"
#include "loom/loom.h"
#include "opencl/opencl.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best of @reps after one warm-up (which includes any driver compile). */
static double time_ours(cl_command_queue q, cl_kernel k, const lm_cl_gemm_cfg *c, int n, cl_mem a,
                        cl_mem b, cl_mem y, int reps)
{
    double best = 1e30;
    if (lm_cl_gemm_enqueue(q, k, c, n, n, n, a, b, y, NULL) || clFinish(q))
        return -1;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        if (lm_cl_gemm_enqueue(q, k, c, n, n, n, a, b, y, NULL) || clFinish(q))
            return -1;
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    return best;
}

static double time_clblast(cl_command_queue q, int n, cl_mem a, cl_mem b, cl_mem y, int reps)
{
    double best = 1e30;
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
        CLBlastStatusCode st = CLBlastSgemm(
            CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, (size_t)n, (size_t)n,
            (size_t)n, 1.0f, a, 0, (size_t)n, b, 0, (size_t)n, 0.0f, y, 0, (size_t)n, &q, NULL);
        if (st != CLBlastSuccess || clFinish(q)) {
            fprintf(stderr, "CLBlastSgemm failed: %d\n", (int)st);
            return -1;
        }
        double t = now_s() - t0;
        if (r >= 0)
            best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    int sizes[16] = {256, 512, 1024}, ns = 3;
    if (argc > 1) {
        ns = 0;
        for (int i = 1; i < argc && ns < 16; i++)
            sizes[ns++] = atoi(argv[i]);
    }
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "opencl:0";
    loom_context *ctx;
    if (loom_context_create(&o, &ctx)) {
        printf("bench-opencl: no OpenCL device (%s), skipped\n", loom_last_error());
        return 0;
    }
    lm_cl_device *dev = (lm_cl_device *)ctx->devices[0];
    pthread_mutex_lock(&dev->lock);
    loom_status s = lm_cl_device_ready_locked(dev);
    pthread_mutex_unlock(&dev->lock);
    if (s) {
        fprintf(stderr, "bench-opencl: %s\n", loom_last_error());
        return 1;
    }
    const lm_cl_gemm_cfg *c = &dev->gemm;
    printf("device %s: %s (%s)\n", dev->base.name, dev->info.name, dev->info.driver);
    printf("our tile: TSM %d TSN %d TSK %d WPTM %d WPTN %d\n", c->tsm, c->tsn, c->tsk, c->wptm,
           c->wptn);
    printf("%6s %14s %14s %8s %10s\n", "n", "ours GFLOP/s", "CLBlast", "ratio", "max diff");
    cl_int err = 0;
    cl_command_queue q = clCreateCommandQueue(dev->ctx, dev->id, 0, &err);
    cl_kernel k = clCreateKernel(dev->gemm_prog, "gemm", &err);
    if (!q || !k) {
        fprintf(stderr, "bench-opencl: queue/kernel failed (%d)\n", (int)err);
        return 1;
    }
    for (int i = 0; i < ns; i++) {
        int n = sizes[i];
        size_t bytes = sizeof(float) * (size_t)n * (size_t)n;
        float *h = malloc(bytes), *y1 = malloc(bytes), *y2 = malloc(bytes);
        for (size_t j = 0; j < (size_t)n * (size_t)n; j++)
            h[j] = (float)((j * 7) % 13) * 0.125f - 0.75f;
        cl_mem a = clCreateBuffer(dev->ctx, CL_MEM_COPY_HOST_PTR, bytes, h, &err);
        cl_mem b = clCreateBuffer(dev->ctx, CL_MEM_COPY_HOST_PTR, bytes, h, &err);
        cl_mem y = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
        int reps = n <= 256 ? 10 : n <= 512 ? 5 : 3;
        double to = time_ours(q, k, c, n, a, b, y, reps);
        clEnqueueReadBuffer(q, y, CL_TRUE, 0, bytes, y1, 0, NULL, NULL);
        double tc = time_clblast(q, n, a, b, y, reps);
        clEnqueueReadBuffer(q, y, CL_TRUE, 0, bytes, y2, 0, NULL, NULL);
        double diff = 0;
        for (size_t j = 0; j < (size_t)n * (size_t)n; j++) {
            double d = fabs((double)y1[j] - (double)y2[j]) / (1.0 + fabs((double)y2[j]));
            diff = d > diff ? d : diff;
        }
        double flop = 2.0 * n * (double)n * n;
        double go = to > 0 ? flop / to * 1e-9 : 0, gc = tc > 0 ? flop / tc * 1e-9 : 0;
        printf("%6d %14.2f %14.2f %7.2fx %10.2g\n", n, go, gc, gc > 0 ? go / gc : 0, diff);
        fflush(stdout);
        clReleaseMemObject(a);
        clReleaseMemObject(b);
        clReleaseMemObject(y);
        free(h);
        free(y1);
        free(y2);
    }
    clReleaseKernel(k);
    clReleaseCommandQueue(q);
    loom_context_destroy(ctx);
    return 0;
}
