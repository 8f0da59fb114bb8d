/*
 * codec.h - KServe v2 inference requests and responses: JSON tensors and the
 * binary tensor data extension (a JSON header of Inference-Header-Content-Length
 * bytes followed by the raw tensors), checked against the model.
 */
#ifndef LOOMD_CODEC_H
#define LOOMD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/loom.h"

#define CODEC_MAX_IO 64

typedef struct infer_request {
    char *id;                          /* the request's "id", echoed back; NULL when absent */
    loom_tensor *inputs[CODEC_MAX_IO]; /* in the model's input order, owned */
    size_t n_inputs;
    int64_t rows;  /* batch rows when the model batches, else 0 */
    int n_outputs; /* outputs asked for; 0 means all */
    int out_index[CODEC_MAX_IO];
    bool out_binary[CODEC_MAX_IO];
    bool binary_default; /* "binary_data_output" */
    int64_t timeout_us;  /* "timeout" parameter; 0 when absent */
} infer_request;

typedef struct codec_limits {
    int max_batch_size; /* the model's; 0 when it does not batch */
    int64_t max_elements;
} codec_limits;

/* KServe's name for @dt ("FP32"); NULL when the protocol has none. */
const char *codec_datatype_name(loom_dtype dt);

/*
 * Decodes a request body for @model. @header_len is the value of
 * Inference-Header-Content-Length, or -1 when the header is absent. Returns 0,
 * or -EINVAL with a message for the client in @err (HTTP 400).
 */
int codec_decode(loom_model *model, const codec_limits *lim, const char *body, size_t len,
                 long long header_len, infer_request *rq, char *err, size_t errlen);
void codec_request_free(infer_request *rq);

/*
 * Encodes the response. *json_len receives the length of the JSON part when
 * any output travels as binary (the value for Inference-Header-Content-Length),
 * else -1. Returns a malloc'd body, NULL when out of memory.
 */
char *codec_encode(const infer_request *rq, loom_model *model, const char *model_name,
                   int64_t version, loom_tensor *const *outputs, size_t *len, long long *json_len);

#endif
