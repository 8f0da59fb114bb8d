/*
 * plan.c - specialises a model to a set of input shapes.
 *
 * Walks the sorted nodes once. A node whose inputs are all known constants is
 * run for real and its outputs become constants of the plan: this folds
 * initializer arithmetic and, because Shape and Size produce data in the dry
 * pass, the shape subgraphs that exporters emit around Reshape and Resize. Every
 * other node runs dry, which checks it and records its output shapes, and
 * becomes a step of the plan. A node whose shapes depend on data only known at
 * run time (LM_DEFER) is a step whose successors are checked at run time.
 */
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "device.h"
#include "error.h"
#include "model.h"

void lm_plan_free(const lm_graph *g, lm_plan *p)
{
    if (!p)
        return;
    if (p->constant)
        for (int v = 0; v < g->n_values; v++)
            if (p->owns_constant[v])
                loom_tensor_destroy(p->constant[v]);
    if (p->prepared)
        for (int i = 0; i < p->n_steps; i++)
            if (p->prepared[i] && g->nodes[p->steps[i]].op->free_prepared)
                g->nodes[p->steps[i]].op->free_prepared(p->prepared[i]);
    free(p->prepared);
    lm_wrefs_release(&p->weights); /* after the states pointing into them */
    lm_plan_free_segments(p);
    free(p->shapes);
    free(p->shape_known);
    while (p->free_states) {
        lm_run_state *next = p->free_states->next;
        lm_run_state_free(p->free_states);
        p->free_states = next;
    }
    pthread_mutex_destroy(&p->states_lock);
    free(p->arena_offset);
    free(p->constant);
    free(p->owns_constant);
    free(p->sig);
    free(p->steps);
    free(p->last_use);
    free(p);
}

int lm_plan_sig_len(const lm_graph *g, loom_tensor *const *inputs)
{
    int n = 0;
    for (int i = 0; i < g->n_inputs; i++)
        n += 1 + inputs[i]->rank;
    return n;
}

void lm_plan_sig_fill(const lm_graph *g, loom_tensor *const *inputs, int64_t *sig)
{
    for (int i = 0; i < g->n_inputs; i++) {
        *sig++ = lm_plan_sig_head(inputs[i]);
        for (int d = 0; d < inputs[i]->rank; d++)
            *sig++ = inputs[i]->dims[d];
    }
}

/* Shape headers (data NULL) the dry pass hands to kernels, one per value. */
typedef struct shape_table {
    loom_tensor **t; /* what kernels see for each value; NULL = shape unknown */
    bool *owns;      /* t[v] is a header this pass allocated */
    size_t *bytes;   /* per value produced by a step: its size, for the arena */
    int *def;        /* per value: the step producing it, -1 if none */
    bool *prep;      /* per step: shapes known, its prepare hook is due */
} shape_table;

static void release_shapes(const lm_graph *g, shape_table *st)
{
    if (st->t)
        for (int v = 0; v < g->n_values; v++)
            if (st->owns[v])
                loom_tensor_destroy(st->t[v]);
    free(st->t);
    free(st->owns);
    free(st->bytes);
    free(st->def);
    free(st->prep);
}

/* Runs one node in the planning pass; see the file comment. */
static loom_status plan_node(const lm_graph *g, int index, lm_plan *p, shape_table *st,
                             struct lm_threadpool *pool)
{
    const lm_node *n = &g->nodes[index];
    loom_tensor *in[n->n_in + 1];
    loom_tensor *out[n->n_out + 1];
    /* An op without a host implementation is never folded: only a device runs it. */
    bool all_const = !(n->op->flags & LM_OP_INFER_ONLY), shapes_known = true;
    for (int i = 0; i < n->n_in; i++) {
        int v = n->in[i];
        in[i] = v >= 0 ? st->t[v] : NULL;
        if (v >= 0 && !in[i])
            shapes_known = false;
        if (v >= 0 && !p->constant[v])
            all_const = false;
    }
    p->steps[p->n_steps] = index;
    if (!shapes_known) {
        p->n_steps++;
        return LOOM_OK;
    }
    memset(out, 0, sizeof(loom_tensor *) * (size_t)(n->n_out + 1));
    loom_status s = lm_run_node(n, in, out, !all_const, NULL, pool, NULL);
    if (s == LM_DEFER) {
        p->n_steps++;
        s = LOOM_OK;
        goto release;
    }
    if (s)
        goto release;
    bool produced_data = true;
    for (int o = 0; o < n->n_out; o++)
        if (n->out[o] >= 0 && out[o] && !out[o]->data)
            produced_data = false;
    for (int o = 0; o < n->n_out; o++) {
        int v = n->out[o];
        if (v < 0 || !out[o])
            continue;
        st->t[v] = out[o];
        st->owns[v] = !produced_data;
        if (!produced_data) {
            st->bytes[v] = out[o]->nbytes;
            st->def[v] = p->n_steps;
        }
        if (produced_data) {
            p->constant[v] = out[o];
            p->owns_constant[v] = true;
        }
        out[o] = NULL;
    }
    if (!produced_data)
        st->prep[p->n_steps++] = true; /* prepared once its device is known */
release:
    for (int o = 0; o < n->n_out; o++)
        loom_tensor_destroy(out[o]);
    return s;
}

/* Keeps every known value shape (headers only) for the executor and devices. */
static loom_status keep_shapes(lm_plan *p, const lm_graph *g, const shape_table *st)
{
    p->shapes = calloc((size_t)g->n_values + 1, sizeof(loom_tensor));
    p->shape_known = calloc((size_t)g->n_values + 1, sizeof(bool));
    if (!p->shapes || !p->shape_known)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    for (int v = 0; v < g->n_values; v++) {
        if (!st->t[v])
            continue;
        p->shapes[v] = *st->t[v];
        p->shapes[v].data = NULL;
        p->shapes[v].owns_data = false;
        p->shapes[v].pooled = false;
        p->shape_known[v] = true;
    }
    return LOOM_OK;
}

/*
 * Runs the prepare hooks of the steps given to host-kernel devices, now that
 * the segments say which device each step is on. A step on a segment device
 * is never run by the host implementation, so its weights are not packed for
 * the host; a host step's packed weights are keyed by its device
 * (prepared.c), so two devices never share a prepared form by mistake.
 */
static loom_status prepare_host_steps(lm_plan *p, const lm_graph *g, const shape_table *st,
                                      struct lm_threadpool *pool, lm_prep_env *env)
{
    for (int i = 0; i < p->n_segments; i++) {
        const lm_plan_segment *sg = &p->segments[i];
        if (!lm_device_runs_host_kernels(sg->dev))
            continue;
        env->dev = sg->dev;
        for (int step = sg->first; step <= sg->last; step++) {
            if (!st->prep[step])
                continue;
            const lm_node *n = &g->nodes[p->steps[step]];
            loom_tensor *in[n->n_in + 1];
            for (int k = 0; k < n->n_in; k++)
                in[k] = n->in[k] >= 0 ? st->t[n->in[k]] : NULL;
            loom_status s = lm_prepare_node(n, in, &p->prepared[step], pool, env);
            if (s)
                return s;
        }
    }
    return LOOM_OK;
}

/* Bytes of @p's own tables and folded constants (its prepared states are
 * small; the weights they point into are shared and not the plan's). */
static size_t plan_meta_bytes(const lm_plan *p, const lm_graph *g)
{
    size_t nv = (size_t)g->n_values + 1, nn = (size_t)g->n_nodes + 1;
    size_t bytes = sizeof(*p) + sizeof(int64_t) * (size_t)p->n_sig +
                   nv * (sizeof(loom_tensor *) + 2 * sizeof(bool) + sizeof(int) + sizeof(int64_t) +
                         sizeof(loom_tensor)) +
                   nn * (sizeof(int) + sizeof(void *));
    for (int v = 0; v < g->n_values; v++)
        if (p->owns_constant[v])
            bytes += p->constant[v]->nbytes;
    for (int i = 0; i < p->n_segments; i++)
        bytes += sizeof(lm_plan_segment) + (p->segments[i].lat ? sizeof(lm_latency) : 0);
    return bytes;
}

/* A run state's tables besides the arena (arena.c allocates them per value). */
static size_t run_state_table_bytes(const lm_plan *p)
{
    size_t nv = (size_t)p->n_values + 1;
    return nv * (sizeof(loom_tensor) + 2 * sizeof(loom_tensor *) + sizeof(bool));
}

size_t lm_plan_charge(const lm_plan *p)
{
    int states = atomic_load(&p->n_states);
    return p->meta_bytes +
           (size_t)(states > 1 ? states : 1) * (p->arena_bytes + run_state_table_bytes(p));
}

loom_status lm_plan_build(loom_model *m, loom_tensor *const *inputs, lm_devset usable,
                          struct lm_threadpool *pool, lm_plan **out)
{
    const lm_graph *g = m->g;
    size_t nv = (size_t)g->n_values + 1;
    lm_plan *p = calloc(1, sizeof(*p));
    if (p)
        p->arena_node = -1;
    shape_table st = {0};
    loom_status s = LOOM_OK;
    if (!p)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    atomic_init(&p->refs, 1);
    atomic_init(&p->runs, 0);
    p->usable = usable;
    p->n_sig = lm_plan_sig_len(g, inputs);
    p->sig = malloc(sizeof(int64_t) * ((size_t)p->n_sig + 1));
    p->constant = calloc(nv, sizeof(loom_tensor *));
    p->owns_constant = calloc(nv, sizeof(bool));
    p->steps = malloc(sizeof(int) * ((size_t)g->n_nodes + 1));
    p->last_use = malloc(sizeof(int) * nv);
    p->prepared = calloc((size_t)g->n_nodes + 1, sizeof(void *));
    pthread_mutex_init(&p->states_lock, NULL);
    st.t = calloc(nv, sizeof(loom_tensor *));
    st.owns = calloc(nv, sizeof(bool));
    st.bytes = calloc(nv, sizeof(size_t));
    st.def = malloc(nv * sizeof(int));
    st.prep = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!p->sig || !p->constant || !p->owns_constant || !p->steps || !p->last_use || !p->prepared ||
        !st.t || !st.owns || !st.bytes || !st.def || !st.prep) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory planning %d values", g->n_values);
        goto out;
    }
    lm_plan_sig_fill(g, inputs, p->sig);
    for (int v = 0; v < g->n_values; v++)
        st.def[v] = -1;
    for (int v = 0; v < g->n_values; v++) {
        p->constant[v] = g->values[v].constant;
        st.t[v] = g->values[v].constant;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        loom_tensor *h = malloc(sizeof(*h));
        if (!h) {
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        *h = *inputs[i];
        h->data = NULL; /* inputs are not constants, even when the caller gave data */
        h->owns_data = false;
        h->pooled = false;
        st.t[g->inputs[i]] = h;
        st.owns[g->inputs[i]] = true;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if ((s = plan_node(g, i, p, &st, pool)))
            goto out;
    for (int v = 0; v < g->n_values; v++)
        p->last_use[v] = -1;
    for (int step = 0; step < p->n_steps; step++) {
        const lm_node *n = &g->nodes[p->steps[step]];
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0)
                p->last_use[n->in[i]] = step;
    }
    lm_prep_env env = {.g = g, .hash_memo = m->hash_memo, .refs = &p->weights};
    if ((s = keep_shapes(p, g, &st)) ||
        (s = lm_plan_segments(p, m->ctx, g, st.t, usable, m->hash_memo)) ||
        (s = prepare_host_steps(p, g, &st, pool, &env)))
        goto out;
    /* Values living inside a device segment need no host memory. The host
     * buffers of a segment's outputs are made (and zeroed) before it starts
     * and its inputs are read while it runs: both live for the whole segment,
     * or an output's arena bytes could overlap an input still to be read. */
    for (int i = 0; i < p->n_segments; i++) {
        const lm_plan_segment *sg = &p->segments[i];
        if (lm_device_runs_host_kernels(sg->dev))
            continue; /* values stay in the arena */
        /* It writes its outputs from its issue on (hoisted: before the
         * segments that come first in the plan). */
        int writes_from = p->segments[sg->issue_at].first;
        for (int k = 0; k < sg->n_out; k++)
            if (st.def[sg->out[k]] > writes_from)
                st.def[sg->out[k]] = writes_from;
        /* A detached segment reads its inputs until the executor joins it,
         * just before its join segment starts (or at the end). Their last
         * use is that segment's first step, so no host step before it
         * frees them (a step frees the inputs whose last use it is). */
        int reads_until = !sg->detach                ? sg->last
                          : sg->join < p->n_segments ? p->segments[sg->join].first
                                                     : p->n_steps - 1;
        for (int k = 0; k < sg->n_in; k++)
            if (p->last_use[sg->in[k]] < reads_until)
                p->last_use[sg->in[k]] = reads_until;
        for (int step = sg->first; step <= sg->last; step++) {
            const lm_node *n = &g->nodes[p->steps[step]];
            for (int o = 0; o < n->n_out; o++)
                if (n->out[o] >= 0 && !lm_is_listed(n->out[o], sg->out, sg->n_out))
                    st.bytes[n->out[o]] = 0;
        }
    }
    p->arena_node = m->ctx->numa_node; /* beside the threads and devices that use it */
    s = lm_plan_arena(p, g, st.bytes, st.def, st.t);
    p->n_values = g->n_values;
    p->meta_bytes = plan_meta_bytes(p, g);
out:
    release_shapes(g, &st);
    if (s) {
        lm_plan_free(g, p);
        p = NULL;
    }
    *out = p;
    return s;
}
