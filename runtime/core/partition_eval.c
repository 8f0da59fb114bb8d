/*
 * partition_eval.c - the objective function of partition.h, applied to one
 * whole assignment. The solvers optimise it incrementally; this is the
 * reference they are checked against and what lm_partition() reports.
 */
#include <string.h>

#include "error.h"
#include "partition_internal.h"

int lm_pp_eval(const lm_pp *pp, const int *a, lm_part_eval *ev)
{
    int m = pp->m;
    uint64_t used[LM_PART_MAX_DEVICES] = {0};
    memset(ev, 0, sizeof(*ev));
    for (int i = 0; i < pp->n; i++) {
        int d = a[i];
        if (d < 0 || d >= m || pp->cost[i * m + d] < 0)
            return -1;
        used[d] += pp->need[i];
        if (pp->cap[d] && used[d] > pp->cap[d])
            return -1;
        ev->step_ns += pp->cost[i * m + d];
        ev->load_ns[d] += pp->cost[i * m + d];
        if (i == 0 || a[i - 1] != d) {
            ev->segments++;
            ev->launch_ns += pp->launch[d];
            ev->load_ns[d] += pp->launch[d];
        }
    }
    for (int v = 0; v < pp->nv; v++) {
        const lm_part_value *val = &pp->p->values[v];
        unsigned loc = 1u << (val->producer >= 0 ? a[val->producer] : pp->host);
        if (val->is_output)
            ev->hop_ns += lm_pp_arrive(pp, v, &loc, pp->host, ev->load_ns, &ev->hops);
        for (int k = 0; k < val->n_consumers; k++)
            ev->hop_ns += lm_pp_arrive(pp, v, &loc, a[val->consumers[k]], ev->load_ns, &ev->hops);
    }
    ev->total_ns = ev->step_ns + ev->hop_ns + ev->launch_ns;
    for (int d = 0; d < m; d++)
        if (ev->load_ns[d] > ev->bottleneck_ns)
            ev->bottleneck_ns = ev->load_ns[d];
    return 0;
}

/* Names the first rule @a breaks. */
static loom_status explain(const lm_pp *pp, const int *a)
{
    const lm_part_problem *p = pp->p;
    char sb[96], db[64];
    uint64_t used[LM_PART_MAX_DEVICES] = {0};
    for (int i = 0; i < pp->n; i++) {
        int d = a[i];
        if (d < 0 || d >= pp->m)
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: no device %d",
                            lm_pp_step(pp, i, sb, sizeof(sb)), d);
        lm_pp_step(pp, i, sb, sizeof(sb));
        lm_pp_dev(pp, d, db, sizeof(db));
        if (p->excluded && p->excluded[d])
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: on %s, which is excluded", sb, db);
        if (p->pin && p->pin[i] >= 0 && p->pin[i] != d)
            return lm_error(LOOM_ERR_INVALID_ARGUMENT, "%s: on %s, but pinned to device %d", sb, db,
                            p->pin[i]);
        if (p->cost[i * pp->m + d] < 0)
            return lm_error(LOOM_ERR_UNSUPPORTED, "%s: %s cannot run it", sb, db);
        used[d] += pp->need[i];
        if (pp->cap[d] && used[d] > pp->cap[d])
            return lm_error(LOOM_ERR_NO_MEMORY, "%s: %s is out of memory (%llu of %llu bytes)", sb,
                            db, (unsigned long long)used[d], (unsigned long long)pp->cap[d]);
    }
    return LOOM_OK;
}

loom_status lm_part_evaluate(const lm_part_problem *p, const int *device, lm_part_eval *ev)
{
    lm_pp pp;
    loom_status s = lm_pp_init(&pp, p);
    if (!s && lm_pp_eval(&pp, device, ev))
        s = explain(&pp, device);
    lm_pp_free(&pp);
    return s;
}

static int cmp64(int64_t x, int64_t y)
{
    return (x > y) - (x < y);
}

int lm_part_compare(lm_part_objective obj, const lm_part_eval *a, const lm_part_eval *b)
{
    if (obj == LM_PART_THROUGHPUT && a->bottleneck_ns != b->bottleneck_ns)
        return cmp64(a->bottleneck_ns, b->bottleneck_ns);
    return cmp64(a->total_ns, b->total_ns);
}

const char *lm_part_algorithm_name(lm_part_algorithm alg)
{
    static const char *const names[] = {"dp", "heft", "bnb", "stages", "trivial"};
    return (unsigned)alg < sizeof(names) / sizeof(names[0]) ? names[alg] : "?";
}
