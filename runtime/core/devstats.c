/* devstats.c - device busy time and jobs, and loom_context_device_stats(). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "error.h"
#include "model.h"

uint64_t lm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void lm_busy_init(lm_busy *b)
{
    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
}

void lm_busy_fini(lm_busy *b)
{
    pthread_mutex_destroy(&b->lock);
}

int lm_busy_begin(lm_busy *b)
{
    pthread_mutex_lock(&b->lock);
    if (b->active++ == 0)
        b->since_ns = lm_now_ns();
    int jobs = b->active;
    pthread_mutex_unlock(&b->lock);
    return jobs;
}

void lm_busy_end(lm_busy *b, int failed)
{
    pthread_mutex_lock(&b->lock);
    if (--b->active == 0)
        b->busy_ns += lm_now_ns() - b->since_ns;
    if (failed)
        b->failed++;
    else
        b->jobs++;
    pthread_mutex_unlock(&b->lock);
}

void lm_busy_transfer(lm_busy *b, uint64_t copied, uint64_t shared)
{
    pthread_mutex_lock(&b->lock);
    b->copied += copied;
    b->shared += shared;
    pthread_mutex_unlock(&b->lock);
}

/* Busy time so far, the open interval included, and the job counts. */
static void busy_read(lm_busy *b, loom_device_stats *st)
{
    pthread_mutex_lock(&b->lock);
    st->busy_ns = b->busy_ns + (b->active ? lm_now_ns() - b->since_ns : 0);
    st->jobs = b->jobs;
    st->jobs_failed = b->failed;
    st->bytes_copied = b->copied;
    st->bytes_in_place = b->shared;
    pthread_mutex_unlock(&b->lock);
}

int loom_context_device_count(const loom_context *ctx)
{
    return ctx ? ctx->n_devices : 0;
}

/* The health fields of @dev; a device that cannot be queried is unhealthy. */
static void device_health(lm_device *dev, loom_device_stats *st)
{
    st->healthy = 1;
    if (!dev->ops->health)
        return;
    if (dev->ops->health(dev, st) != LOOM_OK) {
        lm_error_clear(); /* reported as healthy = 0, not as a failed call */
        st->reports = 0;
        st->healthy = 0;
        return;
    }
    if (st->reports & LOOM_DEVICE_REPORTS_STATUS)
        st->healthy = (st->card_status & LOOM_CARD_STATUS_READY) &&
                      !(st->card_status & LOOM_CARD_STATUS_DEAD);
}

bool lm_device_answers(lm_device *dev)
{
    loom_device_stats st = {.struct_size = sizeof(st)};
    device_health(dev, &st);
    return st.healthy != 0;
}

loom_status loom_context_device_stats(loom_context *ctx, int index, loom_device_stats *stats)
{
    if (!ctx || !stats)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_context_device_stats: NULL argument");
    if (stats->struct_size < sizeof(*stats))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "loom_context_device_stats: struct_size %zu, expected %zu",
                        stats->struct_size, sizeof(*stats));
    if (index < 0 || index >= ctx->n_devices)
        return lm_error(LOOM_ERR_NOT_FOUND, "device %d does not exist (the context has %d)", index,
                        ctx->n_devices);
    size_t size = stats->struct_size;
    memset(stats, 0, sizeof(*stats));
    stats->struct_size = size;
    lm_device *dev = ctx->devices[index];
    snprintf(stats->name, sizeof(stats->name), "%s", dev->name);
    stats->kind = dev->props.kind;
    busy_read(&dev->busy, stats);
    stats->state = (loom_device_state)atomic_load(&dev->health.state);
    stats->quarantines = atomic_load(&dev->health.quarantines);
    stats->readmissions = atomic_load(&dev->health.readmissions);
    stats->kat_failures = atomic_load(&dev->health.kat_failures);
    stats->failovers = atomic_load(&dev->health.failovers);
    stats->numa_node = dev->props.numa_node;
    device_health(dev, stats);
    return LOOM_OK;
}
