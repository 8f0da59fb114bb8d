/*
 * program.c - builds OpenCL programs once per device and keeps their binaries
 * on disk, keyed by device, driver, build options and source hash, so that a
 * second start of a model compiles nothing (PoCL takes seconds per build).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cache.h"
#include "core/env.h"
#include "core/error.h"
#include "core/log.h"
#include "opencl.h"

static atomic_int program_builds;

int lm_cl_program_builds(void)
{
    return atomic_load(&program_builds);
}

uint64_t lm_cl_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (!h)
        h = 1469598103934665603ull; /* FNV-1a offset basis */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    return lm_cl_hash(h, s, strlen(s) + 1);
}

uint64_t lm_cl_device_key(const lm_cl_device *dev)
{
    uint64_t h = hash_str(0, dev->info.platform);
    h = hash_str(h, dev->info.name);
    h = hash_str(h, dev->info.vendor);
    h = hash_str(h, dev->info.version);
    return hash_str(h, dev->info.driver);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && n < (1L << 30) && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n))) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

/* Written to a temporary name and renamed, so concurrent starts never read
 * half a binary. Failure only costs the next start a build. */
static void write_file(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return; /* a path this long cannot be cached */
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    bool ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}

static cl_program from_binary(lm_cl_device *dev, const char *path, const char *options)
{
    size_t len = 0;
    unsigned char *bin = read_file(path, &len);
    if (!bin)
        return NULL;
    cl_int st = CL_SUCCESS, err = CL_SUCCESS;
    const unsigned char *bins[1] = {bin};
    cl_program p = clCreateProgramWithBinary(dev->ctx, 1, &dev->id, &len, bins, &st, &err);
    free(bin);
    if (!p || err || st)
        goto bad;
    /* Building a program made from a binary only links it: no compilation. */
    if (clBuildProgram(p, 1, &dev->id, options, NULL, NULL) != CL_SUCCESS)
        goto bad;
    lm_log(LOOM_LOG_DEBUG, "opencl: %s: program loaded from %s", dev->base.name, path);
    return p;
bad:
    if (p)
        clReleaseProgram(p);
    unlink(path); /* stale or corrupt: rebuild and rewrite */
    return NULL;
}

static void save_binary(lm_cl_device *dev, cl_program p, const char *path)
{
    size_t len = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof(len), &len, NULL) || !len)
        return;
    unsigned char *bin = malloc(len);
    unsigned char *bins[1] = {bin};
    if (bin && !clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof(bins), bins, NULL))
        write_file(path, bin, len);
    free(bin);
    (void)dev;
}

loom_status lm_cl_program(lm_cl_device *dev, const char *const *names, int n_src,
                          const char *options, cl_program *out)
{
    *out = NULL;
    const char *texts[16];
    if (n_src > 16)
        return lm_error(LOOM_ERR_RUNTIME, "too many OpenCL sources");
    uint64_t h = hash_str(lm_cl_device_key(dev), options);
    for (int i = 0; i < n_src; i++) {
        texts[i] = NULL;
        for (const lm_cl_source *s = lm_cl_sources; s->name; s++)
            if (strcmp(s->name, names[i]) == 0)
                texts[i] = s->text;
        if (!texts[i])
            return lm_error(LOOM_ERR_RUNTIME, "no OpenCL source '%s'", names[i]);
        h = hash_str(h, texts[i]);
    }
    char path[4200] = "";
    const char *dir = lm_cache_dir();
    if (dir) {
        snprintf(path, sizeof(path), "%s/opencl-%016" PRIx64 ".bin", dir, h);
        if ((*out = from_binary(dev, path, options)))
            return LOOM_OK;
    }
    cl_int err = CL_SUCCESS;
    cl_program p = clCreateProgramWithSource(dev->ctx, (cl_uint)n_src, texts, NULL, &err);
    if (!p)
        return lm_cl_fail(dev->base.name, "clCreateProgramWithSource", err);
    atomic_fetch_add(&program_builds, 1);
    lm_log(LOOM_LOG_INFO, "opencl: %s: building program %s from source", dev->base.name,
           names[n_src - 1]);
    err = clBuildProgram(p, 1, &dev->id, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[2048] = "";
        clGetProgramBuildInfo(p, dev->id, CL_PROGRAM_BUILD_LOG, sizeof(log) - 1, log, NULL);
        clReleaseProgram(p);
        return lm_error(lm_cl_status(err), "%s: building OpenCL program %s failed (%d): %.900s",
                        dev->base.name, names[n_src - 1], (int)err, log);
    }
    if (path[0])
        save_binary(dev, p, path);
    *out = p;
    return LOOM_OK;
}

/* -cl-std=CL1.2 keeps us honest on drivers that accept newer C. No fast-math:
 * conformance needs IEEE infinities and NaNs. */
#define CL_OPTIONS "-cl-std=CL1.2"

loom_status lm_cl_device_ready_locked(lm_cl_device *dev, bool half)
{
    if (dev->ready[half])
        return LOOM_OK;
    static const char *const ops[] = {"common", "eltwise", "nn"};
    loom_status s = lm_cl_program(dev, ops, 3, half ? CL_OPTIONS " -DLM_HALF" : CL_OPTIONS,
                                  &dev->ops_prog[half]);
    if (!s)
        s = lm_cl_gemm_setup(dev);
    if (!s)
        s = lm_cl_gemm_program(dev, &dev->gemm, half, &dev->gemm_prog[half]);
    if (!s)
        dev->ready[half] = true;
    return s;
}

loom_status lm_cl_gemm_program(lm_cl_device *dev, const lm_cl_gemm_cfg *c, bool half,
                               cl_program *out)
{
    static const char *const src[] = {"common", "gemm"};
    char opts[256];
    snprintf(opts, sizeof(opts),
             CL_OPTIONS " -DTSM=%d -DTSN=%d -DTSK=%d -DWPTM=%d -DWPTN=%d -DVW=%d%s", c->tsm, c->tsn,
             c->tsk, c->wptm, c->wptn, c->vw, half ? " -DLM_HALF" : "");
    return lm_cl_program(dev, src, 2, opts, out);
}
