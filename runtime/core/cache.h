/*
 * cache.h - what libloom keeps on disk between processes: the cache
 * directory (OpenCL binaries, GEMM tiles) and the measured costs of the cost
 * model, a small table of named figures.
 */
#ifndef LOOM_CORE_CACHE_H
#define LOOM_CORE_CACHE_H

#include <stdbool.h>

#define LM_MAX_COSTS 8192

/* $LOOM_CACHE_DIR, else $XDG_CACHE_HOME/loom, else ~/.cache/loom, created if
 * missing; NULL when none can be had. Valid until the thread's next call. */
const char *lm_cache_dir(void);

/*
 * Measured figures, by key ("cpu|Intel Xeon|AVX-512 VNNI|sgemm_gflops"), at
 * most LM_MAX_COSTS of them (later ones are kept for the process only).
 * The table lives in the cache directory as costs-vN.tsv (N: the format's
 * version; another version's file is ignored), is read once per process,
 * and is written whole through a temporary file and rename(), so concurrent
 * processes never see a torn file (the last writer's other keys win).
 * Without a cache directory the figures live for the process only.
 */
bool lm_cost_cache_get(const char *key, double *value);
/* Sets @key for this process; lm_cost_cache_save() writes the table. */
void lm_cost_cache_set(const char *key, double value);
void lm_cost_cache_save(void);
/* Both. */
void lm_cost_cache_put(const char *key, double value);
/* Forgets the table: the next call reads the (current) cache directory's
 * file again. For tests that point the cache elsewhere. */
void lm_cost_cache_reset(void);

#endif
