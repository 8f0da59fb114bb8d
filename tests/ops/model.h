/* model.h - turns an op_case into a serialized ONNX model and its input specs. */
#ifndef LOOM_TESTS_OPS_MODEL_H
#define LOOM_TESTS_OPS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cases.h"
#include "loom/loom.h"

#define OPS_MAX_INPUTS  8
#define OPS_MAX_OUTPUTS 4

/* A tensor the harness feeds: shape, type and the range to draw from. */
typedef struct ops_input {
    char name[32];
    loom_dtype dtype;
    int rank;
    int64_t dims[LOOM_MAX_RANK];
    double lo, hi;
} ops_input;

typedef struct ops_model {
    uint8_t *bytes; /* the ModelProto, malloc'd */
    size_t len;
    int n_inputs;
    ops_input inputs[OPS_MAX_INPUTS];
    int n_outputs;
} ops_model;

/* Builds @c with constants drawn from @seed. Returns 0, or -1 with a reason
 * in @err (a malformed case: a bug in the table, not in a backend). */
int ops_model_build(const op_case *c, uint32_t seed, ops_model *m, char *err, size_t err_len);
void ops_model_free(ops_model *m);

/* Fills @n elements of @dtype at @data with values in [lo, hi] from @rng. */
void ops_fill_random(void *data, loom_dtype dtype, size_t n, double lo, double hi, uint32_t *rng);

#endif
