/* graph.c - ownership and ordering of the graph IR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graph.h"
#include "loom/loom.h"

static void attr_free(lm_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
    if (a->strings)
        for (int i = 0; i < a->n; i++)
            free(a->strings[i]);
    free(a->strings);
    loom_tensor_destroy(a->t);
    if (a->sub) {
        /* The body's model first: it may still run its graph's plans. */
        loom_model_destroy(a->sub->model);
        lm_graph_free(a->sub->g);
        free(a->sub->feed);
        free(a->sub);
    }
}

void lm_node_free(lm_node *n)
{
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->in);
    free(n->out);
    for (int a = 0; a < n->n_attr; a++)
        attr_free(&n->attr[a]);
    free(n->attr);
}

void lm_graph_free(lm_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        lm_node_free(&g->nodes[i]);
    for (int i = 0; i < g->n_values; i++) {
        lm_value *v = &g->values[i];
        free(v->name);
        for (int d = 0; d < LOOM_MAX_RANK; d++)
            free(v->dim_names[d]);
        loom_tensor_destroy(v->constant);
    }
    free(g->nodes);
    free(g->values);
    free(g->inputs);
    free(g->outputs);
    free(g);
}

const lm_attr *lm_node_attr(const lm_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0)
            return &n->attr[i];
    return NULL;
}

const lm_subgraph *lm_node_subgraph(const lm_node *n, const char *name)
{
    const lm_attr *a = lm_node_attr(n, name);
    return a ? a->sub : NULL;
}

loom_status lm_node_verror(const lm_node *n, loom_status status, const char *fmt, va_list ap)
{
    char msg[LM_ERROR_LEN];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return lm_error(status, "node '%s' (%s): %s", n->name, n->op_type, msg);
}

loom_status lm_node_error(const lm_node *n, loom_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    loom_status s = lm_node_verror(n, status, fmt, ap);
    va_end(ap);
    return s;
}

/* @name if it has @type or no declared type, else NULL. */
static const lm_attr *attr_typed(const lm_node *n, const char *name, lm_attr_type type)
{
    const lm_attr *a = lm_node_attr(n, name);
    return a && (a->type == type || a->type == LM_ATTR_UNDEFINED) ? a : NULL;
}

bool lm_node_has_attr(const lm_node *n, const char *name)
{
    return lm_node_attr(n, name) != NULL;
}

int64_t lm_node_attr_int(const lm_node *n, const char *name, int64_t def)
{
    const lm_attr *a = attr_typed(n, name, LM_ATTR_INT);
    return a ? a->i : def;
}

float lm_node_attr_float(const lm_node *n, const char *name, float def)
{
    const lm_attr *a = lm_node_attr(n, name);
    if (!a)
        return def;
    if (a->type == LM_ATTR_INT) /* some exporters write integral floats as ints */
        return (float)a->i;
    return a->f;
}

const char *lm_node_attr_str(const lm_node *n, const char *name, const char *def)
{
    const lm_attr *a = attr_typed(n, name, LM_ATTR_STRING);
    return a && a->s ? a->s : def;
}

int lm_node_attr_ints(const lm_node *n, const char *name, const int64_t **vals)
{
    const lm_attr *a = attr_typed(n, name, LM_ATTR_INTS);
    *vals = a ? a->ints : NULL;
    return a && a->ints ? a->n : -1;
}

int lm_node_attr_floats(const lm_node *n, const char *name, const float **vals)
{
    const lm_attr *a = attr_typed(n, name, LM_ATTR_FLOATS);
    *vals = a ? a->floats : NULL;
    return a && a->floats ? a->n : -1;
}

const loom_tensor *lm_node_attr_tensor(const lm_node *n, const char *name)
{
    const lm_attr *a = attr_typed(n, name, LM_ATTR_TENSOR);
    return a ? a->t : NULL;
}

int lm_graph_find_value(const lm_graph *g, const char *name)
{
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

/*
 * Kahn's algorithm over value readiness. Nodes keep their file order among
 * those ready at the same time, so a model that is already sorted is unchanged.
 */
loom_status lm_graph_sort(lm_graph *g)
{
    int n = g->n_nodes;
    loom_status status = LOOM_OK;
    int *pending = calloc((size_t)n + 1, sizeof(int));
    int *order = malloc(((size_t)n + 1) * sizeof(int));
    char *ready = calloc((size_t)g->n_values + 1, 1);
    int *queue = malloc(((size_t)n + 1) * sizeof(int));
    /* consumers[v] lists nodes reading value v, CSR style */
    int *cstart = calloc((size_t)g->n_values + 1, sizeof(int));
    int total = 0;
    for (int i = 0; i < n; i++)
        total += g->nodes[i].n_in;
    int *clist = malloc(((size_t)total + 1) * sizeof(int));
    lm_node *sorted = malloc(((size_t)n + 1) * sizeof(lm_node));
    if (!pending || !order || !ready || !queue || !cstart || !clist || !sorted) {
        status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory sorting the graph");
        goto out;
    }
    for (int v = 0; v < g->n_values; v++)
        ready[v] = g->values[v].producer < 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] >= 0)
                cstart[g->nodes[i].in[j]]++;
    for (int v = 0, acc = 0; v <= g->n_values; v++) {
        int c = cstart[v];
        cstart[v] = acc;
        acc += c;
    }
    {
        int *fill = calloc((size_t)g->n_values + 1, sizeof(int));
        if (!fill) {
            status = lm_error(LOOM_ERR_NO_MEMORY, "out of memory sorting the graph");
            goto out;
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < g->nodes[i].n_in; j++) {
                int v = g->nodes[i].in[j];
                if (v >= 0)
                    clist[cstart[v] + fill[v]++] = i;
            }
        free(fill);
    }
    int head = 0, tail = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            if (v >= 0 && !ready[v])
                pending[i]++;
        }
        if (pending[i] == 0)
            queue[tail++] = i;
    }
    int count = 0;
    while (head < tail) {
        int i = queue[head++];
        order[count++] = i;
        for (int o = 0; o < g->nodes[i].n_out; o++) {
            int v = g->nodes[i].out[o];
            if (v < 0 || ready[v])
                continue;
            ready[v] = 1;
            for (int c = cstart[v]; c < cstart[v + 1]; c++) {
                int consumer = clist[c];
                /* a node reading v twice counted it twice */
                if (--pending[consumer] == 0)
                    queue[tail++] = consumer;
            }
        }
    }
    if (count != n) {
        for (int i = 0; i < n; i++) {
            if (pending[i] > 0) {
                status = lm_error(LOOM_ERR_INVALID_MODEL,
                                  "node '%s' (%s) is on a cycle or reads a value nothing "
                                  "produces",
                                  g->nodes[i].name, g->nodes[i].op_type);
                break;
            }
        }
        goto out;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = g->nodes[order[i]];
    memcpy(g->nodes, sorted, sizeof(lm_node) * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < g->nodes[i].n_out; o++)
            if (g->nodes[i].out[o] >= 0)
                g->values[g->nodes[i].out[o]].producer = i;
out:
    free(pending);
    free(order);
    free(ready);
    free(queue);
    free(cstart);
    free(clist);
    free(sorted);
    return status;
}
