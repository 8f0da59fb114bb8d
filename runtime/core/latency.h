/*
 * latency.h - a lock-free latency histogram: record durations from any
 * thread, read a quantile. Buckets are spaced 2^(1/4) apart from 1 us, so a
 * quantile is within 19% of the true value; that is all a deadline needs.
 */
#ifndef LOOM_CORE_LATENCY_H
#define LOOM_CORE_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#define LM_LATENCY_BUCKETS 128 /* 1 us .. 2^32 us (71 minutes), 4 per doubling */

typedef struct lm_latency {
    atomic_uint_fast32_t count[LM_LATENCY_BUCKETS];
    atomic_uint_fast64_t total;
} lm_latency;

/* Counts one duration of @ns nanoseconds. */
void lm_latency_record(lm_latency *l, uint64_t ns);

/* Durations counted so far. */
uint64_t lm_latency_count(const lm_latency *l);

/* The duration, in nanoseconds, that a fraction @q (0..1) of the counted
 * ones did not exceed (the upper edge of its bucket); 0 when none counted. */
uint64_t lm_latency_quantile(const lm_latency *l, double q);

#endif
