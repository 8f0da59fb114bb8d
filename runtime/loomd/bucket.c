/* bucket.c - shape buckets: padding a dynamic dim up and cutting outputs back (bucket.h). */
#include <stdio.h>
#include <string.h>

#include "loomd/bucket.h"

/* The axis of @vi named @dim, or -1. */
static int named_axis(const loom_value_info *vi, const char *dim)
{
    for (int d = 0; d < vi->rank && d < LOOM_MAX_RANK; d++)
        if (vi->dim_names[d] && strcmp(vi->dim_names[d], dim) == 0)
            return d;
    return -1;
}

int bucket_setup(loom_model *m, const char *dim, int multiple, bucket_plan *bp, char *err,
                 size_t errlen)
{
    size_t n_in = loom_model_input_count(m), n_out = loom_model_output_count(m);
    bool found = false;
    memset(bp, 0, sizeof(*bp));
    if (n_in > BUCKET_MAX_IO || n_out > BUCKET_MAX_IO) {
        snprintf(err, errlen, "shape_bucket: more than %d inputs or outputs", BUCKET_MAX_IO);
        return -1;
    }
    for (size_t i = 0; i < n_in; i++) {
        loom_value_info vi;
        loom_model_input_info(m, i, &vi);
        bp->in_axis[i] = named_axis(&vi, dim);
        found = found || bp->in_axis[i] >= 0;
    }
    for (size_t o = 0; o < n_out; o++) {
        loom_value_info vi;
        loom_model_output_info(m, o, &vi);
        bp->out_axis[o] = named_axis(&vi, dim);
    }
    if (!found) {
        snprintf(err, errlen, "shape_bucket: no input has a dimension called '%s'", dim);
        return -1;
    }
    bp->multiple = multiple;
    return 0;
}

/* Copies @src into @dst, whose @axis is longer (or shorter: then cut), as
 * outer blocks of rows along the axis. */
static void copy_axis(loom_tensor *src, loom_tensor *dst, int axis)
{
    const int64_t *sd = loom_tensor_dims(src), *dd = loom_tensor_dims(dst);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= sd[d];
    for (int d = axis + 1; d < loom_tensor_rank(src); d++)
        inner *= sd[d];
    size_t esize =
        loom_tensor_count(src) ? loom_tensor_size(src) / (size_t)loom_tensor_count(src) : 0;
    size_t sblock = (size_t)(sd[axis] * inner) * esize, dblock = (size_t)(dd[axis] * inner) * esize;
    size_t n = sblock < dblock ? sblock : dblock;
    const char *s = loom_tensor_data(src);
    char *t = loom_tensor_data(dst);
    for (int64_t k = 0; k < outer && n; k++)
        memcpy(t + (size_t)k * dblock, s + (size_t)k * sblock, n);
}

/* A zero-filled tensor like @t with @axis of length @len, holding @t's data. */
static loom_tensor *resized(loom_tensor *t, int axis, int64_t len)
{
    int64_t dims[LOOM_MAX_RANK];
    int rank = loom_tensor_rank(t);
    memcpy(dims, loom_tensor_dims(t), sizeof(int64_t) * (size_t)rank);
    dims[axis] = len;
    loom_tensor *r;
    if (loom_tensor_create(loom_tensor_dtype(t), rank, dims, &r) != LOOM_OK)
        return NULL;
    copy_axis(t, r, axis);
    return r;
}

bool bucket_pad(const bucket_plan *bp, loom_tensor *const *in, size_t n_in, loom_tensor **padded,
                int64_t *len)
{
    *len = -1;
    for (size_t i = 0; i < n_in; i++) {
        padded[i] = NULL;
        int axis = bp->in_axis[i];
        if (!bp->multiple || axis < 0 || axis >= loom_tensor_rank(in[i]))
            continue;
        int64_t have = loom_tensor_dims(in[i])[axis];
        int64_t want = (have + bp->multiple - 1) / bp->multiple * bp->multiple;
        if (want == have || have == 0)
            continue;
        if (!(padded[i] = resized(in[i], axis, want))) {
            for (size_t k = 0; k < i; k++)
                loom_tensor_destroy(padded[k]);
            return false;
        }
        *len = have;
    }
    return true;
}

bool bucket_crop(const bucket_plan *bp, loom_tensor **out, size_t n_out, int64_t len)
{
    loom_tensor *cut[BUCKET_MAX_IO] = {0};
    for (size_t o = 0; o < n_out; o++) {
        int axis = bp->out_axis[o];
        if (axis < 0 || axis >= loom_tensor_rank(out[o]) || loom_tensor_dims(out[o])[axis] <= len)
            continue;
        if (!(cut[o] = resized(out[o], axis, len))) {
            for (size_t k = 0; k < o; k++)
                loom_tensor_destroy(cut[k]);
            return false;
        }
    }
    for (size_t o = 0; o < n_out; o++)
        if (cut[o]) {
            loom_tensor_destroy(out[o]);
            out[o] = cut[o];
        }
    return true;
}
