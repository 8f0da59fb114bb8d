/* tensor_common.c - strided copy engine and small helpers for the tensor kernels. */
#include <math.h>

#include "../transpose.h"
#include "tensor_ops.h"

/* ------------------------------------------------------------------------ */
/* Plain parallel memcpy                                                    */

typedef struct copy_job {
    uint8_t *dst;
    const uint8_t *src;
} copy_job;

#define COPY_CHUNK ((int64_t)1 << 16)

static void copy_range(void *arg, int64_t begin, int64_t end)
{
    copy_job *j = arg;
    memcpy(j->dst + begin * COPY_CHUNK, j->src + begin * COPY_CHUNK,
           (size_t)((end - begin) * COPY_CHUNK));
}

void lm_tk_copy(lm_kctx *k, void *dst, const void *src, size_t nbytes)
{
    if (nbytes == 0 || dst == src)
        return;
    int64_t chunks = (int64_t)(nbytes / COPY_CHUNK);
    size_t tail = nbytes - (size_t)chunks * COPY_CHUNK;
    if (chunks > 4) {
        copy_job j = {dst, src};
        lm_parallel_for(k, chunks, 4000.0, copy_range, &j);
    } else {
        tail = nbytes;
        chunks = 0;
    }
    memcpy((uint8_t *)dst + chunks * COPY_CHUNK, (const uint8_t *)src + chunks * COPY_CHUNK, tail);
}

void lm_tk_fill(void *dst, const void *val, size_t esz, int64_t n)
{
    if (n <= 0)
        return;
    switch (esz) {
    case 1:
        memset(dst, *(const uint8_t *)val, (size_t)n);
        return;
    case 2: {
        uint16_t v;
        memcpy(&v, val, 2);
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = v;
        return;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, val, 4);
        uint32_t *d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = v;
        return;
    }
    case 8: {
        uint64_t v;
        memcpy(&v, val, 8);
        uint64_t *d = dst;
        for (int64_t i = 0; i < n; i++)
            d[i] = v;
        return;
    }
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy((uint8_t *)dst + (size_t)i * esz, val, esz);
    }
}

/* ------------------------------------------------------------------------ */
/* Strided copy                                                             */

typedef struct strided_job {
    size_t esz;
    int rank; /* >= 1 after coalescing */
    int64_t dims[TK_MAX_VRANK];
    int64_t strides[TK_MAX_VRANK];
    const uint8_t *src;
    uint8_t *dst;
    int64_t tile_rows; /* tiled transpose: tiles per outer block */
} strided_job;

/* Gathers @n elements at stride @s (elements) from @src into contiguous @dst. */
#define GATHER_ROW(T)                                                                              \
    do {                                                                                           \
        const T *s_ = (const T *)src;                                                              \
        T *d_ = (T *)dst;                                                                          \
        for (int64_t i_ = 0; i_ < n; i_++)                                                         \
            d_[i_] = s_[i_ * s];                                                                   \
    } while (0)

static void gather_row(size_t esz, uint8_t *dst, const uint8_t *src, int64_t n, int64_t s)
{
    if (s == 1) {
        memcpy(dst, src, (size_t)n * esz);
        return;
    }
    switch (esz) {
    case 1:
        GATHER_ROW(uint8_t);
        break;
    case 2:
        GATHER_ROW(uint16_t);
        break;
    case 4:
        GATHER_ROW(uint32_t);
        break;
    case 8:
        GATHER_ROW(uint64_t);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + (size_t)i * esz, src + (i * s) * (int64_t)esz, esz);
    }
}

/* Rows are all coordinates but the last; each row is one gather_row(). */
static void strided_rows(void *arg, int64_t begin, int64_t end)
{
    const strided_job *j = arg;
    int r = j->rank;
    int64_t coord[TK_MAX_VRANK];
    int64_t rem = begin, off = 0;
    for (int i = r - 2; i >= 0; i--) {
        coord[i] = rem % j->dims[i];
        rem /= j->dims[i];
        off += coord[i] * j->strides[i];
    }
    int64_t n = j->dims[r - 1], s = j->strides[r - 1];
    int64_t esz = (int64_t)j->esz;
    for (int64_t row = begin; row < end; row++) {
        gather_row(j->esz, j->dst + row * n * esz, j->src + off * esz, n, s);
        for (int i = r - 2; i >= 0; i--) {
            off += j->strides[i];
            if (++coord[i] < j->dims[i])
                break;
            off -= coord[i] * j->strides[i];
            coord[i] = 0;
        }
    }
}

#define TILE 32

/* dst[a][b] = src[a * 1 + b * sb] within one 2-D block, tile by tile. */
#define TRANSPOSE_TILE(T)                                                                          \
    do {                                                                                           \
        const T *s_ = (const T *)src;                                                              \
        T *d_ = (T *)dst;                                                                          \
        for (int64_t b0 = 0; b0 < B; b0 += TILE) {                                                 \
            int64_t b1 = b0 + TILE < B ? b0 + TILE : B;                                            \
            for (int64_t a = a0; a < a1; a++)                                                      \
                for (int64_t b = b0; b < b1; b++)                                                  \
                    d_[a * B + b] = s_[a + b * sb];                                                \
        }                                                                                          \
    } while (0)

/* Units are (outer block, tile of rows); the view's last two dims are A (src
 * stride 1) and B (src stride sb), the rest are outer dims. */
static void transpose_units(void *arg, int64_t begin, int64_t end)
{
    const strided_job *j = arg;
    int r = j->rank;
    int64_t A = j->dims[r - 2], B = j->dims[r - 1], sb = j->strides[r - 1];
    int64_t esz = (int64_t)j->esz;
    for (int64_t u = begin; u < end; u++) {
        int64_t outer = u / j->tile_rows, tile = u % j->tile_rows;
        int64_t rem = outer, off = 0;
        for (int i = r - 3; i >= 0; i--) {
            off += (rem % j->dims[i]) * j->strides[i];
            rem /= j->dims[i];
        }
        const uint8_t *src = j->src + off * esz;
        uint8_t *dst = j->dst + outer * A * B * esz;
        int64_t a0 = tile * TILE, a1 = a0 + TILE < A ? a0 + TILE : A;
        if (j->esz == 4) {
            /* 16 x 16 register blocks where the CPU has them: the element
             * loop cost attention's K^T (perm 0,2,3,1) 10 GB/s */
            lm_transpose_f32((const float *)src + a0, B, a1 - a0, sb, (float *)dst + a0 * B, B);
            continue;
        }
        switch (j->esz) {
        case 1:
            TRANSPOSE_TILE(uint8_t);
            break;
        case 2:
            TRANSPOSE_TILE(uint16_t);
            break;
        case 4:
            TRANSPOSE_TILE(uint32_t);
            break;
        default:
            TRANSPOSE_TILE(uint64_t);
            break;
        }
    }
}

void lm_tk_strided_copy(lm_kctx *k, size_t esz, int rank, const int64_t *dims, const void *src,
                        const int64_t *sstrides, void *dst)
{
    strided_job j;
    j.esz = esz;
    j.src = src;
    j.dst = dst;
    j.tile_rows = 0;
    /* Drop unit dims; an empty view copies nothing. */
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 0)
            return;
        if (dims[i] == 1)
            continue;
        j.dims[r] = dims[i];
        j.strides[r] = sstrides[i];
        r++;
    }
    if (r == 0) {
        memcpy(dst, src, esz);
        return;
    }
    /* Merge dim i into i+1 when the pair walks memory like one dim. */
    int m = r - 1;
    for (int i = r - 2; i >= 0; i--) {
        if (j.strides[i] == j.strides[m] * j.dims[m]) {
            j.dims[m] *= j.dims[i];
        } else {
            m--;
            j.dims[m] = j.dims[i];
            j.strides[m] = j.strides[i];
        }
    }
    r = r - m;
    if (m > 0) {
        memmove(j.dims, j.dims + m, (size_t)r * sizeof(int64_t));
        memmove(j.strides, j.strides + m, (size_t)r * sizeof(int64_t));
    }
    j.rank = r;
    int64_t total = tk_prod(j.dims, 0, r);
    if (r == 1 && j.strides[0] == 1) {
        lm_tk_copy(k, dst, src, (size_t)total * esz);
        return;
    }
    /* Transposing the last two dims: tile so both sides stay in cache. */
    if (r >= 2 && j.strides[r - 2] == 1 && j.strides[r - 1] != 1 && j.dims[r - 2] >= 8 &&
        j.dims[r - 1] >= 8) {
        int64_t A = j.dims[r - 2];
        j.tile_rows = (A + TILE - 1) / TILE;
        int64_t outer = total / (A * j.dims[r - 1]);
        lm_parallel_for(k, outer * j.tile_rows, (double)(TILE * j.dims[r - 1]), transpose_units,
                        &j);
        return;
    }
    int64_t n = j.dims[r - 1];
    lm_parallel_for(k, total / n, (double)n + 20.0, strided_rows, &j);
}

/* ------------------------------------------------------------------------ */
/* Shape-like inputs and conversions                                        */

loom_status lm_tk_read_ints(lm_kctx *k, const loom_tensor *t, const char *what, int64_t *vals,
                            int cap, int *n)
{
    if (t->dtype != LOOM_DTYPE_INT64 && t->dtype != LOOM_DTYPE_INT32)
        return lm_kinvalid(k, "%s must be int64, got %s", what, loom_dtype_name(t->dtype));
    if (t->rank > 1)
        return lm_kinvalid(k, "%s must be 1-D, got rank %d", what, t->rank);
    int64_t cnt = lm_tensor_count(t);
    if (cnt < 0 || cnt > cap)
        return lm_kinvalid(k, "%s has %lld elements, at most %d allowed", what, (long long)cnt,
                           cap);
    if (cnt > 0 && !t->data)
        return lm_kinvalid(k, "%s has no data", what);
    for (int64_t i = 0; i < cnt; i++)
        vals[i] = t->dtype == LOOM_DTYPE_INT64 ? ((const int64_t *)t->data)[i]
                                               : ((const int32_t *)t->data)[i];
    *n = (int)cnt;
    return LOOM_OK;
}

#define TO_I64(T)                                                                                  \
    do {                                                                                           \
        const T *s_ = (const T *)t->data;                                                          \
        for (int64_t i_ = 0; i_ < n; i_++)                                                         \
            out[i_] = (int64_t)s_[i_];                                                             \
    } while (0)

/* Float to int64 with NaN and out-of-range values mapped to INT64_MIN, which
 * every index check rejects (a plain cast would be undefined behaviour). */
#define F_TO_I64(T)                                                                                \
    do {                                                                                           \
        const T *s_ = (const T *)t->data;                                                          \
        for (int64_t i_ = 0; i_ < n; i_++) {                                                       \
            double v_ = (double)s_[i_];                                                            \
            out[i_] = (v_ > -9.2e18 && v_ < 9.2e18) ? (int64_t)v_ : INT64_MIN;                     \
        }                                                                                          \
    } while (0)

loom_status lm_tk_to_i64(lm_kctx *k, const loom_tensor *t, int64_t *out, int64_t n)
{
    switch (t->dtype) {
    case LOOM_DTYPE_INT64:
        memcpy(out, t->data, (size_t)n * sizeof(int64_t));
        break;
    case LOOM_DTYPE_INT32:
        TO_I64(int32_t);
        break;
    case LOOM_DTYPE_INT16:
        TO_I64(int16_t);
        break;
    case LOOM_DTYPE_INT8:
        TO_I64(int8_t);
        break;
    case LOOM_DTYPE_UINT8:
    case LOOM_DTYPE_BOOL:
        TO_I64(uint8_t);
        break;
    case LOOM_DTYPE_UINT16:
        TO_I64(uint16_t);
        break;
    case LOOM_DTYPE_UINT32:
        TO_I64(uint32_t);
        break;
    case LOOM_DTYPE_UINT64: {
        const uint64_t *s = t->data;
        for (int64_t i = 0; i < n; i++)
            out[i] = s[i] > (uint64_t)INT64_MAX ? INT64_MIN : (int64_t)s[i];
        break;
    }
    case LOOM_DTYPE_FLOAT:
        F_TO_I64(float);
        break;
    case LOOM_DTYPE_DOUBLE:
        F_TO_I64(double);
        break;
    case LOOM_DTYPE_FLOAT16: {
        const uint16_t *s = t->data;
        for (int64_t i = 0; i < n; i++) {
            double v = lm_half_to_float(s[i]);
            out[i] = (v > -9.2e18 && v < 9.2e18) ? (int64_t)v : INT64_MIN;
        }
        break;
    }
    default:
        return lm_kunsupported(k, "index dtype %s is not supported", loom_dtype_name(t->dtype));
    }
    return LOOM_OK;
}

/* Saturating double -> integer store; NaN becomes 0. */
#define STORE_INT(T, lo, hi)                                                                       \
    do {                                                                                           \
        T x_;                                                                                      \
        if (v != v)                                                                                \
            x_ = 0;                                                                                \
        else if (v <= (double)(lo))                                                                \
            x_ = (lo);                                                                             \
        else if (v >= (double)(hi))                                                                \
            x_ = (hi);                                                                             \
        else                                                                                       \
            x_ = (T)v;                                                                             \
        memcpy(dst, &x_, sizeof(x_));                                                              \
    } while (0)

void lm_tk_store_f64(loom_dtype dtype, void *dst, double v)
{
    switch (dtype) {
    case LOOM_DTYPE_FLOAT: {
        float x = (float)v;
        memcpy(dst, &x, 4);
        break;
    }
    case LOOM_DTYPE_DOUBLE:
        memcpy(dst, &v, 8);
        break;
    case LOOM_DTYPE_FLOAT16: {
        uint16_t h = lm_float_to_half((float)v);
        memcpy(dst, &h, 2);
        break;
    }
    case LOOM_DTYPE_BOOL:
        *(uint8_t *)dst = v != 0;
        break;
    case LOOM_DTYPE_INT8:
        STORE_INT(int8_t, INT8_MIN, INT8_MAX);
        break;
    case LOOM_DTYPE_UINT8:
        STORE_INT(uint8_t, 0, UINT8_MAX);
        break;
    case LOOM_DTYPE_INT16:
        STORE_INT(int16_t, INT16_MIN, INT16_MAX);
        break;
    case LOOM_DTYPE_UINT16:
        STORE_INT(uint16_t, 0, UINT16_MAX);
        break;
    case LOOM_DTYPE_INT32:
        STORE_INT(int32_t, INT32_MIN, INT32_MAX);
        break;
    case LOOM_DTYPE_UINT32:
        STORE_INT(uint32_t, 0, UINT32_MAX);
        break;
    case LOOM_DTYPE_INT64:
        STORE_INT(int64_t, INT64_MIN, INT64_MAX);
        break;
    case LOOM_DTYPE_UINT64:
        STORE_INT(uint64_t, 0, UINT64_MAX);
        break;
    default:
        break;
    }
}
