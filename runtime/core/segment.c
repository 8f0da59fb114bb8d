/*
 * segment.c - cuts a placed plan into device segments and compiles them.
 *
 * place.c gives each step a device (the planner). Maximal runs of
 * consecutive steps on one device become segments; a segment device compiles
 * its segments, and the values crossing a segment's boundary are its inputs
 * and outputs, everything else stays on the device.
 */
#include <stdio.h>
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
        free(sg->lat);
    }
    free(p->segments);
    p->segments = NULL;
    p->n_segments = 0;
    free(p->segment_at);
    lm_wrefs_release(&p->devconsts); /* after the segments using them */
    p->segment_at = NULL;
    free(p->notes);
    p->notes = NULL;
}

bool lm_plan_uses_devices(const lm_plan *p)
{
    for (int i = 0; i < p->n_segments; i++)
        if (!lm_device_runs_host_kernels(p->segments[i].dev))
            return true;
    return false;
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

/* The cost model's estimate of a run of @sg: its steps', or -1 if one is unknown. */
static double segment_estimate(const lm_plan *p, const lm_plan_segment *sg)
{
    double us = 0;
    for (int k = sg->first; k <= sg->last; k++) {
        if (p->notes[k].est_us < 0)
            return -1;
        us += p->notes[k].est_us;
    }
    return us;
}

/* Compiles segment @sg on its (segment) device. */
static loom_status compile_segment(lm_plan *p, const loom_context *ctx, const lm_graph *g,
                                   loom_tensor *const *shape, uint64_t *hash_memo,
                                   lm_plan_segment *sg)
{
    int nodes[sg->last - sg->first + 1];
    for (int k = sg->first; k <= sg->last; k++)
        nodes[k - sg->first] = p->steps[k];
    lm_segment_desc desc = {
        .g = g,
        .n_nodes = sg->last - sg->first + 1,
        .nodes = nodes,
        .shape = (const loom_tensor *const *)shape,
        .constant = (const loom_tensor *const *)p->constant,
        .hash_memo = hash_memo,
        .consts = &p->devconsts,
        .n_inputs = sg->n_in,
        .n_outputs = sg->n_out,
        .inputs = sg->in,
        .outputs = sg->out,
        .fp16_storage = ctx->fp16_storage,
    };
    loom_status s = sg->dev->ops->compile(sg->dev, &desc, &sg->state);
    if (s)
        lm_error_prefix_device(sg->dev->name);
    return s;
}

/* Where each segment is joined (the first later segment reading one of its
 * outputs), where each device segment is issued (as soon as its inputs are
 * ready: after the last segment feeding it, which may be before segments
 * that come earlier in the plan), and which device segments are issued
 * without waiting: those with a segment between their issue and their
 * join, which does not depend on them and so runs meanwhile (an
 * independent branch, on the host or another device). One pass over the
 * steps, with the segment that made each value. */
static loom_status mark_joins(lm_plan *p, const lm_graph *g)
{
    int *made_by = malloc(sizeof(int) * ((size_t)g->n_values + 1));
    if (!made_by)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    for (int v = 0; v < g->n_values; v++)
        made_by[v] = -1; /* an input or a constant */
    for (int i = 0; i < p->n_segments; i++) {
        lm_plan_segment *sg = &p->segments[i];
        sg->join = p->n_segments;
        sg->issue_at = 0;
        for (int step = sg->first; step <= sg->last; step++) {
            const lm_node *n = &g->nodes[p->steps[step]];
            for (int k = 0; k < n->n_in; k++) {
                int f = n->in[k] >= 0 ? made_by[n->in[k]] : -1;
                if (f < 0 || f == i)
                    continue;
                if (p->segments[f].join > i)
                    p->segments[f].join = i;
                if (sg->issue_at < f + 1)
                    sg->issue_at = f + 1;
            }
            for (int o = 0; o < n->n_out; o++)
                if (n->out[o] >= 0)
                    made_by[n->out[o]] = i;
        }
    }
    free(made_by);
    for (int i = 0; i < p->n_segments; i++) {
        lm_plan_segment *sg = &p->segments[i];
        bool device = !lm_device_runs_host_kernels(sg->dev);
        if (!device)
            sg->issue_at = i; /* the host runs in plan order */
        sg->detach = device && (sg->join > i + 1 || sg->issue_at < i);
        p->issues_ahead |= sg->issue_at < i;
    }
    return LOOM_OK;
}

loom_status lm_plan_segments(lm_plan *p, const loom_context *ctx, const lm_graph *g,
                             loom_tensor *const *shape, lm_devset usable, uint64_t *hash_memo)
{
    loom_status s = lm_policy_check_used(&ctx->policy, g);
    if (s || p->n_steps == 0)
        return s;
    lm_device **dev = calloc((size_t)p->n_steps, sizeof(lm_device *));
    p->segment_at = malloc(sizeof(int) * (size_t)p->n_steps);
    p->segments = calloc((size_t)p->n_steps, sizeof(lm_plan_segment));
    p->notes = calloc((size_t)p->n_steps, sizeof(lm_step_note));
    if (!dev || !p->segment_at || !p->segments || !p->notes) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int i = 0; i < p->n_steps; i++)
        p->segment_at[i] = -1;
    if ((s = lm_plan_place(p, ctx, g, shape, usable, dev)))
        goto out;
    for (int i = 0; i < p->n_steps;) {
        int j = i;
        while (j + 1 < p->n_steps && dev[j + 1] == dev[i])
            j++;
        lm_plan_segment *sg = &p->segments[p->n_segments++];
        sg->dev = dev[i];
        sg->first = i;
        sg->last = j;
        p->segment_at[i] = p->n_segments - 1;
        sg->est_us = segment_estimate(p, sg);
        p->uses |= lm_context_bit(ctx, sg->dev);
        if ((s = boundary(p, g, sg)))
            goto out;
        if (!lm_device_runs_host_kernels(sg->dev) &&
            (!(sg->lat = calloc(1, sizeof(lm_latency))) ||
             (s = compile_segment(p, ctx, g, shape, hash_memo, sg)))) {
            s = s ? s : lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        i = j + 1;
    }
    s = mark_joins(p, g);
out:
    free(dev);
    return s;
}
