/*
 * bench_opencl.c - our OpenCL SGEMM (the tile tuned for the device) against
 * CLBlast's on the same device, context and queue, in the same run, at square
 * sizes up to 4096. Prints the tile the tuner chose (and how long choosing
 * took), GFLOP/s and the ratio; checks both agree. With --fp16 MODEL, runs
 * the model on opencl:0 with fp32 and with fp16 storage and prints device
 * memory and latency of each and their ratios. Never gates.
 *
 *   bench_opencl [N ...] [--fp16 MODEL ...]     (default sizes 256 512 1024)
 */
/* CLBlast's header asks for OpenCL 3.0 declarations; we use 1.2 calls. */
#define CL_TARGET_OPENCL_VERSION 120
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

typedef struct model_figures {
    double p50_ms;
    uint64_t constants, buffers;
} model_figures;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Loads @path on opencl:0 (CPU fallback on), feeds a fixed pattern, and
 * measures the device memory its segments hold and the p50 of 10 runs. */
static int model_run(const char *path, bool fp16, model_figures *f)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "opencl:0";
    o.fp16_storage = fp16;
    loom_context *ctx = NULL;
    loom_model *m = NULL;
    loom_tensor *in[16] = {0}, *out[16] = {0};
    int rc = 1;
    lm_cl_mem_use before = lm_cl_memory_in_use();
    if (loom_context_create(&o, &ctx) || loom_model_load_file(ctx, path, &m))
        goto out;
    size_t ni = loom_model_input_count(m), no = loom_model_output_count(m);
    if (ni > 16 || no > 16)
        goto out;
    for (size_t i = 0; i < ni; i++) {
        loom_value_info vi;
        if (loom_model_input_info(m, i, &vi))
            goto out;
        for (int d = 0; d < vi.rank; d++)
            vi.dims[d] = vi.dims[d] > 0 ? vi.dims[d] : 1;
        if (loom_tensor_create(vi.dtype, vi.rank, vi.dims, &in[i]))
            goto out;
        if (vi.dtype == LOOM_DTYPE_FLOAT) {
            float *x = loom_tensor_data(in[i]);
            for (int64_t j = 0; j < loom_tensor_count(in[i]); j++)
                x[j] = sinf(0.001f * (float)j);
        }
    }
    double t[10];
    for (int r = -1; r < 10; r++) {
        double t0 = now_s();
        if (loom_model_run(m, in, ni, out, no))
            goto out;
        if (r >= 0)
            t[r] = now_s() - t0;
        for (size_t o2 = 0; o2 < no; o2++) {
            loom_tensor_destroy(out[o2]);
            out[o2] = NULL;
        }
    }
    qsort(t, 10, sizeof(double), cmp_double);
    lm_cl_mem_use after = lm_cl_memory_in_use();
    f->p50_ms = t[5] * 1e3;
    f->constants = after.constants - before.constants;
    f->buffers = after.buffers - before.buffers;
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "bench-opencl: %s: %s\n", path, loom_last_error());
    for (size_t i = 0; i < 16; i++)
        loom_tensor_destroy(in[i]);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    return rc;
}

/* fp16 storage against fp32 on one model: memory and latency, and ratios. */
static void bench_fp16(const char *path)
{
    model_figures f32, f16;
    if (model_run(path, false, &f32) || model_run(path, true, &f16))
        return;
    const char *name = path;
    double m32 = (double)(f32.constants + f32.buffers) / 1048576.0;
    double m16 = (double)(f16.constants + f16.buffers) / 1048576.0;
    printf("%-50s fp32 %8.1f MiB %9.2f ms | fp16 %8.1f MiB %9.2f ms | memory %.2fx, speed "
           "%.2fx\n",
           name, m32, f32.p50_ms, m16, f16.p50_ms, m32 > 0 ? m16 / m32 : 0,
           f16.p50_ms > 0 ? f32.p50_ms / f16.p50_ms : 0);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int sizes[16] = {256, 512, 1024}, ns = 0, first_model = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fp16") == 0) {
            first_model = i + 1;
            break;
        }
        int n = atoi(argv[i]);
        if (n < 1 || n > 8192 || ns == 16) {
            fprintf(stderr, "bench-opencl: size '%s' is not in 1..8192 (or too many)\n", argv[i]);
            return 2;
        }
        sizes[ns++] = n;
    }
    if (ns == 0)
        ns = 3;
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = "opencl:0";
    loom_context *ctx;
    if (loom_context_create(&o, &ctx)) {
        printf("bench-opencl: no OpenCL device (%s), skipped\n", loom_last_error());
        return 0;
    }
    lm_cl_device *dev = (lm_cl_device *)ctx->devices[0];
    double t_ready = now_s();
    pthread_mutex_lock(&dev->lock);
    loom_status s = lm_cl_device_ready_locked(dev);
    pthread_mutex_unlock(&dev->lock);
    t_ready = now_s() - t_ready;
    if (s) {
        fprintf(stderr, "bench-opencl: %s\n", loom_last_error());
        return 1;
    }
    const lm_cl_gemm_cfg *c = &dev->gemm;
    printf("device %s: %s (%s)\n", dev->base.name, dev->info.name, dev->info.driver);
    printf("our tile: TSM %d TSN %d TSK %d WPTM %d WPTN %d VW %d (programs and tile ready in "
           "%.1f s: tuned, or from the cache)\n",
           c->tsm, c->tsn, c->tsk, c->wptm, c->wptn, c->vw, t_ready);
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
        /* Rounds alternate ours and CLBlast, so a slow phase of a shared
         * machine hits both; each side keeps its best time. */
        int rounds = n <= 256 ? 10 : n <= 512 ? 5 : 3;
        double to = 1e30, tc = 1e30;
        for (int r = 0; r < rounds; r++) {
            double t = time_ours(q, k, c, n, a, b, y, 2);
            to = t < to ? t : to;
            if (r == 0)
                clEnqueueReadBuffer(q, y, CL_TRUE, 0, bytes, y1, 0, NULL, NULL);
            t = time_clblast(q, n, a, b, y, 2);
            tc = t < tc ? t : tc;
            if (r == 0)
                clEnqueueReadBuffer(q, y, CL_TRUE, 0, bytes, y2, 0, NULL, NULL);
        }
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
    for (int i = first_model; i < argc; i++)
        bench_fp16(argv[i]);
    return 0;
}
