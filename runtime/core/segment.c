/*
 * segment.c - gives plan steps to devices and compiles device segments.
 *
 * Each step goes to the first device of the context (in priority order) that
 * supports its node with the planned input shapes, else to the CPU. A step
 * whose output shapes were unknown at planning (LM_DEFER) stays on the CPU:
 * devices compile for fixed shapes. Maximal runs of consecutive steps on one
 * device become segments; the values crossing a segment's boundary are its
 * inputs and outputs, everything else stays on the device.
 */
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "error.h"
#include "model.h"

void lm_plan_free_segments(lm_plan *p)
{
    for (int i = 0; i < p->n_segments; i++) {
        lm_plan_segment *sg = &p->segments[i];
        if (sg->state)
            sg->dev->ops->release(sg->dev, sg->state);
        free(sg->in);
        free(sg->out);
    }
    free(p->segments);
    p->segments = NULL;
    p->n_segments = 0;
    free(p->segment_at);
    p->segment_at = NULL;
}

/* The device for step @step, or NULL for the CPU. */
static lm_device *pick_device(const loom_context *ctx, const lm_graph *g, const lm_node *n,
                              loom_tensor *const *shape)
{
    loom_tensor *in[n->n_in + 1];
    for (int i = 0; i < n->n_in; i++) {
        in[i] = n->in[i] >= 0 ? shape[n->in[i]] : NULL;
        if (n->in[i] >= 0 && !in[i])
            return NULL; /* shape unknown at planning */
    }
    for (int o = 0; o < n->n_out; o++)
        if (n->out[o] >= 0 && !shape[n->out[o]])
            return NULL;
    for (int d = 0; d < ctx->n_devices; d++)
        if (ctx->devices[d]->ops->supports(ctx->devices[d], n, in))
            return ctx->devices[d];
    (void)g;
    return NULL;
}

/* Collects the boundary values of steps [first, last] into @sg. */
static loom_status boundary(const lm_plan *p, const lm_graph *g, lm_plan_segment *sg)
{
    int nv = g->n_values;
    char *mark = calloc((size_t)nv + 1, 1); /* 1: produced inside, 2: listed as input */
    sg->in = malloc(sizeof(int) * ((size_t)nv + 1));
    sg->out = malloc(sizeof(int) * ((size_t)nv + 1));
    if (!mark || !sg->in || !sg->out) {
        free(mark);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    for (int s = sg->first; s <= sg->last; s++) {
        const lm_node *n = &g->nodes[p->steps[s]];
        for (int i = 0; i < n->n_in; i++) {
            int v = n->in[i];
            if (v < 0 || mark[v] || p->constant[v])
                continue;
            mark[v] = 2;
            sg->in[sg->n_in++] = v;
        }
        for (int o = 0; o < n->n_out; o++)
            if (n->out[o] >= 0)
                mark[n->out[o]] = 1;
    }
    for (int s = sg->first; s <= sg->last; s++) {
        const lm_node *n = &g->nodes[p->steps[s]];
        for (int o = 0; o < n->n_out; o++) {
            int v = n->out[o];
            if (v >= 0 && (g->values[v].is_output || p->last_use[v] > sg->last))
                sg->out[sg->n_out++] = v;
        }
    }
    free(mark);
    return LOOM_OK;
}

loom_status lm_plan_segments(lm_plan *p, const loom_context *ctx, const lm_graph *g,
                             loom_tensor *const *shape)
{
    if ((ctx->n_devices == 0 && !ctx->fail_closed) || p->n_steps == 0)
        return LOOM_OK;
    lm_device **dev = calloc((size_t)p->n_steps, sizeof(lm_device *));
    p->segment_at = malloc(sizeof(int) * (size_t)p->n_steps);
    p->segments = calloc((size_t)p->n_steps, sizeof(lm_plan_segment));
    loom_status s = LOOM_OK;
    if (!dev || !p->segment_at || !p->segments) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int i = 0; i < p->n_steps; i++) {
        p->segment_at[i] = -1;
        dev[i] = pick_device(ctx, g, &g->nodes[p->steps[i]], shape);
        if (!dev[i] && ctx->fail_closed) {
            const lm_node *n = &g->nodes[p->steps[i]];
            s = lm_error(LOOM_ERR_UNSUPPORTED,
                         "node '%s' (%s) cannot run on %s, and CPU fallback is off", n->name,
                         n->op_type, ctx->n_devices ? ctx->devices[0]->name : "the device");
            goto out;
        }
    }
    for (int i = 0; i < p->n_steps;) {
        if (!dev[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j + 1 < p->n_steps && dev[j + 1] == dev[i])
            j++;
        lm_plan_segment *sg = &p->segments[p->n_segments++];
        sg->dev = dev[i];
        sg->first = i;
        sg->last = j;
        p->segment_at[i] = p->n_segments - 1;
        if ((s = boundary(p, g, sg)))
            goto out;
        int nodes[j - i + 1];
        for (int k = i; k <= j; k++)
            nodes[k - i] = p->steps[k];
        lm_segment_desc desc = {
            .g = g,
            .n_nodes = j - i + 1,
            .nodes = nodes,
            .shape = (const loom_tensor *const *)shape,
            .constant = (const loom_tensor *const *)p->constant,
            .n_inputs = sg->n_in,
            .n_outputs = sg->n_out,
            .inputs = sg->in,
            .outputs = sg->out,
        };
        if ((s = sg->dev->ops->compile(sg->dev, &desc, &sg->state))) {
            lm_error_prefix("device %s", sg->dev->name);
            goto out;
        }
        i = j + 1;
    }
out:
    free(dev);
    return s;
}
