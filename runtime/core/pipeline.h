/*
 * pipeline.h - a model's pipelined execution (loom_model_submit): requests
 * flow through the stages of their plans concurrently, one feeder thread
 * per stage, bounded queues between stages.
 *
 * A stage is a maximal run of consecutive plan segments on one device: the
 * card's segment, the host steps after it. Stages are numbered by position
 * in the plan (the first, the second, ...), and the model keeps one feeder
 * thread and one queue per position, so plans of different shapes share
 * them and the queues form a chain, never a cycle: a full queue holds back
 * only the stages before it, and the last stage never waits for room.
 */
#ifndef LOOM_CORE_PIPELINE_H
#define LOOM_CORE_PIPELINE_H

#include <stdint.h>

#include "loom/loom.h"

/* Stage positions a model pipelines; the stages of a longer plan past the
 * last position run together in the last one. */
#define LM_PIPE_MAX_STAGES 8
/* The most requests a queue holds, whatever the stage costs say. */
#define LM_PIPE_MAX_DEPTH 16

struct lm_pipeline;

/* What a model's pipeline has done so far (tests, loomctl). */
typedef struct lm_pipe_stats {
    int n_stages;                            /* feeder threads started */
    int depth;                               /* the queues' bound now */
    int max_depth;                           /* the largest bound in effect so far */
    int max_queued[LM_PIPE_MAX_STAGES];      /* most requests a queue held at once */
    double cost_us[LM_PIPE_MAX_STAGES];      /* each position's cost estimate */
    uint64_t completed, canceled, failovers; /* requests that ended each way */
} lm_pipe_stats;

/* Stops @m's pipeline, if it has one: requests that have started run to
 * their end, those still waiting for the first stage end LOOM_ERR_CANCELED,
 * and the feeders are joined. loom_model_destroy() calls it before anything
 * else goes. */
void lm_pipeline_stop(loom_model *m);

/* Fills @st from @m's pipeline; all zero when it has none. */
void lm_pipeline_stats(loom_model *m, lm_pipe_stats *st);

#endif
