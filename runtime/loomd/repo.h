/*
 * repo.h - the model repository: REPO/<model>/<version>/model.onnx plus
 * REPO/<model>/config.json, loaded into model versions that requests acquire.
 *
 * A model version is reference counted: the repository holds one reference
 * while it serves the version and each request holds one while it runs. A
 * reload builds the new versions completely (load, checksum, warm-up) before
 * swapping them in, so in-flight requests finish on the old ones and a failed
 * load leaves the old ones serving. The last release frees the model.
 */
#ifndef LOOMD_REPO_H
#define LOOMD_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/loom.h"
#include "loomd/config.h"
#include "loomd/evlog.h"
#include "loomd/metrics.h"
#include "loomd/sched.h"

typedef struct repo repo;

/* Triton's statistics extension counts per version; atomics, updated by the handlers. */
typedef struct model_stats {
    unsigned long long success, success_ns, fail, fail_ns, queue_ns, compute_ns;
    unsigned long long last_inference_ms;
} model_stats;

typedef struct model_version {
    model_stats stats;
    char *name;
    int64_t version;
    loom_model *model;
    sched *sched;
    model_config cfg;
    int refs; /* atomic */
} model_version;

int repo_create(const char *root, int threads, metrics *m, evlog *log, repo **out, char *err,
                size_t errlen);
/*
 * KServe's layout: when @root itself holds version directories (the storage
 * initializer put one model's files there), it is served as model @name.
 * Returns 1 if so, 0 if @root is a repository, or -errno with @err set.
 * Decided once, before the first load.
 */
int repo_serve_single(repo *r, const char *name, char *err, size_t errlen);
/*
 * True when every loaded model has a healthy device to run on: one of the
 * devices its "device" setting selected (the CPU only when it is selected,
 * not as the fallback added after accelerators). Else false, with @why set.
 */
bool repo_ready(repo *r, char *why, size_t len);
/* Unloads everything (waiting for requests still holding versions) and frees @r. */
void repo_destroy(repo *r);

/* True for names loomd accepts: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, so never a path. */
bool repo_valid_name(const char *name);

/*
 * Loads (or reloads) model @name from the repository. Returns 0, -ENOENT when
 * the repository has no such model, or another negative errno with @err set.
 */
int repo_load(repo *r, const char *name, char *err, size_t errlen);
/* Stops serving @name; -ENOENT if it is not loaded. */
int repo_unload(repo *r, const char *name, char *err, size_t errlen);
/*
 * Brings the loaded set in line with the directory: loads new and changed
 * models, unloads removed ones. Used at start (modes none and poll) and by the
 * poll timer. Failures are logged; returns the number of models that failed.
 */
int repo_sync(repo *r);

/*
 * A reference to version @version of @name (<= 0: the highest loaded), or NULL
 * with *why = -ENOENT (no such model or version) or -EAGAIN (known, not ready).
 */
model_version *repo_acquire(repo *r, const char *name, int64_t version, int *why);
void model_version_release(model_version *v);
/* The versions of @name being served, ascending, at most @max; returns how many. */
/* @v's plan for one request (symbolic dims 1), as loom_model_plan_json()
 * writes it; free() *@json. 0, or -EINVAL with @err set. */
int repo_plan_json(model_version *v, char **json, char *err, size_t errlen);
int repo_versions(repo *r, const char *name, int64_t *out, int max);

/*
 * Every device of loomd's contexts (one per "device" setting in use), named as
 * libloom names them; the same device in several contexts is summed. At most
 * @max; returns how many. Safe while models load and run.
 */
int repo_devices(repo *r, loom_device_stats *out, int max);
/* The memory figures (loom_model_stats) of up to @max loaded versions, for
 * /metrics; returns how many went to @out. */
int repo_memory(repo *r, model_memory *out, int max);

/* Gives back the arenas of every loaded version's plans idle for
 * LOOM_ARENA_IDLE_MS (loom_model_release_idle), and the heap's free pages
 * when that freed anything. */
void repo_release_idle(repo *r);

/* Makes every loaded version's batcher stop waiting for fuller batches (drain). */
void repo_flush(repo *r);

/* The repository index (KServe model repository extension) as JSON; malloc'd. */
char *repo_index_json(repo *r, bool ready_only, size_t *len);

#endif
