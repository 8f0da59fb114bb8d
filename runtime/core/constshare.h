/*
 * constshare.h - a model's large constants shared by content with the other
 * models of the process (constshare.c).
 */
#ifndef LOOM_CORE_CONSTSHARE_H
#define LOOM_CORE_CONSTSHARE_H

#include <stdint.h>

#include "graph.h"

typedef struct lm_cshared lm_cshared;

/* The shared constants one model holds. */
typedef struct lm_const_refs {
    lm_cshared **e;
    int n;
} lm_const_refs;

/*
 * Makes each large constant of @g (64 KiB and up) use the process's copy of
 * identical bytes, freeing its own, or become that copy for later models.
 * @hash_memo (per value) gets the content hashes. The graph's constants must
 * not change afterwards (a loaded model's never do). Out of memory leaves
 * the remaining constants unshared, which is only a missed saving.
 */
void lm_constants_share(lm_graph *g, uint64_t *hash_memo, lm_const_refs *refs);
/* Drops @refs after the graph that used them is freed. */
void lm_constants_release(lm_const_refs *refs);

#endif
