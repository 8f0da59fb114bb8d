/* codec.c - decodes KServe v2 inference requests (json-c) and encodes responses. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loomd/codec.h"
#include "loomd/sbuf.h"

/* Nesting allowed in a request: objects plus data arrays of the highest rank. */
#define JSON_DEPTH (LOOM_MAX_RANK + 8)

static const struct {
    loom_dtype dt;
    const char *name;
} dtypes[] = {
    {LOOM_DTYPE_BOOL, "BOOL"},     {LOOM_DTYPE_UINT8, "UINT8"},   {LOOM_DTYPE_UINT16, "UINT16"},
    {LOOM_DTYPE_UINT32, "UINT32"}, {LOOM_DTYPE_UINT64, "UINT64"}, {LOOM_DTYPE_INT8, "INT8"},
    {LOOM_DTYPE_INT16, "INT16"},   {LOOM_DTYPE_INT32, "INT32"},   {LOOM_DTYPE_INT64, "INT64"},
    {LOOM_DTYPE_FLOAT16, "FP16"},  {LOOM_DTYPE_FLOAT, "FP32"},    {LOOM_DTYPE_DOUBLE, "FP64"},
};

const char *codec_datatype_name(loom_dtype dt)
{
    for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
        if (dtypes[i].dt == dt)
            return dtypes[i].name;
    return NULL;
}

static loom_dtype datatype_from_name(const char *s)
{
    for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
        if (strcmp(dtypes[i].name, s) == 0)
            return dtypes[i].dt;
    return LOOM_DTYPE_UNDEFINED;
}

void codec_request_free(infer_request *rq)
{
    for (size_t i = 0; i < CODEC_MAX_IO; i++) {
        loom_tensor_destroy(rq->inputs[i]);
        rq->inputs[i] = NULL;
    }
    free(rq->id);
    rq->id = NULL;
}

/* Stores JSON value @v as element @i of @t; false if the value does not fit the type. */
static bool put_elem(loom_tensor *t, int64_t i, json_object *v)
{
    void *p = loom_tensor_data(t);
    loom_dtype dt = loom_tensor_dtype(t);
    if (dt == LOOM_DTYPE_BOOL) {
        if (!json_object_is_type(v, json_type_boolean))
            return false;
        ((uint8_t *)p)[i] = json_object_get_boolean(v) ? 1 : 0;
        return true;
    }
    if (dt == LOOM_DTYPE_FLOAT || dt == LOOM_DTYPE_DOUBLE) {
        if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
            return false;
        double d = json_object_get_double(v);
        if (dt == LOOM_DTYPE_FLOAT)
            ((float *)p)[i] = (float)d;
        else
            ((double *)p)[i] = d;
        return true;
    }
    if (!json_object_is_type(v, json_type_int))
        return false;
    errno = 0;
    int64_t x = json_object_get_int64(v);
    uint64_t u = json_object_get_uint64(v);
    bool neg = x < 0;
    switch (dt) {
    case LOOM_DTYPE_INT8:
        if (x < INT8_MIN || x > INT8_MAX)
            return false;
        ((int8_t *)p)[i] = (int8_t)x;
        return true;
    case LOOM_DTYPE_INT16:
        if (x < INT16_MIN || x > INT16_MAX)
            return false;
        ((int16_t *)p)[i] = (int16_t)x;
        return true;
    case LOOM_DTYPE_INT32:
        if (x < INT32_MIN || x > INT32_MAX)
            return false;
        ((int32_t *)p)[i] = (int32_t)x;
        return true;
    case LOOM_DTYPE_INT64:
        if (!neg && u > INT64_MAX)
            return false;
        ((int64_t *)p)[i] = x;
        return true;
    case LOOM_DTYPE_UINT8:
        if (neg || u > UINT8_MAX)
            return false;
        ((uint8_t *)p)[i] = (uint8_t)u;
        return true;
    case LOOM_DTYPE_UINT16:
        if (neg || u > UINT16_MAX)
            return false;
        ((uint16_t *)p)[i] = (uint16_t)u;
        return true;
    case LOOM_DTYPE_UINT32:
        if (neg || u > UINT32_MAX)
            return false;
        ((uint32_t *)p)[i] = (uint32_t)u;
        return true;
    case LOOM_DTYPE_UINT64:
        if (neg)
            return false;
        ((uint64_t *)p)[i] = u;
        return true;
    default:
        return false;
    }
}

/* Flattens @data (a value or nested arrays) into @t in row-major order. */
static int fill_json(loom_tensor *t, json_object *data, int64_t *pos, int64_t count, int depth,
                     const char *name, char *err, size_t errlen)
{
    if (json_object_is_type(data, json_type_array)) {
        if (depth > LOOM_MAX_RANK) {
            snprintf(err, errlen, "input '%s': data nested too deeply", name);
            return -EINVAL;
        }
        size_t n = json_object_array_length(data);
        for (size_t k = 0; k < n; k++)
            if (fill_json(t, json_object_array_get_idx(data, k), pos, count, depth + 1, name, err,
                          errlen))
                return -EINVAL;
        return 0;
    }
    if (*pos >= count) {
        snprintf(err, errlen, "input '%s': more data elements than the shape holds (%lld)", name,
                 (long long)count);
        return -EINVAL;
    }
    if (!put_elem(t, *pos, data)) {
        snprintf(err, errlen, "input '%s': element %lld is not a valid %s", name, (long long)*pos,
                 codec_datatype_name(loom_tensor_dtype(t)));
        return -EINVAL;
    }
    (*pos)++;
    return 0;
}

static bool get_bool_param(json_object *params, const char *key, bool *out)
{
    json_object *v;
    if (!params || !json_object_object_get_ex(params, key, &v))
        return true;
    if (!json_object_is_type(v, json_type_boolean))
        return false;
    *out = json_object_get_boolean(v);
    return true;
}

static int decode_input(loom_model *model, const codec_limits *lim, json_object *in,
                        const char *bin, size_t bin_len, size_t *bin_pos, infer_request *rq,
                        char *err, size_t errlen)
{
    json_object *jname, *jtype, *jshape, *jdata = NULL, *params = NULL;
    if (!json_object_is_type(in, json_type_object) ||
        !json_object_object_get_ex(in, "name", &jname) ||
        !json_object_is_type(jname, json_type_string)) {
        snprintf(err, errlen, "each input needs a \"name\" string");
        return -EINVAL;
    }
    const char *name = json_object_get_string(jname);
    size_t idx;
    if (loom_model_input_index(model, name, &idx) != LOOM_OK) {
        snprintf(err, errlen, "unknown input '%.128s'", name);
        return -EINVAL;
    }
    if (rq->inputs[idx]) {
        snprintf(err, errlen, "input '%.128s' given twice", name);
        return -EINVAL;
    }
    loom_value_info vi;
    loom_model_input_info(model, idx, &vi);
    if (!json_object_object_get_ex(in, "datatype", &jtype) ||
        !json_object_is_type(jtype, json_type_string)) {
        snprintf(err, errlen, "input '%s' needs a \"datatype\" string", name);
        return -EINVAL;
    }
    loom_dtype dt = datatype_from_name(json_object_get_string(jtype));
    if (dt != vi.dtype) {
        snprintf(err, errlen, "input '%s' has datatype %.16s, the model expects %s", name,
                 json_object_get_string(jtype),
                 codec_datatype_name(vi.dtype) ? codec_datatype_name(vi.dtype) : "?");
        return -EINVAL;
    }
    if (!json_object_object_get_ex(in, "shape", &jshape) ||
        !json_object_is_type(jshape, json_type_array) ||
        json_object_array_length(jshape) > LOOM_MAX_RANK) {
        snprintf(err, errlen, "input '%s' needs a \"shape\" array of at most %d dims", name,
                 LOOM_MAX_RANK);
        return -EINVAL;
    }
    int rank = (int)json_object_array_length(jshape);
    int64_t dims[LOOM_MAX_RANK], count = 1;
    for (int d = 0; d < rank; d++) {
        json_object *x = json_object_array_get_idx(jshape, (size_t)d);
        dims[d] = json_object_is_type(x, json_type_int) ? json_object_get_int64(x) : -1;
        if (dims[d] < 0 || (dims[d] > 0 && count > lim->max_elements / dims[d])) {
            snprintf(err, errlen,
                     "input '%s': bad shape (dims are integers >= 0, at most %lld "
                     "elements)",
                     name, (long long)lim->max_elements);
            return -EINVAL;
        }
        count *= dims[d];
    }
    if (vi.rank >= 0) {
        bool ok = vi.rank == rank;
        for (int d = 0; ok && d < rank; d++)
            ok = vi.dims[d] < 0 || vi.dims[d] == dims[d];
        if (!ok) {
            snprintf(err, errlen, "input '%s': shape does not fit the model's (rank %d)", name,
                     vi.rank);
            return -EINVAL;
        }
    }
    if (lim->max_batch_size > 0) {
        if (rank < 1 || dims[0] < 1 || dims[0] > lim->max_batch_size) {
            snprintf(err, errlen, "input '%s': batch dimension must be in 1..%d", name,
                     lim->max_batch_size);
            return -EINVAL;
        }
        if (rq->rows && rq->rows != dims[0]) {
            snprintf(err, errlen, "inputs disagree on the batch size (%lld vs %lld)",
                     (long long)rq->rows, (long long)dims[0]);
            return -EINVAL;
        }
        rq->rows = dims[0];
    }
    json_object_object_get_ex(in, "parameters", &params);
    json_object *jsize = NULL;
    if (params && json_object_is_type(params, json_type_object))
        json_object_object_get_ex(params, "binary_data_size", &jsize);
    size_t esize = loom_dtype_size(dt);
    loom_tensor *t;
    if (loom_tensor_create(dt, rank, dims, &t) != LOOM_OK) {
        snprintf(err, errlen, "input '%s': %s", name, loom_last_error());
        return -EINVAL;
    }
    rq->inputs[idx] = t;
    if (jsize) {
        int64_t n = json_object_is_type(jsize, json_type_int) ? json_object_get_int64(jsize) : -1;
        if (n < 0 || (uint64_t)n != (uint64_t)count * esize) {
            snprintf(err, errlen, "input '%s': binary_data_size must be %lld bytes", name,
                     (long long)count * (long long)esize);
            return -EINVAL;
        }
        if ((size_t)n > bin_len - *bin_pos) {
            snprintf(err, errlen, "input '%s': the body holds fewer binary bytes than declared",
                     name);
            return -EINVAL;
        }
        if (n)
            memcpy(loom_tensor_data(t), bin + *bin_pos, (size_t)n);
        *bin_pos += (size_t)n;
        return 0;
    }
    if (!json_object_object_get_ex(in, "data", &jdata)) {
        snprintf(err, errlen, "input '%s' has neither \"data\" nor binary_data_size", name);
        return -EINVAL;
    }
    if (dt == LOOM_DTYPE_FLOAT16) {
        snprintf(err, errlen, "input '%s': FP16 travels only as binary data", name);
        return -EINVAL;
    }
    int64_t pos = 0;
    if (fill_json(t, jdata, &pos, count, 0, name, err, errlen))
        return -EINVAL;
    if (pos != count) {
        snprintf(err, errlen, "input '%s': %lld data elements, the shape needs %lld", name,
                 (long long)pos, (long long)count);
        return -EINVAL;
    }
    return 0;
}

static int decode_outputs(loom_model *model, json_object *outs, infer_request *rq, char *err,
                          size_t errlen)
{
    if (!json_object_is_type(outs, json_type_array) ||
        json_object_array_length(outs) > CODEC_MAX_IO) {
        snprintf(err, errlen, "\"outputs\" must be an array");
        return -EINVAL;
    }
    size_t n_out = loom_model_output_count(model);
    for (size_t k = 0; k < json_object_array_length(outs); k++) {
        json_object *o = json_object_array_get_idx(outs, k), *jn, *params = NULL;
        if (!json_object_is_type(o, json_type_object) ||
            !json_object_object_get_ex(o, "name", &jn) ||
            !json_object_is_type(jn, json_type_string)) {
            snprintf(err, errlen, "each requested output needs a \"name\"");
            return -EINVAL;
        }
        const char *name = json_object_get_string(jn);
        int found = -1;
        for (size_t i = 0; i < n_out; i++) {
            loom_value_info vi;
            loom_model_output_info(model, i, &vi);
            if (strcmp(vi.name, name) == 0)
                found = (int)i;
        }
        if (found < 0) {
            snprintf(err, errlen, "unknown output '%.128s'", name);
            return -EINVAL;
        }
        bool bin = rq->binary_default;
        json_object_object_get_ex(o, "parameters", &params);
        if (params && !json_object_is_type(params, json_type_object))
            params = NULL;
        if (!get_bool_param(params, "binary_data", &bin)) {
            snprintf(err, errlen, "output '%s': binary_data must be true or false", name);
            return -EINVAL;
        }
        json_object *cls;
        if (params && json_object_object_get_ex(params, "classification", &cls)) {
            snprintf(err, errlen, "output '%s': the classification extension is not supported",
                     name);
            return -EINVAL;
        }
        rq->out_index[rq->n_outputs] = found;
        rq->out_binary[rq->n_outputs++] = bin;
    }
    return 0;
}

static int decode_object(loom_model *model, const codec_limits *lim, json_object *o,
                         const char *bin, size_t bin_len, infer_request *rq, char *err,
                         size_t errlen)
{
    json_object *v, *params = NULL;
    if (json_object_object_get_ex(o, "id", &v)) {
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 256) {
            snprintf(err, errlen, "\"id\" must be a string of at most 256 bytes");
            return -EINVAL;
        }
        if (!(rq->id = strdup(json_object_get_string(v)))) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    if (json_object_object_get_ex(o, "parameters", &params)) {
        if (!json_object_is_type(params, json_type_object)) {
            snprintf(err, errlen, "\"parameters\" must be an object");
            return -EINVAL;
        }
        if (!get_bool_param(params, "binary_data_output", &rq->binary_default)) {
            snprintf(err, errlen, "binary_data_output must be true or false");
            return -EINVAL;
        }
        if (json_object_object_get_ex(params, "timeout", &v)) {
            int64_t t = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
            if (t < 0 || t > 3600ll * 1000000) {
                snprintf(err, errlen, "timeout must be microseconds in 0..3600000000");
                return -EINVAL;
            }
            rq->timeout_us = t;
        }
    }
    if (!json_object_object_get_ex(o, "inputs", &v) || !json_object_is_type(v, json_type_array)) {
        snprintf(err, errlen, "the request needs an \"inputs\" array");
        return -EINVAL;
    }
    size_t n_in = loom_model_input_count(model);
    if (n_in > CODEC_MAX_IO || json_object_array_length(v) != n_in) {
        snprintf(err, errlen, "the model takes %zu inputs, the request has %zu", n_in,
                 json_object_array_length(v));
        return -EINVAL;
    }
    size_t bin_pos = 0;
    for (size_t k = 0; k < n_in; k++)
        if (decode_input(model, lim, json_object_array_get_idx(v, k), bin, bin_len, &bin_pos, rq,
                         err, errlen))
            return -EINVAL;
    if (bin_pos != bin_len) {
        snprintf(err, errlen, "%zu bytes of binary data are not claimed by any input",
                 bin_len - bin_pos);
        return -EINVAL;
    }
    rq->n_inputs = n_in;
    if (json_object_object_get_ex(o, "outputs", &v) && decode_outputs(model, v, rq, err, errlen))
        return -EINVAL;
    return 0;
}

int codec_decode(loom_model *model, const codec_limits *lim, const char *body, size_t len,
                 long long header_len, infer_request *rq, char *err, size_t errlen)
{
    memset(rq, 0, sizeof(*rq));
    size_t json_len = len;
    if (header_len >= 0) {
        if ((unsigned long long)header_len > len) {
            snprintf(err, errlen, "Inference-Header-Content-Length exceeds the body");
            return -EINVAL;
        }
        json_len = (size_t)header_len;
    }
    if (json_len == 0 || json_len > (size_t)INT32_MAX) {
        snprintf(err, errlen, "the request has no JSON body");
        return -EINVAL;
    }
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (!tok) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    json_object *o = json_tokener_parse_ex(tok, body, (int)json_len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    int rc = 0;
    if (!o || je != json_tokener_success) {
        snprintf(err, errlen, "invalid JSON: %s",
                 je == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(je));
        rc = -EINVAL;
    } else {
        for (size_t i = (size_t)tok->char_offset; i < json_len; i++)
            if (!strchr(" \t\r\n", body[i])) {
                snprintf(err, errlen, "invalid JSON: bytes after the object");
                rc = -EINVAL;
                break;
            }
    }
    json_tokener_free(tok);
    if (!rc && !json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "the request must be a JSON object");
        rc = -EINVAL;
    }
    if (!rc)
        rc = decode_object(model, lim, o, body + json_len, len - json_len, rq, err, errlen);
    json_object_put(o);
    if (rc)
        codec_request_free(rq);
    return rc;
}

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0    ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static void put_double(sbuf *b, double d, bool single)
{
    if (isnan(d))
        sbuf_puts(b, "NaN");
    else if (isinf(d))
        sbuf_puts(b, d > 0 ? "Infinity" : "-Infinity");
    else
        sbuf_printf(b, single ? "%.9g" : "%.17g", d);
}

static void put_values(sbuf *b, loom_tensor *t)
{
    int64_t n = loom_tensor_count(t);
    const void *p = loom_tensor_data(t);
    for (int64_t i = 0; i < n && !b->oom; i++) {
        if (i)
            sbuf_add(b, ",", 1);
        switch (loom_tensor_dtype(t)) {
        case LOOM_DTYPE_BOOL:
            sbuf_puts(b, ((const uint8_t *)p)[i] ? "true" : "false");
            break;
        case LOOM_DTYPE_FLOAT:
            put_double(b, ((const float *)p)[i], true);
            break;
        case LOOM_DTYPE_DOUBLE:
            put_double(b, ((const double *)p)[i], false);
            break;
        case LOOM_DTYPE_FLOAT16:
            put_double(b, half_to_float(((const uint16_t *)p)[i]), true);
            break;
        case LOOM_DTYPE_INT8:
            sbuf_int(b, ((const int8_t *)p)[i]);
            break;
        case LOOM_DTYPE_INT16:
            sbuf_int(b, ((const int16_t *)p)[i]);
            break;
        case LOOM_DTYPE_INT32:
            sbuf_int(b, ((const int32_t *)p)[i]);
            break;
        case LOOM_DTYPE_INT64:
            sbuf_int(b, ((const int64_t *)p)[i]);
            break;
        case LOOM_DTYPE_UINT8:
            sbuf_int(b, ((const uint8_t *)p)[i]);
            break;
        case LOOM_DTYPE_UINT16:
            sbuf_int(b, ((const uint16_t *)p)[i]);
            break;
        case LOOM_DTYPE_UINT32:
            sbuf_int(b, ((const uint32_t *)p)[i]);
            break;
        case LOOM_DTYPE_UINT64:
            sbuf_printf(b, "%llu", (unsigned long long)((const uint64_t *)p)[i]);
            break;
        default:
            sbuf_puts(b, "null");
        }
    }
}

char *codec_encode(const infer_request *rq, loom_model *model, const char *model_name,
                   int64_t version, loom_tensor *const *outputs, size_t *len, long long *json_len)
{
    int idx[CODEC_MAX_IO];
    bool bin[CODEC_MAX_IO];
    int n = rq->n_outputs;
    if (n == 0) {
        size_t all = loom_model_output_count(model);
        n = all > CODEC_MAX_IO ? CODEC_MAX_IO : (int)all;
        for (int i = 0; i < n; i++) {
            idx[i] = i;
            bin[i] = rq->binary_default;
        }
    } else {
        memcpy(idx, rq->out_index, sizeof(int) * (size_t)n);
        memcpy(bin, rq->out_binary, sizeof(bool) * (size_t)n);
    }
    sbuf b = {0};
    sbuf_puts(&b, "{\"model_name\":");
    sbuf_json_str(&b, model_name);
    sbuf_puts(&b, ",\"model_version\":\"");
    sbuf_int(&b, version);
    sbuf_puts(&b, "\"");
    if (rq->id) {
        sbuf_puts(&b, ",\"id\":");
        sbuf_json_str(&b, rq->id);
    }
    sbuf_puts(&b, ",\"outputs\":[");
    bool any_bin = false;
    for (int k = 0; k < n; k++) {
        loom_tensor *t = outputs[idx[k]];
        loom_value_info vi;
        loom_model_output_info(model, (size_t)idx[k], &vi);
        const char *dt = codec_datatype_name(loom_tensor_dtype(t));
        sbuf_puts(&b, k ? ",{\"name\":" : "{\"name\":");
        sbuf_json_str(&b, vi.name);
        sbuf_puts(&b, ",\"datatype\":\"");
        sbuf_puts(&b, dt ? dt : "BYTES");
        sbuf_puts(&b, "\",\"shape\":[");
        for (int d = 0; d < loom_tensor_rank(t); d++) {
            if (d)
                sbuf_puts(&b, ",");
            sbuf_int(&b, loom_tensor_dims(t)[d]);
        }
        sbuf_puts(&b, "]");
        if (bin[k]) {
            any_bin = true;
            sbuf_puts(&b, ",\"parameters\":{\"binary_data_size\":");
            sbuf_int(&b, (long long)loom_tensor_size(t));
            sbuf_puts(&b, "}}");
        } else {
            sbuf_puts(&b, ",\"data\":[");
            put_values(&b, t);
            sbuf_puts(&b, "]}");
        }
    }
    sbuf_puts(&b, "]}");
    *json_len = any_bin ? (long long)b.len : -1;
    for (int k = 0; any_bin && k < n; k++)
        if (bin[k])
            sbuf_add(&b, loom_tensor_data(outputs[idx[k]]), loom_tensor_size(outputs[idx[k]]));
    return sbuf_take(&b, len);
}
