/*
 * dwconv_rows_avx512f.c - depthwise convolution of large planes along their
 * rows, one channel at a time (see dwconv.h).
 *
 * Blocks of 4 output rows: each input vector loaded feeds every output row
 * of the block whose window holds it; 4 rows x 2 vectors are 8 independent
 * sums, the weights in registers. At stride 1 the taps read the image
 * itself, with masked loads where a vector reaches into the padding (one
 * mask per output vector and kw, made once per call) and a zero row above
 * and below: the image is read once and never copied (the 16-channel
 * kernel transposes whole planes in and out; copying rows into padded
 * buffers cost a fifth more). At stride 2 the input rows of a block sit in
 * a small ring of row buffers (L1), each filled once, split into even and
 * odd columns, so tap kw of output ow is a plain load of half kw % 2 at
 * ow + kw / 2: two permutes per 32 input columns instead of one per tap.
 * Bias, clamps and HardSwish are applied in registers, other activations
 * (SiLU) on about 1024 outputs at a time while they are in L1.
 */
#include "dwconv.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_features.h"

/* Output columns rounded up to whole vectors. */
static int64_t vec_cols(const lm_conv2d_geom *g)
{
    return (g->OW + 15) / 16 * 16;
}

/* Floats of one half of a deinterleaved (stride-2) ring row. */
static int64_t half_floats(const lm_conv2d_geom *g)
{
    return (vec_cols(g) + g->KW / 2 + 15) / 16 * 16;
}

/* Floats of one ring row: the padded row the taps read at stride 1, both
 * halves at stride 2. */
static int64_t ring_floats(const lm_conv2d_geom *g)
{
    if (g->sw == 2)
        return 2 * half_floats(g);
    return (vec_cols(g) + g->KW - 1 + 15) / 16 * 16;
}

bool lm_dwconv_rows_applies(const lm_conv2d_geom *g)
{
    return lm_dwconv16_available() && g->M == g->C && g->dh == 1 && g->dw == 1 &&
           (g->sw == 1 || g->sw == 2) && g->sh >= 1 && g->sh <= 2 &&
           g->KH <= LM_DWCONV_ROWS_MAX_K && g->KW <= LM_DWCONV_ROWS_MAX_K;
}

/* Ring rows: the input rows of a block of output rows (blocks of 4 for the
 * windows rows_plane has blocked kernels for, else of 1; sized for 4). */
static int64_t ring_rows(const lm_conv2d_geom *g)
{
    return 3 * g->sh + g->KH;
}

/* Floats of the zero row: a ring row, or an image row where the blocked
 * stride-1 kernels read the image directly. */
static int64_t zero_floats(const lm_conv2d_geom *g)
{
    return ring_floats(g) > g->W ? ring_floats(g) : g->W;
}

/* The ring, the zero row and the column masks of the direct kernels (a
 * 16-bit mask per output vector and kw, two to a float). */
size_t lm_dwconv_rows_scratch_floats(const lm_conv2d_geom *g)
{
    int64_t masks = vec_cols(g) / 16 * g->KW;
    return (size_t)(ring_rows(g) * ring_floats(g) + zero_floats(g) + (masks + 1) / 2);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "act_avx512.h"
#include "transpose.h"

#define TARGET __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline)) TARGET

/* Output rows one pass computes together: each input vector loaded serves
 * up to K of them, and they are independent sums. */
#define BLOCK_ROWS 4
/* Ring rows: the input rows of one block. */
#define RING_MAX ((BLOCK_ROWS - 1) * 2 + LM_DWCONV_ROWS_MAX_K)

/* What the taps of one call share. */
typedef struct rows_ctx {
    const float *rows[RING_MAX]; /* input rows of the block, in order */
    const __mmask16 *masks;      /* direct: [16-column vector][kw] lanes in the image */
    const float *w;
    int64_t KH, KW, OW, half; /* half: floats from even to odd columns (stride 2) */
    int64_t pl;               /* direct: rows are the image's, unpadded */
    __m512 vb, vlo, vhi;
    bool clamp, hswish;
} rows_ctx;

/* v through the activation the taps apply, to y's first n (<= 16) lanes. */
INLINE void finish_vec(const rows_ctx *c, __m512 v, float *y, int64_t n)
{
    if (c->clamp) /* max/min return v when it is NaN, like the unfused ops */
        v = _mm512_min_ps(c->vhi, _mm512_max_ps(c->vlo, v));
    if (c->hswish)
        v = lm_hswish16(v);
    _mm512_mask_storeu_ps(y, lm_lanes16(n), v);
}

/* p + i, formed as an integer: i may reach before the row (lanes masked
 * out, which AVX-512 never touches). */
INLINE const void *at(const float *p, int64_t i)
{
    return (const void *)((uintptr_t)p + (uintptr_t)i * sizeof(float));
}

/*
 * NB (1 or 2) vectors of outputs from ow on in each of R output rows (OW
 * apart in y), for a square K x K window at stride S in both directions:
 * input row t of the block is loaded once per column offset and feeds every
 * output row r whose window holds it (kh = t - r S). All bounds are
 * constants, so the loops unroll into straight FMAs. NB x R independent
 * sums: with 4 (NB = 1) the chains of K x K dependent FMAs made 112 x 112
 * planes 1.6x slower.
 */
INLINE void block_cols(const int K, const int S, const int R, const int NB, const rows_ctx *c,
                       const __m512 *wk, int64_t ow, float *y)
{
    __m512 acc[NB][R];
#pragma GCC unroll 2
    for (int j = 0; j < NB; j++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            acc[j][r] = c->vb;
#pragma GCC unroll 16
    for (int t = 0; t < (R - 1) * S + K; t++) {
        const float *p = c->rows[t] + ow;
#pragma GCC unroll 8
        for (int kw = 0; kw < K; kw++) {
#pragma GCC unroll 2
            for (int j = 0; j < NB; j++) {
                __m512 v;
                if (S == 1) /* straight from the image, the padding masked */
                    v = _mm512_maskz_loadu_ps(c->masks[(ow / 16 + j) * K + kw],
                                              at(p, 16 * j + kw - c->pl));
                else
                    v = _mm512_loadu_ps(p + 16 * j + (kw & 1) * c->half + kw / 2);
                /* one load for all R rows: GCC would fold it into each FMA */
                __asm__("" : "+v"(v));
#pragma GCC unroll 4
                for (int r = 0; r < R; r++)
                    if (t - r * S >= 0 && t - r * S < K)
                        acc[j][r] = _mm512_fmadd_ps(v, wk[(t - r * S) * K + kw], acc[j][r]);
            }
        }
    }
#pragma GCC unroll 2
    for (int j = 0; j < NB; j++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            finish_vec(c, acc[j][r], y + r * c->OW + ow + 16 * j, c->OW - ow - 16 * j);
}

/* R output rows of a K x K window at stride S, two vectors at a time
 * (one for 5 x 5). */
INLINE void block(const int K, const int S, const int R, const rows_ctx *c, float *y)
{
    __m512 wk[K * K];
#pragma GCC unroll 49
    for (int i = 0; i < K * K; i++)
        wk[i] = _mm512_set1_ps(c->w[i]);
    int64_t ow = 0;
    /* 5 x 5: 8 sums and 25 weights overflow the registers (7 x 7 spills its
     * weights either way) */
    for (; K != 5 && ow + 16 < c->OW; ow += 32)
        block_cols(K, S, R, 2, c, wk, ow, y);
    for (; ow + 16 < c->OW; ow += 16)
        block_cols(K, S, R, 1, c, wk, ow, y);
    if (ow < c->OW)
        block_cols(K, S, R, 1, c, wk, ow, y);
}

/* One output row of any window (c->KH x c->KW, stride S along the row) from
 * the block's first KH rows; weights broadcast from memory. */
static TARGET void row_any(const int S, const rows_ctx *c, float *y)
{
    for (int64_t ow = 0; ow < c->OW; ow += 16) {
        __m512 acc = c->vb;
        for (int64_t kh = 0; kh < c->KH; kh++) {
            const float *r = c->rows[kh] + ow, *wr = c->w + kh * c->KW;
            for (int64_t kw = 0; kw < c->KW; kw++) {
                const float *p = S == 1 ? r + kw : r + (kw & 1) * c->half + kw / 2;
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(p), _mm512_set1_ps(wr[kw]), acc);
            }
        }
        finish_vec(c, acc, y + ow, c->OW - ow);
    }
}

typedef void (*block_fn)(const rows_ctx *, float *);

#define BLOCK_FN(K, S, R)                                                                          \
    static TARGET void block_##K##_##S##_##R(const rows_ctx *c, float *y)                          \
    {                                                                                              \
        block(K, S, R, c, y);                                                                      \
    }
#define BLOCK_KS(K, S) BLOCK_FN(K, S, 1) BLOCK_FN(K, S, 2) BLOCK_FN(K, S, 3) BLOCK_FN(K, S, 4)
BLOCK_KS(3, 1)
BLOCK_KS(5, 1)
BLOCK_KS(7, 1)
BLOCK_KS(3, 2)
BLOCK_KS(5, 2)
BLOCK_KS(7, 2)

#define BLOCK_ROW(K, S)                                                                            \
    {                                                                                              \
        block_##K##_##S##_1, block_##K##_##S##_2, block_##K##_##S##_3, block_##K##_##S##_4         \
    }
/* [stride - 1][K 3, 5, 7][rows - 1] */
static const block_fn block_table[2][3][BLOCK_ROWS] = {
    {BLOCK_ROW(3, 1), BLOCK_ROW(5, 1), BLOCK_ROW(7, 1)},
    {BLOCK_ROW(3, 2), BLOCK_ROW(5, 2), BLOCK_ROW(7, 2)},
};

/* The blocked kernels of @g's window (rows 1 .. BLOCK_ROWS), or NULL: the
 * window is not square 3, 5 or 7, or the strides differ. */
static const block_fn *blocks_for(const lm_conv2d_geom *g)
{
    if (g->KH != g->KW || g->sh != g->sw || (g->KW != 3 && g->KW != 5 && g->KW != 7))
        return NULL;
    return block_table[g->sw - 1][g->KW / 2 - 1];
}

static TARGET void row_any_1(const rows_ctx *c, float *y)
{
    row_any(1, c, y);
}

static TARGET void row_any_2(const rows_ctx *c, float *y)
{
    row_any(2, c, y);
}

/* Columns [q, q + 16) of row @src (W wide), zero outside it. Lanes off
 * the row are masked out, so their addresses are never touched (AVX-512
 * suppresses faults on them); the address is formed as an integer. */
INLINE __m512 load_cols(const float *src, int64_t q, int64_t W)
{
    int64_t lo = q < 0 ? -q : 0, hi = W - q;
    __mmask16 m = hi > lo ? (__mmask16)(lm_lanes16(hi) & ~lm_lanes16(lo)) : 0;
    return _mm512_maskz_loadu_ps(m, (const void *)((uintptr_t)src + (uintptr_t)q * sizeof(float)));
}

/* Input row @ih into ring row @r (@len floats): at stride 1 the row at its
 * left padding (the pads were zeroed once and are never written); at stride
 * 2 its padded form split into even and odd columns, straight from x. */
static TARGET void fill_row(const lm_conv2d_geom *g, const float *x, int64_t ih, int64_t len,
                            float *r)
{
    const float *src = x + ih * g->W;
    if (g->sw == 1) {
        /* inline: a memcpy call per row cost a fifth at 28 x 28 */
        int64_t n = len - g->pl < g->W ? len - g->pl : g->W;
        for (int64_t q = 0; q < n; q += 16) {
            __mmask16 m = lm_lanes16(n - q);
            _mm512_mask_storeu_ps(r + g->pl + q, m, _mm512_maskz_loadu_ps(m, src + q));
        }
        return;
    }
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    int64_t half = len / 2;
    for (int64_t j = 0; j < half; j += 16) {
        __m512 a = load_cols(src, 2 * j - g->pl, g->W),
               b = load_cols(src, 2 * j + 16 - g->pl, g->W);
        _mm512_storeu_ps(r + j, _mm512_permutex2var_ps(a, even, b));
        _mm512_storeu_ps(r + half + j, _mm512_permutex2var_ps(a, odd, b));
    }
}

/* Rows [begin, end) of y (flat) through @act, unless the taps applied it. */
static void finish_rows(const lm_act *act, bool in_taps, float *y, int64_t begin, int64_t end)
{
    if (!in_taps && end > begin)
        lm_act_apply(act, y + begin, end - begin);
}

/* The ring rows and the zero row for input rows [ih0, ih0 + n) into
 * c->rows, filling the ring rows that do not hold theirs yet (ring row of
 * input row ih: ih mod ring). */
static TARGET void block_rows(const lm_conv2d_geom *g, const float *x, int64_t ih0, int64_t n,
                              int64_t ring, int64_t len, float *scratch, int64_t *held, rows_ctx *c)
{
    float *zero = scratch + ring * len;
    int64_t k = ih0 % ring;
    k = k < 0 ? k + ring : k;
    for (int64_t t = 0; t < n; t++, k = k + 1 == ring ? 0 : k + 1) {
        int64_t ih = ih0 + t;
        if (ih < 0 || ih >= g->H) {
            c->rows[t] = zero;
            continue;
        }
        if (c->masks) { /* direct: the image's own row */
            c->rows[t] = x + ih * g->W;
            continue;
        }
        if (held[k] != ih)
            fill_row(g, x, ih, len, scratch + k * len);
        held[k] = ih;
        c->rows[t] = scratch + k * len;
    }
}

/* One plane: c holds the activation; w and bias are the plane's. The
 * ring's pads and the zero row are zero from the caller. */
static TARGET void rows_plane(const lm_conv2d_geom *g, rows_ctx *c, const lm_act *act, bool in_taps,
                              const float *x, const float *w, float bias, float *scratch, float *y)
{
    const int64_t len = ring_floats(g), ring = ring_rows(g), OW = g->OW;
    c->w = w;
    c->vb = _mm512_set1_ps(bias);
    const block_fn *fn = blocks_for(g);
    const int64_t R = fn ? BLOCK_ROWS : 1;
    int64_t held[RING_MAX]; /* the input row in each ring row */
    for (int64_t k = 0; k < ring; k++)
        held[k] = -1;
    int64_t done = 0; /* outputs (flat) the activation has seen */
    for (int64_t oh = 0; oh < g->OH; oh += R) {
        int64_t r = g->OH - oh < R ? g->OH - oh : R;
        block_rows(g, x, oh * g->sh - g->pt, (r - 1) * g->sh + g->KH, ring, len, scratch, held, c);
        if (fn)
            fn[r - 1](c, y + oh * OW);
        else if (g->sw == 1)
            row_any_1(c, y + oh * OW);
        else
            row_any_2(c, y + oh * OW);
        if ((oh + r) * OW - done >= 1024)
            finish_rows(act, in_taps, y, done, (oh + r) * OW), done = (oh + r) * OW;
    }
    finish_rows(act, in_taps, y, done, g->OH * OW);
}

/* The column masks of direct stride-1 kernels into @scratch (after the ring
 * and the zero row): lanes of output vector v's tap kw inside the image. */
static TARGET const __mmask16 *column_masks(const lm_conv2d_geom *g, float *scratch)
{
    __mmask16 *m = (__mmask16 *)(void *)(scratch + ring_rows(g) * ring_floats(g) + zero_floats(g));
    for (int64_t v = 0; v < vec_cols(g) / 16; v++)
        for (int64_t kw = 0; kw < g->KW; kw++) {
            int64_t q = 16 * v + kw - g->pl, lo = q < 0 ? -q : 0, hi = g->W - q;
            m[v * g->KW + kw] = hi > lo ? (__mmask16)(lm_lanes16(hi) & ~lm_lanes16(lo)) : 0;
        }
    return m;
}

static TARGET void rows_planes(const lm_conv2d_geom *g, const float *x, const float *w,
                               const float *bias, const lm_act *act, int64_t c0, int64_t c1,
                               float *scratch, float *y)
{
    const int64_t IS = g->H * g->W, OS = g->OH * g->OW, KK = g->KH * g->KW;
    memset(scratch, 0, lm_dwconv_rows_scratch_floats(g) * sizeof(float));
    rows_ctx c = {.KH = g->KH, .KW = g->KW, .OW = g->OW, .half = ring_floats(g) / 2};
    if (g->sw == 1 && blocks_for(g)) /* direct: no ring, masks for the pads */
        c.masks = column_masks(g, scratch), c.pl = g->pl;
    float lo = -INFINITY, hi = INFINITY;
    bool in_taps = lm_act_as_clamp(act, &lo, &hi) || act->kind == LM_ACT_HARD_SWISH;
    c.hswish = act->kind == LM_ACT_HARD_SWISH;
    c.clamp = in_taps && !c.hswish && (lo != -INFINITY || hi != INFINITY);
    c.vlo = _mm512_set1_ps(lo), c.vhi = _mm512_set1_ps(hi);
    for (int64_t ch = c0; ch < c1; ch++)
        rows_plane(g, &c, act, in_taps, x + ch * IS, w + ch * KK, bias ? bias[ch] : 0.0f, scratch,
                   y + ch * OS);
}

void lm_dwconv_rows(const lm_conv2d_geom *g, const float *x, const float *w, const float *bias,
                    const lm_act *act, int64_t c0, int64_t c1, float *scratch, float *y)
{
    rows_planes(g, x, w, bias, act, c0, c1, scratch, y);
}

#else
void lm_dwconv_rows(const lm_conv2d_geom *g, const float *x, const float *w, const float *bias,
                    const lm_act *act, int64_t c0, int64_t c1, float *scratch, float *y)
{
    (void)g, (void)x, (void)w, (void)bias, (void)act, (void)c0, (void)c1, (void)scratch, (void)y;
}
#endif
