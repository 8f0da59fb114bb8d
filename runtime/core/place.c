/*
 * place.c - gives each step of a plan a device: states the partition problem
 * (core/partition.h) from the cost model, the context's devices and its
 * policy, solves it, and writes each step's estimate and reason.
 *
 * What each device costs a step: lm_cost_estimate_us() with the planned
 * shapes (measured, the device's own model, or the roofline). Where a device
 * that can run a step has no estimate (unknown peaks, or shapes known only
 * at run time) the planner cannot compare, and the step goes to the first
 * such device in priority order, saying so. Pin rules decide their steps.
 * A CPU the context added only as its fallback (a device list that names
 * neither it nor "auto") runs only the steps no named device can run. The
 * priority list otherwise only breaks ties (partition.h, "Ties").
 *
 * Transfers are priced per hop through the host (lm_transfer_us()'s model),
 * each segment pays its device's launch cost, and a device's memory bounds
 * the weights of the steps placed on it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "error.h"
#include "model.h"
#include "op.h"
#include "opcost.h"
#include "partition.h"
#include "registry.h"

/* A link no faster than this is the host's own memory: no hop to price. */
#define HOST_LINK_BYTES_PER_US 1e30

typedef struct placement {
    int n, m, host;
    int host_node;      /* the NUMA node of the context's threads, -1 any (numa.h) */
    bool fallback_only; /* the host CPU runs only what no named device runs */
    lm_device *dev[LM_PART_MAX_DEVICES];
    uint8_t excluded[LM_PART_MAX_DEVICES];
    double *cost;       /* [n * m] */
    int *pin;           /* [n] */
    uint64_t *mem_need; /* [n] */
    lm_part_value *values;
    int n_values;
    int *consumers;
    const char **step_names;
    const char *dev_names[LM_PART_MAX_DEVICES];
    double latency[LM_PART_MAX_DEVICES * LM_PART_MAX_DEVICES];
    double bandwidth[LM_PART_MAX_DEVICES * LM_PART_MAX_DEVICES];
    double launch[LM_PART_MAX_DEVICES];
    uint64_t capacity[LM_PART_MAX_DEVICES];
    uint64_t used[LM_PART_MAX_DEVICES]; /* weights placed on each device */
} placement;

/* Sets @note's reason; a long one is cut to the field's size. */
static void say(lm_step_note *note, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(lm_step_note *note, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note->reason, sizeof(note->reason), fmt, ap);
    va_end(ap);
}

static void placement_free(placement *pl)
{
    free(pl->cost);
    free(pl->pin);
    free(pl->mem_need);
    free(pl->values);
    free(pl->consumers);
    free(pl->step_names);
}

/* Whether @n carries an attribute a fusion pass wrote (_loom_*). */
static bool fused_form(const lm_node *n)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strncmp(n->attr[i].name, "_loom_", 6) == 0)
            return true;
    return false;
}

/* Whether @dev can take @n, whose shapes are all known (@known) or not. */
static bool takes(lm_device *dev, const lm_node *n, loom_tensor *const *in, bool known)
{
    if (!(dev->props.flags & LM_DEVICE_FUSED_FORMS) && fused_form(n))
        return false;
    if (!known)
        return (dev->props.flags & LM_DEVICE_DYNAMIC_SHAPES) &&
               (n->op && !(n->op->flags & LM_OP_INFER_ONLY));
    lm_error_quiet_begin(); /* a node the device declines is no error */
    bool ok = dev->ops->supports(dev, n, in);
    lm_error_quiet_end();
    return ok;
}

/* Node @n's input and output shapes from the planned @shape table; false
 * when some are known only at run time. */
static bool node_shapes(const lm_node *n, loom_tensor *const *shape, loom_tensor **in,
                        loom_tensor **out)
{
    bool known = true;
    for (int i = 0; i < n->n_in; i++) {
        in[i] = n->in[i] >= 0 ? shape[n->in[i]] : NULL;
        if (n->in[i] >= 0 && !in[i])
            known = false;
    }
    for (int o = 0; o < n->n_out; o++) {
        out[o] = n->out[o] >= 0 ? shape[n->out[o]] : NULL;
        if (n->out[o] >= 0 && !out[o])
            known = false;
    }
    return known;
}

static int index_of(const placement *pl, const lm_device *dev)
{
    for (int d = 0; d < pl->m; d++)
        if (pl->dev[d] == dev)
            return d;
    return -1;
}

/* The problem's devices: the context's, in priority order, and the CPU as
 * the host (excluded when the context does not select it: fail-closed). */
static loom_status choose_devices(placement *pl, const loom_context *ctx, lm_devset usable)
{
    lm_device *cpu = ctx->host; /* "cpu", or the node's "cpu:N" */
    pl->host_node = ctx->numa_node;
    if (!cpu)
        return lm_error(LOOM_ERR_RUNTIME, "no CPU device is registered");
    for (int d = 0; d < ctx->n_devices && pl->m < LM_PART_MAX_DEVICES - 1; d++)
        if (ctx->devices[d] != cpu)
            pl->dev[pl->m++] = ctx->devices[d];
    bool cpu_selected = false;
    for (int d = 0; d < ctx->n_devices; d++)
        cpu_selected |= ctx->devices[d] == cpu;
    /* The CPU keeps its place in the priority list. */
    int at = pl->m;
    for (int d = 0, k = 0; d < ctx->n_devices; d++) {
        if (ctx->devices[d] == cpu) {
            at = k;
            break;
        }
        if (index_of(pl, ctx->devices[d]) >= 0)
            k++;
    }
    memmove(&pl->dev[at + 1], &pl->dev[at], sizeof(pl->dev[0]) * (size_t)(pl->m - at));
    pl->dev[at] = cpu;
    pl->host = at;
    pl->m++;
    pl->excluded[at] = !cpu_selected;
    for (int d = 0; d < pl->m; d++) {
        pl->dev_names[d] = pl->dev[d]->name;
        /* Out of service (health.h), or planned around ahead of that (spare.c). */
        if (d != pl->host && !(usable & lm_context_bit(ctx, pl->dev[d])))
            pl->excluded[d] = 1;
    }
    return LOOM_OK;
}

/* The links: a hop to or from device d costs its latency plus bytes over
 * its bandwidth, as lm_transfer_us() prices them. */
static void price_links(placement *pl)
{
    int m = pl->m;
    for (int d = 0; d < m; d++) {
        const lm_device *dev = pl->dev[d];
        bool host = lm_device_runs_host_kernels(dev);
        int hn = pl->host_node;
        double out0 = lm_transfer_node_us(dev, NULL, hn, 0);
        double out1 = lm_transfer_node_us(dev, NULL, hn, 1000000);
        double in0 = lm_transfer_node_us(NULL, dev, hn, 0);
        double in1 = lm_transfer_node_us(NULL, dev, hn, 1000000);
        pl->latency[d * m + pl->host] = out0;
        pl->bandwidth[d * m + pl->host] =
            out1 > out0 ? 1e6 / (out1 - out0) : HOST_LINK_BYTES_PER_US;
        pl->latency[pl->host * m + d] = in0;
        pl->bandwidth[pl->host * m + d] = in1 > in0 ? 1e6 / (in1 - in0) : HOST_LINK_BYTES_PER_US;
        pl->launch[d] = host ? 0 : dev->props.launch_us;
        pl->capacity[d] = host ? 0 : dev->props.mem_bytes;
    }
    for (int d = 0; d < m * m; d++)
        if (pl->bandwidth[d] <= 0)
            pl->bandwidth[d] = HOST_LINK_BYTES_PER_US;
}

/* Why no device takes @n: the error, naming the node and the devices. */
static loom_status no_device(const loom_context *ctx, const lm_node *n)
{
    char names[256] = "";
    for (int d = 0, len = 0; d < ctx->n_devices && len < (int)sizeof(names); d++)
        len += snprintf(names + len, sizeof(names) - (size_t)len, "%s%s", d ? ", " : "",
                        ctx->devices[d]->name);
    if (ctx->fail_closed)
        return lm_error(LOOM_ERR_UNSUPPORTED,
                        "node '%s' (%s) cannot run on %s, and CPU fallback is off", n->name,
                        n->op_type, names);
    return lm_error(LOOM_ERR_UNSUPPORTED, "node '%s' (%s): no device of this context runs it (%s)",
                    n->name, n->op_type, names);
}

/* When the only devices that could take @n are out of service (health.h):
 * a device fault, naming the device and the policy that leaves no fallback. */
static loom_status out_of_service(const placement *pl, const loom_context *ctx, const lm_node *n,
                                  loom_tensor *const *in, bool known)
{
    for (int d = 0; d < pl->m; d++) {
        lm_device *dev = pl->dev[d];
        if (d == pl->host || !pl->excluded[d] || !takes(dev, n, in, known))
            continue;
        int state = atomic_load(&dev->health.state);
        return lm_error(state == LOOM_DEVICE_PROBATION ? LOOM_ERR_DEVICE_TRANSIENT
                                                       : LOOM_ERR_DEVICE_LOST,
                        "node '%s' (%s): %s is %s and %s", n->name, n->op_type, dev->name,
                        lm_device_state_name(state),
                        ctx->fail_closed ? "the context is fail-closed: no CPU fallback"
                                         : "no other device of this context runs it");
    }
    return LOOM_OK;
}

/* Bytes of the weights (constant inputs) of @n that its device keeps. */
static uint64_t weight_bytes(const lm_plan *p, const lm_node *n)
{
    uint64_t bytes = 0;
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] >= 0 && p->constant[n->in[i]])
            bytes += p->constant[n->in[i]]->nbytes;
    return bytes;
}

/* Costs of step @i on every device, its pin and its capable devices;
 * decisions the solver cannot make (pins, no estimate) are noted. */
static loom_status price_step(placement *pl, const lm_plan *p, const loom_context *ctx,
                              const lm_node *n, loom_tensor *const *shape, int i,
                              lm_step_note *note)
{
    loom_tensor *in[n->n_in + 1], *out[n->n_out + 1];
    bool known = node_shapes(n, shape, in, out), ok[LM_PART_MAX_DEVICES];
    double *cost = &pl->cost[(size_t)i * (size_t)pl->m];
    bool named = false; /* some device other than the CPU takes it */
    for (int d = 0; d < pl->m; d++) {
        ok[d] = !pl->excluded[d] && takes(pl->dev[d], n, in, known);
        named |= ok[d] && d != pl->host;
    }
    if (ctx->cpu_fallback_only && named) /* the CPU only for what no named device runs */
        ok[pl->host] = false;
    int first = -1, unknown = -1;
    for (int d = 0; d < pl->m; d++) {
        cost[d] = ok[d] && known ? lm_cost_estimate_us(pl->dev[d], n, in, out) : -1;
        if (!ok[d])
            continue;
        first = first < 0 ? d : first;
        if (cost[d] < 0 && unknown < 0)
            unknown = d;
    }
    pl->pin[i] = -1;
    pl->mem_need[i] = weight_bytes(p, n);
    const lm_pin *pin = lm_policy_pin_for(&ctx->policy, n);
    if (pin) {
        int d = index_of(pl, pin->dev);
        if (d < 0 || !ok[d])
            return lm_error(LOOM_ERR_UNSUPPORTED, "pin rule '%s': node '%s' (%s) cannot run on %s",
                            pin->text, n->name, n->op_type, pin->dev->name);
        pl->pin[i] = d;
        say(note, "%s: pinned by %s", pin->dev->name, pin->text);
    } else if (first < 0) {
        loom_status why = out_of_service(pl, ctx, n, in, known);
        return why ? why : no_device(ctx, n);
    } else if (unknown >= 0) {
        /* No figure to compare with: the first capable device, as listed. */
        pl->pin[i] = first;
        say(note, "%s: %s, first in priority", pl->dev[first]->name,
            known ? "no cost estimate on some device" : "shapes known only at run time");
    }
    if (pl->pin[i] < 0)
        return LOOM_OK;
    note->est_us = cost[pl->pin[i]];
    if (cost[pl->pin[i]] < 0)
        cost[pl->pin[i]] = 0; /* unknown: the solver needs a figure, it has no choice */
    for (int d = 0; d < pl->m; d++)
        if (d != pl->pin[i])
            cost[d] = -1;
    return LOOM_OK;
}

/* The values passed between steps (not constants: those are weights). */
static loom_status list_values(placement *pl, const lm_plan *p, const lm_graph *g,
                               loom_tensor *const *shape)
{
    int nv = g->n_values, total = 0;
    int *step_of = malloc(sizeof(int) * ((size_t)g->n_nodes + 1));
    int *count = calloc((size_t)nv + 1, sizeof(int)), *at = calloc((size_t)nv + 1, sizeof(int));
    pl->values = calloc((size_t)nv + 1, sizeof(lm_part_value));
    loom_status s = LOOM_OK;
    if (!step_of || !count || !at || !pl->values) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int k = 0; k < g->n_nodes; k++)
        step_of[k] = -1;
    for (int i = 0; i < p->n_steps; i++) {
        const lm_node *n = &g->nodes[p->steps[i]];
        step_of[p->steps[i]] = i;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !p->constant[n->in[k]]) {
                count[n->in[k]]++;
                total++;
            }
    }
    if (!(pl->consumers = malloc(sizeof(int) * ((size_t)total + 1)))) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int v = 0, used = 0; v < nv; v++) {
        at[v] = used;
        used += count[v];
    }
    int *index = calloc((size_t)nv + 1, sizeof(int));
    if (!index) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int v = 0; v < nv; v++) {
        const lm_value *val = &g->values[v];
        index[v] = -1;
        if (p->constant[v] || (count[v] == 0 && !val->is_output))
            continue;
        int producer = val->producer >= 0 ? step_of[val->producer] : -1;
        if (count[v] == 0 && producer < 0)
            continue; /* an input returned as it is: no step touches it */
        lm_part_value *pv = &pl->values[pl->n_values];
        index[v] = pl->n_values++;
        pv->producer = producer;
        pv->bytes = shape[v] ? shape[v]->nbytes : 0;
        pv->consumers = &pl->consumers[at[v]];
        pv->is_output = val->is_output;
    }
    for (int i = 0; i < p->n_steps; i++) {
        const lm_node *n = &g->nodes[p->steps[i]];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v >= 0 && index[v] >= 0) {
                lm_part_value *pv = &pl->values[index[v]];
                pl->consumers[at[v] + pv->n_consumers++] = i;
            }
        }
    }
    free(index);
out:
    free(step_of);
    free(count);
    free(at);
    return s;
}

/* The reason of a step the solver placed: why its device and not another. */
static void explain(const placement *pl, const lm_node *n, int i, int chosen, lm_step_note *note)
{
    const double *cost = &pl->cost[(size_t)i * (size_t)pl->m];
    const char *name = pl->dev[chosen]->name;
    int best = -1, other = -1;
    for (int d = 0; d < pl->m; d++) {
        if (cost[d] < 0)
            continue;
        if (best < 0 || cost[d] < cost[best])
            best = d;
        if (d != chosen && (other < 0 || cost[d] < cost[other]))
            other = d;
    }
    if (other < 0) {
        int declined = -1;
        for (int d = 0; d < pl->m && declined < 0; d++)
            declined =
                d != chosen && !pl->excluded[d] && !(pl->fallback_only && d == pl->host) ? d : -1;
        if (declined >= 0)
            say(note, "%s: %s not supported on %s", name, n->op_type, pl->dev[declined]->name);
        else if (pl->fallback_only && chosen != pl->host)
            say(note, "%s: named, the CPU is only the fallback", name);
        else
            say(note, "%s: the only device", name);
    } else if (best != chosen && pl->capacity[best] &&
               pl->used[best] + pl->mem_need[i] > pl->capacity[best]) {
        say(note, "%s: %s would save %.1f us but has no memory left for its weights", name,
            pl->dev[best]->name, cost[chosen] - cost[best]);
    } else if (best == chosen) {
        say(note, "%s: %.1f us, fastest (%s %.1f us)", name, cost[chosen], pl->dev[other]->name,
            cost[other]);
    } else {
        say(note, "%s: transfers outweigh the %.1f us %s would save", name,
            cost[chosen] - cost[best], pl->dev[best]->name);
    }
}

loom_status lm_plan_place(lm_plan *p, const loom_context *ctx, const lm_graph *g,
                          loom_tensor *const *shape, lm_devset usable, lm_device **device)
{
    placement pl = {.n = p->n_steps, .fallback_only = ctx->cpu_fallback_only};
    int n = p->n_steps;
    loom_status s = choose_devices(&pl, ctx, usable);
    if (s)
        return s;
    price_links(&pl);
    pl.cost = malloc(sizeof(double) * (size_t)n * (size_t)pl.m);
    pl.pin = malloc(sizeof(int) * (size_t)n);
    pl.mem_need = malloc(sizeof(uint64_t) * (size_t)n);
    pl.step_names = malloc(sizeof(char *) * (size_t)n);
    int *chosen = malloc(sizeof(int) * (size_t)n);
    if (!pl.cost || !pl.pin || !pl.mem_need || !pl.step_names || !chosen) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int i = 0; i < n && !s; i++) {
        const lm_node *node = &g->nodes[p->steps[i]];
        pl.step_names[i] = node->name;
        s = price_step(&pl, p, ctx, node, shape, i, &p->notes[i]);
    }
    if (s || (s = list_values(&pl, p, g, shape)))
        goto out;
    lm_part_problem prob = {
        .n_steps = n,
        .n_devices = pl.m,
        .host = pl.host,
        .cost = pl.cost,
        .pin = pl.pin,
        .excluded = pl.excluded,
        .n_values = pl.n_values,
        .values = pl.values,
        .latency = pl.latency,
        .bandwidth = pl.bandwidth,
        .launch = pl.launch,
        .mem_capacity = pl.capacity,
        .mem_need = pl.mem_need,
        .step_names = pl.step_names,
        .dev_names = pl.dev_names,
    };
    lm_part_options opt = {.objective = ctx->policy.objective == LOOM_OBJECTIVE_THROUGHPUT
                                            ? LM_PART_THROUGHPUT
                                            : LM_PART_LATENCY};
    if ((s = lm_partition(&prob, &opt, chosen, &p->placement)))
        goto out;
    for (int i = 0; i < n; i++)
        pl.used[chosen[i]] += pl.mem_need[i];
    for (int i = 0; i < n; i++) {
        device[i] = pl.dev[chosen[i]];
        if (pl.pin[i] >= 0)
            continue; /* noted when pinned */
        p->notes[i].est_us = pl.cost[(size_t)i * (size_t)pl.m + (size_t)chosen[i]];
        explain(&pl, &g->nodes[p->steps[i]], i, chosen[i], &p->notes[i]);
    }
out:
    free(chosen);
    placement_free(&pl);
    return s;
}
