/* infer.c - `loomctl infer`: send one inference request to loomd, print the answer as JSON. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tensor_io.h"
#include "loom/loom_client.h"
#include "loomctl.h"

#define MAX_IO 64

static int usage(void)
{
    fprintf(stderr, "usage: loomctl infer MODEL [--socket PATH | --tcp HOST:PORT] [--version V]\n"
                    "                     (--input NAME=FILE.npy|.pb ... | --json FILE|-)\n");
    return 2;
}

/* KServe's datatype names, as loomd itself prints them. */
static const char *kserve_type(loom_dtype dt)
{
    static const char *names[] = {
        [LOOM_DTYPE_BOOL] = "BOOL",     [LOOM_DTYPE_UINT8] = "UINT8",
        [LOOM_DTYPE_UINT16] = "UINT16", [LOOM_DTYPE_UINT32] = "UINT32",
        [LOOM_DTYPE_UINT64] = "UINT64", [LOOM_DTYPE_INT8] = "INT8",
        [LOOM_DTYPE_INT16] = "INT16",   [LOOM_DTYPE_INT32] = "INT32",
        [LOOM_DTYPE_INT64] = "INT64",   [LOOM_DTYPE_FLOAT16] = "FP16",
        [LOOM_DTYPE_FLOAT] = "FP32",    [LOOM_DTYPE_DOUBLE] = "FP64",
    };
    const char *n = dt > 0 && dt <= LOOM_DTYPE_UINT64 ? names[dt] : NULL;
    return n ? n : "BYTES";
}

/* The response's outputs with their values, as one JSON document. */
static json_object *result_json(const loom_client_result *r)
{
    json_object *o = json_object_new_object(), *outs = json_object_new_array();
    json_object_object_add(o, "model_name", json_object_new_string(r->model_name));
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)r->model_version);
    json_object_object_add(o, "model_version", json_object_new_string(v));
    for (size_t i = 0; i < r->n_outputs; i++) {
        const loom_client_tensor *t = &r->outputs[i];
        json_object *e = json_object_new_object(), *shape = json_object_new_array(),
                    *data = json_object_new_array();
        json_object_object_add(e, "name", json_object_new_string(t->name));
        json_object_object_add(e, "datatype", json_object_new_string(kserve_type(t->dtype)));
        for (int d = 0; d < t->rank; d++)
            json_object_array_add(shape, json_object_new_int64(t->dims[d]));
        size_t n = loom_dtype_size(t->dtype) ? t->size / loom_dtype_size(t->dtype) : 0;
        for (size_t k = 0; k < n; k++) {
            const void *p = t->data;
            json_object *x;
            switch (t->dtype) {
            case LOOM_DTYPE_FLOAT:
                x = json_object_new_double(((const float *)p)[k]);
                break;
            case LOOM_DTYPE_DOUBLE:
                x = json_object_new_double(((const double *)p)[k]);
                break;
            case LOOM_DTYPE_BOOL:
                x = json_object_new_boolean(((const uint8_t *)p)[k]);
                break;
            case LOOM_DTYPE_INT8:
                x = json_object_new_int64(((const int8_t *)p)[k]);
                break;
            case LOOM_DTYPE_UINT8:
                x = json_object_new_int64(((const uint8_t *)p)[k]);
                break;
            case LOOM_DTYPE_INT16:
                x = json_object_new_int64(((const int16_t *)p)[k]);
                break;
            case LOOM_DTYPE_UINT16:
                x = json_object_new_int64(((const uint16_t *)p)[k]);
                break;
            case LOOM_DTYPE_INT32:
                x = json_object_new_int64(((const int32_t *)p)[k]);
                break;
            case LOOM_DTYPE_UINT32:
                x = json_object_new_int64(((const uint32_t *)p)[k]);
                break;
            case LOOM_DTYPE_INT64:
                x = json_object_new_int64(((const int64_t *)p)[k]);
                break;
            case LOOM_DTYPE_UINT64:
                x = json_object_new_uint64(((const uint64_t *)p)[k]);
                break;
            default:
                x = NULL;
            }
            json_object_array_add(data, x);
        }
        json_object_object_add(e, "shape", shape);
        json_object_object_add(e, "data", data);
        json_object_array_add(outs, e);
    }
    json_object_object_add(o, "outputs", outs);
    return o;
}

static int send_json(loom_client *c, const char *model, long long version, const char *file)
{
    void *body = NULL;
    size_t len = 0;
    if (strcmp(file, "-") == 0) {
        size_t cap = 0;
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
            if (len + n + 1 > cap) {
                cap = (len + n + 1) * 2;
                void *p = realloc(body, cap);
                if (!p) {
                    free(body);
                    fprintf(stderr, "loomctl infer: out of memory\n");
                    return 1;
                }
                body = p;
            }
            memcpy((char *)body + len, buf, n);
            len += n;
        }
    } else if (tio_read_file(file, &body, &len) != LOOM_OK) {
        fprintf(stderr, "loomctl infer: %s: %s\n", file, loom_last_error());
        return 1;
    }
    char path[512];
    if (version > 0)
        snprintf(path, sizeof(path), "/v2/models/%s/versions/%lld/infer", model, version);
    else
        snprintf(path, sizeof(path), "/v2/models/%s/infer", model);
    int status = 0;
    char *resp = NULL;
    int rc = loom_client_request(c, "POST", path, body ? body : "", len, &status, &resp, NULL);
    free(body);
    if (rc) {
        fprintf(stderr, "loomctl infer: %s\n", loom_client_error(c));
        return 1;
    }
    printf("%s\n", resp);
    free(resp);
    return status == 200 ? 0 : 1;
}

int loomctl_infer(int argc, char **argv)
{
    const char *model = NULL, *sock = NULL, *tcp = NULL, *json = NULL;
    long long version = 0;
    loom_client_tensor in[MAX_IO];
    loom_tensor *held[MAX_IO];
    char *names[MAX_IO];
    size_t n_in = 0;
    int rc = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (model)
                return usage();
            model = a;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--socket") == 0) {
            sock = v;
        } else if (strcmp(a, "--tcp") == 0) {
            tcp = v;
        } else if (strcmp(a, "--version") == 0) {
            version = atoll(v);
        } else if (strcmp(a, "--json") == 0) {
            json = v;
        } else if (strcmp(a, "--input") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || n_in == MAX_IO)
                return usage();
            char *tname = NULL;
            if (tio_load(eq + 1, &held[n_in], &tname) != LOOM_OK) {
                fprintf(stderr, "loomctl infer: %s: %s\n", eq + 1, loom_last_error());
                goto out;
            }
            free(tname);
            loom_tensor *t = held[n_in];
            names[n_in] = strndup(v, (size_t)(eq - v));
            in[n_in] = (loom_client_tensor){.name = names[n_in],
                                            .dtype = loom_tensor_dtype(t),
                                            .rank = loom_tensor_rank(t),
                                            .data = loom_tensor_data(t),
                                            .size = loom_tensor_size(t)};
            memcpy(in[n_in].dims, loom_tensor_dims(t), sizeof(int64_t) * (size_t)in[n_in].rank);
            n_in++;
        } else {
            return usage();
        }
    }
    if (!model || (!json && n_in == 0) || (json && n_in))
        return usage();
    loom_client *c = NULL;
    if (tcp) {
        const char *colon = strrchr(tcp, ':');
        char host[256];
        if (!colon || (size_t)(colon - tcp) >= sizeof(host))
            return usage();
        memcpy(host, tcp, (size_t)(colon - tcp));
        host[colon - tcp] = '\0';
        loom_client_connect_tcp(host, atoi(colon + 1), &c);
    } else {
        loom_client_connect(sock, &c);
    }
    if (!c) {
        fprintf(stderr, "loomctl infer: cannot create a client\n");
        goto out;
    }
    if (json) {
        rc = send_json(c, model, version, json);
    } else {
        loom_client_result *r = NULL;
        int st = loom_client_infer(c, model, version, NULL, in, n_in, &r);
        if (st) {
            fprintf(stderr, "loomctl infer: %s\n", loom_client_error(c));
        } else {
            json_object *o = result_json(r);
            printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
            json_object_put(o);
            rc = 0;
        }
        loom_client_result_free(r);
    }
    loom_client_close(c);
out:
    for (size_t i = 0; i < n_in; i++) {
        loom_tensor_destroy(held[i]);
        free(names[i]);
    }
    return rc;
}
