/*
 * qpool.c - loom.QMaxPool: 2-D max pooling on 8-bit tensors, a row at a time.
 *
 * Each output row starts at the type's minimum and takes the maximum with
 * every filter tap's run of input: at stride 1 a contiguous run, at stride
 * 2 every other byte, loops that vectorize. Positions outside the input are
 * skipped, as MaxPool's padding is; a window with no input left (possible
 * with ceil_mode) keeps the minimum, which is also what the float path's
 * -inf quantizes to. With AVX-512, planes that fit a stack buffer run
 * whole (qmaxpool_planes_avx512), others a vector of output columns at a
 * time.
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

/* Bytes of the padded plane the plane path keeps on the stack. */
#define QMP_MAX_PLANE 16384

/* Height and width of the plane padded to every tap the windows reach. */
static void plane_dims(const lm_window_geom *g, int64_t *hp, int64_t *wp)
{
    int64_t reach_y = (g->out[0] - 1) * g->s[0] + (g->k[0] - 1) * g->d[0] + 1;
    int64_t reach_x = (g->out[1] - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] + 1;
    *hp = reach_y > g->pb[0] + g->in[0] ? reach_y : g->pb[0] + g->in[0];
    *wp = reach_x > g->pb[1] + g->in[1] ? reach_x : g->pb[1] + g->in[1];
}

/* dst[i] = max over t < k of p[i + t * step], i < n, 64 at a time (in place
 * when dst == p: block i reads only bytes at or after it). */
TARGET_AVX512 static void max_taps(uint8_t *dst, const uint8_t *p, int64_t n, int64_t k,
                                   int64_t step, bool sgn)
{
    for (int64_t i = 0; i < n; i += 64) {
        __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        __m512i acc = _mm512_maskz_loadu_epi8(m, p + i);
        for (int64_t t = 1; t < k; t++) {
            __m512i v = _mm512_maskz_loadu_epi8(m, p + i + t * step);
            acc = sgn ? _mm512_max_epi8(acc, v) : _mm512_max_epu8(acc, v);
        }
        _mm512_mask_storeu_epi8(dst + i, m, acc);
    }
}

/*
 * Whole (image, channel) planes [begin, end), for maps small enough that
 * output rows of a few dozen columns would leave most of a vector idle: the
 * plane is copied once into one padded with the type's minimum (unless no
 * window reaches past the input), the maximum
 * over each window's columns and then over its rows is taken over the flat
 * plane in place (a window's taps are fixed offsets from its corner; values
 * at corners no window has are never read), and every output row picks its
 * corners at the strides.
 */
TARGET_AVX512 static void qmaxpool_planes_avx512(const qmaxpool_job *j, int64_t begin, int64_t end,
                                                 uint8_t *buf)
{
    const lm_window_geom *g = j->g;
    const bool sgn = j->sgn;
    int64_t hp, wp;
    plane_dims(g, &hp, &wp);
    const int64_t oh = g->out[0], ow = g->out[1], sy = g->s[0], sx = g->s[1];
    /* the corners a window can start at: rows 0 .. (oh-1)*sy, any column */
    const int64_t rows_h = (oh - 1) * sy + 1, n_h = hp * wp - (g->k[1] - 1) * g->d[1];
    /* windows inside the input need no copy: the first pass reads it */
    const bool padded = hp != g->in[0] || wp != g->in[1];
    for (int64_t pl = begin; pl < end; pl++) {
        const uint8_t *x = (const uint8_t *)j->x + pl * g->in_size;
        if (!padded) {
            max_taps(buf, x, n_h, g->k[1], g->d[1], sgn);
        } else {
            memset(buf, sgn ? 0x80 : 0, (size_t)(hp * wp));
            for (int64_t iy = 0; iy < g->in[0]; iy++)
                memcpy(buf + (iy + g->pb[0]) * wp + g->pb[1], x + iy * g->in[1], (size_t)g->in[1]);
            max_taps(buf, buf, n_h, g->k[1], g->d[1], sgn);
        }
        max_taps(buf, buf, rows_h * wp, g->k[0], g->d[0] * wp, sgn);
        uint8_t *y = (uint8_t *)j->y + pl * g->out_size;
        for (int64_t oy = 0; oy < oh; oy++, y += ow) {
            const uint8_t *r = buf + oy * sy * wp;
            if (sx == 1) {
                memcpy(y, r, (size_t)ow);
            } else if (sx == 2) {
                for (int64_t o = 0; o < ow; o += 64) { /* reads r[2o, 2o + 128) */
                    __mmask64 m = ow - o >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (ow - o)) - 1);
                    _mm512_mask_storeu_epi8(y + o, m, even_bytes(r + 2 * o, sgn));
                }
            } else {
                for (int64_t o = 0; o < ow; o++)
                    y[o] = r[o * sx];
            }
        }
    }
}

static void qmaxpool_planes(void *arg, int64_t begin, int64_t end)
{
    const qmaxpool_job *j = arg;
    uint8_t buf[QMP_MAX_PLANE + 256]; /* even_bytes reads up to 128 past a row */
    qmaxpool_planes_avx512(j, begin, end, buf);
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
    int64_t hp, wp;
    plane_dims(&g, &hp, &wp);
    if (use_avx512() && hp * wp <= QMP_MAX_PLANE) {
        /* ~0.1 ns per byte and tap pass, plus the output rows */
        double plane_cost =
            (double)(hp * wp) * 0.1 * (double)(g.k[0] + g.k[1]) + (double)g.out[0] * 10.0 + 50.0;
        lm_parallel_for(k, x->dims[0] * x->dims[1], plane_cost, qmaxpool_planes, &j);
        return LOOM_OK;
    }
#endif
    lm_parallel_for(k, x->dims[0] * x->dims[1] * g.out[0], cost, rows, &j);
    return LOOM_OK;
}
