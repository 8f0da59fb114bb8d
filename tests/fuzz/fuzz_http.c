/*
 * fuzz_http.c - libFuzzer over loomd's request handler (api_handle): routing,
 * JSON and binary tensor decoding, model lookup, scheduling and encoding, with
 * the models of $LOOMD_FUZZ_REPO loaded (the example repository).
 *
 * Input layout: byte 0 picks the method and the transport (Unix socket with
 * root's credentials, or TCP without), then the path up to '\n', then the
 * Inference-Header-Content-Length value up to '\n' (empty: absent), then the body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loomd/api.h"

static loomd server;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *root = getenv("LOOMD_FUZZ_REPO");
    char err[512];
    server_policy_defaults(&server.policy);
    server.policy.max_tensor_elements = 1 << 20;
    server.policy.access_log = false;
    server.cfg.mode = CONTROL_NONE; /* keep the loaded set stable between inputs */
    pthread_mutex_init(&server.policy_lock, NULL);
    server.log = evlog_open("/dev/null", false);
    server.metrics = metrics_create();
    if (repo_create(root ? root : "/nonexistent", 1, server.metrics, server.log, &server.repo, err,
                    sizeof(err)) == 0)
        repo_sync(server.repo);
    else
        fprintf(stderr, "fuzz_http: %s (set LOOMD_FUZZ_REPO); fuzzing without models\n", err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"GET", "POST", "PUT", "DELETE"};
    if (size < 1 || size > (1 << 20))
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *method = methods[buf[0] & 3];
    char *path = buf + 1, *nl = memchr(path, '\n', size - 1);
    char *hl = nl ? nl + 1 : buf + size;
    if (nl)
        *nl = '\0';
    char *nl2 = nl ? memchr(hl, '\n', size - (size_t)(hl - buf)) : NULL;
    const char *body = nl2 ? nl2 + 1 : buf + size;
    if (nl2)
        *nl2 = '\0';
    long long header_len = -1;
    if (nl2 && *hl) {
        char *end;
        long long v = strtoll(hl, &end, 10);
        if (!*end && v >= 0)
            header_len = v;
    }
    api_peer peer = {.transport = (buf[0] & 4) ? "tcp" : "unix", .has_creds = !(buf[0] & 4)};
    api_request rq = {
        .method = method,
        .path = path,
        .body = body,
        .body_len = size - (size_t)(body - buf),
        .header_len = header_len,
        .request_id = "fuzz",
        .peer = &peer,
        .cancel_fd = -1,
    };
    api_response rs;
    api_handle(&server, &rq, &rs);
    if (rs.status < 100 || rs.status > 599 || !rs.body)
        __builtin_trap();
    api_response_free(&rs);
    free(buf);
    return 0;
}
