/* api.c - routes KServe v2 requests: health, metadata, inference, repository, metrics. */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loomd/api.h"
#include "loomd/codec.h"
#include "loomd/sbuf.h"

#define MAX_SEGS 8

void api_response_free(api_response *rs)
{
    free(rs->body);
    rs->body = NULL;
}

static void set_body(api_response *rs, int status, char *body, size_t len)
{
    free(rs->body);
    rs->status = body ? status : 500;
    rs->body = body ? body : strdup("{\"error\":\"out of memory\"}");
    rs->len = body ? len : (rs->body ? strlen(rs->body) : 0);
    rs->content_type = "application/json";
    rs->header_len = -1;
}

void api_error(api_response *rs, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rs->error, sizeof(rs->error), fmt, ap);
    va_end(ap);
    sbuf b = {0};
    sbuf_puts(&b, "{\"error\":");
    sbuf_json_str(&b, rs->error);
    sbuf_puts(&b, "}");
    size_t len;
    char *body = sbuf_take(&b, &len);
    set_body(rs, status, body, len);
}

static void ok_json(api_response *rs, sbuf *b)
{
    size_t len;
    char *body = sbuf_take(b, &len);
    set_body(rs, 200, body, len);
}

static bool in_list(const gid_t *ids, int n, gid_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static bool peer_in_group(const api_peer *p, gid_t g)
{
    return p->gid == g || in_list(p->groups, p->n_groups, g);
}

/* Inference and metadata: the daemon's own user, root, or the socket's group. */
static bool may_use(loomd *d, const api_peer *p)
{
    if (!p->has_creds) /* loopback TCP (opt-in) and in-process callers; never the socket */
        return strcmp(p->transport, "unix") != 0;
    return p->uid == 0 || p->uid == d->euid || peer_in_group(p, d->socket_gid);
}

/* Loading and unloading: root, the daemon's user, or the uids/gids the config names. */
static bool may_control(loomd *d, const api_peer *p)
{
    server_policy pol = loomd_policy(d);
    if (!p->has_creds) {
        if (strcmp(p->transport, "unix") == 0)
            return false; /* credentials unreadable: refuse rather than guess */
        return strcmp(p->transport, "tcp") != 0 || pol.tcp_model_control;
    }
    if (p->uid == 0 || p->uid == d->euid)
        return true;
    for (int i = 0; i < pol.n_control_uids; i++)
        if (pol.control_uids[i] == p->uid)
            return true;
    for (int i = 0; i < pol.n_control_gids; i++)
        if (peer_in_group(p, pol.control_gids[i]))
            return true;
    return false;
}

static void server_metadata(api_response *rs)
{
    sbuf b = {0};
    sbuf_printf(&b,
                "{\"name\":\"loomd\",\"version\":\"%d.%d.%d\",\"extensions\":"
                "[\"binary_tensor_data\",\"model_repository\",\"statistics\",\"schedule_policy\"]}",
                LOOM_VERSION_MAJOR, LOOM_VERSION_MINOR, LOOM_VERSION_PATCH);
    ok_json(rs, &b);
}

static void put_io(sbuf *b, const loom_value_info *vi)
{
    sbuf_puts(b, "{\"name\":");
    sbuf_json_str(b, vi->name);
    const char *dt = codec_datatype_name(vi->dtype);
    sbuf_printf(b, ",\"datatype\":\"%s\",\"shape\":[", dt ? dt : "BYTES");
    for (int i = 0; i < vi->rank; i++)
        sbuf_printf(b, i ? ",%lld" : "%lld", (long long)vi->dims[i]);
    sbuf_puts(b, "]}");
}

static void model_metadata(repo *r, model_version *v, api_response *rs)
{
    sbuf b = {0};
    sbuf_puts(&b, "{\"name\":");
    sbuf_json_str(&b, v->name);
    sbuf_puts(&b, ",\"versions\":[");
    /* Every version being served, not only the one asked about, as Triton does. */
    int64_t vs[CFG_MAX_VERSIONS];
    int n = repo_versions(r, v->name, vs, CFG_MAX_VERSIONS);
    for (int i = 0; i < n; i++)
        sbuf_printf(&b, i ? ",\"%lld\"" : "\"%lld\"", (long long)vs[i]);
    sbuf_puts(&b, "],\"platform\":\"onnx\",\"inputs\":[");
    loom_value_info vi;
    for (size_t i = 0; i < loom_model_input_count(v->model); i++) {
        loom_model_input_info(v->model, i, &vi);
        if (i)
            sbuf_puts(&b, ",");
        put_io(&b, &vi);
    }
    sbuf_puts(&b, "],\"outputs\":[");
    for (size_t i = 0; i < loom_model_output_count(v->model); i++) {
        loom_model_output_info(v->model, i, &vi);
        if (i)
            sbuf_puts(&b, ",");
        put_io(&b, &vi);
    }
    sbuf_puts(&b, "]}");
    ok_json(rs, &b);
}

/* Triton's model configuration in its JSON form; dims exclude the batch dimension. */
static void put_config_io(sbuf *b, const loom_value_info *vi, bool batched)
{
    static const char *triton_types[] = {
        [LOOM_DTYPE_BOOL] = "TYPE_BOOL",     [LOOM_DTYPE_UINT8] = "TYPE_UINT8",
        [LOOM_DTYPE_UINT16] = "TYPE_UINT16", [LOOM_DTYPE_UINT32] = "TYPE_UINT32",
        [LOOM_DTYPE_UINT64] = "TYPE_UINT64", [LOOM_DTYPE_INT8] = "TYPE_INT8",
        [LOOM_DTYPE_INT16] = "TYPE_INT16",   [LOOM_DTYPE_INT32] = "TYPE_INT32",
        [LOOM_DTYPE_INT64] = "TYPE_INT64",   [LOOM_DTYPE_FLOAT16] = "TYPE_FP16",
        [LOOM_DTYPE_FLOAT] = "TYPE_FP32",    [LOOM_DTYPE_DOUBLE] = "TYPE_FP64",
    };
    const char *t =
        vi->dtype >= 0 && vi->dtype <= LOOM_DTYPE_UINT64 ? triton_types[vi->dtype] : NULL;
    sbuf_puts(b, "{\"name\":");
    sbuf_json_str(b, vi->name);
    sbuf_printf(b, ",\"data_type\":\"%s\",\"dims\":[", t ? t : "TYPE_STRING");
    int first = batched ? 1 : 0;
    for (int i = first; i < vi->rank; i++)
        sbuf_printf(b, i > first ? ",%lld" : "%lld", (long long)vi->dims[i]);
    sbuf_puts(b, "]}");
}

static void model_config_json(model_version *v, api_response *rs)
{
    const model_config *c = &v->cfg;
    bool batched = c->max_batch_size > 0;
    sbuf b = {0};
    sbuf_puts(&b, "{\"name\":");
    sbuf_json_str(&b, v->name);
    sbuf_printf(&b,
                ",\"platform\":\"onnxruntime_onnx\",\"backend\":\"loom\","
                "\"max_batch_size\":%d,\"input\":[",
                c->max_batch_size);
    loom_value_info vi;
    for (size_t i = 0; i < loom_model_input_count(v->model); i++) {
        loom_model_input_info(v->model, i, &vi);
        if (i)
            sbuf_puts(&b, ",");
        put_config_io(&b, &vi, batched);
    }
    sbuf_puts(&b, "],\"output\":[");
    for (size_t i = 0; i < loom_model_output_count(v->model); i++) {
        loom_model_output_info(v->model, i, &vi);
        if (i)
            sbuf_puts(&b, ",");
        put_config_io(&b, &vi, batched);
    }
    sbuf_printf(&b, "],\"instance_group\":[{\"name\":\"%s\",\"count\":%d,\"kind\":\"%s\"}]",
                c->device, c->instance_count,
                strcmp(c->device, "cpu") == 0 ? "KIND_CPU" : "KIND_MODEL");
    if (c->dynamic_batching) {
        sbuf_puts(&b, ",\"dynamic_batching\":{\"preferred_batch_size\":[");
        for (int i = 0; i < c->n_preferred; i++)
            sbuf_printf(&b, i ? ",%d" : "%d", c->preferred[i]);
        sbuf_printf(&b,
                    "],\"max_queue_delay_microseconds\":%lld,\"default_queue_policy\":"
                    "{\"max_queue_size\":%d,\"default_timeout_microseconds\":%lld}}",
                    (long long)c->max_queue_delay_us, c->max_queue_size,
                    (long long)c->default_timeout_us);
    }
    sbuf_puts(&b, ",\"version_policy\":");
    if (c->vp == VP_ALL) {
        sbuf_puts(&b, "{\"all\":{}}");
    } else if (c->vp == VP_LATEST) {
        sbuf_printf(&b, "{\"latest\":{\"num_versions\":%d}}", c->latest_n);
    } else {
        sbuf_puts(&b, "{\"specific\":{\"versions\":[");
        for (int i = 0; i < c->n_versions; i++)
            sbuf_printf(&b, i ? ",%lld" : "%lld", (long long)c->versions[i]);
        sbuf_puts(&b, "]}}");
    }
    sbuf_puts(&b, "}");
    ok_json(rs, &b);
}

static void put_stat(sbuf *b, const char *name, unsigned long long count, unsigned long long ns,
                     bool comma)
{
    sbuf_printf(b, "%s\"%s\":{\"count\":%llu,\"ns\":%llu}", comma ? "," : "", name, count, ns);
}

static void model_stats_json(model_version *v, api_response *rs)
{
    model_stats s;
    s.success = __atomic_load_n(&v->stats.success, __ATOMIC_RELAXED);
    s.success_ns = __atomic_load_n(&v->stats.success_ns, __ATOMIC_RELAXED);
    s.fail = __atomic_load_n(&v->stats.fail, __ATOMIC_RELAXED);
    s.fail_ns = __atomic_load_n(&v->stats.fail_ns, __ATOMIC_RELAXED);
    s.queue_ns = __atomic_load_n(&v->stats.queue_ns, __ATOMIC_RELAXED);
    s.compute_ns = __atomic_load_n(&v->stats.compute_ns, __ATOMIC_RELAXED);
    s.last_inference_ms = __atomic_load_n(&v->stats.last_inference_ms, __ATOMIC_RELAXED);
    sbuf b = {0};
    sbuf_puts(&b, "{\"model_stats\":[{\"name\":");
    sbuf_json_str(&b, v->name);
    sbuf_printf(&b,
                ",\"version\":\"%lld\",\"last_inference\":%llu,\"inference_count\":%llu,"
                "\"execution_count\":%llu,\"inference_stats\":{",
                (long long)v->version, s.last_inference_ms, s.success, sched_executions(v->sched));
    put_stat(&b, "success", s.success, s.success_ns, false);
    put_stat(&b, "fail", s.fail, s.fail_ns, true);
    put_stat(&b, "queue", s.success, s.queue_ns, true);
    put_stat(&b, "compute_input", s.success, 0, true);
    put_stat(&b, "compute_infer", s.success, s.compute_ns, true);
    put_stat(&b, "compute_output", s.success, 0, true);
    put_stat(&b, "cache_hit", 0, 0, true);
    put_stat(&b, "cache_miss", 0, 0, true);
    sbuf_puts(&b, "},\"batch_stats\":[]}]}");
    ok_json(rs, &b);
}

static void count(loomd *d, model_version *v, fail_reason why, int64_t queue_ns, int64_t compute_ns,
                  int64_t total_ns)
{
    metrics_request(d->metrics, v->name, v->version, why, queue_ns < 0 ? -1 : queue_ns / 1000,
                    compute_ns < 0 ? -1 : compute_ns / 1000, total_ns / 1000);
    if (why == FAIL_NONE) {
        __atomic_add_fetch(&v->stats.success, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&v->stats.success_ns, (unsigned long long)total_ns, __ATOMIC_RELAXED);
        __atomic_add_fetch(&v->stats.queue_ns, (unsigned long long)queue_ns, __ATOMIC_RELAXED);
        __atomic_add_fetch(&v->stats.compute_ns, (unsigned long long)compute_ns, __ATOMIC_RELAXED);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        __atomic_store_n(&v->stats.last_inference_ms,
                         (unsigned long long)ts.tv_sec * 1000 +
                             (unsigned long long)ts.tv_nsec / 1000000,
                         __ATOMIC_RELAXED);
    } else {
        __atomic_add_fetch(&v->stats.fail, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&v->stats.fail_ns, (unsigned long long)total_ns, __ATOMIC_RELAXED);
    }
}

int api_run_failure(loom_status st, fail_reason *why)
{
    switch (st) {
    case LOOM_ERR_SHAPE:
    case LOOM_ERR_INVALID_ARGUMENT:
        *why = FAIL_BAD_REQUEST;
        return 400;
    case LOOM_ERR_DEVICE_LOST:
        *why = FAIL_DEVICE_LOST;
        return 503;
    case LOOM_ERR_DEVICE_TIMEOUT:
        *why = FAIL_DEVICE_TIMEOUT;
        return 503;
    case LOOM_ERR_DEVICE_TRANSIENT:
        *why = FAIL_DEVICE_TRANSIENT;
        return 503;
    default:
        *why = FAIL_RUNTIME;
        return 500;
    }
}

static void infer(loomd *d, model_version *v, const api_request *rq, api_response *rs)
{
    int64_t t0 = sched_now_ns();
    server_policy pol = loomd_policy(d);
    if (atomic_load(&d->draining)) {
        api_error(rs, 503, "loomd is shutting down");
        rs->retry_after = 1;
        count(d, v, FAIL_SHUTDOWN, -1, -1, sched_now_ns() - t0);
        return;
    }
    codec_limits lim = {.max_batch_size = v->cfg.max_batch_size,
                        .max_elements = pol.max_tensor_elements};
    infer_request ir;
    char err[256];
    if (codec_decode(v->model, &lim, rq->body, rq->body_len, rq->header_len, &ir, err,
                     sizeof(err))) {
        api_error(rs, 400, "%s: %s", v->name, err);
        count(d, v, FAIL_BAD_REQUEST, -1, -1, sched_now_ns() - t0);
        return;
    }
    loom_tensor **inputs = calloc(ir.n_inputs ? ir.n_inputs : 1, sizeof(*inputs));
    sched_job *job = inputs ? sched_job_new(inputs, ir.n_inputs, ir.rows) : NULL;
    if (!job) {
        free(inputs);
        codec_request_free(&ir);
        api_error(rs, 500, "out of memory");
        count(d, v, FAIL_RUNTIME, -1, -1, sched_now_ns() - t0);
        return;
    }
    /* The job owns the input tensors from here on (it may outlive this request). */
    memcpy(inputs, ir.inputs, ir.n_inputs * sizeof(*inputs));
    memset(ir.inputs, 0, sizeof(ir.inputs));
    int64_t timeout_us = ir.timeout_us ? ir.timeout_us : v->cfg.default_timeout_us;
    if (timeout_us > 0)
        job->deadline_ns = t0 + timeout_us * 1000;
    /* Non-batching models run on this thread when an instance is free; others queue. */
    bool ran = sched_run_inline(v->sched, job) == 0;
    int rc = ran ? 0 : sched_submit(v->sched, job);
    if (rc == -EBUSY) {
        api_error(rs, 503, "%s: the queue is full (max_queue_size %d)", v->name,
                  v->cfg.max_queue_size);
        rs->retry_after = 1;
        count(d, v, FAIL_QUEUE_FULL, -1, -1, sched_now_ns() - t0);
    } else if (rc == -ENOMEM) {
        api_error(rs, 500, "%s: out of memory queueing the request", v->name);
        count(d, v, FAIL_RUNTIME, -1, -1, sched_now_ns() - t0);
    } else if (rc) {
        api_error(rs, 503, "%s: version %lld is being unloaded", v->name, (long long)v->version);
        rs->retry_after = 1;
        count(d, v, FAIL_UNAVAILABLE, -1, -1, sched_now_ns() - t0);
    } else if (!ran && (rc = sched_wait(job, rq->cancel_fd)) == -ETIMEDOUT) {
        api_error(rs, 503, "%s: request timed out after %lld us", v->name, (long long)timeout_us);
        rs->retry_after = 1;
        count(d, v, FAIL_TIMEOUT, -1, -1, sched_now_ns() - t0);
    } else if (rc) {
        api_error(rs, 499, "%s: the client went away", v->name);
        count(d, v, FAIL_CANCELLED, -1, -1, sched_now_ns() - t0);
    } else if (job->status != LOOM_OK) {
        fail_reason why;
        api_error(rs, api_run_failure(job->status, &why), "%s", job->error);
        if (rs->status == 503)
            rs->retry_after = 1; /* a device fault: the request itself was fine */
        count(d, v, why, -1, -1, sched_now_ns() - t0);
    } else {
        long long json_len;
        size_t len;
        char *body =
            codec_encode(&ir, v->model, v->name, v->version, job->outputs, &len, &json_len);
        set_body(rs, 200, body, len);
        if (body && json_len >= 0) {
            rs->header_len = json_len;
            rs->content_type = "application/octet-stream";
        }
        count(d, v, body ? FAIL_NONE : FAIL_RUNTIME, job->t_start_ns - job->t_enqueue_ns,
              job->t_end_ns - job->t_start_ns, sched_now_ns() - t0);
    }
    sched_job_put(job);
    codec_request_free(&ir);
}

static void repository_index(loomd *d, const api_request *rq, api_response *rs)
{
    bool ready = false;
    if (rq->body_len) {
        json_tokener *tok = json_tokener_new_ex(8);
        json_object *o = tok && rq->body_len < (1 << 20)
                             ? json_tokener_parse_ex(tok, rq->body, (int)rq->body_len)
                             : NULL;
        json_object *r;
        if (!o || !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            json_tokener_free(tok);
            api_error(rs, 400, "the index request body must be a JSON object");
            return;
        }
        if (json_object_object_get_ex(o, "ready", &r))
            ready = json_object_get_boolean(r);
        json_object_put(o);
        json_tokener_free(tok);
    }
    size_t len;
    char *body = repo_index_json(d->repo, ready, &len);
    set_body(rs, 200, body, len);
}

static void repository_control(loomd *d, const api_request *rq, const char *name, bool load,
                               api_response *rs)
{
    if (!may_control(d, rq->peer)) {
        api_error(rs, 403, "model control is not allowed for this client");
        return;
    }
    if (d->cfg.mode != CONTROL_EXPLICIT) {
        api_error(rs, 400, "model control is disabled: loomd runs with --model-control-mode %s",
                  d->cfg.mode == CONTROL_POLL ? "poll" : "none");
        return;
    }
    char err[512];
    int rc = load ? repo_load(d->repo, name, err, sizeof(err))
                  : repo_unload(d->repo, name, err, sizeof(err));
    if (rc == -ENOENT)
        api_error(rs, 404, "%s", err);
    else if (rc)
        api_error(rs, 400, "%s", err);
    else
        set_body(rs, 200, strdup("{}"), 2);
}

/* Splits @path into at most MAX_SEGS segments; -1 if it is malformed or too long. */
static int split_path(const char *path, char segs[MAX_SEGS][160])
{
    if (path[0] != '/')
        return -1;
    int n = 0;
    const char *p = path + 1;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len >= 160 || n == MAX_SEGS)
            return -1;
        memcpy(segs[n], p, len);
        segs[n][len] = '\0';
        n++;
        if (!e)
            break;
        p = e + 1;
        if (!*p)
            return -1; /* trailing slash */
    }
    return n;
}

static bool parse_version(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (s[0] < '1' || s[0] > '9' || *end || errno || x <= 0)
        return false;
    *v = x;
    return true;
}

static bool method_is(const api_request *rq, const char *m, api_response *rs)
{
    if (strcmp(rq->method, m) == 0)
        return true;
    api_error(rs, 405, "%s needs %s", rq->path, m);
    return false;
}

/* GET .../plan: where each node runs for one request, and why (the JSON of
 * loom_model_plan_json(), documented in runtime/README.md). */
static void model_plan_json(model_version *v, api_response *rs)
{
    char err[256], *json = NULL;
    if (repo_plan_json(v, &json, err, sizeof(err))) {
        api_error(rs, 500, "model '%s': %s", v->name, err);
        return;
    }
    sbuf b = {0};
    sbuf_puts(&b, json);
    free(json);
    ok_json(rs, &b);
}

/* /v2/models/NAME[/versions/V][/ACTION] */
static void models_route(loomd *d, const api_request *rq, char segs[MAX_SEGS][160], int n,
                         api_response *rs)
{
    const char *name = segs[2];
    if (n == 3 && strcmp(name, "stats") == 0) {
        api_error(rs, 400, "ask for one model's statistics: /v2/models/NAME/stats");
        return;
    }
    if (!repo_valid_name(name)) {
        api_error(rs, 400, "invalid model name");
        return;
    }
    int64_t version = 0;
    int k = 3;
    if (n >= 5 && strcmp(segs[3], "versions") == 0) {
        if (!parse_version(segs[4], &version)) {
            api_error(rs, 400, "invalid model version");
            return;
        }
        k = 5;
    }
    const char *action = n == k ? "" : n == k + 1 ? segs[k] : NULL;
    if (!action ||
        (action[0] && strcmp(action, "ready") && strcmp(action, "infer") &&
         strcmp(action, "config") && strcmp(action, "stats") && strcmp(action, "plan"))) {
        api_error(rs, 404, "no such endpoint: %s", rq->path);
        return;
    }
    int why = 0;
    model_version *v = repo_acquire(d->repo, name, version, &why);
    if (!v) {
        if (why == -EAGAIN)
            api_error(rs, strcmp(action, "infer") == 0 ? 503 : 400, "model '%s' is not ready",
                      name);
        else if (version)
            api_error(rs, 404, "model '%s' has no version %lld", name, (long long)version);
        else
            api_error(rs, 404, "unknown model '%s'", name);
        /* Only models the repository knows get series: names from the wire must
         * not grow the metrics without bound (404s still count by status class). */
        if (strcmp(action, "infer") == 0 && why == -EAGAIN)
            metrics_request(d->metrics, name, version, FAIL_UNAVAILABLE, -1, -1, 0);
        return;
    }
    if (strcmp(action, "infer") == 0) {
        if (method_is(rq, "POST", rs))
            infer(d, v, rq, rs);
    } else if (method_is(rq, "GET", rs)) {
        if (action[0] == '\0') {
            model_metadata(d->repo, v, rs);
        } else if (strcmp(action, "ready") == 0) {
            sbuf b = {0};
            sbuf_puts(&b, "{\"name\":");
            sbuf_json_str(&b, v->name);
            sbuf_printf(&b, ",\"version\":\"%lld\",\"ready\":true}", (long long)v->version);
            ok_json(rs, &b);
        } else if (strcmp(action, "config") == 0) {
            model_config_json(v, rs);
        } else if (strcmp(action, "plan") == 0) {
            model_plan_json(v, rs);
        } else {
            model_stats_json(v, rs);
        }
    }
    model_version_release(v);
}

static void route(loomd *d, const api_request *rq, api_response *rs)
{
    char segs[MAX_SEGS][160];
    int n = split_path(rq->path, segs);
    if (n == 1 && strcmp(segs[0], "metrics") == 0) {
        if (method_is(rq, "GET", rs)) {
            size_t len;
            loom_device_stats devs[32];
            int n_devs = repo_devices(d->repo, devs, 32);
            model_memory *mods = calloc(64, sizeof(*mods));
            int n_mods = mods ? repo_memory(d->repo, mods, 64) : 0;
            char *body = metrics_render(d->metrics, devs, n_devs, mods, n_mods, &len);
            free(mods);
            set_body(rs, 200, body, len);
            rs->content_type = "text/plain; version=0.0.4";
        }
        return;
    }
    if (n < 1 || strcmp(segs[0], "v2") != 0) {
        api_error(rs, 404, "no such endpoint: %.200s", rq->path);
        return;
    }
    /* Load/unload has its own allow-list (may_control), which may name users
     * outside the socket's group; everything else is for the group. */
    bool control = n == 5 && strcmp(segs[1], "repository") == 0;
    if (!control && !may_use(d, rq->peer)) {
        api_error(rs, 403, "this user is not in the socket's group");
        return;
    }
    if (n == 1) {
        if (method_is(rq, "GET", rs))
            server_metadata(rs);
    } else if (n == 3 && strcmp(segs[1], "health") == 0 &&
               (strcmp(segs[2], "live") == 0 || strcmp(segs[2], "ready") == 0)) {
        if (!method_is(rq, "GET", rs))
            return;
        bool live = segs[2][0] == 'l';
        /* Ready also needs a healthy device for every loaded model, so a
         * balancer or kubelet routes around a host whose cards died. */
        char why[128];
        bool ok = live || (!atomic_load(&d->draining) && repo_ready(d->repo, why, sizeof(why)));
        sbuf b = {0};
        sbuf_printf(&b, "{\"%s\":%s}", live ? "live" : "ready", ok ? "true" : "false");
        ok_json(rs, &b);
        rs->status = ok ? 200 : 503;
    } else if (n >= 3 && strcmp(segs[1], "models") == 0) {
        models_route(d, rq, segs, n, rs);
    } else if (n == 3 && strcmp(segs[1], "repository") == 0 && strcmp(segs[2], "index") == 0) {
        if (method_is(rq, "POST", rs))
            repository_index(d, rq, rs);
    } else if (n == 5 && strcmp(segs[1], "repository") == 0 && strcmp(segs[2], "models") == 0 &&
               (strcmp(segs[4], "load") == 0 || strcmp(segs[4], "unload") == 0)) {
        if (!method_is(rq, "POST", rs))
            return;
        if (!repo_valid_name(segs[3]))
            api_error(rs, 400, "invalid model name");
        else
            repository_control(d, rq, segs[3], segs[4][0] == 'l', rs);
    } else {
        api_error(rs, 404, "no such endpoint: %.200s", rq->path);
    }
}

void api_handle(loomd *d, const api_request *rq, api_response *rs)
{
    memset(rs, 0, sizeof(*rs));
    rs->header_len = -1;
    route(d, rq, rs);
    if (!rs->body)
        api_error(rs, 500, "no response");
    metrics_http(d->metrics, rs->status);
}
