/*
 * partition_stages.c - a throughput seed for problems too large for branch
 * and bound: the order cut into contiguous pipeline stages, each on its own
 * device, minimising the largest stage (a DP over cut points and the set of
 * devices used so far, O(n^2 * m * 2^m)).
 *
 * A stage's load is estimated as its step costs, one launch, and one hop in
 * for each value it reads from before the stage; hops into the host from
 * other stages are left out of the estimate. The caller evaluates the seed
 * exactly and improves it, so the estimate only steers the search.
 */
#include <stdlib.h>
#include <string.h>

#include "partition_internal.h"

#define STAGES_MAX_DEVICES 6

typedef struct stages {
    const lm_pp *pp;
    int64_t *f; /* [(n + 1) << m] least largest stage for steps < j using device set S; -1 */
    int *from;  /* [(n + 1) << m] start * m + device of the last stage */
    int *stamp; /* [nv] last sweep that counted a value */
    int mark;
} stages;

/* Stages [@j, i + 1) on @e for every i, from every state at cut @j. */
static void sweep(stages *s, int j, int e)
{
    const lm_pp *pp = s->pp;
    int m = pp->m, sets = 1 << m;
    int64_t load = pp->launch[e];
    uint64_t mem = 0;
    s->mark++;
    for (int i = j; i < pp->n; i++) {
        int64_t c = pp->cost[i * m + e];
        mem += pp->need[i];
        if (c < 0 || (pp->cap[e] && mem > pp->cap[e]))
            return;
        load += c;
        for (int k = pp->in_off[i]; k < pp->in_off[i + 1]; k++) {
            int v = pp->in_val[k];
            if (pp->p->values[v].producer < j && s->stamp[v] != s->mark) {
                s->stamp[v] = s->mark;
                load += e != pp->host ? pp->down[v * m + e] : 0;
            }
        }
        for (int set = 0; set < sets; set++) {
            int64_t prev = s->f[(size_t)j * sets + set];
            if (prev < 0 || (set & (1 << e)))
                continue;
            int64_t val = prev > load ? prev : load;
            size_t to = (size_t)(i + 1) * sets + (set | (1 << e));
            if (s->f[to] < 0 || val < s->f[to])
                s->f[to] = val, s->from[to] = j * m + e;
        }
    }
}

/* Reads the best complete split back into @a; -1 if there is none. */
static int reconstruct(const stages *s, int *a)
{
    const lm_pp *pp = s->pp;
    int sets = 1 << pp->m, best = -1;
    for (int set = 0; set < sets; set++) {
        int64_t v = s->f[(size_t)pp->n * sets + set];
        if (v >= 0 && (best < 0 || v < s->f[(size_t)pp->n * sets + best]))
            best = set;
    }
    if (best < 0)
        return -1;
    for (int end = pp->n, set = best; end > 0;) {
        int code = s->from[(size_t)end * sets + set];
        int j = code / pp->m, e = code % pp->m;
        for (int i = j; i < end; i++)
            a[i] = e;
        end = j, set &= ~(1 << e);
    }
    return 0;
}

int lm_part_stages(const lm_pp *pp, int *a)
{
    if (pp->m > STAGES_MAX_DEVICES)
        return -1;
    size_t cells = ((size_t)pp->n + 1) << pp->m;
    stages s = {.pp = pp};
    s.f = malloc(cells * sizeof(int64_t));
    s.from = malloc(cells * sizeof(int));
    s.stamp = calloc((size_t)pp->nv + 1, sizeof(int));
    int r = -1;
    if (s.f && s.from && s.stamp) {
        memset(s.f, -1, cells * sizeof(int64_t));
        s.f[0] = 0;
        for (int j = 0; j < pp->n; j++)
            for (int k = 0; k < pp->m; k++)
                sweep(&s, j, pp->order[k]);
        r = reconstruct(&s, a);
    }
    free(s.f);
    free(s.from);
    free(s.stamp);
    return r;
}
