/*
 * tensor_ops.h - private helpers shared by the shape/layout/indexing kernels
 * (tensor.c, index.c, resize.c) and their op tables.
 */
#ifndef LOOM_CPU_OPS_TENSOR_OPS_H
#define LOOM_CPU_OPS_TENSOR_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../core/op.h"
#include "tables.h"

/* Returns from the kernel when @expr fails. */
#define TK_TRY(expr)                                                                               \
    do {                                                                                           \
        loom_status st_ = (expr);                                                                  \
        if (st_ != LOOM_OK)                                                                        \
            return st_;                                                                            \
    } while (0)

/* lm_kout() failed: it has set the message (size limit or bad dims). */
#define TK_KOUT_ERR LOOM_ERR_NO_MEMORY

/* Strided views may carry two dims per tensor axis (Tile), hence twice the rank. */
#define TK_MAX_VRANK (2 * LOOM_MAX_RANK)

/* Element size of @t's dtype, failing the node for string/unknown dtypes. */
static inline loom_status tk_esz(lm_kctx *k, const loom_tensor *t, size_t *esz)
{
    size_t s = loom_dtype_size(t->dtype);
    if (s == 0 || s > 8)
        return lm_kunsupported(k, "dtype %s is not supported", loom_dtype_name(t->dtype));
    *esz = s;
    return LOOM_OK;
}

/* Whether output @i of the node is present (declared by the model). */
static inline bool tk_has_out(const lm_kctx *k, int i)
{
    return i < k->n_out && i < k->node->n_out && k->node->out[i] >= 0;
}

/*
 * True when the kernel must stop after lm_kout(): in the dry pass, unless the
 * executor gave every output storage and every present input has data (then
 * the kernel computes constants the planner can fold).
 */
static inline bool tk_dry_stop(const lm_kctx *k)
{
    if (!k->dry)
        return false;
    for (int i = 0; i < k->n_out; i++) {
        if (tk_has_out(k, i) && (!k->out[i] || !k->out[i]->data))
            return true;
    }
    for (int i = 0; i < k->n_in; i++) {
        if (k->in[i] && !k->in[i]->data && lm_tensor_count(k->in[i]) != 0)
            return true;
    }
    return false;
}

/* Strides (in elements) of a contiguous tensor of @rank @dims. */
static inline void tk_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

/* Product of dims[from..to), which callers only use on validated shapes. */
static inline int64_t tk_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= dims[i];
    return p;
}

/* a * b into *out; false on overflow or negative operands. */
static inline bool tk_mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return false;
    if (a != 0 && b > INT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

/*
 * Copies a strided view of @src into contiguous @dst: element j of the view at
 * coordinates c is src[sum c[i] * sstrides[i]] (strides in elements, may be 0 or
 * negative; @src points at the view's origin). Coalesces dims, then uses memcpy,
 * a tiled 2-D transpose or a typed gather loop, split with lm_parallel_for.
 */
void lm_tk_strided_copy(lm_kctx *k, size_t esz, int rank, const int64_t *dims, const void *src,
                        const int64_t *sstrides, void *dst);

/* Copies @n elements of @esz bytes from @src in parallel chunks. */
void lm_tk_copy(lm_kctx *k, void *dst, const void *src, size_t nbytes);

/* Fills @n elements of @esz bytes at @dst with the element at @val. */
void lm_tk_fill(void *dst, const void *val, size_t esz, int64_t n);

/*
 * Reads a shape-like input (int32 or int64, 0-D or 1-D) into @vals (capacity
 * @cap). Fails the node naming @what when it is malformed.
 */
loom_status lm_tk_read_ints(lm_kctx *k, const loom_tensor *t, const char *what, int64_t *vals,
                            int cap, int *n);

/* Converts @n elements of integer/float/bool tensor data into int64 (floats truncate). */
loom_status lm_tk_to_i64(lm_kctx *k, const loom_tensor *t, int64_t *out, int64_t n);

/* Stores @v converted to @dtype into the element at @dst (C cast semantics). */
void lm_tk_store_f64(loom_dtype dtype, void *dst, double v);

#endif
