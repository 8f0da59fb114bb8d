/*
 * warmup.c - warm-up runs at load: Triton's model_warmup samples (zero,
 * random or file data with the declared dims), else one run on zeros. A
 * failing sample fails the load, as in Triton: a model that cannot run the
 * sizes its config declares should not report ready.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loomd/warmup.h"

/* Small values of the tensor's type from a fixed-seed xorshift: reproducible warm-ups. */
static void fill_random(loom_tensor *t)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    unsigned char *p = loom_tensor_data(t);
    size_t esz = loom_dtype_size(loom_tensor_dtype(t));
    for (int64_t i = 0; i < loom_tensor_count(t); i++, p += esz) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        unsigned r = (unsigned)(s >> 40) & 0xffff;
        switch (loom_tensor_dtype(t)) {
        case LOOM_DTYPE_FLOAT:
            *(float *)p = (float)r / 65536.0f;
            break;
        case LOOM_DTYPE_DOUBLE:
            *(double *)p = r / 65536.0;
            break;
        case LOOM_DTYPE_FLOAT16:
            *(uint16_t *)p = (uint16_t)(0x3800 | (r & 0x3ff));
            break;
        case LOOM_DTYPE_BOOL:
            *p = r & 1;
            break;
        default: /* integers: 0..15, valid for every integer type and as small indices */
            memset(p, 0, esz);
            *p = (unsigned char)(r & 15); /* little-endian hosts only, as the runtime */
        }
    }
}

static int fill_file(loom_tensor *t, const char *dir, const char *file, char *e, size_t el)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/warmup/%s", dir, file);
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(e, el, "warmup/%s: %s", file, strerror(errno));
        return -1;
    }
    size_t want = loom_tensor_size(t);
    size_t got = fread(loom_tensor_data(t), 1, want, f);
    bool longer = fgetc(f) != EOF;
    fclose(f);
    if (got != want || longer) {
        snprintf(e, el, "warmup/%s: holds %s than the %zu bytes the dims need", file,
                 got != want ? "fewer" : "more", want);
        return -1;
    }
    return 0;
}

static const cfg_tensor *sample_input(const cfg_warmup *w, const char *name)
{
    for (int i = 0; i < w->n_inputs; i++)
        if (strcmp(w->inputs[i].name, name) == 0)
            return &w->inputs[i];
    return NULL;
}

/* The tensor for model input @vi from sample @w. */
static int sample_tensor(const cfg_warmup *w, const loom_value_info *vi, bool batched,
                         const char *dir, loom_tensor **out, char *e, size_t el)
{
    const cfg_tensor *t = sample_input(w, vi->name);
    if (!t) {
        snprintf(e, el, "gives no data for input \"%s\"", vi->name);
        return -1;
    }
    if (t->dtype != vi->dtype) {
        snprintf(e, el, "input \"%s\": data_type differs from the model's", t->name);
        return -1;
    }
    int64_t dims[LOOM_MAX_RANK];
    int off = batched ? 1 : 0;
    dims[0] = w->batch_size;
    memcpy(dims + off, t->dims, sizeof(dims[0]) * (size_t)t->rank);
    if (loom_tensor_create(t->dtype, t->rank + off, dims, out) != LOOM_OK) {
        snprintf(e, el, "input \"%s\": %s", t->name, loom_last_error());
        return -1;
    }
    if (t->random)
        fill_random(*out);
    return t->file[0] ? fill_file(*out, dir, t->file, e, el) : 0;
}

/* Runs @n_in inputs @count times, dropping the outputs. */
static int run_times(loom_model *m, loom_tensor **in, size_t n_in, int count, char *e, size_t el)
{
    size_t n_out = loom_model_output_count(m);
    loom_tensor **out = calloc(n_out + 1, sizeof(*out));
    if (!out) {
        snprintf(e, el, "out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    for (int k = 0; k < count && !rc; k++) {
        if (loom_model_run(m, in, n_in, out, n_out) != LOOM_OK) {
            snprintf(e, el, "run failed: %s", loom_last_error());
            rc = -EINVAL;
        }
        for (size_t i = 0; i < n_out; i++) {
            loom_tensor_destroy(out[i]);
            out[i] = NULL;
        }
    }
    free(out);
    return rc;
}

static int run_sample(loom_model *m, const cfg_warmup *w, bool batched, const char *dir,
                      loom_tensor **in, char *e, size_t el)
{
    size_t n_in = loom_model_input_count(m);
    int rc = 0;
    for (int i = 0; i < w->n_inputs && !rc; i++) {
        size_t idx;
        if (loom_model_input_index(m, w->inputs[i].name, &idx) != LOOM_OK) {
            snprintf(e, el, "input \"%s\" is not an input of the model", w->inputs[i].name);
            rc = -EINVAL;
        }
    }
    for (size_t i = 0; i < n_in && !rc; i++) {
        loom_value_info vi;
        loom_model_input_info(m, i, &vi);
        rc = sample_tensor(w, &vi, batched, dir, &in[i], e, el) ? -EINVAL : 0;
    }
    if (!rc)
        rc = run_times(m, in, n_in, w->count, e, el);
    for (size_t i = 0; i < n_in; i++) {
        loom_tensor_destroy(in[i]);
        in[i] = NULL;
    }
    return rc;
}

/* Zeros with symbolic batch dims set to 1; 1 (skipped) if another dim is symbolic. */
static int run_default(loom_model *m, loom_tensor **in, char *e, size_t el)
{
    size_t n_in = loom_model_input_count(m);
    int rc = 0;
    for (size_t i = 0; i < n_in && !rc; i++) {
        loom_value_info vi;
        loom_model_input_info(m, i, &vi);
        int64_t dims[LOOM_MAX_RANK];
        for (int d = 0; d < vi.rank && !rc; d++) {
            dims[d] = vi.dims[d] >= 0 ? vi.dims[d] : d == 0 ? 1 : -1;
            if (dims[d] < 0) {
                snprintf(e, el, "input \"%s\" dim %d (%s) is symbolic: declare model_warmup",
                         vi.name, d, vi.dim_names[d] ? vi.dim_names[d] : "unnamed");
                rc = 1;
            }
        }
        if (vi.rank < 0) {
            snprintf(e, el, "input \"%s\" has no declared shape", vi.name);
            rc = 1;
        }
        if (!rc && loom_tensor_create(vi.dtype, vi.rank, dims, &in[i]) != LOOM_OK) {
            snprintf(e, el, "input \"%s\": %s", vi.name, loom_last_error());
            rc = -EINVAL;
        }
    }
    if (!rc)
        rc = run_times(m, in, n_in, 1, e, el);
    for (size_t i = 0; i < n_in; i++) {
        loom_tensor_destroy(in[i]);
        in[i] = NULL;
    }
    return rc;
}

int model_warm_up(loom_model *m, const model_config *cfg, const char *dir, char *err, size_t errlen)
{
    loom_tensor **in = calloc(loom_model_input_count(m) + 1, sizeof(*in));
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char e[256] = "";
    int rc = cfg->n_warmups ? 0 : run_default(m, in, e, sizeof(e));
    for (int i = 0; i < cfg->n_warmups && !rc; i++) {
        rc = run_sample(m, &cfg->warmups[i], cfg->max_batch_size > 0, dir, in, e, sizeof(e));
        if (rc)
            snprintf(err, errlen, "model_warmup \"%s\": %s", cfg->warmups[i].name, e);
    }
    if (rc && !cfg->n_warmups)
        snprintf(err, errlen, "%s%s", rc > 0 ? "default warm-up skipped: " : "warm-up ", e);
    free(in);
    return rc;
}
