/* onnx_import.h - ONNX protobuf (ModelProto, TensorProto) to Loom's IR and tensors. */
#ifndef LOOM_CORE_ONNX_IMPORT_H
#define LOOM_CORE_ONNX_IMPORT_H

#include <stddef.h>

#include "graph.h"

/* The default-domain opsets whose semantics the kernels implement. */
#define LM_ONNX_OPSET_MIN 1
#define LM_ONNX_OPSET_MAX 20

/*
 * Parses a serialized ModelProto into a graph: values, nodes (each with the
 * opset of its domain), attributes, initializers as constants. @dir is the
 * directory external tensor data is resolved in, or NULL to refuse external
 * data. The nodes are topologically sorted. Errors name what is wrong.
 */
loom_status lm_onnx_import(const void *data, size_t size, const char *dir, lm_graph **out);

/* Parses a serialized TensorProto (a test_data_set_N/input_M.pb file). If
 * @name_out is non-NULL it receives a malloc'd copy of the tensor's name (or NULL). */
loom_status lm_onnx_read_tensor(const void *data, size_t size, loom_tensor **out, char **name_out);

/* Serializes @t as a TensorProto named @name into a malloc'd buffer. */
loom_status lm_onnx_write_tensor(const loom_tensor *t, const char *name, void **data, size_t *size);

#endif
