/* model.c - loading a model: read, import, bind kernels, check; and its metadata. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "op.h"
#include "env.h"
#include "error.h"
#include "fuse.h"
#include "model.h"
#include "onnx_import.h"
#include "pipeline.h"

/* Models larger than this are refused before reading: protobuf caps messages at 2 GiB. */
#define LM_MAX_MODEL_BYTES ((size_t)2 << 30)

static loom_status bind_kernels(lm_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        lm_node *n = &g->nodes[i];
        n->op = lm_op_find(n->domain, n->op_type);
        if (!n->op)
            return lm_error(LOOM_ERR_UNSUPPORTED,
                            "node '%s': operator '%s'%s%s%s is not supported by any device",
                            n->name, n->op_type, *n->domain ? " (domain '" : "", n->domain,
                            *n->domain ? "')" : "");
    }
    return LOOM_OK;
}

/* Declared inputs with all dims fixed can be planned at load: shape errors then
 * surface here, with the node named, instead of at the first request. */
static loom_status plan_static_shapes(loom_model *m)
{
    lm_graph *g = m->g;
    loom_tensor *hdr = calloc((size_t)g->n_inputs + 1, sizeof(loom_tensor));
    loom_tensor **ptr = calloc((size_t)g->n_inputs + 1, sizeof(loom_tensor *));
    loom_status s = LOOM_OK;
    if (!hdr || !ptr) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const lm_value *v = &g->values[g->inputs[i]];
        if (v->dtype == LOOM_DTYPE_UNDEFINED || v->rank < 0)
            goto out; /* a subgraph's input typed by what feeds it */
        for (int d = 0; d < v->rank; d++)
            if (v->dims[d] < 0)
                goto out; /* symbolic: planned at the first run with real shapes */
        if ((s = lm_tensor_init_shape(&hdr[i], v->dtype, v->rank, v->dims))) {
            lm_error_prefix("graph input '%s'", v->name);
            goto out;
        }
        ptr[i] = &hdr[i];
    }
    lm_plan *p;
    s = lm_plan_get(m, ptr, &p);
    if (!s)
        lm_plan_put(m, p);
out:
    free(hdr);
    free(ptr);
    return s;
}

static loom_status load_graph(loom_context *ctx, lm_graph *g, const char *name, loom_model **out);

/* Body input @j of @sub (after the op's own) becomes @value's constant: a
 * weight of the enclosing graph is then a weight of the body, packed once
 * like any other instead of arriving as data on every run. */
static loom_status embed_constant(lm_subgraph *sub, int j, const loom_tensor *value)
{
    lm_graph *sg = sub->g;
    int first = sg->n_inputs - sub->n_feed;
    lm_value *bv = &sg->values[sg->inputs[first + j]];
    if (!(bv->constant = lm_tensor_clone(value)))
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    bv->is_input = false;
    bv->dtype = value->dtype;
    bv->rank = value->rank;
    memcpy(bv->dims, value->dims, sizeof(bv->dims));
    memmove(&sg->inputs[first + j], &sg->inputs[first + j + 1],
            sizeof(int) * (size_t)(sub->n_feed - j - 1));
    memmove(&sub->feed[j], &sub->feed[j + 1], sizeof(int) * (size_t)(sub->n_feed - j - 1));
    sg->n_inputs--;
    sub->n_feed--;
    return LOOM_OK;
}

/* Drops @n's implicit inputs that no subgraph reads any more (embedded). */
static void drop_unfed_inputs(lm_node *n)
{
    int first = n->n_in - n->n_implicit;
    for (int k = n->n_in - 1; k >= first; k--) {
        bool fed = false;
        for (int a = 0; a < n->n_attr; a++)
            for (int j = 0; n->attr[a].sub && j < n->attr[a].sub->n_feed; j++)
                fed |= n->attr[a].sub->feed[j] == k;
        if (fed)
            continue;
        memmove(&n->in[k], &n->in[k + 1], sizeof(int) * (size_t)(n->n_in - k - 1));
        for (int a = 0; a < n->n_attr; a++)
            for (int j = 0; n->attr[a].sub && j < n->attr[a].sub->n_feed; j++)
                n->attr[a].sub->feed[j] -= n->attr[a].sub->feed[j] > k;
        n->n_in--;
        n->n_implicit--;
    }
}

/* The constant value @v holds at load: an initializer, or the output of a
 * Constant node with a tensor attribute (exporters put a loop body's shapes
 * and scalars there); NULL otherwise. */
static const loom_tensor *load_time_constant(const lm_graph *g, int v)
{
    const lm_value *val = &g->values[v];
    if (val->constant || val->producer < 0)
        return val->constant;
    const lm_node *p = &g->nodes[val->producer];
    return strcmp(p->op_type, "Constant") == 0 && !*p->domain && p->n_in == 0
               ? lm_node_attr_tensor(p, "value")
               : NULL;
}

/* Makes the model of each subgraph of @n (If's branches, Loop's body...). */
static loom_status load_bodies(loom_model *m, lm_node *n)
{
    for (int a = 0; a < n->n_attr; a++) {
        lm_subgraph *sub = n->attr[a].sub;
        if (!sub)
            continue;
        for (int j = sub->n_feed - 1; j >= 0; j--) {
            const loom_tensor *c = load_time_constant(m->g, n->in[sub->feed[j]]);
            loom_status s = c ? embed_constant(sub, j, c) : LOOM_OK;
            if (s)
                return s;
        }
        char name[256];
        snprintf(name, sizeof(name), "node '%s' (%s) %s", n->name, n->op_type, n->attr[a].name);
        lm_graph *g = sub->g;
        sub->g = NULL;
        loom_status s = load_graph(m->ctx, g, name, &sub->model);
        if (s)
            return s;
    }
    drop_unfed_inputs(n);
    return LOOM_OK;
}

/* Frees the enclosing graph's copies of weights that only bodies read now. */
static void drop_embedded_constants(lm_graph *g, const bool *embedded)
{
    int *readers = calloc((size_t)g->n_values + 1, sizeof(int));
    if (!readers)
        return; /* they stay: memory, not correctness */
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] >= 0)
                readers[g->nodes[i].in[j]]++;
    for (int v = 0; v < g->n_values; v++) {
        lm_value *val = &g->values[v];
        if (embedded[v] && !readers[v] && !val->is_output) {
            loom_tensor_destroy(val->constant);
            val->constant = NULL;
        }
    }
    free(readers);
}

static loom_status load_subgraphs(loom_model *m)
{
    lm_graph *g = m->g;
    bool *embedded = calloc((size_t)g->n_values + 1, sizeof(bool));
    if (!embedded)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status s = LOOM_OK;
    for (int i = 0; !s && i < g->n_nodes; i++) {
        lm_node *n = &g->nodes[i];
        for (int k = n->n_in - n->n_implicit; k < n->n_in; k++)
            embedded[n->in[k]] |= g->values[n->in[k]].constant != NULL;
        s = load_bodies(m, n);
    }
    if (!s)
        drop_embedded_constants(g, embedded);
    free(embedded);
    return s;
}

static loom_status load(loom_context *ctx, const void *data, size_t size, const char *name,
                        const char *dir, loom_model **out)
{
    lm_graph *g;
    loom_status s = lm_onnx_import(data, size, dir, &g);
    if (s) {
        lm_error_prefix("%s", name);
        return s;
    }
    return load_graph(ctx, g, name, out);
}

/* Makes a model of @g, which it takes (freed on failure). */
static loom_status load_graph(loom_context *ctx, lm_graph *g, const char *name, loom_model **out)
{
    loom_model *m = calloc(1, sizeof(*m));
    if (!m) {
        lm_graph_free(g);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    m->g = g;
    m->ctx = ctx;
    m->plan_budget = (size_t)lm_env_int(LM_ENV_PLAN_CACHE_MB) << 20;
    pthread_mutex_init(&m->plans_lock, NULL);
    pthread_cond_init(&m->plan_built, NULL);
    pthread_mutex_init(&m->pipe_lock, NULL);
    lm_spares_init(&m->spares);
    m->health_epoch = lm_health_epoch(); /* then the devices: a change between shows next time */
    m->usable_seen = lm_context_usable(ctx);
    loom_status s = LOOM_ERR_NO_MEMORY;
    if (!(m->name = strdup(name)))
        goto fail;
    if ((s = bind_kernels(m->g)))
        goto fail;
    if ((s = load_subgraphs(m)))
        goto fail;
    if ((s = lm_fuse_graph(m->g)))
        goto fail;
    m->fused = lm_last_fuse_stats;
    if (!(m->hash_memo = calloc((size_t)m->g->n_values + 1, sizeof(uint64_t)))) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    lm_constants_share(m->g, m->hash_memo, &m->shared_consts);
    if ((s = plan_static_shapes(m)))
        goto fail;
    *out = m;
    return LOOM_OK;
fail:
    lm_error_prefix("%s", name);
    loom_model_destroy(m);
    return s;
}

loom_status loom_model_load_memory(loom_context *ctx, const void *data, size_t size,
                                   const char *name, loom_model **out)
{
    if (!ctx || !data || !out)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_load_memory: NULL argument");
    *out = NULL;
    return load(ctx, data, size, name ? name : "model", NULL, out);
}

loom_status loom_model_load_file(loom_context *ctx, const char *path, loom_model **out)
{
    if (!ctx || !path || !out)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_load_file: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lm_error(LOOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return lm_error(LOOM_ERR_IO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > LM_MAX_MODEL_BYTES) {
        fclose(f);
        return lm_error(LOOM_ERR_INVALID_MODEL, "%s: %lld bytes exceeds the 2 GiB protobuf limit",
                        path, (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    void *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(f);
        return lm_error(LOOM_ERR_NO_MEMORY, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    if (got != size) {
        free(buf);
        return lm_error(LOOM_ERR_IO, "%s: short read", path);
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    loom_status s = load(ctx, buf, size, base, dir, out);
    free(buf);
    return s;
}

void loom_model_destroy(loom_model *m)
{
    if (!m)
        return;
    lm_pipeline_stop(m); /* its requests hold plans */
    pthread_mutex_destroy(&m->pipe_lock);
    lm_spares_stop(&m->spares); /* before the cache: the worker publishes into it */
    lm_plan_cache_free(m);
    pthread_mutex_destroy(&m->plans_lock);
    pthread_cond_destroy(&m->plan_built);
    lm_graph_free(m->g);
    lm_constants_release(&m->shared_consts); /* after the graph reading them */
    free(m->hash_memo);
    free(m->name);
    free(m);
}

loom_status loom_model_bind_dim(loom_model *m, const char *name, int64_t value)
{
    if (!m || !name)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_bind_dim: NULL argument");
    if (value < 0)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: dimension '%s' cannot be %lld", m->name,
                        name, (long long)value);
    int bound = 0;
    for (int i = 0; i < m->g->n_inputs; i++) {
        lm_value *v = &m->g->values[m->g->inputs[i]];
        for (int d = 0; d < v->rank; d++)
            if (v->dims[d] < 0 && v->dim_names[d] && strcmp(v->dim_names[d], name) == 0) {
                v->dims[d] = value;
                bound++;
            }
    }
    if (!bound)
        return lm_error(LOOM_ERR_NOT_FOUND, "%s: no input has a dimension called '%s'", m->name,
                        name);
    loom_status s = plan_static_shapes(m);
    if (s)
        lm_error_prefix("%s", m->name);
    return s;
}

loom_status loom_model_set_plan_cache_bytes(loom_model *m, size_t bytes)
{
    if (!m)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_set_plan_cache_bytes: NULL model");
    pthread_mutex_lock(&m->plans_lock);
    m->plan_budget = bytes;
    pthread_mutex_unlock(&m->plans_lock);
    return LOOM_OK;
}

static int compare_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Bytes of the distinct packed weights (or, @on_device, device copies of
 * constants) the cached plans reference; caller holds plans_lock (which keeps
 * the plans, and so the entries, alive). */
static size_t prepared_bytes(const loom_model *m, bool on_device)
{
    int n = 0;
    for (const lm_plan *p = m->plans; p; p = p->next)
        n += on_device ? p->devconsts.n : p->weights.n;
    lm_wentry **all = malloc(sizeof(*all) * ((size_t)n + 1));
    if (!all)
        return 0;
    n = 0;
    for (const lm_plan *p = m->plans; p; p = p->next) {
        const lm_wrefs *r = on_device ? &p->devconsts : &p->weights;
        for (int i = 0; i < r->n; i++)
            all[n++] = r->e[i];
    }
    qsort(all, (size_t)n, sizeof(*all), compare_ptr);
    size_t bytes = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || all[i] != all[i - 1])
            bytes += lm_wentry_bytes(all[i]);
    free(all);
    return bytes;
}

/* The plan cache's part of the stats; caller holds plans_lock. */
static void plan_stats(const loom_model *m, loom_model_stats *st)
{
    st->plans = m->n_plans;
    for (const lm_plan *p = m->plans; p; p = p->next) {
        if (p->arena_bytes > st->arena_bytes)
            st->arena_bytes = p->arena_bytes;
        st->plan_bytes += lm_plan_charge(p);
        st->arena_bytes_held += (size_t)atomic_load(&p->n_states) * p->arena_bytes;
    }
    if (m->plans) { /* the list is most recently used first */
        st->steps = m->plans->n_steps;
        for (int v = 0; v < m->g->n_values; v++)
            if (m->plans->constant[v])
                st->constant_bytes += m->plans->constant[v]->nbytes;
    }
    st->prepared_bytes = prepared_bytes(m, false);
    st->device_weight_bytes = prepared_bytes(m, true);
    st->plan_budget_bytes = m->plan_budget;
    st->plans_built = m->counters.built;
    st->plans_evicted = m->counters.evicted;
    st->plans_spare = m->counters.spares;
    st->arena_bytes_released = m->arena_bytes_released;
    st->planning_ms_last = m->counters.ms_last;
    st->planning_ms_max = m->counters.ms_max;
    if (m->counters.built)
        st->planning_ms_mean = m->counters.ms_total / (double)m->counters.built;
}

loom_status loom_model_get_stats(loom_model *m, loom_model_stats *st)
{
    if (!m || !st || st->struct_size < sizeof(*st))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "loom_model_get_stats: NULL argument or struct_size too small");
    memset(st, 0, sizeof(*st));
    st->struct_size = sizeof(*st);
    st->nodes = m->g->n_nodes;
    st->batchnorms_folded = m->fused.batchnorms_folded;
    st->activations_fused = m->fused.activations_fused;
    st->identities_removed = m->fused.identities_removed;
    st->qdq_fused = m->fused.qdq_fused;
    pthread_mutex_lock(&m->plans_lock);
    plan_stats(m, st);
    pthread_mutex_unlock(&m->plans_lock);
    int entries;
    lm_prepared_totals(false, &st->shared_prepared_bytes, &entries);
    lm_prepared_totals(true, &st->shared_device_weight_bytes, &entries);
    return LOOM_OK;
}

const char *loom_model_name(const loom_model *m)
{
    return m->name;
}

size_t loom_model_input_count(const loom_model *m)
{
    return (size_t)m->g->n_inputs;
}

size_t loom_model_output_count(const loom_model *m)
{
    return (size_t)m->g->n_outputs;
}

static void fill_info(const lm_value *v, loom_value_info *info)
{
    memset(info, 0, sizeof(*info));
    info->name = v->name;
    info->dtype = v->dtype;
    info->rank = v->rank;
    for (int d = 0; d < v->rank && d < LOOM_MAX_RANK; d++) {
        info->dims[d] = v->dims[d];
        info->dim_names[d] = v->dim_names[d];
    }
}

loom_status loom_model_input_info(const loom_model *m, size_t index, loom_value_info *info)
{
    if (!m || !info)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_input_info: NULL argument");
    if (index >= (size_t)m->g->n_inputs)
        return lm_error(LOOM_ERR_NOT_FOUND, "%s: input %zu does not exist (the model has %d)",
                        m->name, index, m->g->n_inputs);
    fill_info(&m->g->values[m->g->inputs[index]], info);
    return LOOM_OK;
}

loom_status loom_model_output_info(const loom_model *m, size_t index, loom_value_info *info)
{
    if (!m || !info)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_output_info: NULL argument");
    if (index >= (size_t)m->g->n_outputs)
        return lm_error(LOOM_ERR_NOT_FOUND, "%s: output %zu does not exist (the model has %d)",
                        m->name, index, m->g->n_outputs);
    fill_info(&m->g->values[m->g->outputs[index]], info);
    return LOOM_OK;
}

loom_status loom_model_input_index(const loom_model *m, const char *name, size_t *index)
{
    if (!m || !name || !index)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_model_input_index: NULL argument");
    for (int i = 0; i < m->g->n_inputs; i++)
        if (strcmp(m->g->values[m->g->inputs[i]].name, name) == 0) {
            *index = (size_t)i;
            return LOOM_OK;
        }
    return lm_error(LOOM_ERR_NOT_FOUND, "%s: no input named '%s'", m->name, name);
}
