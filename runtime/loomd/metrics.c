/* metrics.c - loomd's counters and histograms, rendered as Prometheus text. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

struct metrics {
    pthread_mutex_t lock; /* Protects the series list and its numbers. */
    series *series;
    atomic_int inflight;
    atomic_uint_fast64_t http[6]; /* by status class 1xx..5xx; [0] other */
    struct timespec start;
};

static const char *reason_names[FAIL_COUNT] = {
    "none",     "bad_request", "not_found",      "unavailable",      "queue_full",
    "timeout",  "cancelled",   "runtime",        "forbidden",        "too_large",
    "shutdown", "device_lost", "device_timeout", "device_transient",
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

void metrics_batch(metrics *m, const char *model, int64_t version, int batch_rows)
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
    pthread_mutex_unlock(&m->lock);
}

void metrics_inflight_add(metrics *m, int delta)
{
    atomic_fetch_add(&m->inflight, delta);
}

int metrics_inflight(metrics *m)
{
    return atomic_load(&m->inflight);
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

/* One sample line: @name{device="@dev"@extra} @value. */
static void dev_sample(sbuf *b, const char *name, const char *dev, const char *extra, double value)
{
    sbuf_printf(b, "%s{device=", name);
    sbuf_json_str(b, dev);
    /* Counts print exactly; fractions (seconds, degrees) to the ns. */
    if (value == (double)(int64_t)value && value < 9e15)
        sbuf_printf(b, "%s} %lld\n", extra, (long long)value);
    else
        sbuf_printf(b, "%s} %.9f\n", extra, value);
}

static void dev_header(sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Where each device stands with the planner (health state machine), and its
 * failovers, quarantines and known-answer tests. */
static void render_device_state(sbuf *b, const loom_device_stats *d, int n)
{
    static const char *const states[] = {"healthy", "suspect", "quarantined", "probation"};
    dev_header(b, "loom_device_state", "gauge",
               "1 for the state the device is in: healthy and suspect take work, quarantined and "
               "probation do not.");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
            char extra[48];
            snprintf(extra, sizeof(extra), ",state=\"%s\"", states[k]);
            dev_sample(b, "loom_device_state", d[i].name, extra, (int)d[i].state == k);
        }
    static const struct {
        const char *name, *help;
        size_t off;
    } counts[] = {
        {"loom_device_failovers_total",
         "Runs that lost the device mid-run and finished on another, resumed at the failed step.",
         offsetof(loom_device_stats, failovers)},
        {"loom_device_quarantines_total", "Times the device left service (lost, errors repeated).",
         offsetof(loom_device_stats, quarantines)},
        {"loom_device_readmissions_total",
         "Times the device passed its known-answer test and took work again.",
         offsetof(loom_device_stats, readmissions)},
        {"loom_device_kat_failures_total", "Known-answer tests the device failed.",
         offsetof(loom_device_stats, kat_failures)},
    };
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        dev_header(b, counts[c].name, "counter", counts[c].help);
        for (int i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, (const char *)&d[i] + counts[c].off, sizeof(v));
            dev_sample(b, counts[c].name, d[i].name, "", (double)v);
        }
    }
}

/* What every device has: libloom's busy time and jobs for loomd's contexts, health. */
static void render_device_use(sbuf *b, const loom_device_stats *d, int n)
{
    dev_header(b, "loom_device_busy_seconds_total", "counter",
               "Time during which the device ran at least one job (rate() is its utilization).");
    for (int i = 0; i < n; i++)
        dev_sample(b, "loom_device_busy_seconds_total", d[i].name, "", (double)d[i].busy_ns / 1e9);
    dev_header(b, "loom_device_jobs_total", "counter",
               "Jobs the device completed (segment runs; CPU: stretches of steps).");
    for (int i = 0; i < n; i++)
        dev_sample(b, "loom_device_jobs_total", d[i].name, "", (double)d[i].jobs);
    dev_header(b, "loom_device_jobs_failed_total", "counter", "Jobs that failed on the device.");
    for (int i = 0; i < n; i++)
        dev_sample(b, "loom_device_jobs_failed_total", d[i].name, "", (double)d[i].jobs_failed);
    dev_header(b, "loom_device_healthy", "gauge",
               "1 when the device can take work (cards: ready and not dead, as the driver says).");
    for (int i = 0; i < n; i++)
        dev_sample(b, "loom_device_healthy", d[i].name, "", d[i].healthy);
    render_device_state(b, d, n);
    /* The node as a label of one info series per device: join it onto any
     * device series with `* on(device) group_left(numa_node)`. */
    dev_header(b, "loom_device_info", "gauge",
               "1 for each device, labelled with the NUMA node it is attached to (\"\" unknown).");
    for (int i = 0; i < n; i++) {
        char extra[48] = ",numa_node=\"\"";
        if (d[i].numa_node >= 0)
            snprintf(extra, sizeof(extra), ",numa_node=\"%d\"", d[i].numa_node);
        dev_sample(b, "loom_device_info", d[i].name, extra, 1);
    }
}

/* What cards report about themselves: only the figures the driver gave. */
static void render_card_health(sbuf *b, const loom_device_stats *d, int n)
{
    static const struct {
        const char *name, *type, *help;
        uint32_t needs;
        size_t off, size;
        double scale;
    } fields[] = {
#define F(name, type, help, needs, field, scale)                                                   \
    {name,                                                                                         \
     type,                                                                                         \
     help,                                                                                         \
     needs,                                                                                        \
     offsetof(loom_device_stats, field),                                                           \
     sizeof(((loom_device_stats *)0)->field),                                                      \
     scale}
        F("loom_card_temperature_celsius", "gauge", "Card temperature.",
          LOOM_DEVICE_REPORTS_SENSORS, temp_mc, 1e-3),
        F("loom_card_power_watts", "gauge", "Board power.", LOOM_DEVICE_REPORTS_SENSORS, power_mw,
          1e-3),
        F("loom_card_heartbeat", "gauge", "The card's heartbeat counter (stalls when it hangs).",
          LOOM_DEVICE_REPORTS_SENSORS, heartbeat, 1),
        F("loom_card_commands_total", "counter", "Commands the card ran since its driver loaded.",
          LOOM_DEVICE_REPORTS_COUNTERS, card_commands, 1),
        F("loom_card_errors_total", "counter", "Commands that failed on the card (timed out).",
          LOOM_DEVICE_REPORTS_COUNTERS, card_errors, 1),
        F("loom_card_resets_total", "counter", "Card resets since its driver loaded.",
          LOOM_DEVICE_REPORTS_COUNTERS, card_resets, 1),
        F("loom_card_memory_total_bytes", "gauge", "Device-memory heap.",
          LOOM_DEVICE_REPORTS_STATUS, mem_total, 1),
        F("loom_card_memory_used_bytes", "gauge", "Device memory allocated.",
          LOOM_DEVICE_REPORTS_STATUS, mem_used, 1),
#undef F
    };
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        bool any = false;
        for (int i = 0; i < n; i++) {
            if (!(d[i].reports & fields[f].needs))
                continue;
            if (!any)
                dev_header(b, fields[f].name, fields[f].type, fields[f].help);
            any = true;
            const char *p = (const char *)&d[i] + fields[f].off;
            double v = fields[f].size == 4 ? *(const uint32_t *)p : (double)*(const uint64_t *)p;
            dev_sample(b, fields[f].name, d[i].name, "", v * fields[f].scale);
        }
    }
}

/* Card status bits as 0/1 series, one per flag. */
static void render_card_status(sbuf *b, const loom_device_stats *d, int n)
{
    static const struct {
        const char *label;
        uint32_t bit;
    } flags[] = {{",status=\"ready\"", LOOM_CARD_STATUS_READY},
                 {",status=\"programmed\"", LOOM_CARD_STATUS_PROGRAMMED},
                 {",status=\"dead\"", LOOM_CARD_STATUS_DEAD}};
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (!(d[i].reports & LOOM_DEVICE_REPORTS_STATUS))
            continue;
        if (!any)
            dev_header(b, "loom_card_status", "gauge", "Status flags the card's driver reports.");
        any = true;
        for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
            dev_sample(b, "loom_card_status", d[i].name, flags[f].label,
                       (d[i].card_status & flags[f].bit) != 0);
    }
}

static void render_devices(sbuf *b, const loom_device_stats *d, int n)
{
    render_device_use(b, d, n);
    render_card_status(b, d, n);
    render_card_health(b, d, n);
}

/* One gauge or counter per loaded version, from its loom_model_stats. */
typedef struct mem_metric {
    const char *name, *type, *help;
    double (*value)(const loom_model_stats *st);
} mem_metric;

static double prepared(const loom_model_stats *st)
{
    return (double)st->prepared_bytes;
}
static double plans(const loom_model_stats *st)
{
    return st->plans;
}
static double device_weights(const loom_model_stats *st)
{
    return (double)st->device_weight_bytes;
}
static double arena_held(const loom_model_stats *st)
{
    return (double)st->arena_bytes_held;
}
static double arena_released(const loom_model_stats *st)
{
    return (double)st->arena_bytes_released;
}
static double plan_bytes(const loom_model_stats *st)
{
    return (double)st->plan_bytes;
}
static double arena(const loom_model_stats *st)
{
    return (double)st->arena_bytes;
}
static double built(const loom_model_stats *st)
{
    return (double)st->plans_built;
}
static double evicted(const loom_model_stats *st)
{
    return (double)st->plans_evicted;
}
static double planning_sum(const loom_model_stats *st)
{
    return st->planning_ms_mean * (double)st->plans_built / 1e3;
}
static double planning_last(const loom_model_stats *st)
{
    return st->planning_ms_last / 1e3;
}

static const mem_metric mem_metrics[] = {
    {"loom_model_prepared_weight_bytes", "gauge",
     "Weights packed for the kernels that the version's plans use (shared with other versions "
     "and models with identical weights).",
     prepared},
    {"loom_model_device_weight_bytes", "gauge",
     "Constants the version's plans keep on cards and OpenCL devices (uploaded once per device, "
     "shared with other versions and models with identical weights).",
     device_weights},
    {"loom_model_plans", "gauge", "Input shapes planned and cached.", plans},
    {"loom_model_plan_bytes", "gauge",
     "Bytes the cached plans are charged against the plan cache budget (tables, arenas).",
     plan_bytes},
    {"loom_model_arena_bytes", "gauge", "The largest arena of a cached plan.", arena},
    {"loom_model_arena_bytes_held", "gauge",
     "Arenas the cached plans hold now (one per concurrent run they served).", arena_held},
    {"loom_model_arena_bytes_released_total", "counter",
     "Arenas that plans idle for LOOM_ARENA_IDLE_MS gave back.", arena_released},
    {"loom_model_plans_built_total", "counter", "Plans made (new input shapes).", built},
    {"loom_model_plans_evicted_total", "counter", "Plans that left the cache for its budget.",
     evicted},
    {"loom_model_planning_seconds_total", "counter", "Time spent planning new input shapes.",
     planning_sum},
    {"loom_model_planning_last_seconds", "gauge", "Time the latest plan took.", planning_last},
};

static void render_memory(sbuf *b, const model_memory *mods, int n)
{
    for (size_t k = 0; k < sizeof(mem_metrics) / sizeof(mem_metrics[0]); k++) {
        const mem_metric *mm = &mem_metrics[k];
        sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", mm->name, mm->help, mm->name, mm->type);
        for (int i = 0; i < n; i++) {
            sbuf_printf(b, "%s{model=", mm->name);
            sbuf_json_str(b, mods[i].name);
            sbuf_printf(b, ",version=\"%lld\"} %.9g\n", (long long)mods[i].version,
                        mm->value(&mods[i].st));
        }
    }
    /* Shared by every model: counted once, from any of them. */
    sbuf_printf(b,
                "# HELP loom_prepared_weight_bytes Packed weights of every model in the "
                "process.\n# TYPE loom_prepared_weight_bytes gauge\nloom_prepared_weight_bytes "
                "%zu\n",
                n ? mods[0].st.shared_prepared_bytes : (size_t)0);
    sbuf_printf(b,
                "# HELP loom_device_weight_bytes Constants on cards and OpenCL devices of every "
                "model in the process.\n# TYPE loom_device_weight_bytes gauge\n"
                "loom_device_weight_bytes %zu\n",
                n ? mods[0].st.shared_device_weight_bytes : (size_t)0);
}

/* Resident set size of the process (/proc/self/statm); 0 if unreadable. */
static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long total, rss;
    if (!f)
        return 0;
    int got = fscanf(f, "%ld %ld", &total, &rss);
    fclose(f);
    return got == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : 0;
}

char *metrics_render(metrics *m, const loom_device_stats *devs, int n_devs,
                     const model_memory *mods, int n_mods, size_t *len)
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
    pthread_mutex_unlock(&m->lock);
    render_devices(&b, devs, n_devs);
    render_memory(&b, mods, n_mods);
    sbuf_printf(&b,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "
                "%.0f\n",
                resident_bytes());
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
