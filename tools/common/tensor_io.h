/* tensor_io.h - reading and writing tensors as files: ONNX TensorProto (.pb) and NumPy (.npy). */
#ifndef LOOM_TOOLS_TENSOR_IO_H
#define LOOM_TOOLS_TENSOR_IO_H

#include <stddef.h>

#include "loom/loom.h"

/* Reads a whole file into a malloc'd buffer (NUL-terminated for convenience). */
loom_status tio_read_file(const char *path, void **data, size_t *size);

/* Loads a tensor from FILE.pb (TensorProto) or FILE.npy, chosen by extension.
 * *name receives the TensorProto's name (malloc'd) or NULL. */
loom_status tio_load(const char *path, loom_tensor **out, char **name);

/* Loads a NumPy .npy file (little-endian, C order; v1/v2/v3 headers). */
loom_status tio_load_npy(const void *data, size_t size, const char *path, loom_tensor **out);

/* Writes @t as a TensorProto named @name to @path. */
loom_status tio_save_pb(const loom_tensor *t, const char *name, const char *path);

/* Prints up to @max values of @t into @buf, e.g. "0.125, -3, 7.5, ...". */
const char *tio_values_str(const loom_tensor *t, int max, char *buf, size_t len);

#include <stdbool.h>
/* snprintf into a path buffer; false if it did not fit (the path is then unusable). */
bool tio_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
