/*
 * partition_internal.h - the problem of partition.h prepared once for the
 * solvers: integer costs, per-step input and output lists, device ranks.
 */
#ifndef LOOM_CORE_PARTITION_INTERNAL_H
#define LOOM_CORE_PARTITION_INTERNAL_H

#include <stdint.h>

#include "partition.h"

typedef struct lm_pp {
    const lm_part_problem *p;
    int n, m, host, nv;
    int64_t *cost; /* [n * m] ns, -1: not allowed (unsupported, excluded, not the pin) */
    int64_t launch[LM_PART_MAX_DEVICES];
    int64_t *up, *down;     /* [nv * m] ns of a hop d -> host and host -> d (0 on the host) */
    int *in_off, *in_val;   /* CSR: the distinct values each step reads */
    int *out_off, *out_val; /* CSR: the values each step produces */
    int *last_use;          /* [nv] last step reading the value, -1: none */
    int rank[LM_PART_MAX_DEVICES];     /* position of a device in the priority order */
    int order[LM_PART_MAX_DEVICES];    /* devices in priority order */
    uint64_t cap[LM_PART_MAX_DEVICES]; /* 0: unlimited */
    uint64_t *need;                    /* [n] */
    int has_mem;                       /* some device has a capacity some step can touch */
} lm_pp;

/* Checks @p and builds @pp; lm_pp_free() releases it, prepared or not. */
loom_status lm_pp_init(lm_pp *pp, const lm_part_problem *p);
void lm_pp_free(lm_pp *pp);

/* Errors out, naming the step, if some step has no allowed device or a pin
 * breaks a rule, or a step fits in no allowed device's memory. */
loom_status lm_pp_precheck(const lm_pp *pp);

/* Names for messages. */
const char *lm_pp_step(const lm_pp *pp, int i, char *buf, int len);
const char *lm_pp_dev(const lm_pp *pp, int d, char *buf, int len);

/*
 * Makes value @v available on device @b given the set @loc of devices it is
 * already on, per the transfer rule of partition.h; returns the ns it costs
 * and adds them to @load (may be NULL) per arriving device and the hops to
 * @hops (may be NULL).
 */
static inline int64_t lm_pp_arrive(const lm_pp *pp, int v, unsigned *loc, int b, int64_t *load,
                                   int *hops)
{
    if (*loc & (1u << b))
        return 0;
    int64_t c = 0;
    int h = pp->host;
    if (!(*loc & (1u << h))) {
        int a = __builtin_ctz(*loc); /* without a host copy, only the producer holds it */
        int64_t up = pp->up[(int64_t)v * pp->m + a];
        c += up;
        if (load)
            load[h] += up;
        if (hops)
            (*hops)++;
        *loc |= 1u << h;
    }
    if (b != h) {
        int64_t down = pp->down[(int64_t)v * pp->m + b];
        c += down;
        if (load)
            load[b] += down;
        if (hops)
            (*hops)++;
        *loc |= 1u << b;
    }
    return c;
}

/* Evaluates a full assignment without checks beyond allowed/memory: returns
 * 0 and fills @ev, or -1 if infeasible. */
int lm_pp_eval(const lm_pp *pp, const int *a, lm_part_eval *ev);

/* Solvers. Each returns LOOM_OK with @a filled, or an error. */
/* Exact latency DP; LOOM_ERR_NO_MEMORY with no message if it passed
 * @max_states (the caller falls back), a named error if infeasible. */
loom_status lm_part_dp(const lm_pp *pp, long max_states, int *a, long *states, int *over);
/* HEFT-style list scheduling for latency, memory-aware greedy. */
loom_status lm_part_heft(const lm_pp *pp, int *a);
/* Memory-first placement (worst-fit decreasing) when list scheduling runs
 * out of memory. */
loom_status lm_part_pack(const lm_pp *pp, int *a);
/* The exact DP without the memory limits: 0 and @a, or -1 if too large. */
int lm_part_relaxed_dp(const lm_pp *pp, long max_states, int *a, long *states);
/* Memory limits priced per byte, the prices searched: 0 and the best
 * feasible @a seen, or -1. */
int lm_part_lagrange(const lm_pp *pp, long max_states, int *a);
/* Moves steps off over-full devices: 0 and a feasible @a, or -1. */
int lm_part_repair(const lm_pp *pp, int *a);
/* Exact throughput branch and bound from the feasible @seed; *over set if it
 * passed @max_nodes (then @a holds the best found). */
loom_status lm_part_bnb(const lm_pp *pp, const int *seed, long max_nodes, int *a, long *nodes,
                        int *over);
/* Contiguous pipeline stages for throughput; -1 if none is feasible. */
int lm_part_stages(const lm_pp *pp, int *a);
/* Single-step and whole-segment moves while they improve @obj; @a must be feasible. */
void lm_part_improve(const lm_pp *pp, lm_part_objective obj, int *a);
/* Replaces @a by the best feasible single-device assignment if that is
 * better (@have: @a holds a feasible one); returns whether @a holds one. */
int lm_part_try_single(const lm_pp *pp, lm_part_objective obj, int *a, int have);

#endif
