/*
 * partition_bnb.c - the exact throughput solver: depth-first branch and
 * bound over assignments, step 0 first, devices in priority order.
 *
 * The bottleneck is a max of sums, so no cut-state DP applies; but loads only
 * grow as steps are placed, which gives cheap bounds:
 *   bottleneck >= the largest load so far,
 *              >= (all loads so far + the cheapest cost of every step left)
 *                 / the number of devices that can carry load,
 *              >= the cheapest cost of any step left;
 *   total      >= total so far + the cheapest cost of every step left.
 * The search starts with the latency answer as its bound. Since it visits
 * assignments in the tie order of partition.h, the first optimum it meets is
 * the one to return, and later subtrees that can only tie are cut.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "partition_internal.h"

typedef struct bnb {
    const lm_pp *pp;
    int *a, *best;
    const int *seed;
    int64_t best_b, best_t;
    int seeded;       /* the bound is still the seed, which may not come first in tie order */
    uint8_t *loc;     /* [(n + 1) * nv] where each value is, per depth */
    int64_t *load;    /* [(n + 1) * m] */
    uint64_t *used;   /* [(n + 1) * m] memory */
    int64_t *total;   /* [n + 1] */
    int64_t *rest;    /* [n + 1] sum of the cheapest cost of steps i.. */
    int64_t *restmax; /* [n + 1] the largest of those */
    int carriers;     /* devices that can carry load */
    long nodes, max_nodes;
    int over;
} bnb;

static int cmp_pair(int64_t b1, int64_t t1, int64_t b2, int64_t t2)
{
    if (b1 != b2)
        return b1 < b2 ? -1 : 1;
    return (t1 > t2) - (t1 < t2);
}

/* Applies step @i on @d to the state of depth i, giving depth i + 1; 0 if infeasible. */
static int place(bnb *s, int i, int d)
{
    const lm_pp *pp = s->pp;
    int m = pp->m, nv = pp->nv;
    int64_t c = pp->cost[i * m + d];
    if (c < 0)
        return 0;
    uint64_t *used = s->used + (size_t)(i + 1) * m;
    memcpy(used, s->used + (size_t)i * m, (size_t)m * sizeof(uint64_t));
    used[d] += pp->need[i];
    if (pp->cap[d] && used[d] > pp->cap[d])
        return 0;
    int64_t *load = s->load + (size_t)(i + 1) * m;
    memcpy(load, s->load + (size_t)i * m, (size_t)m * sizeof(int64_t));
    uint8_t *loc = s->loc + (size_t)(i + 1) * nv;
    memcpy(loc, s->loc + (size_t)i * nv, (size_t)nv);
    int64_t add = c + (i == 0 || s->a[i - 1] != d ? pp->launch[d] : 0);
    load[d] += add;
    for (int k = pp->in_off[i]; k < pp->in_off[i + 1]; k++) {
        unsigned l = loc[pp->in_val[k]];
        add += lm_pp_arrive(pp, pp->in_val[k], &l, d, load, NULL);
        loc[pp->in_val[k]] = (uint8_t)l;
    }
    for (int k = pp->out_off[i]; k < pp->out_off[i + 1]; k++) {
        int v = pp->out_val[k];
        unsigned l = 1u << d;
        if (pp->p->values[v].is_output)
            add += lm_pp_arrive(pp, v, &l, pp->host, load, NULL);
        loc[v] = (uint8_t)l;
    }
    s->total[i + 1] = s->total[i] + add;
    return 1;
}

/* Bounds for depth @i: < 0 worth exploring. */
static int promising(const bnb *s, int i, int64_t *bott)
{
    const int64_t *load = s->load + (size_t)i * s->pp->m;
    int64_t b = s->restmax[i], sum = s->rest[i];
    for (int d = 0; d < s->pp->m; d++) {
        sum += load[d];
        if (load[d] > b)
            b = load[d];
    }
    int64_t avg = (sum + s->carriers - 1) / s->carriers;
    if (avg > b)
        b = avg;
    *bott = b;
    int c = cmp_pair(b, s->total[i] + s->rest[i], s->best_b, s->best_t);
    return c < 0 || (c == 0 && s->seeded) ? -1 : 1;
}

/* A complete assignment at least as good as the bound. */
static void leaf(bnb *s, int64_t b)
{
    const lm_pp *pp = s->pp;
    int c = cmp_pair(b, s->total[pp->n], s->best_b, s->best_t);
    int first = c < 0;
    for (int i = 0; !first && i < pp->n; i++)
        if (s->a[i] != s->seed[i]) {
            first = pp->rank[s->a[i]] < pp->rank[s->seed[i]];
            break;
        }
    if (first) {
        memcpy(s->best, s->a, (size_t)pp->n * sizeof(int));
        s->best_b = b, s->best_t = s->total[pp->n];
    }
    s->seeded = 0; /* what follows comes later in tie order than this leaf */
}

static void search(bnb *s, int i)
{
    const lm_pp *pp = s->pp;
    int64_t b;
    if (s->over || promising(s, i, &b) > 0)
        return;
    if (i == pp->n) {
        leaf(s, b);
        return;
    }
    if (++s->nodes > s->max_nodes) {
        s->over = 1;
        return;
    }
    for (int k = 0; k < pp->m; k++) {
        int d = pp->order[k];
        s->a[i] = d;
        if (place(s, i, d))
            search(s, i + 1);
    }
}

/* Bounds on what the steps left must add. */
static void prepare_rest(bnb *s)
{
    const lm_pp *pp = s->pp;
    unsigned carriers = 1u << pp->host;
    for (int i = pp->n - 1; i >= 0; i--) {
        int64_t lo = -1;
        for (int d = 0; d < pp->m; d++) {
            int64_t c = pp->cost[i * pp->m + d];
            if (c >= 0 && (lo < 0 || c < lo))
                lo = c;
            if (c >= 0)
                carriers |= 1u << d;
        }
        s->rest[i] = s->rest[i + 1] + lo;
        s->restmax[i] = lo > s->restmax[i + 1] ? lo : s->restmax[i + 1];
    }
    s->carriers = __builtin_popcount(carriers);
}

static int bnb_init(bnb *s, const lm_pp *pp, const int *seed, int *best)
{
    size_t n = (size_t)pp->n, m = (size_t)pp->m, nv = (size_t)pp->nv;
    memset(s, 0, sizeof(*s));
    s->pp = pp, s->seed = seed, s->best = best, s->seeded = 1;
    s->a = calloc(n + 1, sizeof(int));
    s->loc = calloc((n + 1) * nv + 1, 1);
    s->load = calloc((n + 1) * m, sizeof(int64_t));
    s->used = calloc((n + 1) * m, sizeof(uint64_t));
    s->total = calloc(n + 1, sizeof(int64_t));
    s->rest = calloc(n + 1, sizeof(int64_t));
    s->restmax = calloc(n + 1, sizeof(int64_t));
    if (!s->a || !s->loc || !s->load || !s->used || !s->total || !s->rest || !s->restmax)
        return -1;
    for (int v = 0; v < pp->nv; v++)
        if (pp->p->values[v].producer < 0)
            s->loc[v] = (uint8_t)(1u << pp->host);
    prepare_rest(s);
    return 0;
}

static void bnb_free(bnb *s)
{
    free(s->a);
    free(s->loc);
    free(s->load);
    free(s->used);
    free(s->total);
    free(s->rest);
    free(s->restmax);
}

loom_status lm_part_bnb(const lm_pp *pp, const int *seed, long max_nodes, int *a, long *nodes,
                        int *over)
{
    lm_part_eval ev;
    if (lm_pp_eval(pp, seed, &ev))
        return lm_error(LOOM_ERR_RUNTIME, "partition: infeasible seed for branch and bound");
    memcpy(a, seed, (size_t)pp->n * sizeof(int));
    bnb s;
    if (bnb_init(&s, pp, seed, a)) {
        bnb_free(&s);
        return lm_error(LOOM_ERR_NO_MEMORY, "partition: out of memory");
    }
    s.best_b = ev.bottleneck_ns, s.best_t = ev.total_ns, s.max_nodes = max_nodes;
    search(&s, 0);
    *nodes = s.nodes, *over = s.over;
    bnb_free(&s);
    return LOOM_OK;
}
