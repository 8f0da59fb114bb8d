/*
 * onnx_import.c - reads ONNX models with the protobuf-c code generated at build
 * time from the system's onnx.proto, and builds the graph IR.
 *
 * Everything read from the file is untrusted: counts, dims and byte lengths are
 * checked against each other and against LM_MAX_TENSOR_BYTES before anything is
 * allocated from them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <onnx/onnx.pb-c.h>

#include "error.h"
#include "onnx_import.h"
#include "sequence.h"

/* ---------------------------------------------------------------- tensors */

static const char *ext_key(const Onnx__TensorProto *tp, const char *key)
{
    for (size_t i = 0; i < tp->n_external_data; i++)
        if (tp->external_data[i]->key && strcmp(tp->external_data[i]->key, key) == 0)
            return tp->external_data[i]->value;
    return NULL;
}

static loom_status parse_u64(const char *s, const char *what, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return lm_error(LOOM_ERR_PARSE, "external data %s '%s' is not a number", what, s);
    *out = v;
    return LOOM_OK;
}

/* Whether @path has a ".." component (which could climb out of the model's directory). */
static bool has_parent_component(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return true;
    return false;
}

/* Reads external data into t->data, refusing paths that leave @dir. */
static loom_status read_external(const Onnx__TensorProto *tp, const char *dir, loom_tensor *t)
{
    const char *loc = ext_key(tp, "location");
    if (!dir)
        return lm_error(LOOM_ERR_INVALID_MODEL,
                        "tensor '%s' has external data, which a model loaded from memory "
                        "cannot resolve",
                        tp->name ? tp->name : "");
    if (!loc || !*loc)
        return lm_error(LOOM_ERR_INVALID_MODEL, "tensor '%s' has external data without location",
                        tp->name ? tp->name : "");
    if (loc[0] == '/' || has_parent_component(loc))
        return lm_error(LOOM_ERR_INVALID_MODEL,
                        "tensor '%s': external data location '%s' leaves the model directory",
                        tp->name ? tp->name : "", loc);
    uint64_t offset = 0, length = t->nbytes;
    const char *s;
    if ((s = ext_key(tp, "offset")) && parse_u64(s, "offset", &offset))
        return LOOM_ERR_PARSE;
    if ((s = ext_key(tp, "length")) && parse_u64(s, "length", &length))
        return LOOM_ERR_PARSE;
    if (length != t->nbytes)
        return lm_error(LOOM_ERR_INVALID_MODEL,
                        "tensor '%s': external data length %llu, but its shape needs %zu bytes",
                        tp->name ? tp->name : "", (unsigned long long)length, t->nbytes);
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, loc) >= (int)sizeof(path))
        return lm_error(LOOM_ERR_INVALID_MODEL, "external data path too long");
    FILE *f = fopen(path, "rb");
    if (!f)
        return lm_error(LOOM_ERR_IO, "tensor '%s': cannot open external data '%s': %s",
                        tp->name ? tp->name : "", path, strerror(errno));
    struct stat st;
    loom_status status = LOOM_OK;
    if (fstat(fileno(f), &st) || (uint64_t)st.st_size < offset ||
        (uint64_t)st.st_size - offset < length) {
        status = lm_error(LOOM_ERR_INVALID_MODEL,
                          "tensor '%s': external data '%s' is shorter than offset %llu + "
                          "length %llu",
                          tp->name ? tp->name : "", path, (unsigned long long)offset,
                          (unsigned long long)length);
    } else if (fseeko(f, (off_t)offset, SEEK_SET) || fread(t->data, 1, t->nbytes, f) != t->nbytes) {
        status = lm_error(LOOM_ERR_IO, "tensor '%s': reading external data '%s' failed",
                          tp->name ? tp->name : "", path);
    }
    fclose(f);
    return status;
}

#define COPY_TYPED(field, ctype)                                                                   \
    do {                                                                                           \
        if (tp->n_##field != (size_t)count)                                                        \
            goto count_mismatch;                                                                   \
        ctype *dst = t->data;                                                                      \
        for (int64_t i = 0; i < count; i++)                                                        \
            dst[i] = (ctype)tp->field[i];                                                          \
    } while (0)

static loom_status tensor_from_proto(const Onnx__TensorProto *tp, const char *dir,
                                     loom_tensor **out)
{
    const char *name = tp->name ? tp->name : "";
    char buf[64];
    *out = NULL;
    if (tp->segment)
        return lm_error(LOOM_ERR_UNSUPPORTED, "tensor '%s' is segmented", name);
    if (tp->n_dims > LOOM_MAX_RANK)
        return lm_error(LOOM_ERR_UNSUPPORTED, "tensor '%s' has rank %zu; the maximum is %d", name,
                        tp->n_dims, LOOM_MAX_RANK);
    for (size_t i = 0; i < tp->n_dims; i++)
        if (tp->dims[i] < 0)
            return lm_error(LOOM_ERR_INVALID_MODEL, "tensor '%s' has negative dimension %lld", name,
                            (long long)tp->dims[i]);
    loom_dtype dt = (loom_dtype)tp->data_type;
    if (dt == LOOM_DTYPE_STRING || loom_dtype_size(dt) == 0)
        return lm_error(LOOM_ERR_UNSUPPORTED, "tensor '%s' has unsupported data type %d (%s)", name,
                        tp->data_type, loom_dtype_name(dt));
    loom_tensor *t = calloc(1, sizeof(*t));
    if (!t)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status s = lm_tensor_init_shape(t, dt, (int)tp->n_dims, tp->dims);
    if (s) {
        free(t);
        lm_error_prefix("tensor '%s'", name);
        return s;
    }
    int64_t count = lm_tensor_count(t);
    bool external =
        tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    /* Check the sizes before allocating, so a 2^40-element header with no data
     * fails cheaply. */
    if (!external) {
        size_t have = tp->has_raw_data ? tp->raw_data.len
                                       : (tp->n_float_data + tp->n_int32_data + tp->n_int64_data +
                                          tp->n_double_data + tp->n_uint64_data) *
                                             loom_dtype_size(dt);
        if (tp->has_raw_data ? have != t->nbytes : have < t->nbytes) {
            free(t);
            return lm_error(LOOM_ERR_INVALID_MODEL,
                            "tensor '%s' of %s %s holds %zu bytes of data, its shape needs %zu",
                            name, loom_dtype_name(dt),
                            lm_dims_str((int)tp->n_dims, tp->dims, buf, sizeof(buf)), have,
                            (size_t)count * loom_dtype_size(dt));
        }
    }
    if ((s = lm_tensor_alloc_data(t))) {
        free(t);
        return s;
    }
    if (external) {
        if ((s = read_external(tp, dir, t))) {
            loom_tensor_destroy(t);
            return s;
        }
    } else if (tp->has_raw_data) {
        if (t->nbytes) /* an empty tensor may have a NULL raw_data */
            memcpy(t->data, tp->raw_data.data, t->nbytes); /* little-endian host */
    } else {
        switch (dt) {
        case LOOM_DTYPE_FLOAT:
            COPY_TYPED(float_data, float);
            break;
        case LOOM_DTYPE_DOUBLE:
            COPY_TYPED(double_data, double);
            break;
        case LOOM_DTYPE_INT64:
            COPY_TYPED(int64_data, int64_t);
            break;
        case LOOM_DTYPE_UINT64:
            COPY_TYPED(uint64_data, uint64_t);
            break;
        case LOOM_DTYPE_UINT32:
            COPY_TYPED(uint64_data, uint32_t);
            break;
        case LOOM_DTYPE_INT32:
            COPY_TYPED(int32_data, int32_t);
            break;
        case LOOM_DTYPE_INT16:
            COPY_TYPED(int32_data, int16_t);
            break;
        case LOOM_DTYPE_INT8:
            COPY_TYPED(int32_data, int8_t);
            break;
        case LOOM_DTYPE_UINT16:
            COPY_TYPED(int32_data, uint16_t);
            break;
        case LOOM_DTYPE_FLOAT16:
            COPY_TYPED(int32_data, uint16_t);
            break;
        case LOOM_DTYPE_UINT8:
            COPY_TYPED(int32_data, uint8_t);
            break;
        case LOOM_DTYPE_BOOL:
            COPY_TYPED(int32_data, uint8_t);
            break;
        default:
            break;
        }
    }
    *out = t;
    return LOOM_OK;
count_mismatch:
    loom_tensor_destroy(t);
    return lm_error(LOOM_ERR_INVALID_MODEL,
                    "tensor '%s' of type %s: typed data field has the wrong element count for "
                    "shape %s",
                    name, loom_dtype_name(dt),
                    lm_dims_str((int)tp->n_dims, tp->dims, buf, sizeof(buf)));
}

loom_status lm_onnx_read_tensor(const void *data, size_t size, loom_tensor **out, char **name_out)
{
    if (name_out)
        *name_out = NULL;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, data);
    if (!tp)
        return lm_error(LOOM_ERR_PARSE, "not a valid TensorProto (protobuf decoding failed)");
    loom_status s = tensor_from_proto(tp, NULL, out);
    if (!s && name_out && tp->name && *tp->name && !(*name_out = strdup(tp->name))) {
        loom_tensor_destroy(*out);
        *out = NULL;
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return s;
}

loom_status lm_onnx_write_tensor(const loom_tensor *t, const char *name, void **data, size_t *size)
{
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = (size_t)t->rank;
    tp.dims = (int64_t *)t->dims;
    tp.has_data_type = 1;
    tp.data_type = (int32_t)t->dtype;
    tp.name = (char *)(name ? name : "");
    tp.has_raw_data = 1;
    tp.raw_data.len = t->nbytes;
    tp.raw_data.data = t->data;
    size_t n = onnx__tensor_proto__get_packed_size(&tp);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    *size = onnx__tensor_proto__pack(&tp, buf);
    *data = buf;
    return LOOM_OK;
}

/* ------------------------------------------------------------ name table */

/* Open-addressing map from value name to id, for graphs with many values. */
typedef struct name_map {
    size_t cap;
    int *slot; /* value id + 1; 0 = empty */
    lm_graph *g;
    size_t values_cap; /* g->values' length; grows when subgraphs add names */
} name_map;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int map_find(const name_map *m, const char *name)
{
    for (size_t i = hash_str(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slot[i])
            return -1;
        if (strcmp(m->g->values[m->slot[i] - 1].name, name) == 0)
            return m->slot[i] - 1;
    }
}

static void map_insert(name_map *m, const char *name, int id)
{
    size_t i = hash_str(name) & (m->cap - 1);
    while (m->slot[i])
        i = (i + 1) & (m->cap - 1);
    m->slot[i] = id + 1;
}

/* Makes room for one more value: the counts taken before import do not
 * include the outer-scope names a node's subgraphs read. */
static bool map_reserve(name_map *m)
{
    lm_graph *g = m->g;
    if ((size_t)g->n_values + 1 > m->values_cap) {
        size_t cap = m->values_cap * 2 + 16;
        lm_value *v = realloc(g->values, cap * sizeof(*v));
        if (!v)
            return false;
        memset(v + m->values_cap, 0, (cap - m->values_cap) * sizeof(*v));
        g->values = v;
        m->values_cap = cap;
    }
    if (((size_t)g->n_values + 1) * 2 <= m->cap)
        return true;
    size_t cap = m->cap * 2;
    int *slot = calloc(cap, sizeof(int));
    if (!slot)
        return false;
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    for (int id = 0; id < g->n_values; id++)
        map_insert(m, g->values[id].name, id);
    return true;
}

/* Returns the id of @name, creating the value if new; -1 on allocation failure. */
static int value_get(name_map *m, const char *name)
{
    int id = map_find(m, name);
    if (id >= 0)
        return id;
    if (!map_reserve(m))
        return -1;
    lm_graph *g = m->g;
    lm_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof(*v));
    v->name = strdup(name);
    if (!v->name)
        return -1;
    v->rank = -1;
    v->producer = -1;
    id = g->n_values++;
    map_insert(m, name, id);
    return id;
}

/* -------------------------------------------------------------- graph */

static loom_status apply_type(lm_value *v, const Onnx__TypeProto *tp, const char *what)
{
    if (!tp)
        return LOOM_OK;
    if (tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE && tp->sequence_type &&
        tp->sequence_type->elem_type &&
        tp->sequence_type->elem_type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        v->dtype = LM_DTYPE_SEQUENCE; /* of tensors: shaped at run time (sequence.h) */
        v->rank = -1;
        return LOOM_OK;
    }
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return lm_error(LOOM_ERR_UNSUPPORTED,
                        "%s '%s' is not a tensor or a sequence of tensors (maps, optionals and "
                        "sparse values are not supported)",
                        what, v->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != 0)
        v->dtype = (loom_dtype)tt->elem_type;
    if (!tt->shape)
        return LOOM_OK;
    if (tt->shape->n_dim > LOOM_MAX_RANK)
        return lm_error(LOOM_ERR_UNSUPPORTED, "%s '%s' has rank %zu; the maximum is %d", what,
                        v->name, tt->shape->n_dim, LOOM_MAX_RANK);
    v->rank = (int)tt->shape->n_dim;
    for (int d = 0; d < v->rank; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        free(v->dim_names[d]);
        v->dim_names[d] = NULL;
        v->dims[d] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dim->dim_value < 0)
                return lm_error(LOOM_ERR_INVALID_MODEL, "%s '%s' has negative dimension %lld", what,
                                v->name, (long long)dim->dim_value);
            v->dims[d] = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   dim->dim_param && *dim->dim_param) {
            if (!(v->dim_names[d] = strdup(dim->dim_param)))
                return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        }
    }
    return LOOM_OK;
}

typedef struct opset_table {
    size_t n;
    const char **domain;
    int *version;
} opset_table;

static int opset_of(const opset_table *ops, const char *domain)
{
    const char *d = domain && strcmp(domain, "ai.onnx") != 0 ? domain : "";
    for (size_t i = 0; i < ops->n; i++)
        if (strcmp(ops->domain[i], d) == 0)
            return ops->version[i];
    return -1;
}

/* Subgraphs nest at most this deep: a hostile model cannot exhaust the stack. */
#define LM_MAX_SUBGRAPH_DEPTH 32

/* What every graph of a model is imported with. */
typedef struct import_ctx {
    const char *dir; /* external data's directory, NULL from memory */
    const opset_table *ops;
    int depth; /* subgraph nesting of the graph being imported */
} import_ctx;

static loom_status import_graph(lm_graph *g, const Onnx__GraphProto *gp, const import_ctx *ic,
                                int *n_free);

/* A GRAPH attribute: its body, whose reads of enclosing graphs' values
 * become its trailing inputs (import_node lists them on the node). */
static loom_status import_subgraph(lm_attr *a, const Onnx__GraphProto *gp, const import_ctx *ic)
{
    if (ic->depth >= LM_MAX_SUBGRAPH_DEPTH)
        return lm_error(LOOM_ERR_UNSUPPORTED, "graph attribute '%s' nests subgraphs deeper than %d",
                        a->name, LM_MAX_SUBGRAPH_DEPTH);
    if (!(a->sub = calloc(1, sizeof(*a->sub))) || !(a->sub->g = calloc(1, sizeof(lm_graph))))
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    import_ctx inner = *ic;
    inner.depth++;
    loom_status s = import_graph(a->sub->g, gp, &inner, &a->sub->n_feed);
    if (s)
        lm_error_prefix("graph attribute '%s'", a->name);
    return s;
}

static loom_status import_attr(lm_attr *a, const Onnx__AttributeProto *ap, const import_ctx *ic)
{
    memset(a, 0, sizeof(*a));
    if (!(a->name = strdup(ap->name ? ap->name : "")))
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    a->type = ap->has_type ? (lm_attr_type)ap->type : LM_ATTR_UNDEFINED;
    if (ap->ref_attr_name && *ap->ref_attr_name)
        return lm_error(LOOM_ERR_UNSUPPORTED, "attribute '%s' refers to a function attribute",
                        a->name);
    a->i = ap->i;
    a->f = ap->f;
    switch (a->type) {
    case LM_ATTR_STRING:
        if (!(a->s = malloc(ap->s.len + 1)))
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        if (ap->s.len)
            memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = '\0';
        break;
    case LM_ATTR_INTS:
        a->n = (int)ap->n_ints;
        if (!(a->ints = malloc(sizeof(int64_t) * (ap->n_ints + 1))))
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, sizeof(int64_t) * ap->n_ints);
        break;
    case LM_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        if (!(a->floats = malloc(sizeof(float) * (ap->n_floats + 1))))
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, sizeof(float) * ap->n_floats);
        break;
    case LM_ATTR_STRINGS:
        if (!(a->strings = calloc(ap->n_strings + 1, sizeof(char *))))
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        for (size_t i = 0; i < ap->n_strings; i++, a->n++) {
            if (!(a->strings[i] = malloc(ap->strings[i].len + 1)))
                return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            if (ap->strings[i].len)
                memcpy(a->strings[i], ap->strings[i].data, ap->strings[i].len);
            a->strings[i][ap->strings[i].len] = '\0';
        }
        break;
    case LM_ATTR_TENSOR:
        if (!ap->t)
            return lm_error(LOOM_ERR_INVALID_MODEL, "tensor attribute '%s' has no tensor", a->name);
        return tensor_from_proto(ap->t, NULL, &a->t);
    case LM_ATTR_GRAPH:
        if (!ap->g)
            return lm_error(LOOM_ERR_INVALID_MODEL, "graph attribute '%s' has no graph", a->name);
        return import_subgraph(a, ap->g, ic);
    case LM_ATTR_GRAPHS:
        return lm_error(LOOM_ERR_UNSUPPORTED,
                        "attribute '%s' is a list of graphs, which no supported operator takes",
                        a->name);
    default:
        break; /* sparse tensors: the kernels that need them refuse */
    }
    return LOOM_OK;
}

/* Index of value @id among @n's inputs, appending it as an implicit input if absent. */
static int node_input_slot(lm_node *n, int id)
{
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] == id)
            return k;
    int *in = realloc(n->in, sizeof(int) * ((size_t)n->n_in + 2));
    if (!in)
        return -1;
    n->in = in;
    n->in[n->n_in] = id;
    n->n_implicit++;
    return n->n_in++;
}

/* Lists on @n the enclosing-scope values its subgraphs read, and which of
 * its inputs feeds each subgraph's trailing inputs. */
static loom_status link_subgraphs(lm_node *n, name_map *m)
{
    for (int a = 0; a < n->n_attr; a++) {
        lm_subgraph *sub = n->attr[a].sub;
        if (!sub)
            continue;
        const lm_graph *sg = sub->g;
        int first = sg->n_inputs - sub->n_feed;
        if (!(sub->feed = malloc(sizeof(int) * ((size_t)sub->n_feed + 1))))
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        for (int j = 0; j < sub->n_feed; j++) {
            int id = value_get(m, sg->values[sg->inputs[first + j]].name);
            if (id < 0 || (sub->feed[j] = node_input_slot(n, id)) < 0)
                return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        }
    }
    return LOOM_OK;
}

static loom_status import_node(lm_graph *g, name_map *m, const Onnx__NodeProto *np, int index,
                               const import_ctx *ic)
{
    const opset_table *ops = ic->ops;
    lm_node *n = &g->nodes[index];
    memset(n, 0, sizeof(*n));
    char synth[64];
    snprintf(synth, sizeof(synth), "%s_%d", np->op_type ? np->op_type : "node", index);
    n->name = strdup(np->name && *np->name ? np->name : synth);
    n->op_type = strdup(np->op_type ? np->op_type : "");
    n->domain = strdup(np->domain && strcmp(np->domain, "ai.onnx") ? np->domain : "");
    n->in = malloc(sizeof(int) * (np->n_input + 1));
    n->out = malloc(sizeof(int) * (np->n_output + 1));
    n->attr = calloc(np->n_attribute + 1, sizeof(lm_attr));
    if (!n->name || !n->op_type || !n->domain || !n->in || !n->out || !n->attr)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    if (!*n->op_type)
        return lm_error(LOOM_ERR_INVALID_MODEL, "node %d has no op_type", index);
    n->opset = opset_of(ops, n->domain);
    if (n->opset < 0)
        return lm_error(LOOM_ERR_INVALID_MODEL,
                        "node '%s' (%s) uses domain '%s', which the model does not import", n->name,
                        n->op_type, n->domain);
    n->n_in = (int)np->n_input;
    for (size_t i = 0; i < np->n_input; i++) {
        n->in[i] = -1;
        if (np->input[i] && *np->input[i] && (n->in[i] = value_get(m, np->input[i])) < 0)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    }
    n->n_out = (int)np->n_output;
    for (size_t i = 0; i < np->n_output; i++) {
        n->out[i] = -1;
        if (!np->output[i] || !*np->output[i])
            continue;
        if ((n->out[i] = value_get(m, np->output[i])) < 0)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        lm_value *v = &g->values[n->out[i]];
        if (v->producer >= 0 || v->constant || v->is_input)
            return lm_error(LOOM_ERR_INVALID_MODEL,
                            "node '%s' (%s) writes value '%s', which is already defined", n->name,
                            n->op_type, v->name);
        v->producer = index;
    }
    for (size_t i = 0; i < np->n_attribute; i++, n->n_attr++) {
        loom_status s = import_attr(&n->attr[i], np->attribute[i], ic);
        if (s) {
            n->n_attr++;
            lm_error_prefix("node '%s' (%s)", n->name, n->op_type);
            return s;
        }
    }
    return link_subgraphs(n, m);
}

/* The values @g reads that it does not define: an error in a model's graph;
 * in a subgraph (@n_free set), values of enclosing graphs, which become its
 * trailing inputs. */
static loom_status resolve_free_values(lm_graph *g, int *n_free)
{
    if (n_free) { /* room for every value */
        int *in = realloc(g->inputs, sizeof(int) * ((size_t)g->n_inputs + g->n_values + 1));
        if (!in)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        g->inputs = in;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            if (v < 0 || g->values[v].producer >= 0 || g->values[v].constant ||
                g->values[v].is_input)
                continue;
            if (!n_free)
                return lm_error(LOOM_ERR_INVALID_MODEL,
                                "node '%s' (%s) reads '%s', which is not a graph input, an "
                                "initializer or a node output",
                                g->nodes[i].name, g->nodes[i].op_type, g->values[v].name);
            g->values[v].is_input = true;
            g->inputs[g->n_inputs++] = v;
            ++*n_free;
        }
    /* A branch may return an enclosing graph's value as it is. */
    for (int o = 0; n_free && o < g->n_outputs; o++) {
        lm_value *v = &g->values[g->outputs[o]];
        if (v->producer < 0 && !v->constant && !v->is_input) {
            v->is_input = true;
            g->inputs[g->n_inputs++] = g->outputs[o];
            ++*n_free;
        }
    }
    return LOOM_OK;
}

static loom_status import_graph(lm_graph *g, const Onnx__GraphProto *gp, const import_ctx *ic,
                                int *n_free)
{
    const char *dir = ic->dir;
    /* Upper bound on distinct values: every name that can appear. */
    size_t maxv = gp->n_input + gp->n_output + gp->n_initializer + gp->n_value_info + 1;
    for (size_t i = 0; i < gp->n_node; i++)
        maxv += gp->node[i]->n_input + gp->node[i]->n_output;
    if (maxv > INT_MAX / 4 || gp->n_node > INT_MAX / 4)
        return lm_error(LOOM_ERR_INVALID_MODEL, "graph is too large");
    name_map m = {.g = g};
    for (m.cap = 16; m.cap < maxv * 2; m.cap <<= 1)
        ;
    m.slot = calloc(m.cap, sizeof(int));
    g->values = calloc(maxv, sizeof(lm_value));
    m.values_cap = maxv;
    g->nodes = calloc(gp->n_node + 1, sizeof(lm_node));
    g->inputs = malloc(sizeof(int) * (gp->n_input + 1));
    g->outputs = malloc(sizeof(int) * (gp->n_output + 1));
    loom_status s = LOOM_OK;
    if (!m.slot || !g->values || !g->nodes || !g->inputs || !g->outputs) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory for a graph of %zu values", maxv);
        goto out;
    }
    for (size_t i = 0; i < gp->n_sparse_initializer; i++) {
        s = lm_error(LOOM_ERR_UNSUPPORTED, "sparse initializers are not supported");
        goto out;
    }
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name) {
            s = lm_error(LOOM_ERR_INVALID_MODEL, "initializer %zu has no name", i);
            goto out;
        }
        int id = value_get(&m, tp->name);
        if (id < 0) {
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        lm_value *v = &g->values[id];
        if (v->constant) {
            s = lm_error(LOOM_ERR_INVALID_MODEL, "initializer '%s' is defined twice", tp->name);
            goto out;
        }
        if ((s = tensor_from_proto(tp, dir, &v->constant))) {
            lm_error_prefix("initializer '%s'", tp->name);
            goto out;
        }
        v->dtype = v->constant->dtype;
        v->rank = v->constant->rank;
        memcpy(v->dims, v->constant->dims, sizeof(v->dims));
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !*vi->name) {
            s = lm_error(LOOM_ERR_INVALID_MODEL, "graph input %zu has no name", i);
            goto out;
        }
        int id = value_get(&m, vi->name);
        if (id < 0) {
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        lm_value *v = &g->values[id];
        if (v->constant) /* an input with a default value: treated as a constant */
            continue;
        if (v->is_input) {
            s = lm_error(LOOM_ERR_INVALID_MODEL, "graph input '%s' is declared twice", vi->name);
            goto out;
        }
        if ((s = apply_type(v, vi->type, "graph input")))
            goto out;
        if (!n_free && v->dtype == LM_DTYPE_SEQUENCE) {
            s = lm_error(LOOM_ERR_UNSUPPORTED,
                         "graph input '%s' is a sequence; models take tensors (sequences live "
                         "inside a graph)",
                         vi->name);
            goto out;
        }
        /* A subgraph's inputs take the types of what feeds them. */
        if (!n_free && (v->dtype == LOOM_DTYPE_UNDEFINED || v->rank < 0)) {
            s = lm_error(LOOM_ERR_INVALID_MODEL, "graph input '%s' has no tensor type or shape",
                         vi->name);
            goto out;
        }
        v->is_input = true;
        g->inputs[g->n_inputs++] = id;
    }
    for (size_t i = 0; i < gp->n_node; i++, g->n_nodes++) {
        if ((s = import_node(g, &m, gp->node[i], (int)i, ic))) {
            g->n_nodes++;
            goto out;
        }
    }
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        int id = vi->name ? map_find(&m, vi->name) : -1;
        if (id >= 0 && !g->values[id].constant && !g->values[id].is_input &&
            (s = apply_type(&g->values[id], vi->type, "value")))
            goto out;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        int id = vi->name && *vi->name ? map_find(&m, vi->name) : -1;
        if (id < 0 && n_free && vi->name && *vi->name && (id = value_get(&m, vi->name)) < 0) {
            s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        if (id < 0) {
            s = lm_error(LOOM_ERR_INVALID_MODEL, "graph output '%s' is never produced",
                         vi->name ? vi->name : "");
            goto out;
        }
        lm_value *v = &g->values[id];
        if (!v->constant && !v->is_input && (s = apply_type(v, vi->type, "graph output")))
            goto out;
        if (!n_free && v->dtype == LM_DTYPE_SEQUENCE) {
            s = lm_error(LOOM_ERR_UNSUPPORTED,
                         "graph output '%s' is a sequence; models return tensors (sequences live "
                         "inside a graph)",
                         vi->name);
            goto out;
        }
        v->is_output = true;
        g->outputs[g->n_outputs++] = id;
    }
    if (n_free)
        *n_free = 0;
    if (!(s = resolve_free_values(g, n_free)))
        s = lm_graph_sort(g);
out:
    free(m.slot);
    return s;
}

loom_status lm_onnx_import(const void *data, size_t size, const char *dir, lm_graph **out)
{
    *out = NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    if (!mp)
        return lm_error(LOOM_ERR_PARSE,
                        "not a valid ONNX model (protobuf decoding failed: truncated or corrupt)");
    loom_status s = LOOM_OK;
    lm_graph *g = NULL;
    opset_table ops = {0};
    ops.domain = calloc(mp->n_opset_import + 1, sizeof(char *));
    ops.version = calloc(mp->n_opset_import + 1, sizeof(int));
    if (!ops.domain || !ops.version) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *op = mp->opset_import[i];
        const char *d = op->domain && strcmp(op->domain, "ai.onnx") ? op->domain : "";
        ops.domain[ops.n] = d;
        ops.version[ops.n++] = op->version > INT_MAX ? INT_MAX : (int)op->version;
    }
    int opset = opset_of(&ops, "");
    if (mp->n_opset_import == 0) { /* IR version 2 models: opset 1 implied */
        ops.domain[0] = "";
        ops.version[0] = 1;
        ops.n = 1;
        opset = 1;
    }
    if (opset >= 0 && (opset < LM_ONNX_OPSET_MIN || opset > LM_ONNX_OPSET_MAX)) {
        s = lm_error(LOOM_ERR_UNSUPPORTED,
                     "the model imports ONNX opset %d; supported opsets are %d to %d", opset,
                     LM_ONNX_OPSET_MIN, LM_ONNX_OPSET_MAX);
        goto out;
    }
    if (!mp->graph) {
        s = lm_error(LOOM_ERR_INVALID_MODEL, "the model has no graph");
        goto out;
    }
    if (!(g = calloc(1, sizeof(*g)))) {
        s = lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    import_ctx ic = {.dir = dir, .ops = &ops};
    if ((s = import_graph(g, mp->graph, &ic, NULL))) {
        lm_graph_free(g);
        g = NULL;
    }
out:
    free(ops.domain);
    free(ops.version);
    onnx__model_proto__free_unpacked(mp, NULL);
    *out = g;
    return s;
}
