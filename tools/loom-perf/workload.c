/* workload.c - loom-perf's requests: inputs built from a model's metadata, reference outputs. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

static const struct {
    const char *name;
    loom_dtype dt;
} types[] = {
    {"BOOL", LOOM_DTYPE_BOOL},     {"UINT8", LOOM_DTYPE_UINT8},   {"UINT16", LOOM_DTYPE_UINT16},
    {"UINT32", LOOM_DTYPE_UINT32}, {"UINT64", LOOM_DTYPE_UINT64}, {"INT8", LOOM_DTYPE_INT8},
    {"INT16", LOOM_DTYPE_INT16},   {"INT32", LOOM_DTYPE_INT32},   {"INT64", LOOM_DTYPE_INT64},
    {"FP16", LOOM_DTYPE_FLOAT16},  {"FP32", LOOM_DTYPE_FLOAT},    {"FP64", LOOM_DTYPE_DOUBLE}};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Deterministic data: small values so integer models neither overflow nor saturate. */
static void fill(loom_client_tensor *t, uint64_t seed)
{
    size_t n = loom_dtype_size(t->dtype) ? t->size / loom_dtype_size(t->dtype) : 0;
    uint64_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&s);
        double u = (double)(r >> 11) / 9007199254740992.0; /* [0, 1) */
        switch (t->dtype) {
        case LOOM_DTYPE_FLOAT:
            ((float *)t->data)[i] = (float)(u * 2 - 1);
            break;
        case LOOM_DTYPE_DOUBLE:
            ((double *)t->data)[i] = u * 2 - 1;
            break;
        case LOOM_DTYPE_BOOL:
            ((uint8_t *)t->data)[i] = r & 1;
            break;
        default: {
            int64_t v = (int64_t)(r % 10);
            memcpy((char *)t->data + i * loom_dtype_size(t->dtype), &v, loom_dtype_size(t->dtype));
        }
        }
    }
}

static int add_input(workload *w, const char *name, loom_dtype dt, int rank, const int64_t *dims,
                     int batch, char *err, size_t errlen)
{
    if (w->n_in == WL_MAX_IO || rank > LOOM_MAX_RANK || !loom_dtype_size(dt)) {
        snprintf(err, errlen, "input '%s': unsupported (type, rank or count)", name);
        return -1;
    }
    size_t i = w->n_in++;
    snprintf(w->names[i], sizeof(w->names[i]), "%s", name);
    for (int k = 0; k < w->n_samples; k++) {
        loom_client_tensor *t = &w->in[k][i];
        t->name = w->names[i];
        t->dtype = dt;
        t->rank = rank;
        size_t count = 1;
        for (int d = 0; d < rank; d++) {
            t->dims[d] = dims[d] >= 0 ? dims[d] : d == 0 ? batch : 1;
            count *= (size_t)t->dims[d];
        }
        t->size = count * loom_dtype_size(dt);
        t->data = calloc(1, t->size ? t->size : 1);
        if (!t->data) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        fill(t, (uint64_t)(k * 131 + i + 1));
    }
    return 0;
}

int workload_from_server(loom_client *c, const char *model, int64_t version, int batch, workload *w,
                         char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->model, sizeof(w->model), "%s", model);
    w->version = version;
    w->n_samples = WL_MAX_SAMPLES;
    char path[300], *body = NULL;
    int status;
    if (version > 0)
        snprintf(path, sizeof(path), "/v2/models/%s/versions/%lld", model, (long long)version);
    else
        snprintf(path, sizeof(path), "/v2/models/%s", model);
    if (loom_client_request(c, "GET", path, NULL, 0, &status, &body, NULL) || status != 200) {
        snprintf(err, errlen, "model metadata: %s", body ? body : loom_client_error(c));
        free(body);
        return -1;
    }
    json_object *o = json_tokener_parse(body), *ins;
    free(body);
    if (!o || !json_object_object_get_ex(o, "inputs", &ins) ||
        !json_object_is_type(ins, json_type_array)) {
        json_object_put(o);
        snprintf(err, errlen, "model metadata without inputs");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < json_object_array_length(ins); i++) {
        json_object *e = json_object_array_get_idx(ins, i), *nm, *dt, *sh;
        if (!json_object_object_get_ex(e, "name", &nm) ||
            !json_object_object_get_ex(e, "datatype", &dt) ||
            !json_object_object_get_ex(e, "shape", &sh)) {
            snprintf(err, errlen, "malformed input metadata");
            rc = -1;
            break;
        }
        loom_dtype d = LOOM_DTYPE_UNDEFINED;
        for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
            if (strcmp(types[k].name, json_object_get_string(dt)) == 0)
                d = types[k].dt;
        int64_t dims[LOOM_MAX_RANK];
        int rank = (int)json_object_array_length(sh);
        for (int k = 0; k < rank && k < LOOM_MAX_RANK; k++)
            dims[k] = json_object_get_int64(json_object_array_get_idx(sh, (size_t)k));
        rc = add_input(w, json_object_get_string(nm), d, rank, dims, batch, err, errlen);
    }
    json_object_put(o);
    return rc;
}

int workload_from_model(loom_model *m, int batch, workload *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->n_samples = WL_MAX_SAMPLES;
    for (size_t i = 0; i < loom_model_input_count(m); i++) {
        loom_value_info vi;
        loom_model_input_info(m, i, &vi);
        if (add_input(w, vi.name, vi.dtype, vi.rank < 0 ? 0 : vi.rank, vi.dims, batch, err, errlen))
            return -1;
    }
    return 0;
}

int workload_take_reference(loom_client *c, workload *w, char *err, size_t errlen)
{
    for (int k = 0; k < w->n_samples; k++) {
        int rc = loom_client_infer(c, w->model, w->version, NULL, w->in[k], w->n_in, &w->ref[k]);
        if (rc) {
            snprintf(err, errlen, "reference request: %s", loom_client_error(c));
            return -1;
        }
    }
    return 0;
}

bool workload_check(const workload *w, int k, const loom_client_result *r)
{
    const loom_client_result *ref = w->ref[k];
    if (!ref)
        return true;
    if (r->n_outputs != ref->n_outputs)
        return false;
    for (size_t o = 0; o < r->n_outputs; o++) {
        const loom_client_tensor *a = &r->outputs[o], *b = &ref->outputs[o];
        if (a->dtype != b->dtype || a->size != b->size || a->rank != b->rank ||
            strcmp(a->name, b->name) != 0)
            return false;
        if (a->dtype == LOOM_DTYPE_FLOAT) {
            /* Batched runs may sum in another order: allow rounding differences. */
            for (size_t i = 0; i < a->size / 4; i++) {
                float x = ((const float *)a->data)[i], y = ((const float *)b->data)[i];
                if (!(fabsf(x - y) <= 1e-5f + 1e-3f * fabsf(y)))
                    return false;
            }
        } else if (memcmp(a->data, b->data, a->size) != 0) {
            return false;
        }
    }
    return true;
}

void workload_free(workload *w)
{
    for (int k = 0; k < w->n_samples; k++) {
        for (size_t i = 0; i < w->n_in; i++)
            free(w->in[k][i].data);
        loom_client_result_free(w->ref[k]);
    }
    memset(w, 0, sizeof(*w));
}
