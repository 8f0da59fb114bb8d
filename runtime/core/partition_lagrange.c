/*
 * partition_lagrange.c - memory limits by Lagrangian relaxation, for the
 * latency fallback when the DP with the limits in its state is too large.
 *
 * Each byte a step keeps on a limited device d is charged lambda[d] ns, and
 * the DP without limits (narrow cut, cheap) solves the charged problem. A
 * device over its limit gets a higher price, one with room a lower one
 * (doubling, then bisection), for a fixed number of rounds; the cheapest
 * feasible assignment seen, by the true objective, is the answer. Not
 * exact (a duality gap remains), but it prices memory against time over
 * the whole graph where repair moves steps one at a time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "partition_internal.h"

#define ROUNDS 32

typedef struct prices {
    double lambda[LM_PART_MAX_DEVICES], lo[LM_PART_MAX_DEVICES], hi[LM_PART_MAX_DEVICES];
    double base[LM_PART_MAX_DEVICES]; /* first price: the device's mean ns per byte */
} prices;

static void start_prices(const lm_pp *pp, prices *pr)
{
    for (int d = 0; d < pp->m; d++) {
        double ns = 0, bytes = 0;
        for (int i = 0; i < pp->n; i++)
            if (pp->cost[i * pp->m + d] >= 0)
                ns += (double)pp->cost[i * pp->m + d], bytes += (double)pp->need[i];
        pr->lambda[d] = pr->lo[d] = 0, pr->hi[d] = -1;
        pr->base[d] = bytes > 0 ? (ns > 0 ? ns : 1) / bytes : 0;
    }
}

/* The charged cost table of @pen from @pp's and the prices. */
static void charge(const lm_pp *pp, const prices *pr, int64_t *cost)
{
    for (int i = 0; i < pp->n; i++)
        for (int d = 0; d < pp->m; d++) {
            int64_t c = pp->cost[i * pp->m + d];
            cost[i * pp->m + d] = c < 0 ? -1 : c + llround(pr->lambda[d] * (double)pp->need[i]);
        }
}

/* Raises the prices of over-full devices, lowers those of the others; 0 if
 * every price is back to 0 with nothing over-full (nothing left to try). */
static int reprice(const lm_pp *pp, const int *a, prices *pr)
{
    uint64_t used[LM_PART_MAX_DEVICES] = {0};
    int moved = 0;
    for (int i = 0; i < pp->n; i++)
        used[a[i]] += pp->need[i];
    for (int d = 0; d < pp->m; d++) {
        if (!pp->cap[d])
            continue;
        if (used[d] > pp->cap[d]) {
            pr->lo[d] = pr->lambda[d];
            pr->lambda[d] = pr->hi[d] >= 0 ? (pr->lo[d] + pr->hi[d]) / 2
                                           : (pr->lambda[d] > 0 ? 2 * pr->lambda[d] : pr->base[d]);
        } else if (pr->lambda[d] > 0) {
            pr->hi[d] = pr->lambda[d];
            pr->lambda[d] = (pr->lo[d] + pr->hi[d]) / 2;
        }
        moved |= pr->lambda[d] > 0;
    }
    return moved;
}

int lm_part_lagrange(const lm_pp *pp, long max_states, int *a)
{
    lm_pp pen = *pp; /* shares the other tables */
    memset(pen.cap, 0, sizeof(pen.cap));
    pen.has_mem = 0;
    pen.cost = malloc((size_t)pp->n * (size_t)pp->m * sizeof(int64_t));
    int *b = malloc((size_t)pp->n * sizeof(int)), found = 0;
    prices pr;
    start_prices(pp, &pr);
    lm_part_eval best, ev;
    for (int round = 0; pen.cost && b && round < ROUNDS; round++) {
        charge(pp, &pr, pen.cost);
        long states;
        int over;
        if (lm_part_dp(&pen, max_states, b, &states, &over) || over)
            break;
        if (!lm_pp_eval(pp, b, &ev) &&
            (!found || lm_part_compare(LM_PART_LATENCY, &ev, &best) < 0)) {
            memcpy(a, b, (size_t)pp->n * sizeof(int));
            best = ev, found = 1;
        }
        if (!reprice(pp, b, &pr))
            break;
    }
    free(pen.cost);
    free(b);
    return found ? 0 : -1;
}
