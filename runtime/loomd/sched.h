/*
 * sched.h - one model version's request queue and its execution threads, with
 * dynamic batching: compatible queued requests are concatenated along the batch
 * dimension, run as one, and the outputs split back.
 *
 * A job is shared by the request thread that waits for it and the worker that
 * runs it (two references). The waiter may give up (timeout, client gone): the
 * job is then marked cancelled and dropped unseen if still queued, or its
 * results are discarded by whoever drops the last reference.
 */
#ifndef LOOMD_SCHED_H
#define LOOMD_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "loom/loom.h"
#include "loomd/config.h"
#include "loomd/metrics.h"

typedef struct sched sched;

typedef struct sched_job {
    /* Set by the submitter; owned by the job. */
    loom_tensor **inputs;
    size_t n_inputs;
    int64_t rows;        /* batch rows (dims[0] of every input); 0 when the model does not batch */
    int64_t deadline_ns; /* CLOCK_MONOTONIC; 0 means none */

    /* Set by the worker before it signals. */
    loom_tensor **outputs; /* n_outputs of the model, owned by the job */
    size_t n_outputs;
    loom_status status;
    char error[256];
    int64_t t_enqueue_ns, t_start_ns, t_end_ns;
    int batch_rows; /* rows of the execution this job rode in */

    /* Private to sched.c. */
    int efd;   /* eventfd the worker writes when done */
    int state; /* atomic: JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_CANCELLED */
    int refs;  /* atomic */
    struct sched_job *prev, *next;
} sched_job;

/* Starts cfg->instance_count workers for @model. @name/@version label metrics. */
int sched_create(loom_model *model, const model_config *cfg, const char *name, int64_t version,
                 metrics *m, sched **out, char *err, size_t errlen);
/* Stops the workers after the queue empties (queued jobs still run), then frees. */
void sched_destroy(sched *s);

/* A job owning @inputs (n_inputs tensors, which it destroys). NULL when out of memory. */
sched_job *sched_job_new(loom_tensor **inputs, size_t n_inputs, int64_t rows);
void sched_job_put(sched_job *j);

/* Queues @j. -EBUSY: the queue is full; -ESHUTDOWN: the scheduler is stopping. */
int sched_submit(sched *s, sched_job *j);
/*
 * Runs @j on the calling thread when nothing is queued, an instance is free and
 * the batcher would not wait for company (no dynamic batching; or no queue
 * delay, or @j's rows reach a preferred or the largest batch size, or no other
 * request is in flight, by @m's count, to join it): no hand-off to a worker, no
 * wake-ups. Returns 0 when it ran (see j->status), -EAGAIN when
 * the job must be queued instead: also whenever it has a deadline, so that
 * its waiter (sched_wait) answers at the deadline, whatever the run does.
 */
int sched_run_inline(sched *s, sched_job *j);
/*
 * Waits for @j. Returns 0 when it ran (see j->status), -ETIMEDOUT past its
 * deadline, -ECANCELED when @cancel_fd (the client's socket, -1 for none)
 * reports a hang-up. On an error return the job is cancelled.
 */
int sched_wait(sched_job *j, int cancel_fd);

/* From now on, batches go without waiting for more rows (the daemon is draining). */
void sched_flush(sched *s);

/* Jobs waiting in the queue now. */
int sched_queued(sched *s);
/* Model executions so far: one per batch (Triton's execution_count). */
unsigned long long sched_executions(sched *s);

int64_t sched_now_ns(void);

#endif
