/*
 * op.h - what an operator means to libloom: its definition (lm_op_def) and the
 * contract between the executor and the function that implements it on the
 * host.
 *
 * Backends provide the definitions (backend.h); core looks them up by
 * (domain, op_type) at load and uses them for shape and type inference when
 * planning, for every device alike. A definition's function is one per ONNX
 * operator. It is called with the node's
 * concrete input tensors and does three things, in this order:
 *
 *   1. validate inputs and attributes, failing with lm_kfail() naming the rule;
 *   2. compute each output's dtype and shape and get it from lm_kout();
 *   3. unless k->dry, compute the output data.
 *
 * The planner calls every kernel once with k->dry set ("dry pass") to learn the
 * shapes of every value for a given set of input shapes: in that pass input
 * tensors have shapes but their data is NULL unless the value is a constant
 * (initializer, folded, or output of Shape/Size). A kernel whose output shape
 * depends on an input's values calls lm_kneed_data() first: in the dry pass that
 * returns LM_DEFER when the data is unknown, and the kernel returns it as is.
 *
 * Kernels never keep pointers to tensors after they return, allocate scratch
 * memory only through lm_kscratch(), and split heavy loops with lm_parallel_for().
 */
#ifndef LOOM_CORE_OP_H
#define LOOM_CORE_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "tensor.h"

/* Internal status: "output shape depends on data that the dry pass lacks". */
#define LM_DEFER ((loom_status)100)

/* What a kernel returns when lm_kout() gave NULL (the message is already set). */
#define LM_KOUT_FAILED LOOM_ERR_NO_MEMORY

typedef struct lm_kctx lm_kctx;
typedef loom_status (*lm_kernel_fn)(lm_kctx *k);

typedef struct lm_op_def {
    const char *domain;  /* "" for ai.onnx, "com.microsoft" etc. */
    const char *op_type; /* "Conv" */
    lm_kernel_fn run;
    /*
     * (optional) Work done once per plan instead of once per run. Called
     * once the plan's steps have their devices, for a step given to a
     * host-kernel device only (a segment device compiles its own form), with
     * k->dry set, the node's inputs shaped as at run time and constant
     * inputs' data present. It may set k->prepared
     * to state that every later run of the node sees in k->prepared
     * (read-only: runs are concurrent), and that free_prepared releases with
     * the plan. Keep that state small (geometry, the algorithm chosen for
     * the shape): weights it packs come from lm_kweights(), so that every
     * plan and every model with the same weights shares one copy. A state
     * that is nothing but such weights may be the lm_kweights() data itself,
     * with free_prepared NULL: the plan's reference keeps it. Returning an
     * error fails planning.
     */
    lm_kernel_fn prepare;
    void (*free_prepared)(void *state);
    unsigned flags; /* LM_OP_* */
} lm_op_def;

/* The definition infers shapes and types only: no host implementation, so
 * only a device whose supports() claims the node can run it (a custom op of
 * one accelerator). A run on the host fails naming the node. */
#define LM_OP_INFER_ONLY 4u

/* The kernel applies the activation a fusion pass records in the node's
 * _loom_act (string), _loom_alpha and _loom_beta (float) attributes. */
#define LM_OP_FUSES_ACTIVATION 1u
/* When the kernel succeeds it has stored every element of every output it
 * declared, so the executor hands it arena memory without zeroing it first
 * (a pass over each output, 5-9% of a CNN's run). Without the flag outputs
 * start zeroed, which some kernels rely on. */
#define LM_OP_WRITES_OUTPUTS 2u

/* Table entries: LM_OP("", "Relu", op_relu), ..., LM_OP_END. */
#define LM_OP(domain_, op_type_, run_)                                                             \
    {                                                                                              \
        .domain = (domain_), .op_type = (op_type_), .run = (run_)                                  \
    }
/* The same for a kernel that stores every element of its outputs. */
#define LM_OP_FULL(domain_, op_type_, run_)                                                        \
    {                                                                                              \
        .domain = (domain_), .op_type = (op_type_), .run = (run_), .flags = LM_OP_WRITES_OUTPUTS   \
    }
#define LM_OP_END                                                                                  \
    {                                                                                              \
        .op_type = NULL                                                                            \
    }

struct lm_scratch_block;
struct lm_threadpool;
struct lm_prep_env;

struct lm_kctx {
    const lm_node *node;
    int n_in, n_out;
    loom_tensor *const *in; /* in[i] == NULL: optional input absent or i >= n_in */
    loom_tensor **out;      /* filled by lm_kout() */
    bool dry;
    void *prepared; /* see lm_op_def.prepare; NULL when the op has none */
    struct lm_threadpool *pool;
    struct lm_scratch_block *scratch;
    struct lm_run_state *run; /* executor state; NULL while planning */
    struct lm_prep_env *prep; /* set while a prepare hook runs (core/prepared.h) */
    loom_status kout_status;  /* why lm_kout() last returned NULL */
};

/* Input @i or NULL when absent (also for i >= n_in). */
static inline const loom_tensor *lm_kin(const lm_kctx *k, int i)
{
    return i < k->n_in ? k->in[i] : NULL;
}

/*
 * Declares output @i with @dtype and shape. Returns the tensor (data allocated
 * and zeroed unless dry) or NULL with the error set (too large, bad dims); the
 * kernel then returns LM_KOUT_FAILED. Must be called exactly once per output;
 * k->node->out[i] < 0 tells that the graph ignores output i.
 */
loom_tensor *lm_kout(lm_kctx *k, int i, loom_dtype dtype, int rank, const int64_t *dims);

/* Same, with the shape of @like. */
loom_tensor *lm_kout_like(lm_kctx *k, int i, loom_dtype dtype, const loom_tensor *like);

/* LOOM_OK if input @i is present and has data; LM_DEFER in a dry pass without it;
 * an error if the input is absent. */
loom_status lm_kneed_data(lm_kctx *k, int i);

/* Fails the node: sets "node 'NAME' (OP): <message>" and returns @status. */
loom_status lm_kfail(lm_kctx *k, loom_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Shorthands for the two common failures. */
#define lm_kinvalid(k, ...)     lm_kfail((k), LOOM_ERR_INVALID_MODEL, __VA_ARGS__)
#define lm_kunsupported(k, ...) lm_kfail((k), LOOM_ERR_UNSUPPORTED, __VA_ARGS__)

/* Checks that the node has between @min and @max inputs present-or-absent, and
 * that required inputs 0..@min-1 are present. Fails naming the count. */
loom_status lm_kcheck_arity(lm_kctx *k, int min_in, int max_in);

/* Scratch memory valid until the kernel returns; NULL (error set) on failure. */
void *lm_kscratch(lm_kctx *k, size_t bytes);

/*
 * Prepared weights (core/prepared.c), for prepare hooks. The state that
 * build(k, arg, &data, &bytes) makes from the constant inputs @in[0..@n_in-1]
 * (1 to 4 of them) is built once in the process per (the step's device,
 * build, @layout, content of those inputs) and shared by every plan asking
 * for the same key:
 * each shape of the model and every model with identical weights. @layout
 * names whatever else the packing depends on -- attributes such as transB
 * or group, and the algorithm chosen for the planned shape (a Winograd tile
 * picked by output size) -- which is what makes a shape-dependent layout
 * safe to share. The plan holds a reference until it is freed, so *@data
 * stays valid for as long as k->prepared. Build may set *data to NULL (and
 * return LOOM_OK) when it has nothing to pack; *@data is then NULL.
 * free_fn(data) frees it after the last plan using it is gone.
 */
typedef loom_status (*lm_kweights_build_fn)(lm_kctx *k, void *arg, void **data, size_t *bytes);
typedef void (*lm_kweights_free_fn)(void *data);
loom_status lm_kweights(lm_kctx *k, const int *in, int n_in, uint64_t layout,
                        lm_kweights_build_fn build, lm_kweights_free_fn free_fn, void *arg,
                        const void **data);

/* Attributes: core's lm_node_attr_*(k->node, ...) (core/graph.h), the same
 * reads every backend makes. */

/* Opset version of the node's domain (e.g. 13); kernels branch on it for
 * attribute-to-input migrations (Split, Squeeze, ReduceSum...). */
static inline int lm_kopset(const lm_kctx *k)
{
    return k->node->opset;
}

/*
 * Runs fn(arg, begin, end) over [0, n) split into chunks across the pool's
 * threads; @cost_per_item (rough ns) lets small loops stay on one thread.
 * Returns once every chunk has finished. fn must be thread-safe across chunks.
 */
typedef void (*lm_range_fn)(void *arg, int64_t begin, int64_t end);
void lm_parallel_for(lm_kctx *k, int64_t n, double cost_per_item, lm_range_fn fn, void *arg);

/* Normalizes a possibly negative @axis against @rank; fails the node if out of range. */
loom_status lm_kaxis(lm_kctx *k, int64_t axis, int rank, int *out);

/*
 * The definition of (@domain, @op_type) among those the backends provide
 * (backend.h), preferring one with a host implementation; NULL if none. The
 * default domain may be spelled "" or "ai.onnx".
 */
const lm_op_def *lm_op_find(const char *domain, const char *op_type);

/* Adds @table (ending with LM_OP_END, static storage) to the definitions
 * lm_op_find() searches after the backends': custom ops a device brings
 * when it is discovered, and tests' own. */
loom_status lm_op_tables_add(const lm_op_def *table);

#endif
