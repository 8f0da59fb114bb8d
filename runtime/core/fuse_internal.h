/* fuse_internal.h - what the load-time rewrites in fuse*.c share. */
#ifndef LOOM_CORE_FUSE_INTERNAL_H
#define LOOM_CORE_FUSE_INTERNAL_H

#include <stdbool.h>

#include "graph.h"

typedef struct fuse_ctx {
    lm_graph *g;
    int *readers; /* per value: number of node inputs reading it */
    int *reader;  /* per value: index of a reading node (the only one when readers == 1) */
    bool *dead;   /* per node */
} fuse_ctx;

bool lm_fuse_is_op(const lm_node *n, const char *op);
/* Recounts readers[]/reader[] over live nodes. */
void lm_fuse_count_readers(fuse_ctx *f);
/* The single live node reading output 0 of @n (its only output), or -1. */
int lm_fuse_sole_consumer(const fuse_ctx *f, const lm_node *n);
/* Appends a constant value owning @t; returns its id, or -1 on allocation failure. */
int lm_fuse_add_constant(lm_graph *g, const char *name, loom_tensor *t);

/* QDQ -> QLinearConv / QLinearMatMul (fuse_qdq.c). */
loom_status lm_fuse_qdq(fuse_ctx *f);

#endif
