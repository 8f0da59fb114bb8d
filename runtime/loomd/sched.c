/* sched.c - per-model queues, dynamic batching and execution threads. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loomd/bucket.h"
#include "loomd/sched.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_CANCELLED };

struct sched {
    loom_model *model;
    model_config cfg;
    char *name;
    int64_t version;
    metrics *metrics;
    size_t n_in, n_out;
    int target_rows;     /* dispatch at once when a batch reaches this many rows */
    bucket_plan buckets; /* config's shape_bucket; multiple 0 when off */

    pthread_mutex_t lock; /* Protects the queue, n_queued, busy and stopping. */
    pthread_cond_t cond;  /* Signalled on submit and on stop. */
    sched_job *head, *tail;
    int n_queued;
    int busy;         /* executions running now (workers and inline), at most instances */
    int running_jobs; /* the requests in those executions */
    int instances;
    bool stopping;
    bool flushing; /* draining: run what is queued without waiting for fuller batches */

    int n_workers;
    pthread_t workers[64];
    unsigned long long executions; /* model runs (a batch is one); atomic */
};

int64_t sched_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

sched_job *sched_job_new(loom_tensor **inputs, size_t n_inputs, int64_t rows)
{
    sched_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->efd = -1; /* made when the job is queued; inline runs need none */
    j->inputs = inputs;
    j->n_inputs = n_inputs;
    j->rows = rows;
    atomic_store((atomic_int *)&j->refs, 1);
    atomic_store((atomic_int *)&j->state, JOB_QUEUED);
    return j;
}

void sched_job_put(sched_job *j)
{
    if (!j || atomic_fetch_sub((atomic_int *)&j->refs, 1) != 1)
        return;
    for (size_t i = 0; i < j->n_inputs; i++)
        loom_tensor_destroy(j->inputs[i]);
    free(j->inputs);
    if (j->outputs)
        for (size_t i = 0; i < j->n_outputs; i++)
            loom_tensor_destroy(j->outputs[i]);
    free(j->outputs);
    if (j->efd >= 0)
        close(j->efd);
    free(j);
}

static void unlink_locked(sched *s, sched_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        s->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        s->tail = j->prev;
    j->prev = j->next = NULL;
    s->n_queued--;
}

/* Drops the queued jobs their waiters gave up on (timeout, hang-up). */
static void drop_cancelled_locked(sched *s)
{
    for (sched_job *j = s->head, *n; j; j = n) {
        n = j->next;
        if (atomic_load((atomic_int *)&j->state) == JOB_CANCELLED) {
            unlink_locked(s, j);
            sched_job_put(j);
        }
    }
}

/* Same dtype and the same dims after the batch dimension, for every input. */
static bool compatible(const sched_job *a, const sched_job *b)
{
    for (size_t i = 0; i < a->n_inputs; i++) {
        const loom_tensor *x = a->inputs[i], *y = b->inputs[i];
        int r = loom_tensor_rank(x);
        if (r != loom_tensor_rank(y) || loom_tensor_dtype(x) != loom_tensor_dtype(y))
            return false;
        if (memcmp(loom_tensor_dims(x) + 1, loom_tensor_dims(y) + 1,
                   (size_t)(r - 1) * sizeof(int64_t)) != 0)
            return false;
    }
    return true;
}

static void finish(sched_job *j, loom_status st, const char *err)
{
    j->status = st;
    if (err)
        snprintf(j->error, sizeof(j->error), "%s", err);
    j->t_end_ns = sched_now_ns();
    atomic_store((atomic_int *)&j->state, JOB_DONE);
    uint64_t one = 1;
    /* An eventfd write of 1 cannot fail short of a bad fd; nothing to do if it did. */
    if (j->efd >= 0 && write(j->efd, &one, sizeof(one)) < 0) {
    }
    sched_job_put(j);
}

/*
 * Could waiting still grow a batch? Only while requests the queue has not seen
 * are on their way: the daemon's in-flight requests (@self of them the caller's,
 * not yet queued) beyond those queued or running here. A batcher that waits with
 * nothing arriving only adds its delay to every request, which cost a client
 * alone 7x its throughput; under load, requests arriving during an execution
 * still queue up and ride together.
 */
static bool more_arriving_locked(sched *s, int self)
{
    if (!s->metrics)
        return true;
    return metrics_inflight(s->metrics) - self - s->n_queued - s->running_jobs > 0;
}

/*
 * Takes the next batch off the queue into @batch (at most 64 jobs), blocking
 * until there is one. Returns the number of jobs, 0 when stopping with an
 * empty queue.
 */
static int gather(sched *s, sched_job **batch, int max_jobs)
{
    pthread_mutex_lock(&s->lock);
    for (;;) {
        drop_cancelled_locked(s); /* so they never reach the model */
        if (!s->head) {
            if (s->stopping) {
                pthread_mutex_unlock(&s->lock);
                return 0;
            }
            pthread_cond_wait(&s->cond, &s->lock);
            continue;
        }
        if (s->busy >= s->instances) {
            /* Every instance is running: wait for one to finish. */
            pthread_cond_wait(&s->cond, &s->lock);
            continue;
        }
        sched_job *first = s->head;
        int n = 0;
        int64_t rows = 0;
        if (!s->cfg.dynamic_batching) {
            batch[n++] = first;
        } else {
            bool more = false; /* compatible jobs left behind: the batch is full */
            for (sched_job *j = first; j; j = j->next) {
                if (j != first && !compatible(first, j))
                    continue;
                if (n == max_jobs || rows + j->rows > s->cfg.max_batch_size ||
                    rows >= s->target_rows) {
                    more = true;
                    break;
                }
                batch[n++] = j;
                rows += j->rows;
            }
            /* Like Triton: go at once when the batch is full, reaches the largest
             * preferred size, or reaches a preferred size with nothing else queued to
             * grow it; otherwise wait for more rows until the oldest job's delay ends. */
            bool go = more || rows >= s->target_rows || s->stopping || s->flushing ||
                      !more_arriving_locked(s, 0);
            for (int i = 0; i < s->cfg.n_preferred && !go; i++)
                go = rows == s->cfg.preferred[i];
            int64_t until = first->t_enqueue_ns + s->cfg.max_queue_delay_us * 1000;
            if (!go && sched_now_ns() < until) {
                struct timespec ts = {until / 1000000000, until % 1000000000};
                pthread_cond_timedwait(&s->cond, &s->lock, &ts);
                continue;
            }
        }
        int taken = 0;
        for (int i = 0; i < n; i++) {
            unlink_locked(s, batch[i]);
            int want = JOB_QUEUED;
            if (atomic_compare_exchange_strong((atomic_int *)&batch[i]->state, &want, JOB_RUNNING))
                batch[taken++] = batch[i];
            else
                sched_job_put(batch[i]); /* cancelled since the sweep above */
        }
        s->busy += taken > 0;
        s->running_jobs += taken;
        pthread_mutex_unlock(&s->lock);
        if (taken)
            return taken;
        pthread_mutex_lock(&s->lock);
    }
}

/* An execution of @jobs requests ended. */
static void release_instance(sched *s, int jobs)
{
    pthread_mutex_lock(&s->lock);
    s->busy--;
    s->running_jobs -= jobs;
    /* Only a worker holding queued jobs waits for an instance. Waking idle ones on
     * every inline run cost each request a futex round trip on the other core. */
    if (s->head || s->stopping)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Concatenates input @i of @n jobs along dim 0; NULL when out of memory. */
static loom_tensor *concat(sched_job **jobs, int n, size_t i, int64_t rows)
{
    const loom_tensor *t0 = jobs[0]->inputs[i];
    int64_t dims[LOOM_MAX_RANK];
    int rank = loom_tensor_rank(t0);
    memcpy(dims, loom_tensor_dims(t0), (size_t)rank * sizeof(int64_t));
    dims[0] = rows;
    loom_tensor *t;
    if (loom_tensor_create(loom_tensor_dtype(t0), rank, dims, &t) != LOOM_OK)
        return NULL;
    char *dst = loom_tensor_data(t);
    for (int k = 0; k < n; k++) {
        loom_tensor *src = jobs[k]->inputs[i];
        size_t sz = loom_tensor_size(src);
        if (sz)
            memcpy(dst, loom_tensor_data(src), sz);
        dst += sz;
    }
    return t;
}

/* Gives each job its rows of every output; false if an output has no batch dimension. */
static bool split(sched *s, sched_job **jobs, int n, loom_tensor **outs, int64_t rows)
{
    for (size_t o = 0; o < s->n_out; o++) {
        int r = loom_tensor_rank(outs[o]);
        if (r < 1 || loom_tensor_dims(outs[o])[0] != rows)
            return false;
    }
    for (int k = 0; k < n; k++) {
        jobs[k]->outputs = calloc(s->n_out, sizeof(loom_tensor *));
        if (!jobs[k]->outputs)
            return false;
        jobs[k]->n_outputs = s->n_out;
    }
    for (size_t o = 0; o < s->n_out; o++) {
        int r = loom_tensor_rank(outs[o]);
        int64_t dims[LOOM_MAX_RANK];
        memcpy(dims, loom_tensor_dims(outs[o]), (size_t)r * sizeof(int64_t));
        size_t row_bytes = rows ? loom_tensor_size(outs[o]) / (size_t)rows : 0;
        const char *src = loom_tensor_data(outs[o]);
        for (int k = 0; k < n; k++) {
            dims[0] = jobs[k]->rows;
            if (loom_tensor_create(loom_tensor_dtype(outs[o]), r, dims, &jobs[k]->outputs[o]))
                return false;
            size_t sz = row_bytes * (size_t)jobs[k]->rows;
            if (sz)
                memcpy(loom_tensor_data(jobs[k]->outputs[o]), src, sz);
            src += sz;
        }
    }
    return true;
}

static void drop_outputs(loom_tensor **outs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        loom_tensor_destroy(outs[i]);
        outs[i] = NULL;
    }
}

/* Runs the model, through the shape bucket when the config asks for one:
 * inputs padded up to the bucket, outputs cut back to the request. */
static loom_status run_bucketed(sched *s, loom_tensor **inputs, loom_tensor **out)
{
    loom_tensor *padded[64] = {0}, *use[64];
    int64_t len = -1;
    if (s->buckets.multiple && !bucket_pad(&s->buckets, inputs, s->n_in, padded, &len))
        return loom_model_run(s->model, inputs, s->n_in, out, s->n_out); /* unpadded is exact */
    for (size_t i = 0; i < s->n_in; i++)
        use[i] = padded[i] ? padded[i] : inputs[i];
    loom_status st = loom_model_run(s->model, use, s->n_in, out, s->n_out);
    for (size_t i = 0; i < s->n_in; i++)
        loom_tensor_destroy(padded[i]);
    if (st == LOOM_OK && len >= 0 && !bucket_crop(&s->buckets, out, s->n_out, len)) {
        drop_outputs(out, s->n_out);
        return LOOM_ERR_NO_MEMORY;
    }
    return st;
}

static void run_batch(sched *s, sched_job **jobs, int n)
{
    int64_t t0 = sched_now_ns();
    int64_t rows = 0;
    for (int k = 0; k < n; k++) {
        jobs[k]->t_start_ns = t0;
        rows += jobs[k]->rows;
    }
    loom_tensor *in[64] = {0};
    loom_tensor *out[64] = {0};
    loom_tensor **inputs = jobs[0]->inputs;
    loom_status st = LOOM_OK;
    char err[256] = "";
    if (n > 1) {
        for (size_t i = 0; i < s->n_in; i++)
            if (!(in[i] = concat(jobs, n, i, rows))) {
                st = LOOM_ERR_NO_MEMORY;
                snprintf(err, sizeof(err), "out of memory batching %d requests", n);
            }
        inputs = in;
    }
    if (st == LOOM_OK) {
        st = run_bucketed(s, inputs, out);
        if (st != LOOM_OK)
            snprintf(err, sizeof(err), "%s", loom_last_error());
    }
    metrics_batch(s->metrics, s->name, s->version, n > 1 ? (int)rows : 1);
    __atomic_add_fetch(&s->executions, 1, __ATOMIC_RELAXED);
    for (size_t i = 0; i < s->n_in; i++)
        loom_tensor_destroy(in[i]);
    for (int k = 0; k < n; k++)
        jobs[k]->batch_rows = n > 1 ? (int)rows : (int)(jobs[k]->rows ? jobs[k]->rows : 1);
    if (st == LOOM_OK && n == 1) {
        jobs[0]->outputs = calloc(s->n_out, sizeof(loom_tensor *));
        if (jobs[0]->outputs) {
            memcpy(jobs[0]->outputs, out, s->n_out * sizeof(loom_tensor *));
            jobs[0]->n_outputs = s->n_out;
        } else {
            drop_outputs(out, s->n_out);
            st = LOOM_ERR_NO_MEMORY;
            snprintf(err, sizeof(err), "out of memory");
        }
    } else if (st == LOOM_OK) {
        if (!split(s, jobs, n, out, rows)) {
            st = LOOM_ERR_RUNTIME;
            snprintf(err, sizeof(err),
                     "%s: an output lacks the batch dimension; set max_batch_size to 0", s->name);
        }
        drop_outputs(out, s->n_out);
    }
    for (int k = 0; k < n; k++)
        finish(jobs[k], st, st == LOOM_OK ? NULL : err);
}

static void *worker(void *arg)
{
    sched *s = arg;
    sched_job *batch[64];
    int n;
    while ((n = gather(s, batch, 64)) > 0) {
        run_batch(s, batch, n);
        release_instance(s, n);
    }
    return NULL;
}

int sched_create(loom_model *model, const model_config *cfg, const char *name, int64_t version,
                 metrics *m, sched **out, char *err, size_t errlen)
{
    sched *s = calloc(1, sizeof(*s));
    if (!s || !(s->name = strdup(name)) || model_config_copy(&s->cfg, cfg)) {
        if (s)
            free(s->name);
        free(s);
        snprintf(err, errlen, "%s: out of memory", name);
        return -ENOMEM;
    }
    s->model = model;
    s->version = version;
    s->metrics = m;
    s->n_in = loom_model_input_count(model);
    s->n_out = loom_model_output_count(model);
    if (s->n_in > 64 || s->n_out > 64) {
        snprintf(err, errlen, "%s: more than 64 inputs or outputs", name);
        model_config_free(&s->cfg);
        free(s->name);
        free(s);
        return -EINVAL;
    }
    s->instances = cfg->instance_count < 1    ? 1
                   : cfg->instance_count > 64 ? 64
                                              : cfg->instance_count;
    s->target_rows = cfg->max_batch_size;
    for (int i = 0; i < cfg->n_preferred; i++)
        if (i == 0 || cfg->preferred[i] > s->target_rows)
            s->target_rows = cfg->preferred[i];
    if (s->target_rows < 1)
        s->target_rows = 1;
    if (cfg->bucket_multiple &&
        bucket_setup(model, cfg->bucket_dim, cfg->bucket_multiple, &s->buckets, err, errlen)) {
        model_config_free(&s->cfg);
        free(s->name);
        free(s);
        return -EINVAL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < cfg->instance_count && i < 64; i++) {
        int rc = pthread_create(&s->workers[i], NULL, worker, s);
        if (rc) {
            snprintf(err, errlen, "%s: cannot start a worker thread: %s", name, strerror(rc));
            sched_destroy(s);
            return -rc;
        }
        s->n_workers++;
    }
    *out = s;
    return 0;
}

void sched_destroy(sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    model_config_free(&s->cfg);
    free(s->name);
    free(s);
}

int sched_submit(sched *s, sched_job *j)
{
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return -ESHUTDOWN;
    }
    if (s->cfg.max_queue_size > 0 && s->n_queued >= s->cfg.max_queue_size) {
        /* Requests whose clients gave up still hold slots until a worker sweeps
         * them (it may sleep through a batching delay): reclaim them first. */
        drop_cancelled_locked(s);
    }
    if (s->cfg.max_queue_size > 0 && s->n_queued >= s->cfg.max_queue_size) {
        pthread_mutex_unlock(&s->lock);
        return -EBUSY;
    }
    if (j->efd < 0 && (j->efd = eventfd(0, EFD_CLOEXEC)) < 0) {
        pthread_mutex_unlock(&s->lock);
        return -ENOMEM;
    }
    atomic_fetch_add((atomic_int *)&j->refs, 1); /* the queue's reference */
    j->t_enqueue_ns = sched_now_ns();
    j->prev = s->tail;
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->n_queued++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Would the batcher dispatch a batch of @rows at once, with nothing else queued? */
static bool batch_goes_now(const sched *s, int64_t rows)
{
    if (s->cfg.max_queue_delay_us <= 0 || rows >= s->target_rows || s->flushing)
        return true;
    for (int i = 0; i < s->cfg.n_preferred; i++)
        if (rows == s->cfg.preferred[i])
            return true;
    return false;
}

int sched_run_inline(sched *s, sched_job *j)
{
    /* A request with a deadline goes to a worker, so that its waiter answers
     * at the deadline whatever the run does (a hung card, a failover); run
     * here, the connection's thread could not answer before the run ends. */
    if (j->deadline_ns)
        return -EAGAIN;
    pthread_mutex_lock(&s->lock);
    bool go = !s->stopping && s->n_queued == 0 && s->busy < s->instances &&
              (!s->cfg.dynamic_batching || batch_goes_now(s, j->rows ? j->rows : 1) ||
               !more_arriving_locked(s, 1));
    if (go) {
        s->busy++;
        s->running_jobs++;
    }
    pthread_mutex_unlock(&s->lock);
    if (!go)
        return -EAGAIN;
    atomic_fetch_add((atomic_int *)&j->refs, 1); /* dropped by finish(), as for a queued job */
    atomic_store((atomic_int *)&j->state, JOB_RUNNING);
    j->t_enqueue_ns = sched_now_ns();
    run_batch(s, &j, 1);
    release_instance(s, 1);
    return 0;
}

int sched_wait(sched_job *j, int cancel_fd)
{
    struct pollfd pf[2] = {{.fd = j->efd, .events = POLLIN},
                           {.fd = cancel_fd, .events = POLLRDHUP}};
    for (;;) {
        int timeout = -1;
        if (j->deadline_ns) {
            int64_t left = j->deadline_ns - sched_now_ns();
            if (left <= 0)
                break;
            timeout = (int)((left + 999999) / 1000000);
        }
        int rc = poll(pf, cancel_fd >= 0 ? 2 : 1, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && (pf[0].revents & POLLIN)) {
            uint64_t v;
            if (read(j->efd, &v, sizeof(v)) < 0) {
            }
            return 0;
        }
        if (rc > 0 && (pf[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            int want = JOB_QUEUED;
            if (atomic_load((atomic_int *)&j->state) == JOB_DONE)
                return 0;
            atomic_compare_exchange_strong((atomic_int *)&j->state, &want, JOB_CANCELLED);
            return -ECANCELED;
        }
    }
    if (atomic_load((atomic_int *)&j->state) == JOB_DONE)
        return 0;
    int want = JOB_QUEUED;
    atomic_compare_exchange_strong((atomic_int *)&j->state, &want, JOB_CANCELLED);
    return -ETIMEDOUT;
}

void sched_flush(sched *s)
{
    pthread_mutex_lock(&s->lock);
    s->flushing = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

unsigned long long sched_executions(sched *s)
{
    return __atomic_load_n(&s->executions, __ATOMIC_RELAXED);
}

int sched_queued(sched *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->n_queued;
    pthread_mutex_unlock(&s->lock);
    return n;
}
