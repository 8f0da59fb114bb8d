/*
 * partition_heft.c - the latency fallback for graphs too wide for the DP:
 * HEFT-style list scheduling (Topcuoglu et al., 2002).
 *
 * Steps are taken by decreasing upward rank (mean cost plus the longest
 * mean-cost path to the end, transfers included), which is a topological
 * order, and each goes to the device where it would finish earliest given
 * when that device is free, when its inputs arrive, a launch if the device
 * was not running the step scheduled just before, and the memory left. The
 * result is then polished by partition_improve.c under the exact objective.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "partition_internal.h"

/* Mean cost of step @i over the devices allowed to run it. */
static double mean_cost(const lm_pp *pp, int i)
{
    double sum = 0;
    int count = 0;
    for (int d = 0; d < pp->m; d++)
        if (pp->cost[i * pp->m + d] >= 0)
            sum += (double)pp->cost[i * pp->m + d], count++;
    return count ? sum / count : 0;
}

/* Mean cost of moving value @v between two devices (one hop each way). */
static double mean_hop(const lm_pp *pp, int v)
{
    double sum = 0;
    int count = 0;
    for (int d = 0; d < pp->m; d++)
        if (d != pp->host)
            sum += (double)(pp->up[v * pp->m + d] + pp->down[v * pp->m + d]) / 2, count++;
    return count ? sum / count : 0;
}

/* Upward ranks, from the last step back (readers come after producers). */
static void upward_rank(const lm_pp *pp, double *rank)
{
    for (int i = pp->n - 1; i >= 0; i--) {
        double tail = 0;
        for (int k = pp->out_off[i]; k < pp->out_off[i + 1]; k++) {
            const lm_part_value *val = &pp->p->values[pp->out_val[k]];
            double w = mean_hop(pp, pp->out_val[k]);
            for (int j = 0; j < val->n_consumers; j++)
                if (w + rank[val->consumers[j]] > tail)
                    tail = w + rank[val->consumers[j]];
        }
        rank[i] = mean_cost(pp, i) + tail;
    }
}

typedef struct ranked {
    double rank;
    int step;
} ranked;

/* Higher rank first, then the earlier step: a topological order, since a
 * step's rank is at least that of any reader. */
static int by_rank(const void *x, const void *y)
{
    const ranked *a = x, *b = y;
    if (a->rank != b->rank)
        return a->rank > b->rank ? -1 : 1;
    return a->step - b->step;
}

/* When value @v would be ready on device @d. */
static int64_t ready_at(const lm_pp *pp, int v, int d, const int *a, const int64_t *finish)
{
    int p = pp->p->values[v].producer;
    int from = p >= 0 ? a[p] : pp->host;
    int64_t t = p >= 0 ? finish[p] : 0;
    unsigned loc = 1u << from;
    return t + lm_pp_arrive(pp, v, &loc, d, NULL, NULL);
}

/* The earliest finish of step @i on @d; -1 if it cannot go there. */
static int64_t finish_on(const lm_pp *pp, int i, int d, const int *a, const int64_t *finish,
                         const int64_t *avail, const uint64_t *used, int last)
{
    int64_t c = pp->cost[i * pp->m + d];
    if (c < 0 || (pp->cap[d] && used[d] + pp->need[i] > pp->cap[d]))
        return -1;
    int64_t start = avail[d];
    for (int k = pp->in_off[i]; k < pp->in_off[i + 1]; k++) {
        int64_t r = ready_at(pp, pp->in_val[k], d, a, finish);
        if (r > start)
            start = r;
    }
    return start + c + (last != d ? pp->launch[d] : 0);
}

static loom_status schedule(const lm_pp *pp, const int *order, int *a, int64_t *finish)
{
    int64_t avail[LM_PART_MAX_DEVICES] = {0};
    uint64_t used[LM_PART_MAX_DEVICES] = {0};
    int last = -1;
    for (int k = 0; k < pp->n; k++) {
        int i = order[k], best = -1;
        int64_t best_f = 0;
        for (int r = 0; r < pp->m; r++) {
            int d = pp->order[r];
            int64_t f = finish_on(pp, i, d, a, finish, avail, used, last);
            if (f >= 0 && (best < 0 || f < best_f))
                best = d, best_f = f;
        }
        if (best < 0) {
            char sb[96];
            return lm_error(LOOM_ERR_NO_MEMORY,
                            "%s: list scheduling found no device with memory left for it",
                            lm_pp_step(pp, i, sb, sizeof(sb)));
        }
        a[i] = best, finish[i] = best_f, avail[best] = best_f, last = best;
        used[best] += pp->need[i];
    }
    return LOOM_OK;
}

loom_status lm_part_heft(const lm_pp *pp, int *a)
{
    double *rank = malloc((size_t)pp->n * sizeof(double));
    ranked *by = malloc((size_t)pp->n * sizeof(ranked));
    int *order = malloc((size_t)pp->n * sizeof(int));
    int64_t *finish = malloc((size_t)pp->n * sizeof(int64_t));
    loom_status s = LOOM_OK;
    if (!rank || !by || !order || !finish) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "partition: out of memory");
    } else {
        upward_rank(pp, rank);
        for (int i = 0; i < pp->n; i++)
            by[i] = (ranked){rank[i], i};
        qsort(by, (size_t)pp->n, sizeof(ranked), by_rank);
        for (int i = 0; i < pp->n; i++)
            order[i] = by[i].step;
        s = schedule(pp, order, a, finish);
    }
    free(rank);
    free(by);
    free(order);
    free(finish);
    return s;
}
