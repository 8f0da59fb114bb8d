/*
 * bucket.h - shape buckets: a model's dynamic dim padded up to a multiple,
 * so that serving sees a few input shapes (and plans) instead of every one.
 *
 * Opt-in per model (config.json parameters "shape_bucket": "DIM:MULTIPLE").
 * Every input axis whose symbolic name is DIM is padded with zeros up to the
 * next multiple, and every output axis with that name is cut back to the
 * request's length. That is exact only when the model ignores padded
 * positions at the others: an encoder whose attention mask is an input
 * (padded with 0, so padded keys get -10000 or -inf before the softmax and
 * weigh exactly nothing) and whose other ops work per position (embeddings,
 * LayerNorm over features, feed-forward layers). It is not exact for a model
 * that pools, normalizes or convolves along DIM without the mask, runs a
 * recurrence over it, or has no mask input; do not turn it on for those.
 */
#ifndef LOOMD_BUCKET_H
#define LOOMD_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/loom.h"

#define BUCKET_MAX_IO 64

typedef struct bucket_plan {
    int multiple;                /* 0: no buckets */
    int in_axis[BUCKET_MAX_IO];  /* per input: the axis named DIM, or -1 */
    int out_axis[BUCKET_MAX_IO]; /* per output: the same */
} bucket_plan;

/* Finds @dim in @m's inputs and outputs; an error (in @err) if no input has it. */
int bucket_setup(loom_model *m, const char *dim, int multiple, bucket_plan *bp, char *err,
                 size_t errlen);

/* Pads @in into @padded (zero-filled copies; NULL where an input needs no
 * padding) and sets *@len to the request's length of the dim (-1 if no input
 * was padded). False when out of memory. */
bool bucket_pad(const bucket_plan *bp, loom_tensor *const *in, size_t n_in, loom_tensor **padded,
                int64_t *len);

/* Cuts each output's bucketed axis back to @len, replacing the tensor;
 * false when out of memory (outputs left as they were). */
bool bucket_crop(const bucket_plan *bp, loom_tensor **out, size_t n_out, int64_t len);

#endif
