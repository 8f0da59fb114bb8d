/* check.c - sentinel-guarded output buffers and the element comparison. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Bytes of pattern before and after each output: more than one vector
 * store of the widest SIMD or OpenCL type a kernel could overrun by. */
#define GUARD 256

static uint8_t guard_byte(size_t i)
{
    return (uint8_t)(0xa5 ^ (i * 37));
}

loom_status ops_guarded_create(const loom_tensor *like, ops_guarded *g)
{
    memset(g, 0, sizeof(*g));
    g->size = loom_tensor_size(like);
    g->raw = malloc(g->size + 2 * GUARD);
    if (!g->raw)
        return LOOM_ERR_NO_MEMORY;
    for (size_t i = 0; i < GUARD; i++)
        g->raw[i] = g->raw[GUARD + g->size + i] = guard_byte(i);
    memset(g->raw + GUARD, 0xff, g->size);
    loom_status s = loom_tensor_wrap(loom_tensor_dtype(like), loom_tensor_rank(like),
                                     loom_tensor_dims(like), g->raw + GUARD, g->size, &g->t);
    if (s)
        ops_guarded_free(g);
    return s;
}

const char *ops_guarded_broken(const ops_guarded *g, size_t *offset)
{
    for (size_t i = 0; i < GUARD; i++) {
        if (g->raw[GUARD - 1 - i] != guard_byte(GUARD - 1 - i)) {
            *offset = i + 1;
            return "before";
        }
        if (g->raw[GUARD + g->size + i] != guard_byte(i)) {
            *offset = i + 1;
            return "after";
        }
    }
    return NULL;
}

void ops_guarded_free(ops_guarded *g)
{
    loom_tensor_destroy(g->t);
    free(g->raw);
    memset(g, 0, sizeof(*g));
}

static double value_at(const loom_tensor *t, size_t i)
{
    const void *p = loom_tensor_data((loom_tensor *)t);
    switch (loom_tensor_dtype(t)) {
    case LOOM_DTYPE_FLOAT:
        return ((const float *)p)[i];
    case LOOM_DTYPE_INT8:
        return ((const int8_t *)p)[i];
    case LOOM_DTYPE_UINT8:
    case LOOM_DTYPE_BOOL:
        return ((const uint8_t *)p)[i];
    case LOOM_DTYPE_INT32:
        return ((const int32_t *)p)[i];
    case LOOM_DTYPE_INT64:
        return (double)((const int64_t *)p)[i];
    default:
        return NAN;
    }
}

/* How far beyond the tolerance @got is; <= 0 within it. */
static double excess(double want, double got, double atol, double rtol)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got) ? 0 : INFINITY;
    if (want == got) /* also equal infinities */
        return 0;
    return fabs(got - want) - (atol + rtol * fabs(want));
}

void ops_compare(const loom_tensor *want, const loom_tensor *got, double atol, double rtol,
                 ops_diff *d)
{
    memset(d, 0, sizeof(*d));
    size_t n = (size_t)loom_tensor_count(want);
    double worst = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double w = value_at(want, i), g = value_at(got, i), e = excess(w, g, atol, rtol);
        if (e > 0)
            d->bad++;
        if (!isnan(w) && !isnan(g) && w != g) {
            double abs_err = fabs(g - w);
            d->max_abs = fmax(d->max_abs, abs_err);
            d->max_rel = fmax(d->max_rel, abs_err / fmax(fabs(w), 1e-30));
        }
        if (e > worst) {
            worst = e;
            d->worst = i;
            d->want = w;
            d->got = g;
        }
    }
}
