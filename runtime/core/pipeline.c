/*
 * pipeline.c - pipelined execution (pipeline.h): loom_model_submit() queues
 * a request for the first stage of its plan; the feeder thread of each stage
 * position runs that stage's segments for one request at a time and passes
 * the request on to the next stage's queue, so that under load the card
 * runs request n+1 while the CPU runs the host steps of request n.
 *
 * A request runs through core/run.h, like loom_model_run(): its own run
 * state, its plan taken at submit time. A device fault inside a stage hands
 * the request to the synchronous failover (lm_run_finish), on the feeder
 * that saw it: the request ends correct, and the stage is held up only for
 * that request.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devstats.h"
#include "error.h"
#include "event.h"
#include "health.h"
#include "model.h"
#include "pipeline.h"
#include "run.h"

/* Weight of a new measurement in a stage's cost (an exponential average). */
#define COST_EWMA 0.125

struct loom_request {
    struct loom_request *next; /* in a stage queue */
    struct lm_pipeline *pl;
    lm_run run;
    loom_tensor **inputs;  /* the caller's tensors (borrowed), our array */
    loom_tensor **outputs; /* results, until loom_request_wait() takes them */
    size_t n_outputs;
    int n_stages;
    int stage_last[LM_PIPE_MAX_STAGES];      /* the last plan step of each stage */
    double stage_est_us[LM_PIPE_MAX_STAGES]; /* the planner's estimate of each */
    lm_event *done;                          /* signalled with the outcome; carries its message */
    loom_request_fn fn;
    void *user;
};

/* The requests waiting for one stage position. */
typedef struct pipe_queue {
    loom_request *head, *tail;
    int len, max_len;
    pthread_cond_t not_empty, not_full;
} pipe_queue;

typedef struct lm_pipeline {
    loom_model *m;
    pthread_mutex_t lock; /* protects everything below */
    bool closing;         /* lm_pipeline_stop(): no request starts any more */
    int n_feeders;
    int exited; /* feeders 0 .. exited-1 have stopped (they stop in order) */
    pthread_t feeder[LM_PIPE_MAX_STAGES];
    pipe_queue q[LM_PIPE_MAX_STAGES]; /* q[k]: requests waiting for stage k */
    double cost_us[LM_PIPE_MAX_STAGES];
    bool measured[LM_PIPE_MAX_STAGES]; /* cost_us[k] is from runs, not the planner */
    int depth, max_depth;
    uint64_t completed, canceled, failovers;
} lm_pipeline;

typedef struct feeder_arg {
    lm_pipeline *pl;
    int stage;
} feeder_arg;

/*
 * The bound of every queue, from the stage costs:
 *
 *     depth = clamp(ceil(T_sum / T_max), 2, LM_PIPE_MAX_DEPTH)
 *
 * At full speed the pipeline ends one request per T_max, its slowest
 * stage's time, and each request spends T_sum (all its stages) inside, so by
 * Little's law ceil(T_sum / T_max) requests in service keep every stage
 * busy. A queue that deep lets a stage take up that much work while the one
 * after it is slow for a moment; deeper queues would only add latency and
 * run states (each holds an arena). Never below 2: one request for the stage
 * to take next, one more to absorb jitter. Caller holds pl->lock.
 */
static void update_depth_locked(lm_pipeline *pl)
{
    double sum = 0, max = 0;
    for (int k = 0; k < pl->n_feeders; k++) {
        sum += pl->cost_us[k];
        max = pl->cost_us[k] > max ? pl->cost_us[k] : max;
    }
    int depth = max > 0 ? (int)ceil(sum / max) : 2;
    depth = depth < 2 ? 2 : depth > LM_PIPE_MAX_DEPTH ? LM_PIPE_MAX_DEPTH : depth;
    if (depth > pl->depth)
        for (int k = 0; k < pl->n_feeders; k++)
            pthread_cond_broadcast(&pl->q[k].not_full);
    pl->depth = depth;
    pl->max_depth = depth > pl->max_depth ? depth : pl->max_depth;
}

/* Splits r's plan into stages: maximal runs of consecutive segments on one
 * device, the tail past LM_PIPE_MAX_STAGES merged into the last. A plan with
 * no steps (every output folded) is one empty stage. */
static void split_stages(loom_request *r)
{
    const lm_plan *p = r->run.plan;
    r->n_stages = 0;
    for (int i = 0; i < p->n_segments; i++) {
        const lm_plan_segment *sg = &p->segments[i];
        bool same = i > 0 && p->segments[i - 1].dev == sg->dev;
        if (!same && r->n_stages < LM_PIPE_MAX_STAGES)
            r->stage_est_us[r->n_stages++] = 0;
        int k = r->n_stages - 1;
        r->stage_last[k] = sg->last;
        for (int step = sg->first; p->notes && step <= sg->last; step++)
            if (p->notes[step].est_us > 0)
                r->stage_est_us[k] += p->notes[step].est_us;
    }
    if (!r->n_stages) {
        r->n_stages = 1;
        r->stage_last[0] = -1;
        r->stage_est_us[0] = 0;
    }
}

static void request_free(loom_request *r)
{
    if (!r)
        return;
    for (size_t o = 0; r->outputs && o < r->n_outputs; o++)
        loom_tensor_destroy(r->outputs[o]);
    if (r->done)
        lm_event_unref(r->done);
    free(r->outputs);
    free(r->inputs);
    free(r);
}

/* Ends @r with @s: results to r->outputs, run state and plan released, the
 * waiter woken, then the caller's callback. @r may be freed by its waiter as
 * soon as it is signalled, so nothing of it is touched after that. */
static void complete(loom_request *r, loom_status s)
{
    lm_pipeline *pl = r->pl;
    loom_request_fn fn = r->fn;
    void *user = r->user;
    s = lm_run_end(&r->run, s);
    pthread_mutex_lock(&pl->lock);
    if (s == LOOM_ERR_CANCELED)
        pl->canceled++;
    else
        pl->completed++;
    pthread_mutex_unlock(&pl->lock);
    lm_event_signal(r->done, s);
    if (fn)
        fn(user, s);
}

/* Queues @r for stage @k, waiting while the queue is full; caller holds
 * pl->lock. Once the pipeline is closing no request starts: the first
 * stage's queue refuses @r (false, the caller cancels it). Later stages
 * take it: a request that has started runs to its end. */
static bool push_locked(lm_pipeline *pl, int k, loom_request *r)
{
    pipe_queue *q = &pl->q[k];
    bool refuse = k == 0 && pl->closing;
    while (!refuse && q->len >= pl->depth) {
        pthread_cond_wait(&q->not_full, &pl->lock);
        refuse = k == 0 && pl->closing;
    }
    if (refuse)
        return false;
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->len++;
    q->max_len = q->len > q->max_len ? q->len : q->max_len;
    pthread_cond_signal(&q->not_empty);
    return true;
}

/* The next request for stage @k, waiting for one; NULL once the pipeline is
 * closing, the queue is empty and no earlier stage can fill it again (they
 * have all stopped). Caller holds pl->lock. */
static loom_request *pop_locked(lm_pipeline *pl, int k)
{
    pipe_queue *q = &pl->q[k];
    while (!q->head && !(pl->closing && pl->exited == k))
        pthread_cond_wait(&q->not_empty, &pl->lock);
    loom_request *r = q->head;
    if (!r)
        return NULL;
    if (!(q->head = r->next))
        q->tail = NULL;
    q->len--;
    pthread_cond_signal(&q->not_full);
    return r;
}

/* Takes a measured stage time into the position's cost; caller holds pl->lock. */
static void measure_locked(lm_pipeline *pl, int k, uint64_t ns)
{
    double us = (double)ns / 1e3;
    if (!pl->measured[k])
        pl->cost_us[k] = us;
    else
        pl->cost_us[k] += COST_EWMA * (us - pl->cost_us[k]);
    pl->measured[k] = true;
    update_depth_locked(pl);
}

/* Runs stage @k of @r, then passes it on or ends it. */
static void run_stage(lm_pipeline *pl, int k, loom_request *r)
{
    uint64_t t0 = lm_now_ns();
    loom_status s = lm_run_until(&r->run, r->stage_last[k]);
    uint64_t ns = lm_now_ns() - t0;
    if (s && lm_status_is_device_fault(s)) {
        /* The synchronous failover finishes it here: the replacement plan's
         * stages need not line up with this one's. */
        s = lm_run_finish(&r->run, s);
        pthread_mutex_lock(&pl->lock);
        pl->failovers++;
        pthread_mutex_unlock(&pl->lock);
        complete(r, s);
        return;
    }
    pthread_mutex_lock(&pl->lock);
    if (!s)
        measure_locked(pl, k, ns);
    bool queued = !s && k + 1 < r->n_stages && push_locked(pl, k + 1, r);
    pthread_mutex_unlock(&pl->lock);
    if (!queued)
        complete(r, s);
}

static void *feeder_main(void *arg)
{
    feeder_arg fa = *(feeder_arg *)arg;
    free(arg);
    lm_pipeline *pl = fa.pl;
    pthread_mutex_lock(&pl->lock);
    for (;;) {
        loom_request *r = pop_locked(pl, fa.stage);
        if (!r)
            break;
        bool start = !(fa.stage == 0 && pl->closing);
        pthread_mutex_unlock(&pl->lock);
        if (start)
            run_stage(pl, fa.stage, r);
        else /* queued, never started, and the model is going */
            complete(r, lm_error(LOOM_ERR_CANCELED,
                                 "the model was destroyed before the request started"));
        pthread_mutex_lock(&pl->lock);
    }
    pl->exited++; /* the next stage's queue gets nothing more from here */
    if (fa.stage + 1 < pl->n_feeders)
        pthread_cond_broadcast(&pl->q[fa.stage + 1].not_empty);
    pthread_mutex_unlock(&pl->lock);
    return NULL;
}

/* Starts feeders up to @n stage positions; caller holds pl->lock. */
static loom_status start_feeders_locked(lm_pipeline *pl, int n)
{
    while (pl->n_feeders < n) {
        int k = pl->n_feeders;
        feeder_arg *fa = malloc(sizeof(*fa));
        if (!fa)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        *fa = (feeder_arg){.pl = pl, .stage = k};
        pthread_cond_init(&pl->q[k].not_empty, NULL);
        pthread_cond_init(&pl->q[k].not_full, NULL);
        int e = pthread_create(&pl->feeder[k], NULL, feeder_main, fa);
        if (e) {
            free(fa);
            pthread_cond_destroy(&pl->q[k].not_empty);
            pthread_cond_destroy(&pl->q[k].not_full);
            return lm_error(LOOM_ERR_NO_MEMORY, "cannot start the feeder of stage %d: %s", k,
                            strerror(e));
        }
        char name[16];
        snprintf(name, sizeof(name), "loom-stage%d", k % LM_PIPE_MAX_STAGES);
        pthread_setname_np(pl->feeder[k], name);
        pl->n_feeders++;
    }
    return LOOM_OK;
}

/* @m's pipeline, made on first use. */
static lm_pipeline *pipeline_of(loom_model *m)
{
    pthread_mutex_lock(&m->pipe_lock);
    lm_pipeline *pl = m->pipe;
    if (!pl && (pl = calloc(1, sizeof(*pl)))) {
        pl->m = m;
        pl->depth = pl->max_depth = 2;
        pthread_mutex_init(&pl->lock, NULL);
        m->pipe = pl;
    }
    pthread_mutex_unlock(&m->pipe_lock);
    if (!pl)
        lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    return pl;
}

/* Admits @r: feeders for its stages, the planner's costs for positions not
 * measured yet, then the first stage's queue (waiting while it is full). */
static loom_status admit(lm_pipeline *pl, loom_request *r)
{
    pthread_mutex_lock(&pl->lock);
    loom_status s = pl->closing ? lm_error(LOOM_ERR_CANCELED, "the model is being destroyed")
                                : start_feeders_locked(pl, r->n_stages);
    if (!s) {
        for (int k = 0; k < r->n_stages; k++)
            if (!pl->measured[k] && r->stage_est_us[k] > 0)
                pl->cost_us[k] = r->stage_est_us[k];
        update_depth_locked(pl);
        if (!push_locked(pl, 0, r))
            s = lm_error(LOOM_ERR_CANCELED, "the model is being destroyed");
    }
    pthread_mutex_unlock(&pl->lock);
    return s;
}

loom_status loom_model_submit(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                              size_t n_outputs, loom_request_fn fn, void *user, loom_request **out)
{
    if (!out)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_submit: NULL argument");
    *out = NULL;
    if (!m || (n_inputs && !inputs))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_submit: NULL argument");
    lm_pipeline *pl = pipeline_of(m);
    loom_request *r = pl ? calloc(1, sizeof(*r)) : NULL;
    if (!r)
        return pl ? lm_error(LOOM_ERR_NO_MEMORY, "out of memory") : LOOM_ERR_NO_MEMORY;
    *r = (loom_request){.pl = pl, .n_outputs = n_outputs, .fn = fn, .user = user};
    r->inputs = malloc(sizeof(loom_tensor *) * (n_inputs + 1));
    r->outputs = calloc(n_outputs + 1, sizeof(loom_tensor *));
    if (!r->inputs || !r->outputs || !(r->done = lm_event_create())) {
        request_free(r);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(r->inputs, inputs, sizeof(loom_tensor *) * n_inputs);
    loom_status s =
        lm_run_begin(&r->run, m, r->inputs, n_inputs, r->outputs, n_outputs, false, NULL);
    if (s) {
        request_free(r);
        return s;
    }
    split_stages(r);
    if ((s = admit(pl, r))) {
        lm_run_end(&r->run, s);
        request_free(r);
        return s;
    }
    *out = r;
    return LOOM_OK;
}

int loom_request_done(loom_request *req)
{
    return req && lm_event_done(req->done);
}

loom_status loom_request_wait(loom_request *req, loom_tensor **outputs, size_t n_outputs)
{
    if (!req)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_request_wait: NULL request");
    loom_status s = lm_event_wait(req->done);
    if (n_outputs != req->n_outputs || (n_outputs && !outputs)) {
        s = lm_error(LOOM_ERR_INVALID_ARGUMENT,
                     "loom_request_wait: %zu outputs asked for, the request has %zu", n_outputs,
                     req->n_outputs);
    } else {
        for (size_t o = 0; o < n_outputs; o++) {
            outputs[o] = req->outputs[o]; /* NULL on failure */
            req->outputs[o] = NULL;
        }
    }
    request_free(req);
    return s;
}

void lm_pipeline_stop(loom_model *m)
{
    lm_pipeline *pl = m->pipe;
    if (!pl)
        return;
    pthread_mutex_lock(&pl->lock);
    pl->closing = true;
    if (pl->n_feeders) {
        pthread_cond_broadcast(&pl->q[0].not_empty); /* the rest wake in turn */
        pthread_cond_broadcast(&pl->q[0].not_full);
    }
    pthread_mutex_unlock(&pl->lock);
    for (int k = 0; k < pl->n_feeders; k++) {
        pthread_join(pl->feeder[k], NULL);
        pthread_cond_destroy(&pl->q[k].not_empty);
        pthread_cond_destroy(&pl->q[k].not_full);
    }
    pthread_mutex_destroy(&pl->lock);
    free(pl);
    m->pipe = NULL;
}

void lm_pipeline_stats(loom_model *m, lm_pipe_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&m->pipe_lock);
    lm_pipeline *pl = m->pipe;
    if (pl) {
        pthread_mutex_lock(&pl->lock);
        st->n_stages = pl->n_feeders;
        st->depth = pl->depth;
        st->max_depth = pl->max_depth;
        for (int k = 0; k < pl->n_feeders; k++) {
            st->max_queued[k] = pl->q[k].max_len;
            st->cost_us[k] = pl->cost_us[k];
        }
        st->completed = pl->completed;
        st->canceled = pl->canceled;
        st->failovers = pl->failovers;
        pthread_mutex_unlock(&pl->lock);
    }
    pthread_mutex_unlock(&m->pipe_lock);
}
