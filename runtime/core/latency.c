/* latency.c - the latency histogram (latency.h). */
#include <math.h>

#include "latency.h"

/* Bucket b holds durations up to 2^(b/4) microseconds. */
static int bucket_of(uint64_t ns)
{
    double us = (double)ns / 1000.0;
    if (us <= 1.0)
        return 0;
    int b = (int)ceil(4.0 * log2(us));
    return b < LM_LATENCY_BUCKETS ? b : LM_LATENCY_BUCKETS - 1;
}

void lm_latency_record(lm_latency *l, uint64_t ns)
{
    atomic_fetch_add_explicit(&l->count[bucket_of(ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->total, 1, memory_order_relaxed);
}

uint64_t lm_latency_count(const lm_latency *l)
{
    return atomic_load_explicit(&l->total, memory_order_relaxed);
}

uint64_t lm_latency_quantile(const lm_latency *l, double q)
{
    uint64_t n = 0, total = 0;
    uint_fast32_t counts[LM_LATENCY_BUCKETS];
    /* One pass over a snapshot: concurrent records land in either. */
    for (int b = 0; b < LM_LATENCY_BUCKETS; b++)
        total += counts[b] = atomic_load_explicit(&l->count[b], memory_order_relaxed);
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)total);
    want = want < 1 ? 1 : want;
    for (int b = 0; b < LM_LATENCY_BUCKETS; b++) {
        n += counts[b];
        if (n >= want)
            return (uint64_t)(1000.0 * exp2((double)b / 4.0));
    }
    return (uint64_t)(1000.0 * exp2((double)(LM_LATENCY_BUCKETS - 1) / 4.0));
}
