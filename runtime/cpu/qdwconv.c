/*
 * qdwconv.c - the direct 8-bit depthwise convolution (see qdwconv.h).
 *
 * The channel's input plane is widened once to int32 with the zero point
 * subtracted (padding columns become 0) and split by phase of the x stride
 * s, so that every filter tap reads a contiguous run of the plane: output
 * column i of tap kx reads phase (kx * dil) % s at column i + (kx * dil) / s.
 * Taps in padding rows are skipped (they add 0). Each output row then
 * accumulates DW_VEC outputs at a time over the taps, in loops of fixed trip
 * count that vectorize for the target of each variant.
 *
 * Both factors lie in [-255, 255], so each product fits int32 exactly, and
 * with at most DW_MAX_TAPS taps (64 * 255 * 255 < 2^31) so does their sum;
 * the reference wraps like qgemm's, so the blocked kernels are bit-exact.
 */
#include "qdwconv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"

#define DW_VEC      16 /* outputs accumulated together (one zmm of int32) */
#define DW_GROUP    4  /* vectors of outputs per pass over the taps */
#define DW_MAX_TAPS 64 /* filter taps of the blocked kernels */
#define DW_MAX_S    8  /* x stride of the blocked kernels */
#define DW_MAX_WS   (64 << 20)

static inline int32_t x_at(const lm_qdw_params *p, int64_t i)
{
    return p->x_signed ? (int32_t)((const int8_t *)p->x)[i] : (int32_t)((const uint8_t *)p->x)[i];
}

static inline int32_t k_at(const lm_qdw_params *p, int64_t i)
{
    return p->k_signed ? (int32_t)((const int8_t *)p->k)[i] : (int32_t)((const uint8_t *)p->k)[i];
}

void lm_qdw_channel_ref(const lm_qdw_params *p, int32_t *acc)
{
    for (int64_t oy = 0; oy < p->oh; oy++)
        for (int64_t ox = 0; ox < p->ow; ox++) {
            uint32_t sum = 0;
            for (int64_t ky = 0; ky < p->kh; ky++) {
                int64_t iy = oy * p->stride[0] + ky * p->dil[0] - p->pad[0];
                if (iy < 0 || iy >= p->h)
                    continue;
                for (int64_t kx = 0; kx < p->kw; kx++) {
                    int64_t ix = ox * p->stride[1] + kx * p->dil[1] - p->pad[1];
                    if (ix < 0 || ix >= p->w)
                        continue;
                    int32_t xv = x_at(p, iy * p->w + ix) - p->x_zp;
                    int32_t kv = k_at(p, ky * p->kw + kx) - p->k_zp;
                    sum += (uint32_t)(xv * kv);
                }
            }
            acc[oy * p->ow + ox] = (int32_t)sum;
        }
}

/* Columns of one phase row: the output row rounded up to whole vectors
 * (what the accumulation reads) plus the filter's reach. */
static int64_t plane_cols(const lm_qdw_params *p)
{
    return (p->ow + DW_VEC - 1) / DW_VEC * DW_VEC + (p->kw - 1) * p->dil[1] / p->stride[1] + 1;
}

size_t lm_qdw_workspace(const lm_qdw_params *p)
{
    if (p->kh * p->kw > DW_MAX_TAPS || p->stride[1] > DW_MAX_S || p->ow <= 0 || p->oh <= 0)
        return 0;
    int64_t cols = plane_cols(p), bytes;
    if (__builtin_mul_overflow(p->stride[1] * p->h, cols * (int64_t)sizeof(int32_t), &bytes) ||
        bytes > DW_MAX_WS)
        return 0;
    return (size_t)(bytes + 63) / 64 * 64;
}

/* The columns j of phase @ph that read inside the input row:
 * 0 <= s * j + ph - pad < w for j in [lo, hi), clipped to [0, cols). */
static inline void phase_range(const lm_qdw_params *p, int64_t ph, int64_t cols, int64_t *lo,
                               int64_t *hi)
{
    int64_t s = p->stride[1], first = ph - p->pad[1];
    int64_t a = first >= 0 ? 0 : (-first + s - 1) / s;
    int64_t b = p->w - first <= 0 ? 0 : (p->w - first + s - 1) / s;
    *lo = a < cols ? a : cols;
    *hi = b < *lo ? *lo : b < cols ? b : cols;
}

/* Phase rows of one input row: dst[ph][j] = src[s * j + ph - pad] - zp for
 * j in [lo[ph], hi[ph]), 0 elsewhere. Stride 1, and the common stretch of
 * both phases at stride 2, are loops the compiler vectorizes. */
#define DEFINE_WIDEN(NAME, T)                                                                      \
    static inline __attribute__((always_inline)) void NAME(                                        \
        const T *restrict src, const lm_qdw_params *p, const int64_t *lo, const int64_t *hi,       \
        int64_t cols, int32_t *restrict dst)                                                       \
    {                                                                                              \
        int64_t s = p->stride[1];                                                                  \
        int32_t zp = p->x_zp;                                                                      \
        int64_t j0 = 0, j1 = 0; /* [j0, j1): done for every phase already */                       \
        if (s == 2) {                                                                              \
            j0 = lo[0] > lo[1] ? lo[0] : lo[1];                                                    \
            j1 = hi[0] < hi[1] ? hi[0] : hi[1];                                                    \
            j1 = j1 > j0 ? j1 : j0;                                                                \
            const T *restrict sp = src - p->pad[1];                                                \
            int32_t *restrict d0 = dst, *restrict d1 = dst + cols;                                 \
            for (int64_t j = j0; j < j1; j++) {                                                    \
                d0[j] = (int32_t)sp[2 * j] - zp;                                                   \
                d1[j] = (int32_t)sp[2 * j + 1] - zp;                                               \
            }                                                                                      \
        }                                                                                          \
        for (int64_t ph = 0; ph < s; ph++) {                                                       \
            int32_t *restrict d = dst + ph * cols;                                                 \
            const T *restrict sp = src + ph - p->pad[1];                                           \
            for (int64_t j = 0; j < lo[ph]; j++)                                                   \
                d[j] = 0;                                                                          \
            if (s == 1) {                                                                          \
                for (int64_t j = lo[ph]; j < hi[ph]; j++)                                          \
                    d[j] = (int32_t)sp[j] - zp;                                                    \
            } else {                                                                               \
                for (int64_t j = lo[ph]; j < hi[ph]; j++) {                                        \
                    if (j == j0 && j1 > j0)                                                        \
                        j = j1;                                                                    \
                    if (j < hi[ph])                                                                \
                        d[j] = (int32_t)sp[s * j] - zp;                                            \
                }                                                                                  \
            }                                                                                      \
            for (int64_t j = hi[ph]; j < cols; j++)                                                \
                d[j] = 0;                                                                          \
        }                                                                                          \
    }

DEFINE_WIDEN(widen_u8, uint8_t)
DEFINE_WIDEN(widen_s8, int8_t)

/* The widened plane: phase ph of input row iy at ws + (iy * s + ph) * cols. */
static inline __attribute__((always_inline)) void widen_plane(const lm_qdw_params *p, int32_t *ws)
{
    int64_t s = p->stride[1], cols = plane_cols(p);
    int64_t lo[DW_MAX_S], hi[DW_MAX_S];
    for (int64_t ph = 0; ph < s; ph++)
        phase_range(p, ph, cols, &lo[ph], &hi[ph]);
    for (int64_t iy = 0; iy < p->h; iy++) {
        int32_t *dst = ws + iy * s * cols;
        if (p->x_signed)
            widen_s8((const int8_t *)p->x + iy * p->w, p, lo, hi, cols, dst);
        else
            widen_u8((const uint8_t *)p->x + iy * p->w, p, lo, hi, cols, dst);
    }
}

/* The channel's filter: weights minus the zero point, and where tap kx's
 * run starts within a phase-split input row. */
typedef struct dw_filter {
    int32_t kv[DW_MAX_TAPS];
    int64_t col[DW_MAX_TAPS]; /* per kx */
} dw_filter;

/* The taps of output row @oy with a nonzero weight: where each one's run
 * starts in the plane, and its weight. */
typedef struct dw_taps {
    const int32_t *src[DW_MAX_TAPS];
    int32_t wt[DW_MAX_TAPS];
    int n;
} dw_taps;

static inline __attribute__((always_inline)) void
row_taps(const lm_qdw_params *p, const int32_t *ws, const dw_filter *f, int64_t oy, dw_taps *t)
{
    int64_t row = p->stride[1] * plane_cols(p);
    t->n = 0;
    for (int64_t ky = 0; ky < p->kh; ky++) {
        int64_t iy = oy * p->stride[0] + ky * p->dil[0] - p->pad[0];
        if (iy < 0 || iy >= p->h)
            continue;
        for (int64_t kx = 0; kx < p->kw; kx++) {
            int32_t w = f->kv[ky * p->kw + kx];
            if (w == 0)
                continue;
            t->src[t->n] = ws + iy * row + f->col[kx];
            t->wt[t->n++] = w;
        }
    }
}

/* acc[i] = sum over taps of wt * src[i] for the up to DW_GROUP vectors of
 * outputs at @i0 (the plane has columns for whole vectors; only outputs
 * below @ow are stored). */
static inline __attribute__((always_inline)) void row_group_c(const dw_taps *t, int64_t i0,
                                                              int64_t ow, int32_t *acc)
{
    int64_t nv = (ow - i0 + DW_VEC - 1) / DW_VEC;
    nv = nv < DW_GROUP ? nv : DW_GROUP;
    for (int64_t v = 0; v < nv; v++) {
        int32_t a[DW_VEC] = {0};
        for (int k = 0; k < t->n; k++) {
            const int32_t *restrict sp = t->src[k] + i0 + DW_VEC * v;
            int32_t w = t->wt[k];
            for (int l = 0; l < DW_VEC; l++)
                a[l] += w * sp[l];
        }
        int64_t m = ow - i0 - DW_VEC * v;
        memcpy(acc + i0 + DW_VEC * v, a, (size_t)(m < DW_VEC ? m : DW_VEC) * sizeof(int32_t));
    }
}

typedef void (*dw_group_fn)(const dw_taps *t, int64_t i0, int64_t ow, int32_t *acc);

static inline __attribute__((always_inline)) void dw_channel(const lm_qdw_params *p, void *ws,
                                                             int32_t *acc, dw_group_fn group)
{
    if (lm_qdw_workspace(p) == 0 || !ws) {
        lm_qdw_channel_ref(p, acc);
        return;
    }
    dw_filter f;
    int64_t s = p->stride[1], cols = plane_cols(p);
    for (int64_t i = 0; i < p->kh * p->kw; i++)
        f.kv[i] = k_at(p, i) - p->k_zp;
    for (int64_t kx = 0; kx < p->kw; kx++)
        f.col[kx] = (kx * p->dil[1]) % s * cols + (kx * p->dil[1]) / s;
    widen_plane(p, ws);
    dw_taps t;
    for (int64_t oy = 0; oy < p->oh; oy++) {
        row_taps(p, ws, &f, oy, &t);
        for (int64_t i0 = 0; i0 < p->ow; i0 += DW_VEC * DW_GROUP)
            group(&t, i0, p->ow, acc + oy * p->ow);
    }
}

static void group_portable(const dw_taps *t, int64_t i0, int64_t ow, int32_t *acc)
{
    row_group_c(t, i0, ow, acc);
}

static void dw_portable(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    dw_channel(p, ws, acc, group_portable);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET_AVX2     __attribute__((target("avx2")))
#define TARGET_AVX512BW __attribute__((target("avx512f,avx512bw,prefer-vector-width=512")))

TARGET_AVX2 static void group_avx2(const dw_taps *t, int64_t i0, int64_t ow, int32_t *acc)
{
    row_group_c(t, i0, ow, acc);
}

TARGET_AVX2 static void dw_avx2(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    dw_channel(p, ws, acc, group_avx2);
}

/* vpmaddwd with the weight in the low half of each 32-bit lane (high half 0)
 * multiplies the low halves exactly, the widened inputs fitting 16 bits: one
 * instruction per 16 products where a 32-bit multiply takes two. */
static inline TARGET_AVX512BW __attribute__((always_inline)) void
group_vectors(const dw_taps *t, const int nv, int64_t i0, int64_t ow, int32_t *acc)
{
    __m512i a[DW_GROUP];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        a[v] = _mm512_setzero_si512();
    for (int k = 0; k < t->n; k++) {
        const int32_t *sp = t->src[k] + i0;
        __m512i w = _mm512_set1_epi32(t->wt[k] & 0xFFFF);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            a[v] = _mm512_add_epi32(a[v], _mm512_madd_epi16(_mm512_loadu_si512(sp + 16 * v), w));
    }
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
        int64_t m = ow - i0 - 16 * v;
        __mmask16 k = m >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << m) - 1);
        _mm512_mask_storeu_epi32(acc + i0 + 16 * v, k, a[v]);
    }
}

/* Short rows (7 or 14 outputs deep in a network) take only the vectors
 * they need; a constant count keeps the accumulators in registers. */
TARGET_AVX512BW static void group_avx512bw(const dw_taps *t, int64_t i0, int64_t ow, int32_t *acc)
{
    switch ((ow - i0 + 15) / 16) {
    case 1:
        group_vectors(t, 1, i0, ow, acc);
        break;
    case 2:
        group_vectors(t, 2, i0, ow, acc);
        break;
    case 3:
        group_vectors(t, 3, i0, ow, acc);
        break;
    default:
        group_vectors(t, 4, i0, ow, acc);
        break;
    }
}

TARGET_AVX512BW static void dw_avx512bw(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    dw_channel(p, ws, acc, group_avx512bw);
}

static const lm_qdw_config cfg_avx512bw = {"qs8_dwconv__avx512bw", dw_avx512bw};
static const lm_qdw_config cfg_avx2 = {"qs8_dwconv__avx2", dw_avx2};
#endif

static const lm_qdw_config cfg_portable = {"qs8_dwconv__portable", dw_portable};

static const lm_qdw_config *g_dwconfigs[4];
static pthread_once_t g_dw_once = PTHREAD_ONCE_INIT;

static void choose_dwconfigs(void)
{
    int n = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const lm_cpu_features *f = lm_cpu_features_get();
    if (f->avx512bw_vl)
        g_dwconfigs[n++] = &cfg_avx512bw;
    if (f->avx2_fma)
        g_dwconfigs[n++] = &cfg_avx2;
#endif
    g_dwconfigs[n++] = &cfg_portable;
    g_dwconfigs[n] = NULL;
    const char *log = getenv("LOOM_LOG_KERNELS");
    if (log && log[0] == '1')
        fprintf(stderr, "loom: int8 depthwise uses %s\n", g_dwconfigs[0]->name);
}

const lm_qdw_config *const *lm_qdw_available_configs(void)
{
    pthread_once(&g_dw_once, choose_dwconfigs);
    return g_dwconfigs;
}

void lm_qdw_channel(const lm_qdw_params *p, void *ws, int32_t *acc)
{
    lm_qdw_available_configs()[0]->channel(p, ws, acc);
}
