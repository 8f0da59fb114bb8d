/* run.c - executes a plan: binds inputs, runs each step's kernel, hands back outputs. */
#include <stdlib.h>
#include <string.h>

#include "../cpu/exec.h"
#include "../cpu/kernel.h"
#include "error.h"
#include "model.h"

loom_status lm_exec_alloc_output(lm_kctx *k, int i, loom_tensor *t)
{
    (void)k;
    (void)i;
    return lm_tensor_alloc_data(t);
}

loom_status lm_run_node(const lm_node *node, loom_tensor *const *in, loom_tensor **out, bool dry,
                        void *prepared, struct lm_threadpool *pool)
{
    lm_kctx k = {
        .node = node,
        .n_in = node->n_in,
        .n_out = node->n_out,
        .in = in,
        .out = out,
        .dry = dry,
        .prepared = prepared,
        .pool = pool,
    };
    loom_status s = node->op->run(&k);
    lm_kctx_release_scratch(&k);
    if (s == LOOM_OK) {
        for (int o = 0; o < node->n_out; o++)
            if (node->out[o] >= 0 && !out[o])
                return lm_error(LOOM_ERR_RUNTIME, "node '%s' (%s): kernel produced no output %d",
                                node->name, node->op_type, o);
    }
    return s;
}

loom_status lm_prepare_node(const lm_node *node, loom_tensor *const *in, void **state,
                            struct lm_threadpool *pool)
{
    *state = NULL;
    if (!node->op->prepare)
        return LOOM_OK;
    loom_tensor *out[node->n_out + 1];
    memset(out, 0, sizeof(loom_tensor *) * (size_t)(node->n_out + 1));
    lm_kctx k = {
        .node = node,
        .n_in = node->n_in,
        .n_out = node->n_out,
        .in = in,
        .out = out,
        .dry = true,
        .pool = pool,
    };
    loom_status s = node->op->prepare(&k);
    lm_kctx_release_scratch(&k);
    for (int o = 0; o < node->n_out; o++)
        loom_tensor_destroy(out[o]);
    if (s && k.prepared && node->op->free_prepared)
        node->op->free_prepared(k.prepared);
    else
        *state = k.prepared;
    return s;
}

static loom_status check_inputs(const loom_model *m, loom_tensor *const *inputs)
{
    char got[128], want[128];
    for (int i = 0; i < m->g->n_inputs; i++) {
        const lm_value *v = &m->g->values[m->g->inputs[i]];
        const loom_tensor *t = inputs[i];
        if (!t || !t->data)
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "input '%s' is NULL", v->name);
        if (t->dtype != v->dtype)
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "input '%s' is %s, the model expects %s",
                            v->name, loom_dtype_name(t->dtype), loom_dtype_name(v->dtype));
        bool ok = t->rank == v->rank;
        for (int d = 0; ok && d < v->rank; d++)
            ok = v->dims[d] < 0 || v->dims[d] == t->dims[d];
        if (!ok)
            return lm_error(LOOM_ERR_SHAPE, "input '%s' has shape %s, the model expects %s",
                            v->name, lm_dims_str(t->rank, t->dims, got, sizeof(got)),
                            lm_dims_str(v->rank, v->dims, want, sizeof(want)));
    }
    return LOOM_OK;
}

/* Runs the plan's steps; @val holds every value's tensor, @owned marks ours. */
static loom_status run_steps(loom_model *m, const lm_plan *p, loom_tensor **val, bool *owned)
{
    const lm_graph *g = m->g;
    for (int step = 0; step < p->n_steps; step++) {
        const lm_node *n = &g->nodes[p->steps[step]];
        loom_tensor *in[n->n_in + 1];
        loom_tensor *out[n->n_out + 1];
        for (int i = 0; i < n->n_in; i++)
            in[i] = n->in[i] >= 0 ? val[n->in[i]] : NULL;
        memset(out, 0, sizeof(loom_tensor *) * (size_t)(n->n_out + 1));
        loom_status s = lm_run_node(n, in, out, false, p->prepared[step], m->ctx->pool);
        for (int o = 0; o < n->n_out; o++) {
            int v = n->out[o];
            if (s || v < 0) {
                loom_tensor_destroy(out[o]);
                continue;
            }
            val[v] = out[o];
            owned[v] = true;
        }
        if (s)
            return s;
        /* Free what no later step reads. */
        for (int i = 0; i < n->n_in; i++) {
            int v = n->in[i];
            if (v >= 0 && owned[v] && p->last_use[v] == step && !g->values[v].is_output) {
                loom_tensor_destroy(val[v]);
                val[v] = NULL;
                owned[v] = false;
            }
        }
    }
    return LOOM_OK;
}

loom_status loom_model_run(loom_model *m, loom_tensor *const *inputs, size_t n_inputs,
                           loom_tensor **outputs, size_t n_outputs)
{
    if (!m || (n_inputs && !inputs) || (n_outputs && !outputs))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_run: NULL argument");
    for (size_t i = 0; i < n_outputs; i++)
        outputs[i] = NULL;
    const lm_graph *g = m->g;
    if (n_inputs != (size_t)g->n_inputs || n_outputs != (size_t)g->n_outputs)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "%s: called with %zu inputs and %zu outputs, the model has %d and %d",
                        m->name, n_inputs, n_outputs, g->n_inputs, g->n_outputs);
    loom_status s = check_inputs(m, inputs);
    if (s) {
        lm_error_prefix("%s", m->name);
        return s;
    }
    lm_plan *p;
    bool cached;
    if ((s = lm_plan_get(m, inputs, &p, &cached))) {
        lm_error_prefix("%s", m->name);
        return s;
    }
    loom_tensor **val = calloc((size_t)g->n_values + 1, sizeof(loom_tensor *));
    bool *owned = calloc((size_t)g->n_values + 1, sizeof(bool));
    if (!val || !owned) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int v = 0; v < g->n_values; v++)
        val[v] = p->constant[v];
    for (int i = 0; i < g->n_inputs; i++)
        val[g->inputs[i]] = inputs[i];
    if ((s = run_steps(m, p, val, owned)))
        goto out;
    for (int o = 0; o < g->n_outputs; o++) {
        int v = g->outputs[o];
        if (owned[v]) { /* moved; an output listed twice is cloned the second time */
            outputs[o] = val[v];
            owned[v] = false;
        } else if (val[v]) {
            if (!(outputs[o] = lm_tensor_clone(val[v]))) {
                s = LOOM_ERR_NO_MEMORY;
                goto out;
            }
        } else {
            s = lm_error(LOOM_ERR_RUNTIME, "output '%s' was not computed", g->values[v].name);
            goto out;
        }
    }
out:
    if (s) {
        for (size_t o = 0; o < n_outputs; o++) {
            /* outputs moved out of val were unowned there: free them here */
            loom_tensor_destroy(outputs[o]);
            outputs[o] = NULL;
        }
        lm_error_prefix("%s", m->name);
    }
    if (val && owned)
        for (int v = 0; v < g->n_values; v++)
            if (owned[v])
                loom_tensor_destroy(val[v]);
    free(val);
    free(owned);
    if (!cached)
        lm_plan_free(g, p);
    return s;
}
