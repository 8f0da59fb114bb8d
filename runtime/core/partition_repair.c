/*
 * partition_repair.c - memory limits handled by relaxation: solve the
 * latency DP without them (exact, and cheap when the cut is narrow). If
 * that optimum fits, it is the optimum under the limits too (and the first
 * in tie order, since every optimum under the limits is one without). If not
 * and the DP with the limits is too large, move steps off each over-full
 * device until everything fits.
 *
 * A move takes the step on an over-full device whose transfer to a device
 * with room costs the least extra step time per byte it frees (ties: the
 * earlier step, then priority). Transfers and launches are left to the
 * local improvement that follows, which works under the exact objective.
 */
#include <string.h>

#include "partition_internal.h"

/* The first device, in priority order, holding more than its capacity. */
static int over_full(const lm_pp *pp, const int *a, uint64_t *used)
{
    memset(used, 0, LM_PART_MAX_DEVICES * sizeof(uint64_t));
    for (int i = 0; i < pp->n; i++)
        used[a[i]] += pp->need[i];
    for (int k = 0; k < pp->m; k++) {
        int d = pp->order[k];
        if (pp->cap[d] && used[d] > pp->cap[d])
            return d;
    }
    return -1;
}

/* Moves the cheapest step per byte off @d; 0 if none can move. */
static int move_one(const lm_pp *pp, int *a, int d, const uint64_t *used)
{
    int best_i = -1, best_e = -1;
    double best = 0;
    for (int i = 0; i < pp->n; i++) {
        if (a[i] != d || !pp->need[i])
            continue;
        for (int k = 0; k < pp->m; k++) {
            int e = pp->order[k];
            int64_t c = pp->cost[i * pp->m + e];
            if (e == d || c < 0 || (pp->cap[e] && used[e] + pp->need[i] > pp->cap[e]))
                continue;
            double per_byte = (double)(c - pp->cost[i * pp->m + d]) / (double)pp->need[i];
            if (best_i < 0 || per_byte < best)
                best_i = i, best_e = e, best = per_byte;
        }
    }
    if (best_i < 0)
        return 0;
    a[best_i] = best_e;
    return 1;
}

int lm_part_relaxed_dp(const lm_pp *pp, long max_states, int *a, long *states)
{
    lm_pp relaxed = *pp; /* shares the tables; only the capacities differ */
    memset(relaxed.cap, 0, sizeof(relaxed.cap));
    relaxed.has_mem = 0;
    int over;
    return lm_part_dp(&relaxed, max_states, a, states, &over) || over ? -1 : 0;
}

int lm_part_repair(const lm_pp *pp, int *a)
{
    uint64_t used[LM_PART_MAX_DEVICES];
    for (int d; (d = over_full(pp, a, used)) >= 0;)
        if (!move_one(pp, a, d, used))
            return -1;
    return 0;
}
