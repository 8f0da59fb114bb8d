/*
 * arena.c - memory for intermediates, planned from their lifetimes, and the
 * per-run state that is kept between runs.
 *
 * Every intermediate whose size the planner knows gets an offset in one arena
 * per run. Two values may share bytes when their lifetimes (producing step to
 * last reading step) do not overlap. Placement is greedy, largest first, at the
 * lowest offset free for the whole lifetime: simple, and close to optimal for
 * the chain-like graphs of CNNs. Reshape/Flatten outputs and Concat inputs
 * are views into one item (plan_views), so those ops copy nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "env.h"
#include "op.h"
#include "error.h"
#include "event.h"
#include "model.h"
#include "numa.h"

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

/* An intermediate the arena holds: produced by a step, size known, not
 * handed to the caller. */
static bool in_arena(const lm_graph *g, const size_t *bytes, const int *def, int v)
{
    return v >= 0 && bytes[v] > 0 && def[v] >= 0 && !g->values[v].is_output;
}

static bool node_is(const lm_node *n, const char *op_type)
{
    return n->domain[0] == '\0' && strcmp(n->op_type, op_type) == 0;
}

/* Concat @n's inputs laid end to end are its output: one image (nothing
 * before the axis), every input an arena value of its own, not repeated,
 * each starting 64-byte aligned. */
static bool concat_in_place(const lm_graph *g, const lm_node *n, const size_t *bytes,
                            const int *def, loom_tensor *const *shape, const int *root,
                            const int *members)
{
    int out = n->out[0];
    const lm_attr *ax = lm_node_attr(n, "axis");
    const loom_tensor *t = out >= 0 ? shape[out] : NULL;
    if (!t || !ax || !in_arena(g, bytes, def, out) || members[out] || n->n_in < 1)
        return false;
    int64_t axis = ax->i < 0 ? ax->i + t->rank : ax->i;
    if (axis < 0 || axis >= t->rank)
        return false;
    for (int d = 0; d < axis; d++)
        if (t->dims[d] != 1)
            return false;
    size_t at = 0;
    for (int i = 0; i < n->n_in; i++) {
        int v = n->in[i];
        if (!in_arena(g, bytes, def, v) || root[v] != v || members[v] || at % ARENA_ALIGN)
            return false;
        for (int j = 0; j < i; j++)
            if (n->in[j] == v)
                return false;
        at += bytes[v];
    }
    return at == bytes[out];
}

/*
 * Values that are views of another's bytes, so that producing them copies
 * nothing: a Reshape/Flatten output is its input's bytes, a Concat's inputs
 * are written straight into its output (their producers store there). Sets
 * root[v] (the value whose arena item holds v) and rel[v] (v's offset in
 * it). Values are immutable once produced, so a view is safe whenever the
 * item lives from the first member's step to the last member's last read;
 * a view's producer must not zero its output (LM_OP_WRITES_OUTPUTS), or it
 * would wipe the bytes it shares. In a plan with device segments, only
 * values that the host produces and only the host reads take part: a
 * device segment's boundary values keep items of their own.
 */
/* Per value: whether only host segments produce and read it (all values
 * when the plan has no device segment). NULL when out of memory. */
static bool *host_values(const lm_plan *p, const lm_graph *g)
{
    bool *host = malloc(sizeof(bool) * ((size_t)g->n_values + 1));
    if (!host)
        return NULL;
    for (int v = 0; v < g->n_values; v++)
        host[v] = true;
    const lm_plan_segment *sg = NULL;
    for (int step = 0; step < p->n_steps; step++) {
        if (p->segment_at[step] >= 0)
            sg = &p->segments[p->segment_at[step]];
        if (lm_device_runs_host_kernels(sg->dev))
            continue;
        const lm_node *n = &g->nodes[p->steps[step]];
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0)
                host[n->in[i]] = false;
        for (int o = 0; o < n->n_out; o++)
            if (n->out[o] >= 0)
                host[n->out[o]] = false;
    }
    return host;
}

/* Whether every value of @n (inputs and first output) is the host's alone. */
static bool node_on_host(const lm_node *n, const bool *host)
{
    if (!host[n->out[0]])
        return false;
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] >= 0 && !host[n->in[i]])
            return false;
    return true;
}

static void plan_views(const lm_plan *p, const lm_graph *g, const size_t *bytes, const int *def,
                       loom_tensor *const *shape, int *root, size_t *rel, int *members)
{
    for (int v = 0; v < g->n_values; v++) {
        root[v] = v;
        rel[v] = 0;
        members[v] = 0;
    }
    if (!shape || lm_env_flag(LM_ENV_NO_VIEWS))
        return;
    bool *host = host_values(p, g);
    if (!host)
        return; /* no views: only slower */
    for (int step = 0; step < p->n_steps; step++) {
        const lm_node *n = &g->nodes[p->steps[step]];
        if (n->n_out < 1 || !n->op || !(n->op->flags & LM_OP_WRITES_OUTPUTS) ||
            !node_on_host(n, host))
            continue;
        int out = n->out[0];
        if ((node_is(n, "Reshape") || node_is(n, "Flatten")) && n->n_in >= 1) {
            int in = n->in[0];
            if (in_arena(g, bytes, def, in) && in_arena(g, bytes, def, out) && !members[out] &&
                root[out] == out && bytes[in] == bytes[out]) {
                root[out] = root[in];
                rel[out] = rel[in];
                members[root[in]]++;
            }
        } else if (node_is(n, "Concat") &&
                   concat_in_place(g, n, bytes, def, shape, root, members)) {
            size_t at = 0;
            for (int i = 0; i < n->n_in; i++) {
                root[n->in[i]] = out;
                rel[n->in[i]] = at;
                at += bytes[n->in[i]];
            }
            members[out] += n->n_in;
        }
    }
    free(host);
}

loom_status lm_plan_arena(lm_plan *p, const lm_graph *g, const size_t *bytes, const int *def,
                          loom_tensor *const *shape)
{
    p->arena_offset = malloc(sizeof(int64_t) * ((size_t)g->n_values + 1));
    arena_item *items = malloc(sizeof(arena_item) * ((size_t)g->n_values + 1));
    arena_item **placed = malloc(sizeof(arena_item *) * ((size_t)g->n_values + 1));
    if (!p->arena_offset || !items || !placed) {
        free(items);
        free(placed);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory planning the arena");
    }
    size_t nv = (size_t)g->n_values + 1;
    int *root = malloc(sizeof(int) * nv), *members = malloc(sizeof(int) * nv);
    int *item_of = malloc(sizeof(int) * nv);
    size_t *rel = malloc(sizeof(size_t) * nv);
    if (!root || !members || !item_of || !rel) {
        free(items);
        free(placed);
        free(root);
        free(members);
        free(item_of);
        free(rel);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory planning the arena");
    }
    plan_views(p, g, bytes, def, shape, root, rel, members);
    int n = 0, n_placed = 0;
    for (int v = 0; v < g->n_values; v++) {
        p->arena_offset[v] = -1;
        item_of[v] = -1;
        if (!in_arena(g, bytes, def, v) || root[v] != v)
            continue;
        size_t size = (bytes[v] + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
        int last = p->last_use[v] >= def[v] ? p->last_use[v] : def[v];
        item_of[v] = n;
        items[n++] = (arena_item){.value = v, .first = def[v], .last = last, .size = size};
    }
    /* A root's item lives as long as any of its views. */
    for (int v = 0; v < g->n_values; v++) {
        if (root[v] == v || item_of[root[v]] < 0)
            continue;
        arena_item *it = &items[item_of[root[v]]];
        it->first = def[v] < it->first ? def[v] : it->first;
        it->last = p->last_use[v] > it->last ? p->last_use[v] : it->last;
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
    for (int v = 0; v < g->n_values; v++)
        if (root[v] != v && p->arena_offset[root[v]] >= 0)
            p->arena_offset[v] = p->arena_offset[root[v]] + (int64_t)rel[v];
    p->arena_bytes = total;
    free(items);
    free(placed);
    free(root);
    free(members);
    free(item_of);
    free(rel);
    return LOOM_OK;
}

/* Arenas of at least this size are mapped from the kernel rather than the
 * heap, so that freeing one (a plan leaving the cache) returns its pages:
 * malloc would keep them once its mmap threshold has grown past them. */
#define ARENA_MMAP_BYTES ((size_t)1 << 20)

static void *arena_alloc(size_t bytes)
{
    if (bytes < ARENA_MMAP_BYTES)
        return aligned_alloc(ARENA_ALIGN, (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void arena_free(void *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < ARENA_MMAP_BYTES)
        free(p);
    else
        munmap(p, bytes);
}

void lm_run_state_free(lm_run_state *rs)
{
    if (!rs)
        return;
    if (rs->plan->arena_node >= 0)
        lm_numa_free(rs->arena, rs->plan->arena_bytes);
    else
        arena_free(rs->arena, rs->plan->arena_bytes);
    free(rs->hdr);
    free(rs->val);
    free(rs->owned);
    free(rs->user_out);
    free(rs->scratch);
    lm_run_state_free_inflight(rs);
    lm_event_unref(rs->done);
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
    /* On a context bound to a node, the arena (where device segments' inputs
     * and outputs are staged) is bound there too; else
     * the heap's (large ones mapped, so they go back to the system). */
    if (p->arena_node >= 0)
        rs->arena = lm_numa_alloc(p->arena_bytes, p->arena_node);
    else
        rs->arena = p->arena_bytes ? arena_alloc(p->arena_bytes) : NULL;
    rs->hdr = calloc(nv, sizeof(loom_tensor));
    rs->val = calloc(nv, sizeof(loom_tensor *));
    rs->owned = calloc(nv, sizeof(bool));
    rs->user_out = calloc(nv, sizeof(loom_tensor *));
    if ((p->arena_bytes && !rs->arena) || !rs->hdr || !rs->val || !rs->owned || !rs->user_out) {
        lm_run_state_free(rs);
        return NULL;
    }
    atomic_fetch_add(&p->n_states, 1);
    return rs;
}

void lm_run_state_put(lm_plan *p, lm_run_state *rs)
{
    uint64_t now = lm_now_ns();
    pthread_mutex_lock(&p->states_lock);
    rs->next = p->free_states;
    p->free_states = rs;
    p->idle_since_ns = now;
    pthread_mutex_unlock(&p->states_lock);
}

size_t lm_plan_release_idle(lm_plan *p, uint64_t now, uint64_t idle_ns)
{
    lm_run_state *idle = NULL;
    pthread_mutex_lock(&p->states_lock);
    if (p->free_states && now - p->idle_since_ns >= idle_ns) {
        idle = p->free_states;
        p->free_states = NULL;
    }
    pthread_mutex_unlock(&p->states_lock);
    if (!idle)
        return 0;
    size_t bytes = 0;
    while (idle) {
        lm_run_state *next = idle->next;
        lm_run_state_free(idle);
        atomic_fetch_sub(&p->n_states, 1);
        bytes += p->arena_bytes;
        idle = next;
    }
    /* The devices' working memory for its segments goes too. */
    for (int i = 0; i < p->n_segments; i++) {
        const lm_plan_segment *sg = &p->segments[i];
        if (sg->state && sg->dev->ops->trim)
            sg->dev->ops->trim(sg->dev, sg->state);
    }
    return bytes;
}
