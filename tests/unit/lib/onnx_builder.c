/* onnx_builder.c - test models through the generated protobuf-c structs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onnx/onnx.pb-c.h>

#include "loom/loom.h"
#include "onnx_builder.h"

struct ob_model {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    void **allocs; /* everything below is freed with the model */
    size_t n_allocs, cap_allocs;
    ob_model *owner; /* a body (ob_body): the model whose allocations it shares */
};

static void *ob_alloc(ob_model *m, size_t size)
{
    if (m->owner)
        return ob_alloc(m->owner, size);
    if (m->n_allocs == m->cap_allocs) {
        m->cap_allocs = m->cap_allocs ? m->cap_allocs * 2 : 64;
        m->allocs = realloc(m->allocs, m->cap_allocs * sizeof(void *));
        if (!m->allocs)
            abort();
    }
    void *p = calloc(1, size ? size : 1);
    if (!p)
        abort();
    m->allocs[m->n_allocs++] = p;
    return p;
}

static char *ob_strdup(ob_model *m, const char *s)
{
    char *p = ob_alloc(m, strlen(s) + 1);
    strcpy(p, s);
    return p;
}

/* Appends @item to a protobuf-c repeated field (n, array). */
#define OB_PUSH(m, n, arr, item)                                                                   \
    do {                                                                                           \
        void **grown = ob_alloc((m), sizeof(void *) * ((n) + 1));                                  \
        if (n)                                                                                     \
            memcpy(grown, (arr), sizeof(void *) * (n));                                            \
        grown[(n)] = (item);                                                                       \
        (arr) = (void *)grown;                                                                     \
        (n)++;                                                                                     \
    } while (0)

ob_model *ob_new(int opset)
{
    ob_model *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    onnx__model_proto__init(&m->model);
    onnx__graph_proto__init(&m->graph);
    onnx__operator_set_id_proto__init(&m->opset);
    m->opset.domain = "";
    m->opset.has_version = 1;
    m->opset.version = opset;
    m->opsets[0] = &m->opset;
    m->model.has_ir_version = 1;
    m->model.ir_version = 8;
    m->model.n_opset_import = 1;
    m->model.opset_import = m->opsets;
    m->model.graph = &m->graph;
    m->graph.name = "test";
    return m;
}

ob_model *ob_body(ob_model *m)
{
    ob_model *b = ob_alloc(m, sizeof(*b));
    b->owner = m->owner ? m->owner : m;
    onnx__graph_proto__init(&b->graph);
    b->graph.name = "body";
    return b;
}

void ob_free(ob_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_allocs; i++)
        free(m->allocs[i]);
    free(m->allocs);
    free(m);
}

static Onnx__ValueInfoProto *value_info(ob_model *m, const char *name, int dtype, int rank,
                                        const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = ob_alloc(m, sizeof(*vi));
    Onnx__TypeProto *tp = ob_alloc(m, sizeof(*tp));
    Onnx__TypeProto__Tensor *tt = ob_alloc(m, sizeof(*tt));
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    vi->name = ob_strdup(m, name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    if (rank >= 0 && dims) {
        Onnx__TensorShapeProto *sp = ob_alloc(m, sizeof(*sp));
        onnx__tensor_shape_proto__init(sp);
        for (int d = 0; d < rank; d++) {
            Onnx__TensorShapeProto__Dimension *dim = ob_alloc(m, sizeof(*dim));
            onnx__tensor_shape_proto__dimension__init(dim);
            if (dims[d] < 0) {
                dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                dim->dim_param = "N";
            } else {
                dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                dim->dim_value = dims[d];
            }
            OB_PUSH(m, sp->n_dim, sp->dim, dim);
        }
        tt->shape = sp;
    }
    return vi;
}

void ob_input(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = value_info(m, name, dtype, rank, dims);
    OB_PUSH(m, m->graph.n_input, m->graph.input, vi);
}

void ob_input_sequence(ob_model *m, const char *name, int elem_dtype)
{
    Onnx__ValueInfoProto *vi = value_info(m, name, elem_dtype, -1, NULL);
    Onnx__TypeProto *seq = ob_alloc(m, sizeof(*seq));
    Onnx__TypeProto__Sequence *st = ob_alloc(m, sizeof(*st));
    onnx__type_proto__init(seq);
    onnx__type_proto__sequence__init(st);
    st->elem_type = vi->type; /* the tensor type value_info made */
    seq->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    seq->sequence_type = st;
    vi->type = seq;
    OB_PUSH(m, m->graph.n_input, m->graph.input, vi);
}

void ob_dim_names(ob_model *m, const char *input, const char *const *names)
{
    for (size_t i = 0; i < m->graph.n_input; i++) {
        Onnx__ValueInfoProto *vi = m->graph.input[i];
        Onnx__TensorShapeProto *sp = vi->type->tensor_type->shape;
        if (strcmp(vi->name, input) != 0 || !sp)
            continue;
        for (size_t d = 0; d < sp->n_dim; d++)
            if (names[d] &&
                sp->dim[d]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
                sp->dim[d]->dim_param = ob_strdup(m, names[d]);
    }
}

void ob_output(ob_model *m, const char *name, int dtype)
{
    Onnx__ValueInfoProto *vi = value_info(m, name, dtype, -1, NULL);
    OB_PUSH(m, m->graph.n_output, m->graph.output, vi);
}

static Onnx__TensorProto *raw_tensor(ob_model *m, const char *name, int dtype, int rank,
                                     const int64_t *dims, const void *data, size_t bytes)
{
    Onnx__TensorProto *t = ob_alloc(m, sizeof(*t));
    onnx__tensor_proto__init(t);
    t->name = ob_strdup(m, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = ob_alloc(m, sizeof(int64_t) * (size_t)(rank + 1));
    if (rank)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = ob_alloc(m, bytes);
    if (bytes && data)
        memcpy(t->raw_data.data, data, bytes);
    return t;
}

void ob_init_raw(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims,
                 const void *data, size_t bytes)
{
    Onnx__TensorProto *t = raw_tensor(m, name, dtype, rank, dims, data, bytes);
    OB_PUSH(m, m->graph.n_initializer, m->graph.initializer, t);
}

static Onnx__StringStringEntryProto *entry(ob_model *m, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = ob_alloc(m, sizeof(*e));
    onnx__string_string_entry_proto__init(e);
    e->key = ob_strdup(m, key);
    e->value = ob_strdup(m, value);
    return e;
}

void ob_init_external(ob_model *m, const char *name, int dtype, int rank, const int64_t *dims,
                      const char *location, const char *offset, const char *length)
{
    Onnx__TensorProto *t = ob_alloc(m, sizeof(*t));
    onnx__tensor_proto__init(t);
    t->name = ob_strdup(m, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = ob_alloc(m, sizeof(int64_t) * (size_t)(rank + 1));
    if (rank)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    OB_PUSH(m, t->n_external_data, t->external_data, entry(m, "location", location));
    if (offset)
        OB_PUSH(m, t->n_external_data, t->external_data, entry(m, "offset", offset));
    if (length)
        OB_PUSH(m, t->n_external_data, t->external_data, entry(m, "length", length));
    OB_PUSH(m, m->graph.n_initializer, m->graph.initializer, t);
}

void ob_init_f32(ob_model *m, const char *name, int rank, const int64_t *dims, const float *data)
{
    size_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= (size_t)dims[d];
    ob_init_raw(m, name, 1, rank, dims, data, n * sizeof(float));
}

void ob_init_byte(ob_model *m, const char *name, int dtype, int v)
{
    uint8_t b = (uint8_t)v;
    ob_init_raw(m, name, dtype, 0, NULL, &b, 1);
}

void ob_init_qparams(ob_model *m)
{
    float s1 = 0.02f, s2 = 0.05f, ws = 0.004f;
    ob_init_f32(m, "s1", 0, NULL, &s1);
    ob_init_f32(m, "s2", 0, NULL, &s2);
    ob_init_f32(m, "ws", 0, NULL, &ws);
    ob_init_byte(m, "z", LOOM_DTYPE_UINT8, 0);
    ob_init_byte(m, "wz", LOOM_DTYPE_INT8, 0);
}

void ob_add_int8_convs(ob_model *m, const char *x, const char *y)
{
    int64_t w1d[4] = {8, 4, 3, 3}, w2d[4] = {4, 8, 1, 1}, pads[4] = {1, 1, 1, 1};
    int8_t w1[8 * 4 * 9], w2[32];
    for (size_t i = 0; i < sizeof(w1); i++)
        w1[i] = (int8_t)((i * 37) % 200 - 100);
    for (size_t i = 0; i < sizeof(w2); i++)
        w2[i] = (int8_t)((i * 53) % 200 - 100);
    ob_init_raw(m, "w1", LOOM_DTYPE_INT8, 4, w1d, w1, sizeof(w1));
    ob_init_raw(m, "w2", LOOM_DTYPE_INT8, 4, w2d, w2, sizeof(w2));
    char in1[64];
    snprintf(in1, sizeof(in1), "%s,s1,z,w1,ws,wz,s2,z", x);
    ob_attr_ints(m, ob_add_node(m, "QLinearConv", in1, "c1"), "pads", 4, pads);
    ob_add_node(m, "Max", "c1,z", "r1");
    ob_add_node(m, "QLinearConv", "r1,s2,z,w2,ws,wz,s1,z", y);
}

static void split_names(ob_model *m, const char *list, size_t *n, char ***arr)
{
    *n = 0;
    *arr = NULL;
    if (!list || !*list)
        return;
    char *copy = ob_strdup(m, list);
    for (char *s = copy;;) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        OB_PUSH(m, *n, *arr, s);
        if (!comma)
            break;
        s = comma + 1;
    }
}

ob_node *ob_add_node(ob_model *m, const char *op_type, const char *inputs, const char *outputs)
{
    Onnx__NodeProto *n = ob_alloc(m, sizeof(*n));
    onnx__node_proto__init(n);
    n->op_type = ob_strdup(m, op_type);
    split_names(m, inputs, &n->n_input, &n->input);
    split_names(m, outputs, &n->n_output, &n->output);
    OB_PUSH(m, m->graph.n_node, m->graph.node, n);
    return n;
}

void ob_node_name(ob_model *m, ob_node *n, const char *name)
{
    n->name = ob_strdup(m, name);
}

ob_node *ob_node_domain(ob_model *m, ob_node *n, const char *domain)
{
    n->domain = ob_strdup(m, domain);
    return n;
}

void ob_opset(ob_model *m, const char *domain, int version)
{
    Onnx__OperatorSetIdProto *o = ob_alloc(m, sizeof(*o));
    onnx__operator_set_id_proto__init(o);
    o->domain = ob_strdup(m, domain);
    o->has_version = 1;
    o->version = version;
    OB_PUSH(m, m->model.n_opset_import, m->model.opset_import, o);
}

static Onnx__AttributeProto *new_attr(ob_model *m, ob_node *n, const char *name, int type)
{
    Onnx__AttributeProto *a = ob_alloc(m, sizeof(*a));
    onnx__attribute_proto__init(a);
    a->name = ob_strdup(m, name);
    a->has_type = 1;
    a->type = type;
    OB_PUSH(m, n->n_attribute, n->attribute, a);
    return a;
}

void ob_attr_tensor_i64(ob_model *m, ob_node *n, const char *name, int rank, const int64_t *dims,
                        const int64_t *v)
{
    Onnx__AttributeProto *a = new_attr(m, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    int64_t count = 1;
    for (int d = 0; d < rank; d++)
        count *= dims[d];
    a->t = raw_tensor(m, "", LOOM_DTYPE_INT64, rank, dims, v, sizeof(int64_t) * (size_t)count);
}

void ob_attr_int(ob_model *m, ob_node *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(m, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

void ob_attr_float(ob_model *m, ob_node *n, const char *name, float v)
{
    Onnx__AttributeProto *a = new_attr(m, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

void ob_attr_str(ob_model *m, ob_node *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = new_attr(m, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)ob_strdup(m, v);
    a->s.len = strlen(v);
}

void ob_attr_ints(ob_model *m, ob_node *n, const char *name, int count, const int64_t *v)
{
    Onnx__AttributeProto *a = new_attr(m, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)count;
    a->ints = ob_alloc(m, sizeof(int64_t) * (size_t)(count + 1));
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
}

void ob_attr_graph(ob_model *m, ob_node *n, const char *name, ob_model *body)
{
    Onnx__AttributeProto *a = new_attr(m, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    a->g = &body->graph;
}

uint8_t *ob_pack(ob_model *m, size_t *len)
{
    size_t n = onnx__model_proto__get_packed_size(&m->model);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    *len = onnx__model_proto__pack(&m->model, buf);
    return buf;
}

int ob_load(ob_model *m, loom_context *ctx, const char *name, loom_model **out)
{
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    ob_free(m);
    *out = NULL;
    loom_status s = loom_model_load_memory(ctx, buf, len, name, out);
    free(buf);
    return (int)s;
}
