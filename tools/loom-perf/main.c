/*
 * loom-perf - a load generator for loomd, in the spirit of Triton's perf_analyzer.
 *
 *   loom-perf -m MODEL [--socket PATH | --tcp HOST:PORT] [-x VERSION] [-b BATCH]
 *             [--concurrency 1,4,16,64 | --rate R] [--window-ms 2000] [--max-windows 10]
 *             [--stability 10] [--duration S] [--check] [--churn M1,M2]
 *   loom-perf --in-process MODEL.onnx [-b BATCH] [--concurrency ...] [--threads N]
 *
 * For each level it measures windows until three in a row agree on throughput
 * and p50 within --stability percent (or --max-windows pass), then prints
 * throughput and p50/p90/p99 latency over those windows. --rate sends at a fixed
 * rate instead (latency counts from the scheduled send time, so a stalled server
 * is not hidden). --duration runs one long window; --check compares every answer
 * with a reference taken before the load; --churn reloads the named models
 * (explicit mode) every second during the run. --in-process runs the model with
 * libloom directly, the baseline for the socket's overhead; --socket-rtt N times
 * N echoes over a Unix socket pair, the floor under any request over the socket.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rtt.h"
#include "stats.h"
#include "workload.h"

#define MAX_LEVELS  16
#define MAX_THREADS 512

typedef struct options {
    const char *model, *socket, *tcp_host, *onnx, *churn;
    int tcp_port;
    int64_t version;
    int batch;
    int levels[MAX_LEVELS], n_levels;
    double rate;
    int window_ms, max_windows, duration_s, threads;
    double stability;
    bool check;
    int rtt_count, rtt_bytes; /* --socket-rtt N, --bytes B */
} options;

typedef struct worker {
    pthread_t th;
    int id;
    struct run *run;
    pthread_mutex_t lock; /* Protects the window's samples and counters below. */
    lat_buf lat;
    size_t ok, errors, wrong, transport;
    size_t by_status[600];
} worker;

typedef struct run {
    const options *o;
    workload *w;
    loom_model *model; /* in-process */
    atomic_bool stop;
    atomic_ullong ticket; /* rate mode */
    int64_t start_ns;
    int n;
    worker *workers;
} run;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {t / 1000000000, t % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static loom_client *connect_client(const options *o)
{
    loom_client *c = NULL;
    if (o->tcp_host)
        loom_client_connect_tcp(o->tcp_host, o->tcp_port, &c);
    else
        loom_client_connect(o->socket, &c);
    return c;
}

/* Waits for the next request's turn: immediately, or at its slot in rate mode. */
static int64_t next_start(run *r)
{
    if (r->o->rate <= 0)
        return now_ns();
    unsigned long long t = atomic_fetch_add(&r->ticket, 1);
    int64_t at = r->start_ns + (int64_t)((double)t * 1e9 / r->o->rate);
    sleep_until(at);
    return at;
}

static void *client_worker(void *arg)
{
    worker *wk = arg;
    run *r = wk->run;
    loom_client *c = connect_client(r->o);
    uint64_t k = (uint64_t)wk->id;
    while (c && !atomic_load(&r->stop)) {
        int sample = (int)(k++ % (uint64_t)r->w->n_samples);
        int64_t t0 = next_start(r);
        if (atomic_load(&r->stop))
            break;
        loom_client_result *res = NULL;
        int rc = loom_client_infer(c, r->w->model, r->w->version, NULL, r->w->in[sample],
                                   r->w->n_in, &res);
        int64_t t1 = now_ns();
        bool right = rc == 0 && (!r->o->check || workload_check(r->w, sample, res));
        loom_client_result_free(res);
        pthread_mutex_lock(&wk->lock);
        if (rc == 0) {
            lat_add(&wk->lat, t1 - t0);
            wk->ok++;
            wk->wrong += !right;
        } else if (rc > 0) {
            wk->errors++;
            wk->by_status[rc < 600 ? rc : 0]++;
        } else {
            wk->transport++;
        }
        pthread_mutex_unlock(&wk->lock);
        if (rc < 0) {
            /* A dropped connection: reconnect after a pause rather than spin. */
            loom_client_close(c);
            usleep(10000);
            c = connect_client(r->o);
        } else if (rc == 503) {
            usleep(1000);
        }
    }
    loom_client_close(c);
    return NULL;
}

static void *model_worker(void *arg)
{
    worker *wk = arg;
    run *r = wk->run;
    size_t n_in = r->w->n_in, n_out = loom_model_output_count(r->model);
    loom_tensor *in[WL_MAX_SAMPLES][WL_MAX_IO] = {{0}};
    loom_tensor **out = calloc(n_out ? n_out : 1, sizeof(*out));
    for (int s = 0; s < r->w->n_samples; s++)
        for (size_t i = 0; i < n_in; i++) {
            loom_client_tensor *t = &r->w->in[s][i];
            loom_tensor_wrap(t->dtype, t->rank, t->dims, t->data, t->size, &in[s][i]);
        }
    uint64_t k = (uint64_t)wk->id;
    while (out && !atomic_load(&r->stop)) {
        int sample = (int)(k++ % (uint64_t)r->w->n_samples);
        int64_t t0 = next_start(r);
        loom_status st = loom_model_run(r->model, in[sample], n_in, out, n_out);
        int64_t t1 = now_ns();
        for (size_t i = 0; i < n_out; i++)
            loom_tensor_destroy(out[i]);
        pthread_mutex_lock(&wk->lock);
        if (st == LOOM_OK) {
            lat_add(&wk->lat, t1 - t0);
            wk->ok++;
        } else {
            wk->errors++;
        }
        pthread_mutex_unlock(&wk->lock);
    }
    for (int s = 0; s < r->w->n_samples; s++)
        for (size_t i = 0; i < n_in; i++)
            loom_tensor_destroy(in[s][i]);
    free(out);
    return NULL;
}

/* Moves every worker's samples of the last window into @all and fills @win. */
static void collect(run *r, double seconds, lat_buf *all, window *win, size_t *by_status,
                    size_t *transport)
{
    memset(win, 0, sizeof(*win));
    lat_buf cur = {0};
    for (int i = 0; i < r->n; i++) {
        worker *wk = &r->workers[i];
        pthread_mutex_lock(&wk->lock);
        lat_merge(&cur, &wk->lat);
        wk->lat.n = 0;
        win->ok += wk->ok;
        win->errors += wk->errors;
        win->wrong += wk->wrong;
        *transport += wk->transport;
        for (int s = 0; s < 600; s++)
            by_status[s] += wk->by_status[s];
        wk->ok = wk->errors = wk->wrong = wk->transport = 0;
        memset(wk->by_status, 0, sizeof(wk->by_status));
        pthread_mutex_unlock(&wk->lock);
    }
    win->seconds = seconds;
    win->throughput = (double)win->ok / seconds;
    win->p50 = lat_percentile(&cur, 50);
    win->p90 = lat_percentile(&cur, 90);
    win->p99 = lat_percentile(&cur, 99);
    if (all)
        lat_merge(all, &cur);
    lat_free(&cur);
}

static atomic_bool churn_stop;

/* Reloads each --churn model every second (unload + load; a reload for the measured one). */
static void *churner(void *arg)
{
    const options *o = arg;
    loom_client *c = connect_client(o);
    unsigned long cycles = 0, failures = 0;
    while (c && !atomic_load(&churn_stop)) {
        char list[512];
        snprintf(list, sizeof(list), "%s", o->churn);
        for (char *save, *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
            if (strcmp(m, o->model) != 0 && loom_client_unload(c, m) != 0)
                failures++;
            if (loom_client_load(c, m) != 0)
                failures++;
        }
        cycles++;
        for (int i = 0; i < 10 && !atomic_load(&churn_stop); i++)
            usleep(100000);
    }
    printf("churn: %lu reload cycles of %s, %lu control failures\n", cycles, o->churn, failures);
    loom_client_close(c);
    return NULL;
}

static int run_level(const options *o, workload *w, loom_model *m, int conc)
{
    run r = {.o = o, .w = w, .model = m, .n = conc};
    r.workers = calloc((size_t)conc, sizeof(worker));
    if (!r.workers)
        return -1;
    r.start_ns = now_ns();
    for (int i = 0; i < conc; i++) {
        r.workers[i].id = i;
        r.workers[i].run = &r;
        pthread_mutex_init(&r.workers[i].lock, NULL);
        pthread_create(&r.workers[i].th, NULL, m ? model_worker : client_worker, &r.workers[i]);
    }
    window wins[64];
    lat_buf keep[64] = {{0}};
    size_t by_status[600] = {0}, transport = 0;
    int n = 0, stable = 0, target = o->duration_s ? 1 : o->max_windows;
    int64_t win_ns =
        o->duration_s ? (int64_t)o->duration_s * 1000000000 : (int64_t)o->window_ms * 1000000;
    /* Warm-up: one window not counted. */
    if (!o->duration_s) {
        sleep_until(now_ns() + win_ns / 2);
        window tmp;
        collect(&r, 1, NULL, &tmp, by_status, &transport);
        memset(by_status, 0, sizeof(by_status));
        transport = 0;
    }
    while (n < target && n < 64) {
        int64_t t0 = now_ns();
        sleep_until(t0 + win_ns);
        collect(&r, (double)(now_ns() - t0) / 1e9, &keep[n], &wins[n], by_status, &transport);
        n++;
        if (!o->duration_s && windows_stable(wins, n, 3, o->stability)) {
            stable = 1;
            break;
        }
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < conc; i++)
        pthread_join(r.workers[i].th, NULL);
    /* Report over the last three windows (or the single duration window). */
    int from = n >= 3 ? n - 3 : 0;
    lat_buf all = {0};
    double secs = 0;
    size_t ok = 0, errors = 0, wrong = 0;
    for (int i = from; i < n; i++) {
        lat_merge(&all, &keep[i]);
        secs += wins[i].seconds;
        ok += wins[i].ok;
        errors += wins[i].errors;
        wrong += wins[i].wrong;
    }
    if (o->rate > 0)
        printf("rate %.0f/s (at most %d outstanding), ", o->rate, conc);
    printf("%s %d: %.1f infer/s, latency p50 %.1f us, p90 %.1f us, p99 %.1f us, "
           "%zu ok, %zu errors, %zu wrong, %zu transport errors (%s)\n",
           "concurrency", conc, (double)ok / secs, (double)lat_percentile(&all, 50) / 1e3,
           (double)lat_percentile(&all, 90) / 1e3, (double)lat_percentile(&all, 99) / 1e3, ok,
           errors, wrong, transport,
           o->duration_s ? "fixed duration"
           : stable      ? "stable"
                         : "not stable within --max-windows");
    for (int s = 0; s < 600; s++)
        if (by_status[s])
            printf("  HTTP %d: %zu\n", s, by_status[s]);
    for (int i = 0; i < 64; i++)
        lat_free(&keep[i]);
    lat_free(&all);
    for (int i = 0; i < conc; i++) {
        lat_free(&r.workers[i].lat);
        pthread_mutex_destroy(&r.workers[i].lock);
    }
    free(r.workers);
    return (wrong || transport) ? 1 : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: loom-perf -m MODEL [--socket PATH | --tcp HOST:PORT] [-x VERSION] [-b N]\n"
               "                 [--concurrency 1,4,16 | --rate R] [--window-ms MS]\n"
               "                 [--max-windows N] [--stability PCT] [--duration S] [--check]\n"
               "                 [--churn M1,M2]\n"
               "       loom-perf --in-process MODEL.onnx [-b N] [--concurrency ...] [--threads N]\n"
               "       loom-perf --socket-rtt N [--bytes B]   (raw Unix-socket round trip)\n");
}

static int parse(int argc, char **argv, options *o)
{
    o->batch = 1;
    o->window_ms = 2000;
    o->max_windows = 10;
    o->stability = 10;
    o->levels[0] = 1;
    o->n_levels = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--check") == 0) {
            o->check = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "loom-perf: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "-m") == 0)
            o->model = v;
        else if (strcmp(a, "--socket") == 0)
            o->socket = v;
        else if (strcmp(a, "--tcp") == 0) {
            static char host[256];
            const char *colon = strrchr(v, ':');
            if (!colon || colon == v || (size_t)(colon - v) >= sizeof(host)) {
                fprintf(stderr, "loom-perf: --tcp takes HOST:PORT\n");
                return -1;
            }
            memcpy(host, v, (size_t)(colon - v));
            host[colon - v] = '\0';
            o->tcp_host = host;
            o->tcp_port = atoi(colon + 1);
        } else if (strcmp(a, "-x") == 0)
            o->version = atoll(v);
        else if (strcmp(a, "-b") == 0)
            o->batch = atoi(v);
        else if (strcmp(a, "--concurrency") == 0 || strcmp(a, "--concurrency-range") == 0) {
            o->n_levels = 0;
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", v);
            for (char *s, *t = strtok_r(buf, ",", &s); t && o->n_levels < MAX_LEVELS;
                 t = strtok_r(NULL, ",", &s))
                o->levels[o->n_levels++] = atoi(t);
        } else if (strcmp(a, "--rate") == 0)
            o->rate = atof(v);
        else if (strcmp(a, "--window-ms") == 0)
            o->window_ms = atoi(v);
        else if (strcmp(a, "--max-windows") == 0)
            o->max_windows = atoi(v);
        else if (strcmp(a, "--stability") == 0)
            o->stability = atof(v);
        else if (strcmp(a, "--duration") == 0)
            o->duration_s = atoi(v);
        else if (strcmp(a, "--in-process") == 0)
            o->onnx = v;
        else if (strcmp(a, "--threads") == 0)
            o->threads = atoi(v);
        else if (strcmp(a, "--churn") == 0)
            o->churn = v;
        else if (strcmp(a, "--socket-rtt") == 0)
            o->rtt_count = atoi(v);
        else if (strcmp(a, "--bytes") == 0)
            o->rtt_bytes = atoi(v);
        else {
            fprintf(stderr, "loom-perf: unknown option '%s'\n", a);
            return -1;
        }
    }
    for (int i = 0; i < o->n_levels; i++)
        if (o->levels[i] < 1 || o->levels[i] > MAX_THREADS) {
            fprintf(stderr, "loom-perf: concurrency must be in 1..%d\n", MAX_THREADS);
            return -1;
        }
    if (o->rtt_count)
        return 0;
    if ((!o->model && !o->onnx) || o->batch < 1 || o->window_ms < 10 || o->max_windows < 1 ||
        o->max_windows > 64) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o = {0};
    if (parse(argc, argv, &o))
        return 2;
    if (o.rtt_count)
        return rtt_run(o.rtt_count, o.rtt_bytes > 0 ? o.rtt_bytes : 300) ? 1 : 0;
    workload w;
    char err[512];
    loom_context *ctx = NULL;
    loom_model *m = NULL;
    if (o.onnx) {
        loom_context_options co;
        loom_context_options_init(&co);
        co.num_threads = o.threads;
        if (loom_context_create(&co, &ctx) || loom_model_load_file(ctx, o.onnx, &m)) {
            fprintf(stderr, "loom-perf: %s\n", loom_last_error());
            return 1;
        }
        if (workload_from_model(m, o.batch, &w, err, sizeof(err))) {
            fprintf(stderr, "loom-perf: %s\n", err);
            return 1;
        }
        printf("in-process %s, batch %d\n", o.onnx, o.batch);
    } else {
        loom_client *c = connect_client(&o);
        if (!c || workload_from_server(c, o.model, o.version, o.batch, &w, err, sizeof(err)) ||
            (o.check && workload_take_reference(c, &w, err, sizeof(err)))) {
            fprintf(stderr, "loom-perf: %s\n", c ? err : "cannot create a client");
            return 1;
        }
        loom_client_close(c);
        printf("%s over %s, batch %d%s\n", o.model, o.tcp_host ? "TCP" : "the Unix socket", o.batch,
               o.check ? ", checking every answer" : "");
    }
    pthread_t ch;
    if (o.churn)
        pthread_create(&ch, NULL, churner, &o);
    int rc = 0;
    for (int i = 0; i < o.n_levels; i++)
        rc |= run_level(&o, &w, m, o.levels[i]);
    if (o.churn) {
        atomic_store(&churn_stop, true);
        pthread_join(ch, NULL);
    }
    workload_free(&w);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    return rc;
}
