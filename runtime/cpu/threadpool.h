/* threadpool.h - persistent worker threads that split a loop into ranges. */
#ifndef LOOM_CPU_THREADPOOL_H
#define LOOM_CPU_THREADPOOL_H

#include <stdint.h>

#include "loom/loom.h"

typedef struct lm_threadpool lm_threadpool;
typedef void (*lm_pool_fn)(void *arg, int64_t begin, int64_t end);

/* Starts @n_threads - 1 workers (the caller is the n-th). @n_threads <= 1: none. */
loom_status lm_threadpool_create(int n_threads, lm_threadpool **out);
void lm_threadpool_destroy(lm_threadpool *pool);
int lm_threadpool_size(const lm_threadpool *pool);

/*
 * Runs fn over [0, n) in chunks of at least @grain items on all threads and
 * waits. If another caller is using the workers, runs on the calling thread
 * alone rather than wait: concurrent model runs then each get one core.
 */
void lm_threadpool_run(lm_threadpool *pool, int64_t n, int64_t grain, lm_pool_fn fn, void *arg);

#endif
