/*
 * spare.h - plans made ahead of need: for each device a plan runs on (a
 * card, an OpenCL device), the plan of the same shapes without it, made in
 * the background and cached (plancache.c) once the plan is run a second
 * time (plans run once or never, such as loomctl plan's, cost nothing). When the
 * device leaves
 * service, the runs that lose it resume on that plan and the next runs take
 * it, with no planning in their way (health.h, run.c).
 */
#ifndef LOOM_CORE_SPARE_H
#define LOOM_CORE_SPARE_H

#include <pthread.h>
#include <stdbool.h>

#include "tensor.h"

struct lm_plan;
struct lm_spare_job;

/* A model's queue of plans to make ahead, and its worker thread. */
typedef struct lm_spares {
    pthread_mutex_t lock; /* protects queue, thread, started, running and stopping */
    struct lm_spare_job *queue;
    pthread_t thread;
    bool started;  /* @thread was created and is not joined yet */
    bool running;  /* @thread still takes jobs */
    bool stopping; /* the model is going: no job is taken or queued any more */
} lm_spares;

void lm_spares_init(lm_spares *s);

/* Queues the plans @p's model would need for @inputs' shapes if one of the
 * devices @p runs on left service, unless they are cached. */
void lm_spares_plan_ahead(loom_model *m, loom_tensor *const *inputs, const struct lm_plan *p);

/* Drops what is queued and waits for a plan being made; the model is going. */
void lm_spares_stop(lm_spares *s);

#endif
