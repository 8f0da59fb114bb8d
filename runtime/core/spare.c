/* spare.c - plans made ahead of need, for when a device leaves (spare.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "device.h"
#include "env.h"
#include "log.h"
#include "model.h"
#include "spare.h"

/* One plan to make: the model's inputs' shapes, and the devices to use. */
typedef struct lm_spare_job {
    struct lm_spare_job *next;
    loom_model *model;
    uint64_t generation;
    lm_devset usable;
    int n_inputs;
    loom_tensor *inputs; /* headers only: planning needs no data */
} lm_spare_job;

void lm_spares_init(lm_spares *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
}

static void job_free(lm_spare_job *j)
{
    if (j) {
        free(j->inputs);
        free(j);
    }
}

static lm_spare_job *job_new(loom_model *m, loom_tensor *const *inputs, lm_devset usable,
                             uint64_t gen)
{
    int n = m->g->n_inputs;
    lm_spare_job *j = calloc(1, sizeof(*j));
    if (!j || !(j->inputs = calloc((size_t)n + 1, sizeof(loom_tensor)))) {
        free(j);
        return NULL;
    }
    j->model = m;
    j->generation = gen;
    j->usable = usable;
    j->n_inputs = n;
    for (int i = 0; i < n; i++) {
        j->inputs[i] = *inputs[i];
        j->inputs[i].data = NULL;
        j->inputs[i].owns_data = false;
        j->inputs[i].pooled = false;
    }
    return j;
}

/* Makes one queued plan and hands it to the cache. */
static void make(lm_spare_job *j)
{
    loom_model *m = j->model;
    loom_tensor *in[j->n_inputs + 1];
    for (int i = 0; i < j->n_inputs; i++)
        in[i] = &j->inputs[i];
    lm_plan *p = NULL;
    if (lm_plan_cached(m, in, j->usable))
        return;
    /* Without the worker pool: runs must not find it busy with a plan they
     * may never need (they would run their kernels on one thread). */
    if (lm_plan_build(m, in, j->usable, NULL, &p)) {
        /* No plan without that device (fail-closed, or nothing else runs a
         * node): the run that loses it will say so then. */
        lm_log(LOOM_LOG_DEBUG, "%s: no plan ahead without a device: %s", m->name,
               loom_last_error());
        return;
    }
    lm_plan_publish_spare(m, in, p, j->generation);
}

static void *worker(void *arg)
{
    lm_spares *s = arg;
    /* Spare plans are for later: the runs of now come first (Linux nices
     * threads one by one). */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    pthread_mutex_lock(&s->lock);
    while (s->queue && !s->stopping) {
        lm_spare_job *j = s->queue;
        s->queue = j->next;
        pthread_mutex_unlock(&s->lock);
        make(j);
        job_free(j);
        pthread_mutex_lock(&s->lock);
    }
    s->running = false; /* past here the worker only returns: joining it is quick */
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Queues @j and makes sure the worker runs; caller holds s->lock. */
static void enqueue(lm_spares *s, lm_spare_job *j)
{
    lm_spare_job **tail = &s->queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    if (s->running)
        return;
    /* A worker that ran out of work is joined, not detached: a model (or the
     * process) must never end while one of its threads is still exiting. */
    if (s->started)
        pthread_join(s->thread, NULL);
    s->started = s->running = pthread_create(&s->thread, NULL, worker, s) == 0;
}

void lm_spares_plan_ahead(loom_model *m, loom_tensor *const *inputs, const lm_plan *p)
{
    lm_spares *s = &m->spares;
    if (!lm_env_flag(LM_ENV_PLAN_AHEAD))
        return;
    for (int d = 0; d < m->ctx->n_devices; d++) {
        lm_devset bit = (lm_devset)1 << d;
        if (!(p->uses & bit) || lm_device_runs_host_kernels(m->ctx->devices[d]))
            continue; /* the CPU does not leave */
        lm_devset without = p->usable & ~bit;
        if (lm_plan_cached(m, inputs, without))
            continue;
        lm_spare_job *j = job_new(m, inputs, without, p->generation);
        pthread_mutex_lock(&s->lock);
        if (j && !s->stopping)
            enqueue(s, j);
        else
            job_free(j);
        if (!s->running) { /* no thread: nothing is made ahead, the switch plans */
            for (lm_spare_job *q; (q = s->queue);) {
                s->queue = q->next;
                job_free(q);
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
}

void lm_spares_stop(lm_spares *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = true; /* the worker takes no further job */
    bool started = s->started;
    s->started = false;
    pthread_mutex_unlock(&s->lock);
    if (started)
        pthread_join(s->thread, NULL);
    for (lm_spare_job *q; (q = s->queue);) {
        s->queue = q->next;
        job_free(q);
    }
    pthread_mutex_destroy(&s->lock);
}
