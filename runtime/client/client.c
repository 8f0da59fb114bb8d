/* client.c - libloom-client: KServe v2 requests to loomd through libcurl, responses via json-c. */
#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loom/loom_client.h"
#include "loomd/sbuf.h"

struct loom_client {
    CURL *curl;
    struct curl_slist *json_headers; /* Content-Type, no Expect: 100-continue */
    char base[256];                  /* "http://localhost" or "http://host:port" */
    char error[512];
    sbuf resp;
    long long header_len; /* Inference-Header-Content-Length of the last response; -1 none */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int fail(loom_client *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return rc;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    loom_client *c = arg;
    sbuf_add(&c->resp, p, size * n);
    return c->resp.oom ? 0 : size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    loom_client *c = arg;
    static const char key[] = "inference-header-content-length:";
    size_t len = size * n;
    if (len > sizeof(key) && strncasecmp(p, key, sizeof(key) - 1) == 0) {
        char num[32];
        size_t k =
            len - (sizeof(key) - 1) < sizeof(num) - 1 ? len - (sizeof(key) - 1) : sizeof(num) - 1;
        memcpy(num, p + sizeof(key) - 1, k);
        num[k] = '\0';
        c->header_len = strtoll(num, NULL, 10);
    }
    return len;
}

static int client_new(loom_client **out)
{
    pthread_once(&curl_once, curl_init_once);
    loom_client *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->curl = curl_easy_init();
    c->json_headers = curl_slist_append(NULL, "Expect:");
    if (!c->curl || !c->json_headers) {
        loom_client_close(c);
        return -1;
    }
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    *out = c;
    return 0;
}

int loom_client_connect(const char *socket_path, loom_client **out)
{
    char buf[256];
    if (!socket_path) {
        const char *s = getenv("LOOM_SOCKET"), *x = getenv("XDG_RUNTIME_DIR");
        if (s && *s)
            snprintf(buf, sizeof(buf), "%s", s);
        else if (x && *x)
            snprintf(buf, sizeof(buf), "%s/loom/loomd.sock", x);
        else
            snprintf(buf, sizeof(buf), "/run/loom/loomd.sock");
        socket_path = buf;
    }
    loom_client *c;
    if (client_new(&c))
        return -1;
    curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    snprintf(c->base, sizeof(c->base), "http://localhost");
    *out = c;
    return 0;
}

int loom_client_connect_tcp(const char *host, int port, loom_client **out)
{
    loom_client *c;
    if (!host || strlen(host) > 200 || port <= 0 || port > 65535 || client_new(&c))
        return -1;
    snprintf(c->base, sizeof(c->base), "http://%s:%d", host, port);
    *out = c;
    return 0;
}

void loom_client_close(loom_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->json_headers);
    sbuf_free(&c->resp);
    free(c);
}

const char *loom_client_error(const loom_client *c)
{
    return c ? c->error : "no client";
}

/* Sends a request; the body lands in c->resp. Returns the HTTP status or -1. */
static int send_req(loom_client *c, const char *method, const char *path, const void *body,
                    size_t len, struct curl_slist *headers)
{
    char url[1024];
    if (snprintf(url, sizeof(url), "%s%s", c->base, path) >= (int)sizeof(url))
        return fail(c, -1, "path too long");
    c->resp.len = 0;
    c->resp.oom = false;
    c->header_len = -1;
    c->error[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers ? headers : c->json_headers);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    }
    CURLcode cc = curl_easy_perform(c->curl);
    if (cc != CURLE_OK)
        return fail(c, -1, "%s %s: %s", method, path, curl_easy_strerror(cc));
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    sbuf_reserve(&c->resp, 0); /* so data is never NULL */
    if (c->resp.oom)
        return fail(c, -1, "out of memory reading the response");
    c->resp.data[c->resp.len] = '\0';
    return (int)status;
}

/* For an error status, copies loomd's {"error": ...} into c->error and returns @status. */
static int server_error(loom_client *c, int status)
{
    json_object *o = json_tokener_parse(c->resp.data);
    json_object *e;
    if (o && json_object_object_get_ex(o, "error", &e))
        snprintf(c->error, sizeof(c->error), "HTTP %d: %s", status, json_object_get_string(e));
    else
        snprintf(c->error, sizeof(c->error), "HTTP %d", status);
    json_object_put(o);
    return status;
}

static int simple_get(loom_client *c, const char *path)
{
    int st = send_req(c, "GET", path, NULL, 0, NULL);
    return st < 0 ? -1 : st == 200 ? 0 : server_error(c, st);
}

int loom_client_server_live(loom_client *c)
{
    return simple_get(c, "/v2/health/live");
}

int loom_client_server_ready(loom_client *c)
{
    return simple_get(c, "/v2/health/ready");
}

int loom_client_model_ready(loom_client *c, const char *model, int64_t version)
{
    char path[512];
    if (version > 0)
        snprintf(path, sizeof(path), "/v2/models/%s/versions/%lld/ready", model,
                 (long long)version);
    else
        snprintf(path, sizeof(path), "/v2/models/%s/ready", model);
    return simple_get(c, path);
}

int loom_client_request(loom_client *c, const char *method, const char *path, const void *body,
                        size_t len, int *status, char **resp, size_t *resp_len)
{
    int st = send_req(c, method, path, body, len, NULL);
    if (st < 0)
        return -1;
    *status = st;
    if (resp) {
        *resp = malloc(c->resp.len + 1);
        if (!*resp)
            return fail(c, -1, "out of memory");
        memcpy(*resp, c->resp.data, c->resp.len + 1);
        if (resp_len)
            *resp_len = c->resp.len;
    }
    return 0;
}

static int control(loom_client *c, const char *model, const char *what)
{
    char path[512];
    snprintf(path, sizeof(path), "/v2/repository/models/%s/%s", model, what);
    int st = send_req(c, "POST", path, "{}", 2, NULL);
    return st < 0 ? -1 : st == 200 ? 0 : server_error(c, st);
}

int loom_client_load(loom_client *c, const char *model)
{
    return control(c, model, "load");
}

int loom_client_unload(loom_client *c, const char *model)
{
    return control(c, model, "unload");
}

static const char *wire_type(loom_dtype dt)
{
    switch (dt) {
    case LOOM_DTYPE_BOOL:
        return "BOOL";
    case LOOM_DTYPE_UINT8:
        return "UINT8";
    case LOOM_DTYPE_UINT16:
        return "UINT16";
    case LOOM_DTYPE_UINT32:
        return "UINT32";
    case LOOM_DTYPE_UINT64:
        return "UINT64";
    case LOOM_DTYPE_INT8:
        return "INT8";
    case LOOM_DTYPE_INT16:
        return "INT16";
    case LOOM_DTYPE_INT32:
        return "INT32";
    case LOOM_DTYPE_INT64:
        return "INT64";
    case LOOM_DTYPE_FLOAT16:
        return "FP16";
    case LOOM_DTYPE_FLOAT:
        return "FP32";
    case LOOM_DTYPE_DOUBLE:
        return "FP64";
    default:
        return NULL;
    }
}

/* Bytes per element; the client does not link libloom, so it keeps its own table. */
static size_t elem_size(loom_dtype dt)
{
    switch (dt) {
    case LOOM_DTYPE_BOOL:
    case LOOM_DTYPE_UINT8:
    case LOOM_DTYPE_INT8:
        return 1;
    case LOOM_DTYPE_UINT16:
    case LOOM_DTYPE_INT16:
    case LOOM_DTYPE_FLOAT16:
        return 2;
    case LOOM_DTYPE_UINT32:
    case LOOM_DTYPE_INT32:
    case LOOM_DTYPE_FLOAT:
        return 4;
    case LOOM_DTYPE_UINT64:
    case LOOM_DTYPE_INT64:
    case LOOM_DTYPE_DOUBLE:
        return 8;
    default:
        return 0;
    }
}

static loom_dtype from_wire(const char *s)
{
    for (int dt = 1; dt <= LOOM_DTYPE_UINT64; dt++)
        if (wire_type((loom_dtype)dt) && strcmp(wire_type((loom_dtype)dt), s) == 0)
            return (loom_dtype)dt;
    return LOOM_DTYPE_UNDEFINED;
}

void loom_client_result_free(loom_client_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_outputs; i++) {
        free((char *)r->outputs[i].name);
        free(r->outputs[i].data);
    }
    free(r->outputs);
    free(r->model_name);
    free(r->id);
    free(r);
}

static int parse_result(loom_client *c, loom_client_result **out)
{
    size_t jlen = c->header_len >= 0 ? (size_t)c->header_len : c->resp.len;
    if (jlen > c->resp.len)
        return fail(c, -1, "Inference-Header-Content-Length exceeds the response");
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, c->resp.data, (int)jlen) : NULL;
    json_tokener_free(tok);
    json_object *outs, *v;
    loom_client_result *r = calloc(1, sizeof(*r));
    int rc = 0;
    if (!r || !o || !json_object_object_get_ex(o, "outputs", &outs) ||
        !json_object_is_type(outs, json_type_array)) {
        rc = fail(c, -1, "malformed inference response");
        goto out;
    }
    if (json_object_object_get_ex(o, "model_name", &v))
        r->model_name = strdup(json_object_get_string(v));
    if (json_object_object_get_ex(o, "model_version", &v))
        r->model_version = strtoll(json_object_get_string(v), NULL, 10);
    if (json_object_object_get_ex(o, "id", &v))
        r->id = strdup(json_object_get_string(v));
    size_t n = json_object_array_length(outs), pos = jlen;
    r->outputs = calloc(n ? n : 1, sizeof(*r->outputs));
    if (!r->outputs) {
        rc = fail(c, -1, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++, r->n_outputs++) {
        json_object *e = json_object_array_get_idx(outs, i), *nm, *dt, *sh, *pa, *bs, *data;
        loom_client_tensor *t = &r->outputs[i];
        if (!json_object_object_get_ex(e, "name", &nm) ||
            !json_object_object_get_ex(e, "datatype", &dt) ||
            !json_object_object_get_ex(e, "shape", &sh) ||
            !json_object_is_type(sh, json_type_array) ||
            json_object_array_length(sh) > LOOM_MAX_RANK) {
            rc = fail(c, -1, "malformed output %zu", i);
            goto out;
        }
        t->name = strdup(json_object_get_string(nm));
        t->dtype = from_wire(json_object_get_string(dt));
        t->rank = (int)json_object_array_length(sh);
        size_t count = 1;
        for (int d = 0; d < t->rank; d++) {
            t->dims[d] = json_object_get_int64(json_object_array_get_idx(sh, (size_t)d));
            count *= (size_t)(t->dims[d] > 0 ? t->dims[d] : 0);
        }
        size_t esize = elem_size(t->dtype);
        if (!esize) {
            rc = fail(c, -1, "output '%s' has an unsupported datatype", t->name);
            goto out;
        }
        t->size = count * esize;
        t->data = malloc(t->size ? t->size : 1);
        if (!t->data) {
            rc = fail(c, -1, "out of memory");
            goto out;
        }
        if (json_object_object_get_ex(e, "parameters", &pa) &&
            json_object_object_get_ex(pa, "binary_data_size", &bs)) {
            size_t sz = (size_t)json_object_get_int64(bs);
            if (sz != t->size || sz > c->resp.len - pos) {
                rc = fail(c, -1, "output '%s': binary size mismatch", t->name);
                goto out;
            }
            memcpy(t->data, c->resp.data + pos, sz);
            pos += sz;
        } else if (json_object_object_get_ex(e, "data", &data) &&
                   json_object_is_type(data, json_type_array) &&
                   json_object_array_length(data) == count) {
            for (size_t k = 0; k < count; k++) {
                json_object *x = json_object_array_get_idx(data, k);
                double d = json_object_get_double(x);
                int64_t iv = json_object_get_int64(x);
                switch (t->dtype) {
                case LOOM_DTYPE_FLOAT:
                    ((float *)t->data)[k] = (float)d;
                    break;
                case LOOM_DTYPE_DOUBLE:
                    ((double *)t->data)[k] = d;
                    break;
                case LOOM_DTYPE_BOOL:
                    ((uint8_t *)t->data)[k] = json_object_get_boolean(x);
                    break;
                default:
                    /* Integers: little-endian truncation of the 64-bit value. */
                    memcpy((char *)t->data + k * esize, &iv, esize);
                }
            }
        } else {
            rc = fail(c, -1, "output '%s' has no data", t->name);
            goto out;
        }
    }
out:
    json_object_put(o);
    if (rc)
        loom_client_result_free(r);
    else
        *out = r;
    return rc;
}

int loom_client_infer(loom_client *c, const char *model, int64_t version, const char *id,
                      const loom_client_tensor *inputs, size_t n_inputs, loom_client_result **out)
{
    *out = NULL;
    char path[512];
    if (!model || strlen(model) > 200)
        return fail(c, -1, "bad model name");
    if (version > 0)
        snprintf(path, sizeof(path), "/v2/models/%s/versions/%lld/infer", model,
                 (long long)version);
    else
        snprintf(path, sizeof(path), "/v2/models/%s/infer", model);
    sbuf b = {0};
    sbuf_puts(&b, "{");
    if (id) {
        sbuf_puts(&b, "\"id\":");
        sbuf_json_str(&b, id);
        sbuf_puts(&b, ",");
    }
    sbuf_puts(&b, "\"parameters\":{\"binary_data_output\":true},\"inputs\":[");
    for (size_t i = 0; i < n_inputs; i++) {
        const loom_client_tensor *t = &inputs[i];
        const char *wt = wire_type(t->dtype);
        if (!wt || t->rank < 0 || t->rank > LOOM_MAX_RANK || !t->name) {
            sbuf_free(&b);
            return fail(c, -1, "input %zu: bad name, type or rank", i);
        }
        sbuf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
        sbuf_json_str(&b, t->name);
        sbuf_printf(&b, ",\"datatype\":\"%s\",\"shape\":[", wt);
        for (int d = 0; d < t->rank; d++)
            sbuf_printf(&b, d ? ",%lld" : "%lld", (long long)t->dims[d]);
        sbuf_printf(&b, "],\"parameters\":{\"binary_data_size\":%zu}}", t->size);
    }
    sbuf_puts(&b, "]}");
    size_t jlen = b.len;
    for (size_t i = 0; i < n_inputs; i++)
        sbuf_add(&b, inputs[i].data, inputs[i].size);
    if (b.oom) {
        sbuf_free(&b);
        return fail(c, -1, "out of memory");
    }
    char hdr[64];
    snprintf(hdr, sizeof(hdr), "Inference-Header-Content-Length: %zu", jlen);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    struct curl_slist *h2 = h ? curl_slist_append(h, hdr) : NULL;
    struct curl_slist *h3 =
        h2 ? curl_slist_append(h2, "Content-Type: application/octet-stream") : NULL;
    if (!h3) {
        curl_slist_free_all(h);
        sbuf_free(&b);
        return fail(c, -1, "out of memory");
    }
    int st = send_req(c, "POST", path, b.data, b.len, h3);
    curl_slist_free_all(h3);
    sbuf_free(&b);
    if (st < 0)
        return -1;
    if (st != 200)
        return server_error(c, st);
    return parse_result(c, out) ? -1 : 0;
}
