/* kctx.c - the services kernel.h promises kernels: outputs, attributes, scratch, errors. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "exec.h"
#include "op.h"
#include "threadpool.h"

struct lm_scratch_block {
    struct lm_scratch_block *next;
    max_align_t data[];
};

loom_status lm_kfail(lm_kctx *k, loom_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    loom_status s = lm_node_verror(k->node, status, fmt, ap);
    va_end(ap);
    return s;
}

/* Shape and Size produce data from shapes alone: the dry pass computes them so
 * the planner can fold the shape arithmetic that follows. */
static bool computes_in_dry_pass(const lm_node *n)
{
    return n->domain[0] == '\0' &&
           (strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0);
}

loom_tensor *lm_kout(lm_kctx *k, int i, loom_dtype dtype, int rank, const int64_t *dims)
{
    if (i < 0 || i >= k->n_out) {
        lm_kfail(k, LOOM_ERR_INVALID_MODEL, "output %d requested but the node has %d outputs", i,
                 k->n_out);
        return NULL;
    }
    if (k->out[i]) {
        lm_kfail(k, LOOM_ERR_RUNTIME, "kernel declared output %d twice", i);
        return NULL;
    }
    loom_tensor *t = lm_exec_output_header(k, i);
    if (!t) {
        lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    loom_status s = lm_tensor_init_shape(t, dtype, rank, dims);
    if (!s && (!k->dry || computes_in_dry_pass(k->node)))
        s = lm_exec_alloc_output(k, i, t);
    if (s) {
        if (!t->pooled)
            free(t);
        k->kout_status = s;
        lm_error_prefix("node '%s' (%s): output %d", k->node->name, k->node->op_type, i);
        return NULL;
    }
    k->out[i] = t;
    return t;
}

loom_tensor *lm_kout_like(lm_kctx *k, int i, loom_dtype dtype, const loom_tensor *like)
{
    return lm_kout(k, i, dtype, like->rank, like->dims);
}

loom_status lm_kneed_data(lm_kctx *k, int i)
{
    const loom_tensor *t = lm_kin(k, i);
    if (!t)
        return lm_kinvalid(k, "input %d is required", i);
    if (!t->data)
        return k->dry ? LM_DEFER
                      : lm_kfail(k, LOOM_ERR_RUNTIME, "input %d has no data at run time", i);
    return LOOM_OK;
}

loom_status lm_kcheck_arity(lm_kctx *k, int min_in, int max_in)
{
    if (k->n_in < min_in || k->n_in > max_in) {
        if (min_in == max_in)
            return lm_kinvalid(k, "has %d inputs, expected %d", k->n_in, min_in);
        return lm_kinvalid(k, "has %d inputs, expected %d to %d", k->n_in, min_in, max_in);
    }
    for (int i = 0; i < min_in; i++)
        if (!k->in[i])
            return lm_kinvalid(k, "required input %d is missing", i);
    return LOOM_OK;
}

void *lm_kscratch(lm_kctx *k, size_t bytes)
{
    if (bytes > LM_MAX_TENSOR_BYTES) {
        lm_kfail(k, LOOM_ERR_NO_MEMORY, "scratch of %zu bytes exceeds the limit", bytes);
        return NULL;
    }
    void *fast = lm_exec_scratch(k, bytes);
    if (fast)
        return fast;
    struct lm_scratch_block *b = malloc(sizeof(*b) + bytes);
    if (!b) {
        lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory for %zu bytes of scratch", bytes);
        return NULL;
    }
    b->next = k->scratch;
    k->scratch = b;
    return b->data;
}

void lm_kctx_release_scratch(lm_kctx *k)
{
    while (k->scratch) {
        struct lm_scratch_block *next = k->scratch->next;
        free(k->scratch);
        k->scratch = next;
    }
}

loom_status lm_kaxis(lm_kctx *k, int64_t axis, int rank, int *out)
{
    if (axis < -(int64_t)rank || axis >= (int64_t)(rank ? rank : 1))
        return lm_kinvalid(k, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return LOOM_OK;
}

void lm_parallel_for(lm_kctx *k, int64_t n, double cost_per_item, lm_range_fn fn, void *arg)
{
    /* Below ~20 us of work a chunk is not worth waking a thread for. */
    double c = cost_per_item > 0 ? cost_per_item : 1;
    int64_t grain = (int64_t)ceil(20000.0 / c);
    lm_threadpool_run(k->pool, n, grain, fn, arg);
}
