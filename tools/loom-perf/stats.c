/* stats.c - latency samples per measurement window: percentiles, throughput, stability. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

void lat_add(lat_buf *b, int64_t ns)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        int64_t *p = realloc(b->ns, cap * sizeof(*p));
        if (!p)
            return;
        b->ns = p;
        b->cap = cap;
    }
    b->ns[b->n++] = ns;
}

void lat_merge(lat_buf *dst, const lat_buf *src)
{
    for (size_t i = 0; i < src->n; i++)
        lat_add(dst, src->ns[i]);
}

void lat_free(lat_buf *b)
{
    free(b->ns);
    memset(b, 0, sizeof(*b));
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t lat_percentile(lat_buf *b, double p)
{
    if (!b->n)
        return 0;
    qsort(b->ns, b->n, sizeof(int64_t), cmp);
    size_t i = (size_t)ceil(p / 100.0 * (double)b->n);
    return b->ns[i ? i - 1 : 0];
}

static int within(const double *v, int n, double pct)
{
    double mean = 0;
    for (int i = 0; i < n; i++)
        mean += v[i] / n;
    for (int i = 0; i < n; i++)
        if (fabs(v[i] - mean) > mean * pct / 100.0)
            return 0;
    return 1;
}

int windows_stable(const window *w, int count, int n, double pct)
{
    if (count < n)
        return 0;
    double t[16], l[16];
    for (int i = 0; i < n && i < 16; i++) {
        t[i] = w[count - n + i].throughput;
        l[i] = (double)w[count - n + i].p50;
    }
    return within(t, n, pct) && within(l, n, pct);
}
