/*
 * api.h - the KServe v2 endpoints, independent of the transport: a request is a
 * method, a path, headers of interest, a body and who sent it; the answer is a
 * status and a body. http.c feeds it from libmicrohttpd, the fuzzer directly.
 */
#ifndef LOOMD_API_H
#define LOOMD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "loomd/server.h"

#define API_MAX_GROUPS 64

/* Who is asking. Over the Unix socket from SO_PEERCRED and SO_PEERGROUPS. */
typedef struct api_peer {
    const char *transport; /* "unix", "tcp" or "internal" */
    bool has_creds;
    uid_t uid;
    gid_t gid;
    int n_groups;
    gid_t groups[API_MAX_GROUPS];
} api_peer;

typedef struct api_request {
    const char *method;
    const char *path; /* without the query string */
    const char *body;
    size_t body_len;
    long long header_len;   /* Inference-Header-Content-Length; -1 when absent */
    const char *request_id; /* X-Request-ID; NULL when absent */
    const api_peer *peer;
    int cancel_fd; /* the client's socket, polled for hang-up while waiting; -1: none */
} api_request;

typedef struct api_response {
    int status;
    char *body; /* malloc'd */
    size_t len;
    const char *content_type;
    long long header_len; /* >= 0: send Inference-Header-Content-Length */
    int retry_after;      /* > 0: send Retry-After */
    char error[256];      /* for the access log */
} api_response;

void api_handle(loomd *d, const api_request *rq, api_response *rs);
/* Fills @rs with {"error": msg}. */
void api_error(api_response *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void api_response_free(api_response *rs);

/* The HTTP status of a model run that failed with @st, and its metrics
 * reason in *@why: 400 for the caller's input; 503 for a device fault (lost,
 * hung, short of resources: the input was fine and a later try, or another
 * replica, may succeed); 500 for the rest. */
int api_run_failure(loom_status st, fail_reason *why);

#endif
