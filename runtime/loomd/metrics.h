/*
 * metrics.h - loomd's counters and histograms, rendered as Prometheus text for
 * GET /metrics. Series are keyed by (model, version) and outlive unloads, so a
 * scrape never sees a counter go backwards.
 */
#ifndef LOOMD_METRICS_H
#define LOOMD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "loom/loom.h"

typedef struct metrics metrics;

/* Why a request failed; also the "reason" label. */
typedef enum fail_reason {
    FAIL_NONE = 0,
    FAIL_BAD_REQUEST,
    FAIL_NOT_FOUND,
    FAIL_UNAVAILABLE,
    FAIL_QUEUE_FULL,
    FAIL_TIMEOUT,
    FAIL_CANCELLED,
    FAIL_RUNTIME,
    FAIL_FORBIDDEN,
    FAIL_TOO_LARGE,
    FAIL_SHUTDOWN,
    FAIL_DEVICE_LOST,      /* LOOM_ERR_DEVICE_LOST: the device is gone */
    FAIL_DEVICE_TIMEOUT,   /* LOOM_ERR_DEVICE_TIMEOUT: a job hung */
    FAIL_DEVICE_TRANSIENT, /* LOOM_ERR_DEVICE_TRANSIENT: worth another try */
    FAIL_COUNT
} fail_reason;

const char *fail_reason_name(fail_reason r);

metrics *metrics_create(void);
void metrics_destroy(metrics *m);

/* One finished inference request; durations in microseconds (-1: not reached). */
void metrics_request(metrics *m, const char *model, int64_t version, fail_reason why,
                     int64_t queue_us, int64_t compute_us, int64_t total_us);
/* One model execution of @batch_rows rows (device time comes from libloom). */
void metrics_batch(metrics *m, const char *model, int64_t version, int batch_rows);
/* Requests being handled right now (all endpoints). */
void metrics_inflight_add(metrics *m, int delta);
/* Requests between arrival and response now, over all models. */
int metrics_inflight(metrics *m);
/* Any HTTP request (by status class), for the non-inference endpoints too. */
void metrics_http(metrics *m, int status);

/* One loaded version's memory: packed weights, plans, arenas, planning time. */
typedef struct model_memory {
    char name[128];
    int64_t version;
    loom_model_stats st;
} model_memory;

/* Prometheus text exposition format 0.0.4, with the @n_devs devices' busy time,
 * jobs and health (see repo_devices()) and the @n_mods loaded versions' memory
 * (repo_memory()); malloc'd, NULL when out of memory. */
char *metrics_render(metrics *m, const loom_device_stats *devs, int n_devs,
                     const model_memory *mods, int n_mods, size_t *len);

#endif
