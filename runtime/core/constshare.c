/*
 * constshare.c - large constants shared by content across models.
 *
 * Loading a second version of a model, or an A/B pair, with the same weights
 * would otherwise hold every initializer twice. At load each constant of
 * 64 KiB or more is hashed (prepared.c's content hash, which packed weights
 * are keyed by too, so the hash is computed once) and compared byte for byte
 * with any constant of the same hash, dtype and dims already held by another
 * model: on a match the new model's bytes are freed and it reads the shared
 * ones. Entries are reference-counted by models and freed with the last.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "constshare.h"
#include "prepared.h"

#define MIN_SHARED_BYTES ((size_t)64 << 10)

struct lm_cshared {
    lm_cshared *next;
    uint64_t hash;
    loom_dtype dtype;
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    size_t nbytes;
    void *data;
    int refs; /* under lock */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static lm_cshared *entries;

static bool same(const lm_cshared *e, uint64_t hash, const loom_tensor *t)
{
    return e->hash == hash && e->dtype == t->dtype && e->rank == t->rank &&
           e->nbytes == t->nbytes &&
           memcmp(e->dims, t->dims, sizeof(int64_t) * (size_t)t->rank) == 0 &&
           memcmp(e->data, t->data, t->nbytes) == 0;
}

/* The entry now holding @t's bytes, with a reference for the caller; NULL
 * when out of memory (then @t keeps its own). */
static lm_cshared *share_one(loom_tensor *t, uint64_t hash)
{
    lm_cshared *fresh = calloc(1, sizeof(*fresh));
    pthread_mutex_lock(&lock);
    lm_cshared *e = entries;
    while (e && !same(e, hash, t))
        e = e->next;
    if (e) {
        e->refs++;
    } else if (fresh) {
        e = fresh;
        fresh = NULL;
        *e = (lm_cshared){.next = entries,
                          .hash = hash,
                          .dtype = t->dtype,
                          .rank = t->rank,
                          .nbytes = t->nbytes,
                          .data = t->data,
                          .refs = 1};
        memcpy(e->dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
        entries = e;
        t->owns_data = false; /* the entry owns the bytes now */
    }
    pthread_mutex_unlock(&lock);
    free(fresh);
    if (e && t->owns_data) { /* matched: read the shared bytes */
        free(t->data);
        t->data = e->data;
        t->owns_data = false;
    }
    return e;
}

void lm_constants_share(lm_graph *g, uint64_t *hash_memo, lm_const_refs *refs)
{
    int n = 0;
    for (int v = 0; v < g->n_values; v++) {
        loom_tensor *t = g->values[v].constant;
        if (t && t->owns_data && t->nbytes >= MIN_SHARED_BYTES)
            n++;
    }
    refs->n = 0;
    if (!n || !(refs->e = malloc(sizeof(*refs->e) * (size_t)n)))
        return;
    for (int v = 0; v < g->n_values; v++) {
        loom_tensor *t = g->values[v].constant;
        if (!t || !t->owns_data || t->nbytes < MIN_SHARED_BYTES)
            continue;
        hash_memo[v] = lm_tensor_content_hash(t);
        lm_cshared *e = share_one(t, hash_memo[v]);
        if (e)
            refs->e[refs->n++] = e;
    }
}

void lm_constants_release(lm_const_refs *refs)
{
    for (int i = 0; i < refs->n; i++) {
        lm_cshared *e = refs->e[i], *gone = NULL;
        pthread_mutex_lock(&lock);
        if (--e->refs == 0) {
            for (lm_cshared **pp = &entries; *pp; pp = &(*pp)->next)
                if (*pp == e) {
                    *pp = e->next;
                    break;
                }
            gone = e;
        }
        pthread_mutex_unlock(&lock);
        if (gone) {
            free(gone->data);
            free(gone);
        }
    }
    free(refs->e);
    refs->e = NULL;
    refs->n = 0;
}
