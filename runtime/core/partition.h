/*
 * partition.h - which device runs each step of a plan: the partitioning
 * problem of the heterogeneous planner, stated exactly, and its solvers.
 *
 * A pure module: it reads a cost table and returns an assignment. It knows
 * nothing of graphs, backends or measurement; the planner fills the table.
 *
 * THE PROBLEM
 *
 * Steps 0..n-1 in a topological order, the plan's execution order. Devices
 * 0..m-1 (m <= LM_PART_MAX_DEVICES); one of them, @host, is the CPU, where
 * graph inputs and constants live and where graph outputs must end.
 * An assignment gives each step i a device a[i].
 *
 * Values: each is produced by one step (or by none: a graph input or
 * constant, on the host) and read by a list of later steps. A value that is
 * a graph output must also reach the host. Weights a device keeps resident
 * are not values: they belong in mem_need.
 *
 * Feasible: a[i] is not excluded, equals pin[i] where a step is pinned,
 * cost[i][a[i]] >= 0 (negative: that device cannot run the step), and for
 * every device d with mem_capacity[d] > 0, the sum of mem_need[i] over the
 * steps on d is at most mem_capacity[d].
 *
 * All costs are rounded once per term to whole nanoseconds and added as
 * integers, so every solver, the brute-force checker of the tests and
 * lm_part_evaluate() compute the same numbers whatever order they add in.
 * A term is: a step cost cost[i][d]; a launch launch[d]; one hop of one value
 * from a to b, latency[a][b] + bytes / bandwidth[a][b] (µs; bandwidth in
 * bytes per µs).
 *
 * Transfers: a value produced on device a is needed on the set D of devices
 * of its readers, plus the host if it is a graph output. It is copied once
 * per device of D other than a. Every copy goes through the host: a -> host
 * is one hop (paid once per value, then the host copy serves every other
 * device), host -> b is one hop, so a -> b between two devices that are not
 * the host costs the two hops. Entries latency[a][b] and bandwidth[a][b]
 * with neither a nor b the host are not read (no peer-to-peer links yet).
 *
 * Segments: maximal runs of consecutive steps (in the given order) on one
 * device. Each pays launch[d] once.
 *
 * Load of device d: its step costs + its launches + the hops arriving at d
 * (a -> host hops load the host).
 *
 * Objective LATENCY (batch 1, steps run one after another in the given
 * order): minimise total = sum of step costs + hops + launches.
 * Objective THROUGHPUT (pipelined serving, each device a stage): minimise
 * the bottleneck = max over devices of its load; among equal bottlenecks,
 * the smaller total.
 *
 * Ties: among assignments of equal objective, the one that comes first when
 * assignments are compared step 0 first, a device ranking before another if
 * it comes earlier in @priority (NULL: lower index first). The exact solvers
 * return exactly that assignment, so a table has one answer.
 *
 * THE SOLVERS (lm_part_result says which ran and whether it is exact)
 *
 * LATENCY, exact: dynamic programming over the order (partition_dp.c). The
 * state at each cut is the previous step's device, the set of devices each
 * value live across the cut is on, and the memory used on each device whose
 * capacity can bind; states dominated by another (same locations, no more
 * memory, cheaper or as cheap and earlier in tie order) are dropped. Its
 * size is exponential only in the cut width (a chain of residual blocks has
 * width 1-2) and, under memory limits, in the memory front. Memory limits
 * are first relaxed (partition_repair.c): if the optimum without them fits,
 * it is the optimum with them. The DP stops at max_states states.
 * LATENCY, fallback (LM_PART_ALG_HEFT, not exact): the best, each improved
 * by local moves of single steps and whole segments under the exact
 * objective (partition_improve.c), of HEFT list scheduling
 * (partition_heft.c; memory-aware, with worst-fit packing by memory where
 * it runs a device out, partition_pack.c), every single-device assignment,
 * and under memory limits the relaxed optimum repaired and a Lagrangian
 * pricing of memory (partition_lagrange.c). Never worse than the best
 * single-device assignment.
 * THROUGHPUT, exact: branch and bound over assignments (partition_bnb.c)
 * seeded with the latency answer, exact when it finishes within max_nodes
 * (in practice up to about a dozen steps on three devices).
 * THROUGHPUT, fallback (LM_PART_ALG_STAGES, not exact): the best of what
 * branch and bound found, contiguous pipeline stages (partition_stages.c: a
 * DP over cut points and device sets, each device one stage; up to 6
 * devices) and every single-device assignment, then local improvement.
 *
 * No threshold on segment size anywhere: a short segment appears only where
 * its saving exceeds its launch and transfers.
 */
#ifndef LOOM_CORE_PARTITION_H
#define LOOM_CORE_PARTITION_H

#include <stdint.h>

#include "loom/loom.h"

#define LM_PART_MAX_DEVICES 8

typedef enum lm_part_objective {
    LM_PART_LATENCY = 0,
    LM_PART_THROUGHPUT,
} lm_part_objective;

typedef enum lm_part_algorithm {
    LM_PART_ALG_DP = 0,  /* exact latency dynamic programme */
    LM_PART_ALG_HEFT,    /* latency fallback: HEFT and other candidates, improved */
    LM_PART_ALG_BNB,     /* exact throughput branch and bound */
    LM_PART_ALG_STAGES,  /* throughput fallback: stages and other candidates, improved */
    LM_PART_ALG_TRIVIAL, /* no steps */
} lm_part_algorithm;

typedef struct lm_part_value {
    int producer;         /* step index, or -1: a graph input or constant on the host */
    uint64_t bytes;       /* size of the value */
    int n_consumers;      /* number of entries in @consumers */
    const int *consumers; /* steps that read it, each > producer; repeats allowed */
    int is_output;        /* nonzero: a graph output, must reach the host */
} lm_part_value;

typedef struct lm_part_problem {
    int n_steps;
    int n_devices;
    int host;                     /* the CPU's device index: inputs live there, outputs end there */
    const double *cost;           /* [n_steps * n_devices] µs of step i on d; < 0: cannot run */
    const int *pin;               /* [n_steps] the device step i must use, -1 free; NULL: none */
    const uint8_t *excluded;      /* [n_devices] nonzero: never run a step there; NULL: none */
    const int *priority;          /* [n_devices] device indices, first wins ties; NULL: 0..m-1 */
    int n_values;                 /* entries in @values */
    const lm_part_value *values;  /* data passed between steps */
    const double *latency;        /* [m * m] µs per hop a -> b (row a); NULL: 0 */
    const double *bandwidth;      /* [m * m] bytes per µs, > 0 where read; NULL: infinite */
    const double *launch;         /* [m] µs per segment; NULL: 0 */
    const uint64_t *mem_capacity; /* [m] bytes, 0: unlimited; NULL: all unlimited */
    const uint64_t *mem_need;     /* [n_steps] bytes a step keeps on its device; NULL: 0 */
    const char *const *step_names; /* [n_steps] for messages; NULL: "step i" */
    const char *const *dev_names;  /* [n_devices] for messages; NULL: "device d" */
} lm_part_problem;

typedef struct lm_part_options {
    lm_part_objective objective;
    long max_states; /* DP states over all cuts before the fallback; 0: 1 << 20 */
    long max_nodes;  /* branch-and-bound nodes before the fallback; 0: 1 << 21 */
} lm_part_options;

/* An assignment's figures, in nanoseconds (see "rounded" above). */
typedef struct lm_part_eval {
    int64_t total_ns;      /* the latency objective */
    int64_t bottleneck_ns; /* the throughput objective: max of load_ns */
    int64_t load_ns[LM_PART_MAX_DEVICES];
    int64_t step_ns, hop_ns, launch_ns; /* total = their sum */
    int segments, hops;
} lm_part_eval;

typedef struct lm_part_result {
    lm_part_eval eval;           /* lm_part_evaluate() of the assignment */
    lm_part_algorithm algorithm; /* which solver produced it */
    int exact;                   /* nonzero: optimal, with the tie rule above */
    long work;                   /* DP states or B&B nodes visited (for reports) */
} lm_part_result;

/*
 * Chooses a device for every step: @device[n_steps] receives the assignment.
 * @opt NULL: LATENCY with default budgets. Errors: LOOM_ERR_INVALID_ARGUMENT
 * for a malformed problem or a rule that cannot hold (a pin to an excluded
 * device, to a device that cannot run the step); LOOM_ERR_UNSUPPORTED when no
 * allowed device can run a step; LOOM_ERR_NO_MEMORY when the memory limits
 * leave no assignment (the heuristic fallback may also fail to find one that
 * exists). The message names the step and the device or rule.
 */
loom_status lm_partition(const lm_part_problem *p, const lm_part_options *opt, int *device,
                         lm_part_result *res);

/* The objective function itself: checks @device is feasible (an error names
 * the step and the rule it breaks) and fills @ev. */
loom_status lm_part_evaluate(const lm_part_problem *p, const int *device, lm_part_eval *ev);

/* < 0 if @a is better than @b for @obj, 0 if equal, > 0 if worse. */
int lm_part_compare(lm_part_objective obj, const lm_part_eval *a, const lm_part_eval *b);

/* "dp", "heft", "bnb", "stages", "trivial". */
const char *lm_part_algorithm_name(lm_part_algorithm alg);

#endif
