/* config.c - parses loomd's server config file and models' config.json (json-c). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/loom.h"
#include "loomd/config.h"

#define MAX_CONFIG_BYTES (1 << 20)

void server_policy_defaults(server_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->max_request_bytes = 64u << 20;
    p->max_tensor_elements = 64ll << 20;
    p->drain_timeout_s = 30;
    p->poll_interval_s = 15;
    p->access_log = true;
}

static int read_text(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char *buf = malloc(MAX_CONFIG_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_CONFIG_BYTES + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > MAX_CONFIG_BYTES) {
        snprintf(err, errlen, "%s: %s", path,
                 !buf  ? "out of memory"
                 : bad ? "read error"
                       : "larger than 1 MiB");
        free(buf);
        return -EINVAL;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static json_object *parse_json(const char *text, size_t len, const char *what, char *err,
                               size_t errlen)
{
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok) {
        snprintf(err, errlen, "%s: out of memory", what);
        return NULL;
    }
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (o && e == json_tokener_success && tok->char_offset < (int)len) {
        /* Trailing bytes after the object: only whitespace is allowed. */
        for (size_t i = (size_t)tok->char_offset; i < len; i++)
            if (!strchr(" \t\r\n", text[i])) {
                e = json_tokener_error_parse_unexpected;
                break;
            }
    }
    if (!o || e != json_tokener_success) {
        snprintf(err, errlen, "%s: invalid JSON: %s", what,
                 e == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(e));
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    if (o && !json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "%s: expected a JSON object", what);
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* Reads an integer field in [lo, hi]; absent leaves *out alone. Returns -1 on a bad value. */
static int get_int(json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *out, char *err,
                   size_t errlen)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    /* Triton's JSON (from protobuf) writes 64-bit integers as strings. */
    int64_t x;
    if (json_object_is_type(v, json_type_int)) {
        x = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        errno = 0;
        x = strtoll(s, &end, 10);
        if (*s == '\0' || *end || errno) {
            snprintf(err, errlen, "\"%s\" must be an integer", key);
            return -1;
        }
    } else {
        snprintf(err, errlen, "\"%s\" must be an integer", key);
        return -1;
    }
    if (x < lo || x > hi) {
        snprintf(err, errlen, "\"%s\" must be in %lld..%lld, got %lld", key, (long long)lo,
                 (long long)hi, (long long)x);
        return -1;
    }
    *out = x;
    return 0;
}

/* A parameter's value: Triton nests it as {"string_value": ...}; NULL if absent. */
static json_object *param(json_object *params, const char *key)
{
    json_object *v, *sv;
    if (!json_object_object_get_ex(params, key, &v))
        return NULL;
    return json_object_object_get_ex(v, "string_value", &sv) ? sv : v;
}

/* A parameter that must be a string: NULL when absent; @bad set when it is
 * no string. */
static const char *param_string(json_object *params, const char *key, bool *bad)
{
    json_object *d = param(params, key);
    *bad = d && !json_object_is_type(d, json_type_string);
    return d && !*bad ? json_object_get_string(d) : NULL;
}

/* parameters.pins and parameters.objective: the planner's policy. */
static int parse_policy(json_object *params, model_config *c, char *e, size_t el)
{
    bool bad;
    const char *pins = param_string(params, "pins", &bad);
    if (bad || (pins && strlen(pins) >= sizeof(c->pins))) {
        snprintf(e, el,
                 "parameter \"pins\" must be a string of RULE=DEVICE rules, at most %zu "
                 "bytes",
                 sizeof(c->pins) - 1);
        return -1;
    }
    if (pins)
        strcpy(c->pins, pins);
    const char *obj = param_string(params, "objective", &bad);
    if (bad || (obj && strcmp(obj, "latency") && strcmp(obj, "throughput"))) {
        snprintf(e, el, "parameter \"objective\" must be \"latency\" or \"throughput\"");
        return -1;
    }
    c->objective =
        obj && strcmp(obj, "throughput") == 0 ? LOOM_OBJECTIVE_THROUGHPUT : LOOM_OBJECTIVE_LATENCY;
    return 0;
}

static int get_bool(json_object *o, const char *key, bool *out, char *err, size_t errlen)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    if (json_object_is_type(v, json_type_boolean)) {
        *out = json_object_get_boolean(v);
        return 0;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            *out = s[0] == 't';
            return 0;
        }
    }
    snprintf(err, errlen, "\"%s\" must be true or false", key);
    return -1;
}

static int get_ids(json_object *o, const char *key, unsigned *ids, int *n, char *err, size_t errlen)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > CFG_MAX_IDS) {
        snprintf(err, errlen, "\"%s\" must be an array of at most %d ids", key, CFG_MAX_IDS);
        return -1;
    }
    *n = 0;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_int) || json_object_get_int64(e) < 0 ||
            json_object_get_int64(e) > 0x7fffffff) {
            snprintf(err, errlen, "\"%s\" must hold numeric ids", key);
            return -1;
        }
        ids[(*n)++] = (unsigned)json_object_get_int64(e);
    }
    return 0;
}

int server_policy_load(const char *path, server_policy *p, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc = read_text(path, &text, &len, err, errlen);
    if (rc)
        return rc;
    char e[256] = "";
    json_object *o = parse_json(text, len, path, err, errlen);
    free(text);
    if (!o)
        return -EINVAL;
    server_policy n = *p;
    json_object *ctl, *lim;
    int64_t v;
    rc = 0;
    if (json_object_object_get_ex(o, "control", &ctl)) {
        if (get_ids(ctl, "uids", n.control_uids, &n.n_control_uids, e, sizeof(e)) ||
            get_ids(ctl, "gids", n.control_gids, &n.n_control_gids, e, sizeof(e)) ||
            get_bool(ctl, "allow_tcp", &n.tcp_model_control, e, sizeof(e)))
            rc = -EINVAL;
    }
    if (!rc && json_object_object_get_ex(o, "limits", &lim)) {
        v = (int64_t)n.max_request_bytes;
        if (get_int(lim, "max_request_bytes", 1024, 1ll << 34, &v, e, sizeof(e)))
            rc = -EINVAL;
        n.max_request_bytes = (size_t)v;
        if (!rc &&
            get_int(lim, "max_tensor_elements", 1, 1ll << 34, &n.max_tensor_elements, e, sizeof(e)))
            rc = -EINVAL;
    }
    v = n.drain_timeout_s;
    if (!rc && get_int(o, "drain_timeout_seconds", 0, 3600, &v, e, sizeof(e)))
        rc = -EINVAL;
    n.drain_timeout_s = (int)v;
    v = n.poll_interval_s;
    if (!rc && get_int(o, "repository_poll_seconds", 1, 86400, &v, e, sizeof(e)))
        rc = -EINVAL;
    n.poll_interval_s = (int)v;
    if (!rc && get_bool(o, "access_log", &n.access_log, e, sizeof(e)))
        rc = -EINVAL;
    json_object_put(o);
    if (rc) {
        snprintf(err, errlen, "%s: %s", path, e);
        return rc;
    }
    *p = n;
    return 0;
}

void model_config_defaults(model_config *c)
{
    memset(c, 0, sizeof(*c));
    c->instance_count = 1;
    strcpy(c->device, "cpu");
    c->warmup = true;
    c->vp = VP_LATEST;
    c->latest_n = 1;
}

void model_config_free(model_config *c)
{
    for (int i = 0; i < c->n_sha; i++) {
        free(c->sha_file[i]);
        free(c->sha_hex[i]);
    }
    c->n_sha = 0;
}

int model_config_copy(model_config *dst, const model_config *src)
{
    *dst = *src;
    for (int i = 0; i < src->n_sha; i++) {
        dst->sha_file[i] = strdup(src->sha_file[i]);
        dst->sha_hex[i] = strdup(src->sha_hex[i]);
        if (!dst->sha_file[i] || !dst->sha_hex[i]) {
            dst->n_sha = i + 1;
            model_config_free(dst);
            return -ENOMEM;
        }
    }
    return 0;
}

static int parse_batching(json_object *db, model_config *c, char *e, size_t el)
{
    int64_t v;
    c->dynamic_batching = true;
    json_object *pref, *qp;
    if (json_object_object_get_ex(db, "preferred_batch_size", &pref)) {
        if (!json_object_is_type(pref, json_type_array) ||
            json_object_array_length(pref) > CFG_MAX_PREFERRED) {
            snprintf(e, el, "\"preferred_batch_size\" must be an array of at most %d sizes",
                     CFG_MAX_PREFERRED);
            return -1;
        }
        for (size_t i = 0; i < json_object_array_length(pref); i++) {
            json_object *x = json_object_array_get_idx(pref, i);
            v = json_object_is_type(x, json_type_int) ? json_object_get_int64(x) : -1;
            if (v < 1 || v > c->max_batch_size) {
                snprintf(e, el, "preferred batch size must be in 1..max_batch_size (%d)",
                         c->max_batch_size);
                return -1;
            }
            c->preferred[c->n_preferred++] = (int)v;
        }
    }
    if (get_int(db, "max_queue_delay_microseconds", 0, 10000000, &c->max_queue_delay_us, e, el))
        return -1;
    if (json_object_object_get_ex(db, "default_queue_policy", &qp)) {
        v = c->max_queue_size;
        if (get_int(qp, "max_queue_size", 0, 1000000, &v, e, el) ||
            get_int(qp, "default_timeout_microseconds", 0, 3600ll * 1000000, &c->default_timeout_us,
                    e, el))
            return -1;
        c->max_queue_size = (int)v;
    }
    return 0;
}

static int parse_version_policy(json_object *vp, model_config *c, char *e, size_t el)
{
    json_object *x;
    int64_t v;
    if (json_object_object_get_ex(vp, "latest", &x)) {
        c->vp = VP_LATEST;
        v = 1;
        if (get_int(x, "num_versions", 1, CFG_MAX_VERSIONS, &v, e, el))
            return -1;
        c->latest_n = (int)v;
    } else if (json_object_object_get_ex(vp, "all", &x)) {
        c->vp = VP_ALL;
    } else if (json_object_object_get_ex(vp, "specific", &x)) {
        c->vp = VP_SPECIFIC;
        json_object *arr;
        if (!json_object_object_get_ex(x, "versions", &arr) ||
            !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) == 0 ||
            json_object_array_length(arr) > CFG_MAX_VERSIONS) {
            snprintf(e, el, "\"specific\" needs \"versions\": a list of 1..%d versions",
                     CFG_MAX_VERSIONS);
            return -1;
        }
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *y = json_object_array_get_idx(arr, i);
            v = json_object_is_type(y, json_type_int)      ? json_object_get_int64(y)
                : json_object_is_type(y, json_type_string) ? atoll(json_object_get_string(y))
                                                           : 0;
            if (v < 1) {
                snprintf(e, el, "versions are positive integers");
                return -1;
            }
            c->versions[c->n_versions++] = v;
        }
    } else {
        snprintf(e, el, "\"version_policy\" must name one of latest, all, specific");
        return -1;
    }
    return 0;
}

static bool safe_rel_path(const char *p)
{
    if (!*p || p[0] == '/' || strlen(p) > 255)
        return false;
    for (const char *s = p; *s; s++)
        if (s[0] == '.' && s[1] == '.' && (s == p || s[-1] == '/') && (s[2] == '/' || !s[2]))
            return false;
    return true;
}

/* "NAME:MULTIPLE", e.g. "sequence:16". */
static int parse_bucket(json_object *v, model_config *c, char *e, size_t el)
{
    const char *s = json_object_get_string(v), *colon = s ? strchr(s, ':') : NULL;
    char *end;
    long mult = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!json_object_is_type(v, json_type_string) || !colon || colon == s ||
        (size_t)(colon - s) >= sizeof(c->bucket_dim) || *end || mult < 2 || mult > 4096) {
        snprintf(e, el,
                 "parameter \"shape_bucket\" must be DIM:MULTIPLE (2..4096), "
                 "e.g. \"sequence:16\"");
        return -1;
    }
    memcpy(c->bucket_dim, s, (size_t)(colon - s));
    c->bucket_dim[colon - s] = '\0';
    c->bucket_multiple = (int)mult;
    return 0;
}

/* The parameters that shape a model's memory: plan cache and shape buckets. */
static int parse_memory_params(json_object *params, model_config *c, char *e, size_t el)
{
    json_object *v = param(params, "plan_cache_mb");
    if (v) {
        json_object *wrap = json_object_new_object();
        json_object_object_add(wrap, "plan_cache_mb", json_object_get(v));
        int rc = get_int(wrap, "plan_cache_mb", 1, 1 << 20, &c->plan_cache_mb, e, el);
        json_object_put(wrap);
        if (rc)
            return -1;
    }
    v = param(params, "shape_bucket");
    return v ? parse_bucket(v, c, e, el) : 0;
}

static int parse_model(json_object *o, model_config *c, char *e, size_t el)
{
    int64_t v = 0;
    json_object *x;
    if (get_int(o, "max_batch_size", 0, 4096, &v, e, el))
        return -1;
    c->max_batch_size = (int)v;
    if (json_object_object_get_ex(o, "dynamic_batching", &x)) {
        if (!json_object_is_type(x, json_type_object)) {
            snprintf(e, el, "\"dynamic_batching\" must be an object");
            return -1;
        }
        if (parse_batching(x, c, e, el))
            return -1;
        if (c->max_batch_size == 0)
            c->dynamic_batching = false; /* nothing to batch along, as in Triton */
    }
    if (json_object_object_get_ex(o, "instance_group", &x)) {
        if (!json_object_is_type(x, json_type_array) || json_object_array_length(x) < 1) {
            snprintf(e, el, "\"instance_group\" must be a non-empty array");
            return -1;
        }
        int total = 0;
        for (size_t i = 0; i < json_object_array_length(x); i++) {
            v = 1;
            if (get_int(json_object_array_get_idx(x, i), "count", 1, 64, &v, e, el))
                return -1;
            total += (int)v;
        }
        c->instance_count = total > 64 ? 64 : total;
    }
    if (json_object_object_get_ex(o, "version_policy", &x) && parse_version_policy(x, c, e, el))
        return -1;
    if (json_object_object_get_ex(o, "parameters", &x)) {
        bool bad;
        const char *dev = param_string(x, "device", &bad);
        if (bad || (dev && strlen(dev) >= sizeof(c->device))) {
            snprintf(e, el, "parameter \"device\" must be a device name");
            return -1;
        }
        if (dev)
            strcpy(c->device, dev);
        if (get_bool(x, "warmup", &c->warmup, e, el) ||
            get_bool(x, "fail_closed", &c->fail_closed, e, el) || parse_policy(x, c, e, el) ||
            parse_memory_params(x, c, e, el))
            return -1;
    }
    if (model_config_parse_io(o, c, e, el))
        return -1;
    for (int i = 0; i < c->n_warmups; i++) {
        int b = c->warmups[i].batch_size;
        if (c->max_batch_size > 0 ? b < 1 || b > c->max_batch_size : b > 1) {
            snprintf(e, el, "model_warmup \"%s\": batch_size must be in %d..%d", c->warmups[i].name,
                     c->max_batch_size > 0, c->max_batch_size > 0 ? c->max_batch_size : 1);
            return -1;
        }
    }
    if (json_object_object_get_ex(o, "sha256", &x)) {
        if (!json_object_is_type(x, json_type_object)) {
            snprintf(e, el, "\"sha256\" must map file names to hex digests");
            return -1;
        }
        json_object_object_foreach(x, key, val)
        {
            const char *hex = json_object_get_string(val);
            if (!json_object_is_type(val, json_type_string) || strlen(hex) != 64 ||
                strspn(hex, "0123456789abcdefABCDEF") != 64 || !safe_rel_path(key) ||
                c->n_sha == CFG_MAX_FILES) {
                snprintf(e, el, "\"sha256\": bad entry \"%.64s\"", key);
                return -1;
            }
            c->sha_file[c->n_sha] = strdup(key);
            c->sha_hex[c->n_sha] = strdup(hex);
            c->n_sha++;
            if (!c->sha_file[c->n_sha - 1] || !c->sha_hex[c->n_sha - 1]) {
                snprintf(e, el, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

int model_config_parse(const char *json, size_t len, model_config *c, char *err, size_t errlen)
{
    json_object *o = parse_json(json, len, "config.json", err, errlen);
    if (!o)
        return -EINVAL;
    char e[256] = "";
    int rc = parse_model(o, c, e, sizeof(e));
    json_object_put(o);
    if (rc) {
        model_config_free(c);
        snprintf(err, errlen, "config.json: %s", e);
        return -EINVAL;
    }
    return 0;
}

int model_config_load(const char *dir, model_config *c, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/config.json", dir) >= (int)sizeof(path)) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -ENAMETOOLONG;
    }
    char *text;
    size_t len;
    int rc = read_text(path, &text, &len, err, errlen);
    if (rc == -ENOENT)
        return 0;
    if (rc)
        return rc;
    rc = model_config_parse(text, len, c, err, errlen);
    free(text);
    return rc;
}
