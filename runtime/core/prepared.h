/*
 * prepared.h - packed weights shared across plans and models (prepared.c),
 * and the content hash that keys them.
 *
 * Kernels reach the store through lm_kweights() (op.h). A plan owns one
 * reference per entry its prepare hooks obtained (lm_wrefs) and drops them
 * when it is freed; an entry is freed with its last reference.
 */
#ifndef LOOM_CORE_PREPARED_H
#define LOOM_CORE_PREPARED_H

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

/* Bytes of every live entry in the process, and how many there are. */
void lm_prepared_totals(size_t *bytes, int *entries);

/* A fast 64-bit hash of @n bytes (xxHash64's construction), seeded. */
uint64_t lm_hash_bytes(const void *p, size_t n, uint64_t seed);

/* The hash of @t's dtype, dims and bytes (never 0). */
uint64_t lm_tensor_content_hash(const loom_tensor *t);

struct lm_device;

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
