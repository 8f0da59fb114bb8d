/* onnx_builder.h - builds ONNX models in memory for tests, valid or deliberately broken. */
#ifndef LOOM_TESTS_ONNX_BUILDER_H
#define LOOM_TESTS_ONNX_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct ob_model ob_model;
typedef struct Onnx__NodeProto ob_node;

/* A model importing the default domain at @opset. */
ob_model *ob_new(int opset);
void ob_free(ob_model *m);

/* Graph input; a dim of -1 becomes the symbolic dimension "N". */
void ob_input(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims);
/* Graph input that is a sequence of @elem_dtype tensors. */
void ob_input_sequence(ob_model *m, const char *name, int elem_dtype);
/* Renames input @input's symbolic dims: @names[d] (if not NULL) for each -1 dim d. */
void ob_dim_names(ob_model *m, const char *input, const char *const *names);
/* Graph output with a dtype and no shape. */
void ob_output(ob_model *m, const char *name, int dtype);
/* Initializer with @bytes of raw data (need not match the shape: for hostile tests). */
void ob_init_raw(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims,
                 const void *data, size_t bytes);
/* Initializer whose data lives in an external file: @location (relative to the
 * model), at @offset, @length bytes. */
void ob_init_external(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims,
                      const char *location, const char *offset, const char *length);
/* Initializer of floats, sized from the shape. */
void ob_init_f32(ob_model *m, const char *name, int rank, const int64_t *dims, const float *data);
/* A scalar initializer of one byte (@dtype uint8 or int8: zero points). */
void ob_init_byte(ob_model *m, const char *name, int dtype, int v);
/* The quantization scalars the int8 test models share: float scales
 * s1 = 0.02, s2 = 0.05 (activations) and ws = 0.004 (weights), zero points
 * z = 0 (uint8 activations) and wz = 0 (int8 weights). */
void ob_init_qparams(ob_model *m);
/* The int8 body the card tests share, on uint8 [1,4,8,8] @x, after
 * ob_init_qparams() (its scales and zero points): QLinearConv 3x3 pad 1 to 8 channels -> Max(., z)
 * -> QLinearConv 1x1 to 4 channels -> uint8 @y [1,4,8,8], with fixed weights w1 and w2. */
void ob_add_int8_convs(ob_model *m, const char *x, const char *y);
/* Node; @inputs and @outputs are comma-separated names ("" entries allowed). */
ob_node *ob_add_node(ob_model *m, const char *op_type, const char *inputs, const char *outputs);
/* Names the node (nodes are unnamed by default). */
void ob_node_name(ob_model *m, ob_node *n, const char *name);
/* Puts the node in @domain; returns it. */
ob_node *ob_node_domain(ob_model *m, ob_node *n, const char *domain);
/* Imports another operator set (a custom @domain at @version). */
void ob_opset(ob_model *m, const char *domain, int version);
void ob_attr_int(ob_model *m, ob_node *n, const char *name, int64_t v);
void ob_attr_float(ob_model *m, ob_node *n, const char *name, float v);
void ob_attr_str(ob_model *m, ob_node *n, const char *name, const char *v);
void ob_attr_ints(ob_model *m, ob_node *n, const char *name, int count, const int64_t *v);
/* A TENSOR attribute of int64 values (a Constant node's "value"). */
void ob_attr_tensor_i64(ob_model *m, ob_node *n, const char *name, int rank, const int64_t *dims,
                        const int64_t *v);
/* A graph for a GRAPH attribute (If's branches, Loop's and Scan's body),
 * built with the same calls as a model's (ob_input with rank -1 gives an
 * input a type and no shape); freed with @m. */
ob_model *ob_body(ob_model *m);
void ob_attr_graph(ob_model *m, ob_node *n, const char *name, ob_model *body);
/* Serializes; returns a malloc'd buffer. */
uint8_t *ob_pack(ob_model *m, size_t *len);

struct loom_context;
struct loom_model;
/* Serializes @m, frees it, and loads the result into @ctx under @name. */
int ob_load(ob_model *m, struct loom_context *ctx, const char *name, struct loom_model **out);

#endif
