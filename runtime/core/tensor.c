/* tensor.c - tensor storage, element access and the public tensor API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sequence.h"
#include "tensor.h"

size_t lm_max_tensor_bytes = (size_t)16 << 30;

size_t loom_dtype_size(loom_dtype dt)
{
    switch (dt) {
    case LOOM_DTYPE_FLOAT:
    case LOOM_DTYPE_INT32:
    case LOOM_DTYPE_UINT32:
        return 4;
    case LOOM_DTYPE_UINT8:
    case LOOM_DTYPE_INT8:
    case LOOM_DTYPE_BOOL:
        return 1;
    case LOOM_DTYPE_UINT16:
    case LOOM_DTYPE_INT16:
    case LOOM_DTYPE_FLOAT16:
        return 2;
    case LOOM_DTYPE_INT64:
    case LOOM_DTYPE_DOUBLE:
    case LOOM_DTYPE_UINT64:
        return 8;
    default:
        return 0;
    }
}

const char *loom_dtype_name(loom_dtype dt)
{
    if (dt == LM_DTYPE_SEQUENCE)
        return "sequence";
    switch (dt) {
    case LOOM_DTYPE_FLOAT:
        return "float";
    case LOOM_DTYPE_UINT8:
        return "uint8";
    case LOOM_DTYPE_INT8:
        return "int8";
    case LOOM_DTYPE_UINT16:
        return "uint16";
    case LOOM_DTYPE_INT16:
        return "int16";
    case LOOM_DTYPE_INT32:
        return "int32";
    case LOOM_DTYPE_INT64:
        return "int64";
    case LOOM_DTYPE_STRING:
        return "string";
    case LOOM_DTYPE_BOOL:
        return "bool";
    case LOOM_DTYPE_FLOAT16:
        return "float16";
    case LOOM_DTYPE_DOUBLE:
        return "double";
    case LOOM_DTYPE_UINT32:
        return "uint32";
    case LOOM_DTYPE_UINT64:
        return "uint64";
    default:
        return "?";
    }
}

bool lm_dtype_is_float(loom_dtype dt)
{
    return dt == LOOM_DTYPE_FLOAT || dt == LOOM_DTYPE_DOUBLE || dt == LOOM_DTYPE_FLOAT16;
}

bool lm_dtype_is_signed_int(loom_dtype dt)
{
    return dt == LOOM_DTYPE_INT8 || dt == LOOM_DTYPE_INT16 || dt == LOOM_DTYPE_INT32 ||
           dt == LOOM_DTYPE_INT64;
}

bool lm_dtype_is_unsigned_int(loom_dtype dt)
{
    return dt == LOOM_DTYPE_UINT8 || dt == LOOM_DTYPE_UINT16 || dt == LOOM_DTYPE_UINT32 ||
           dt == LOOM_DTYPE_UINT64 || dt == LOOM_DTYPE_BOOL;
}

int64_t lm_dims_count(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return -1;
        if (dims[i] == 0)
            return 0;
        if (n > (int64_t)(LM_MAX_TENSOR_BYTES / (size_t)dims[i]))
            return -1;
        n *= dims[i];
    }
    return n;
}

const char *lm_dims_str(int rank, const int64_t *dims, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

loom_status lm_tensor_init_shape(loom_tensor *t, loom_dtype dtype, int rank, const int64_t *dims)
{
    char buf[128];
    bool pooled = t->pooled; /* a property of the header's storage, not of the shape */
    memset(t, 0, sizeof(*t));
    t->pooled = pooled;
    size_t esize = loom_dtype_size(dtype);
    if (esize == 0)
        return lm_error(LOOM_ERR_UNSUPPORTED, "tensors of type %s (%d) are not supported",
                        loom_dtype_name(dtype), (int)dtype);
    if (rank < 0 || rank > LOOM_MAX_RANK)
        return lm_error(LOOM_ERR_UNSUPPORTED, "rank %d exceeds the maximum of %d", rank,
                        LOOM_MAX_RANK);
    int64_t n = lm_dims_count(rank, dims);
    if (n < 0 || (size_t)n > LM_MAX_TENSOR_BYTES / esize)
        return lm_error(LOOM_ERR_NO_MEMORY, "tensor of %s %s is invalid or exceeds %zu bytes",
                        loom_dtype_name(dtype), lm_dims_str(rank, dims, buf, sizeof(buf)),
                        LM_MAX_TENSOR_BYTES);
    t->dtype = dtype;
    t->rank = rank;
    if (rank)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
    t->nbytes = (size_t)n * esize;
    return LOOM_OK;
}

static loom_status alloc_data(loom_tensor *t, bool zero)
{
    /* One extra byte keeps calloc(0) distinct from "no data". */
    size_t n = t->nbytes ? t->nbytes : 1;
    t->data = zero ? calloc(1, n) : malloc(n);
    if (!t->data)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory allocating %zu bytes", t->nbytes);
    t->owns_data = true;
    return LOOM_OK;
}

loom_status lm_tensor_alloc_data(loom_tensor *t)
{
    return alloc_data(t, true);
}

loom_status lm_tensor_alloc_data_unset(loom_tensor *t)
{
    return alloc_data(t, false);
}

loom_tensor *lm_tensor_new(loom_dtype dtype, int rank, const int64_t *dims)
{
    loom_tensor *t = calloc(1, sizeof(*t));
    if (!t) {
        lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    if (lm_tensor_init_shape(t, dtype, rank, dims) || lm_tensor_alloc_data(t)) {
        free(t);
        return NULL;
    }
    return t;
}

loom_tensor *lm_tensor_clone(const loom_tensor *src)
{
    if (lm_is_sequence(src)) { /* a new sequence sharing the items */
        loom_tensor *t = calloc(1, sizeof(*t));
        if (t && !(t->data = lm_seq_copy(src->data))) {
            free(t);
            return NULL;
        }
        if (t) {
            t->dtype = LM_DTYPE_SEQUENCE;
            t->owns_data = true;
        }
        return t;
    }
    loom_tensor *t = lm_tensor_new(src->dtype, src->rank, src->dims);
    if (t && src->data)
        memcpy(t->data, src->data, src->nbytes);
    return t;
}

int64_t lm_tensor_get_i64(const loom_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case LOOM_DTYPE_INT64:
        return ((const int64_t *)p)[i];
    case LOOM_DTYPE_INT32:
        return ((const int32_t *)p)[i];
    case LOOM_DTYPE_INT16:
        return ((const int16_t *)p)[i];
    case LOOM_DTYPE_INT8:
        return ((const int8_t *)p)[i];
    case LOOM_DTYPE_UINT64:
        return (int64_t)((const uint64_t *)p)[i];
    case LOOM_DTYPE_UINT32:
        return ((const uint32_t *)p)[i];
    case LOOM_DTYPE_UINT16:
        return ((const uint16_t *)p)[i];
    case LOOM_DTYPE_UINT8:
    case LOOM_DTYPE_BOOL:
        return ((const uint8_t *)p)[i];
    default:
        return (int64_t)lm_tensor_get_f64(t, i);
    }
}

double lm_tensor_get_f64(const loom_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case LOOM_DTYPE_FLOAT:
        return ((const float *)p)[i];
    case LOOM_DTYPE_DOUBLE:
        return ((const double *)p)[i];
    case LOOM_DTYPE_FLOAT16:
        return lm_half_to_float(((const uint16_t *)p)[i]);
    case LOOM_DTYPE_STRING:
    case LOOM_DTYPE_UNDEFINED:
        return 0;
    default:
        return (double)lm_tensor_get_i64(t, i);
    }
}

void lm_tensor_set_f64(loom_tensor *t, int64_t i, double v)
{
    void *p = t->data;
    switch (t->dtype) {
    case LOOM_DTYPE_FLOAT:
        ((float *)p)[i] = (float)v;
        break;
    case LOOM_DTYPE_DOUBLE:
        ((double *)p)[i] = v;
        break;
    case LOOM_DTYPE_FLOAT16:
        ((uint16_t *)p)[i] = lm_float_to_half((float)v);
        break;
    case LOOM_DTYPE_INT64:
        ((int64_t *)p)[i] = (int64_t)v;
        break;
    case LOOM_DTYPE_INT32:
        ((int32_t *)p)[i] = (int32_t)v;
        break;
    case LOOM_DTYPE_INT16:
        ((int16_t *)p)[i] = (int16_t)v;
        break;
    case LOOM_DTYPE_INT8:
        ((int8_t *)p)[i] = (int8_t)v;
        break;
    case LOOM_DTYPE_UINT64:
        ((uint64_t *)p)[i] = (uint64_t)v;
        break;
    case LOOM_DTYPE_UINT32:
        ((uint32_t *)p)[i] = (uint32_t)v;
        break;
    case LOOM_DTYPE_UINT16:
        ((uint16_t *)p)[i] = (uint16_t)v;
        break;
    case LOOM_DTYPE_UINT8:
        ((uint8_t *)p)[i] = (uint8_t)v;
        break;
    case LOOM_DTYPE_BOOL:
        ((uint8_t *)p)[i] = v != 0;
        break;
    default:
        break;
    }
}

float lm_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t lm_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0));
    if (absx >= 0x477ff000) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000) { /* subnormal or zero in half */
        float a;
        memcpy(&a, &absx, sizeof(a));
        /* scale so the subnormal's unit is 1, round half to even via rintf */
        uint32_t m = (uint32_t)rintf(a * 16777216.0f);
        return (uint16_t)(sign | m);
    }
    /* normal: round mantissa to nearest even */
    uint32_t mant = absx + 0xfff + ((absx >> 13) & 1);
    return (uint16_t)(sign | ((mant - 0x38000000) >> 13));
}

/* ---- public API ---- */

loom_status loom_tensor_create(loom_dtype dtype, int rank, const int64_t *dims, loom_tensor **out)
{
    if (!out || (rank > 0 && !dims))
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_tensor_create: NULL argument");
    *out = lm_tensor_new(dtype, rank, dims);
    return *out ? LOOM_OK : LOOM_ERR_NO_MEMORY;
}

loom_status loom_tensor_wrap(loom_dtype dtype, int rank, const int64_t *dims, void *data,
                             size_t size, loom_tensor **out)
{
    if (!out || (rank > 0 && !dims) || !data)
        return lm_error(LOOM_ERR_INVALID_ARGUMENT, "loom_tensor_wrap: NULL argument");
    *out = NULL;
    loom_tensor *t = calloc(1, sizeof(*t));
    if (!t)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status s = lm_tensor_init_shape(t, dtype, rank, dims);
    if (s) {
        free(t);
        return s;
    }
    if (size < t->nbytes) {
        size_t need = t->nbytes;
        free(t);
        return lm_error(LOOM_ERR_INVALID_ARGUMENT,
                        "loom_tensor_wrap: buffer of %zu bytes is smaller than the %zu the "
                        "tensor needs",
                        size, need);
    }
    t->data = data;
    *out = t;
    return LOOM_OK;
}

void loom_tensor_destroy(loom_tensor *t)
{
    if (!t)
        return;
    if (t->owns_data && lm_is_sequence(t))
        lm_seq_free(t->data);
    else if (t->owns_data)
        free(t->data);
    if (!t->pooled)
        free(t);
}

loom_dtype loom_tensor_dtype(const loom_tensor *t)
{
    return t->dtype;
}

int loom_tensor_rank(const loom_tensor *t)
{
    return t->rank;
}

const int64_t *loom_tensor_dims(const loom_tensor *t)
{
    return t->dims;
}

int64_t loom_tensor_count(const loom_tensor *t)
{
    return lm_tensor_count(t);
}

size_t loom_tensor_size(const loom_tensor *t)
{
    return t->nbytes;
}

void *loom_tensor_data(loom_tensor *t)
{
    return t->data;
}
