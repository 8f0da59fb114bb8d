/* context.c - loom_context: options and the shared thread pool. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cpu/threadpool.h"
#include "backends.h"
#include "cpulist.h"
#include "device.h"
#include "error.h"
#include "log.h"
#include "model.h"

void loom_context_options_init(loom_context_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->struct_size = sizeof(*opts);
    opts->device = "auto";
}

loom_status lm_context_add_device(loom_context *ctx, lm_device *dev)
{
    if (ctx->n_devices == LM_MAX_DEVICES) {
        if (dev->ops->destroy)
            dev->ops->destroy(dev);
        return lm_error(LOOM_ERR_UNSUPPORTED, "more than %d devices", LM_MAX_DEVICES);
    }
    lm_busy_init(&dev->busy);
    ctx->devices[ctx->n_devices++] = dev;
    return LOOM_OK;
}

static void drop_device(loom_context *ctx, int i)
{
    lm_device *dev = ctx->devices[i];
    lm_busy_fini(&dev->busy);
    if (dev->ops->destroy)
        dev->ops->destroy(dev);
    memmove(&ctx->devices[i], &ctx->devices[i + 1],
            sizeof(lm_device *) * (size_t)(ctx->n_devices - i - 1));
    ctx->n_devices--;
}

/* Finds the backends' devices and keeps those @want selects: "cpu" none,
 * "auto" all (in the backends' priority order), a device name just that one. */
static loom_status select_devices(loom_context *ctx, const char *want)
{
    if (!want || strcmp(want, "cpu") == 0)
        return LOOM_OK;
    loom_status s = lm_backends_enumerate(ctx, want);
    if (s)
        return s;
    if (strcmp(want, "auto") == 0)
        return LOOM_OK;
    bool found = false;
    for (int i = ctx->n_devices - 1; i >= 0; i--) {
        if (strcmp(ctx->devices[i]->name, want) == 0)
            found = true;
        else
            drop_device(ctx, i);
    }
    if (!found)
        return lm_error(LOOM_ERR_NOT_FOUND, "device '%s' is not available (see loomctl examine)",
                        want);
    return LOOM_OK;
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
    if (opts->struct_size < offsetof(loom_context_options, emulated_cards))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "loom_context_create: struct_size %zu, expected at least %zu (call "
                        "loom_context_options_init)",
                        opts->struct_size, offsetof(loom_context_options, emulated_cards));
    if (opts->num_threads < 0 || opts->num_threads > 1024)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "num_threads %d is out of range 0..1024",
                        opts->num_threads);
    loom_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    ctx->num_threads = opts->num_threads;
    lm_busy_init(&ctx->cpu_busy);
    /* First: what the devices report while they open reaches the callback. */
    loom_status s = LOOM_OK;
    if (opts->struct_size >= offsetof(loom_context_options, log_level) + sizeof(opts->log_level))
        s = lm_log_attach(ctx, opts->log, opts->log_user, opts->log_level);
    if (s) {
        loom_context_destroy(ctx);
        return s;
    }
    if (opts->struct_size >= offsetof(loom_context_options, emulated_cards) + sizeof(int))
        ctx->emulated_cards = opts->emulated_cards;
    if (opts->struct_size >= offsetof(loom_context_options, fp16_storage) + sizeof(int))
        ctx->fp16_storage = opts->fp16_storage != 0;
    ctx->fail_closed = opts->fail_closed && opts->device && strcmp(opts->device, "cpu") != 0;
    const char *cpulist = NULL;
    if (opts->struct_size >= offsetof(loom_context_options, cpus) + sizeof(opts->cpus))
        cpulist = opts->cpus;
    cpu_set_t cpus;
    int n_cpus = 0;
    s = cpulist ? lm_cpulist_parse(cpulist, &cpus, &n_cpus) : LOOM_OK;
    if (s) {
        loom_context_destroy(ctx);
        return s;
    }
    if (ctx->num_threads == 0) {
        long n = cpulist ? n_cpus : sysconf(_SC_NPROCESSORS_ONLN);
        ctx->num_threads = n > 0 ? (int)n : 1;
    }
    s = lm_threadpool_create(ctx->num_threads, cpulist ? &cpus : NULL, &ctx->pool);
    if (!s)
        s = select_devices(ctx, opts->device);
    if (s) {
        loom_context_destroy(ctx);
        return s;
    }
    *out = ctx;
    return LOOM_OK;
}

void loom_context_destroy(loom_context *ctx)
{
    if (!ctx)
        return;
    while (ctx->n_devices > 0)
        drop_device(ctx, ctx->n_devices - 1);
    lm_threadpool_destroy(ctx->pool);
    lm_busy_fini(&ctx->cpu_busy);
    /* Last: what the devices report as they close still reaches the callback. */
    lm_log_detach(ctx);
    free(ctx);
}
