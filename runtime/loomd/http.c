/* http.c - libmicrohttpd glue: bodies, limits, peer credentials, headers, the access log. */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loomd/api.h"
#include "loomd/http.h"
#include "loomd/sbuf.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13; older headers lack the name */
#endif

#define MAX_CONNECTIONS 1024
/*
 * Per-connection memory pool of libmicrohttpd (request line, headers, read and
 * write buffers; bodies go to our own sbuf). libmicrohttpd zeroes the whole pool
 * after every request on a keep-alive connection: at its default of 32 KiB that
 * memset was 45% of loomd's instructions per small request. 8 KiB holds any sane
 * header set; larger bodies just arrive in more, smaller reads.
 */
#define CONNECTION_MEMORY (8 * 1024)

struct http_listener {
    loomd *d;
    const char *transport;
    struct MHD_Daemon *mhd;
    int fd;
    char rid_prefix[32]; /* "loomd-PID-" for the request ids we make */
};

/* One request's state across the handler's calls (headers, body chunks, completion). */
typedef struct conn_req {
    sbuf body;
    size_t limit;
    bool too_large;
    int64_t t0;
} conn_req;

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* The peer's credentials; the kernel fixes them at connect(), so once per connection. */
static void peer_of(int fd, const char *transport, api_peer *p)
{
    memset(p, 0, sizeof(*p));
    p->transport = transport;
    if (strcmp(transport, "unix") != 0 || fd < 0)
        return;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return;
    p->has_creds = true;
    p->uid = cred.uid;
    p->gid = cred.gid;
    gid_t groups[API_MAX_GROUPS];
    len = sizeof(groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
        p->n_groups = (int)(len / sizeof(gid_t));
        memcpy(p->groups, groups, (size_t)p->n_groups * sizeof(gid_t));
    }
}

/* Keeps each connection's peer in libmicrohttpd's socket context. */
static void connection_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    http_listener *l = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    api_peer *p = malloc(sizeof(*p));
    if (p)
        peer_of(ci ? ci->connect_fd : -1, l->transport, p);
    *socket_context = p; /* NULL when out of memory: the handler then asks per request */
}

/* This connection's peer: from its socket context, else read now. */
static const api_peer *connection_peer(http_listener *l, struct MHD_Connection *c, api_peer *buf)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context)
        return ci->socket_context;
    peer_of(conn_fd(c), l->transport, buf);
    return buf;
}

/* A client's X-Request-ID is echoed when it is short and printable; otherwise we make one. */
static const char *request_id(http_listener *l, struct MHD_Connection *c, char *buf, size_t len)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-ID");
    if (h && *h && strlen(h) < len) {
        bool ok = true;
        for (const char *p = h; *p && ok; p++)
            ok = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
        if (ok)
            return h;
    }
    /* "loomd-PID-N", written by hand: snprintf was a visible share of a small request. */
    char digits[24], *p = digits + sizeof(digits);
    unsigned long long n = (unsigned long long)atomic_fetch_add(&l->d->next_id, 1) + 1;
    do
        *--p = (char)('0' + n % 10);
    while (n /= 10);
    size_t k = (size_t)(digits + sizeof(digits) - p), plen = strlen(l->rid_prefix);
    if (plen + k >= len)
        return "loomd";
    memcpy(buf, l->rid_prefix, plen);
    memcpy(buf + plen, p, k);
    buf[plen + k] = '\0';
    return buf;
}

static enum MHD_Result respond(struct MHD_Connection *c, api_response *rs, const char *rid)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        api_response_free(rs);
        return MHD_NO;
    }
    rs->body = NULL; /* MHD frees it with the response */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
    MHD_add_response_header(r, "X-Request-ID", rid);
    char num[32];
    if (rs->header_len >= 0) {
        snprintf(num, sizeof(num), "%lld", rs->header_len);
        MHD_add_response_header(r, "Inference-Header-Content-Length", num);
    }
    if (rs->retry_after > 0) {
        snprintf(num, sizeof(num), "%d", rs->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    /* 499 is nginx's "client closed request": nobody reads it, it only reaches the log. */
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    return ok;
}

static bool parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 0)
        return false;
    *out = v;
    return true;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    http_listener *l = cls;
    loomd *d = l->d;
    conn_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        *con_cls = r;
        r->t0 = sched_now_ns();
        r->limit = loomd_policy(d).max_request_bytes;
        atomic_fetch_add(&d->inflight, 1);
        metrics_inflight_add(d->metrics, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        long long n;
        if (cl && parse_ll(cl, &n) && (unsigned long long)n > r->limit)
            r->too_large = true;
        else
            return MHD_YES;
    }
    if (*upload_size && !r->too_large) {
        if (r->body.len + *upload_size > r->limit) {
            r->too_large = true;
            sbuf_free(&r->body);
        } else {
            sbuf_add(&r->body, upload, *upload_size);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    *upload_size = 0;
    api_peer peer_buf;
    const api_peer *peer = connection_peer(l, c, &peer_buf);
    char ridbuf[64];
    const char *rid = request_id(l, c, ridbuf, sizeof(ridbuf));
    api_response rs = {0};
    if (r->too_large) {
        api_error(&rs, 413, "request body larger than %zu bytes", r->limit);
        metrics_http(d->metrics, 413);
    } else if (r->body.oom) {
        api_error(&rs, 500, "out of memory reading the request");
        metrics_http(d->metrics, 500);
    } else {
        long long hl = -1;
        const char *h =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Inference-Header-Content-Length");
        if (h && !parse_ll(h, &hl)) {
            api_error(&rs, 400, "Inference-Header-Content-Length must be a byte count");
            metrics_http(d->metrics, 400);
        } else {
            api_request rq = {
                .method = method,
                .path = url,
                .body = r->body.data ? r->body.data : "",
                .body_len = r->body.len,
                .header_len = hl,
                .request_id = rid,
                .peer = peer,
                .cancel_fd = conn_fd(c),
            };
            api_handle(d, &rq, &rs);
        }
    }
    evlog_access_rec ar = {
        .request_id = rid,
        .method = method,
        .path = url,
        .transport = l->transport,
        .uid = peer->has_creds ? (long)peer->uid : -1,
        .gid = peer->has_creds ? (long)peer->gid : -1,
        .status = rs.status,
        .duration_us = (sched_now_ns() - r->t0) / 1000,
        .bytes_in = r->body.len,
        .bytes_out = rs.len,
        .error = rs.status >= 400 ? rs.error : NULL,
    };
    evlog_access(d->log, &ar);
    (void)version;
    return respond(c, &rs, rid);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    http_listener *l = cls;
    conn_req *r = *con_cls;
    if (!r)
        return;
    sbuf_free(&r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&l->d->inflight, 1);
    metrics_inflight_add(l->d->metrics, -1);
    (void)c;
    (void)toe;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_listener *l = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    evlog_event(l->d->log, "warn", "http", "%s", msg);
}

int http_start(loomd *d, int fd, const char *transport, http_listener **out, char *err,
               size_t errlen)
{
    http_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    l->d = d;
    l->transport = transport;
    l->fd = fd;
    snprintf(l->rid_prefix, sizeof(l->rid_prefix), "loomd-%ld-", (long)getpid());
    unsigned limit =
        d->cfg.max_connections > 0 ? (unsigned)d->cfg.max_connections : MAX_CONNECTIONS;
    l->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
            MHD_USE_ITC | MHD_USE_ERROR_LOG,
        0, NULL, NULL, handler, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l, MHD_OPTION_LISTEN_SOCKET,
        fd, MHD_OPTION_NOTIFY_COMPLETED, completed, l, MHD_OPTION_NOTIFY_CONNECTION,
        connection_notify, l, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)300, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_END);
    if (!l->mhd) {
        snprintf(err, errlen, "libmicrohttpd could not start on the %s socket", transport);
        free(l);
        return -EIO;
    }
    *out = l;
    return 0;
}

void http_quiesce(http_listener *l)
{
    /* After quiescing, the listening socket is ours to close (http_stop does). */
    if (l && l->fd >= 0 && MHD_quiesce_daemon(l->mhd) < 0)
        l->fd = -1;
}

void http_stop(http_listener *l)
{
    if (!l)
        return;
    http_quiesce(l);
    MHD_stop_daemon(l->mhd);
    if (l->fd >= 0)
        close(l->fd);
    free(l);
}
