/*
 * threadpool.c - a fixed set of workers woken per parallel loop.
 *
 * A loop is published as (fn, arg, n, chunk); workers and the caller claim
 * chunks with an atomic counter, so uneven chunks balance themselves. The
 * caller waits for the last chunk to finish before returning.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "../core/error.h"
#include "threadpool.h"

struct lm_threadpool {
    int n_workers;
    pthread_t *threads;
    pthread_mutex_t busy; /* held by the caller that owns the workers for one loop */
    pthread_mutex_t lock; /* protects generation, stop, and the loop description */
    pthread_cond_t wake;  /* workers wait here for a new generation */
    pthread_cond_t done;  /* the caller waits here for running == 0 */
    uint64_t generation;
    int stop;
    int running; /* workers still inside the current loop */
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

static void *worker_main(void *opaque)
{
    lm_threadpool *p = opaque;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_chunks(p);
        pthread_mutex_lock(&p->lock);
        if (--p->running == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

loom_status lm_threadpool_create(int n_threads, lm_threadpool **out)
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
    for (; p->n_workers < want; p->n_workers++) {
        if (pthread_create(&p->threads[p->n_workers], NULL, worker_main, p)) {
            lm_threadpool_destroy(p);
            return lm_error(LOOM_ERR_RUNTIME, "cannot start worker thread %d", p->n_workers);
        }
    }
    *out = p;
    return LOOM_OK;
}

void lm_threadpool_destroy(lm_threadpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
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
    p->running = p->n_workers;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_chunks(p);
    pthread_mutex_lock(&p->lock);
    while (p->running > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->busy);
}
