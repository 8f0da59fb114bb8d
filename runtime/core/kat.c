/*
 * kat.c - known-answer tests (kat.h).
 *
 * Two fixed models, written with the generated protobuf-c structs:
 *   float: y = Relu(x + c)            x, c: [1, 64]  (exact in IEEE fp32)
 *   int8:  y = QLinearMatMul(x, W)    x: [1, 64] int8, W: [64, 32] int8
 * The device runs the first one it can take on its own (a fail-closed
 * context that selects it even in probation), the CPU runs the same model,
 * and the bytes must agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onnx/onnx.pb-c.h>

#include "device.h"
#include "error.h"
#include "kat.h"
#include "model.h"

#define KAT_K     64
#define KAT_N     32
#define MAX_PARTS 8

/* A model of up to MAX_PARTS nodes, initializers and values, in place. */
typedef struct kat_model {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto node[MAX_PARTS], *nodes[MAX_PARTS];
    char *node_in[MAX_PARTS][MAX_PARTS], *node_out[MAX_PARTS][1];
    Onnx__TensorProto init[MAX_PARTS], *inits[MAX_PARTS];
    int64_t init_dims[MAX_PARTS][2];
    Onnx__ValueInfoProto io[2], *inputs[1], *outputs[1];
    Onnx__TypeProto type[2];
    Onnx__TypeProto__Tensor tensor_type[2];
    Onnx__TensorShapeProto shape[2];
    Onnx__TensorShapeProto__Dimension dim[2][2], *dims[2][2];
} kat_model;

static void kat_begin(kat_model *k)
{
    memset(k, 0, sizeof(*k));
    onnx__model_proto__init(&k->model);
    onnx__graph_proto__init(&k->graph);
    onnx__operator_set_id_proto__init(&k->opset);
    k->opset.domain = "";
    k->opset.has_version = 1;
    k->opset.version = 13;
    k->opsets[0] = &k->opset;
    k->model.has_ir_version = 1;
    k->model.ir_version = 8;
    k->model.n_opset_import = 1;
    k->model.opset_import = k->opsets;
    k->model.graph = &k->graph;
    k->graph.name = "known-answer";
    k->graph.node = k->nodes;
    k->graph.initializer = k->inits;
}

/* Graph input (@i 0) or output (@i 1) @name of @dtype and shape [1, @n]. */
static void kat_io(kat_model *k, int i, char *name, int dtype, int64_t n)
{
    Onnx__ValueInfoProto *vi = &k->io[i];
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(&k->type[i]);
    onnx__type_proto__tensor__init(&k->tensor_type[i]);
    onnx__tensor_shape_proto__init(&k->shape[i]);
    vi->name = name;
    vi->type = &k->type[i];
    k->type[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    k->type[i].tensor_type = &k->tensor_type[i];
    k->tensor_type[i].has_elem_type = 1;
    k->tensor_type[i].elem_type = dtype;
    k->tensor_type[i].shape = &k->shape[i];
    for (int d = 0; d < 2; d++) {
        onnx__tensor_shape_proto__dimension__init(&k->dim[i][d]);
        k->dim[i][d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        k->dim[i][d].dim_value = d ? n : 1;
        k->dims[i][d] = &k->dim[i][d];
    }
    k->shape[i].n_dim = 2;
    k->shape[i].dim = k->dims[i];
    if (i == 0) {
        k->inputs[0] = vi;
        k->graph.n_input = 1;
        k->graph.input = k->inputs;
    } else {
        k->outputs[0] = vi;
        k->graph.n_output = 1;
        k->graph.output = k->outputs;
    }
}

/* An initializer @name: @rank 0..2 dims @d0 x @d1 of @dtype from @data. */
static void kat_init(kat_model *k, char *name, int dtype, int rank, int64_t d0, int64_t d1,
                     void *data, size_t bytes)
{
    size_t i = k->graph.n_initializer++;
    Onnx__TensorProto *t = &k->init[i];
    onnx__tensor_proto__init(t);
    t->name = name;
    t->has_data_type = 1;
    t->data_type = dtype;
    k->init_dims[i][0] = rank == 2 ? d0 : d1;
    k->init_dims[i][1] = d1;
    t->n_dims = (size_t)rank;
    t->dims = k->init_dims[i];
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = data;
    k->inits[i] = t;
}

/* A node @op reading the comma-free list @in[@n_in], writing @out. */
static void kat_node(kat_model *k, char *op, char **in, int n_in, char *out)
{
    size_t i = k->graph.n_node++;
    Onnx__NodeProto *n = &k->node[i];
    onnx__node_proto__init(n);
    n->op_type = op;
    n->name = op;
    memcpy(k->node_in[i], in, sizeof(char *) * (size_t)n_in);
    n->n_input = (size_t)n_in;
    n->input = k->node_in[i];
    k->node_out[i][0] = out;
    n->n_output = 1;
    n->output = k->node_out[i];
    k->nodes[i] = n;
}

/* The fixed data every test uses. */
typedef struct kat_data {
    float x[KAT_K], c[KAT_K];
    int8_t xq[KAT_K], w[KAT_K * KAT_N], zero;
    float xs, ws, ys;
} kat_data;

static void kat_fill(kat_data *d)
{
    for (int i = 0; i < KAT_K; i++) {
        d->x[i] = (float)(i % 9 - 4) * 0.25f;
        d->c[i] = (float)(i % 5 - 2) * 0.5f;
        d->xq[i] = (int8_t)((i * 37) % 255 - 127);
    }
    for (int i = 0; i < KAT_K * KAT_N; i++)
        d->w[i] = (int8_t)((i * 7919) % 255 - 127);
    d->zero = 0;
    d->xs = 0.02f;
    d->ws = 0.01f;
    d->ys = 0.5f;
}

/* Test @which (0 float, 1 int8) as packed bytes, and its input tensor. */
static void *kat_pack(int which, kat_data *d, size_t *len, loom_tensor **x)
{
    kat_model k;
    kat_begin(&k);
    int64_t dims[2] = {1, KAT_K};
    if (which == 0) {
        kat_io(&k, 0, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, KAT_K);
        kat_io(&k, 1, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, KAT_K);
        kat_init(&k, "c", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, 1, KAT_K, d->c, sizeof(d->c));
        char *add_in[2] = {"x", "c"}, *relu_in[1] = {"s"};
        kat_node(&k, "Add", add_in, 2, "s");
        kat_node(&k, "Relu", relu_in, 1, "y");
        if (loom_tensor_wrap(LOOM_DTYPE_FLOAT, 2, dims, d->x, sizeof(d->x), x))
            return NULL;
    } else {
        kat_io(&k, 0, "x", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, KAT_K);
        kat_io(&k, 1, "y", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, KAT_N);
        kat_init(&k, "w", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 2, KAT_K, KAT_N, d->w, sizeof(d->w));
        kat_init(&k, "xs", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, 0, 0, &d->xs, 4);
        kat_init(&k, "ws", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, 0, 0, &d->ws, 4);
        kat_init(&k, "ys", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, 0, 0, &d->ys, 4);
        kat_init(&k, "z", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 0, 0, 0, &d->zero, 1);
        char *in[8] = {"x", "xs", "z", "w", "ws", "z", "ys", "z"};
        kat_node(&k, "QLinearMatMul", in, 8, "y");
        if (loom_tensor_wrap(LOOM_DTYPE_INT8, 2, dims, d->xq, sizeof(d->xq), x))
            return NULL;
    }
    *len = onnx__model_proto__get_packed_size(&k.model);
    void *buf = malloc(*len ? *len : 1);
    if (buf)
        onnx__model_proto__pack(&k.model, buf);
    else
        loom_tensor_destroy(*x);
    return buf;
}

/* Runs the packed model on @device alone (@probe: admitted even when out
 * of service); *@y gets the output. */
static loom_status kat_on(const char *device, lm_device *probe, const void *buf, size_t len,
                          loom_tensor *x, loom_tensor **y)
{
    loom_context_options o;
    loom_context_options_init(&o);
    o.device = device;
    o.num_threads = 1;
    o.fail_closed = probe != NULL;
    loom_context *ctx = NULL;
    loom_model *m = NULL;
    loom_status s = loom_context_create(&o, &ctx);
    if (!s) {
        ctx->probe_device = probe;
        s = loom_model_load_memory(ctx, buf, len, "known-answer", &m);
    }
    if (!s)
        s = loom_model_run(m, &x, 1, y, 1);
    loom_model_destroy(m);
    loom_context_destroy(ctx);
    return s;
}

loom_status lm_kat_run(lm_device *dev, char *why, size_t len)
{
    static const char *const names[2] = {"float Add+Relu [1,64]", "int8 QLinearMatMul 1x64x32"};
    kat_data d;
    kat_fill(&d);
    loom_status s = LOOM_ERR_UNSUPPORTED;
    snprintf(why, len, "%s runs none of the known-answer tests", dev->name);
    for (int which = 1; which >= 0 && s == LOOM_ERR_UNSUPPORTED; which--) {
        size_t bytes = 0;
        loom_tensor *x = NULL, *got = NULL, *want = NULL;
        void *buf = kat_pack(which, &d, &bytes, &x);
        if (!buf)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        s = kat_on(dev->name, dev, buf, bytes, x, &got);
        if (s == LOOM_OK && (s = kat_on("cpu", NULL, buf, bytes, x, &want)) == LOOM_OK) {
            bool same = got->nbytes == want->nbytes && !memcmp(got->data, want->data, got->nbytes);
            snprintf(why, len, "%s: %s", names[which], same ? "bit-exact" : "wrong answer");
            s = same ? LOOM_OK : LOOM_ERR_RUNTIME;
        } else if (s != LOOM_ERR_UNSUPPORTED) {
            snprintf(why, len, "%s: %s", names[which], loom_last_error());
        }
        loom_tensor_destroy(got);
        loom_tensor_destroy(want);
        loom_tensor_destroy(x);
        free(buf);
    }
    return s;
}
