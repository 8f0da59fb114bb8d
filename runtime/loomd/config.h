/*
 * config.h - loomd's settings: the server's (command line and --config FILE) and
 * each model's REPO/<model>/config.json.
 *
 * Model configs use the JSON form of Triton's model configuration (the field
 * names of model_config.proto), so Triton users and Triton's own tools
 * (perf_analyzer reads /v2/models/M/config) find what they expect:
 *
 *   {"max_batch_size": 8,
 *    "dynamic_batching": {"preferred_batch_size": [4, 8],
 *                         "max_queue_delay_microseconds": 500,
 *                         "default_queue_policy": {"max_queue_size": 64,
 *                                                  "default_timeout_microseconds": 0}},
 *    "instance_group": [{"count": 1, "kind": "KIND_CPU"}],
 *    "version_policy": {"latest": {"num_versions": 1}} | {"all": {}}
 *                      | {"specific": {"versions": [1, 3]}},
 *    "input": [{"name": "images", "data_type": "TYPE_FP32", "dims": [3, -1, -1]}],
 *    "output": [{"name": "boxes", "data_type": "TYPE_FP32", "dims": [-1, 6]}],
 *    "model_warmup": [{"name": "640", "batch_size": 1, "count": 1,
 *                      "inputs": {"images": {"data_type": "TYPE_FP32", "dims": [3, 640, 640],
 *                                            "zero_data": true}}}],
 *    "parameters": {"device": "cpu", "warmup": "true",    (Loom's additions)
 *                   "plan_cache_mb": "64", "shape_bucket": "sequence:16"},
 *    "sha256": {"1/model.onnx": "<hex>"}}                  (checked at load)
 *
 * input/output dims exclude the batch dimension when max_batch_size > 0, as in
 * Triton; a declared size where the model has a symbolic dim binds that dim
 * (config_io.c parses them, model_io.c applies them, warmup.c runs the samples).
 */
#ifndef LOOMD_CONFIG_H
#define LOOMD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loom/loom.h"

#define CFG_MAX_IDS       32
#define CFG_MAX_PREFERRED 8
#define CFG_MAX_VERSIONS  32
#define CFG_MAX_FILES     32
#define CFG_MAX_IO        8 /* declared inputs or outputs, and inputs per warm-up sample */
#define CFG_MAX_WARMUP    4 /* model_warmup samples */
#define CFG_MAX_NAME      128

typedef enum control_mode { CONTROL_NONE, CONTROL_POLL, CONTROL_EXPLICIT } control_mode;

/* What SIGHUP can change: access control, limits, timeouts. Copied by value. */
typedef struct server_policy {
    uid_t control_uids[CFG_MAX_IDS];
    int n_control_uids;
    gid_t control_gids[CFG_MAX_IDS];
    int n_control_gids;
    bool tcp_model_control; /* loopback TCP has no credentials: control off by default */
    size_t max_request_bytes;
    int64_t max_tensor_elements;
    int drain_timeout_s;
    int poll_interval_s;
    bool access_log;
} server_policy;

typedef struct server_config {
    const char *repository;
    const char *socket_path;  /* NULL: resolved from the environment at start */
    int http_port;            /* -1: no TCP listener; 0: any free port */
    const char *http_address; /* numeric; NULL: 127.0.0.1 */
    gid_t socket_gid;         /* (gid_t)-1: the process's group */
    mode_t socket_mode;       /* of the Unix socket file; default 0660 */
    const char *model_name;   /* KServe: the name a repository that is one model serves as */
    control_mode mode;
    const char *config_file;
    const char *log_file;
    int threads;
    int max_connections;
    const char *load_models[64]; /* --load-model, for explicit mode */
    int n_load_models;
    server_policy policy;
} server_config;

void server_policy_defaults(server_policy *p);
/* Reads --config FILE into @p (fields it names override the defaults). */
int server_policy_load(const char *path, server_policy *p, char *err, size_t errlen);

/* One "input"/"output" entry, or one input of a warm-up sample. */
typedef struct cfg_tensor {
    char name[CFG_MAX_NAME];
    loom_dtype dtype; /* LOOM_DTYPE_UNDEFINED: not declared */
    int rank;         /* -1: no "dims" */
    int64_t dims[LOOM_MAX_RANK];
    /* Warm-up inputs only: the data, one of zero_data, random_data, input_data_file. */
    bool random;
    char file[CFG_MAX_NAME]; /* relative to the model's warmup/ directory, or "" */
} cfg_tensor;

/* One model_warmup sample: run @count times before the model serves. */
typedef struct cfg_warmup {
    char name[64];
    int batch_size; /* prepended to each input's dims when max_batch_size > 0 */
    int count;
    cfg_tensor inputs[CFG_MAX_IO];
    int n_inputs;
} cfg_warmup;

typedef enum version_policy { VP_LATEST, VP_ALL, VP_SPECIFIC } version_policy;

typedef struct model_config {
    int max_batch_size; /* 0: the model has no batch dimension loomd may use */
    bool dynamic_batching;
    int preferred[CFG_MAX_PREFERRED];
    int n_preferred;
    int64_t max_queue_delay_us;
    int max_queue_size; /* 0: unbounded (the default, like Triton) */
    int64_t default_timeout_us;
    int instance_count;
    char device[32];
    char pins[256];   /* parameters.pins: "RULE=DEVICE;..." (loom_context_options.pins) */
    int objective;    /* parameters.objective: LOOM_OBJECTIVE_* */
    bool fail_closed; /* parameters.fail_closed: no CPU fallback */
    bool warmup;
    int64_t plan_cache_mb; /* 0: libloom's default (LOOM_PLAN_CACHE_MB) */
    /* Shape buckets (opt-in): the symbolic dim bucket_dim of the inputs is
     * padded up to a multiple of bucket_multiple (sched.c says when that is
     * exact); bucket_multiple 0: off. */
    char bucket_dim[64];
    int bucket_multiple;
    version_policy vp;
    int latest_n;
    int64_t versions[CFG_MAX_VERSIONS];
    int n_versions;
    char *sha_file[CFG_MAX_FILES]; /* relative paths, each with its hex digest */
    char *sha_hex[CFG_MAX_FILES];
    int n_sha;
    cfg_tensor inputs[CFG_MAX_IO], outputs[CFG_MAX_IO];
    int n_inputs, n_outputs;
    cfg_warmup warmups[CFG_MAX_WARMUP];
    int n_warmups;
} model_config;

void model_config_defaults(model_config *c);
/* Parses a config.json body; @c must come from model_config_defaults(). */
int model_config_parse(const char *json, size_t len, model_config *c, char *err, size_t errlen);
/* Reads DIR/config.json; a missing file gives the defaults. */
int model_config_load(const char *dir, model_config *c, char *err, size_t errlen);
struct json_object;
/* Parses "input", "output" and "model_warmup" of config.json's object @o into @c (config_io.c). */
int model_config_parse_io(struct json_object *o, model_config *c, char *err, size_t errlen);
/* Triton's data_type name ("TYPE_FP32") as a loom dtype; LOOM_DTYPE_UNDEFINED if unknown. */
loom_dtype cfg_triton_dtype(const char *name);
int model_config_copy(model_config *dst, const model_config *src);
void model_config_free(model_config *c);

#endif
