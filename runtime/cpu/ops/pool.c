/*
 * pool.c - MaxPool, AveragePool, LpPool and their Global* forms (N-D).
 *
 * Every output position's window is clipped once per spatial axis: tables of
 * the first and last valid kernel tap for each output coordinate are built
 * before the loop, so the inner loops never test bounds.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../cpu_features.h"
#include "nn_private.h"
#include "qpool.h"

typedef struct pool_plan {
    lm_window_geom g;
    int64_t *klo, *khi; /* valid taps [klo, khi) per axis and output coordinate */
    int64_t *kpad;      /* taps inside the padded input, for count_include_pad */
    int64_t doff[LM_GEOM_MAX_SP];
    int64_t istride[LM_GEOM_MAX_SP]; /* row-major strides of the spatial input */
    int64_t cstride[LM_GEOM_MAX_SP]; /* column-major strides (storage_order = 1) */
    const void *x;
    void *y;
    int64_t *ind; /* MaxPool's Indices or NULL */
    bool col_major, count_pad;
    float p; /* LpPool's exponent */
} pool_plan;

/* Number of t in [0, k) with lo <= start + t * d < hi. Sets *first. */
static int64_t taps_in(int64_t start, int64_t k, int64_t d, int64_t lo, int64_t hi, int64_t *first)
{
    int64_t a = start >= lo ? 0 : (lo - start + d - 1) / d;
    int64_t b = start >= hi ? 0 : (hi - start + d - 1) / d;
    if (b > k)
        b = k;
    if (a > b)
        a = b;
    *first = a;
    return b - a;
}

static loom_status pool_tables(lm_kctx *k, pool_plan *p)
{
    const lm_window_geom *g = &p->g;
    int64_t total = 0;
    for (int d = 0; d < g->nsp; d++) {
        p->doff[d] = total;
        total += g->out[d];
    }
    int64_t *t = lm_kscratch(k, (size_t)(3 * total + 1) * sizeof(int64_t));
    if (!t)
        return LOOM_ERR_NO_MEMORY;
    p->klo = t;
    p->khi = t + total;
    p->kpad = t + 2 * total;
    int64_t is = 1, cs = 1;
    for (int d = g->nsp - 1; d >= 0; d--) {
        p->istride[d] = is;
        is *= g->in[d];
    }
    for (int d = 0; d < g->nsp; d++) {
        p->cstride[d] = cs;
        cs *= g->in[d];
    }
    for (int d = 0; d < g->nsp; d++)
        for (int64_t o = 0; o < g->out[d]; o++) {
            int64_t start = o * g->s[d] - g->pb[d], first, dummy;
            int64_t n = taps_in(start, g->k[d], g->d[d], 0, g->in[d], &first);
            p->klo[p->doff[d] + o] = first;
            p->khi[p->doff[d] + o] = first + n;
            p->kpad[p->doff[d] + o] =
                taps_in(start, g->k[d], g->d[d], -g->pb[d], g->in[d] + g->pe[d], &dummy);
        }
    return LOOM_OK;
}

/*
 * Walks the output positions of one channel. For each position, sets lo/hi
 * (tap ranges) and st (window start per axis), runs INIT, then TAP with `idx`
 * (spatial input offset) and `tc` (tap coordinates) for every valid tap, then END
 * with `o` the output offset.
 */
#define POOL_WALK(P, INIT, TAP, END)                                                               \
    do {                                                                                           \
        const lm_window_geom *g_ = &(P)->g;                                                        \
        int L_ = g_->nsp - 1;                                                                      \
        int64_t oc[LM_GEOM_MAX_SP] = {0}, lo[LM_GEOM_MAX_SP], hi[LM_GEOM_MAX_SP],                  \
                st[LM_GEOM_MAX_SP];                                                                \
        int64_t tc[LM_GEOM_MAX_SP];                                                                \
        for (int64_t o = 0; o < g_->out_size; o++) {                                               \
            bool empty_ = false;                                                                   \
            for (int d_ = 0; d_ <= L_; d_++) {                                                     \
                lo[d_] = (P)->klo[(P)->doff[d_] + oc[d_]];                                         \
                hi[d_] = (P)->khi[(P)->doff[d_] + oc[d_]];                                         \
                st[d_] = oc[d_] * g_->s[d_] - g_->pb[d_];                                          \
                empty_ = empty_ || lo[d_] >= hi[d_];                                               \
                tc[d_] = lo[d_];                                                                   \
            }                                                                                      \
            INIT;                                                                                  \
            while (!empty_) {                                                                      \
                int64_t rb_ = 0;                                                                   \
                for (int d_ = 0; d_ < L_; d_++)                                                    \
                    rb_ += (st[d_] + tc[d_] * g_->d[d_]) * (P)->istride[d_];                       \
                for (tc[L_] = lo[L_]; tc[L_] < hi[L_]; tc[L_]++) {                                 \
                    int64_t idx = rb_ + st[L_] + tc[L_] * g_->d[L_];                               \
                    TAP;                                                                           \
                }                                                                                  \
                int d_ = L_ - 1;                                                                   \
                for (; d_ >= 0; d_--) {                                                            \
                    if (++tc[d_] < hi[d_])                                                         \
                        break;                                                                     \
                    tc[d_] = lo[d_];                                                               \
                }                                                                                  \
                if (d_ < 0)                                                                        \
                    break;                                                                         \
            }                                                                                      \
            END;                                                                                   \
            for (int d_ = L_; d_ >= 0; d_--) {                                                     \
                if (++oc[d_] < g_->out[d_])                                                        \
                    break;                                                                         \
                oc[d_] = 0;                                                                        \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Column-major spatial offset of the tap at window start st + tc * d. */
static inline int64_t colmajor_index(const pool_plan *p, const int64_t *st, const int64_t *tc)
{
    int64_t r = 0;
    for (int d = 0; d < p->g.nsp; d++)
        r += (st[d] + tc[d] * p->g.d[d]) * p->cstride[d];
    return r;
}

#define MAXPOOL_FN(T, LOWEST)                                                                      \
    static void maxpool_##T(void *arg, int64_t begin, int64_t end)                                 \
    {                                                                                              \
        const pool_plan *p = arg;                                                                  \
        int64_t IS = p->g.in_size, OS = p->g.out_size;                                             \
        for (int64_t ch = begin; ch < end; ch++) {                                                 \
            const T *x = (const T *)p->x + ch * IS;                                                \
            T *y = (T *)p->y + ch * OS;                                                            \
            int64_t *ind = p->ind ? p->ind + ch * OS : NULL;                                       \
            T best;                                                                                \
            int64_t bi;                                                                            \
            POOL_WALK(                                                                             \
                p, (best = (LOWEST), bi = -1),                                                     \
                if (bi < 0 || x[idx] > best) {                                                     \
                    best = x[idx];                                                                 \
                    bi = ind && p->col_major ? colmajor_index(p, st, tc) : idx;                    \
                },                                                                                 \
                {                                                                                  \
                    y[o] = best;                                                                   \
                    if (ind)                                                                       \
                        ind[o] = (bi < 0 ? 0 : bi) + ch * IS;                                      \
                });                                                                                \
        }                                                                                          \
    }
MAXPOOL_FN(float, -FLT_MAX)
MAXPOOL_FN(double, -DBL_MAX)
MAXPOOL_FN(int8_t, INT8_MIN)
MAXPOOL_FN(uint8_t, 0)

/* Maximum of column @w of rows[0..n), NaN ignored: colmax_generic's t[w]. */
static inline float column_max(const float *const *rows, int64_t n, int64_t w)
{
    float best = -INFINITY;
    for (int64_t r = 0; r < n; r++)
        best = rows[r][w] > best ? rows[r][w] : best;
    return best;
}

/* Widest input row maxpool2d_float takes (its row buffer is on the stack). */
#define MAXPOOL_ROW_MAX 4096

/* t[0..W) = column-wise maximum of rows[0..n), NaN ignored (-inf where a
 * column has nothing else): v > best ? v : best from -inf. */
static void colmax_generic(const float *const *rows, int64_t n, int64_t W, float *t)
{
    for (int64_t w = 0; w < W; w++)
        t[w] = -INFINITY;
    for (int64_t r = 0; r < n; r++)
        for (int64_t w = 0; w < W; w++)
            t[w] = rows[r][w] > t[w] ? rows[r][w] : t[w];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "../transpose.h"

/* The same, 16 columns at a time: vmaxps(v, best) is v > best ? v : best. */
__attribute__((target("avx512f"))) static void colmax_avx512f(const float *const *rows, int64_t n,
                                                              int64_t W, float *t)
{
    for (int64_t w = 0; w < W; w += 16) {
        __mmask16 m = W - w >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (W - w)) - 1);
        __m512 best = _mm512_set1_ps(-INFINITY);
        for (int64_t r = 0; r < n; r++)
            best = _mm512_max_ps(_mm512_maskz_loadu_ps(m, rows[r] + w), best);
        _mm512_mask_storeu_ps(t + w, m, best);
    }
}

/* src[j * s] for j < m (m <= 16, s 1 or 2), reading only those floats. */
__attribute__((target("avx512f"))) static inline __m512 strided16(const float *src, int64_t s,
                                                                  int64_t m)
{
    if (s == 1)
        return _mm512_maskz_loadu_ps(lm_lanes16(m), src);
    const __m512i evens =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    int64_t need = 2 * m - 1;
    __m512 lo = _mm512_maskz_loadu_ps(lm_lanes16(need), src);
    __m512 hi = _mm512_maskz_loadu_ps(lm_lanes16(need - 16), src + 16);
    return _mm512_permutex2var_ps(lo, evens, hi);
}

/*
 * Outputs [a, b) of one row whose windows are whole (no clipped taps),
 * 16 at a time: y[ow] = max of t[ow * s - pb + c] for c < k, NaN ignored,
 * or xr's first tap when that is NaN (maxpool2d_float's rule).
 */
/*
 * rowmax_avx512f for 3-wide windows 2 apart (the CNNs' 3 x 3 stride-2
 * pools), straight from the window's @n input rows: for 16 outputs the
 * column maxima of the 33 columns they read are three vectors (lo, hi, top),
 * the taps are their even lanes E, odd lanes, and E moved down a lane with
 * top's first, so three shuffles serve all of them. Taking the column maxima
 * in registers, not through the row buffer, spares each output row a store
 * and the reloads across it, which could not be forwarded from the stores
 * (a third of the 13 x 13 outputs' time). NaN is ignored in the maxima
 * (max keeps the earlier tap on ties, as the generic loop does), then an
 * output whose first tap is NaN takes it.
 */
__attribute__((target("avx512f"))) static void
rowmax3s2_avx512f(const float *const *rows, int64_t n, int64_t a, int64_t b, int64_t pb, float *y)
{
    const __m512i evens =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odds =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t ow = a; ow < b; ow += 16) {
        int64_t m = b - ow < 16 ? b - ow : 16, base = ow * 2 - pb, need = 2 * m + 1;
        __mmask16 k0 = lm_lanes16(need), k1 = lm_lanes16(need - 16), k2 = lm_lanes16(need - 32);
        __m512 lo = _mm512_set1_ps(-INFINITY), hi = lo, top = lo;
        for (int64_t r = 0; r < n; r++) {
            lo = _mm512_max_ps(_mm512_maskz_loadu_ps(k0, rows[r] + base), lo);
            hi = _mm512_max_ps(_mm512_maskz_loadu_ps(k1, rows[r] + base + 16), hi);
            top = _mm512_max_ps(_mm512_maskz_loadu_ps(k2, rows[r] + base + 32), top);
        }
        __m512 e = _mm512_permutex2var_ps(lo, evens, hi);
        __m512 o = _mm512_permutex2var_ps(lo, odds, hi);
        __m512 e1 = _mm512_castsi512_ps(
            _mm512_alignr_epi32(_mm512_castps_si512(top), _mm512_castps_si512(e), 1));
        __m512 best = _mm512_max_ps(e1, _mm512_max_ps(o, e));
        __m512 first = strided16(rows[0] + base, 2, m);
        __mmask16 nan = _mm512_cmp_ps_mask(first, first, _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, nan, first);
        _mm512_mask_storeu_ps(y + ow, lm_lanes16(m), best);
    }
}

__attribute__((target("avx512f"))) static void rowmax_avx512f(const float *t, const float *xr,
                                                              int64_t a, int64_t b, int64_t s,
                                                              int64_t pb, int64_t k, float *y)
{
    for (int64_t ow = a; ow < b; ow += 16) {
        int64_t m = b - ow < 16 ? b - ow : 16, base = ow * s - pb;
        __m512 best = _mm512_set1_ps(-INFINITY);
        for (int64_t c = 0; c < k; c++)
            best = _mm512_max_ps(strided16(t + base + c, s, m), best);
        __m512 first = strided16(xr + base, s, m);
        __mmask16 nan = _mm512_cmp_ps_mask(first, first, _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, nan, first);
        _mm512_mask_storeu_ps(y + ow, lm_lanes16(m), best);
    }
}
#endif

/* Input rows [r0, r0 + n) of a plane of H rows of W floats into the cache.
 * The rows are one contiguous stream, yet without this each output row
 * waited on its new input rows: 3 x 3 stride-2 pools on planes beyond L2 ran
 * 1.5x longer (SqueezeNet's 64 x 111 x 111 one: 320 us, 200-220 with it). */
static void prefetch_rows(const float *x, int64_t r0, int64_t n, int64_t H, int64_t W)
{
    for (int64_t r = r0 < 0 ? 0 : r0; r < r0 + n && r < H; r++)
        for (int64_t w = 0; w < W; w += 16)
            __builtin_prefetch(x + r * W + w);
}

/*
 * MaxPool on 2-D float maps without dilation or Indices, the CNN case. Each
 * output row first takes the column-wise maxima of its window's rows (in
 * vectors, NaN ignored), then each output the maximum of its window's
 * columns of those. Same result as maxpool_float, whose rule is "the first
 * valid tap seeds the maximum, later ones replace it when greater": that is
 * NaN when the first tap is NaN, else the maximum of the taps that are not.
 */
static void maxpool2d_float(void *arg, int64_t begin, int64_t end)
{
    const pool_plan *p = arg;
    const lm_window_geom *g = &p->g;
    const int64_t W = g->in[1], OH = g->out[0], OW = g->out[1];
    void (*colmax)(const float *const *, int64_t, int64_t, float *) = colmax_generic;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lm_cpu_features_get()->avx512f)
        colmax = colmax_avx512f;
#endif
    /* Outputs [a, b) have whole windows along W: the vector row path. */
    int64_t a = 0, b = 0;
    bool vec_rows = false;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    vec_rows = colmax == colmax_avx512f && (g->s[1] == 1 || g->s[1] == 2);
#endif
    const bool fused3s2 = vec_rows && g->s[1] == 2 && g->k[1] == 3;
    for (a = 0; a < OW && p->klo[p->doff[1] + a] != 0; a++)
        ;
    for (b = a; b < OW && p->klo[p->doff[1] + b] == 0 && p->khi[p->doff[1] + b] == g->k[1]; b++)
        ;
    float t[MAXPOOL_ROW_MAX];
    const float *rows[64]; /* the caller checks k[0] <= 64 */
    for (int64_t ch = begin; ch < end; ch++) {
        const float *x = (const float *)p->x + ch * g->in_size;
        float *y = (float *)p->y + ch * g->out_size;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t hlo = p->klo[oh], hhi = p->khi[oh], hs = oh * g->s[0] - g->pb[0];
            for (int64_t r = hlo; r < hhi; r++)
                rows[r - hlo] = x + (hs + r) * W;
            /* the rows output row oh + 2 reads that oh + 1 does not */
            prefetch_rows(x, hs + hhi + g->s[0], g->s[0], g->in[0], W);
            /* the fused 3 x 3 stride-2 path reads the rows themselves, and
             * so do its row's clipped windows, a column at a time */
            if (hhi > hlo && !fused3s2)
                colmax(rows, hhi - hlo, W, t);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
            if (fused3s2 && hhi > hlo && b > a)
                rowmax3s2_avx512f(rows, hhi - hlo, a, b, g->pb[1], y + oh * OW);
            else if (vec_rows && hhi > hlo && b > a)
                rowmax_avx512f(t, x + (hs + hlo) * W, a, b, g->s[1], g->pb[1], g->k[1],
                               y + oh * OW);
#endif
            for (int64_t ow = 0; ow < OW; ow++) {
                if (vec_rows && hhi > hlo && ow == a && b > a)
                    ow = b; /* done above */
                if (ow >= OW)
                    break;
                int64_t wlo = p->klo[p->doff[1] + ow], whi = p->khi[p->doff[1] + ow];
                int64_t ws = ow * g->s[1] - g->pb[1];
                float best = -FLT_MAX;
                if (hlo < hhi && wlo < whi) {
                    best = -INFINITY;
                    for (int64_t c = wlo; c < whi; c++) {
                        float v = fused3s2 ? column_max(rows, hhi - hlo, ws + c) : t[ws + c];
                        best = v > best ? v : best;
                    }
                    float first = x[(hs + hlo) * W + ws + wlo];
                    if (isnan(first))
                        best = first;
                }
                y[oh * OW + ow] = best;
            }
        }
    }
}

/* GlobalAveragePool on float: each channel's plane is contiguous. */
typedef float v16f __attribute__((vector_size(64)));

/* Sum of x[0..n) in 16 interleaved partial sums: one running sum waits on
 * each add's latency (the SE blocks of MobileNetV3 average every channel). */
#define DEFINE_SUM16(NAME, TARGET)                                                                 \
    static TARGET float NAME(const float *x, int64_t n)                                            \
    {                                                                                              \
        v16f acc = {0};                                                                            \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16) {                                                             \
            v16f v;                                                                                \
            memcpy(&v, x + i, sizeof v);                                                           \
            acc += v;                                                                              \
        }                                                                                          \
        float sum = 0.0f;                                                                          \
        for (int l = 0; l < 16; l++)                                                               \
            sum += acc[l];                                                                         \
        for (; i < n; i++)                                                                         \
            sum += x[i];                                                                           \
        return sum;                                                                                \
    }
#if defined(__x86_64__)
DEFINE_SUM16(sum16_avx512f, __attribute__((target("avx512f"))))
#endif
DEFINE_SUM16(sum16_generic, )

static void global_avgpool_float(void *arg, int64_t begin, int64_t end)
{
    const pool_plan *p = arg;
    int64_t n = p->g.in_size;
    float (*sum)(const float *, int64_t) = sum16_generic;
#if defined(__x86_64__)
    if (lm_cpu_features_get()->avx512f)
        sum = sum16_avx512f;
#endif
    for (int64_t ch = begin; ch < end; ch++)
        ((float *)p->y)[ch] = sum((const float *)p->x + ch * n, n) / (float)n;
}

/* count_include_pad divisor: taps inside the padded input. */
static inline int64_t pad_taps(const pool_plan *p, const int64_t *st)
{
    int64_t n = 1;
    for (int d = 0; d < p->g.nsp; d++) {
        int64_t o = (st[d] + p->g.pb[d]) / p->g.s[d];
        n *= p->kpad[p->doff[d] + o];
    }
    return n;
}

#define AVGPOOL_FN(T)                                                                              \
    static void avgpool_##T(void *arg, int64_t begin, int64_t end)                                 \
    {                                                                                              \
        const pool_plan *p = arg;                                                                  \
        int64_t IS = p->g.in_size, OS = p->g.out_size;                                             \
        for (int64_t ch = begin; ch < end; ch++) {                                                 \
            const T *x = (const T *)p->x + ch * IS;                                                \
            T *y = (T *)p->y + ch * OS;                                                            \
            T sum;                                                                                 \
            int64_t cnt;                                                                           \
            POOL_WALK(p, (sum = 0, cnt = 0), (sum += x[idx], cnt++), {                             \
                if (p->count_pad)                                                                  \
                    cnt = pad_taps(p, st);                                                         \
                y[o] = cnt > 0 ? sum / (T)cnt : (T)0;                                              \
            });                                                                                    \
        }                                                                                          \
    }
AVGPOOL_FN(float)
AVGPOOL_FN(double)

/*
 * 2-D float AveragePool, separably: for each output row the window's valid
 * input rows are summed along the whole width first (one vector loop), then
 * each output sums its window's columns of that and divides by the valid
 * (or, with count_include_pad, the padded) taps, which are the products of
 * the two axes' counts. The per-output walk above recomputes indices for
 * every tap: DenseNet's 2 x 2 transitions took 20x ONNX Runtime's time. The
 * sum is taken in another order than the walk's, so results may differ
 * from it by roundings.
 */
static inline __attribute__((always_inline)) void
avgpool2d_plane(const pool_plan *p, const float *x, float *y, float *t)
{
    const lm_window_geom *g = &p->g;
    const int64_t W = g->in[1], OH = g->out[0], OW = g->out[1];
    const int64_t *rlo = p->klo, *rhi = p->khi, *clo = p->klo + p->doff[1];
    const int64_t *chi = p->khi + p->doff[1];
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t r0 = oh * g->s[0] - g->pb[0];
        for (int64_t w = 0; w < W; w++)
            t[w] = 0.0f;
        for (int64_t r = rlo[oh]; r < rhi[oh]; r++) {
            const float *xr = x + (r0 + r) * W;
            for (int64_t w = 0; w < W; w++)
                t[w] += xr[w];
        }
        int64_t rows = p->count_pad ? p->kpad[oh] : rhi[oh] - rlo[oh];
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t c0 = ow * g->s[1] - g->pb[1];
            float sum = 0.0f;
            for (int64_t c = clo[ow]; c < chi[ow]; c++)
                sum += t[c0 + c];
            int64_t cols = p->count_pad ? p->kpad[p->doff[1] + ow] : chi[ow] - clo[ow];
            int64_t cnt = rlo[oh] < rhi[oh] && clo[ow] < chi[ow] ? rows * cols : 0;
            y[oh * OW + ow] = cnt > 0 ? sum / (float)cnt : 0.0f;
        }
    }
}

static void avgpool2d_generic(const pool_plan *p, const float *x, float *y, float *t)
{
    avgpool2d_plane(p, x, y, t);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx512f"))) static void avgpool2d_avx512f(const pool_plan *p, const float *x,
                                                                 float *y, float *t)
{
    avgpool2d_plane(p, x, y, t);
}
#endif

static void avgpool2d_float(void *arg, int64_t begin, int64_t end)
{
    const pool_plan *p = arg;
    void (*plane)(const pool_plan *, const float *, float *, float *) = avgpool2d_generic;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lm_cpu_features_get()->avx512f)
        plane = avgpool2d_avx512f;
#endif
    float t[MAXPOOL_ROW_MAX];
    for (int64_t ch = begin; ch < end; ch++)
        plane(p, (const float *)p->x + ch * p->g.in_size, (float *)p->y + ch * p->g.out_size, t);
}

#define LPPOOL_FN(T, POW, ABS)                                                                     \
    static void lppool_##T(void *arg, int64_t begin, int64_t end)                                  \
    {                                                                                              \
        const pool_plan *p = arg;                                                                  \
        int64_t IS = p->g.in_size, OS = p->g.out_size;                                             \
        T e = (T)p->p;                                                                             \
        for (int64_t ch = begin; ch < end; ch++) {                                                 \
            const T *x = (const T *)p->x + ch * IS;                                                \
            T *y = (T *)p->y + ch * OS;                                                            \
            T sum;                                                                                 \
            POOL_WALK(p, sum = 0, sum += POW(ABS(x[idx]), e), y[o] = POW(sum, (T)1 / e));          \
        }                                                                                          \
    }
LPPOOL_FN(float, powf, fabsf)
LPPOOL_FN(double, pow, fabs)

/*
 * Stride-1 float MaxPool of small planes (GoogLeNet's inception branches,
 * YOLO's SPPF: 7 to 28 wide), where a call per output row costs more than
 * its few vectors. Each plane is copied once into a buffer padded with -inf
 * to exactly the rows and columns the windows reach (Hp x Wp), then reduced
 * by flat passes over the whole buffer: the window's rows (t[i] = max of
 * P[i + r Wp]), then its columns (y from t[i + c]). v > m ? v : m skips NaN
 * as maxpool2d_float's rule does; a plane holding NaN then takes the rule's
 * other half, NaN where an output's first valid tap is NaN, from the input.
 */
#define MAXPOOL_FLAT_MAX 8192 /* floats of the padded plane (32 KiB) */

static bool maxpool_flat_applies(const lm_window_geom *g)
{
    int64_t hp = g->out[0] + g->k[0] - 1, wp = g->out[1] + g->k[1] - 1;
    return g->s[0] == 1 && g->s[1] == 1 && hp * wp <= MAXPOOL_FLAT_MAX && g->pb[0] < g->k[0] &&
           g->pb[1] < g->k[1];
}

static inline __attribute__((always_inline)) void
maxpool_flat_plane(const lm_window_geom *g, const float *x, float *y, float *P, float *t)
{
    const int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    const int64_t KH = g->k[0], KW = g->k[1], Wp = OW + KW - 1, Hp = OH + KH - 1;
    for (int64_t i = 0; i < Hp * Wp; i++)
        P[i] = -INFINITY;
    for (int64_t r = 0; r < H && r + g->pb[0] < Hp; r++) {
        int64_t n = W < Wp - g->pb[1] ? W : Wp - g->pb[1];
        memcpy(P + (r + g->pb[0]) * Wp + g->pb[1], x + r * W, (size_t)n * sizeof(float));
    }
    int nan = 0;
    for (int64_t i = 0; i < H * W; i++)
        nan |= x[i] != x[i];
    /* rows, then columns: u[j] = max of t[j .. j + KW), all flat; outputs
     * are u's first OW of every Wp */
    const int64_t nt = OH * Wp, nu = nt - (KW - 1);
    for (int64_t i = 0; i < nt; i++)
        t[i] = -INFINITY; /* not P[i]: a NaN seed would stick */
    for (int64_t r = 0; r < KH; r++)
        for (int64_t i = 0; i < nt; i++)
            t[i] = P[i + r * Wp] > t[i] ? P[i + r * Wp] : t[i];
    float *u = P;
    for (int64_t j = 0; j < nu; j++)
        u[j] = t[j];
    for (int64_t c = 1; c < KW; c++)
        for (int64_t j = 0; j < nu; j++)
            u[j] = t[j + c] > u[j] ? t[j + c] : u[j];
    for (int64_t oh = 0; oh < OH; oh++)
        memcpy(y + oh * OW, u + oh * Wp, (size_t)OW * sizeof(float));
    if (!nan)
        return;
    for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
            int64_t r = oh - g->pb[0] > 0 ? oh - g->pb[0] : 0;
            int64_t c = ow - g->pb[1] > 0 ? ow - g->pb[1] : 0;
            if (r < H && c < W && isnan(x[r * W + c]))
                y[oh * OW + ow] = x[r * W + c];
        }
}

static void maxpool_flat_generic(const lm_window_geom *g, const float *x, float *y, float *P,
                                 float *t)
{
    maxpool_flat_plane(g, x, y, P, t);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx512f"))) static void
maxpool_flat_avx512f(const lm_window_geom *g, const float *x, float *y, float *P, float *t)
{
    maxpool_flat_plane(g, x, y, P, t);
}
#endif

static void maxpool_flat(void *arg, int64_t begin, int64_t end)
{
    const pool_plan *p = arg;
    void (*plane)(const lm_window_geom *, const float *, float *, float *, float *) =
        maxpool_flat_generic;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lm_cpu_features_get()->avx512f)
        plane = maxpool_flat_avx512f;
#endif
    /* t starts 80 floats past a multiple of 4 KiB from P: element i of the
     * two never shares its address's low 12 bits, which would make loads of
     * one wait on stores to the other */
    float buf[2 * MAXPOOL_FLAT_MAX + 80];
    float *P = buf, *t = buf + MAXPOOL_FLAT_MAX + 80;
    for (int64_t ch = begin; ch < end; ch++)
        plane(&p->g, (const float *)p->x + ch * p->g.in_size, (float *)p->y + ch * p->g.out_size, P,
              t);
}

enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP };

static loom_status run_pool(lm_kctx *k, enum pool_kind kind, bool global)
{
    loom_status st = lm_kcheck_arity(k, 1, 1);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0);
    lm_range_fn fn = NULL;
    switch (x->dtype) {
    case LOOM_DTYPE_FLOAT:
        fn = kind == POOL_MAX ? maxpool_float : kind == POOL_AVG ? avgpool_float : lppool_float;
        break;
    case LOOM_DTYPE_DOUBLE:
        fn = kind == POOL_MAX ? maxpool_double : kind == POOL_AVG ? avgpool_double : lppool_double;
        break;
    case LOOM_DTYPE_INT8:
        fn = kind == POOL_MAX && !global ? maxpool_int8_t : NULL;
        break;
    case LOOM_DTYPE_UINT8:
        fn = kind == POOL_MAX && !global ? maxpool_uint8_t : NULL;
        break;
    default:
        break;
    }
    if (!fn)
        return lm_kunsupported(k, "dtype %d not supported", (int)x->dtype);
    pool_plan p;
    memset(&p, 0, sizeof(p));
    p.p = 2.0f;
    if (kind == POOL_LP) {
        /* LpPool-1 had a float p; later versions an int. */
        p.p = lm_node_has_attr(k->node, "p") ? (float)lm_node_attr_int(k->node, "p", 2) : 2.0f;
        if (p.p <= 0.0f)
            return lm_kinvalid(k, "p = %g must be positive", (double)p.p);
    }
    if (global) {
        st = lm_geom_global_pool(k->node, x, &p.g);
    } else {
        lm_pool_geom pg;
        st = lm_geom_pool(k->node, x, &pg);
        p.g = pg.win;
        p.col_major = pg.col_major;
        p.count_pad = pg.count_include_pad;
    }
    if (st != LOOM_OK)
        return st;
    int nsp = p.g.nsp;
    int64_t yd[LOOM_MAX_RANK] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < nsp; i++)
        yd[i + 2] = p.g.out[i];
    loom_tensor *y = lm_kout(k, 0, x->dtype, x->rank, yd);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    loom_tensor *ind = NULL;
    if (kind == POOL_MAX && !global && k->n_out > 1 && k->node->out[1] >= 0) {
        ind = lm_kout(k, 1, LOOM_DTYPE_INT64, x->rank, yd);
        if (!ind)
            return LOOM_ERR_NO_MEMORY;
    }
    if (k->dry)
        return LOOM_OK;
    int64_t nch = x->dims[0] * x->dims[1];
    if (nch == 0 || p.g.out_size == 0)
        return LOOM_OK;
    if ((st = pool_tables(k, &p)) != LOOM_OK)
        return st;
    p.x = x->data;
    p.y = y->data;
    p.ind = ind ? ind->data : NULL;
    if (fn == maxpool_float && !ind && nsp == 2 && p.g.d[0] == 1 && p.g.d[1] == 1 &&
        p.g.in[1] <= MAXPOOL_ROW_MAX && p.g.k[0] <= 64)
        fn = maxpool_flat_applies(&p.g) ? maxpool_flat : maxpool2d_float;
    if (global && fn == avgpool_float)
        fn = global_avgpool_float;
    else if (fn == avgpool_float && nsp == 2 && p.g.d[0] == 1 && p.g.d[1] == 1 &&
             p.g.in[1] <= MAXPOOL_ROW_MAX)
        fn = avgpool2d_float;
    lm_parallel_for(k, nch, (double)p.g.out_size * (double)p.g.k_size, fn, &p);
    return LOOM_OK;
}

static loom_status op_maxpool(lm_kctx *k)
{
    /* 8-bit feature maps (QOperator models): the vectorized 8-bit kernel
     * when no Indices output is wanted. */
    const loom_tensor *x = lm_kin(k, 0);
    bool indices = k->n_out > 1 && k->node->out[1] >= 0;
    if (x && x->rank == 4 && !indices &&
        (x->dtype == LOOM_DTYPE_UINT8 || x->dtype == LOOM_DTYPE_INT8) &&
        lm_node_attr_int(k->node, "storage_order", 0) == 0)
        return lm_op_qmaxpool(k);
    return run_pool(k, POOL_MAX, false);
}

static loom_status op_averagepool(lm_kctx *k)
{
    return run_pool(k, POOL_AVG, false);
}

static loom_status op_lppool(lm_kctx *k)
{
    return run_pool(k, POOL_LP, false);
}

static loom_status op_globalmaxpool(lm_kctx *k)
{
    return run_pool(k, POOL_MAX, true);
}

static loom_status op_globalaveragepool(lm_kctx *k)
{
    return run_pool(k, POOL_AVG, true);
}

static loom_status op_globallppool(lm_kctx *k)
{
    return run_pool(k, POOL_LP, true);
}

const lm_op_def lm_ops_pool[] = {
    LM_OP_FULL("", "MaxPool", op_maxpool),
    LM_OP_FULL("", "AveragePool", op_averagepool),
    LM_OP("", "LpPool", op_lppool),
    LM_OP_FULL("", "GlobalMaxPool", op_globalmaxpool),
    LM_OP_FULL("", "GlobalAveragePool", op_globalaveragepool),
    LM_OP("", "GlobalLpPool", op_globallppool),
    LM_OP_END,
};
