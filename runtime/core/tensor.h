/* tensor.h - the loom_tensor layout and helpers shared by the runtime's parts. */
#ifndef LOOM_CORE_TENSOR_H
#define LOOM_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/loom.h"

/* Tensors larger than this are refused: a hostile model cannot make us allocate
 * more. 16 GiB by default, beyond every model we serve on these hosts; the
 * fuzzers lower it. */
extern size_t lm_max_tensor_bytes;
#define LM_MAX_TENSOR_BYTES lm_max_tensor_bytes

struct loom_tensor {
    loom_dtype dtype;
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    void *data;    /* NULL only for shape-only tensors in the planner's dry pass */
    size_t nbytes; /* bytes of data, = count * dtype size */
    bool owns_data;
    bool pooled; /* the header belongs to a run state: destroy frees only owned data */
};

/* Element count of @rank dims; -1 if any is negative or the product overflows
 * LM_MAX_TENSOR_BYTES worth of elements. */
int64_t lm_dims_count(int rank, const int64_t *dims);

static inline int64_t lm_tensor_count(const loom_tensor *t)
{
    return lm_dims_count(t->rank, t->dims);
}

/* Builds a tensor header without data (dry pass) into @t. */
loom_status lm_tensor_init_shape(loom_tensor *t, loom_dtype dtype, int rank, const int64_t *dims);

/* Allocates owned, zero-filled storage for a header made by lm_tensor_init_shape(). */
loom_status lm_tensor_alloc_data(loom_tensor *t);
/* The same, left unset: for a producer that stores every element. */
loom_status lm_tensor_alloc_data_unset(loom_tensor *t);

/* Heap tensor with owned zeroed storage; NULL (with last error set) on failure. */
loom_tensor *lm_tensor_new(loom_dtype dtype, int rank, const int64_t *dims);

/* Deep copy of @src (always owning). */
loom_tensor *lm_tensor_clone(const loom_tensor *src);

/* Element @i of an integer or bool tensor as int64 (shape-like inputs). */
int64_t lm_tensor_get_i64(const loom_tensor *t, int64_t i);

/* Element @i of a numeric tensor as double. */
double lm_tensor_get_f64(const loom_tensor *t, int64_t i);

/* Stores @v into element @i of a numeric tensor, converting like a C cast. */
void lm_tensor_set_f64(loom_tensor *t, int64_t i, double v);

bool lm_dtype_is_float(loom_dtype dt);
bool lm_dtype_is_signed_int(loom_dtype dt);
bool lm_dtype_is_unsigned_int(loom_dtype dt);

/* "[1,3,224,224]" into @buf; returns @buf. */
const char *lm_dims_str(int rank, const int64_t *dims, char *buf, size_t len);

/* IEEE half <-> float conversions. */
float lm_half_to_float(uint16_t h);
uint16_t lm_float_to_half(float f);

#endif
