/*
 * qpool.c - loom.QMaxPool: 2-D max pooling on 8-bit tensors, a row at a time.
 *
 * Each output row starts at the type's minimum and takes the maximum with
 * every filter tap's run of input: at stride 1 a contiguous run, at stride
 * 2 every other byte, loops that vectorize. Positions outside the input are
 * skipped, as MaxPool's padding is; a window with no input left (possible
 * with ceil_mode) keeps the minimum, which is also what the float path's
 * -inf quantizes to.
 */
#include "qpool.h"

#include <string.h>

#include "nn_private.h"

typedef struct qmaxpool_job {
    const lm_window_geom *g;
    const void *x;
    void *y;
} qmaxpool_job;

/* Output columns [lo, hi) whose tap at input column o * s + off is inside
 * a row of @w, clipped to [0, n). */
static void tap_cols(int64_t n, int64_t s, int64_t off, int64_t w, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = w - off <= 0 ? 0 : (w - off + s - 1) / s;
    *lo = a < n ? a : n;
    *hi = b < *lo ? *lo : b < n ? b : n;
}

/* y[o] = max(y[o], x[o * s]) for o in [0, n); strides 1 and 2 get loops of
 * their own (constant strides vectorize). */
#define DEFINE_MAX_RUN(NAME, T)                                                                    \
    static void NAME(T *restrict y, const T *restrict x, int64_t n, int64_t s)                     \
    {                                                                                              \
        if (s == 1) {                                                                              \
            for (int64_t o = 0; o < n; o++)                                                        \
                y[o] = x[o] > y[o] ? x[o] : y[o];                                                  \
        } else if (s == 2) {                                                                       \
            for (int64_t o = 0; o < n; o++)                                                        \
                y[o] = x[2 * o] > y[o] ? x[2 * o] : y[o];                                          \
        } else {                                                                                   \
            for (int64_t o = 0; o < n; o++)                                                        \
                y[o] = x[o * s] > y[o] ? x[o * s] : y[o];                                          \
        }                                                                                          \
    }

/* One job per output row of one (image, channel) plane. */
#define DEFINE_QMAXPOOL(NAME, T, TMIN)                                                             \
    DEFINE_MAX_RUN(NAME##_run, T)                                                                  \
    static void NAME(void *arg, int64_t begin, int64_t end)                                        \
    {                                                                                              \
        const qmaxpool_job *j = arg;                                                               \
        const lm_window_geom *g = j->g;                                                            \
        int64_t oh = g->out[0], ow = g->out[1], h = g->in[0], w = g->in[1];                        \
        for (int64_t r = begin; r < end; r++) {                                                    \
            int64_t plane = r / oh, oy = r % oh;                                                   \
            const T *xp = (const T *)j->x + plane * g->in_size;                                    \
            T *yr = (T *)j->y + plane * g->out_size + oy * ow;                                     \
            for (int64_t o = 0; o < ow; o++)                                                       \
                yr[o] = TMIN;                                                                      \
            for (int64_t ky = 0; ky < g->k[0]; ky++) {                                             \
                int64_t iy = oy * g->s[0] + ky * g->d[0] - g->pb[0];                               \
                if (iy < 0 || iy >= h)                                                             \
                    continue;                                                                      \
                for (int64_t kx = 0; kx < g->k[1]; kx++) {                                         \
                    int64_t off = kx * g->d[1] - g->pb[1], lo, hi;                                 \
                    tap_cols(ow, g->s[1], off, w, &lo, &hi);                                       \
                    if (hi > lo)                                                                   \
                        NAME##_run(yr + lo, xp + iy * w + off + lo * g->s[1], hi - lo, g->s[1]);   \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_QMAXPOOL(qmaxpool_u8, uint8_t, 0)
DEFINE_QMAXPOOL(qmaxpool_s8, int8_t, INT8_MIN)

loom_status lm_op_qmaxpool(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 1, 1);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0);
    if (x->dtype != LOOM_DTYPE_UINT8 && x->dtype != LOOM_DTYPE_INT8)
        return lm_kunsupported(k, "X must be uint8 or int8, got %s", loom_dtype_name(x->dtype));
    if (x->rank != 4)
        return lm_kfail(k, LOOM_ERR_SHAPE, "X has rank %d, expected N x C x H x W", x->rank);
    lm_pool_geom pg;
    if ((st = lm_geom_pool(k->node, x, &pg)) != LOOM_OK)
        return st;
    if (pg.col_major)
        return lm_kunsupported(k, "storage_order must be 0 (there is no Indices output)");
    const lm_window_geom g = pg.win;
    int64_t yd[4] = {x->dims[0], x->dims[1], g.out[0], g.out[1]};
    loom_tensor *y = lm_kout(k, 0, x->dtype, 4, yd);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry || lm_tensor_count(y) == 0)
        return LOOM_OK;
    qmaxpool_job j = {.g = &g, .x = x->data, .y = y->data};
    double cost = (double)g.out[1] * (double)g.k_size * 0.1 + 20.0; /* ns per output row */
    lm_parallel_for(k, x->dims[0] * x->dims[1] * g.out[0], cost,
                    x->dtype == LOOM_DTYPE_UINT8 ? qmaxpool_u8 : qmaxpool_s8, &j);
    return LOOM_OK;
}
