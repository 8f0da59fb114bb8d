/*
 * model_io.c - applies config.json's Triton "input"/"output" entries to a
 * loaded model: names and data types must match the graph's, declared sizes
 * must agree with fixed ones and fix symbolic ones. Triton rejects a config
 * that disagrees with the model; so does loomd, at load, naming the tensor.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loomd/model_io.h"

static int find_output(const loom_model *m, const char *name, loom_value_info *vi)
{
    for (size_t i = 0; i < loom_model_output_count(m); i++)
        if (loom_model_output_info(m, i, vi) == LOOM_OK && strcmp(vi->name, name) == 0)
            return 0;
    return -1;
}

/* @off is 1 when the config's dims leave out the model's batch dim 0. */
static int check_tensor(const loom_value_info *vi, const cfg_tensor *t, int off, const char *what,
                        char *e, size_t el)
{
    if (t->dtype != LOOM_DTYPE_UNDEFINED && t->dtype != vi->dtype) {
        snprintf(e, el, "%s \"%s\": data_type differs from the model's", what, t->name);
        return -1;
    }
    if (t->rank < 0 || vi->rank < 0)
        return 0;
    if (t->rank + off != vi->rank) {
        snprintf(e, el, "%s \"%s\": dims has %d sizes, the model's has rank %d%s", what, t->name,
                 t->rank, vi->rank, off ? " (with the batch dim, which dims leaves out)" : "");
        return -1;
    }
    for (int j = 0; j < t->rank; j++) {
        int64_t md = vi->dims[j + off], cd = t->dims[j];
        if (md >= 0 && cd >= 0 && md != cd) {
            snprintf(e, el, "%s \"%s\": dims[%d] is %lld, the model's is %lld", what, t->name, j,
                     (long long)cd, (long long)md);
            return -1;
        }
    }
    return 0;
}

/* Binds the symbolic dims of input @vi that @t gives a size. */
static int bind_dims(loom_model *m, const loom_value_info *vi, const cfg_tensor *t, int off,
                     char *e, size_t el)
{
    for (int j = 0; j < t->rank && vi->rank >= 0; j++) {
        int64_t md = vi->dims[j + off], cd = t->dims[j];
        if (md >= 0 || cd < 0)
            continue;
        const char *dim = vi->dim_names[j + off];
        if (!dim) {
            snprintf(e, el, "input \"%s\": dims[%d] is unnamed in the model and cannot be bound",
                     t->name, j);
            return -1;
        }
        if (loom_model_bind_dim(m, dim, cd) != LOOM_OK) {
            snprintf(e, el, "input \"%s\": binding %s to %lld: %s", t->name, dim, (long long)cd,
                     loom_last_error());
            return -1;
        }
    }
    return 0;
}

static int apply_inputs(loom_model *m, const model_config *c, int off, char *e, size_t el)
{
    for (int i = 0; i < c->n_inputs; i++) {
        const cfg_tensor *t = &c->inputs[i];
        size_t idx;
        loom_value_info vi;
        if (loom_model_input_index(m, t->name, &idx) != LOOM_OK ||
            loom_model_input_info(m, idx, &vi) != LOOM_OK) {
            snprintf(e, el, "input \"%s\" is not an input of the model", t->name);
            return -1;
        }
        /* Checked after binding too: an earlier input may have bound a shared dim. */
        if (check_tensor(&vi, t, off, "input", e, el) || bind_dims(m, &vi, t, off, e, el))
            return -1;
        loom_model_input_info(m, idx, &vi);
        if (check_tensor(&vi, t, off, "input", e, el))
            return -1;
    }
    return 0;
}

int model_io_apply(loom_model *m, const model_config *c, char *err, size_t errlen)
{
    int off = c->max_batch_size > 0;
    char e[256] = "";
    int rc = apply_inputs(m, c, off, e, sizeof(e));
    for (int i = 0; !rc && i < c->n_outputs; i++) {
        loom_value_info vi;
        if (find_output(m, c->outputs[i].name, &vi)) {
            snprintf(e, sizeof(e), "output \"%s\" is not an output of the model",
                     c->outputs[i].name);
            rc = -1;
        } else {
            rc = check_tensor(&vi, &c->outputs[i], off, "output", e, sizeof(e));
        }
    }
    if (rc) {
        snprintf(err, errlen, "config.json %s", e);
        return -EINVAL;
    }
    return 0;
}
