/*
 * sequence.h - ONNX sequence values (seq(tensor)) inside a graph.
 *
 * A sequence travels through the executor as a tensor header of type
 * LM_DTYPE_SEQUENCE whose data is an lm_sequence it owns; its size is 0, so
 * nothing that copies tensor bytes ever copies it by mistake, and anything
 * that sizes its type (a device, an arena) refuses it. Sequences are
 * immutable once made: an op that changes one makes a new sequence sharing
 * the old one's items, which are reference counted, so a list that a Loop
 * grows by one item an iteration costs one item's copy per iteration.
 * Shapes of sequences are known only at run time (their ops defer in the
 * planning pass); graph inputs and outputs of a model are tensors.
 */
#ifndef LOOM_CORE_SEQUENCE_H
#define LOOM_CORE_SEQUENCE_H

#include <stdatomic.h>

#include "op.h"
#include "tensor.h"

/* Outside ONNX's TensorProto codes: never a tensor's element type. */
#define LM_DTYPE_SEQUENCE ((loom_dtype)64)

typedef struct lm_seq_item {
    atomic_int refs;
    loom_tensor t; /* owns its data */
} lm_seq_item;

typedef struct lm_sequence {
    loom_dtype elem; /* the items' type (SequenceEmpty's dtype for an empty one) */
    int n, cap;
    lm_seq_item **items;
} lm_sequence;

static inline bool lm_is_sequence(const loom_tensor *t)
{
    return t && t->dtype == LM_DTYPE_SEQUENCE;
}

/* An empty sequence of @elem items; NULL (error set) when out of memory. */
lm_sequence *lm_seq_new(loom_dtype elem);
/* A new sequence holding @s's items (shared); NULL when out of memory. */
lm_sequence *lm_seq_copy(const lm_sequence *s);
void lm_seq_free(lm_sequence *s);
/* Inserts a copy of @t at @pos (0..n). */
loom_status lm_seq_insert(lm_sequence *s, int pos, const loom_tensor *t);
/* Removes the item at @pos (0..n-1). */
void lm_seq_erase(lm_sequence *s, int pos);

/* Declares output @i of @k as the sequence @s, which it takes (freed on
 * failure); returns the output or NULL with the error set. */
loom_tensor *lm_kout_sequence(lm_kctx *k, int i, lm_sequence *s);

/* The sequence input @i, failing the node when it is not one (NULL in the
 * planning pass, where its items are not known). */
loom_status lm_kin_sequence(lm_kctx *k, int i, const lm_sequence **out);

#endif
