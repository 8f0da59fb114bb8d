/*
 * run.h - one inference in progress, for callers that run it in parts.
 *
 * loom_model_run() runs a request from start to end on the calling thread.
 * The pipeline (pipeline.c) runs the same request in parts, a range of plan
 * steps at a time on different threads; both go through these calls, so a
 * request behaves the same either way: one run state of its own, and the
 * same failover when a device faults.
 */
#ifndef LOOM_CORE_RUN_H
#define LOOM_CORE_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* A request being run: its plan, run state and how far it has got. */
typedef struct lm_run {
    loom_model *m;
    loom_tensor *const *inputs;    /* the caller's, borrowed until lm_run_end() */
    loom_tensor **outputs;         /* where lm_run_end() puts the results */
    bool into;                     /* @outputs are the caller's tensors (run_into) */
    lm_plan *plan;                 /* referenced (lm_plan_get) */
    lm_run_state *rs;              /* of @plan */
    int next;                      /* the first step not run yet */
    int faults;                    /* device faults failed over so far */
    const lm_plan_segment *failed; /* of @plan: where the last device fault happened */
    bool restart;                  /* resume from the start: a detached segment faulted */
} lm_run;

/* Checks the arguments and @inputs, takes the plan for them and a run state.
 * @outputs must hold @n_outputs entries until lm_run_end(). On failure
 * nothing is held and the error names the model. */
loom_status lm_run_begin(lm_run *r, loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                         loom_tensor **outputs, size_t n_outputs, bool into, uint64_t *step_ns);

/* Runs the segments of r->plan from r->next through step @last (a segment's
 * last step), with no failover: a device fault returns its status and sets
 * r->failed. On success r->next is @last + 1. */
loom_status lm_run_until(lm_run *r, int last);

/* Runs @r to its end: @s is the outcome of what ran so far; a device fault
 * there, or in any later part, fails over to the plan that serves now and
 * resumes from the last completed boundary (at most a few times). */
loom_status lm_run_finish(lm_run *r, loom_status s);

/* Hands the results to r->outputs when @s is LOOM_OK, releases the run state
 * and the plan, and returns the final status (naming the model on failure). */
loom_status lm_run_end(lm_run *r, loom_status s);

#endif
