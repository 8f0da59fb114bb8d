/*
 * plancache.c - a model's plans: found by input-shape signature, built
 * outside the model's lock, reference-counted, replaced by generation,
 * bounded by bytes.
 *
 * The lock guards only the list: a run whose shape is cached takes the plan
 * and a reference and goes. A run with a new shape records the shape as
 * pending, plans it without the lock (an OpenCL build may take seconds), and
 * publishes the result; runs of the same shape meanwhile wait for it, runs of
 * other shapes do not. A new generation empties the cache at once; runs that
 * hold a plan of an older generation finish on it, and it is freed with the
 * last of them.
 *
 * The cache is bounded by bytes, not by count: each plan is charged its
 * tables and the arenas of its run states (lm_plan_charge), and when a new
 * plan takes the total past the model's budget the least recently used
 * plans leave (the list is kept in use order). A plan that leaves is freed,
 * with its idle run states, once no run holds it. Planning a shape again is
 * cheap (packed weights are shared, prepared.c), so serving every shape of a
 * dynamic dim costs a bounded amount of memory and an occasional re-plan.
 * Plans that stay cached but go unused give their arenas back: the lookups
 * look for them once a second (LOOM_ARENA_IDLE_MS), and a server without
 * lookups calls loom_model_release_idle().
 *
 * Plans are also keyed by the devices they were planned with: a plan made
 * with the devices U that runs on the devices S serves whenever the usable
 * devices C satisfy S <= C <= U (it is the best among U, and a subset of U
 * that still holds S cannot do better). So when a device leaves service the
 * plans that do not use it go on serving, and a plan made ahead without it
 * (spare.c) takes over from those that do, with no planning on the way.
 * When a device comes back, the plans that ran on it before are dropped:
 * a reset may have taken what their compiled segments left on it.
 */
#include <stdlib.h>
#include <time.h>

#include "env.h"
#include "error.h"
#include "model.h"

/* A shape some thread is planning now, for the usable devices @usable. */
typedef struct lm_plan_pending {
    struct lm_plan_pending *next;
    int n_sig;
    int64_t *sig;
    lm_devset usable;
} lm_plan_pending;

static bool sig_equal(int n_sig, const int64_t *sig, const lm_graph *g, loom_tensor *const *in)
{
    int k = 0;
    if (n_sig != lm_plan_sig_len(g, in))
        return false;
    for (int i = 0; i < g->n_inputs; i++) {
        if (sig[k++] != lm_plan_sig_head(in[i]))
            return false;
        for (int d = 0; d < in[i]->rank; d++)
            if (sig[k++] != in[i]->dims[d])
                return false;
    }
    return true;
}

/* Whether @p serves when the devices @usable take work (the file comment). */
static bool serves(const lm_plan *p, lm_devset usable)
{
    return (p->uses & ~usable) == 0 && (usable & ~p->usable) == 0;
}

/* The link to the cached plan for @in that serves @usable, or NULL; caller
 * holds plans_lock. */
static lm_plan **find(loom_model *m, loom_tensor *const *in, lm_devset usable)
{
    for (lm_plan **pp = &m->plans; *pp; pp = &(*pp)->next)
        if (serves(*pp, usable) && sig_equal((*pp)->n_sig, (*pp)->sig, m->g, in))
            return pp;
    return NULL;
}

/* The cached plan for @in that serves @usable, moved to the front (most
 * recently used); caller holds plans_lock. */
static lm_plan *cached(loom_model *m, loom_tensor *const *in, lm_devset usable)
{
    lm_plan **pp = find(m, in, usable), *p = pp ? *pp : NULL;
    if (p) {
        *pp = p->next;
        p->next = m->plans;
        m->plans = p;
    }
    return p;
}

static lm_plan_pending *pending(loom_model *m, loom_tensor *const *in, lm_devset usable)
{
    for (lm_plan_pending *q = m->pending; q; q = q->next)
        if (q->usable == usable && sig_equal(q->n_sig, q->sig, m->g, in))
            return q;
    return NULL;
}

static void unlink_pending(loom_model *m, lm_plan_pending *q)
{
    for (lm_plan_pending **pp = &m->pending; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    free(q->sig);
    free(q);
}

/* Records @in as being planned; NULL when out of memory (then the caller
 * plans without telling others, which is only slower). Caller holds the lock. */
static lm_plan_pending *add_pending(loom_model *m, loom_tensor *const *in, lm_devset usable)
{
    lm_plan_pending *q = calloc(1, sizeof(*q));
    int n = lm_plan_sig_len(m->g, in);
    if (!q || !(q->sig = malloc(sizeof(int64_t) * ((size_t)n + 1)))) {
        free(q);
        return NULL;
    }
    q->n_sig = n;
    q->usable = usable;
    lm_plan_sig_fill(m->g, in, q->sig);
    q->next = m->pending;
    m->pending = q;
    return q;
}

/* Detaches the least recently used plans while the cache's charge exceeds
 * the budget, keeping the newest; returns them (linked) for the caller to
 * put outside the lock. Caller holds the lock. */
static lm_plan *evict(loom_model *m)
{
    size_t total = 0;
    lm_plan **cut = NULL;
    for (lm_plan **pp = &m->plans; *pp; pp = &(*pp)->next) {
        total += lm_plan_charge(*pp);
        if (total > m->plan_budget && *pp != m->plans) {
            cut = pp;
            break;
        }
    }
    if (!cut)
        return NULL;
    lm_plan *gone = *cut;
    *cut = NULL;
    for (lm_plan *p = gone; p; p = p->next) {
        m->n_plans--;
        m->counters.evicted++;
    }
    return gone;
}

/* Publishes a new plan of generation @gen, cached at the front when the
 * generation still holds; returns the plans it pushed out of the budget.
 * Caller holds the lock. */
static lm_plan *publish(loom_model *m, lm_plan *p, uint64_t gen)
{
    if (gen != m->generation)
        return NULL;
    atomic_fetch_add(&p->refs, 1);
    p->next = m->plans;
    m->plans = p;
    m->n_plans++;
    return evict(m);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void count_plan(lm_plan_counters *c, double ms)
{
    c->built++;
    c->ms_total += ms;
    c->ms_last = ms;
    if (ms > c->ms_max)
        c->ms_max = ms;
}

static lm_plan *detach_all(loom_model *m);
static void put_list(loom_model *m, lm_plan *list);

/* The devices that take work now, as the model last saw them. When one
 * came back since, the cached plans that ran on it before it left go (the
 * file comment). Caller holds the lock; *@stale gets the plans to put. */
static lm_devset follow_health(loom_model *m, lm_plan **stale)
{
    uint64_t epoch = lm_health_epoch();
    *stale = NULL;
    if (m->health_epoch == epoch)
        return m->usable_seen;
    lm_devset now = lm_context_usable(m->ctx), back = now & ~m->usable_seen;
    m->health_epoch = epoch;
    m->usable_seen = now;
    for (lm_plan **pp = &m->plans; back && *pp;) {
        lm_plan *p = *pp;
        if (!(p->uses & back)) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        p->next = *stale;
        *stale = p;
        m->n_plans--;
    }
    return now;
}

#define SWEEP_MAX 64 /* idle plans released per sweep; the next sweep takes more */

/* Frees the idle run states of the cached plans no run used for @idle_ns:
 * the plans are found under the lock and released outside it (munmap of a
 * large arena takes a while). Returns the bytes freed. */
static size_t release_idle(loom_model *m, uint64_t idle_ns)
{
    lm_plan *idle[SWEEP_MAX];
    int n = 0;
    uint64_t now = lm_now_ns();
    pthread_mutex_lock(&m->plans_lock);
    for (lm_plan *p = m->plans; p && n < SWEEP_MAX; p = p->next)
        if (p->free_states) { /* a racy peek: lm_plan_release_idle decides */
            atomic_fetch_add(&p->refs, 1);
            idle[n++] = p;
        }
    pthread_mutex_unlock(&m->plans_lock);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        bytes += lm_plan_release_idle(idle[i], now, idle_ns);
        lm_plan_put(m, idle[i]);
    }
    pthread_mutex_lock(&m->plans_lock);
    m->arena_bytes_released += bytes;
    pthread_mutex_unlock(&m->plans_lock);
    return bytes;
}

/* LOOM_ARENA_IDLE_MS in nanoseconds. */
static uint64_t default_idle_ns(void)
{
    return (uint64_t)lm_env_int(LM_ENV_ARENA_IDLE_MS) * 1000000u;
}

size_t loom_model_release_idle(loom_model *m, int idle_ms)
{
    if (!m)
        return 0;
    size_t bytes = release_idle(m, idle_ms < 0 ? default_idle_ns() : (uint64_t)idle_ms * 1000000u);
    /* and its If, Loop and Scan bodies', which are models of their own */
    for (int i = 0; i < m->g->n_nodes; i++)
        for (int a = 0; a < m->g->nodes[i].n_attr; a++)
            if (m->g->nodes[i].attr[a].sub)
                bytes += loom_model_release_idle(m->g->nodes[i].attr[a].sub->model, idle_ms);
    return bytes;
}

/* Whether a second passed since the last look for idle plans; caller holds
 * the lock. */
static bool sweep_due(loom_model *m)
{
    uint64_t now = lm_now_ns();
    if (now - m->idle_swept_ns < 1000000000u)
        return false;
    m->idle_swept_ns = now;
    return true;
}

loom_status lm_plan_get(loom_model *m, loom_tensor *const *inputs, lm_plan **out)
{
    pthread_mutex_lock(&m->plans_lock);
    if (sweep_due(m)) {
        pthread_mutex_unlock(&m->plans_lock);
        release_idle(m, default_idle_ns());
        pthread_mutex_lock(&m->plans_lock);
    }
    lm_plan *stale;
    lm_devset usable = follow_health(m, &stale);
    if (stale) {
        pthread_mutex_unlock(&m->plans_lock);
        put_list(m, stale);
        pthread_mutex_lock(&m->plans_lock);
    }
    lm_plan *p;
    while (!(p = cached(m, inputs, usable)) && pending(m, inputs, usable))
        pthread_cond_wait(&m->plan_built, &m->plans_lock);
    if (p) {
        atomic_fetch_add(&p->refs, 1);
        pthread_mutex_unlock(&m->plans_lock);
        *out = p;
        return LOOM_OK;
    }
    uint64_t gen = m->generation;
    lm_plan_pending *q = add_pending(m, inputs, usable);
    pthread_mutex_unlock(&m->plans_lock);

    double t0 = now_ms();
    loom_status s = lm_plan_build(m, inputs, usable, m->ctx->pool, out);
    double ms = now_ms() - t0;

    lm_plan *gone = NULL;
    pthread_mutex_lock(&m->plans_lock);
    if (q)
        unlink_pending(m, q);
    if (!s) {
        (*out)->generation = gen;
        count_plan(&m->counters, ms);
        gone = publish(m, *out, gen);
    }
    pthread_cond_broadcast(&m->plan_built);
    pthread_mutex_unlock(&m->plans_lock);
    put_list(m, gone);
    return s;
}

void lm_plan_ran(loom_model *m, loom_tensor *const *inputs, lm_plan *p)
{
    /* A plan run a second time serves: make its replacements now. Plans run
     * once or never (loomctl plan, a known-answer test) cost nothing ahead. */
    if (atomic_fetch_add(&p->runs, 1) == 1)
        lm_spares_plan_ahead(m, inputs, p);
}

void lm_plan_publish_spare(loom_model *m, loom_tensor *const *inputs, lm_plan *p, uint64_t gen)
{
    lm_plan *gone = NULL;
    p->generation = gen;
    pthread_mutex_lock(&m->plans_lock);
    if (gen == m->generation && !find(m, inputs, p->usable)) {
        /* Least recently used until it serves: the first to leave for the budget. */
        lm_plan **tail = &m->plans;
        while (*tail)
            tail = &(*tail)->next;
        atomic_fetch_add(&p->refs, 1);
        p->next = NULL;
        *tail = p;
        m->n_plans++;
        m->counters.spares++;
        gone = evict(m);
    }
    pthread_mutex_unlock(&m->plans_lock);
    put_list(m, gone);
    lm_plan_put(m, p); /* the cache holds its own reference, if it took it */
}

bool lm_plan_cached(loom_model *m, loom_tensor *const *inputs, lm_devset usable)
{
    pthread_mutex_lock(&m->plans_lock);
    bool found = find(m, inputs, usable) != NULL;
    pthread_mutex_unlock(&m->plans_lock);
    return found;
}

void lm_plan_put(loom_model *m, lm_plan *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1)
        lm_plan_free(m->g, p);
}

/* Detaches the cached plans; caller holds the lock. */
static lm_plan *detach_all(loom_model *m)
{
    lm_plan *list = m->plans;
    m->plans = NULL;
    m->n_plans = 0;
    return list;
}

static void put_list(loom_model *m, lm_plan *list)
{
    while (list) {
        lm_plan *next = list->next;
        lm_plan_put(m, list);
        list = next;
    }
}

void lm_model_new_generation(loom_model *m)
{
    pthread_mutex_lock(&m->plans_lock);
    m->generation++;
    lm_plan *old = detach_all(m);
    pthread_mutex_unlock(&m->plans_lock);
    put_list(m, old);
}

void lm_plan_cache_free(loom_model *m)
{
    put_list(m, detach_all(m));
}
