/*
 * conv.c - Conv and ConvTranspose (N-D, float32).
 *
 * Conv lowers each (batch, group) to one SGEMM: W_g [Mg x Cg*KK] times the
 * im2col matrix [Cg*KK x out positions]. 1x1 stride-1 unpadded convolutions
 * multiply the input directly, and depthwise 2-D convolutions (one input
 * channel per group) use a direct loop, where im2col would only add traffic.
 * ConvTranspose is the adjoint: W_g^T times X_g, then col2im scatters the
 * columns into the output.
 *
 * The im2col matrix is built for a chunk of output positions at a time so
 * that its scratch memory stays bounded for large images.
 */
#include <stdlib.h>
#include <string.h>

#include "../../core/env.h"
#include "../../core/log.h"
#include "../cpu_features.h"
#include "../dwconv.h"
#include "../gemm.h"
#include "../directconv.h"
#include "../../core/threadpool.h"
#include "../transpose.h"
#include "activation_epilogue.h"
#include "nn_private.h"

/* What a run needs besides the tensors: geometry, activation, and which
 * special paths the LOOM_CONV_NO_* variables leave on (core/env.h). */
typedef struct conv_plan {
    lm_conv_geom cg;
    lm_act act;
    bool dw16, dwrows, direct, wino, taps;
} conv_plan;

/* W packed for the path a plan chose; built once per (W, path) in the
 * process and shared by every plan and model (lm_kweights). */
typedef struct conv_weights {
    lm_sgemm_packed *wino[36]; /* Winograd: the transformed W (M x C) per point, or NULL */
    lm_sgemm_packed *wt;       /* pixel-major pointwise: W^T as the B operand, or NULL */
    float *direct_w;           /* few input channels: W in directconv.h's blocks, or NULL */
    int64_t direct_block;      /* and their size (it depends on the planned width) */
    lm_sgemm_packed **tap;     /* tap-sparse: W_t (Mg x Cg) per group and tap, or NULL */
    int64_t ntap;              /* group x taps entries of tap (NULL where never read) */
    int64_t group;
    lm_sgemm_packed *w[]; /* im2col GEMM: W per group (unused with Winograd) */
} conv_weights;

/* Conv's per-plan state: the plan above for the planned shapes (so runs skip
 * the attribute lookups) and the shared packed W, if any. */
typedef struct conv_prepared {
    conv_plan plan;
    int rank; /* X's rank; X's and Y's dims as planned */
    int64_t xd[LOOM_MAX_RANK], yd[LOOM_MAX_RANK];
    bool has_b;
    const conv_weights *cw; /* NULL: nothing packed */
} conv_prepared;

/* The packed W of this node's plan, or NULL. */
static inline const conv_weights *conv_packed(const lm_kctx *k)
{
    const conv_prepared *cp = k->prepared;
    return cp ? cp->cw : NULL;
}

/* Target size of the im2col/col2im buffer (1 MiB): large enough for efficient
 * GEMMs, small enough to stay in L2 while the GEMM packs it. */
#define COL_BUDGET_FLOATS ((int64_t)1 << 18)

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
#if defined(__clang__)
#define EVENS4(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#else
#define EVENS4(a, b) __builtin_shuffle(a, b, (v4i){0, 2, 4, 6})
#endif

/* The stride-2 gather at full AVX-512 width, or NULL (the 4-lane loop). */
typedef void (*evens_fn)(const float *, float *, int64_t);
static evens_fn evens_for_cpu(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (lm_cpu_features_get()->avx512f)
        return lm_evens_avx512f;
#endif
    return NULL;
}

/*
 * One row of the im2col matrix, for kernel offset @kc, over positions
 * [o0, o1) of the @walk grid. Position w maps to image coordinate
 * w * s - pb + kc * d in the @tgt grid; positions outside it are padding.
 * Gather (Conv): col[j] = img[...] or 0. Scatter (ConvTranspose): img[...] += col[j].
 */
typedef struct walk_geom {
    int n;
    const int64_t *walk, *tgt, *s, *d, *pb;
} walk_geom;

static void walk_row(const walk_geom *w, const int64_t *kc, int64_t o0, int64_t o1, float *img,
                     float *col, bool scatter)
{
    int L = w->n - 1;
    int64_t oc[LM_GEOM_MAX_SP];
    int64_t rem = o0;
    for (int d = L; d >= 0; d--) {
        oc[d] = rem % w->walk[d];
        rem /= w->walk[d];
    }
    const int64_t s = w->s[L], tn = w->tgt[L];
    const evens_fn evens_wide = evens_for_cpu();
    for (int64_t o = o0; o < o1;) {
        int64_t run = min64(w->walk[L] - oc[L], o1 - o);
        bool ok = true;
        int64_t off = 0;
        for (int d = 0; d < L; d++) {
            int64_t ic = oc[d] * w->s[d] - w->pb[d] + kc[d] * w->d[d];
            if (ic < 0 || ic >= w->tgt[d]) {
                ok = false;
                off = 0;
                break;
            }
            off = off * w->tgt[d] + ic;
        }
        int64_t lo = run, hi = run; /* valid t in [lo, hi) */
        int64_t base = 0;
        if (ok) {
            off *= tn;
            base = oc[L] * s - w->pb[L] + kc[L] * w->d[L];
            lo = base >= 0 ? 0 : (-base + s - 1) / s;
            hi = base >= tn ? 0 : (tn - base + s - 1) / s;
            hi = min64(hi, run);
            lo = min64(lo, hi);
        }
        /* Only indices base + t * s with t in [lo, hi) are inside the row. */
        float *row = img + off;
        if (!scatter) {
            for (int64_t t = 0; t < lo; t++)
                col[t] = 0.0f;
            if (s == 1 && hi > lo) {
                memcpy(col + lo, row + base + lo, (size_t)(hi - lo) * sizeof(float));
            } else if (s == 2 && hi > lo && evens_wide) {
                evens_wide(row + base + 2 * lo, col + lo, hi - lo);
            } else if (s == 2) {
                /* Stride 2 (ResNet's stem and downsampling): even lanes of two
                 * loads, 4 at a time on any SIMD; the loads stay inside the
                 * row (index + 7 < tn). */
                int64_t t = lo;
                for (; t + 4 <= hi && base + 2 * t + 8 <= tn; t += 4) {
                    v4f a, b;
                    memcpy(&a, row + base + 2 * t, sizeof a);
                    memcpy(&b, row + base + 2 * t + 4, sizeof b);
                    v4f e = EVENS4(a, b);
                    memcpy(col + t, &e, sizeof e);
                }
                for (; t < hi; t++)
                    col[t] = row[base + t * 2];
            } else {
                for (int64_t t = lo; t < hi; t++)
                    col[t] = row[base + t * s];
            }
            for (int64_t t = hi; t < run; t++)
                col[t] = 0.0f;
        } else {
            for (int64_t t = lo; t < hi; t++)
                row[base + t * s] += col[t];
        }
        col += run;
        o += run;
        oc[L] += run;
        if (oc[L] == w->walk[L]) {
            oc[L] = 0;
            for (int d = L - 1; d >= 0; d--) {
                if (++oc[d] < w->walk[d])
                    break;
                oc[d] = 0;
            }
        }
    }
}

static void kernel_coords(const lm_window_geom *g, int64_t kidx, int64_t *kc)
{
    for (int d = g->nsp - 1; d >= 0; d--) {
        kc[d] = kidx % g->k[d];
        kidx /= g->k[d];
    }
}

typedef struct col_job {
    const lm_window_geom *g;
    walk_geom w;
    float *img;       /* image of the group's first channel */
    int64_t img_size; /* elements per channel of the image */
    float *col;       /* rows x (o1 - o0) */
    int64_t o0, o1;
} col_job;

/* Whether output rows are as wide as the input's at stride 1 in 2-D (a
 * "same"-padded convolution): then output position o of tap (kh, kw) reads
 * image element o + (kh dh - pt) W + (kw dw - pl), one shift for the whole
 * plane. */
static bool im2col_shifts(const lm_window_geom *g)
{
    return g->nsp == 2 && g->s[0] == 1 && g->s[1] == 1 && g->out[1] == g->in[1];
}

static inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/*
 * One im2col row over positions [o0, o1) where im2col_shifts() holds: one
 * copy of the image shifted by dy rows and dx columns, zeros for the output
 * rows whose tap row is outside the image, then zeros over the |dx| columns
 * at the left or right edge of each row whose taps fall in the padding (the
 * copy put the neighbouring row's pixels there). The per-output-row walk
 * this replaces made 7 x 7 planes (ResNet's last stage) spend a fifth of
 * their time in im2col.
 */
static void shifted_row(const lm_window_geom *g, const int64_t *kc, int64_t o0, int64_t o1,
                        const float *img, float *col)
{
    const int64_t H = g->in[0], W = g->in[1], OH = g->out[0];
    const int64_t dy = kc[0] * g->d[0] - g->pb[0], dx = kc[1] * g->d[1] - g->pb[1];
    if (dx <= -W || dx >= W) { /* every tap of the row is in the padding */
        memset(col, 0, (size_t)(o1 - o0) * sizeof(float));
        return;
    }
    /* positions whose tap row oh + dy is inside the image, and whose source
     * element is inside the plane (the rest are padding columns) */
    int64_t r0 = clamp64(-dy, 0, OH), r1 = clamp64(H - dy, r0, OH);
    int64_t shift = dy * W + dx;
    int64_t v0 = clamp64(r0 * W, o0, o1), v1 = clamp64(r1 * W, v0, o1);
    int64_t c0 = clamp64(-shift, v0, v1), c1 = clamp64(H * W - shift, c0, v1);
    memset(col, 0, (size_t)(c0 - o0) * sizeof(float));
    memcpy(col + (c0 - o0), img + c0 + shift, (size_t)(c1 - c0) * sizeof(float));
    memset(col + (c1 - o0), 0, (size_t)(o1 - c1) * sizeof(float));
    /* padding columns: [0, -dx) or [W - dx, W) of each row in [r0, r1) */
    int64_t e0 = dx < 0 ? 0 : W - dx, e1 = dx < 0 ? -dx : W;
    if (e0 == e1)
        return;
    for (int64_t r = v0 / W; r * W < v1; r++) {
        int64_t p0 = clamp64(r * W + e0, o0, o1), p1 = clamp64(r * W + e1, p0, o1);
        for (int64_t p = p0; p < p1; p++)
            col[p - o0] = 0.0f;
    }
}

/*
 * One im2col row of any other 2-D convolution over positions [o0, o1): the
 * output columns whose taps fall inside the image, [lo, hi), are the same on
 * every output row, so they are found once; each output row is then zeros,
 * one copy (stride 1) or gather (@evens at stride 2), zeros. walk_row's
 * per-row bookkeeping was most of a stride-2 7 x 7 output's im2col.
 */
static void gather_row_2d(const lm_window_geom *g, const int64_t *kc, int64_t o0, int64_t o1,
                          const float *img, float *col, evens_fn evens)
{
    const int64_t H = g->in[0], W = g->in[1], OW = g->out[1], s = g->s[1];
    const int64_t base = kc[1] * g->d[1] - g->pb[1]; /* input column of output column 0 */
    int64_t lo = base >= 0 ? 0 : (-base + s - 1) / s;
    int64_t hi = base >= W ? 0 : (W - base + s - 1) / s;
    hi = clamp64(hi, 0, OW);
    lo = clamp64(lo, 0, hi);
    for (int64_t o = o0; o < o1;) {
        int64_t oh = o / OW, ow0 = o - oh * OW, ow1 = min64(OW, ow0 + (o1 - o));
        int64_t ih = oh * g->s[0] - g->pb[0] + kc[0] * g->d[0];
        float *c = col + (o - o0) - ow0; /* c[ow] is output column ow of this row */
        int64_t a = ih >= 0 && ih < H ? clamp64(lo, ow0, ow1) : ow1;
        int64_t b = ih >= 0 && ih < H ? clamp64(hi, a, ow1) : ow1;
        for (int64_t ow = ow0; ow < a; ow++)
            c[ow] = 0.0f;
        if (b > a) {
            const float *src = img + ih * W + base + a * s;
            if (s == 1)
                memcpy(c + a, src, (size_t)(b - a) * sizeof(float));
            else if (s == 2 && evens)
                evens(src, c + a, b - a);
            else
                for (int64_t ow = a; ow < b; ow++)
                    c[ow] = src[(ow - a) * s];
        }
        for (int64_t ow = b; ow < ow1; ow++)
            c[ow] = 0.0f;
        o += ow1 - ow0;
    }
}

/* im2col: one task per row (channel, kernel offset). */
static void im2col_rows(void *arg, int64_t begin, int64_t end)
{
    const col_job *j = arg;
    int64_t kc[LM_GEOM_MAX_SP];
    const bool shifts = im2col_shifts(j->g);
    const evens_fn evens = evens_for_cpu();
    for (int64_t r = begin; r < end; r++) {
        kernel_coords(j->g, r % j->g->k_size, kc);
        const float *img = j->img + (r / j->g->k_size) * j->img_size;
        float *col = j->col + r * (j->o1 - j->o0);
        if (shifts)
            shifted_row(j->g, kc, j->o0, j->o1, img, col);
        else if (j->g->nsp == 2)
            gather_row_2d(j->g, kc, j->o0, j->o1, img, col, evens);
        else
            walk_row(&j->w, kc, j->o0, j->o1, (float *)img, col, false);
    }
}

/* col2im: one task per output channel, since its rows all add into it. */
static void col2im_channels(void *arg, int64_t begin, int64_t end)
{
    const col_job *j = arg;
    int64_t kc[LM_GEOM_MAX_SP], kk = j->g->k_size;
    for (int64_t m = begin; m < end; m++)
        for (int64_t r = m * kk; r < (m + 1) * kk; r++) {
            kernel_coords(j->g, r % kk, kc);
            walk_row(&j->w, kc, j->o0, j->o1, j->img + m * j->img_size,
                     j->col + r * (j->o1 - j->o0), true);
        }
}

/* ---- Conv ----------------------------------------------------------------- */

typedef struct dw_job {
    const lm_window_geom *g;
    const float *x, *w, *b;
    float *y;
    int64_t C, M, mult; /* channels in/out, output channels per input channel */
    lm_act act;
    float *pad;     /* vector path: a ring of KH padded rows per plane, or NULL */
    int64_t hp, wp; /* padded plane rows and row stride */
} dw_job;

/* One depthwise output pixel with every tap bounds-checked: the image edges,
 * and the whole plane when the vector path does not apply. */
static inline float dw_pixel(const lm_window_geom *g, const float *x, const float *w, int64_t oh,
                             int64_t ow, float bias)
{
    int64_t H = g->in[0], W = g->in[1], KH = g->k[0], KW = g->k[1];
    float acc = bias;
    for (int64_t kh = 0; kh < KH; kh++) {
        int64_t ih = oh * g->s[0] - g->pb[0] + kh * g->d[0];
        if (ih < 0 || ih >= H)
            continue;
        const float *xr = x + ih * W, *wr = w + kh * KW;
        for (int64_t kw = 0; kw < KW; kw++) {
            int64_t iw = ow * g->s[1] - g->pb[1] + kw * g->d[1];
            if (iw >= 0 && iw < W)
                acc += xr[iw] * wr[kw];
        }
    }
    return acc;
}

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

/*
 * The first n (1..16) lanes of *v to dst. A memcpy of a variable size became
 * `rep movsq`, whose start-up cost was over half of the Winograd transforms
 * on rows of 7 tiles (13 x 13 and 27 x 27 maps); copies of fixed sizes,
 * overlapping when n is not a power of two, are plain vector moves.
 */
static inline __attribute__((always_inline)) void copy_lanes(float *dst, const v16f *v, int64_t n)
{
    const float *src = (const float *)v;
    if (n == 16) {
        memcpy(dst, src, 16 * sizeof(float));
    } else if (n >= 8) {
        memcpy(dst, src, 8 * sizeof(float));
        memcpy(dst + n - 8, src + n - 8, 8 * sizeof(float));
    } else if (n >= 4) {
        memcpy(dst, src, 4 * sizeof(float));
        memcpy(dst + n - 4, src + n - 4, 4 * sizeof(float));
    } else {
        for (int64_t i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

/* The even lanes of the 32 floats lo:hi (stride-2 columns). */
#if defined(__clang__)
#define EVENS(lo, hi)                                                                              \
    __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#else
#define EVENS(lo, hi)                                                                              \
    __builtin_shuffle(lo, hi, (v16i){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30})
#endif

/*
 * One output row, 16 outputs at a time, from zero-padded input rows: xr[kh]
 * is the padded row of tap row kh, so every tap is in bounds and there are no
 * edge cases; the padded rows are wide enough for the last vector's lanes
 * past OW, which are computed and not stored. Taps are summed in the scalar
 * path's order without FMA contraction (ISO C mode), so results match it bit
 * for bit. One source compiled per ISA: GCC lowers the 16-lane vectors to
 * zmm, 2 ymm or 4 xmm.
 */
#define DEFINE_DW_ROW(NAME, TARGET)                                                                \
    static TARGET void NAME(const float *const *xr, const float *w, int64_t KH, int64_t KW,        \
                            int64_t s, int64_t OW, float bias, float *y)                           \
    {                                                                                              \
        for (int64_t ow = 0; ow < OW; ow += 16) {                                                  \
            v16f acc = (v16f){0} + bias;                                                           \
            for (int64_t kh = 0; kh < KH; kh++) {                                                  \
                const float *p = xr[kh] + ow * s;                                                  \
                for (int64_t kw = 0; kw < KW; kw++) {                                              \
                    v16f xv;                                                                       \
                    if (s == 1) {                                                                  \
                        memcpy(&xv, p + kw, sizeof xv);                                            \
                    } else {                                                                       \
                        v16f lo, hi;                                                               \
                        memcpy(&lo, p + kw, sizeof lo);                                            \
                        memcpy(&hi, p + kw + 16, sizeof hi);                                       \
                        xv = EVENS(lo, hi);                                                        \
                    }                                                                              \
                    acc += xv * w[kh * KW + kw];                                                   \
                }                                                                                  \
            }                                                                                      \
            int64_t n = OW - ow < 16 ? OW - ow : 16;                                               \
            memcpy(y + ow, &acc, (size_t)n * sizeof(float));                                       \
        }                                                                                          \
    }

typedef void (*dw_row_fn)(const float *const *, const float *, int64_t, int64_t, int64_t, int64_t,
                          float, float *);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DEFINE_DW_ROW(dw_row_avx512f, __attribute__((target("avx512f"))))

/* The row kernel on AVX2, 8 outputs at a time, in intrinsics: GCC expanded
 * the 16-lane generic vectors piecewise there (scalar moves through the
 * stack; MnasNet's 112 x 112 layer took 35x ONNX Runtime's time). Multiply
 * and add stay separate, in the same order, so results still match the
 * scalar path bit for bit. */
static __attribute__((target("avx2"))) void dw_row_avx2(const float *const *xr, const float *w,
                                                        int64_t KH, int64_t KW, int64_t s,
                                                        int64_t OW, float bias, float *y)
{
    for (int64_t ow = 0; ow < OW; ow += 8) {
        __m256 acc = _mm256_set1_ps(bias);
        for (int64_t kh = 0; kh < KH; kh++) {
            const float *p = xr[kh] + ow * s;
            for (int64_t kw = 0; kw < KW; kw++) {
                __m256 xv = _mm256_loadu_ps(p + kw);
                if (s == 2) { /* the even lanes of p[kw .. kw + 16) */
                    __m256 e = _mm256_shuffle_ps(xv, _mm256_loadu_ps(p + kw + 8), 0x88);
                    xv = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
                }
                acc = _mm256_add_ps(acc, _mm256_mul_ps(xv, _mm256_set1_ps(w[kh * KW + kw])));
            }
        }
        float t[8];
        _mm256_storeu_ps(t, acc);
        memcpy(y + ow, t, (size_t)(OW - ow < 8 ? OW - ow : 8) * sizeof(float));
    }
}
#endif
DEFINE_DW_ROW(dw_row_generic, )

static dw_row_fn dw_row_for_cpu(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const lm_cpu_features *f = lm_cpu_features_get();
    if (f->avx512f)
        return dw_row_avx512f;
    if (f->avx2_fma)
        return dw_row_avx2;
#endif
    return dw_row_generic;
}

#define DW_MAX_KH 16
/* Largest scratch for the padded rows (floats): beyond it, the checked path. */
#define DW_PAD_BUDGET ((int64_t)16 << 20)

/* Whether the vector path applies: unit dilation, stride 1 or 2 along W, at
 * most DW_MAX_KH kernel rows, one output channel per input channel. Sets the
 * padded plane's rows and row stride (wide enough for the last vector). */
static bool dw_vector_geom(const lm_window_geom *g, int64_t mult, int64_t *hp, int64_t *wp)
{
    int64_t sw = g->s[1], OW = g->out[1];
    if (g->d[0] != 1 || g->d[1] != 1 || (sw != 1 && sw != 2) || g->k[0] > DW_MAX_KH || mult != 1)
        return false;
    *hp = g->in[0] + g->pb[0] + g->pe[0];
    int64_t need = ((OW + 15) / 16 * 16 - 1) * sw + g->k[1] + (sw == 2 ? 17 : 1);
    int64_t natural = g->in[1] + g->pb[1] + g->pe[1];
    *wp = need > natural ? need : natural;
    return true;
}

/* Padded row r (image row r - top, or all zero) into @pr, wp floats. */
static void dw_pad_row(const lm_window_geom *g, const float *x, int64_t r, int64_t wp, float *pr)
{
    int64_t H = g->in[0], W = g->in[1], ih = r - g->pb[0], left = g->pb[1];
    if (ih < 0 || ih >= H) {
        memset(pr, 0, (size_t)wp * sizeof(float));
        return;
    }
    memset(pr, 0, (size_t)left * sizeof(float));
    memcpy(pr + left, x + ih * W, (size_t)W * sizeof(float));
    memset(pr + left + W, 0, (size_t)(wp - left - W) * sizeof(float));
}

/* One plane on the vector path: the KH padded rows of each output row sit
 * in a ring (padded row r in ring row r mod KH), each filled once, so the
 * plane is read once and not copied whole; the activation runs on about
 * 1024 outputs at a time while they are in cache. */
static void dw_plane_rows(const dw_job *j, const float *x, const float *w, float bias, float *ring,
                          float *y)
{
    const lm_window_geom *g = j->g;
    int64_t OH = g->out[0], OW = g->out[1], KH = g->k[0], wp = j->wp, done = 0;
    int64_t held[DW_MAX_KH], k0 = 0, step = g->s[0] % KH;
    const float *xr[DW_MAX_KH];
    dw_row_fn row = dw_row_for_cpu();
    for (int64_t k = 0; k < KH; k++)
        held[k] = -1;
    for (int64_t oh = 0; oh < OH; oh++, k0 = k0 + step >= KH ? k0 + step - KH : k0 + step) {
        for (int64_t kh = 0, k = k0; kh < KH; kh++, k = k + 1 == KH ? 0 : k + 1) {
            int64_t r = oh * g->s[0] + kh; /* k = r mod KH, stepped: no division */
            if (held[k] != r)
                dw_pad_row(g, x, r, wp, ring + k * wp);
            held[k] = r;
            xr[kh] = ring + k * wp;
        }
        row(xr, w, KH, g->k[1], g->s[1], OW, bias, y + oh * OW);
        if ((oh + 1) * OW - done >= 1024 || oh + 1 == OH) {
            lm_act_apply(&j->act, y + done, (oh + 1) * OW - done);
            done = (oh + 1) * OW;
        }
    }
}

/* Depthwise 2-D: each output channel reads exactly one input channel. On the
 * vector path rows run without edge cases from padded copies of the rows
 * they need (cheap next to KH x KW taps per output); otherwise each pixel
 * checks its taps. */
static void depthwise2d(void *arg, int64_t begin, int64_t end)
{
    const dw_job *j = arg;
    const lm_window_geom *g = j->g;
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int64_t KH = g->k[0], KW = g->k[1];
    for (int64_t nm = begin; nm < end; nm++) {
        int64_t n = nm / j->M, m = nm % j->M, c = m / j->mult;
        const float *x = j->x + (n * j->C + c) * H * W;
        const float *w = j->w + m * KH * KW;
        float *y = j->y + nm * OH * OW;
        float bias = j->b ? j->b[m] : 0.0f;
        if (j->pad) {
            dw_plane_rows(j, x, w, bias, j->pad + nm * KH * j->wp, y);
            continue;
        }
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++)
                y[oh * OW + ow] = dw_pixel(g, x, w, oh, ow, bias);
        lm_act_apply(&j->act, y, OH * OW);
    }
}

/* ---- depthwise over 16-channel blocks (dwconv.h) ------------------------------ */

typedef struct dw16_job {
    lm_conv2d_geom g;
    const float *x, *w, *b;
    float *y;
    lm_act act;
    float lo, hi;         /* the activation as a clamp, or +-INFINITY */
    bool hswish;          /* the activation is HardSwish (in the kernel too) */
    bool clamp;           /* whether the kernel applies the whole activation */
    int64_t blocks;       /* 16-channel blocks per image */
    int64_t items, parts; /* items = images x blocks, split into parts */
    float *scratch;       /* one slot of slot_floats per part */
    size_t slot_floats;
} dw16_job;

/* Parts [begin, end): each runs its contiguous share of (image, block) items
 * in its own scratch slot, so no two threads share one. */
static void dw16_parts(void *arg, int64_t begin, int64_t end)
{
    const dw16_job *j = arg;
    const int64_t C = j->g.C, IS = j->g.H * j->g.W, OS = j->g.OH * j->g.OW;
    for (int64_t part = begin; part < end; part++) {
        float *slot = j->scratch + (size_t)part * j->slot_floats;
        int64_t i0 = part * j->items / j->parts, i1 = (part + 1) * j->items / j->parts;
        for (int64_t it = i0; it < i1; it++) {
            int64_t n = it / j->blocks, cb = it % j->blocks;
            float *y = j->y + n * C * OS;
            lm_dwconv16(&j->g, j->x + n * C * IS, j->w, j->b, j->lo, j->hi, j->hswish, cb, cb + 1,
                        slot, y);
            if (!j->clamp) {
                int64_t c0 = cb * 16, nc = min64(16, C - c0);
                lm_act_apply(&j->act, y + c0 * OS, nc * OS);
            }
        }
    }
}

/* Whether the blocked kernel takes this depthwise conv: AVX-512F, one output
 * channel per input channel, at most 64 kernel rows (its row table). */
static bool dw16_applies(const lm_window_geom *g, int64_t mult)
{
    return mult == 1 && g->k[0] <= 64 && lm_dwconv16_available();
}

static loom_status conv_dw16(lm_kctx *k, const lm_window_geom *g, int64_t N, int64_t C,
                             const float *x, const float *w, const float *b, const lm_act *act,
                             float *y)
{
    dw16_job j = {.g = lm_geom_2d(g, C, C),
                  .x = x,
                  .w = w,
                  .b = b,
                  .y = y,
                  .act = *act,
                  .blocks = (C + 15) / 16};
    j.clamp = lm_act_as_clamp(act, &j.lo, &j.hi);
    if (!j.clamp)
        j.lo = -INFINITY, j.hi = INFINITY;
    j.hswish = act->kind == LM_ACT_HARD_SWISH;
    j.clamp = j.clamp || j.hswish;
    j.items = N * j.blocks;
    int threads = lm_threadpool_size(k->pool);
    j.parts = min64(threads, j.items);
    j.slot_floats = (lm_dwconv16_scratch_floats(&j.g) + 15) / 16 * 16;
    j.scratch = lm_kscratch(k, (size_t)j.parts * j.slot_floats * sizeof(float));
    if (!j.scratch)
        return LOOM_ERR_NO_MEMORY;
    double cost =
        2.0 * (double)g->out_size * (double)g->k_size * 16.0 * (double)(j.items / j.parts);
    lm_parallel_for(k, j.parts, cost, dw16_parts, &j);
    return LOOM_OK;
}

/* ---- depthwise along the rows of large planes (dwconv.h) ------------------------ */

typedef struct dwrows_job {
    lm_conv2d_geom g;
    const float *x, *w, *b;
    float *y;
    lm_act act;
    int64_t planes, parts; /* planes = images x channels, split into parts */
    float *scratch;        /* one slot of slot_floats per part */
    size_t slot_floats;
} dwrows_job;

static void dwrows_parts(void *arg, int64_t begin, int64_t end)
{
    const dwrows_job *j = arg;
    const lm_conv2d_geom *g = &j->g;
    const int64_t IS = g->H * g->W, OS = g->OH * g->OW;
    for (int64_t part = begin; part < end; part++) {
        float *slot = j->scratch + (size_t)part * j->slot_floats;
        int64_t p0 = part * j->planes / j->parts, p1 = (part + 1) * j->planes / j->parts;
        while (p0 < p1) { /* the part's channels of each image it reaches */
            int64_t n = p0 / g->C, c0 = p0 % g->C, c1 = min64(g->C, c0 + p1 - p0);
            lm_dwconv_rows(g, j->x + n * g->C * IS, j->w, j->b, &j->act, c0, c1, slot,
                           j->y + n * g->C * OS);
            p0 += c1 - c0;
        }
    }
}

/* Output rows from which the row kernel beats the 16-channel one (measured,
 * 1 thread, large images): 3 x 3 windows from 28 (0.5x at 112, 0.8x at
 * 28), larger ones from 56 (a tie at 28 with 7 x 7, 1.1-1.2x slower with
 * 5 x 5). Below, too many of its 16 lanes idle (1.5x slower at 14). */
static bool dwrows_applies(const lm_window_geom *g, int64_t C, int64_t mult)
{
    lm_conv2d_geom g2 = lm_geom_2d(g, C, C);
    return mult == 1 && g2.OW >= (g2.KW <= 3 ? 28 : 56) && lm_dwconv_rows_applies(&g2);
}

static loom_status conv_dwrows(lm_kctx *k, const lm_window_geom *g, int64_t N, int64_t C,
                               const float *x, const float *w, const float *b, const lm_act *act,
                               float *y)
{
    dwrows_job j = {
        .g = lm_geom_2d(g, C, C), .x = x, .w = w, .b = b, .y = y, .act = *act, .planes = N * C};
    j.parts = min64(lm_threadpool_size(k->pool), j.planes);
    j.slot_floats = (lm_dwconv_rows_scratch_floats(&j.g) + 15) / 16 * 16;
    j.scratch = lm_kscratch(k, (size_t)j.parts * j.slot_floats * sizeof(float));
    if (!j.scratch)
        return LOOM_ERR_NO_MEMORY;
    double cost = 2.0 * (double)g->out_size * (double)g->k_size * (double)(j.planes / j.parts);
    lm_parallel_for(k, j.parts, cost, dwrows_parts, &j);
    return LOOM_OK;
}

/* ---- shallow inputs: direct (directconv.h) ------------------------------------ */

/* Whether every spatial axis has stride @s and no dilation. */
static bool uniform_stride(const lm_window_geom *g, int64_t s)
{
    for (int d = 0; d < g->nsp; d++)
        if (g->s[d] != s || g->d[d] != 1)
            return false;
    return true;
}

/*
 * The direct kernel beats im2col + GEMM while the GEMM would be shallow
 * (C x taps deep), because it never writes the column matrix: a network's
 * first layers (at most 4 channels, any stride); stride-2 downsampling up
 * to 96 channels, where the strided column gathers cost most (at 1 thread,
 * AVX-512: 16 -> 16 at 160 x 160 558 -> 377 us, 32 -> 64 at 80 x 80 678 ->
 * 498 us, 96 -> 96 at 40 x 40 806 -> 647 us, but 128 -> 256 at 40 x 40
 * 1957 -> 2243 us); stride 1 up to 12 channels, past which Winograd and
 * the GEMM win. A real window (1x1 stays a GEMM).
 *
 * Grouped convolutions run it per group (C is then a group's channels):
 * there the GEMMs are tiny (32 x 288 x 49 in ResNeXt's last stage) and
 * im2col's short strided rows cost more than the products, so it wins up
 * to 64 channels a group at stride 1 too (1 thread: 32 groups of 32 at
 * 7 x 7 753 -> 299 us, 4 of 64 at 28 x 28 2119 -> 1962 us, but 2 of 128
 * at 14 x 14 991 -> 1522 us).
 */
static bool direct_applies(const lm_window_geom *g, int64_t group, int64_t C)
{
    int64_t max_c = uniform_stride(g, 2) ? 96 : uniform_stride(g, 1) ? 12 : 4;
    if (group > 1 && uniform_stride(g, 1)) /* no Winograd: 64 channels a group */
        max_c = 64;
    return g->nsp == 2 && (group == 1 || C / group > 1) && C / group <= max_c && g->k_size > 1 &&
           lm_directconv_available();
}

typedef struct direct_job {
    lm_conv2d_geom g; /* one group's: C and M are its channels */
    const float *x;   /* the image */
    const float *xpad, *wp, *b;
    float *y; /* the image's output */
    lm_act act;
    float lo, hi;
    bool hswish;          /* the activation is HardSwish (in the kernel too) */
    bool clamp;           /* whether the kernel applies the whole activation */
    bool own_pad;         /* parts pad their groups into their own xpad */
    int64_t group, parts; /* parts: whole groups when own_pad */
    int64_t items;        /* (group, channel block, output row) */
    int64_t block;        /* output channels per channel block */
    int64_t mblocks;      /* channel blocks per group */
    size_t pad_floats;    /* per group (or part) in xpad */
    size_t w_floats;      /* per group, in wp */
    float *rows;          /* one row buffer of row_floats per part */
    size_t row_floats;
} direct_job;

/* Items [i0, i1) of group @gi (channel block x rows + output row) from its
 * padded planes @xpad, as runs of output rows within a channel block. */
static void direct_group_rows(const direct_job *j, int64_t gi, const float *xpad, int64_t i0,
                              int64_t i1, float *row)
{
    const int64_t OH = j->g.OH, OS = j->g.OH * j->g.OW, Mg = j->g.M;
    float *yg = j->y + gi * Mg * OS;
    while (i0 < i1) {
        int64_t mb = i0 / OH, oh0 = i0 % OH, oh1 = min64(OH, oh0 + (i1 - i0));
        lm_directconv_rows(&j->g, xpad, j->wp + (size_t)gi * j->w_floats,
                           j->b ? j->b + gi * Mg : NULL, j->lo, j->hi, j->hswish, mb, oh0, oh1, row,
                           yg);
        if (!j->clamp) {
            int64_t c0 = mb * j->block, nc = min64(j->block, Mg - c0);
            for (int64_t c = c0; c < c0 + nc; c++)
                lm_act_apply(&j->act, yg + c * OS + oh0 * j->g.OW, (oh1 - oh0) * j->g.OW);
        }
        i0 += oh1 - oh0;
    }
}

/* A part: whole groups, each padded into the part's buffer just before its
 * rows run (so the copy stays in cache: padding all groups first and then
 * reading them back cost a third of a 14 x 14 stride-2 grouped conv); else
 * a range of items over planes padded beforehand. */
static void direct_parts(void *arg, int64_t begin, int64_t end)
{
    const direct_job *j = arg;
    const int64_t per = j->mblocks * j->g.OH, CgIS = j->g.C * j->g.H * j->g.W;
    for (int64_t part = begin; part < end; part++) {
        float *row = j->rows + (size_t)part * j->row_floats;
        if (j->own_pad) {
            float *xpad = (float *)j->xpad + (size_t)part * j->pad_floats;
            for (int64_t gi = part * j->group / j->parts; gi < (part + 1) * j->group / j->parts;
                 gi++) {
                lm_directconv_pad(&j->g, j->x + gi * CgIS, xpad);
                direct_group_rows(j, gi, xpad, 0, per, row);
            }
            continue;
        }
        int64_t i0 = part * j->items / j->parts, i1 = (part + 1) * j->items / j->parts;
        while (i0 < i1) {
            int64_t gi = i0 / per, e = min64(i1, (gi + 1) * per);
            direct_group_rows(j, gi, j->xpad + (size_t)gi * j->pad_floats, i0 - gi * per,
                              e - gi * per, row);
            i0 = e;
        }
    }
}

/* Pads the image's groups [begin, end) (each Cg planes) for the kernel. */
static void direct_pad_groups(void *arg, int64_t begin, int64_t end)
{
    const direct_job *j = arg;
    const int64_t CgIS = j->g.C * j->g.H * j->g.W;
    for (int64_t gi = begin; gi < end; gi++)
        lm_directconv_pad(&j->g, j->x + gi * CgIS, (float *)j->xpad + (size_t)gi * j->pad_floats);
}

/* W (M x Cg x KH x KW) as lm_directconv_pack_weights' blocks, group after
 * group, each @wf floats. */
static void direct_pack_groups(const lm_conv2d_geom *gg, int64_t group, const float *w, size_t wf,
                               float *wp)
{
    const int64_t per = gg->M * gg->C * gg->KH * gg->KW;
    for (int64_t gi = 0; gi < group; gi++)
        lm_directconv_pack_weights(gg, w + gi * per, wp + (size_t)gi * wf);
}

static loom_status conv_direct(lm_kctx *k, const lm_window_geom *g, int64_t N, int64_t C, int64_t M,
                               int64_t group, const float *x, const float *w, const float *b,
                               const lm_act *act, float *y)
{
    const conv_weights *cw = conv_packed(k);
    direct_job j = {.g = lm_geom_2d(g, C / group, M / group), .b = b, .act = *act, .group = group};
    j.clamp = lm_act_as_clamp(act, &j.lo, &j.hi);
    if (!j.clamp)
        j.lo = -INFINITY, j.hi = INFINITY;
    j.hswish = act->kind == LM_ACT_HARD_SWISH;
    j.clamp = j.clamp || j.hswish;
    j.block = lm_directconv_block(&j.g);
    j.mblocks = (j.g.M + j.block - 1) / j.block;
    j.items = group * j.mblocks * g->out[0];
    /* whole groups per part where that splits the work evenly enough */
    int64_t threads = lm_threadpool_size(k->pool);
    j.own_pad = group > 1 && (group >= 4 * threads || group % threads == 0);
    j.parts = min64(threads, j.own_pad ? group : j.items);
    j.row_floats = lm_directconv_row_floats(&j.g);
    j.pad_floats = (lm_directconv_pad_floats(&j.g) + 15) / 16 * 16;
    j.w_floats = lm_directconv_weight_floats(&j.g);
    size_t pad = j.pad_floats * (size_t)(j.own_pad ? j.parts : group);
    /* W as packed at plan time, unless this run's width takes the other kernel */
    const float *packed = cw && cw->direct_w && cw->direct_block == j.block ? cw->direct_w : NULL;
    size_t wf = packed ? 0 : j.w_floats * (size_t)group;
    float *buf = lm_kscratch(k, (pad + wf + (size_t)j.parts * j.row_floats) * sizeof(float));
    if (!buf)
        return LOOM_ERR_NO_MEMORY;
    j.xpad = buf;
    j.rows = buf + pad + wf;
    if (packed) {
        j.wp = packed;
    } else {
        direct_pack_groups(&j.g, group, w, j.w_floats, buf + pad);
        j.wp = buf + pad;
    }
    double cost = 2.0 * (double)g->out[1] * (double)(j.g.C * g->k_size) * (double)j.block *
                  (double)(j.items / j.parts);
    for (int64_t n = 0; n < N; n++) {
        j.x = x + n * C * g->in_size;
        j.y = y + n * M * g->out_size;
        if (!j.own_pad)
            lm_parallel_for(k, group, (double)j.pad_floats, direct_pad_groups, &j);
        lm_parallel_for(k, j.parts, cost, direct_parts, &j);
    }
    return LOOM_OK;
}

/* ---- Winograd F(2x2, 3x3) and F(4x4, 3x3) ----------------------------------- */

/*
 * 3x3 stride-1 convolutions as Lavin & Gray's F(T x T, 3x3): each T x T
 * output tile is A^T [(G g G^T) . (B^T d B)] A over an (T+2)^2 input patch d,
 * so the 9 multiplies per output and channel become (T+2)^2 per T^2 outputs:
 * 2.25x fewer for T = 2, 4x for T = 4. They run as (T+2)^2 GEMMs U_xi [M x C]
 * x V_xi [C x tiles] on the SGEMM; U (the transformed weights) is packed at
 * plan time. Transforms run 16 tiles at a time from a zero-padded copy of the
 * image, like the depthwise rows. T = 4 needs outputs of at least 16 x 16 so
 * that its GEMMs keep enough tiles; smaller ones use T = 2.
 */

/* Worth it when the GEMMs stay large: enough channels and tiles. */
static bool wino_applies(const lm_window_geom *g, int64_t group, int64_t C, int64_t M)
{
    return g->nsp == 2 && group == 1 && g->k[0] == 3 && g->k[1] == 3 && g->s[0] == 1 &&
           g->s[1] == 1 && g->d[0] == 1 && g->d[1] == 1 && C >= 16 && M >= 16 && g->out[0] >= 8 &&
           g->out[1] >= 8;
}

static int wino_tile(const lm_window_geom *g)
{
    return g->out[0] >= 16 && g->out[1] >= 16 && !lm_env_flag(LM_ENV_CONV_WINOGRAD_F2) ? 4 : 2;
}

/* G of F(2x2, 3x3) and F(4x4, 3x3) (rows: transform points). */
static const float wino_g2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
static const float wino_g4[6][3] = {{0.25f, 0, 0},
                                    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                    {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                    {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                    {0, 0, 1}};

/* U[xi][m][c] = (G g_mc G^T)[xi] for tile size @T. */
static void wino_weights(const float *w, int64_t M, int64_t C, int T, float *U)
{
    int a = T + 2;
    const float(*G)[3] = T == 4 ? wino_g4 : wino_g2;
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const float *f = w + (m * C + c) * 9;
            float t[6][3];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i][0] * f[j] + G[i][1] * f[3 + j] + G[i][2] * f[6 + j];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++)
                    U[((int64_t)(i * a + j) * M + m) * C + c] =
                        t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
        }
}

#if defined(__clang__)
#define ZIPLO(a, b)                                                                                \
    __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define ZIPHI(a, b)                                                                                \
    __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#else
#define ZIPLO(a, b)                                                                                \
    __builtin_shuffle(a, b, (v16i){0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23})
#define ZIPHI(a, b)                                                                                \
    __builtin_shuffle(a, b, (v16i){8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31})
#endif

/*
 * Input transform of one row of tiles: prow[i] is padded input row 2*th + i
 * (column 0 = the first tile's first column). Writes V[xi * vs + tw] for the
 * TW tiles, 16 at a time (the last vector partially).
 */
#define DEFINE_WINO_IN(NAME, TARGET)                                                               \
    static TARGET void NAME(const float *const *prow, int64_t TW, float *V, int64_t vs)            \
    {                                                                                              \
        for (int64_t tw = 0; tw < TW; tw += 16) {                                                  \
            v16f r[4][4];                                                                          \
            for (int j = 0; j < 4; j++) {                                                          \
                v16f d[4];                                                                         \
                for (int i = 0; i < 4; i++) {                                                      \
                    v16f lo, hi;                                                                   \
                    memcpy(&lo, prow[i] + 2 * tw + j, sizeof lo);                                  \
                    memcpy(&hi, prow[i] + 2 * tw + j + 16, sizeof hi);                             \
                    d[i] = EVENS(lo, hi);                                                          \
                }                                                                                  \
                r[0][j] = d[0] - d[2];                                                             \
                r[1][j] = d[1] + d[2];                                                             \
                r[2][j] = d[2] - d[1];                                                             \
                r[3][j] = d[1] - d[3];                                                             \
            }                                                                                      \
            int64_t n = TW - tw < 16 ? TW - tw : 16;                                               \
            for (int i = 0; i < 4; i++) {                                                          \
                v16f v[4] = {r[i][0] - r[i][2], r[i][1] + r[i][2], r[i][2] - r[i][1],              \
                             r[i][1] - r[i][3]};                                                   \
                for (int j = 0; j < 4; j++)                                                        \
                    copy_lanes(V + (i * 4 + j) * vs + tw, &v[j], n);                               \
            }                                                                                      \
        }                                                                                          \
    }

/*
 * Output transform of one row of tiles for one output channel: Mx[xi * ms +
 * tw] are the 16 GEMM results of tile tw. Writes output rows yrows[0..1]
 * (NULL: past the bottom) of width OW, bias added, 32 columns per 16 tiles.
 */
#define DEFINE_WINO_OUT(NAME, TARGET)                                                              \
    static TARGET void NAME(const float *Mx, int64_t ms, int64_t TW, float bias,                   \
                            float *const *yrows, int64_t OW)                                       \
    {                                                                                              \
        for (int64_t tw = 0; tw < TW; tw += 16) {                                                  \
            v16f m[16];                                                                            \
            for (int x = 0; x < 16; x++)                                                           \
                memcpy(&m[x], Mx + x * ms + tw, sizeof m[x]);                                      \
            v16f s0[4], s1[4];                                                                     \
            for (int j = 0; j < 4; j++) {                                                          \
                s0[j] = m[j] + m[4 + j] + m[8 + j];                                                \
                s1[j] = m[4 + j] - m[8 + j] - m[12 + j];                                           \
            }                                                                                      \
            v16f y00 = s0[0] + s0[1] + s0[2] + bias, y01 = s0[1] - s0[2] - s0[3] + bias;           \
            v16f y10 = s1[0] + s1[1] + s1[2] + bias, y11 = s1[1] - s1[2] - s1[3] + bias;           \
            v16f out[2][2] = {{ZIPLO(y00, y01), ZIPHI(y00, y01)},                                  \
                              {ZIPLO(y10, y11), ZIPHI(y10, y11)}};                                 \
            int64_t c0 = 2 * tw;                                                                   \
            for (int r = 0; r < 2; r++) {                                                          \
                float *yr = yrows[r];                                                              \
                if (!yr)                                                                           \
                    continue;                                                                      \
                for (int h = 0; h < 2; h++) {                                                      \
                    int64_t c = c0 + 16 * h, n = OW - c < 16 ? OW - c : 16;                        \
                    if (n > 0)                                                                     \
                        copy_lanes(yr + c, &out[r][h], n);                                         \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* F(4x4, 3x3): d -> B^T d over 6 values, m -> A^T m over 6 values. */
#define WINO_BT6(o, d)                                                                             \
    do {                                                                                           \
        o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];                                                   \
        o[1] = -4.0f * d[1] - 4.0f * d[2] + d[3] + d[4];                                           \
        o[2] = 4.0f * d[1] - 4.0f * d[2] - d[3] + d[4];                                            \
        o[3] = -2.0f * d[1] - d[2] + 2.0f * d[3] + d[4];                                           \
        o[4] = 2.0f * d[1] - d[2] - 2.0f * d[3] + d[4];                                            \
        o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];                                                   \
    } while (0)
#define WINO_AT6(o, m)                                                                             \
    do {                                                                                           \
        o[0] = m[0] + m[1] + m[2] + m[3] + m[4];                                                   \
        o[1] = m[1] - m[2] + 2.0f * (m[3] - m[4]);                                                 \
        o[2] = m[1] + m[2] + 4.0f * (m[3] + m[4]);                                                 \
        o[3] = m[1] - m[2] + 8.0f * (m[3] - m[4]) + m[5];                                          \
    } while (0)

/* F(4x4) input transform: 6 padded rows, tiles 4 columns apart (every 4th
 * lane of four loads). */
#define DEFINE_WINO4_IN(NAME, TARGET)                                                              \
    static TARGET void NAME(const float *const *prow, int64_t TW, float *V, int64_t vs)            \
    {                                                                                              \
        for (int64_t tw = 0; tw < TW; tw += 16) {                                                  \
            v16f r[6][6];                                                                          \
            for (int j = 0; j < 6; j++) {                                                          \
                v16f d[6], o[6];                                                                   \
                for (int i = 0; i < 6; i++) {                                                      \
                    const float *p = prow[i] + 4 * tw + j;                                         \
                    v16f a0, a1, a2, a3;                                                           \
                    memcpy(&a0, p, sizeof a0);                                                     \
                    memcpy(&a1, p + 16, sizeof a1);                                                \
                    memcpy(&a2, p + 32, sizeof a2);                                                \
                    memcpy(&a3, p + 48, sizeof a3);                                                \
                    v16f e01 = EVENS(a0, a1), e23 = EVENS(a2, a3);                                 \
                    d[i] = EVENS(e01, e23);                                                        \
                }                                                                                  \
                WINO_BT6(o, d);                                                                    \
                for (int k = 0; k < 6; k++)                                                        \
                    r[k][j] = o[k];                                                                \
            }                                                                                      \
            int64_t n = TW - tw < 16 ? TW - tw : 16;                                               \
            for (int k = 0; k < 6; k++) {                                                          \
                v16f v[6];                                                                         \
                WINO_BT6(v, r[k]);                                                                 \
                for (int j = 0; j < 6; j++)                                                        \
                    copy_lanes(V + (k * 6 + j) * vs + tw, &v[j], n);                               \
            }                                                                                      \
        }                                                                                          \
    }

/* F(4x4) output transform: 4 output rows, 64 columns per 16 tiles (two
 * rounds of lane interleaving put each tile's 4 columns together). */
#define DEFINE_WINO4_OUT(NAME, TARGET)                                                             \
    static TARGET void NAME(const float *Mx, int64_t ms, int64_t TW, float bias,                   \
                            float *const *yrows, int64_t OW)                                       \
    {                                                                                              \
        for (int64_t tw = 0; tw < TW; tw += 16) {                                                  \
            v16f s[4][6];                                                                          \
            for (int j = 0; j < 6; j++) {                                                          \
                v16f m[6], o[4];                                                                   \
                for (int i = 0; i < 6; i++)                                                        \
                    memcpy(&m[i], Mx + (i * 6 + j) * ms + tw, sizeof m[i]);                        \
                WINO_AT6(o, m);                                                                    \
                for (int r = 0; r < 4; r++)                                                        \
                    s[r][j] = o[r];                                                                \
            }                                                                                      \
            for (int r = 0; r < 4; r++) {                                                          \
                float *yr = yrows[r];                                                              \
                if (!yr)                                                                           \
                    continue;                                                                      \
                v16f o[4];                                                                         \
                WINO_AT6(o, s[r]);                                                                 \
                for (int c = 0; c < 4; c++)                                                        \
                    o[c] += bias;                                                                  \
                v16f a_lo = ZIPLO(o[0], o[2]), a_hi = ZIPHI(o[0], o[2]);                           \
                v16f b_lo = ZIPLO(o[1], o[3]), b_hi = ZIPHI(o[1], o[3]);                           \
                v16f q[4] = {ZIPLO(a_lo, b_lo), ZIPHI(a_lo, b_lo), ZIPLO(a_hi, b_hi),              \
                             ZIPHI(a_hi, b_hi)};                                                   \
                for (int h = 0; h < 4; h++) {                                                      \
                    int64_t c = 4 * tw + 16 * h, n = OW - c < 16 ? OW - c : 16;                    \
                    if (n > 0)                                                                     \
                        copy_lanes(yr + c, &q[h], n);                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

typedef void (*wino_in_fn)(const float *const *, int64_t, float *, int64_t);
typedef void (*wino_out_fn)(const float *, int64_t, int64_t, float, float *const *, int64_t);
#if defined(__x86_64__)
DEFINE_WINO_IN(wino_in_avx512f, __attribute__((target("avx512f"))))
DEFINE_WINO_IN(wino_in_avx2, __attribute__((target("avx2"))))
DEFINE_WINO_OUT(wino_out_avx512f, __attribute__((target("avx512f"))))
DEFINE_WINO_OUT(wino_out_avx2, __attribute__((target("avx2"))))
DEFINE_WINO4_IN(wino4_in_avx512f, __attribute__((target("avx512f"))))
DEFINE_WINO4_IN(wino4_in_avx2, __attribute__((target("avx2"))))
DEFINE_WINO4_OUT(wino4_out_avx512f, __attribute__((target("avx512f"))))
DEFINE_WINO4_OUT(wino4_out_avx2, __attribute__((target("avx2"))))
#endif
DEFINE_WINO_IN(wino_in_generic, )
DEFINE_WINO_OUT(wino_out_generic, )
DEFINE_WINO4_IN(wino4_in_generic, )
DEFINE_WINO4_OUT(wino4_out_generic, )

typedef struct wino_job {
    const lm_window_geom *g;
    int64_t C, M, TW;
    int T, nx; /* tile size, transform points (T + 2)^2 */
    wino_in_fn in;
    wino_out_fn out;
    const float *x; /* the image: C planes of H x W */
    float *pad;     /* C zero-padded planes of hp x wp */
    int64_t hp, wp;
    int64_t th0, th1;                /* tile rows of the current chunk */
    int64_t tcn;                     /* tiles in the chunk: (th1 - th0) * TW */
    float *V, *Mx;                   /* [nx][C][tcn], [nx][M][tcn] */
    const lm_sgemm_packed *const *U; /* packed [nx] or NULL */
    const float *Uraw;               /* [nx][M][C] when not packed */
    const float *bias;
    lm_act act;
    float *y; /* the image's output: M planes of OH x OW */
} wino_job;

static void wino_pad_planes(void *arg, int64_t begin, int64_t end)
{
    const wino_job *j = arg;
    const lm_window_geom *g = j->g;
    int64_t H = g->in[0], W = g->in[1], top = g->pb[0], left = g->pb[1];
    for (int64_t c = begin; c < end; c++) {
        float *pad = j->pad + c * j->hp * j->wp;
        const float *x = j->x + c * H * W;
        for (int64_t r = 0; r < j->hp; r++) {
            float *pr = pad + r * j->wp;
            int64_t ih = r - top;
            if (ih < 0 || ih >= H) {
                memset(pr, 0, (size_t)j->wp * sizeof(float));
                continue;
            }
            memset(pr, 0, (size_t)left * sizeof(float));
            memcpy(pr + left, x + ih * W, (size_t)W * sizeof(float));
            memset(pr + left + W, 0, (size_t)(j->wp - left - W) * sizeof(float));
        }
    }
}

static void wino_inputs(void *arg, int64_t begin, int64_t end)
{
    const wino_job *j = arg;
    for (int64_t c = begin; c < end; c++) {
        const float *pad = j->pad + c * j->hp * j->wp;
        for (int64_t th = j->th0; th < j->th1; th++) {
            const float *prow[6];
            for (int i = 0; i < j->T + 2; i++)
                prow[i] = pad + (j->T * th + i) * j->wp;
            j->in(prow, j->TW, j->V + c * j->tcn + (th - j->th0) * j->TW, j->C * j->tcn);
        }
    }
}

static void wino_gemms(void *arg, int64_t begin, int64_t end)
{
    const wino_job *j = arg;
    for (int64_t xi = begin; xi < end; xi++) {
        lm_sgemm_args ga = {.M = j->M,
                            .N = j->tcn,
                            .K = j->C,
                            .alpha = 1.0f,
                            .A = j->Uraw ? j->Uraw + xi * j->M * j->C : NULL,
                            .lda = j->C,
                            .pa = j->U ? j->U[xi] : NULL,
                            .B = j->V + xi * j->C * j->tcn,
                            .ldb = j->tcn,
                            .C = j->Mx + xi * j->M * j->tcn,
                            .ldc = j->tcn};
        lm_sgemm_run(&ga);
    }
}

static void wino_outputs(void *arg, int64_t begin, int64_t end)
{
    const wino_job *j = arg;
    int64_t OH = j->g->out[0], OW = j->g->out[1];
    for (int64_t m = begin; m < end; m++) {
        float *ym = j->y + m * OH * OW;
        float bias = j->bias ? j->bias[m] : 0.0f;
        for (int64_t th = j->th0; th < j->th1; th++) {
            float *yrows[4];
            for (int r = 0; r < j->T; r++)
                yrows[r] = j->T * th + r < OH ? ym + (j->T * th + r) * OW : NULL;
            j->out(j->Mx + m * j->tcn + (th - j->th0) * j->TW, j->M * j->tcn, j->TW, bias, yrows,
                   OW);
        }
        int64_t r0 = j->T * j->th0, r1 = j->T * j->th1 < OH ? j->T * j->th1 : OH;
        lm_act_apply(&j->act, ym + r0 * OW, (r1 - r0) * OW);
    }
}

static loom_status conv_winograd(lm_kctx *k, const lm_window_geom *g, int64_t N, int64_t C,
                                 int64_t M, const float *x, const float *w, const float *bias,
                                 const lm_act *act, float *y)
{
    const conv_weights *cw = conv_packed(k);
    int T = cw && cw->wino[0] ? (cw->wino[16] ? 4 : 2) : wino_tile(g), nx = (T + 2) * (T + 2);
    int64_t OH = g->out[0], OW = g->out[1], TH = (OH + T - 1) / T, TW = (OW + T - 1) / T;
    wino_job j = {.g = g, .C = C, .M = M, .TW = TW, .T = T, .nx = nx, .bias = bias, .act = *act};
    wino_in_fn in2 = wino_in_generic, in4 = wino4_in_generic;
    wino_out_fn out2 = wino_out_generic, out4 = wino4_out_generic;
#if defined(__x86_64__)
    const lm_cpu_features *f = lm_cpu_features_get();
    if (f->avx512f) {
        in2 = wino_in_avx512f, in4 = wino4_in_avx512f;
        out2 = wino_out_avx512f, out4 = wino4_out_avx512f;
    } else if (f->avx2_fma) {
        in2 = wino_in_avx2, in4 = wino4_in_avx2;
        out2 = wino_out_avx2, out4 = wino4_out_avx2;
    }
#endif
    j.in = T == 4 ? in4 : in2;
    j.out = T == 4 ? out4 : out2;
    /* Padded planes: rows for every tile's T + 2 rows; columns for the last
     * vector of 16 tiles (reads up to T * tw + T + 1 + 16 * T - 1). */
    j.hp = T * TH + 2;
    int64_t need_w = T * ((TW + 15) / 16 * 16) + 2 * T + 4;
    j.wp = need_w > g->in[1] + g->pb[1] ? need_w : g->in[1] + g->pb[1];
    if (j.hp < g->in[0] + g->pb[0])
        j.hp = g->in[0] + g->pb[0];
    /* Tile rows per chunk: ~512 tiles keeps V and Mx near L2 for the GEMMs. */
    int64_t rows_per = 512 / TW > 0 ? 512 / TW : 1;
    int64_t tcn_max = (rows_per < TH ? rows_per : TH) * TW;
    /* + 16: the output transform loads whole vectors past the last tile. */
    size_t floats = (size_t)(C * j.hp * j.wp + nx * (C + M) * tcn_max + 16);
    if (!cw || !cw->wino[0])
        floats += (size_t)(nx * M * C);
    float *buf = lm_kscratch(k, floats * sizeof(float));
    if (!buf)
        return LOOM_ERR_NO_MEMORY;
    j.pad = buf;
    j.V = j.pad + C * j.hp * j.wp;
    j.Mx = j.V + nx * C * tcn_max;
    if (cw && cw->wino[0]) {
        j.U = (const lm_sgemm_packed *const *)cw->wino;
    } else {
        float *U = j.Mx + nx * M * tcn_max + 16;
        wino_weights(w, M, C, T, U);
        j.Uraw = U;
    }
    for (int64_t n = 0; n < N; n++) {
        j.x = x + n * C * g->in_size;
        j.y = y + n * M * g->out_size;
        lm_parallel_for(k, C, 2.0 * (double)j.hp * (double)j.wp, wino_pad_planes, &j);
        for (j.th0 = 0; j.th0 < TH; j.th0 = j.th1) {
            j.th1 = j.th0 + rows_per < TH ? j.th0 + rows_per : TH;
            j.tcn = (j.th1 - j.th0) * TW;
            lm_parallel_for(k, C, 4.0 * (double)j.tcn, wino_inputs, &j);
            lm_parallel_for(k, nx, 0.02 * (double)M * (double)C * (double)j.tcn, wino_gemms, &j);
            lm_parallel_for(k, M, 4.0 * (double)j.tcn, wino_outputs, &j);
        }
    }
    return LOOM_OK;
}

/* Shared checks of the X, W, B inputs of Conv and ConvTranspose. */
static loom_status conv_inputs(lm_kctx *k, const loom_tensor **x, const loom_tensor **w,
                               const loom_tensor **b)
{
    loom_status st = lm_kcheck_arity(k, 2, 3);
    if (st != LOOM_OK)
        return st;
    *x = lm_kin(k, 0);
    *w = lm_kin(k, 1);
    *b = lm_kin(k, 2);
    if ((*x)->dtype != LOOM_DTYPE_FLOAT || (*w)->dtype != LOOM_DTYPE_FLOAT ||
        (*b && (*b)->dtype != LOOM_DTYPE_FLOAT))
        return lm_kunsupported(k, "dtype %d: only float32 is supported", (int)(*x)->dtype);
    if (*b && (*b)->rank != 1)
        return lm_kfail(k, LOOM_ERR_SHAPE, "B has rank %d, expected 1", (*b)->rank);
    return LOOM_OK;
}

/* 1x1, stride 1, unpadded: the input is already the GEMM's B. */
static bool conv_pointwise(const lm_window_geom *g)
{
    bool pointwise = true;
    for (int i = 0; i < g->nsp; i++)
        pointwise = pointwise && g->k[i] == 1 && g->s[i] == 1 && g->pb[i] == 0 && g->pe[i] == 0;
    return pointwise;
}

/*
 * Convs of one group can run pixel-major, as X^T x W^T (pixels x taps times
 * taps x outputs, X the input for 1x1 convs, else its im2col matrix), then
 * transpose the product back into NCHW. W x X packs X (K x OS) on every run
 * and computes OS rounded up to 16 columns; X^T x W^T reads X in place, has
 * W^T packed once per plan and rounds the outputs M up instead, but pays the
 * transpose (weighed as 3 operations per element: its stores are strided).
 * Counted in multiply-add vectors, the cheaper one wins: pixel-major for
 * 7 x 7 planes (49 columns computed as 64: ResNet's last stage), for 1 x 1
 * ones (squeeze-and-excitation blocks: one lane in 32, and no transpose, the
 * N images already are N x C and N x M), and for projections to few
 * channels (packing X costs 16 / M of the product). The im2col matrix of a
 * whole plane must fit the column budget.
 */
static bool conv_pixel_major(const lm_window_geom *g, int64_t group, int64_t C, int64_t M)
{
    int64_t OS = g->out_size, K = C * g->k_size;
    if (group != 1 || K == 0)
        return false;
    bool pointwise = conv_pointwise(g);
    if (OS == 1 && pointwise)
        return true;
    if (!pointwise && (K * OS > COL_BUDGET_FLOATS || wino_applies(g, group, C, M)))
        return false;
    double os16 = (double)((OS + 15) / 16 * 16), m16 = (double)((M + 15) / 16 * 16);
    double plain = (double)M * (double)K * os16 / 16.0 + (double)K * (double)OS;
    double pixel = (double)OS * (double)K * m16 / 16.0 + 3.0 * (double)OS * (double)M;
    return pixel < 0.97 * plain;
}

static loom_status conv_pixels(lm_kctx *k, const lm_window_geom *g, int64_t N, int64_t C, int64_t M,
                               const float *x, const float *w, const lm_sgemm_packed *wt,
                               const float *b, const lm_act *act, float *y)
{
    const int64_t OS = g->out_size, IS = g->in_size, K = C * g->k_size;
    const bool pointwise = conv_pointwise(g);
    lm_sgemm_args ga = {.trans_a = true,
                        .trans_b = true,
                        .M = OS,
                        .N = M,
                        .K = K,
                        .alpha = 1.0f,
                        .lda = OS,
                        .B = w,
                        .ldb = K,
                        .pb = wt,
                        .ldc = M,
                        .bias = b,
                        .bias_per_col = true,
                        .act = *act};
    if (OS == 1 && pointwise) { /* the images' N x C inputs times W^T */
        ga.trans_a = false;
        ga.M = N;
        ga.A = x;
        ga.lda = C;
        ga.C = y;
        lm_sgemm_run_parallel(k, &ga);
        return LOOM_OK;
    }
    float *t = lm_kscratch(k, (size_t)(OS * M + (pointwise ? 0 : K * OS)) * sizeof(float));
    if (!t)
        return LOOM_ERR_NO_MEMORY;
    float *col = t + OS * M;
    for (int64_t n = 0; n < N; n++) {
        if (pointwise) {
            ga.A = x + n * C * IS;
        } else {
            col_job cj = {
                g, {g->nsp, g->out, g->in, g->s, g->d, g->pb}, (float *)x + n * C * IS, IS, col, 0,
                OS};
            lm_parallel_for(k, K, 1.0 * (double)OS, im2col_rows, &cj);
            ga.A = col;
        }
        ga.C = t;
        lm_sgemm_run_parallel(k, &ga);
        lm_transpose_f32(t, OS, M, M, y + n * M * OS, OS);
    }
    return LOOM_OK;
}

/* ---- tap-sparse GEMM: dilated convolutions over small planes ----------------- */

/*
 * A dilated convolution padded as wide as its reach (DeepLab's ASPP: 3x3,
 * dilation 12 to 36, on 16 x 16 planes) reads the padding with most taps at
 * most outputs, and im2col + GEMM multiplies those zeros. Along one axis,
 * the outputs at which a tap reads inside the input form an interval, so a
 * 2-D tap's outputs form a rectangle. This path runs one GEMM per tap over
 * its rectangle: W_t [Mg x Cg] (packed per tap at plan time; taps that read
 * only padding are not stored) times the input rectangle the tap reads (a
 * copy without bounds checks, or X itself when that is contiguous),
 * accumulated into Y. 1-D convolutions are 2-D ones with a trivial H axis.
 */

/* Widest kernel axis the path takes: a bit per tap in the weights' key. */
#define TAP_MAX_K 16

typedef struct tap_axis {
    int64_t in, out, k, s, d, p;
} tap_axis;

typedef struct tap_plan {
    tap_axis ax[2]; /* H and W */
    /* Tap k of axis a reads inside the input at outputs [lo, hi) (empty: lo == hi). */
    int64_t lo[2][TAP_MAX_K], hi[2][TAP_MAX_K];
    double work; /* (output, tap) pairs computed, over all of them */
} tap_plan;

/* Fills the axes and intervals of @tp; false for geometries the path skips. */
static bool tap_plan_make(const lm_window_geom *g, tap_plan *tp)
{
    if (g->nsp < 1 || g->nsp > 2)
        return false;
    tp->ax[0] = (tap_axis){1, 1, 1, 1, 1, 0};
    for (int i = 0; i < g->nsp; i++)
        tp->ax[2 - g->nsp + i] =
            (tap_axis){g->in[i], g->out[i], g->k[i], g->s[i], g->d[i], g->pb[i]};
    double valid = 1.0, all = 1.0;
    for (int a = 0; a < 2; a++) {
        const tap_axis *x = &tp->ax[a];
        if (x->k > TAP_MAX_K || x->k < 1 || x->out < 1 || x->s < 1)
            return false;
        int64_t sum = 0;
        for (int64_t k = 0; k < x->k; k++) {
            int64_t first = x->p - k * x->d;            /* o * s must reach it */
            int64_t last = x->in - 1 + x->p - k * x->d; /* and not pass it */
            int64_t lo = first <= 0 ? 0 : (first + x->s - 1) / x->s;
            int64_t hi = last < 0 ? 0 : min64(last / x->s + 1, x->out);
            tp->lo[a][k] = min64(lo, hi);
            tp->hi[a][k] = hi;
            sum += hi - tp->lo[a][k];
        }
        valid *= (double)sum;
        all *= (double)(x->out * x->k);
    }
    tp->work = valid / all;
    return true;
}

/*
 * Worth it when at most 60% of the products remain: DeepLab's ASPP keeps
 * 25% (dilation 12) or 11% (24 and 36), while 3x3 pad-1 convolutions keep
 * their Winograd or GEMM paths down to 4 x 4 planes (69%). One GEMM per tap
 * needs some depth: 16 input channels per group.
 */
static bool taps_apply(const lm_window_geom *g, int64_t group, int64_t C, tap_plan *tp)
{
    return group < 65536 && C / group >= 16 && g->k_size > 1 && tap_plan_make(g, tp) &&
           tp->work <= 0.6;
}

/* The taps of axis @a valid somewhere, one bit each. */
static uint64_t tap_mask(const tap_plan *tp, int a)
{
    uint64_t m = 0;
    for (int64_t k = 0; k < tp->ax[a].k; k++)
        if (tp->hi[a][k] > tp->lo[a][k])
            m |= (uint64_t)1 << k;
    return m;
}

static bool tap_valid(const tap_plan *tp, int64_t kh, int64_t kw)
{
    return tp->hi[0][kh] > tp->lo[0][kh] && tp->hi[1][kw] > tp->lo[1][kw];
}

/* Whether W was packed for every tap this geometry reads (the plan's shapes
 * may differ from this run's). */
static bool taps_packed(const conv_weights *cw, const tap_plan *tp, int64_t group, int64_t KK)
{
    if (!cw || !cw->tap || cw->ntap != group * KK)
        return false;
    for (int64_t gi = 0; gi < group; gi++)
        for (int64_t t = 0; t < KK; t++)
            if (tap_valid(tp, t / tp->ax[1].k, t % tp->ax[1].k) && !cw->tap[gi * KK + t])
                return false;
    return true;
}

typedef struct tap_job {
    const tap_plan *tp;
    const float *x;  /* the group's input planes */
    float *b;        /* the GEMM's B: Cg rows of rows x width */
    float *y, *tile; /* the group's output planes; a GEMM product of Mg rows */
    const float *bias;
    const lm_act *act;
    int64_t ih0, iw0, oh0, ow0, rows, width; /* the rectangle, in input and output */
} tap_job;

/* B's rows @begin..@end: the input pixels of the rectangle, one channel a row. */
static void tap_gather(void *arg, int64_t begin, int64_t end)
{
    const tap_job *j = arg;
    const tap_axis *h = &j->tp->ax[0], *w = &j->tp->ax[1];
    const int64_t P = j->rows * j->width;
    const evens_fn evens_wide = w->s == 2 ? evens_for_cpu() : NULL;
    for (int64_t c = begin; c < end; c++) {
        float *dst = j->b + c * P;
        for (int64_t r = 0; r < j->rows; r++, dst += j->width) {
            const float *src = j->x + (c * h->in + j->ih0 + r * h->s) * w->in + j->iw0;
            if (w->s == 1)
                memcpy(dst, src, (size_t)j->width * sizeof(float));
            else if (evens_wide)
                evens_wide(src, dst, j->width);
            else
                for (int64_t t = 0; t < j->width; t++)
                    dst[t] = src[t * w->s];
        }
    }
}

/* Output channels @begin..@end: Y's rectangle += the product's rows. */
static void tap_add(void *arg, int64_t begin, int64_t end)
{
    const tap_job *j = arg;
    const int64_t OW = j->tp->ax[1].out, OS = j->tp->ax[0].out * OW, P = j->rows * j->width;
    for (int64_t m = begin; m < end; m++)
        for (int64_t r = 0; r < j->rows; r++) {
            float *yr = j->y + m * OS + (j->oh0 + r) * OW + j->ow0;
            const float *tr = j->tile + m * P + r * j->width;
            for (int64_t t = 0; t < j->width; t++)
                yr[t] += tr[t];
        }
}

/* Output channels @begin..@end: Y = the bias (or 0) before the taps add up. */
static void tap_fill(void *arg, int64_t begin, int64_t end)
{
    const tap_job *j = arg;
    const int64_t OS = j->tp->ax[0].out * j->tp->ax[1].out;
    for (int64_t m = begin; m < end; m++)
        for (int64_t i = 0; i < OS; i++)
            j->y[m * OS + i] = j->bias ? j->bias[m] : 0.0f;
}

/* Output channels @begin..@end: the activation, once every tap is in. */
static void tap_act(void *arg, int64_t begin, int64_t end)
{
    const tap_job *j = arg;
    const int64_t OS = j->tp->ax[0].out * j->tp->ax[1].out;
    lm_act_apply(j->act, j->y + begin * OS, (end - begin) * OS);
}

/*
 * Tap (@kh, @kw) over its rectangle, in chunks of at most @pmax pixels:
 * Y += W_t x B. The GEMM writes Y directly where the rectangle spans whole
 * rows, else a product tile that tap_add adds in. @ga holds the operands
 * that do not change (A, beta, the epilogue).
 */
static void tap_run(lm_kctx *k, tap_job *j, lm_sgemm_args *ga, int64_t kh, int64_t kw, int64_t Cg,
                    int64_t Mg, int64_t pmax)
{
    const tap_axis *h = &j->tp->ax[0], *w = &j->tp->ax[1];
    const int64_t lo0 = j->tp->lo[0][kh], hi0 = j->tp->hi[0][kh];
    j->ow0 = j->tp->lo[1][kw];
    j->width = j->tp->hi[1][kw] - j->ow0;
    const bool full = j->width == w->out;
    /* Stride 1 over whole input rows: the rectangle's pixels are X's. */
    const bool in_place = h->s == 1 && w->s == 1 && j->width == w->in;
    int64_t chunk = in_place && full ? hi0 - lo0 : (pmax / j->width > 1 ? pmax / j->width : 1);
    for (int64_t r0 = lo0; r0 < hi0; r0 += chunk) {
        j->oh0 = r0;
        j->rows = min64(chunk, hi0 - r0);
        j->ih0 = r0 * h->s - h->p + kh * h->d;
        j->iw0 = j->ow0 * w->s - w->p + kw * w->d;
        int64_t P = j->rows * j->width;
        ga->N = P;
        if (in_place) {
            ga->B = j->x + j->ih0 * w->in + j->iw0;
            ga->ldb = h->in * w->in;
        } else {
            lm_parallel_for(k, Cg, 0.5 * (double)P, tap_gather, j);
            ga->B = j->b;
            ga->ldb = P;
        }
        ga->C = full ? j->y + r0 * w->out : j->tile;
        ga->ldc = full ? h->out * w->out : P;
        float beta = ga->beta;
        if (!full)
            ga->beta = 0.0f;
        lm_sgemm_run_parallel(k, ga);
        ga->beta = beta;
        if (!full)
            lm_parallel_for(k, Mg, 1.0 * (double)P, tap_add, j);
    }
}

static loom_status conv_taps(lm_kctx *k, const tap_plan *tp, int64_t group, int64_t N, int64_t C,
                             int64_t M, const float *x, const conv_weights *cw, const float *b,
                             const lm_act *act, float *y)
{
    const int64_t Cg = C / group, Mg = M / group, KW = tp->ax[1].k, KK = tp->ax[0].k * KW;
    const int64_t IS = tp->ax[0].in * tp->ax[1].in, OS = tp->ax[0].out * tp->ax[1].out;
    /* A tap that reads inside the input at every output goes first and sets
     * Y (with the bias); without one, Y starts as the bias. */
    int64_t cover = -1, valid = 0;
    for (int64_t t = 0; t < KK; t++) {
        int64_t kh = t / KW, kw = t % KW;
        if (!tap_valid(tp, kh, kw))
            continue;
        valid++;
        if (cover < 0 && tp->hi[0][kh] - tp->lo[0][kh] == tp->ax[0].out &&
            tp->hi[1][kw] - tp->lo[1][kw] == tp->ax[1].out)
            cover = t;
    }
    const bool act_in_gemm = cover >= 0 && valid == 1; /* the only tap finishes Y */
    const int64_t pmax = COL_BUDGET_FLOATS / (Cg > Mg ? Cg : Mg) > tp->ax[1].out
                             ? COL_BUDGET_FLOATS / (Cg > Mg ? Cg : Mg)
                             : tp->ax[1].out;
    float *buf = lm_kscratch(k, (size_t)((Cg + Mg) * pmax) * sizeof(float));
    if (!buf)
        return LOOM_ERR_NO_MEMORY;
    tap_job j = {.tp = tp, .b = buf, .tile = buf + Cg * pmax, .act = act};
    for (int64_t n = 0; n < N; n++) {
        for (int64_t gi = 0; gi < group; gi++) {
            j.x = x + (n * C + gi * Cg) * IS;
            j.y = y + (n * M + gi * Mg) * OS;
            j.bias = b ? b + gi * Mg : NULL;
            if (cover < 0)
                lm_parallel_for(k, Mg, 1.0 * (double)OS, tap_fill, &j);
            for (int64_t i = -1; i < KK; i++) {
                int64_t t = i < 0 ? cover : i;
                if (t < 0 || (i >= 0 && t == cover) || !tap_valid(tp, t / KW, t % KW))
                    continue;
                bool first = t == cover;
                lm_sgemm_args ga = {.M = Mg,
                                    .K = Cg,
                                    .alpha = 1.0f,
                                    .beta = first ? 0.0f : 1.0f,
                                    .pa = cw->tap[gi * KK + t],
                                    .bias = first ? j.bias : NULL,
                                    .act = act_in_gemm ? *act : (lm_act){.kind = LM_ACT_NONE}};
                tap_run(k, &j, &ga, t / KW, t % KW, Cg, Mg, pmax);
            }
            if (!act_in_gemm && act->kind != LM_ACT_NONE)
                lm_parallel_for(k, Mg, 1.0 * (double)OS, tap_act, &j);
        }
    }
    return LOOM_OK;
}

/* Validates X, W, B and the attributes; fills @pl and Y's dims @yd. */
static loom_status conv_describe(lm_kctx *k, const loom_tensor *x, const loom_tensor *w,
                                 const loom_tensor *b, conv_plan *pl, int64_t *yd)
{
    loom_status st = lm_geom_conv(k->node, x, w, &pl->cg);
    if (st != LOOM_OK)
        return st;
    if (b && b->dims[0] != pl->cg.M)
        return lm_kfail(k, LOOM_ERR_SHAPE, "B has %lld values for %lld output channels",
                        (long long)b->dims[0], (long long)pl->cg.M);
    if ((st = lm_kact(k, &pl->act)) != LOOM_OK)
        return st;
    pl->dw16 = !lm_env_flag(LM_ENV_CONV_NO_DW16);
    pl->dwrows = !lm_env_flag(LM_ENV_CONV_NO_DWROWS);
    pl->direct = !lm_env_flag(LM_ENV_CONV_NO_DIRECT);
    pl->wino = !lm_env_flag(LM_ENV_CONV_NO_WINOGRAD);
    pl->taps = !lm_env_flag(LM_ENV_CONV_NO_TAPS);
    yd[0] = pl->cg.N;
    yd[1] = pl->cg.M;
    for (int i = 0; i < pl->cg.win.nsp; i++)
        yd[i + 2] = pl->cg.win.out[i];
    return LOOM_OK;
}

/* Whether this run's inputs have the shapes the prepared plan was made for. */
static bool conv_as_planned(lm_kctx *k, const conv_prepared *cp)
{
    const loom_tensor *x = lm_kin(k, 0);
    return x && x->dtype == LOOM_DTYPE_FLOAT && x->rank == cp->rank &&
           memcmp(x->dims, cp->xd, sizeof(int64_t) * (size_t)x->rank) == 0 && lm_kin(k, 1) &&
           (lm_kin(k, 2) != NULL) == cp->has_b;
}

static loom_status conv_compute(lm_kctx *k, const conv_plan *pl, const loom_tensor *x,
                                const loom_tensor *w, const loom_tensor *b, loom_tensor *y);

static loom_status op_conv(lm_kctx *k)
{
    const conv_prepared *cp = k->prepared;
    if (cp && !k->dry && conv_as_planned(k, cp)) {
        loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, cp->rank, cp->yd);
        if (!y)
            return LOOM_ERR_NO_MEMORY;
        return conv_compute(k, &cp->plan, lm_kin(k, 0), lm_kin(k, 1), lm_kin(k, 2), y);
    }
    const loom_tensor *x, *w, *b;
    loom_status st = conv_inputs(k, &x, &w, &b);
    if (st != LOOM_OK)
        return st;
    conv_plan pl;
    int64_t yd[LOOM_MAX_RANK];
    if ((st = conv_describe(k, x, w, b, &pl, yd)) != LOOM_OK)
        return st;
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, x->rank, yd);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    return conv_compute(k, &pl, x, w, b, y);
}

static loom_status conv_compute(lm_kctx *k, const conv_plan *pl, const loom_tensor *x,
                                const loom_tensor *w, const loom_tensor *b, loom_tensor *y)
{
    const lm_window_geom g = pl->cg.win;
    const lm_act act = pl->act;
    const int64_t group = pl->cg.group;
    int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0];
    int64_t Cg = C / group, Mg = M / group, OS = g.out_size, IS = g.in_size, KK = g.k_size;
    if (N == 0 || M == 0 || OS == 0)
        return LOOM_OK;
    const float *xp = x->data, *wp = w->data, *bp = b ? b->data : NULL;
    float *yp = y->data;

    if (Cg == 1 && g.nsp == 2 && pl->dwrows && dwrows_applies(&g, C, Mg))
        return conv_dwrows(k, &g, N, C, xp, wp, bp, &act, yp);
    if (Cg == 1 && g.nsp == 2 && pl->dw16 && dw16_applies(&g, Mg))
        return conv_dw16(k, &g, N, C, xp, wp, bp, &act, yp);
    /* One input channel and no groups (an MNIST-style first layer) is formally
     * depthwise with a multiplier of M, but the direct kernel does it 10x faster. */
    if (pl->direct && direct_applies(&g, group, C))
        return conv_direct(k, &g, N, C, M, group, xp, wp, bp, &act, yp);
    if (Cg == 1 && g.nsp == 2) {
        dw_job dj = {&g, xp, wp, bp, yp, C, M, Mg, act, NULL, 0, 0};
        if (dw_vector_geom(&g, Mg, &dj.hp, &dj.wp) && N * M * g.k[0] * dj.wp <= DW_PAD_BUDGET) {
            dj.pad = lm_kscratch(k, (size_t)(N * M * g.k[0] * dj.wp) * sizeof(float));
            if (!dj.pad)
                return LOOM_ERR_NO_MEMORY;
        }
        lm_parallel_for(k, N * M, 2.0 * (double)OS * (double)KK, depthwise2d, &dj);
        return LOOM_OK;
    }

    tap_plan tp;
    if (pl->taps && taps_apply(&g, group, C, &tp) && taps_packed(conv_packed(k), &tp, group, KK))
        return conv_taps(k, &tp, group, N, C, M, xp, conv_packed(k), bp, &act, yp);
    if (pl->wino && wino_applies(&g, group, C, M))
        return conv_winograd(k, &g, N, C, M, xp, wp, bp, &act, yp);

    int64_t rows = Cg * KK;
    if (rows == 0) { /* no input channels: Y is act(bias) */
        for (int64_t nm = 0; nm < N * M; nm++) {
            float *yr = yp + nm * OS;
            for (int64_t i = 0; i < OS; i++)
                yr[i] = bp ? bp[nm % M] : 0.0f;
            lm_act_apply(&act, yr, OS);
        }
        return LOOM_OK;
    }
    bool pointwise = conv_pointwise(&g);
    const conv_weights *cw = conv_packed(k);
    if (conv_pixel_major(&g, group, C, M))
        return conv_pixels(k, &g, N, C, M, xp, wp, cw ? cw->wt : NULL, bp, &act, yp);
    int64_t chunk = OS, col_size = 0;
    float *col = NULL;
    if (!pointwise) {
        chunk = COL_BUDGET_FLOATS / rows;
        chunk = chunk < 256 ? 256 : chunk / 64 * 64; /* whole register tiles */
        chunk = min64(chunk, OS);
        col_size = rows * chunk;
        col = lm_kscratch(k, (size_t)col_size * sizeof(float));
        if (!col)
            return LOOM_ERR_NO_MEMORY;
    }
    /* Per group: Y_g = act(W_g x col + b_g), bias and activation applied by
     * the GEMM's epilogue while each tile is hot. */
    for (int64_t n = 0; n < N; n++) {
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = xp + (n * C + gi * Cg) * IS;
            float *yg = yp + (n * M + gi * Mg) * OS;
            lm_sgemm_args ga = {.M = Mg,
                                .K = rows,
                                .alpha = 1.0f,
                                .A = wp + gi * Mg * rows,
                                .lda = rows,
                                .pa = cw ? cw->w[gi] : NULL,
                                .ldc = OS,
                                .bias = bp ? bp + gi * Mg : NULL,
                                .act = act};
            if (pointwise) {
                ga.N = OS;
                ga.B = xg;
                ga.ldb = IS;
                ga.C = yg;
                lm_sgemm_run_parallel(k, &ga);
                continue;
            }
            for (int64_t o0 = 0; o0 < OS; o0 += chunk) {
                int64_t o1 = min64(o0 + chunk, OS);
                col_job cj = {&g, {g.nsp, g.out, g.in, g.s, g.d, g.pb}, (float *)xg, IS, col, o0,
                              o1};
                lm_parallel_for(k, rows, 1.0 * (double)(o1 - o0), im2col_rows, &cj);
                ga.N = o1 - o0;
                ga.B = col;
                ga.ldb = o1 - o0;
                ga.C = yg + o0;
                lm_sgemm_run_parallel(k, &ga);
            }
        }
    }
    return LOOM_OK;
}

static void conv_free_prepared(void *state)
{
    free(state);
}

static void conv_weights_free(void *data)
{
    conv_weights *cw = data;
    for (int64_t i = 0; i < cw->group; i++)
        lm_sgemm_packed_free(cw->w[i]);
    for (int i = 0; i < 36; i++)
        lm_sgemm_packed_free(cw->wino[i]);
    lm_sgemm_packed_free(cw->wt);
    for (int64_t i = 0; cw->tap && i < cw->ntap; i++)
        lm_sgemm_packed_free(cw->tap[i]);
    free(cw->tap);
    free(cw->direct_w);
    free(cw);
}

/* How W is packed: which kernel path reads it. The choice depends on the
 * planned output size (Winograd's tile), so it is part of the key. */
typedef enum conv_path {
    PATH_DIRECT = 1,
    PATH_PIXELS,
    PATH_WINO2,
    PATH_WINO4,
    PATH_GEMM,
    PATH_TAPS
} conv_path;

typedef struct conv_pack_job {
    conv_path path;
    lm_conv2d_geom sg; /* PATH_DIRECT */
    tap_plan tp;       /* PATH_TAPS */
    int64_t group, C, M, Mg, rows;
    const float *w;
} conv_pack_job;

static loom_status pack_direct(conv_weights *cw, const conv_pack_job *j, size_t *bytes)
{
    size_t floats = lm_directconv_weight_floats(&j->sg) * (size_t)j->group;
    if (!(cw->direct_w = malloc(floats * sizeof(float))))
        return LOOM_ERR_NO_MEMORY;
    direct_pack_groups(&j->sg, j->group, j->w, lm_directconv_weight_floats(&j->sg), cw->direct_w);
    cw->direct_block = lm_directconv_block(&j->sg);
    *bytes += floats * sizeof(float);
    return LOOM_OK;
}

static loom_status pack_wino(conv_weights *cw, const conv_pack_job *j, size_t *bytes)
{
    int T = j->path == PATH_WINO4 ? 4 : 2, nx = (T + 2) * (T + 2);
    float *U = malloc(sizeof(float) * (size_t)(nx * j->M * j->C));
    if (!U)
        return LOOM_ERR_NO_MEMORY;
    wino_weights(j->w, j->M, j->C, T, U);
    for (int xi = 0; xi < nx; xi++) {
        cw->wino[xi] = lm_sgemm_pack_a(false, j->M, j->C, U + xi * j->M * j->C, j->C);
        if (!cw->wino[xi]) {
            free(U);
            return LOOM_ERR_NO_MEMORY;
        }
        *bytes += lm_sgemm_packed_bytes(cw->wino[xi]);
    }
    free(U);
    return LOOM_OK;
}

static loom_status pack_gemm(conv_weights *cw, const conv_pack_job *j, size_t *bytes)
{
    if (j->path == PATH_PIXELS) {
        if (!(cw->wt = lm_sgemm_pack_b(true, j->rows, j->Mg, j->w, j->rows)))
            return LOOM_ERR_NO_MEMORY;
        *bytes += lm_sgemm_packed_bytes(cw->wt);
        return LOOM_OK;
    }
    cw->group = j->group;
    for (int64_t gi = 0; gi < j->group; gi++) {
        cw->w[gi] = lm_sgemm_pack_a(false, j->Mg, j->rows, j->w + gi * j->Mg * j->rows, j->rows);
        if (!cw->w[gi])
            return LOOM_ERR_NO_MEMORY;
        *bytes += lm_sgemm_packed_bytes(cw->w[gi]);
    }
    return LOOM_OK;
}

/* W_t [Mg x Cg] = W[m, c, t] per group and per tap read somewhere. */
static loom_status pack_taps(conv_weights *cw, const conv_pack_job *j, size_t *bytes)
{
    const int64_t KW = j->tp.ax[1].k, KK = j->tp.ax[0].k * KW, Cg = j->rows / KK;
    float *wt = malloc(sizeof(float) * (size_t)(j->Mg * Cg));
    cw->tap = calloc((size_t)(j->group * KK), sizeof(cw->tap[0]));
    if (!wt || !cw->tap) {
        free(wt);
        return LOOM_ERR_NO_MEMORY;
    }
    cw->ntap = j->group * KK;
    for (int64_t gi = 0; gi < j->group; gi++)
        for (int64_t t = 0; t < KK; t++) {
            if (!tap_valid(&j->tp, t / KW, t % KW))
                continue;
            const float *wg = j->w + gi * j->Mg * j->rows;
            for (int64_t m = 0; m < j->Mg; m++)
                for (int64_t c = 0; c < Cg; c++)
                    wt[m * Cg + c] = wg[m * j->rows + c * KK + t];
            lm_sgemm_packed *p = lm_sgemm_pack_a(false, j->Mg, Cg, wt, Cg);
            if (!p) {
                free(wt);
                return LOOM_ERR_NO_MEMORY;
            }
            cw->tap[gi * KK + t] = p;
            *bytes += lm_sgemm_packed_bytes(p);
        }
    free(wt);
    return LOOM_OK;
}

/* lm_kweights' builder: W packed for the job's path. */
static loom_status conv_pack(lm_kctx *k, void *arg, void **data, size_t *bytes)
{
    const conv_pack_job *j = arg;
    conv_weights *cw = calloc(1, sizeof(*cw) + (size_t)j->group * sizeof(cw->w[0]));
    if (!cw)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory packing the weights");
    *bytes = sizeof(*cw);
    loom_status st = j->path == PATH_DIRECT                           ? pack_direct(cw, j, bytes)
                     : j->path == PATH_WINO2 || j->path == PATH_WINO4 ? pack_wino(cw, j, bytes)
                     : j->path == PATH_TAPS                           ? pack_taps(cw, j, bytes)
                                                                      : pack_gemm(cw, j, bytes);
    if (st) {
        conv_weights_free(cw);
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory packing the weights");
    }
    *data = cw;
    return LOOM_OK;
}

/* The path the plan @cp takes for X's channels @C and W's @M (@tp: the
 * tap-sparse path's plan, filled when it is chosen). */
static conv_path choose_path(const conv_prepared *cp, int64_t group, int64_t C, int64_t M,
                             tap_plan *tp)
{
    const lm_window_geom *g = &cp->plan.cg.win;
    if (cp->plan.direct && direct_applies(g, group, C))
        return PATH_DIRECT;
    if (cp->plan.taps && taps_apply(g, group, C, tp))
        return PATH_TAPS;
    if (conv_pixel_major(g, group, C, M))
        return PATH_PIXELS;
    if (cp->plan.wino && wino_applies(g, group, C, M))
        return wino_tile(g) == 4 ? PATH_WINO4 : PATH_WINO2;
    return PATH_GEMM;
}

/* The per-plan state for the planned shapes; *@out NULL on failure (error set). */
static loom_status conv_plan_state(lm_kctx *k, conv_prepared **out)
{
    const loom_tensor *x = lm_kin(k, 0), *w = lm_kin(k, 1), *b = lm_kin(k, 2);
    conv_prepared *cp = calloc(1, sizeof(*cp));
    *out = NULL;
    if (!cp)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory preparing the node");
    loom_status st = conv_describe(k, x, w, b, &cp->plan, cp->yd);
    if (st) {
        free(cp);
        return st;
    }
    cp->rank = x->rank;
    memcpy(cp->xd, x->dims, sizeof(int64_t) * (size_t)x->rank);
    cp->has_b = b != NULL;
    *out = cp;
    return LOOM_OK;
}

/* Per plan: the geometry and path for the planned shapes. W, when constant,
 * is packed for that path once per weights in the process (lm_kweights) and
 * shared by every plan. Depthwise convolutions do not use the GEMM. */
static loom_status conv_prepare(lm_kctx *k)
{
    loom_status st = op_conv(k); /* validates and shapes (k->dry is set) */
    if (st != LOOM_OK)
        return st;
    const loom_tensor *x = lm_kin(k, 0), *w = lm_kin(k, 1);
    int64_t group = lm_node_attr_int(k->node, "group", 1); /* valid: op_conv checked it */
    conv_prepared *cp = NULL;
    if ((st = conv_plan_state(k, &cp)))
        return st;
    k->prepared = cp; /* freed by the executor if packing fails */
    int64_t C = x->dims[1], M = w->dims[0], Mg = M / group, Cg = C / group, rows = w->dims[1];
    for (int i = 2; i < w->rank; i++)
        rows *= w->dims[i];
    if (!w->data || (Cg == 1 && x->rank == 4) || rows == 0 || Mg == 0)
        return LOOM_OK; /* nothing to pack: the plan alone */
    conv_pack_job j = {.group = group, .C = C, .M = M, .Mg = Mg, .rows = rows, .w = w->data};
    j.path = choose_path(cp, group, C, M, &j.tp);
    if (j.path == PATH_DIRECT)
        j.sg = lm_geom_2d(&cp->plan.cg.win, Cg, Mg);
    int in = 1;
    uint64_t layout = (uint64_t)j.path | (uint64_t)group << 8;
    if (j.path == PATH_DIRECT) /* the block size depends on the planned width */
        layout |= (uint64_t)lm_directconv_block(&j.sg) << 56;
    if (j.path == PATH_TAPS) { /* the taps stored: read somewhere at the planned size */
        layout |= tap_mask(&j.tp, 0) << 24 | tap_mask(&j.tp, 1) << 40;
        lm_log(LOOM_LOG_DEBUG, "Conv '%s': tap-sparse GEMM, %.0f%% of the products", k->node->name,
               100.0 * j.tp.work);
    }
    const void *cw;
    st = lm_kweights(k, &in, 1, layout, conv_pack, conv_weights_free, &j, &cw);
    cp->cw = cw;
    return st;
}

/* ---- ConvTranspose -------------------------------------------------------- */

static loom_status op_conv_transpose(lm_kctx *k)
{
    const loom_tensor *x, *w, *b;
    loom_status st = conv_inputs(k, &x, &w, &b);
    if (st != LOOM_OK)
        return st;
    lm_conv_geom cg;
    if ((st = lm_geom_conv_transpose(k->node, x, w, &cg)) != LOOM_OK)
        return st;
    const lm_window_geom g = cg.win;
    const int64_t N = cg.N, C = cg.C, M = cg.M, group = cg.group, Mg = cg.Mg;
    if (b && b->dims[0] != M)
        return lm_kfail(k, LOOM_ERR_SHAPE, "B has %lld values for %lld output channels",
                        (long long)b->dims[0], (long long)M);
    int64_t yd[LOOM_MAX_RANK] = {N, M};
    for (int i = 0; i < g.nsp; i++)
        yd[i + 2] = g.out[i];
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, x->rank, yd);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t Cg = cg.Cg, IS = g.in_size, OS = g.out_size, KK = g.k_size, rows = cg.kdim;
    if (N == 0 || M == 0 || OS == 0)
        return LOOM_OK;
    const float *xp = x->data, *wp = w->data, *bp = b ? b->data : NULL;
    float *yp = y->data;
    if (bp)
        for (int64_t nn = 0; nn < N; nn++)
            for (int64_t m = 0; m < M; m++) {
                float *yr = yp + (nn * M + m) * OS;
                for (int64_t i = 0; i < OS; i++)
                    yr[i] = bp[m];
            }
    if (IS == 0 || Cg == 0)
        return LOOM_OK;
    int64_t chunk = COL_BUDGET_FLOATS / rows;
    chunk = chunk < 256 ? 256 : chunk;
    chunk = min64(chunk, IS);
    float *col = lm_kscratch(k, (size_t)(rows * chunk) * sizeof(float));
    if (!col)
        return LOOM_ERR_NO_MEMORY;
    for (int64_t nn = 0; nn < N; nn++) {
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = xp + (nn * C + gi * Cg) * IS;
            const float *wg = wp + gi * Cg * rows; /* Cg x (Mg*KK) */
            float *yg = yp + (nn * M + gi * Mg) * OS;
            for (int64_t i0 = 0; i0 < IS; i0 += chunk) {
                int64_t i1 = min64(i0 + chunk, IS);
                lm_sgemm_parallel(k, true, false, rows, i1 - i0, Cg, 1.0f, wg, rows, xg + i0, IS,
                                  0.0f, col, i1 - i0);
                col_job cj = {&g, {g.nsp, g.in, g.out, g.s, g.d, g.pb}, yg, OS, col, i0, i1};
                lm_parallel_for(k, Mg, 1.0 * (double)KK * (double)(i1 - i0), col2im_channels, &cj);
            }
        }
    }
    return LOOM_OK;
}

const lm_op_def lm_ops_conv[] = {
    {.domain = "",
     .op_type = "Conv",
     .run = op_conv,
     .prepare = conv_prepare,
     .free_prepared = conv_free_prepared,
     .flags = LM_OP_FUSES_ACTIVATION | LM_OP_WRITES_OUTPUTS},
    LM_OP("", "ConvTranspose", op_conv_transpose),
    LM_OP_END,
};
