/* model_io.h - a loaded model against its config.json "input"/"output" entries. */
#ifndef LOOMD_MODEL_IO_H
#define LOOMD_MODEL_IO_H

#include <stddef.h>

#include "loom/loom.h"
#include "loomd/config.h"

/*
 * Checks that every declared input and output is the model's, with its
 * data_type and (where both say) its sizes, and binds each symbolic input dim
 * the config gives a size (loom_model_bind_dim), so the model serves those
 * sizes only. Returns 0, or -EINVAL with @err set.
 */
int model_io_apply(loom_model *m, const model_config *c, char *err, size_t errlen);

#endif
