/* context.c - loom_context: options and the shared thread pool. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cpu/threadpool.h"
#include "error.h"
#include "model.h"

void loom_context_options_init(loom_context_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->struct_size = sizeof(*opts);
    opts->device = "auto";
}

/* Devices this build can run on; the planner issue adds opencl:N and card:N. */
static bool device_known(const char *dev)
{
    return !dev || strcmp(dev, "auto") == 0 || strcmp(dev, "cpu") == 0;
}

loom_status loom_context_create(const loom_context_options *opts, loom_context **out)
{
    loom_context_options def;
    if (!out)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_context_create: out is NULL");
    *out = NULL;
    if (!opts) {
        loom_context_options_init(&def);
        opts = &def;
    }
    if (opts->struct_size < sizeof(loom_context_options))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "loom_context_create: struct_size %zu, expected %zu (call "
                        "loom_context_options_init)",
                        opts->struct_size, sizeof(loom_context_options));
    if (opts->num_threads < 0 || opts->num_threads > 1024)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "num_threads %d is out of range 0..1024",
                        opts->num_threads);
    if (!device_known(opts->device))
        return lm_error(LOOM_ERR_NOT_FOUND, "device '%s' is not available (this build has: cpu)",
                        opts->device);
    loom_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    ctx->num_threads = opts->num_threads;
    if (ctx->num_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        ctx->num_threads = n > 0 ? (int)n : 1;
    }
    loom_status s = lm_threadpool_create(ctx->num_threads, &ctx->pool);
    if (s) {
        free(ctx);
        return s;
    }
    *out = ctx;
    return LOOM_OK;
}

void loom_context_destroy(loom_context *ctx)
{
    if (!ctx)
        return;
    lm_threadpool_destroy(ctx->pool);
    free(ctx);
}
