/*
 * partition_dp.c - the exact latency solver: dynamic programming over the
 * execution order.
 *
 * The latency total is a sum of terms that each depend on a step and what
 * came just before it, except transfers, which depend on where a value has
 * already been copied. So the state at the cut before step k holds all the
 * future depends on: the device of step k-1 (launches), for every value live
 * across the cut (produced before k, read at or after k) the set of devices
 * holding a copy, and the memory used so far on each device with a binding
 * capacity. States are deduplicated per cut by hashing; each keeps its
 * cheapest prefix, and among equally cheap prefixes the first in the tie
 * order of partition.h, so the answer is that unique optimum.
 *
 * The number of states is exponential in the cut width (and in the distinct
 * memory sums), so the solver stops once it has built max_states of them
 * and lets the caller fall back.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "partition_internal.h"

/* Front states a new state is checked against for dominance. */
#define PRUNE_WINDOW 64

typedef struct dp_node {
    int64_t cost; /* cheapest cost of a prefix reaching this state */
    long parent;  /* node at the previous cut, -1 at cut 0 */
    int dev;      /* device of the step just before the cut */
} dp_node;

/* The states of one cut: keys, and a hash table from key to node. */
typedef struct dp_cut {
    uint8_t *keys;
    long base; /* index of its first node in dp.nodes */
    int count;
    size_t key_bytes; /* allocated size of keys */
    int *table;       /* open addressing, -1: empty, else index in the cut */
    int tsize;
    int klen;
    int *live; /* the values live across it, in key order */
    int n_live;
} dp_cut;

typedef struct dp {
    const lm_pp *pp;
    dp_node *nodes;
    long n_nodes, cap_nodes, max_states;
    int *slot; /* [nv] position of a value in the current cut's key, -1: not live */
    int memdev[LM_PART_MAX_DEVICES], memslot[LM_PART_MAX_DEVICES], n_mem;
    dp_cut cut[2]; /* current and next */
    uint8_t *key;  /* scratch for the key being built */
    unsigned *loc; /* scratch: copies of the current key's location sets */
    int oom;
} dp;

static uint64_t hash_key(const uint8_t *k, int len)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < len; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h;
}

static int cut_grow_table(dp_cut *c)
{
    int tsize = c->tsize ? c->tsize * 2 : 64;
    int *t = malloc((size_t)tsize * sizeof(int));
    if (!t)
        return -1;
    memset(t, -1, (size_t)tsize * sizeof(int));
    for (int j = 0; j < c->count; j++) {
        uint64_t h = hash_key(c->keys + (size_t)j * c->klen, c->klen) & (uint64_t)(tsize - 1);
        while (t[h] >= 0)
            h = (h + 1) & (uint64_t)(tsize - 1);
        t[h] = j;
    }
    free(c->table);
    c->table = t, c->tsize = tsize;
    return 0;
}

/* Empties @c for a cut whose keys are @klen bytes. */
static void cut_reset(dp_cut *c, int klen, long base)
{
    c->count = 0, c->klen = klen, c->base = base;
    if (c->table)
        memset(c->table, -1, (size_t)c->tsize * sizeof(int));
}

/* Finds @key in @c or adds it; returns its index in the cut, *fresh set if
 * added; -1 when out of memory. */
static int cut_find(dp *s, dp_cut *c, const uint8_t *key, int *fresh)
{
    if ((c->count + 1) * 2 > c->tsize && cut_grow_table(c))
        return -1;
    uint64_t mask = (uint64_t)(c->tsize - 1), h = hash_key(key, c->klen) & mask;
    for (; c->table[h] >= 0; h = (h + 1) & mask)
        if (!memcmp(c->keys + (size_t)c->table[h] * c->klen, key, (size_t)c->klen)) {
            *fresh = 0;
            return c->table[h];
        }
    size_t want = (size_t)(c->count + 1) * (size_t)c->klen;
    if (want > c->key_bytes) {
        size_t bytes = want * 2 > 4096 ? want * 2 : 4096;
        uint8_t *k = realloc(c->keys, bytes);
        if (!k)
            return -1;
        c->keys = k, c->key_bytes = bytes;
    }
    if (s->n_nodes == s->cap_nodes) {
        long cap = s->cap_nodes ? s->cap_nodes * 2 : 1024;
        dp_node *n = realloc(s->nodes, (size_t)cap * sizeof(dp_node));
        if (!n)
            return -1;
        s->nodes = n, s->cap_nodes = cap;
    }
    memcpy(c->keys + (size_t)c->count * c->klen, key, (size_t)c->klen);
    c->table[h] = c->count;
    s->n_nodes++;
    *fresh = 1;
    return c->count++;
}

/* Compares prefix(@p1) + @d1 with prefix(@p2) + @d2 in the tie order: the
 * earliest step where they differ decides. < 0: the first comes first. */
static int tie_order(const dp *s, long p1, int d1, long p2, int d2)
{
    const int *rank = s->pp->rank;
    int diff = rank[d1] - rank[d2];
    while (p1 != p2) {
        const dp_node *a = &s->nodes[p1], *b = &s->nodes[p2];
        if (a->dev != b->dev)
            diff = rank[a->dev] - rank[b->dev];
        p1 = a->parent, p2 = b->parent;
    }
    return diff;
}

/* Records reaching @key of the next cut from node @from with device @d at @cost. */
static int offer(dp *s, const uint8_t *key, long from, int d, int64_t cost)
{
    dp_cut *next = &s->cut[1];
    int fresh;
    int j = cut_find(s, next, key, &fresh);
    if (j < 0)
        return -1;
    dp_node *node = &s->nodes[next->base + j];
    if (fresh || cost < node->cost ||
        (cost == node->cost && tie_order(s, from, d, node->parent, node->dev) < 0)) {
        node->cost = cost, node->parent = from, node->dev = d;
    }
    return 0;
}

/* The live list of the cut after step @i, from the current cut's. */
static void next_live(dp *s, int i)
{
    const lm_pp *pp = s->pp;
    dp_cut *cur = &s->cut[0], *next = &s->cut[1];
    next->n_live = 0;
    for (int j = 0; j < cur->n_live; j++)
        if (pp->last_use[cur->live[j]] > i)
            next->live[next->n_live++] = cur->live[j];
    for (int j = pp->out_off[i]; j < pp->out_off[i + 1]; j++)
        if (pp->last_use[pp->out_val[j]] > i)
            next->live[next->n_live++] = pp->out_val[j];
}

/* Step @i on device @d from state @j of the current cut. */
static int expand(dp *s, int i, int j, int d)
{
    const lm_pp *pp = s->pp;
    dp_cut *cur = &s->cut[0], *next = &s->cut[1];
    int64_t step = pp->cost[i * pp->m + d];
    if (step < 0)
        return 0;
    const uint8_t *key = cur->keys + (size_t)j * cur->klen;
    uint64_t used[LM_PART_MAX_DEVICES] = {0};
    memcpy(used, key + 1 + cur->n_live, (size_t)s->n_mem * sizeof(uint64_t));
    if (s->memslot[d] >= 0) {
        used[s->memslot[d]] += pp->need[i];
        if (used[s->memslot[d]] > pp->cap[d])
            return 0;
    }
    long from = cur->base + j;
    int64_t cost = s->nodes[from].cost + step + (key[0] != d ? pp->launch[d] : 0);
    for (int k = 0; k < cur->n_live; k++)
        s->loc[k] = key[1 + k];
    for (int k = pp->in_off[i]; k < pp->in_off[i + 1]; k++) {
        int v = pp->in_val[k];
        cost += lm_pp_arrive(pp, v, &s->loc[s->slot[v]], d, NULL, NULL);
    }
    for (int k = pp->out_off[i]; k < pp->out_off[i + 1]; k++) {
        int v = pp->out_val[k];
        if (pp->p->values[v].is_output && d != pp->host)
            cost += pp->up[(int64_t)v * pp->m + d];
    }
    s->key[0] = (uint8_t)d;
    for (int k = 0; k < next->n_live; k++) {
        int v = next->live[k];
        unsigned loc = 1u << d;
        if (pp->p->values[v].producer != i)
            loc = s->loc[s->slot[v]];
        else if (pp->p->values[v].is_output)
            loc |= 1u << pp->host;
        s->key[1 + k] = (uint8_t)loc;
    }
    memcpy(s->key + 1 + next->n_live, used, (size_t)s->n_mem * sizeof(uint64_t));
    return offer(s, s->key, from, d, cost);
}

static int by_index(const void *x, const void *y)
{
    return *(const int *)x - *(const int *)y;
}

/* Keeps only the states @keep[0..@kept) of the next cut, in index order
 * (its hash table is not used again before the cut is reset). */
static void compact(dp *s, int *keep, int kept)
{
    dp_cut *c = &s->cut[1];
    qsort(keep, (size_t)kept, sizeof(int), by_index);
    for (int k = 0; k < kept; k++) {
        memmove(c->keys + (size_t)k * c->klen, c->keys + (size_t)keep[k] * c->klen,
                (size_t)c->klen);
        s->nodes[c->base + k] = s->nodes[c->base + keep[k]];
    }
    c->count = kept;
    s->n_nodes = c->base + kept;
}

/* Orders the states of the next cut by location key, then cost, then tie
 * order, so each group's dominating states come first. */
static int by_group(const void *x, const void *y, void *ctx)
{
    const dp *s = ctx;
    const dp_cut *c = &s->cut[1];
    int i = *(const int *)x, j = *(const int *)y;
    int k = memcmp(c->keys + (size_t)i * c->klen, c->keys + (size_t)j * c->klen,
                   (size_t)(1 + c->n_live));
    if (k)
        return k;
    const dp_node *a = &s->nodes[c->base + i], *b = &s->nodes[c->base + j];
    if (a->cost != b->cost)
        return a->cost < b->cost ? -1 : 1;
    return tie_order(s, a->parent, a->dev, b->parent, b->dev);
}

/* State @j's memory is at least state @i's on every device. */
static int uses_more(const dp *s, int j, int i)
{
    const dp_cut *c = &s->cut[1];
    const uint8_t *kj = c->keys + (size_t)j * c->klen + 1 + c->n_live;
    const uint8_t *ki = c->keys + (size_t)i * c->klen + 1 + c->n_live;
    for (int d = 0; d < s->n_mem; d++) {
        uint64_t mj, mi;
        memcpy(&mj, kj + d * sizeof(uint64_t), sizeof(mj));
        memcpy(&mi, ki + d * sizeof(uint64_t), sizeof(mi));
        if (mj < mi)
            return 0;
    }
    return 1;
}

/*
 * Drops the states of the next cut that another state dominates: same
 * locations and previous device, no more memory anywhere, and cheaper or
 * equally cheap and earlier in tie order. Whatever completes the dominated
 * one completes the other, no dearer and earlier, so the optimum never
 * passes through it. Keeps memory sums from multiplying the states.
 */
static int prune(dp *s)
{
    dp_cut *c = &s->cut[1];
    int *idx = malloc((size_t)c->count * sizeof(int) + 1);
    int *keep = malloc((size_t)c->count * sizeof(int) + 1);
    if (!idx || !keep) {
        free(idx);
        free(keep);
        return -1;
    }
    for (int j = 0; j < c->count; j++)
        idx[j] = j;
    qsort_r(idx, (size_t)c->count, sizeof(int), by_group, s);
    int kept = 0, group = 0; /* keep[group..kept) is the current group's front */
    for (int k = 0; k < c->count; k++) {
        int j = idx[k], dominated = 0;
        if (kept > group &&
            memcmp(c->keys + (size_t)j * c->klen, c->keys + (size_t)keep[group] * c->klen,
                   (size_t)(1 + c->n_live)))
            group = kept;
        /* the latest front states only: keeping a state is always safe, and
         * with one memory dimension the latest has the least memory */
        for (int f = kept - 1; f >= group && f >= kept - PRUNE_WINDOW && !dominated; f--)
            dominated = uses_more(s, j, keep[f]);
        if (!dominated)
            keep[kept++] = j;
    }
    compact(s, keep, kept);
    free(idx);
    free(keep);
    return 0;
}

/* Builds the cut after step @i from the current one; swaps them. */
static int advance(dp *s, int i)
{
    const lm_pp *pp = s->pp;
    dp_cut *cur = &s->cut[0], *next = &s->cut[1];
    next_live(s, i);
    cut_reset(next, 1 + next->n_live + s->n_mem * (int)sizeof(uint64_t), s->n_nodes);
    for (int k = 0; k < cur->n_live; k++)
        s->slot[cur->live[k]] = k;
    for (int j = 0; j < cur->count; j++) {
        for (int k = 0; k < pp->m; k++)
            if (expand(s, i, j, pp->order[k]))
                return -1;
        if (s->n_nodes > s->max_states)
            return 1;
    }
    for (int k = 0; k < cur->n_live; k++)
        s->slot[cur->live[k]] = -1;
    if (s->n_mem && prune(s))
        return -1;
    dp_cut t = *cur;
    *cur = *next, *next = t;
    return 0;
}

/* Cut 0: no previous device, graph inputs on the host, no memory used. */
static int start(dp *s)
{
    const lm_pp *pp = s->pp;
    dp_cut *c = &s->cut[0];
    c->n_live = 0;
    for (int v = 0; v < pp->nv; v++)
        if (pp->p->values[v].producer < 0 && pp->last_use[v] >= 0)
            c->live[c->n_live++] = v;
    cut_reset(c, 1 + c->n_live + s->n_mem * (int)sizeof(uint64_t), 0);
    memset(s->key, 0, (size_t)c->klen);
    s->key[0] = (uint8_t)pp->m; /* no device: the first step always launches */
    for (int k = 0; k < c->n_live; k++)
        s->key[1 + k] = (uint8_t)(1u << pp->host);
    int fresh;
    if (cut_find(s, c, s->key, &fresh) < 0)
        return -1;
    s->nodes[0] = (dp_node){.cost = 0, .parent = -1, .dev = pp->m};
    return 0;
}

static int dp_init(dp *s, const lm_pp *pp, long max_states)
{
    memset(s, 0, sizeof(*s));
    s->pp = pp, s->max_states = max_states;
    for (int d = 0; d < pp->m; d++) {
        s->memslot[d] = -1;
        if (pp->cap[d])
            s->memslot[d] = s->n_mem, s->memdev[s->n_mem++] = d;
    }
    size_t nv = (size_t)pp->nv + 1;
    s->slot = malloc(nv * sizeof(int));
    s->loc = malloc(nv * sizeof(unsigned));
    s->key = malloc(nv + 1 + LM_PART_MAX_DEVICES * sizeof(uint64_t));
    s->cut[0].live = malloc(nv * sizeof(int));
    s->cut[1].live = malloc(nv * sizeof(int));
    if (!s->slot || !s->loc || !s->key || !s->cut[0].live || !s->cut[1].live)
        return -1;
    memset(s->slot, -1, nv * sizeof(int));
    return 0;
}

static void dp_free(dp *s)
{
    for (int c = 0; c < 2; c++) {
        free(s->cut[c].keys);
        free(s->cut[c].table);
        free(s->cut[c].live);
    }
    free(s->nodes);
    free(s->slot);
    free(s->loc);
    free(s->key);
}

/* The best state of the last cut, in cost then tie order; writes the steps. */
static void backtrack(const dp *s, int *a)
{
    const dp_cut *c = &s->cut[0];
    long best = c->base;
    for (long j = c->base + 1; j < c->base + c->count; j++) {
        const dp_node *x = &s->nodes[j], *b = &s->nodes[best];
        if (x->cost < b->cost ||
            (x->cost == b->cost && tie_order(s, x->parent, x->dev, b->parent, b->dev) < 0))
            best = j;
    }
    for (int i = s->pp->n - 1; i >= 0; i--) {
        a[i] = s->nodes[best].dev;
        best = s->nodes[best].parent;
    }
}

static loom_status no_room(const lm_pp *pp, int i)
{
    char sb[96];
    return lm_error(LOOM_ERR_NO_MEMORY,
                    "%s: every device that can run it is out of memory, whatever the steps "
                    "before it use",
                    lm_pp_step(pp, i, sb, sizeof(sb)));
}

loom_status lm_part_dp(const lm_pp *pp, long max_states, int *a, long *states, int *over)
{
    dp s;
    loom_status st = LOOM_OK;
    *over = 0;
    int r = dp_init(&s, pp, max_states) || start(&s) ? -1 : 0;
    for (int i = 0; i < pp->n && !r; i++) {
        r = advance(&s, i);
        if (!r && !s.cut[0].count) {
            st = no_room(pp, i);
            break;
        }
    }
    *states = s.n_nodes;
    if (r < 0)
        st = lm_error(LOOM_ERR_NO_MEMORY, "partition: out of memory in the DP");
    else if (r > 0)
        *over = 1;
    else if (!st)
        backtrack(&s, a);
    dp_free(&s);
    return st;
}
