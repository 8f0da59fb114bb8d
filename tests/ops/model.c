/*
 * model.c - builds a case's ONNX model in memory through the protobuf-c
 * structs generated from onnx.proto (tests/unit/lib/onnx_builder.c), packed
 * the way loom_model_load_memory() reads it. Constants are drawn from the
 * case's seed, so every device loads the very same bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/onnx_builder.h"
#include "model.h"
#include "rng.h"

#define MAX_VALUES 64

typedef struct tensor_spec {
    ops_input t;
    int is_const;
    int n_values;
    double values[MAX_VALUES];
} tensor_spec;

static const struct {
    const char *name;
    loom_dtype dtype;
} dtypes[] = {
    {"f32", LOOM_DTYPE_FLOAT}, {"i8", LOOM_DTYPE_INT8},   {"u8", LOOM_DTYPE_UINT8},
    {"i32", LOOM_DTYPE_INT32}, {"i64", LOOM_DTYPE_INT64}, {"bool", LOOM_DTYPE_BOOL},
};

static loom_dtype parse_dtype(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
        if (strlen(dtypes[i].name) == len && strncmp(dtypes[i].name, s, len) == 0)
            return dtypes[i].dtype;
    return LOOM_DTYPE_UNDEFINED;
}

/* The range random values come from when the case names none. */
static void default_range(loom_dtype dt, double *lo, double *hi)
{
    switch (dt) {
    case LOOM_DTYPE_INT8:
        *lo = -128, *hi = 127;
        break;
    case LOOM_DTYPE_UINT8:
        *lo = 0, *hi = 255;
        break;
    case LOOM_DTYPE_INT32:
        *lo = -1000, *hi = 1000;
        break;
    case LOOM_DTYPE_INT64:
        *lo = 0, *hi = 3;
        break;
    case LOOM_DTYPE_BOOL:
        *lo = 0, *hi = 1;
        break;
    default:
        *lo = -1, *hi = 1;
        break;
    }
}

static void store(void *data, loom_dtype dt, size_t i, double v)
{
    switch (dt) {
    case LOOM_DTYPE_FLOAT:
        ((float *)data)[i] = (float)v;
        break;
    case LOOM_DTYPE_INT8:
        ((int8_t *)data)[i] = (int8_t)v;
        break;
    case LOOM_DTYPE_UINT8:
    case LOOM_DTYPE_BOOL:
        ((uint8_t *)data)[i] = (uint8_t)v;
        break;
    case LOOM_DTYPE_INT32:
        ((int32_t *)data)[i] = (int32_t)v;
        break;
    case LOOM_DTYPE_INT64:
        ((int64_t *)data)[i] = (int64_t)v;
        break;
    default:
        break;
    }
}

void ops_fill_random(void *data, loom_dtype dtype, size_t n, double lo, double hi, uint32_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        double u = ops_rng_unit(rng);
        double v = dtype == LOOM_DTYPE_FLOAT ? lo + (hi - lo) * u : lo + floor(u * (hi - lo + 1));
        store(data, dtype, i, v);
    }
}

/* Parses "a,b,c" up to @end into doubles; returns the count or -1. */
static int parse_numbers(const char *s, char end, double *v, int max, const char **after)
{
    int n = 0;
    while (*s != end) {
        char *next;
        if (n == max)
            return -1;
        v[n++] = strtod(s, &next);
        if (next == s)
            return -1;
        s = next;
        if (*s == ',')
            s++;
        else if (*s != end)
            return -1;
    }
    *after = s + 1;
    return n;
}

/* One tensor spec: [#]name:dtype[dims][(lo,hi)][={values}]. */
static int parse_tensor(const char *s, tensor_spec *t)
{
    memset(t, 0, sizeof(*t));
    t->is_const = *s == '#';
    s += t->is_const;
    const char *colon = strchr(s, ':'), *br = colon ? strchr(colon, '[') : NULL;
    if (!colon || !br || (size_t)(colon - s) >= sizeof(t->t.name))
        return -1;
    memcpy(t->t.name, s, (size_t)(colon - s));
    t->t.dtype = parse_dtype(colon + 1, (size_t)(br - colon - 1));
    double dims[LOOM_MAX_RANK];
    int rank = parse_numbers(br + 1, ']', dims, LOOM_MAX_RANK, &s);
    if (t->t.dtype == LOOM_DTYPE_UNDEFINED || rank < 0)
        return -1;
    t->t.rank = rank;
    for (int d = 0; d < rank; d++)
        t->t.dims[d] = (int64_t)dims[d];
    default_range(t->t.dtype, &t->t.lo, &t->t.hi);
    if (*s == '(') {
        double r[2];
        if (parse_numbers(s + 1, ')', r, 2, &s) != 2)
            return -1;
        t->t.lo = r[0], t->t.hi = r[1];
    }
    if (strncmp(s, "={", 2) == 0) {
        t->is_const = 1;
        if ((t->n_values = parse_numbers(s + 2, '}', t->values, MAX_VALUES, &s)) < 0)
            return -1;
    }
    return *s == '\0' ? 0 : -1;
}

static size_t count_of(const ops_input *t)
{
    size_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= (size_t)t->dims[d];
    return n;
}

static int add_constant(ob_model *om, const tensor_spec *t, uint32_t *rng)
{
    size_t n = count_of(&t->t), size = loom_dtype_size(t->t.dtype);
    if (t->n_values && (size_t)t->n_values != n)
        return -1;
    void *data = calloc(n ? n : 1, size);
    if (!data)
        return -1;
    if (t->n_values)
        for (size_t i = 0; i < n; i++)
            store(data, t->t.dtype, i, t->values[i]);
    else
        ops_fill_random(data, t->t.dtype, n, t->t.lo, t->t.hi, rng);
    ob_init_raw(om, t->t.name, t->t.dtype, t->t.rank, t->t.dims, data, n * size);
    free(data);
    return 0;
}

static int add_tensors(ob_model *om, const char *specs, uint32_t *rng, ops_model *m)
{
    char buf[1024];
    if (strlen(specs) >= sizeof(buf))
        return -1;
    strcpy(buf, specs);
    for (char *save, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        tensor_spec t;
        if (parse_tensor(tok, &t))
            return -1;
        if (t.is_const) {
            if (add_constant(om, &t, rng))
                return -1;
            continue;
        }
        if (m->n_inputs == OPS_MAX_INPUTS)
            return -1;
        m->inputs[m->n_inputs++] = t.t;
        ob_input(om, t.t.name, t.t.dtype, t.t.rank, t.t.dims);
    }
    return 0;
}

/* key=value: [1,2] ints, 'text' a string, with a '.' a float, else an int. */
static int add_attr(ob_model *om, ob_node *n, char *kv)
{
    char *eq = strchr(kv, '=');
    if (!eq)
        return -1;
    *eq = '\0';
    const char *v = eq + 1, *end;
    if (*v == '[') {
        double d[16];
        int64_t ints[16];
        int cnt = parse_numbers(v + 1, ']', d, 16, &end);
        if (cnt < 0 || *end)
            return -1;
        for (int i = 0; i < cnt; i++)
            ints[i] = (int64_t)d[i];
        ob_attr_ints(om, n, kv, cnt, ints);
    } else if (*v == '\'') {
        size_t len = strlen(v);
        if (len < 2 || v[len - 1] != '\'')
            return -1;
        eq[len] = '\0'; /* drops the closing quote */
        ob_attr_str(om, n, kv, v + 1);
    } else if (strchr(v, '.')) {
        ob_attr_float(om, n, kv, strtof(v, NULL));
    } else {
        ob_attr_int(om, n, kv, strtoll(v, NULL, 10));
    }
    return 0;
}

/* One node: Op(in,...->out,...){k=v k=v}. */
static int add_node(ob_model *om, char *s)
{
    while (*s == ' ')
        s++;
    char *open = strchr(s, '('), *arrow = strstr(s, "->"), *close = strchr(s, ')');
    if (!open || !arrow || !close || arrow < open || close < arrow)
        return -1;
    *open = *arrow = *close = '\0';
    ob_node *n = ob_add_node(om, s, open + 1, arrow + 2);
    char *attrs = close + 1;
    if (*attrs == '\0')
        return 0;
    char *rb = strrchr(attrs, '}');
    if (*attrs != '{' || !rb || rb[1])
        return -1;
    *rb = '\0';
    for (char *save, *kv = strtok_r(attrs + 1, " ", &save); kv; kv = strtok_r(NULL, " ", &save))
        if (add_attr(om, n, kv))
            return -1;
    return 0;
}

static int add_graph(ob_model *om, const char *graph)
{
    char buf[1024];
    if (strlen(graph) >= sizeof(buf))
        return -1;
    strcpy(buf, graph);
    for (char *save, *node = strtok_r(buf, ";", &save); node; node = strtok_r(NULL, ";", &save))
        if (add_node(om, node))
            return -1;
    return 0;
}

static int add_outputs(ob_model *om, const char *outputs, ops_model *m)
{
    char buf[256];
    if (strlen(outputs) >= sizeof(buf))
        return -1;
    strcpy(buf, outputs);
    for (char *save, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tok, ':');
        loom_dtype dt = colon ? parse_dtype(colon + 1, strlen(colon + 1)) : LOOM_DTYPE_UNDEFINED;
        if (dt == LOOM_DTYPE_UNDEFINED || m->n_outputs == OPS_MAX_OUTPUTS)
            return -1;
        *colon = '\0';
        ob_output(om, tok, dt);
        m->n_outputs++;
    }
    return m->n_outputs ? 0 : -1;
}

int ops_model_build(const op_case *c, uint32_t seed, ops_model *m, char *err, size_t err_len)
{
    memset(m, 0, sizeof(*m));
    ob_model *om = ob_new(c->opset ? c->opset : 13);
    uint32_t rng = seed;
    const char *what = NULL;
    if (add_tensors(om, c->tensors, &rng, m))
        what = "tensors";
    else if (add_graph(om, c->graph))
        what = "graph";
    else if (add_outputs(om, c->outputs, m))
        what = "outputs";
    if (what) {
        snprintf(err, err_len, "malformed %s in the case table", what);
        ob_free(om);
        return -1;
    }
    m->bytes = ob_pack(om, &m->len);
    ob_free(om);
    return 0;
}

void ops_model_free(ops_model *m)
{
    free(m->bytes);
    m->bytes = NULL;
}
