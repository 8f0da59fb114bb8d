/* stats.h - latency samples per measurement window: percentiles, throughput, stability. */
#ifndef LOOM_PERF_STATS_H
#define LOOM_PERF_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct lat_buf {
    int64_t *ns;
    size_t n, cap;
} lat_buf;

/* Appends; drops the sample when out of memory (the count is still kept by the caller). */
void lat_add(lat_buf *b, int64_t ns);
void lat_merge(lat_buf *dst, const lat_buf *src);
void lat_free(lat_buf *b);
/* The @p-th percentile (0..100) in ns, sorting @b in place; 0 when empty. */
int64_t lat_percentile(lat_buf *b, double p);

typedef struct window {
    double seconds;
    size_t ok, errors, wrong;
    double throughput; /* successful requests per second */
    int64_t p50, p90, p99;
} window;

/* True when the last @n windows' throughput and p50 are within @pct percent of their mean. */
int windows_stable(const window *w, int count, int n, double pct);

#endif
