/* metrics.c - loomd's counters and histograms, rendered as Prometheus text. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loomd/metrics.h"
#include "loomd/sbuf.h"

/* Bucket bounds in microseconds for the duration histograms. */
static const int64_t dur_bounds[] = {50,     100,     250,     500,     1000,    2500,
                                     5000,   10000,   25000,   50000,   100000,  250000,
                                     500000, 1000000, 2500000, 5000000, 10000000};
#define N_DUR (sizeof(dur_bounds) / sizeof(dur_bounds[0]))
static const int64_t batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define N_BATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))

typedef struct hist {
    uint64_t bucket[N_DUR + 1];
    uint64_t count;
    double sum;
} hist;

typedef struct series {
    char *model;
    int64_t version;
    uint64_t success;
    uint64_t failure[FAIL_COUNT];
    hist queue, compute, total;
    uint64_t batch_bucket[N_BATCH + 1];
    uint64_t batch_count, batch_rows, executions;
    struct series *next;
} series;

typedef struct device_stat {
    char name[32];
    int64_t busy_ns;
    struct device_stat *next;
} device_stat;

struct metrics {
    pthread_mutex_t lock; /* Protects the series and device lists and their numbers. */
    series *series;
    device_stat *devices;
    atomic_int inflight;
    atomic_uint_fast64_t http[6]; /* by status class 1xx..5xx; [0] other */
    struct timespec start;
};

static const char *reason_names[FAIL_COUNT] = {
    "none",      "bad_request", "not_found", "unavailable", "queue_full", "timeout",
    "cancelled", "runtime",     "forbidden", "too_large",   "shutdown",
};

const char *fail_reason_name(fail_reason r)
{
    return r >= 0 && r < FAIL_COUNT ? reason_names[r] : "unknown";
}

metrics *metrics_create(void)
{
    metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    clock_gettime(CLOCK_MONOTONIC, &m->start);
    return m;
}

void metrics_destroy(metrics *m)
{
    if (!m)
        return;
    for (series *s = m->series, *n; s; s = n) {
        n = s->next;
        free(s->model);
        free(s);
    }
    for (device_stat *d = m->devices, *n; d; d = n) {
        n = d->next;
        free(d);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Finds or adds the series; NULL when out of memory (the sample is then dropped). */
static series *find_locked(metrics *m, const char *model, int64_t version)
{
    for (series *s = m->series; s; s = s->next)
        if (s->version == version && strcmp(s->model, model) == 0)
            return s;
    series *s = calloc(1, sizeof(*s));
    if (!s || !(s->model = strdup(model))) {
        free(s);
        return NULL;
    }
    s->version = version;
    /* Keep the list sorted so the exposition is stable between scrapes. */
    series **pp = &m->series;
    while (*pp && (strcmp((*pp)->model, model) < 0 ||
                   (strcmp((*pp)->model, model) == 0 && (*pp)->version < version)))
        pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
    return s;
}

static void observe(hist *h, int64_t us)
{
    if (us < 0)
        return;
    size_t i = 0;
    while (i < N_DUR && us > dur_bounds[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += (double)us / 1e6;
}

void metrics_request(metrics *m, const char *model, int64_t version, fail_reason why,
                     int64_t queue_us, int64_t compute_us, int64_t total_us)
{
    pthread_mutex_lock(&m->lock);
    series *s = find_locked(m, model, version);
    if (s) {
        if (why == FAIL_NONE)
            s->success++;
        else
            s->failure[why < FAIL_COUNT ? why : FAIL_RUNTIME]++;
        observe(&s->queue, queue_us);
        observe(&s->compute, compute_us);
        observe(&s->total, total_us);
    }
    pthread_mutex_unlock(&m->lock);
}

void metrics_batch(metrics *m, const char *model, int64_t version, const char *device,
                   int batch_rows, int64_t compute_ns)
{
    pthread_mutex_lock(&m->lock);
    series *s = find_locked(m, model, version);
    if (s) {
        size_t i = 0;
        while (i < N_BATCH && batch_rows > batch_bounds[i])
            i++;
        s->batch_bucket[i]++;
        s->batch_count++;
        s->batch_rows += (uint64_t)batch_rows;
        s->executions++;
    }
    device_stat *d = m->devices;
    while (d && strcmp(d->name, device) != 0)
        d = d->next;
    if (!d && (d = calloc(1, sizeof(*d)))) {
        snprintf(d->name, sizeof(d->name), "%s", device);
        d->next = m->devices;
        m->devices = d;
    }
    if (d)
        d->busy_ns += compute_ns;
    pthread_mutex_unlock(&m->lock);
}

void metrics_inflight_add(metrics *m, int delta)
{
    atomic_fetch_add(&m->inflight, delta);
}

void metrics_http(metrics *m, int status)
{
    int c = status / 100;
    atomic_fetch_add(&m->http[c >= 1 && c <= 5 ? c : 0], 1);
}

static void labels(sbuf *b, const series *s)
{
    sbuf_puts(b, "{model=");
    sbuf_json_str(b, s->model); /* JSON escaping is a superset of what Prometheus needs */
    sbuf_printf(b, ",version=\"%lld\"", (long long)s->version);
}

static void render_hist(sbuf *b, const char *name, const char *help, metrics *m, size_t off)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (series *s = m->series; s; s = s->next) {
        const hist *h = (const hist *)((const char *)s + off);
        uint64_t cum = 0;
        for (size_t i = 0; i <= N_DUR; i++) {
            cum += h->bucket[i];
            sbuf_puts(b, name);
            sbuf_puts(b, "_bucket");
            labels(b, s);
            if (i < N_DUR)
                sbuf_printf(b, ",le=\"%g\"} %llu\n", (double)dur_bounds[i] / 1e6,
                            (unsigned long long)cum);
            else
                sbuf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        sbuf_printf(b, "%s_sum", name);
        labels(b, s);
        sbuf_printf(b, "} %.9g\n%s_count", h->sum, name);
        labels(b, s);
        sbuf_printf(b, "} %llu\n", (unsigned long long)h->count);
    }
}

char *metrics_render(metrics *m, size_t *len)
{
    sbuf b = {0};
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double up = (double)(now.tv_sec - m->start.tv_sec) + (now.tv_nsec - m->start.tv_nsec) / 1e9;
    pthread_mutex_lock(&m->lock);
    sbuf_puts(&b, "# HELP loom_inference_request_success_total Inference requests that succeeded.\n"
                  "# TYPE loom_inference_request_success_total counter\n");
    for (series *s = m->series; s; s = s->next) {
        sbuf_puts(&b, "loom_inference_request_success_total");
        labels(&b, s);
        sbuf_printf(&b, "} %llu\n", (unsigned long long)s->success);
    }
    sbuf_puts(&b, "# HELP loom_inference_request_failure_total Inference requests that failed, "
                  "by reason.\n# TYPE loom_inference_request_failure_total counter\n");
    for (series *s = m->series; s; s = s->next)
        for (int r = 1; r < FAIL_COUNT; r++) {
            sbuf_puts(&b, "loom_inference_request_failure_total");
            labels(&b, s);
            sbuf_printf(&b, ",reason=\"%s\"} %llu\n", reason_names[r],
                        (unsigned long long)s->failure[r]);
        }
    render_hist(&b, "loom_inference_queue_duration_seconds",
                "Time requests waited in the model's queue.", m, offsetof(series, queue));
    render_hist(&b, "loom_inference_compute_duration_seconds",
                "Model execution time of the batch each request ran in.", m,
                offsetof(series, compute));
    render_hist(&b, "loom_inference_request_duration_seconds",
                "Time from a complete request to its response.", m, offsetof(series, total));
    sbuf_puts(&b, "# HELP loom_inference_batch_size Rows per model execution.\n"
                  "# TYPE loom_inference_batch_size histogram\n");
    for (series *s = m->series; s; s = s->next) {
        uint64_t cum = 0;
        for (size_t i = 0; i <= N_BATCH; i++) {
            cum += s->batch_bucket[i];
            sbuf_puts(&b, "loom_inference_batch_size_bucket");
            labels(&b, s);
            if (i < N_BATCH)
                sbuf_printf(&b, ",le=\"%lld\"} %llu\n", (long long)batch_bounds[i],
                            (unsigned long long)cum);
            else
                sbuf_printf(&b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        sbuf_puts(&b, "loom_inference_batch_size_sum");
        labels(&b, s);
        sbuf_printf(&b, "} %llu\n", (unsigned long long)s->batch_rows);
        sbuf_puts(&b, "loom_inference_batch_size_count");
        labels(&b, s);
        sbuf_printf(&b, "} %llu\n", (unsigned long long)s->batch_count);
    }
    sbuf_puts(&b, "# HELP loom_device_busy_seconds_total Time devices spent running models.\n"
                  "# TYPE loom_device_busy_seconds_total counter\n");
    for (device_stat *d = m->devices; d; d = d->next)
        sbuf_printf(&b, "loom_device_busy_seconds_total{device=\"%s\"} %.6f\n", d->name,
                    (double)d->busy_ns / 1e9);
    sbuf_puts(&b, "# HELP loom_device_utilization Busy time over uptime (can exceed 1 with "
                  "several instances).\n# TYPE loom_device_utilization gauge\n");
    for (device_stat *d = m->devices; d; d = d->next)
        sbuf_printf(&b, "loom_device_utilization{device=\"%s\"} %.6f\n", d->name,
                    up > 0 ? (double)d->busy_ns / 1e9 / up : 0.0);
    pthread_mutex_unlock(&m->lock);
    /* Card health comes from the driver's sysfs once loom.ko lands; the CPU is always up. */
    sbuf_puts(&b, "# HELP loom_device_healthy 1 when the device is usable.\n"
                  "# TYPE loom_device_healthy gauge\nloom_device_healthy{device=\"cpu\"} 1\n");
    sbuf_printf(&b,
                "# HELP loom_inflight_requests Requests being handled now.\n"
                "# TYPE loom_inflight_requests gauge\nloom_inflight_requests %d\n",
                atomic_load(&m->inflight));
    sbuf_puts(&b, "# HELP loom_http_responses_total HTTP responses by status class.\n"
                  "# TYPE loom_http_responses_total counter\n");
    for (int c = 1; c <= 5; c++)
        sbuf_printf(&b, "loom_http_responses_total{code=\"%dxx\"} %llu\n", c,
                    (unsigned long long)atomic_load(&m->http[c]));
    sbuf_printf(&b,
                "# HELP loom_uptime_seconds Seconds since loomd started.\n"
                "# TYPE loom_uptime_seconds gauge\nloom_uptime_seconds %.3f\n",
                up);
    return sbuf_take(&b, len);
}
