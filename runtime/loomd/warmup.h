/* warmup.h - runs a model before it serves, so the first request does not pay for cold caches. */
#ifndef LOOMD_WARMUP_H
#define LOOMD_WARMUP_H

#include <stddef.h>

#include "loom/loom.h"
#include "loomd/config.h"

/*
 * Runs config.json's model_warmup samples (each @count times; input_data_file
 * relative to @dir/warmup), or, when there are none, once on zeros with every
 * symbolic batch dim (dim 0) set to 1. Returns 0 when it ran, 1 when the
 * default warm-up was skipped (a symbolic dim other than the batch dim: only
 * the config knows sizes the model accepts; @err says which), or -errno with
 * @err set when a run failed.
 */
int model_warm_up(loom_model *m, const model_config *cfg, const char *dir, char *err,
                  size_t errlen);

#endif
