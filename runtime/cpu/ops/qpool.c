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
#include "quant_common.h"

typedef struct qmaxpool_job {
    const lm_window_geom *g;
    const void *x;
    void *y;
    bool sgn;    /* int8, else uint8 */
    int64_t len; /* the vector path's padded row (bytes) */
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

#if HAVE_AVX512_ROWS
/* Bytes of padded rows the vector path keeps on the stack. */
#define QMP_MAX_ROWS 16384

/* The even bytes of the 128 at @p: x[0], x[2], ... x[126], in order. */
TARGET_AVX512 static inline __m512i even_bytes(const uint8_t *p, bool sgn)
{
    __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 64);
    __m512i packed;
    if (sgn) /* sign-extended into words, then packed back: exact */
        packed = _mm512_packs_epi16(_mm512_srai_epi16(_mm512_slli_epi16(a, 8), 8),
                                    _mm512_srai_epi16(_mm512_slli_epi16(b, 8), 8));
    else
        packed = _mm512_packus_epi16(_mm512_and_si512(a, _mm512_set1_epi16(0xFF)),
                                     _mm512_and_si512(b, _mm512_set1_epi16(0xFF)));
    /* the packs work per 128-bit lane: a's quarters, then b's */
    return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), packed);
}

/*
 * Output rows [begin, end) on 64 columns a vector, strides 1 and 2: the
 * input rows a window reaches are copied once per output row into rows
 * padded with the type's minimum (which max ignores, as MaxPool ignores
 * padding), so every tap is one or two unaligned loads and a max, with no
 * bounds to test. (The scalar rows above run a call per tap over runs of a
 * few dozen bytes.) @rows holds k[0] padded rows of @len bytes.
 */
TARGET_AVX512 static void qmaxpool_rows_avx512(const qmaxpool_job *j, int64_t begin, int64_t end,
                                               bool sgn, uint8_t *rows, int64_t len)
{
    const lm_window_geom *g = j->g;
    const int64_t oh = g->out[0], ow = g->out[1], h = g->in[0], w = g->in[1], s = g->s[1];
    const uint8_t tmin = sgn ? 0x80 : 0;
    const __m512i vmin = _mm512_set1_epi8((char)tmin);
    /* The padding is set once: rows only ever overwrite their own columns.
     * Slot iy % k[0] holds input row iy (the rows of one window never share
     * a slot when they are consecutive), so the next output row finds the
     * rows it shares with this one in place. */
    const int64_t k0 = g->k[0];
    int64_t held[k0]; /* per slot: plane * h + iy, -1 none */
    const uint8_t *src[k0];
    memset(rows, tmin, (size_t)(k0 * len));
    for (int64_t t = 0; t < k0; t++)
        held[t] = -1;
    for (int64_t r = begin; r < end; r++) {
        const int64_t plane = r / oh, oy = r % oh;
        const uint8_t *xp = (const uint8_t *)j->x + plane * g->in_size;
        uint8_t *yr = (uint8_t *)j->y + plane * g->out_size + oy * ow;
        int nk = 0;
        for (int64_t ky = 0; ky < k0; ky++) {
            int64_t iy = oy * g->s[0] + ky * g->d[0] - g->pb[0];
            if (iy < 0 || iy >= h)
                continue;
            int64_t slot = g->d[0] == 1 ? iy % k0 : ky;
            uint8_t *row = rows + slot * len;
            if (held[slot] != plane * h + iy) {
                memcpy(row + g->pb[1], xp + iy * w, (size_t)w);
                held[slot] = plane * h + iy;
            }
            src[nk++] = row;
        }
        for (int64_t o0 = 0; o0 < ow; o0 += 64) {
            __mmask64 m = ow - o0 >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (ow - o0)) - 1);
            __m512i acc = vmin;
            for (int t = 0; t < nk; t++)
                for (int64_t kx = 0; kx < g->k[1]; kx++) {
                    const uint8_t *p = src[t] + o0 * s + kx * g->d[1];
                    __m512i v = s == 1 ? _mm512_loadu_si512(p) : even_bytes(p, sgn);
                    acc = sgn ? _mm512_max_epi8(acc, v) : _mm512_max_epu8(acc, v);
                }
            _mm512_mask_storeu_epi8(yr + o0, m, acc);
        }
    }
}

static void qmaxpool_vec(void *arg, int64_t begin, int64_t end)
{
    const qmaxpool_job *j = arg;
    uint8_t rows[QMP_MAX_ROWS];
    qmaxpool_rows_avx512(j, begin, end, j->sgn, rows, j->len);
}
#endif

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
    qmaxpool_job j = {.g = &g, .x = x->data, .y = y->data, .sgn = x->dtype == LOOM_DTYPE_INT8};
    double cost = (double)g.out[1] * (double)g.k_size * 0.1 + 20.0; /* ns per output row */
    lm_range_fn rows = j.sgn ? qmaxpool_s8 : qmaxpool_u8;
#if HAVE_AVX512_ROWS
    /* Padded rows: the window's reach past the last output, and a vector's
     * slack (the last block loads up to 128 bytes past its start). */
    j.len = (g.out[1] - 1) * g.s[1] + (g.k[1] - 1) * g.d[1] + 1 + 128;
    if (j.len < g.pb[1] + g.in[1] + 128)
        j.len = g.pb[1] + g.in[1] + 128;
    if (use_avx512() && (g.s[1] == 1 || g.s[1] == 2) && g.k[0] * j.len <= QMP_MAX_ROWS)
        rows = qmaxpool_vec;
#endif
    lm_parallel_for(k, x->dims[0] * x->dims[1] * g.out[0], cost, rows, &j);
    return LOOM_OK;
}
