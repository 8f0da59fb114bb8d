/*
 * config_io.c - parses the tensor parts of a model's config.json: Triton's
 * "input" and "output" entries (name, data_type, dims) and "model_warmup"
 * samples. What they mean for a loaded model is model_io.c's and warmup.c's.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loomd/config.h"

static const struct {
    const char *name;
    loom_dtype dtype;
} triton_types[] = {
    {"TYPE_BOOL", LOOM_DTYPE_BOOL},     {"TYPE_UINT8", LOOM_DTYPE_UINT8},
    {"TYPE_UINT16", LOOM_DTYPE_UINT16}, {"TYPE_UINT32", LOOM_DTYPE_UINT32},
    {"TYPE_UINT64", LOOM_DTYPE_UINT64}, {"TYPE_INT8", LOOM_DTYPE_INT8},
    {"TYPE_INT16", LOOM_DTYPE_INT16},   {"TYPE_INT32", LOOM_DTYPE_INT32},
    {"TYPE_INT64", LOOM_DTYPE_INT64},   {"TYPE_FP16", LOOM_DTYPE_FLOAT16},
    {"TYPE_FP32", LOOM_DTYPE_FLOAT},    {"TYPE_FP64", LOOM_DTYPE_DOUBLE},
};

loom_dtype cfg_triton_dtype(const char *name)
{
    for (size_t i = 0; i < sizeof(triton_types) / sizeof(triton_types[0]); i++)
        if (strcmp(triton_types[i].name, name) == 0)
            return triton_types[i].dtype;
    return LOOM_DTYPE_UNDEFINED;
}

/* Copies string field @key (required or not) into @dst; 1 if absent. */
static int get_str(json_object *o, const char *key, char *dst, size_t len, char *e, size_t el)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 1;
    const char *s = json_object_get_string(v);
    if (!json_object_is_type(v, json_type_string) || !*s || strlen(s) >= len) {
        snprintf(e, el, "\"%s\" must be a non-empty string under %zu bytes", key, len);
        return -1;
    }
    strcpy(dst, s);
    return 0;
}

/* An integer, or (Triton's JSON writes int64 as strings) a string holding one. */
static int int_of(json_object *v, int64_t *out)
{
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return -1;
    const char *s = json_object_get_string(v);
    char *end;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end)
        return -1;
    *out = x;
    return 0;
}

static int parse_dtype(json_object *o, cfg_tensor *t, char *e, size_t el)
{
    char name[32];
    int rc = get_str(o, "data_type", name, sizeof(name), e, el);
    if (rc)
        return rc < 0 ? -1 : 0;
    t->dtype = cfg_triton_dtype(name);
    if (t->dtype == LOOM_DTYPE_UNDEFINED) {
        snprintf(e, el, "\"%s\": data_type \"%s\" is not a Triton TYPE_ Loom supports", t->name,
                 name);
        return -1;
    }
    return 0;
}

/* "dims": sizes >= 1, or -1 for any size (@allow_any). */
static int parse_dims(json_object *o, cfg_tensor *t, bool allow_any, char *e, size_t el)
{
    json_object *d;
    if (!json_object_object_get_ex(o, "dims", &d))
        return 0;
    if (!json_object_is_type(d, json_type_array) || json_object_array_length(d) >= LOOM_MAX_RANK) {
        snprintf(e, el, "\"%s\": dims must be an array of at most %d sizes", t->name,
                 LOOM_MAX_RANK - 1);
        return -1;
    }
    t->rank = (int)json_object_array_length(d);
    for (int i = 0; i < t->rank; i++) {
        int64_t v;
        if (int_of(json_object_array_get_idx(d, (size_t)i), &v) ||
            !(v >= 1 || (allow_any && v == -1)) || v > (1ll << 31)) {
            snprintf(e, el, "\"%s\": dims[%d] must be %s", t->name, i,
                     allow_any ? "a size or -1" : "a size");
            return -1;
        }
        t->dims[i] = v;
    }
    return 0;
}

static void tensor_init(cfg_tensor *t)
{
    memset(t, 0, sizeof(*t));
    t->rank = -1;
}

/* One "input" or "output" entry. */
static int parse_io_entry(json_object *o, cfg_tensor *t, char *e, size_t el)
{
    tensor_init(t);
    if (!json_object_is_type(o, json_type_object) ||
        get_str(o, "name", t->name, sizeof(t->name), e, el) != 0) {
        if (!e[0])
            snprintf(e, el, "each input and output needs a \"name\"");
        return -1;
    }
    return parse_dtype(o, t, e, el) || parse_dims(o, t, true, e, el) ? -1 : 0;
}

static int parse_io_list(json_object *o, const char *key, cfg_tensor *out, int *n, char *e,
                         size_t el)
{
    json_object *a;
    if (!json_object_object_get_ex(o, key, &a))
        return 0;
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > CFG_MAX_IO) {
        snprintf(e, el, "\"%s\" must be an array of at most %d entries", key, CFG_MAX_IO);
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        if (parse_io_entry(json_object_array_get_idx(a, i), &out[i], e, el))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[j].name, out[i].name) == 0) {
                snprintf(e, el, "\"%s\" names \"%s\" twice", key, out[i].name);
                return -1;
            }
        *n = (int)i + 1;
    }
    return 0;
}

/* Which data a warm-up input carries: exactly one of the three kinds. */
static int parse_warmup_data(json_object *o, cfg_tensor *t, char *e, size_t el)
{
    json_object *v;
    int kinds = 0;
    if (json_object_object_get_ex(o, "zero_data", &v) && json_object_get_boolean(v))
        kinds++;
    if (json_object_object_get_ex(o, "random_data", &v) && json_object_get_boolean(v)) {
        t->random = true;
        kinds++;
    }
    int rc = get_str(o, "input_data_file", t->file, sizeof(t->file), e, el);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        kinds++;
        if (strchr(t->file, '/') || t->file[0] == '.') {
            snprintf(e, el, "\"%s\": input_data_file names a file in warmup/", t->name);
            return -1;
        }
    }
    if (kinds != 1) {
        snprintf(e, el, "\"%s\": give one of zero_data, random_data, input_data_file", t->name);
        return -1;
    }
    return 0;
}

static int parse_warmup_input(const char *name, json_object *o, cfg_tensor *t, char *e, size_t el)
{
    tensor_init(t);
    if (strlen(name) >= sizeof(t->name) || !json_object_is_type(o, json_type_object)) {
        snprintf(e, el, "model_warmup inputs map input names to objects");
        return -1;
    }
    strcpy(t->name, name);
    if (parse_dtype(o, t, e, el) || parse_dims(o, t, false, e, el))
        return -1;
    if (t->dtype == LOOM_DTYPE_UNDEFINED || t->rank < 0) {
        snprintf(e, el, "\"%s\": warm-up inputs need data_type and dims", name);
        return -1;
    }
    return parse_warmup_data(o, t, e, el);
}

static int parse_warmup(json_object *o, cfg_warmup *w, char *e, size_t el)
{
    memset(w, 0, sizeof(*w));
    json_object *ins;
    int64_t v;
    if (!json_object_is_type(o, json_type_object) ||
        get_str(o, "name", w->name, sizeof(w->name), e, el) != 0 ||
        !json_object_object_get_ex(o, "inputs", &ins) ||
        !json_object_is_type(ins, json_type_object)) {
        if (!e[0])
            snprintf(e, el, "each model_warmup sample needs a \"name\" and \"inputs\"");
        return -1;
    }
    json_object *x;
    w->batch_size = 1;
    if (json_object_object_get_ex(o, "batch_size", &x)) {
        if (int_of(x, &v) || v < 0 || v > 4096) {
            snprintf(e, el, "model_warmup \"%s\": batch_size must be in 0..4096", w->name);
            return -1;
        }
        w->batch_size = (int)v;
    }
    w->count = 1;
    if (json_object_object_get_ex(o, "count", &x)) {
        if (int_of(x, &v) || v < 1 || v > 100) {
            snprintf(e, el, "model_warmup \"%s\": count must be in 1..100", w->name);
            return -1;
        }
        w->count = (int)v;
    }
    json_object_object_foreach(ins, key, val)
    {
        if (w->n_inputs == CFG_MAX_IO) {
            snprintf(e, el, "model_warmup \"%s\": more than %d inputs", w->name, CFG_MAX_IO);
            return -1;
        }
        if (parse_warmup_input(key, val, &w->inputs[w->n_inputs], e, el))
            return -1;
        w->n_inputs++;
    }
    return 0;
}

int model_config_parse_io(json_object *o, model_config *c, char *e, size_t el)
{
    if (parse_io_list(o, "input", c->inputs, &c->n_inputs, e, el) ||
        parse_io_list(o, "output", c->outputs, &c->n_outputs, e, el))
        return -1;
    json_object *a;
    if (!json_object_object_get_ex(o, "model_warmup", &a))
        return 0;
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > CFG_MAX_WARMUP) {
        snprintf(e, el, "\"model_warmup\" must be an array of at most %d samples", CFG_MAX_WARMUP);
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        if (parse_warmup(json_object_array_get_idx(a, i), &c->warmups[i], e, el))
            return -1;
        c->n_warmups = (int)i + 1;
    }
    return 0;
}
