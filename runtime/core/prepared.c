/*
 * prepared.c - the process's store of prepared (packed) weights.
 *
 * A kernel's prepare hook packs constant inputs into a layout its inner loops
 * like. That work depends on the weights' content and the layout, not on the
 * shape a plan is for, so it is done once per (device, builder, layout,
 * content) in the process and shared: by every plan of a model (each input
 * shape) and by every model whose weights are identical (a reload, an A/B
 * pair).
 *
 * The device of the step is part of the key: every host-kernel device gets
 * its own copy (a CPU device per NUMA node, once there are several, keeps
 * one local to it), and a device taken out of service takes its entries
 * with the plans that used it (a new plan generation), never handing them
 * to another.
 *
 * Entries are found by a 64-bit content hash of each packed input (dtype,
 * dims and bytes) plus the exact dtype and dims; a collision of the hash
 * between two weights of one shape is the only way to share wrongly (odds
 * about 2^-64 per pair). Lookups happen while planning only, under one mutex;
 * building happens outside it, so a second planner of the same key may build
 * a duplicate, which it drops for the published one.
 *
 * Segment devices (cards, OpenCL) keep their copies of constants here too
 * (lm_devconst_get): a constant goes to a device once, whatever number of
 * plans and models use it there, and leaves with the last of them. A device
 * that leaves service starts a new epoch of copies: a reset may have wiped
 * the old ones, which only the plans made before it still hold.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "device.h"
#include "exec.h"
#include "op.h"
#include "prepared.h"

#define MAX_KEY_INPUTS 4
#define N_BUCKETS      1024

/* What identifies a packed state, apart from the content hashes. */
typedef struct wkey {
    const struct lm_device *dev; /* the device whose steps use it */
    void (*maker)(void);         /* the build or upload function */
    uint64_t epoch;              /* a device copy: the device's quarantines when made */
    uint64_t layout;
    int n_in;
    uint64_t hash[MAX_KEY_INPUTS];
    loom_dtype dtype[MAX_KEY_INPUTS];
    int rank[MAX_KEY_INPUTS];
    int64_t dims[MAX_KEY_INPUTS][LOOM_MAX_RANK];
} wkey;

struct lm_wentry {
    lm_wentry *next; /* in its bucket */
    wkey key;
    uint64_t key_hash;
    int refs; /* plans holding it; under store_lock */
    void *data;
    size_t bytes;
    bool on_device; /* a segment device's copy, not host memory */
    lm_kweights_free_fn free_fn;
};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static lm_wentry *buckets[N_BUCKETS];
static size_t store_bytes[2]; /* host, device */
static int store_entries[2];

/* ---- hashing ------------------------------------------------------------ */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t read64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t round64(uint64_t acc, uint64_t in)
{
    return rotl(acc + in * P2, 31) * P1;
}

static inline uint64_t merge64(uint64_t h, uint64_t v)
{
    return (h ^ round64(0, v)) * P1 + P4;
}

uint64_t lm_hash_bytes(const void *data, size_t n, uint64_t seed)
{
    const uint8_t *p = data, *end = p + n;
    uint64_t h;
    if (n >= 32) {
        /* Four independent lanes keep the multipliers busy: ~10 GB/s. */
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        for (; p + 32 <= end; p += 32) {
            v1 = round64(v1, read64(p));
            v2 = round64(v2, read64(p + 8));
            v3 = round64(v3, read64(p + 16));
            v4 = round64(v4, read64(p + 24));
        }
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = merge64(merge64(merge64(merge64(h, v1), v2), v3), v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)n;
    for (; p + 8 <= end; p += 8)
        h = rotl(h ^ round64(0, read64(p)), 27) * P1 + P4;
    for (; p < end; p++)
        h = rotl(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

uint64_t lm_tensor_content_hash(const loom_tensor *t)
{
    int64_t head[LOOM_MAX_RANK + 2] = {t->dtype, t->rank};
    for (int d = 0; d < t->rank; d++)
        head[2 + d] = t->dims[d];
    uint64_t h = lm_hash_bytes(head, sizeof(int64_t) * (size_t)(2 + t->rank), 0);
    h = lm_hash_bytes(t->data, t->nbytes, h);
    return h ? h : 1;
}

/* The content hash of @t, value @v of @g, from the model's memo @hash_memo
 * when it is one of the graph's constants (immutable for the model's life). */
static uint64_t value_hash(const lm_graph *g, uint64_t *hash_memo, int v, const loom_tensor *t)
{
    uint64_t *memo = NULL;
    if (hash_memo && v >= 0 && g->values[v].constant == t)
        memo = &hash_memo[v];
    uint64_t h = memo ? __atomic_load_n(memo, __ATOMIC_RELAXED) : 0;
    if (h)
        return h;
    h = lm_tensor_content_hash(t);
    if (memo)
        __atomic_store_n(memo, h, __ATOMIC_RELAXED);
    return h;
}

/* ---- the store ---------------------------------------------------------- */

static void key_input(wkey *key, int j, const loom_tensor *t, uint64_t hash)
{
    key->hash[j] = hash;
    key->dtype[j] = t->dtype;
    key->rank[j] = t->rank;
    memcpy(key->dims[j], t->dims, sizeof(int64_t) * (size_t)t->rank);
}

static loom_status make_key(lm_kctx *k, const int *in, int n_in, uint64_t layout,
                            lm_kweights_build_fn build, wkey *key)
{
    if (n_in < 1 || n_in > MAX_KEY_INPUTS)
        return lm_kfail(k, LOOM_ERR_RUNTIME, "lm_kweights: %d key inputs (1..%d)", n_in,
                        MAX_KEY_INPUTS);
    memset(key, 0, sizeof(*key));
    key->dev = k->prep->dev;
    key->maker = (void (*)(void))build;
    key->layout = layout;
    key->n_in = n_in;
    for (int j = 0; j < n_in; j++) {
        const loom_tensor *t = lm_kin(k, in[j]);
        if (!t || !t->data)
            return lm_kfail(k, LOOM_ERR_RUNTIME, "lm_kweights: input %d is not a constant", in[j]);
        key_input(key, j, t, value_hash(k->prep->g, k->prep->hash_memo, k->node->in[in[j]], t));
    }
    return LOOM_OK;
}

/* The entry for @key with a new reference, or NULL; caller holds store_lock. */
static lm_wentry *find_locked(const wkey *key, uint64_t kh)
{
    for (lm_wentry *e = buckets[kh % N_BUCKETS]; e; e = e->next)
        if (e->key_hash == kh && memcmp(&e->key, key, sizeof(*key)) == 0) {
            e->refs++;
            return e;
        }
    return NULL;
}

static loom_status add_ref(lm_wrefs *r, lm_wentry *e)
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        lm_wentry **grown = realloc(r->e, sizeof(*grown) * (size_t)cap);
        if (!grown)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        r->e = grown;
        r->cap = cap;
    }
    r->e[r->n++] = e;
    return LOOM_OK;
}

static void put_entry(lm_wentry *e)
{
    pthread_mutex_lock(&store_lock);
    bool last = --e->refs == 0;
    if (last) {
        for (lm_wentry **pp = &buckets[e->key_hash % N_BUCKETS]; *pp; pp = &(*pp)->next)
            if (*pp == e) {
                *pp = e->next;
                break;
            }
        store_bytes[e->on_device] -= e->bytes;
        store_entries[e->on_device]--;
    }
    pthread_mutex_unlock(&store_lock);
    if (last) {
        e->free_fn(e->data);
        free(e);
    }
}

/* Publishes @fresh, or drops it for an entry another planner published
 * meanwhile; returns the entry the caller now holds. */
static lm_wentry *publish(lm_wentry *fresh)
{
    pthread_mutex_lock(&store_lock);
    lm_wentry *e = find_locked(&fresh->key, fresh->key_hash);
    if (!e) {
        e = fresh;
        e->refs = 1;
        e->next = buckets[e->key_hash % N_BUCKETS];
        buckets[e->key_hash % N_BUCKETS] = e;
        store_bytes[e->on_device] += e->bytes;
        store_entries[e->on_device]++;
    }
    pthread_mutex_unlock(&store_lock);
    if (e != fresh) {
        fresh->free_fn(fresh->data);
        free(fresh);
    }
    return e;
}

/* What makes an entry's data: a host build or a device upload. */
typedef loom_status (*make_fn)(void *ctx, void **data, size_t *bytes);

/* The entry for @key with a new reference held in @refs: found, or made by
 * make(ctx) outside the lock and published; *@out NULL when make had nothing
 * to keep. */
static loom_status get_entry(const wkey *key, bool on_device, make_fn make, void *ctx,
                             lm_kweights_free_fn free_fn, lm_wrefs *refs, lm_wentry **out)
{
    *out = NULL;
    uint64_t kh = lm_hash_bytes(key, sizeof(*key), 0);
    pthread_mutex_lock(&store_lock);
    lm_wentry *e = find_locked(key, kh);
    pthread_mutex_unlock(&store_lock);
    if (!e) {
        lm_wentry *fresh = calloc(1, sizeof(*fresh));
        if (!fresh)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        loom_status s = make(ctx, &fresh->data, &fresh->bytes);
        if (s || !fresh->data) {
            free(fresh);
            return s;
        }
        fresh->key = *key;
        fresh->key_hash = kh;
        fresh->on_device = on_device;
        fresh->free_fn = free_fn;
        e = publish(fresh);
    }
    loom_status s = add_ref(refs, e);
    if (s) {
        put_entry(e);
        return s;
    }
    *out = e;
    return LOOM_OK;
}

typedef struct kweights_call {
    lm_kctx *k;
    lm_kweights_build_fn build;
    void *arg;
} kweights_call;

static loom_status make_kweights(void *ctx, void **data, size_t *bytes)
{
    kweights_call *c = ctx;
    return c->build(c->k, c->arg, data, bytes);
}

loom_status lm_kweights(lm_kctx *k, const int *in, int n_in, uint64_t layout,
                        lm_kweights_build_fn build, lm_kweights_free_fn free_fn, void *arg,
                        const void **data)
{
    *data = NULL;
    if (!k->prep)
        return lm_kfail(k, LOOM_ERR_RUNTIME, "lm_kweights outside a prepare hook");
    wkey key;
    loom_status s = make_key(k, in, n_in, layout, build, &key);
    if (s)
        return s;
    kweights_call c = {k, build, arg};
    lm_wentry *e;
    if ((s = get_entry(&key, false, make_kweights, &c, free_fn, k->prep->refs, &e)))
        return s;
    *data = e ? e->data : NULL;
    return LOOM_OK;
}

typedef struct devconst_call {
    lm_device *dev;
    lm_devconst_upload_fn upload;
    void *arg;
} devconst_call;

static loom_status make_devconst(void *ctx, void **data, size_t *bytes)
{
    devconst_call *c = ctx;
    return c->upload(c->dev, c->arg, data, bytes);
}

loom_status lm_devconst_get(lm_device *dev, const lm_segment_desc *d, int v, uint64_t layout,
                            lm_devconst_upload_fn upload, lm_kweights_free_fn free_fn, void *arg,
                            void **data)
{
    *data = NULL;
    const loom_tensor *t = v >= 0 ? d->constant[v] : NULL;
    if (!t || !d->consts)
        return lm_error(LOOM_ERR_RUNTIME, "lm_devconst_get: value %d is not a constant", v);
    wkey key;
    memset(&key, 0, sizeof(key));
    key.dev = dev;
    key.maker = (void (*)(void))upload;
    /* A device that left service may have been reset since: its copies made
     * before then are not handed to new segments. */
    key.epoch = atomic_load(&dev->health.quarantines);
    key.layout = layout;
    key.n_in = 1;
    key_input(&key, 0, t, value_hash(d->g, d->hash_memo, v, t));
    devconst_call c = {dev, upload, arg};
    lm_wentry *e;
    loom_status s = get_entry(&key, true, make_devconst, &c, free_fn, d->consts, &e);
    if (s)
        return s;
    if (!e)
        return lm_error(LOOM_ERR_RUNTIME, "%s: uploading constant '%s' gave nothing", dev->name,
                        d->g->values[v].name);
    *data = e->data;
    return LOOM_OK;
}

void lm_wrefs_release(lm_wrefs *r)
{
    for (int i = 0; i < r->n; i++)
        put_entry(r->e[i]);
    free(r->e);
    memset(r, 0, sizeof(*r));
}

size_t lm_wentry_bytes(const lm_wentry *e)
{
    return e->bytes;
}

bool lm_wentry_on_device(const lm_wentry *e)
{
    return e->on_device;
}

void lm_prepared_totals(bool on_device, size_t *bytes, int *entries)
{
    pthread_mutex_lock(&store_lock);
    *bytes = store_bytes[on_device];
    *entries = store_entries[on_device];
    pthread_mutex_unlock(&store_lock);
}
