/* workload.h - loom-perf's requests: inputs built from a model's metadata, reference outputs. */
#ifndef LOOM_PERF_WORKLOAD_H
#define LOOM_PERF_WORKLOAD_H

#include <stdbool.h>

#include "loom/loom.h"
#include "loom/loom_client.h"

#define WL_MAX_IO      16
#define WL_MAX_SAMPLES 8

typedef struct workload {
    char model[160];
    int64_t version;
    int n_samples;
    size_t n_in;
    /* samples[k][i]: input i of sample k; data owned by the workload */
    loom_client_tensor in[WL_MAX_SAMPLES][WL_MAX_IO];
    char names[WL_MAX_IO][128];
    /* reference outputs of each sample, taken once before the load starts */
    loom_client_result *ref[WL_MAX_SAMPLES];
} workload;

/* Inputs from GET /v2/models/M metadata; -1 dims become @batch (dim 0) or 1. */
int workload_from_server(loom_client *c, const char *model, int64_t version, int batch, workload *w,
                         char *err, size_t errlen);
/* Inputs from a loaded model, for in-process runs. */
int workload_from_model(loom_model *m, int batch, workload *w, char *err, size_t errlen);
/* Runs each sample once, sequentially, and keeps the outputs as the reference. */
int workload_take_reference(loom_client *c, workload *w, char *err, size_t errlen);
/* True when @r matches sample @k's reference (exact for integers, 1e-3 relative for floats). */
bool workload_check(const workload *w, int k, const loom_client_result *r);
void workload_free(workload *w);

#endif
