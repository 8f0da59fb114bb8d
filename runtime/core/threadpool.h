/* threadpool.h - persistent worker threads that split a loop into ranges, shared by the process. */
#ifndef LOOM_CORE_THREADPOOL_H
#define LOOM_CORE_THREADPOOL_H

#include <sched.h>
#include <stdint.h>

#include "loom/loom.h"

typedef struct lm_threadpool lm_threadpool;
typedef void (*lm_pool_fn)(void *arg, int64_t begin, int64_t end);

/*
 * Starts @n_threads - 1 workers (the caller is the n-th). @n_threads <= 1: none.
 * @cpus, if not NULL, is the set of CPUs the workers may run on (each worker
 * gets the whole set; the caller's own thread belongs to the application and
 * keeps its affinity).
 */
loom_status lm_threadpool_create(int n_threads, const cpu_set_t *cpus, lm_threadpool **out);
void lm_threadpool_destroy(lm_threadpool *pool);
int lm_threadpool_size(const lm_threadpool *pool);

/*
 * Runs fn over [0, n) in chunks of at least @grain items on all threads and
 * waits. If another caller is using the workers, runs on the calling thread
 * alone rather than wait: concurrent model runs then each get one core.
 */
void lm_threadpool_run(lm_threadpool *pool, int64_t n, int64_t grain, lm_pool_fn fn, void *arg);

/*
 * Pools shared by the process: contexts asking for the same thread count and
 * CPU set (NULL: unbound) get the same pool, so several contexts (loomd's
 * models, a library user's sessions) do not oversubscribe the cores. Pools
 * are reference-counted; the last release stops the workers.
 */
loom_status lm_threadpool_acquire(int n_threads, const cpu_set_t *cpus, lm_threadpool **out);
void lm_threadpool_release(lm_threadpool *pool);

#endif
