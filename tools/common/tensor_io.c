/* tensor_io.c - tensor files for the command-line tools. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/onnx_import.h"
#include "core/tensor.h"
#include "tensor_io.h"

loom_status tio_read_file(const char *path, void **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lm_error(LOOM_ERR_IO, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return lm_error(LOOM_ERR_IO, "%s: not seekable", path);
    }
    long n = ftell(f);
    rewind(f);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return lm_error(LOOM_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    buf[n] = '\0';
    *data = buf;
    *size = (size_t)n;
    return LOOM_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* "'<f4'" style descr to dtype; only little-endian and byte types. */
static loom_dtype npy_dtype(const char *d)
{
    static const struct {
        const char *descr;
        loom_dtype dtype;
    } map[] = {
        {"<f4", LOOM_DTYPE_FLOAT},  {"<f8", LOOM_DTYPE_DOUBLE}, {"<f2", LOOM_DTYPE_FLOAT16},
        {"<i8", LOOM_DTYPE_INT64},  {"<i4", LOOM_DTYPE_INT32},  {"<i2", LOOM_DTYPE_INT16},
        {"|i1", LOOM_DTYPE_INT8},   {"|u1", LOOM_DTYPE_UINT8},  {"<u2", LOOM_DTYPE_UINT16},
        {"<u4", LOOM_DTYPE_UINT32}, {"<u8", LOOM_DTYPE_UINT64}, {"|b1", LOOM_DTYPE_BOOL},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strncmp(d, map[i].descr, 3) == 0)
            return map[i].dtype;
    return LOOM_DTYPE_UNDEFINED;
}

loom_status tio_load_npy(const void *data, size_t size, const char *path, loom_tensor **out)
{
    const unsigned char *p = data;
    if (size < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return lm_error(LOOM_ERR_PARSE, "%s: not a .npy file (bad magic)", path);
    size_t hlen, hoff;
    if (p[6] == 1) {
        hlen = (size_t)p[8] | (size_t)p[9] << 8;
        hoff = 10;
    } else if (size >= 12) {
        hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        hoff = 12;
    } else {
        return lm_error(LOOM_ERR_PARSE, "%s: truncated .npy header", path);
    }
    if (hlen > size - hoff || hlen > 65536)
        return lm_error(LOOM_ERR_PARSE, "%s: .npy header length %zu is out of range", path, hlen);
    char *h = strndup((const char *)p + hoff, hlen);
    if (!h)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status s = LOOM_OK;
    char *descr = strstr(h, "'descr':");
    char *order = strstr(h, "'fortran_order':");
    char *shape = strstr(h, "'shape':");
    if (!descr || !order || !shape) {
        s = lm_error(LOOM_ERR_PARSE, "%s: .npy header lacks descr, fortran_order or shape", path);
        goto out;
    }
    descr = strchr(descr + 8, '\'');
    loom_dtype dt = descr ? npy_dtype(descr + 1) : LOOM_DTYPE_UNDEFINED;
    if (dt == LOOM_DTYPE_UNDEFINED) {
        s = lm_error(LOOM_ERR_UNSUPPORTED, "%s: unsupported .npy dtype", path);
        goto out;
    }
    if (strstr(order, "True")) {
        s = lm_error(LOOM_ERR_UNSUPPORTED, "%s: Fortran-ordered .npy arrays are not supported",
                     path);
        goto out;
    }
    char *q = strchr(shape, '(');
    int64_t dims[LOOM_MAX_RANK];
    int rank = 0;
    if (!q) {
        s = lm_error(LOOM_ERR_PARSE, "%s: .npy shape is not a tuple", path);
        goto out;
    }
    for (q++; *q && *q != ')';) {
        char *end;
        long long v = strtoll(q, &end, 10);
        if (end == q) {
            q++;
            continue;
        }
        if (rank == LOOM_MAX_RANK || v < 0) {
            s = lm_error(LOOM_ERR_PARSE, "%s: .npy shape has too many or negative dims", path);
            goto out;
        }
        dims[rank++] = v;
        q = end;
    }
    loom_tensor *t;
    if ((s = loom_tensor_create(dt, rank, dims, &t)))
        goto out;
    if (t->nbytes != size - hoff - hlen) {
        loom_tensor_destroy(t);
        s = lm_error(LOOM_ERR_PARSE, "%s: .npy holds %zu data bytes, its shape needs %zu", path,
                     size - hoff - hlen, (size_t)t->nbytes);
        goto out;
    }
    memcpy(t->data, p + hoff + hlen, t->nbytes);
    *out = t;
out:
    free(h);
    return s;
}

loom_status tio_load(const char *path, loom_tensor **out, char **name)
{
    void *data;
    size_t size;
    if (name)
        *name = NULL;
    loom_status s = tio_read_file(path, &data, &size);
    if (s)
        return s;
    if (ends_with(path, ".npy")) {
        s = tio_load_npy(data, size, path, out);
    } else {
        s = lm_onnx_read_tensor(data, size, out, name);
        if (s)
            lm_error_prefix("%s", path);
    }
    free(data);
    return s;
}

loom_status tio_save_pb(const loom_tensor *t, const char *name, const char *path)
{
    void *data;
    size_t size;
    loom_status s = lm_onnx_write_tensor(t, name, &data, &size);
    if (s)
        return s;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(data);
        return lm_error(LOOM_ERR_IO, "%s: %s", path, strerror(errno));
    }
    bool ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    free(data);
    return ok ? LOOM_OK : lm_error(LOOM_ERR_IO, "%s: write failed", path);
}

const char *tio_values_str(const loom_tensor *t, int max, char *buf, size_t len)
{
    size_t used = 0;
    int64_t n = lm_tensor_count(t);
    buf[0] = '\0';
    for (int64_t i = 0; i < n && i < max && used < len; i++) {
        if (lm_dtype_is_float(t->dtype))
            used += (size_t)snprintf(buf + used, len - used, "%s%.6g", i ? ", " : "",
                                     lm_tensor_get_f64(t, i));
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                     (long long)lm_tensor_get_i64(t, i));
    }
    if (n > max && used < len)
        snprintf(buf + used, len - used, ", ...");
    return buf;
}

bool tio_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len;
}
