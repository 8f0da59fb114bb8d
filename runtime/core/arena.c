/*
 * arena.c - memory for intermediates, planned from their lifetimes, and the
 * per-run state that is kept between runs.
 *
 * Every intermediate whose size the planner knows gets an offset in one arena
 * per run. Two values may share bytes when their lifetimes (producing step to
 * last reading step) do not overlap. Placement is greedy, largest first, at the
 * lowest offset free for the whole lifetime: simple, and close to optimal for
 * the chain-like graphs of CNNs.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

#define ARENA_ALIGN 64

typedef struct arena_item {
    int value;
    int first, last; /* steps */
    size_t size;
    size_t offset;
} arena_item;

static int by_size_desc(const void *a, const void *b)
{
    const arena_item *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->value - y->value;
}

static bool overlaps_in_time(const arena_item *a, const arena_item *b)
{
    return a->first <= b->last && b->first <= a->last;
}

loom_status lm_plan_arena(lm_plan *p, const lm_graph *g, const size_t *bytes, const int *def)
{
    p->arena_offset = malloc(sizeof(int64_t) * ((size_t)g->n_values + 1));
    arena_item *items = malloc(sizeof(arena_item) * ((size_t)g->n_values + 1));
    arena_item **placed = malloc(sizeof(arena_item *) * ((size_t)g->n_values + 1));
    if (!p->arena_offset || !items || !placed) {
        free(items);
        free(placed);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory planning the arena");
    }
    int n = 0, n_placed = 0;
    for (int v = 0; v < g->n_values; v++) {
        p->arena_offset[v] = -1;
        if (!bytes[v] || def[v] < 0 || g->values[v].is_output)
            continue;
        size_t size = (bytes[v] + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
        int last = p->last_use[v] >= def[v] ? p->last_use[v] : def[v];
        items[n++] = (arena_item){.value = v, .first = def[v], .last = last, .size = size};
    }
    qsort(items, (size_t)n, sizeof(arena_item), by_size_desc);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        arena_item *it = &items[i];
        /* placed[] is sorted by offset: walk it, skipping past each live neighbour */
        size_t off = 0;
        int pos = 0;
        for (int j = 0; j < n_placed; j++) {
            const arena_item *q = placed[j];
            if (!overlaps_in_time(it, q))
                continue;
            if (off + it->size <= q->offset)
                break;
            if (q->offset + q->size > off)
                off = q->offset + q->size;
        }
        it->offset = off;
        while (pos < n_placed && placed[pos]->offset <= off)
            pos++;
        memmove(&placed[pos + 1], &placed[pos], sizeof(arena_item *) * (size_t)(n_placed - pos));
        placed[pos] = it;
        n_placed++;
        p->arena_offset[it->value] = (int64_t)off;
        if (off + it->size > total)
            total = off + it->size;
    }
    p->arena_bytes = total;
    free(items);
    free(placed);
    return LOOM_OK;
}

void lm_run_state_free(lm_run_state *rs)
{
    if (!rs)
        return;
    free(rs->arena);
    free(rs->hdr);
    free(rs->val);
    free(rs->owned);
    free(rs->user_out);
    free(rs->scratch);
    free(rs);
}

lm_run_state *lm_run_state_get(lm_plan *p, const lm_graph *g)
{
    pthread_mutex_lock(&p->states_lock);
    lm_run_state *rs = p->free_states;
    if (rs)
        p->free_states = rs->next;
    pthread_mutex_unlock(&p->states_lock);
    if (rs)
        return rs;
    size_t nv = (size_t)g->n_values + 1;
    rs = calloc(1, sizeof(*rs));
    if (!rs)
        return NULL;
    rs->plan = p;
    rs->g = g;
    rs->arena = p->arena_bytes ? aligned_alloc(ARENA_ALIGN, p->arena_bytes) : NULL;
    rs->hdr = calloc(nv, sizeof(loom_tensor));
    rs->val = calloc(nv, sizeof(loom_tensor *));
    rs->owned = calloc(nv, sizeof(bool));
    rs->user_out = calloc(nv, sizeof(loom_tensor *));
    if ((p->arena_bytes && !rs->arena) || !rs->hdr || !rs->val || !rs->owned || !rs->user_out) {
        lm_run_state_free(rs);
        return NULL;
    }
    return rs;
}

void lm_run_state_put(lm_plan *p, lm_run_state *rs, bool keep)
{
    if (!keep) {
        lm_run_state_free(rs);
        return;
    }
    pthread_mutex_lock(&p->states_lock);
    rs->next = p->free_states;
    p->free_states = rs;
    pthread_mutex_unlock(&p->states_lock);
}
