/*
 * loom_client.h - a C client for loomd (KServe v2 over HTTP/1.1), on its Unix
 * socket or on loopback TCP.
 *
 * A client holds one keep-alive connection and is not thread-safe: give each
 * thread its own. Inference uses the binary tensor data extension both ways.
 *
 * Every call returns 0 on success; a positive HTTP status when loomd answered
 * with an error (its {"error": ...} message is then in loom_client_error());
 * or -1 when the request could not be made (connection refused, bad argument).
 */
#ifndef LOOM_LOOM_CLIENT_H
#define LOOM_LOOM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/loom.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_client loom_client;

/**
 * struct loom_client_tensor - a tensor on the wire.
 * @name: input or output name.
 * @dtype: element type (not LOOM_DTYPE_STRING).
 * @rank, @dims: the shape; @rank <= LOOM_MAX_RANK.
 * @data, @size: row-major elements. For inputs, borrowed for the call; for
 *               outputs, owned by the loom_client_result.
 */
typedef struct loom_client_tensor {
    const char *name;
    loom_dtype dtype;
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    void *data;
    size_t size;
} loom_client_tensor;

/** struct loom_client_result - what an inference returned; free with loom_client_result_free(). */
typedef struct loom_client_result {
    char *model_name;
    int64_t model_version;
    char *id; /* the request id echoed by loomd, or NULL */
    size_t n_outputs;
    loom_client_tensor *outputs;
} loom_client_result;

/**
 * loom_client_connect() - a client for the Unix socket at @socket_path.
 * @socket_path: NULL picks loomd's default: $LOOM_SOCKET, else
 *               $XDG_RUNTIME_DIR/loom/loomd.sock, else /run/loom/loomd.sock.
 * The connection opens on the first request.
 */
LOOM_API int loom_client_connect(const char *socket_path, loom_client **out);
/** loom_client_connect_tcp() - a client for http://@host:@port. */
LOOM_API int loom_client_connect_tcp(const char *host, int port, loom_client **out);
/** loom_client_close() - close the connection and free @c. NULL is ok. */
LOOM_API void loom_client_close(loom_client *c);

/** loom_client_error() - the message of @c's last failed call ("" if none). */
LOOM_API const char *loom_client_error(const loom_client *c);

/** loom_client_server_live() / _ready() - 0 when live/ready, else the HTTP status or -1. */
LOOM_API int loom_client_server_live(loom_client *c);
LOOM_API int loom_client_server_ready(loom_client *c);
/** loom_client_model_ready() - @version <= 0 asks about the latest version. */
LOOM_API int loom_client_model_ready(loom_client *c, const char *model, int64_t version);

/**
 * loom_client_request() - any request, e.g. GET /v2/models/resnet for metadata.
 * @method: "GET" or "POST"; @body/@len: the POST body (may be NULL/0).
 * @status: receives the HTTP status; @resp/@resp_len: the malloc'd,
 *          NUL-terminated response body (free() it).
 * Returns 0 whenever loomd answered (check @status), -1 on transport errors.
 */
LOOM_API int loom_client_request(loom_client *c, const char *method, const char *path,
                                 const void *body, size_t len, int *status, char **resp,
                                 size_t *resp_len);

/**
 * loom_client_infer() - run @model on @inputs.
 * @version: <= 0 for the latest.
 * @id: a request id loomd echoes back (NULL for none).
 * @out: receives the outputs (all of the model's, in its order).
 */
LOOM_API int loom_client_infer(loom_client *c, const char *model, int64_t version, const char *id,
                               const loom_client_tensor *inputs, size_t n_inputs,
                               loom_client_result **out);
LOOM_API void loom_client_result_free(loom_client_result *r);

/** loom_client_load() / _unload() - the model repository extension. */
LOOM_API int loom_client_load(loom_client *c, const char *model);
LOOM_API int loom_client_unload(loom_client *c, const char *model);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_LOOM_CLIENT_H */
