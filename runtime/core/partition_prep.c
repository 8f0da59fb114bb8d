/*
 * partition_prep.c - checks a partitioning problem and prepares it for the
 * solvers: costs rounded to integer ns once (so every solver adds the same
 * integers), allowed devices folded into the cost table, per-step lists of
 * the values read and produced, and the rules checked one step at a time so
 * an impossible problem is reported by the step that makes it so.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "partition_internal.h"

static int64_t to_ns(double us)
{
    return (int64_t)llround(us * 1000.0);
}

const char *lm_pp_step(const lm_pp *pp, int i, char *buf, int len)
{
    const char *name = pp->p->step_names ? pp->p->step_names[i] : NULL;
    if (name)
        snprintf(buf, (size_t)len, "step %d (%s)", i, name);
    else
        snprintf(buf, (size_t)len, "step %d", i);
    return buf;
}

const char *lm_pp_dev(const lm_pp *pp, int d, char *buf, int len)
{
    const char *name = pp->p->dev_names ? pp->p->dev_names[d] : NULL;
    if (name)
        snprintf(buf, (size_t)len, "%s", name);
    else
        snprintf(buf, (size_t)len, "device %d", d);
    return buf;
}

void lm_pp_free(lm_pp *pp)
{
    free(pp->cost);
    free(pp->up);
    free(pp->down);
    free(pp->in_off);
    free(pp->in_val);
    free(pp->out_off);
    free(pp->out_val);
    free(pp->last_use);
    free(pp->need);
    memset(pp, 0, sizeof(*pp));
}

static loom_status check_shape(const lm_part_problem *p)
{
    if (p->n_devices < 1 || p->n_devices > LM_PART_MAX_DEVICES)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: %d devices (1 to %d)", p->n_devices,
                        LM_PART_MAX_DEVICES);
    if (p->host < 0 || p->host >= p->n_devices)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: host %d is not a device", p->host);
    if (p->n_steps < 0 || p->n_values < 0 || (p->n_steps && !p->cost) ||
        (p->n_values && !p->values))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: missing steps, costs or values");
    if (p->priority) {
        unsigned seen = 0;
        for (int k = 0; k < p->n_devices; k++) {
            int d = p->priority[k];
            if (d < 0 || d >= p->n_devices || (seen & (1u << d)))
                return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                                "partition: priority is not an order of the %d devices",
                                p->n_devices);
            seen |= 1u << d;
        }
    }
    return LOOM_OK;
}

static loom_status check_steps(const lm_part_problem *p)
{
    int m = p->n_devices;
    for (int i = 0; i < p->n_steps; i++) {
        for (int d = 0; d < m; d++)
            if (!isfinite(p->cost[i * m + d]))
                return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: step %d cost on %d is %g", i,
                                d, p->cost[i * m + d]);
        if (p->pin && (p->pin[i] < -1 || p->pin[i] >= m))
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: step %d pinned to device %d", i,
                            p->pin[i]);
    }
    for (int d = 0; d < m; d++)
        if (p->launch && !(p->launch[d] >= 0 && isfinite(p->launch[d])))
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: launch of device %d is %g", d,
                            p->launch[d]);
    return LOOM_OK;
}

static loom_status check_values(const lm_part_problem *p)
{
    for (int v = 0; v < p->n_values; v++) {
        const lm_part_value *val = &p->values[v];
        if (val->producer < -1 || val->producer >= p->n_steps || val->n_consumers < 0 ||
            (val->n_consumers && !val->consumers))
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "partition: value %d is malformed", v);
        for (int k = 0; k < val->n_consumers; k++) {
            int c = val->consumers[k];
            if (c <= val->producer || c >= p->n_steps)
                return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                                "partition: value %d (from step %d) read by step %d: "
                                "not in topological order",
                                v, val->producer, c);
        }
    }
    return LOOM_OK;
}

/* One hop of @bytes from @a to @b, in ns; -1 if the link is not usable. */
static int64_t hop_ns(const lm_part_problem *p, int a, int b, uint64_t bytes)
{
    int m = p->n_devices;
    double lat = p->latency ? p->latency[a * m + b] : 0.0;
    double bw = p->bandwidth ? p->bandwidth[a * m + b] : INFINITY;
    if (!(lat >= 0 && isfinite(lat)) || !(bw > 0))
        return -1;
    return to_ns(lat + (isinf(bw) ? 0.0 : (double)bytes / bw));
}

static loom_status prep_hops(lm_pp *pp)
{
    const lm_part_problem *p = pp->p;
    int m = pp->m, h = pp->host;
    for (int v = 0; v < pp->nv; v++)
        for (int d = 0; d < m; d++) {
            if (d == h)
                continue;
            int64_t up = hop_ns(p, d, h, p->values[v].bytes);
            int64_t down = hop_ns(p, h, d, p->values[v].bytes);
            if (up < 0 || down < 0)
                return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                                "partition: latency or bandwidth between device %d and the host "
                                "is not usable",
                                d);
            pp->up[v * m + d] = up;
            pp->down[v * m + d] = down;
        }
    return LOOM_OK;
}

/* Folds exclusions and pins into the cost table: -1 = not allowed. */
static void prep_costs(lm_pp *pp)
{
    const lm_part_problem *p = pp->p;
    int m = pp->m;
    for (int i = 0; i < pp->n; i++)
        for (int d = 0; d < m; d++) {
            double c = p->cost[i * m + d];
            int ok = c >= 0 && !(p->excluded && p->excluded[d]) &&
                     !(p->pin && p->pin[i] >= 0 && p->pin[i] != d);
            pp->cost[i * m + d] = ok ? to_ns(c) : -1;
        }
    for (int d = 0; d < m; d++)
        pp->launch[d] = p->launch ? to_ns(p->launch[d]) : 0;
}

/* CSR lists of distinct inputs and of outputs per step; last uses. */
static void prep_lists(lm_pp *pp)
{
    const lm_part_problem *p = pp->p;
    int *last = pp->last_use;
    for (int v = 0; v < pp->nv; v++)
        last[v] = -1;
    for (int v = 0; v < pp->nv; v++) {
        const lm_part_value *val = &p->values[v];
        if (val->producer >= 0)
            pp->out_off[val->producer + 1]++;
        for (int k = 0; k < val->n_consumers; k++)
            pp->in_off[val->consumers[k] + 1]++; /* counts repeats; trimmed below */
    }
    for (int i = 0; i < pp->n; i++) {
        pp->in_off[i + 1] += pp->in_off[i];
        pp->out_off[i + 1] += pp->out_off[i];
    }
    int *in_fill = calloc((size_t)pp->n + 1, sizeof(int));
    int *out_fill = calloc((size_t)pp->n + 1, sizeof(int));
    for (int v = 0; v < pp->nv; v++) {
        const lm_part_value *val = &p->values[v];
        if (val->producer >= 0)
            pp->out_val[pp->out_off[val->producer] + out_fill[val->producer]++] = v;
        for (int k = 0; k < val->n_consumers; k++) {
            int c = val->consumers[k];
            int dup = 0;
            for (int j = pp->in_off[c]; j < pp->in_off[c] + in_fill[c]; j++)
                dup |= pp->in_val[j] == v;
            if (!dup)
                pp->in_val[pp->in_off[c] + in_fill[c]++] = v;
            if (c > last[v])
                last[v] = c;
        }
    }
    /* Compact the inputs: repeats left holes at the end of each step's range. */
    int w = 0;
    for (int i = 0; i < pp->n; i++) {
        int start = pp->in_off[i];
        pp->in_off[i] = w;
        for (int j = 0; j < in_fill[i]; j++)
            pp->in_val[w++] = pp->in_val[start + j];
    }
    pp->in_off[pp->n] = w;
    free(in_fill);
    free(out_fill);
}

/* A capacity that the allowed steps cannot fill is no constraint: drop it so
 * the DP keeps no memory dimension for it. */
static void prep_memory(lm_pp *pp)
{
    const lm_part_problem *p = pp->p;
    for (int d = 0; d < pp->m; d++) {
        uint64_t cap = p->mem_capacity ? p->mem_capacity[d] : 0, sum = 0;
        for (int i = 0; i < pp->n && cap; i++)
            if (pp->cost[i * pp->m + d] >= 0)
                sum += pp->need[i];
        pp->cap[d] = sum > cap ? cap : 0;
        pp->has_mem |= pp->cap[d] != 0;
    }
}

loom_status lm_pp_init(lm_pp *pp, const lm_part_problem *p)
{
    memset(pp, 0, sizeof(*pp));
    pp->p = p;
    loom_status s = check_shape(p);
    if (!s)
        s = check_steps(p);
    if (!s)
        s = check_values(p);
    if (s)
        return s;
    pp->n = p->n_steps, pp->m = p->n_devices, pp->host = p->host, pp->nv = p->n_values;
    size_t n = (size_t)pp->n, nv = (size_t)pp->nv, m = (size_t)pp->m;
    size_t reads = 0;
    for (int v = 0; v < pp->nv; v++)
        reads += (size_t)p->values[v].n_consumers;
    pp->cost = malloc((n * m + 1) * sizeof(int64_t));
    pp->up = calloc(nv * m + 1, sizeof(int64_t));
    pp->down = calloc(nv * m + 1, sizeof(int64_t));
    pp->in_off = calloc(n + 1, sizeof(int));
    pp->in_val = malloc((reads + 1) * sizeof(int));
    pp->out_off = calloc(n + 1, sizeof(int));
    pp->out_val = malloc((nv + 1) * sizeof(int));
    pp->last_use = malloc((nv + 1) * sizeof(int));
    pp->need = calloc(n + 1, sizeof(uint64_t));
    if (!pp->cost || !pp->up || !pp->down || !pp->in_off || !pp->in_val || !pp->out_off ||
        !pp->out_val || !pp->last_use || !pp->need)
        return lm_error(LOOM_ERR_NO_MEMORY, "partition: out of memory");
    for (int k = 0; k < pp->m; k++) {
        pp->order[k] = p->priority ? p->priority[k] : k;
        pp->rank[pp->order[k]] = k;
    }
    for (int i = 0; i < pp->n; i++)
        pp->need[i] = p->mem_need ? p->mem_need[i] : 0;
    prep_costs(pp);
    prep_lists(pp);
    prep_memory(pp);
    return prep_hops(pp);
}

/* A pin that cannot hold, or a step no allowed device can run. */
static loom_status precheck_step(const lm_pp *pp, int i)
{
    const lm_part_problem *p = pp->p;
    char sb[96], db[64];
    int pin = p->pin ? p->pin[i] : -1;
    if (pin >= 0 && p->excluded && p->excluded[pin])
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: pinned to %s, which is excluded",
                        lm_pp_step(pp, i, sb, sizeof(sb)), lm_pp_dev(pp, pin, db, sizeof(db)));
    if (pin >= 0 && p->cost[i * pp->m + pin] < 0)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: pinned to %s, which cannot run it",
                        lm_pp_step(pp, i, sb, sizeof(sb)), lm_pp_dev(pp, pin, db, sizeof(db)));
    int any = 0, fits = 0;
    for (int d = 0; d < pp->m; d++)
        if (pp->cost[i * pp->m + d] >= 0) {
            any = 1;
            fits |= !pp->cap[d] || pp->need[i] <= pp->cap[d];
        }
    if (!any)
        return lm_error(LOOM_ERR_UNSUPPORTED, "%s: no allowed device can run it",
                        lm_pp_step(pp, i, sb, sizeof(sb)));
    if (!fits)
        return lm_error(LOOM_ERR_NO_MEMORY,
                        "%s: needs %llu bytes, more than the memory of every device that can run "
                        "it",
                        lm_pp_step(pp, i, sb, sizeof(sb)), (unsigned long long)pp->need[i]);
    return LOOM_OK;
}

/* Steps with a single allowed device must all fit in it together. */
static loom_status precheck_forced(const lm_pp *pp)
{
    uint64_t used[LM_PART_MAX_DEVICES] = {0};
    char sb[96], db[64];
    for (int i = 0; i < pp->n; i++) {
        int only = -1, count = 0;
        for (int d = 0; d < pp->m; d++)
            if (pp->cost[i * pp->m + d] >= 0)
                only = d, count++;
        if (count != 1 || !pp->cap[only])
            continue;
        used[only] += pp->need[i];
        if (used[only] > pp->cap[only])
            return lm_error(LOOM_ERR_NO_MEMORY,
                            "%s: only %s can run it, and with the steps before it that only %s "
                            "can run it needs %llu bytes of its %llu",
                            lm_pp_step(pp, i, sb, sizeof(sb)), lm_pp_dev(pp, only, db, sizeof(db)),
                            db, (unsigned long long)used[only], (unsigned long long)pp->cap[only]);
    }
    return LOOM_OK;
}

loom_status lm_pp_precheck(const lm_pp *pp)
{
    for (int i = 0; i < pp->n; i++) {
        loom_status s = precheck_step(pp, i);
        if (s)
            return s;
    }
    return precheck_forced(pp);
}
