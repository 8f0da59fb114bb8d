/*
 * prepared.h - packed weights shared across plans and models (prepared.c),
 * and the content hash that keys them.
 *
 * Kernels reach the store through lm_kweights() (op.h), segment devices
 * through lm_devconst_get(). A plan owns one reference per entry its prepare
 * hooks and its segments obtained (lm_wrefs) and drops them when it is freed;
 * an entry is freed with its last reference.
 */
#ifndef LOOM_CORE_PREPARED_H
#define LOOM_CORE_PREPARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "tensor.h"

typedef struct lm_wentry lm_wentry;

/* The entries one plan references. */
typedef struct lm_wrefs {
    lm_wentry **e;
    int n, cap;
} lm_wrefs;

/* Drops every reference in @r and empties it. */
void lm_wrefs_release(lm_wrefs *r);

/* Bytes an entry's build reported. */
size_t lm_wentry_bytes(const lm_wentry *e);
/* Whether it is a segment device's copy of a constant (lm_devconst_get). */
bool lm_wentry_on_device(const lm_wentry *e);

/* Bytes of every live entry in the process, and how many there are: the
 * host's packed weights, or (@on_device) the device copies of constants. */
void lm_prepared_totals(bool on_device, size_t *bytes, int *entries);

/* A fast 64-bit hash of @n bytes (xxHash64's construction), seeded. */
uint64_t lm_hash_bytes(const void *p, size_t n, uint64_t seed);

/* The hash of @t's dtype, dims and bytes (never 0). */
uint64_t lm_tensor_content_hash(const loom_tensor *t);

struct lm_device;
struct lm_segment_desc;

/*
 * A segment device's copy of constant value @v of the segment @d describes,
 * made by upload(dev, arg, &data, &bytes) in the form @layout names (the
 * storage type, a transpose: whatever else the copy depends on). It is made
 * once in the process per (@dev, upload, @layout, content of @v) and shared
 * by every segment of every plan and model that asks for the same key, so
 * planning a new shape uploads nothing already there and a second model
 * with the same weights adds nothing on the device. The reference goes to
 * d->consts (the plan's, dropped after its segments are released), so
 * *@data stays valid as long as the segment. free_fn(data) releases the
 * copy after the last segment using it is gone.
 */
typedef loom_status (*lm_devconst_upload_fn)(struct lm_device *dev, void *arg, void **data,
                                             size_t *bytes);
loom_status lm_devconst_get(struct lm_device *dev, const struct lm_segment_desc *d, int v,
                            uint64_t layout, lm_devconst_upload_fn upload,
                            void (*free_fn)(void *data), void *arg, void **data);

/* What a prepare hook sees of its plan (lm_kctx.prep): the host-kernel
 * device its step runs on (part of every key: one device's prepared form is
 * never handed to another), where references go and the model's per-value
 * memo of content hashes (0: not computed yet). */
typedef struct lm_prep_env {
    const struct lm_device *dev;
    const lm_graph *g;
    uint64_t *hash_memo; /* per value of g */
    lm_wrefs *refs;
} lm_prep_env;

#endif
