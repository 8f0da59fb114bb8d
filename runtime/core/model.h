/* model.h - loom_context and loom_model internals shared by load, plan and run. */
#ifndef LOOM_CORE_MODEL_H
#define LOOM_CORE_MODEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "constshare.h"
#include "devstats.h"
#include "fuse.h"
#include "graph.h"
#include "latency.h"
#include "partition.h"
#include "policy.h"
#include "prepared.h"
#include "registry.h"
#include "spare.h"

struct lm_threadpool;

/*
 * A context is a selection from the process's devices (registry.h) with the
 * options its models run under. The devices and the worker pool are shared
 * with every other context of the process.
 */
struct loom_context {
    int num_threads;
    struct lm_threadpool *pool; /* shared (lm_threadpool_acquire) */
    bool fail_closed;           /* the CPU was not added as a fallback */
    bool fp16_storage;          /* loom_context_options.fp16_storage */
    int n_devices;              /* selected devices, in priority order */
    struct lm_device *devices[LM_MAX_DEVICES];
    lm_policy policy;               /* objective and pin rules */
    bool cpu_fallback_only;         /* the CPU was added as fallback, not named: it runs only
                                     * the nodes no named device runs */
    struct lm_device *host;         /* the CPU device that runs host steps: "cpu" or "cpu:N" */
    int numa_node;                  /* the node its worker pool is bound to (or would be, in a
                                     * preview), -1 none: arenas go there, transfers priced from it */
    char pool_binding[96];          /* the pool's binding, in words (loomctl plan) */
    struct lm_device *probe_device; /* planned for even out of service: the
                                     * known-answer test's context (kat.c) */
};

/* A set of a context's devices: bit i stands for ctx->devices[i]. */
typedef uint32_t lm_devset;
_Static_assert(LM_MAX_DEVICES <= 32, "an lm_devset holds every device of a context");

/* @dev's bit in @ctx's device sets; 0 when @ctx did not select it. */
lm_devset lm_context_bit(const loom_context *ctx, const struct lm_device *dev);
/* The devices of @ctx that take work now (health.h), and the one its
 * known-answer test probes. */
lm_devset lm_context_usable(const loom_context *ctx);

/* Why a step went where it did, and what the cost model expects of it. */
typedef struct lm_step_note {
    double est_us;    /* the cost model's estimate on its device, < 0 unknown */
    char reason[160]; /* "card:0: 42.0 us, fastest (cpu 90.1 us)"; "cpu: Resize not supported on
                         card:0" */
} lm_step_note;

/* A run of consecutive plan steps given to one device. */
typedef struct lm_plan_segment {
    struct lm_device *dev;
    int first, last; /* steps */
    int n_in, n_out;
    int *in, *out;   /* boundary values */
    void *state;     /* the device's compiled segment; NULL on a host-kernel device */
    double est_us;   /* the cost model's estimate of a run, < 0 unknown */
    lm_latency *lat; /* a device segment's measured runs, for its deadline (deadline.h) */
    int join;        /* the first later segment reading its outputs; n_segments: none */
    int issue_at;    /* the segment before which it is issued: the one after the
                      * last segment feeding it (itself, or earlier: hoisted) */
    bool detach;     /* a device segment issued without waiting: segments from
                      * issue_at to its join do not depend on it and run
                      * meanwhile (run.c) */
} lm_plan_segment;

/*
 * A plan is the graph specialised to one set of input shapes: every value's
 * shape, the values that fold to constants for those shapes, the nodes left
 * to run and the device segments they form. Plans are immutable once built
 * and shared by concurrent runs; each run holds a reference (plancache.c).
 */
typedef struct lm_plan {
    struct lm_plan *next;
    atomic_int refs;     /* the model's cache (while cached) and each run using it */
    uint64_t generation; /* the model's plan generation it belongs to */
    int n_sig;
    int64_t *sig;           /* rank and dims of each input, concatenated */
    loom_tensor **constant; /* per value: folded or initializer data, else NULL */
    bool *owns_constant;    /* per value: constant[v] was folded by this plan */
    int n_steps;
    int *steps;            /* node indices to run, in order */
    int *last_use;         /* per value: last step reading it, -1 if none */
    void **prepared;       /* per step: the kernel's lm_op_def.prepare state, or NULL */
    lm_wrefs weights;      /* shared packed weights the prepared states point into */
    lm_wrefs devconsts;    /* shared device copies of constants its segments use */
    int64_t *arena_offset; /* per value: byte offset in a run's arena, -1 if on the heap */
    size_t arena_bytes;    /* arena size; intermediates whose shape was known at planning */
    int arena_node;        /* the NUMA node runs' arenas are bound to (the context's), -1 none */
    loom_tensor *shapes;   /* per value: dtype and shape from planning (data NULL) */
    bool *shape_known;     /* per value: shapes[v] is valid */
    int n_segments;        /* every step belongs to one */
    lm_plan_segment *segments;
    bool issues_ahead;                /* some segment is issued before its place (issue_at) */
    int *segment_at;                  /* per step: the segment starting there, or -1 */
    lm_step_note *notes;              /* per step: estimate and placement reason */
    lm_part_result placement;         /* the planner's solver, its figures and exactness */
    pthread_mutex_t states_lock;      /* protects free_states */
    struct lm_run_state *free_states; /* idle run states, reused by the next runs */
    atomic_int n_states;              /* run states it holds now (busy and idle) */
    uint64_t idle_since_ns;           /* when a run last gave a state back; under states_lock */
    int n_values;                     /* the graph's, for lm_plan_charge */
    size_t meta_bytes;                /* the plan's own tables (lm_plan_charge) */
    lm_devset usable;                 /* the devices it was planned with (best among them) */
    lm_devset uses;                   /* those its segments run on */
    atomic_int runs;                  /* runs that started on it (lm_plan_ran) */
} lm_plan;

/* What a cached plan costs its model's budget: its tables and one arena per
 * run state it holds (idle ones stay with it for the next runs), at least one. */
size_t lm_plan_charge(const lm_plan *p);

/* Frees @p's idle run states (their arenas), and has its device segments
 * free their working buffers (lm_device_ops.trim), when no run has given a
 * state back for @idle_ns up to @now; returns the arena bytes freed. */
size_t lm_plan_release_idle(lm_plan *p, uint64_t now, uint64_t idle_ns);

struct lm_run_state;

/* The plan cache's default byte budget per model (loom_model_set_plan_cache_bytes,
 * LOOM_PLAN_CACHE_MB): past it the least recently used plans leave the cache. */
#define LM_DEFAULT_PLAN_CACHE_BYTES ((size_t)128 << 20)

/* Planning counters of a model; under plans_lock. */
typedef struct lm_plan_counters {
    uint64_t built, evicted;
    uint64_t spares; /* plans made ahead and cached (spare.c), not in built */
    double ms_total, ms_last, ms_max;
} lm_plan_counters;

struct lm_plan_pending;

struct loom_model {
    loom_context *ctx;
    char *name;
    lm_graph *g;
    pthread_mutex_t plans_lock; /* protects plans, n_plans, pending, generation, counters */
    pthread_cond_t plan_built;  /* broadcast when a pending plan is done */
    lm_plan *plans;             /* of the current generation, most recently used first */
    int n_plans;
    size_t plan_budget; /* bytes the cached plans may be charged (lm_plan_charge) */
    lm_plan_counters counters;
    struct lm_plan_pending *pending; /* shapes being planned now, outside the lock */
    uint64_t generation;
    uint64_t health_epoch;         /* lm_health_epoch() when usable_seen was taken */
    uint64_t idle_swept_ns;        /* when lm_plan_get last looked for idle plans */
    uint64_t arena_bytes_released; /* idle arenas given back (loom_model_stats) */
    lm_devset usable_seen;         /* the usable devices then (lm_context_usable) */
    lm_spares spares;              /* plans being made ahead, for when a device leaves */
    lm_fuse_stats fused;
    uint64_t *hash_memo;         /* per value: content hash of its constant, 0 until needed */
    lm_const_refs shared_consts; /* large constants whose bytes other models may share */
    pthread_mutex_t pipe_lock;   /* protects pipe's creation (pipeline.c) */
    struct lm_pipeline *pipe;    /* loom_model_submit()'s stages, made on first use */
};

/* The plan for @inputs, with a reference for the caller (lm_plan_put()):
 * cached, or built outside the model's lock, so runs of cached shapes never
 * wait for a plan or a device compile. Concurrent first runs of one shape
 * plan it once. */
loom_status lm_plan_get(loom_model *m, loom_tensor *const *inputs, lm_plan **out);
void lm_plan_put(loom_model *m, lm_plan *p);
/* Starts a new plan generation: cached plans leave the cache (runs holding
 * them finish on them), and the next run of each shape plans again, against
 * the devices as they are now. */
void lm_model_new_generation(loom_model *m);
/* Frees every cached plan; the model is going. */
void lm_plan_cache_free(loom_model *m);

/* Builds the plan for @inputs on the devices of @usable (plan.c); *@out has
 * one reference. Shape passes and weight packing use @pool (NULL: the
 * calling thread alone). */
loom_status lm_plan_build(loom_model *m, loom_tensor *const *inputs, lm_devset usable,
                          struct lm_threadpool *pool, lm_plan **out);
/* A run of @inputs starts on @p: its second makes @p's replacement plans
 * ahead (spare.c). */
void lm_plan_ran(loom_model *m, loom_tensor *const *inputs, lm_plan *p);
/* Caches @p, a plan for @inputs' shapes of generation @gen built ahead of
 * need, unless its generation has passed or a plan that serves its devices
 * is cached already; takes the caller's reference. */
void lm_plan_publish_spare(loom_model *m, loom_tensor *const *inputs, lm_plan *p, uint64_t gen);
/* Whether a plan for @inputs that serves the devices @usable is cached. */
bool lm_plan_cached(loom_model *m, loom_tensor *const *inputs, lm_devset usable);
void lm_plan_free(const lm_graph *g, lm_plan *p);
/* The signature of @inputs (rank and dims of each, concatenated): its length
 * and its values. */
int lm_plan_sig_len(const lm_graph *g, loom_tensor *const *inputs);
/* An input's entry ahead of its dims: its rank and its type (a subgraph's
 * input may take any type, and a plan is for one). */
static inline int64_t lm_plan_sig_head(const loom_tensor *t)
{
    return (int64_t)t->dtype << 32 | (uint32_t)t->rank;
}
void lm_plan_sig_fill(const lm_graph *g, loom_tensor *const *inputs, int64_t *sig);

/*
 * Everything one run needs besides the plan, kept between runs so that a run
 * in steady state allocates nothing: tensor headers, the value table, the
 * arena for intermediates and the kernels' scratch space.
 */
typedef struct lm_run_state {
    struct lm_run_state *next;
    const lm_plan *plan;
    const lm_graph *g;
    uint8_t *arena;
    loom_tensor *hdr;       /* per value: header reused for that value's tensor */
    loom_tensor **val;      /* per value: the tensor in use, or NULL */
    bool *owned;            /* per value: val[v] is this run's to free */
    loom_tensor **user_out; /* per value: caller's output tensor (run_into), or NULL */
    uint8_t *scratch;       /* kernels' scratch, reset after each kernel */
    size_t scratch_cap, scratch_used, scratch_demand;
    struct lm_event *done;        /* signalled by the device segment in flight */
    struct lm_inflight *inflight; /* per segment: a detached run until joined (run.c) */
    int n_inflight;               /* entries of inflight */
    uint64_t *step_ns;            /* profiling: per step, its time (a device segment's at its
                                     first step); NULL when not profiling */
} lm_run_state;

/* Whether @v is one of @list[0..@n-1]. */
static inline bool lm_is_listed(int v, const int *list, int n)
{
    for (int i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

/* Frees @rs's records of detached segments (run.c). */
void lm_run_state_free_inflight(lm_run_state *rs);

/* Whether some segment of @p runs on a segment device (not host kernels). */
bool lm_plan_uses_devices(const lm_plan *p);

/* Gives each step of @p one of the devices of @usable (@device[n_steps])
 * and writes p->notes and p->placement: the planner (place.c). */
loom_status lm_plan_place(lm_plan *p, const loom_context *ctx, const lm_graph *g,
                          loom_tensor *const *shape, lm_devset usable, struct lm_device **device);
/* Assigns steps to the devices of @usable and compiles their segments;
 * @hash_memo is the model's (lm_segment_desc). */
loom_status lm_plan_segments(lm_plan *p, const loom_context *ctx, const lm_graph *g,
                             loom_tensor *const *shape, lm_devset usable, uint64_t *hash_memo);
void lm_plan_free_segments(lm_plan *p);

/* Lays out the arena: @bytes[v] is the size of value v (0: unknown or not an
 * intermediate), @def[v] the step producing it, @shape[v] its planned shape
 * (or NULL). Sets p->arena_offset/bytes. */
loom_status lm_plan_arena(lm_plan *p, const lm_graph *g, const size_t *bytes, const int *def,
                          loom_tensor *const *shape);
/* An idle run state of @p, or a new one; NULL on allocation failure. */
lm_run_state *lm_run_state_get(lm_plan *p, const lm_graph *g);
/* Returns @rs to @p's idle list, for the next run of the plan. */
void lm_run_state_put(lm_plan *p, lm_run_state *rs);
void lm_run_state_free(lm_run_state *rs);

/* loom_model_run() that also times every step into @step_ns (n_steps of the
 * plan for these inputs; a device segment's time at its first step). */
loom_status lm_model_run_timed(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                               loom_tensor **outputs, size_t n_outputs, uint64_t *step_ns);

/* Sets up and runs one node's kernel; shared by planning (dry) and running. */
struct lm_threadpool;
loom_status lm_run_node(const lm_node *node, loom_tensor *const *in, loom_tensor **out, bool dry,
                        void *prepared, struct lm_threadpool *pool, lm_run_state *rs);

/* Calls the node's prepare hook (if any) on planning-time inputs; *@state gets
 * its result, @env->refs the shared weights it took. */
loom_status lm_prepare_node(const lm_node *node, loom_tensor *const *in, void **state,
                            struct lm_threadpool *pool, lm_prep_env *env);

#endif
