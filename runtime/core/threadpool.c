/*
 * threadpool.c - a fixed set of workers woken per parallel loop.
 *
 * A loop is published as (fn, arg, n, chunk); workers and the caller claim
 * chunks with an atomic counter, so uneven chunks balance themselves.
 *
 * A model runs hundreds of short loops per inference, so the hand-off is what
 * limits small models: a worker asleep on the condition variable takes tens of
 * microseconds to be scheduled. Two things keep that off the critical path:
 * after a loop, workers spin briefly on the published generation before they
 * sleep, so the next loop usually finds them awake; and the caller, once the
 * chunks are all claimed, waits only for workers that joined the loop and are
 * still running a chunk, never for one that has not woken up yet (a late
 * worker finds the loop closed and goes back to waiting).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#include "error.h"
#include "threadpool.h"

struct lm_threadpool {
    struct lm_threadpool *next_shared; /* shared_pools list */
    int shared_refs;                   /* holders through lm_threadpool_acquire() */
    bool bound;                        /* workers bound to cpus */
    cpu_set_t cpus;
    int n_workers;
    pthread_t *threads;
    pthread_mutex_t busy; /* held by the caller that owns the workers for one loop */
    pthread_mutex_t lock; /* protects generation, stop, and the loop description */
    pthread_cond_t wake;  /* workers wait here for a new generation */
    pthread_cond_t done;  /* the caller waits here for running == 0 */
    uint64_t generation;
    int stop;
    int joined;                     /* workers inside the current loop's run_chunks() */
    int closed;                     /* the current loop takes no more workers */
    atomic_uint_fast64_t published; /* generation, read without the lock by spinning workers */
    lm_pool_fn fn;
    void *arg;
    int64_t n, chunk;
    atomic_int_fast64_t next;
};

static void run_chunks(lm_threadpool *p)
{
    for (;;) {
        int64_t begin = atomic_fetch_add(&p->next, p->chunk);
        if (begin >= p->n)
            return;
        int64_t end = begin + p->chunk < p->n ? begin + p->chunk : p->n;
        p->fn(p->arg, begin, end);
    }
}

/* About 100-200 us of pause instructions: long enough to bridge the serial op
 * between two parallel loops, short enough not to tax an idle or shared core. */
#define SPIN_ITERATIONS 2048

static void spin_for_next_loop(lm_threadpool *p, uint64_t seen)
{
    for (int i = 0; i < SPIN_ITERATIONS; i++) {
        if (atomic_load_explicit(&p->published, memory_order_acquire) != seen)
            return;
        cpu_relax();
    }
}

static void *worker_main(void *opaque)
{
    lm_threadpool *p = opaque;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (!p->stop && p->generation == seen) {
            pthread_mutex_unlock(&p->lock);
            spin_for_next_loop(p, seen);
            pthread_mutex_lock(&p->lock);
        }
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        seen = p->generation;
        if (p->closed) /* woke too late: the caller finished this loop without us */
            continue;
        p->joined++;
        pthread_mutex_unlock(&p->lock);
        run_chunks(p);
        pthread_mutex_lock(&p->lock);
        if (--p->joined == 0 && p->closed)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

loom_status lm_threadpool_create(int n_threads, const cpu_set_t *cpus, lm_threadpool **out)
{
    lm_threadpool *p = calloc(1, sizeof(*p));
    if (!p)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    pthread_mutex_init(&p->busy, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    int want = n_threads > 1 ? n_threads - 1 : 0;
    p->threads = calloc((size_t)want + 1, sizeof(pthread_t));
    if (!p->threads) {
        lm_threadpool_destroy(p);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    pthread_attr_t attr;
    if (pthread_attr_init(&attr)) {
        lm_threadpool_destroy(p);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    if (cpus && pthread_attr_setaffinity_np(&attr, sizeof(*cpus), cpus)) {
        pthread_attr_destroy(&attr);
        lm_threadpool_destroy(p);
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "cannot bind worker threads to the CPU set");
    }
    for (; p->n_workers < want; p->n_workers++) {
        if (pthread_create(&p->threads[p->n_workers], &attr, worker_main, p)) {
            pthread_attr_destroy(&attr);
            lm_threadpool_destroy(p);
            return lm_error(LOOM_ERR_RUNTIME, "cannot start worker thread %d", p->n_workers);
        }
    }
    pthread_attr_destroy(&attr);
    *out = p;
    return LOOM_OK;
}

void lm_threadpool_destroy(lm_threadpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    atomic_fetch_add_explicit(&p->published, 1, memory_order_release); /* end the spins */
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->busy);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int lm_threadpool_size(const lm_threadpool *p)
{
    return p ? p->n_workers + 1 : 1;
}

void lm_threadpool_run(lm_threadpool *p, int64_t n, int64_t grain, lm_pool_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int threads = lm_threadpool_size(p);
    if (threads == 1 || n <= grain || pthread_mutex_trylock(&p->busy) != 0) {
        fn(arg, 0, n);
        return;
    }
    /* About four chunks per thread balances uneven work without much overhead. */
    int64_t chunk = (n + (int64_t)threads * 4 - 1) / ((int64_t)threads * 4);
    if (chunk < grain)
        chunk = grain;
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunk = chunk;
    atomic_store(&p->next, 0);
    p->joined = 0;
    p->closed = 0;
    p->generation++;
    atomic_store_explicit(&p->published, p->generation, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_chunks(p);
    /* Every chunk is claimed; those still running belong to joined workers. */
    pthread_mutex_lock(&p->lock);
    p->closed = 1;
    while (p->joined > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->busy);
}

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER; /* guards shared_pools */
static lm_threadpool *shared_pools;

static bool same_binding(const lm_threadpool *p, const cpu_set_t *cpus)
{
    if (!cpus)
        return !p->bound;
    return p->bound && CPU_EQUAL(&p->cpus, cpus);
}

loom_status lm_threadpool_acquire(int n_threads, const cpu_set_t *cpus, lm_threadpool **out)
{
    loom_status s = LOOM_OK;
    pthread_mutex_lock(&shared_lock);
    lm_threadpool *p = shared_pools;
    while (p &&
           !(lm_threadpool_size(p) == (n_threads > 1 ? n_threads : 1) && same_binding(p, cpus)))
        p = p->next_shared;
    if (!p && !(s = lm_threadpool_create(n_threads, cpus, &p))) {
        p->bound = cpus != NULL;
        if (cpus)
            p->cpus = *cpus;
        p->next_shared = shared_pools;
        shared_pools = p;
    }
    if (!s)
        p->shared_refs++;
    pthread_mutex_unlock(&shared_lock);
    *out = s ? NULL : p;
    return s;
}

void lm_threadpool_release(lm_threadpool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&shared_lock);
    bool last = --pool->shared_refs == 0;
    if (last)
        for (lm_threadpool **pp = &shared_pools; *pp; pp = &(*pp)->next_shared)
            if (*pp == pool) {
                *pp = pool->next_shared;
                break;
            }
    pthread_mutex_unlock(&shared_lock);
    if (last)
        lm_threadpool_destroy(pool);
}
