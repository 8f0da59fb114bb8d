/*
 * devstats.h - per-device job counters behind loom_context_device_stats().
 *
 * Busy time is the time during which at least one job was running on the
 * device, so concurrent jobs (several model runs on the CPU, overlapping
 * segment runs on a card) count once and utilization stays at most 1. Jobs
 * are coarse (a whole segment run, a stretch of CPU steps), so a mutex per
 * device costs nothing measurable.
 */
#ifndef LOOM_CORE_DEVSTATS_H
#define LOOM_CORE_DEVSTATS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct lm_busy {
    pthread_mutex_t lock; /* Protects everything below. */
    int active;           /* jobs running now */
    uint64_t since_ns;    /* when active last rose from 0 (CLOCK_MONOTONIC) */
    uint64_t busy_ns;     /* closed busy intervals */
    uint64_t jobs, failed;
    uint64_t copied, shared; /* boundary bytes copied to or from it, and bound in place */
} lm_busy;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t lm_now_ns(void);

void lm_busy_init(lm_busy *b);
void lm_busy_fini(lm_busy *b);
/* A job starts on the device; returns the jobs on it now, this one included. */
int lm_busy_begin(lm_busy *b);
/* The job ends; @failed nonzero if it returned an error. */
void lm_busy_end(lm_busy *b, int failed);
/* A segment run moved @copied bytes between host and device memory and
 * used @shared bytes of host tensors in place (LM_DEVICE_HOST_MEMORY). */
void lm_busy_transfer(lm_busy *b, uint64_t copied, uint64_t shared);

struct lm_device;
/* Whether @dev's driver says it can take work (ready, not dead); a device
 * without a health hook always answers. */
bool lm_device_answers(struct lm_device *dev);

#endif
