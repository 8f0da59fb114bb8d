/*
 * partition_improve.c - local improvement for the heuristic solvers, under
 * the exact objective (lm_pp_eval), so a move is kept only if the whole
 * assignment gets strictly better.
 *
 * Moves: one step to another device, and a whole segment to another device
 * (which merges it with its neighbours when they are on that device: the
 * move that removes a short segment that does not pay its launch and
 * transfers). Passes repeat until none improves, at most MAX_PASSES.
 */
#include <stdlib.h>
#include <string.h>

#include "partition_internal.h"

#define MAX_PASSES 64

/* Moves steps [@lo, @hi) to @d; keeps the move if it improves *@cur. */
static int try_move(const lm_pp *pp, lm_part_objective obj, int *a, int *save, int lo, int hi,
                    int d, lm_part_eval *cur)
{
    for (int i = lo; i < hi; i++) {
        if (pp->cost[i * pp->m + d] < 0)
            return 0;
    }
    memcpy(save + lo, a + lo, (size_t)(hi - lo) * sizeof(int));
    for (int i = lo; i < hi; i++)
        a[i] = d;
    lm_part_eval ev;
    if (!lm_pp_eval(pp, a, &ev) && lm_part_compare(obj, &ev, cur) < 0) {
        *cur = ev;
        return 1;
    }
    memcpy(a + lo, save + lo, (size_t)(hi - lo) * sizeof(int));
    return 0;
}

static int pass_steps(const lm_pp *pp, lm_part_objective obj, int *a, int *save, lm_part_eval *cur)
{
    int improved = 0;
    for (int i = 0; i < pp->n; i++)
        for (int k = 0; k < pp->m; k++)
            if (pp->order[k] != a[i])
                improved |= try_move(pp, obj, a, save, i, i + 1, pp->order[k], cur);
    return improved;
}

static int pass_segments(const lm_pp *pp, lm_part_objective obj, int *a, int *save,
                         lm_part_eval *cur)
{
    int improved = 0;
    for (int lo = 0; lo < pp->n;) {
        int hi = lo + 1;
        while (hi < pp->n && a[hi] == a[lo])
            hi++;
        for (int k = 0; k < pp->m; k++)
            if (pp->order[k] != a[lo])
                improved |= try_move(pp, obj, a, save, lo, hi, pp->order[k], cur);
        lo = hi;
    }
    return improved;
}

void lm_part_improve(const lm_pp *pp, lm_part_objective obj, int *a)
{
    lm_part_eval cur;
    int *save = malloc((size_t)pp->n * sizeof(int));
    if (!save || lm_pp_eval(pp, a, &cur)) {
        free(save);
        return;
    }
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        int improved = pass_segments(pp, obj, a, save, &cur);
        improved |= pass_steps(pp, obj, a, save, &cur);
        if (!improved)
            break;
    }
    free(save);
}

int lm_part_try_single(const lm_pp *pp, lm_part_objective obj, int *a, int have)
{
    lm_part_eval cur, ev;
    int *one = malloc((size_t)pp->n * sizeof(int));
    if (!one)
        return have;
    if (have && lm_pp_eval(pp, a, &cur))
        have = 0;
    for (int k = 0; k < pp->m; k++) {
        for (int i = 0; i < pp->n; i++)
            one[i] = pp->order[k];
        if (lm_pp_eval(pp, one, &ev) || (have && lm_part_compare(obj, &ev, &cur) >= 0))
            continue;
        memcpy(a, one, (size_t)pp->n * sizeof(int));
        cur = ev, have = 1;
    }
    free(one);
    return have;
}
