/*
 * resize.c - CPU kernels for Resize (opsets 10-17) and Upsample (7-9).
 *
 * Each axis gets a table mapping every output coordinate to a few input taps
 * (element offset + weight), built once per call; the N-D result is the tensor
 * product of the axis tables. The coefficients follow ONNX's reference
 * implementation exactly (neighbour windows with edge padding, ratio 1 on
 * integer coordinates, output width = scale * input width), since that is what
 * the conformance data was generated with.
 */
#include <math.h>

#include "../cpu_features.h"
#include "tensor_ops.h"

enum { RS_NEAREST, RS_LINEAR, RS_CUBIC };
enum {
    CT_HALF_PIXEL,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_NN,
    CT_TF_CROP_AND_RESIZE
};
/* NM_SIMPLE is Upsample's and Resize-10's rule: floor, or ceil when downsampling. */
enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };

/* Row combinations of taps kept on the stack per chunk. */
#define MAX_ROW_COMBOS 1024

typedef struct rs_params {
    int mode, ctm, nearest;
    double cubic_a;
    bool exclude_outside;
    double extrapolation;
    const loom_tensor *roi;
} rs_params;

typedef struct rs_axis {
    int ntaps;
    int64_t *off;     /* [out * ntaps] input element offsets (index * stride) */
    double *w;        /* [out * ntaps] weights */
    float *wf;        /* the same, as float, for float tensors */
    uint8_t *outside; /* [out] 1 where tf_crop_and_resize extrapolates */
} rs_axis;

static double transform(const rs_params *p, double x, int64_t in, double scale, double rs,
                        double re)
{
    double width = scale * (double)in; /* the reference's output_width, not rounded */
    switch (p->ctm) {
    case CT_PYTORCH_HALF_PIXEL:
        return width == 1.0 ? -0.5 : (x + 0.5) / scale - 0.5;
    case CT_ALIGN_CORNERS:
        return width == 1.0 ? 0.0 : x * (double)(in - 1) / (width - 1.0);
    case CT_ASYMMETRIC:
        return x / scale;
    case CT_TF_HALF_PIXEL_NN:
        return (x + 0.5) / scale;
    case CT_TF_CROP_AND_RESIZE: {
        double xo = width == 1.0 ? (re - rs) * (double)(in - 1) / 2.0
                                 : x * (re - rs) * (double)(in - 1) / (width - 1.0);
        return xo + rs * (double)(in - 1);
    }
    default:
        return (x + 0.5) / scale - 0.5;
    }
}

static void cubic_coeffs(double r, double A, double *c)
{
    double r1 = r + 1, q = 1 - r, q1 = q + 1;
    c[0] = ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A;
    c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    c[2] = ((A + 2) * q - (A + 3)) * q * q + 1;
    c[3] = ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Fills @ax for one axis of @in input and @out output elements at @stride. */
static loom_status build_axis(lm_kctx *k, const rs_params *p, rs_axis *ax, int64_t in, int64_t out,
                              double scale, int64_t stride, double rs, double re)
{
    int n = p->mode == RS_NEAREST ? 1 : p->mode == RS_LINEAR ? 2 : 4;
    size_t cnt = (size_t)out * (size_t)n;
    ax->ntaps = n;
    ax->off = lm_kscratch(k, sizeof(int64_t) * (cnt ? cnt : 1));
    ax->w = lm_kscratch(k, sizeof(double) * (cnt ? cnt : 1));
    ax->wf = lm_kscratch(k, sizeof(float) * (cnt ? cnt : 1));
    ax->outside = lm_kscratch(k, (size_t)(out ? out : 1));
    if (!ax->off || !ax->w || !ax->wf || !ax->outside)
        return LOOM_ERR_NO_MEMORY;
    bool collapsible = true;
    for (int64_t x = 0; x < out; x++) {
        double xo = transform(p, (double)x, in, scale, rs, re);
        ax->outside[x] = p->ctm == CT_TF_CROP_AND_RESIZE && (xo < 0 || xo > (double)(in - 1));
        /* Keep coordinates in a range where int64 conversion is defined. */
        if (!(xo > -1e15))
            xo = -1e15;
        if (!(xo < 1e15))
            xo = 1e15;
        int64_t *off = ax->off + x * n;
        double *w = ax->w + x * n;
        if (p->mode == RS_NEAREST) {
            double fl = floor(xo), r = xo - fl;
            int64_t i;
            if (p->nearest == NM_SIMPLE)
                i = scale < 1.0 ? (int64_t)ceil(xo) : (int64_t)xo;
            else if (r == 0)
                i = (int64_t)fl;
            else if (p->nearest == NM_ROUND_PREFER_FLOOR)
                i = (int64_t)fl + (r > 0.5);
            else if (p->nearest == NM_ROUND_PREFER_CEIL)
                i = (int64_t)fl + (r >= 0.5);
            else if (p->nearest == NM_FLOOR)
                i = (int64_t)fl;
            else
                i = (int64_t)fl + 1;
            off[0] = clamp64(i, 0, in - 1) * stride;
            w[0] = 1.0;
            ax->wf[x] = 1.0f;
            continue;
        }
        double fl = floor(xo), r = xo == fl ? 1.0 : xo - fl;
        double c[4];
        if (n == 2) {
            c[0] = 1 - r;
            c[1] = r;
        } else {
            cubic_coeffs(r, p->cubic_a, c);
        }
        /* The n integers nearest xo (ties to the left) within the edge-padded range. */
        int64_t pad = n / 2;
        int64_t start = clamp64((int64_t)ceil(xo) - pad, -pad, in + pad - n);
        double sum = 0;
        for (int t = 0; t < n; t++) {
            int64_t i = start + t;
            if (p->exclude_outside && (i < 0 || i >= in))
                c[t] = 0;
            sum += c[t];
            off[t] = clamp64(i, 0, in - 1) * stride;
        }
        int nonzero = 0;
        for (int t = 0; t < n; t++) {
            w[t] = p->exclude_outside && sum != 0 ? c[t] / sum : c[t];
            nonzero += w[t] != 0;
        }
        for (int t = 0; t < n; t++) {
            if (w[t] != 0 && (nonzero != 1 || w[t] != 1.0))
                collapsible = false;
        }
    }
    /* An axis where every output copies one input element needs one tap. */
    if (n > 1 && collapsible) {
        for (int64_t x = 0; x < out; x++) {
            int64_t o = ax->off[x * n];
            for (int t = 0; t < n; t++) {
                if (ax->w[x * n + t] != 0)
                    o = ax->off[x * n + t];
            }
            ax->off[x] = o;
            ax->w[x] = 1.0;
        }
        ax->ntaps = 1;
    }
    for (size_t i = 0; i < (size_t)out * (size_t)ax->ntaps; i++)
        ax->wf[i] = (float)ax->w[i];
    return LOOM_OK;
}

/* The last axis's two taps as separate arrays, for the vector gather. */
typedef struct rs_taps2 {
    int32_t *i0, *i1; /* input indexes */
    float *w0, *w1;
} rs_taps2;

typedef struct rs_job {
    const loom_tensor *x;
    loom_tensor *y;
    size_t esz;
    int rank;
    rs_axis ax[LOOM_MAX_RANK];
    bool nearest;        /* every axis has one tap */
    bool blend;          /* float rows go through blend_row_f32 */
    rs_taps2 *taps2;     /* set when AVX-512 gathers the last axis's two taps */
    uint8_t extrap[8];   /* extrapolation value in the output dtype */
    double extrap_value; /* and as a number */
} rs_job;

typedef struct rs_combo {
    int64_t off;
    double w;
} rs_combo;

/* Row = all coordinates but the last. Returns false when the row extrapolates;
 * else fills the tap combinations over the row's axes. */
static bool row_combos(const rs_job *j, int64_t row, rs_combo *cb, int *ncb)
{
    int r = j->rank;
    int64_t c[LOOM_MAX_RANK];
    int64_t rem = row;
    for (int a = r - 2; a >= 0; a--) {
        c[a] = rem % j->y->dims[a];
        rem /= j->y->dims[a];
        if (j->ax[a].outside[c[a]])
            return false;
    }
    cb[0].off = 0;
    cb[0].w = 1.0;
    int n = 1;
    for (int a = 0; a < r - 1; a++) {
        const rs_axis *ax = &j->ax[a];
        int nt = ax->ntaps;
        const int64_t *off = ax->off + c[a] * nt;
        const double *w = ax->w + c[a] * nt;
        if (nt == 1) {
            for (int i = 0; i < n; i++)
                cb[i].off += off[0];
            continue;
        }
        /* Expand in place from the back so each old entry feeds nt new ones. */
        int m = 0;
        for (int i = n - 1; i >= 0; i--) {
            rs_combo base = cb[i];
            for (int t = nt - 1; t >= 0; t--) {
                cb[i * nt + t].off = base.off + off[t];
                cb[i * nt + t].w = base.w * w[t];
            }
            m += nt;
        }
        n = m;
    }
    /* Drop zero-weight combinations: linear on integer coordinates has many. */
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (cb[i].w != 0)
            cb[m++] = cb[i];
    }
    *ncb = m;
    return true;
}

#define NEAREST_ROW(T)                                                                             \
    do {                                                                                           \
        const T *s_ = (const T *)j->x->data + base;                                                \
        T *d_ = (T *)drow;                                                                         \
        T e_;                                                                                      \
        memcpy(&e_, j->extrap, sizeof(T));                                                         \
        for (int64_t x_ = 0; x_ < n; x_++)                                                         \
            d_[x_] = lo->outside[x_] ? e_ : s_[lo->off[x_]];                                       \
    } while (0)

/* Interpolates one row: ACC accumulator type, LOAD/STORE convert elements. */
#define INTERP_ROW(T, ACC, WT, WF, LOAD, STORE)                                                    \
    do {                                                                                           \
        const T *s_ = (const T *)j->x->data;                                                       \
        T *d_ = (T *)drow;                                                                         \
        int nt_ = lo->ntaps;                                                                       \
        for (int64_t x_ = 0; x_ < n; x_++) {                                                       \
            if (lo->outside[x_]) {                                                                 \
                ACC v = (ACC)j->extrap_value;                                                      \
                d_[x_] = STORE(v);                                                                 \
                continue;                                                                          \
            }                                                                                      \
            const int64_t *o_ = lo->off + x_ * nt_;                                                \
            const WT *w_ = lo->WF + x_ * nt_;                                                      \
            ACC acc = 0;                                                                           \
            for (int c_ = 0; c_ < ncb; c_++) {                                                     \
                const T *p_ = s_ + cb[c_].off;                                                     \
                ACC part = 0;                                                                      \
                for (int t_ = 0; t_ < nt_; t_++)                                                   \
                    part += (ACC)w_[t_] * LOAD(p_[o_[t_]]);                                        \
                acc += (ACC)cb[c_].w * part;                                                       \
            }                                                                                      \
            d_[x_] = STORE(acc);                                                                   \
        }                                                                                          \
    } while (0)

#define ID(v)         (v)
#define TO_F(v)       ((float)(v))
#define HALF_LOAD(v)  lm_half_to_float(v)
#define HALF_STORE(v) lm_float_to_half((float)(v))
#define DBL(v)        ((double)(v))

/* Round to nearest and saturate, like ORT's integer Resize. */
static inline int64_t sat_i64(double v, double lo, double hi)
{
    if (v != v)
        return 0;
    v = nearbyint(v);
    return (int64_t)(v < lo ? lo : v > hi ? hi : v);
}
#define ST_U8(v)  ((uint8_t)sat_i64((v), 0, 255))
#define ST_I8(v)  ((int8_t)sat_i64((v), -128, 127))
#define ST_U16(v) ((uint16_t)sat_i64((v), 0, 65535))
#define ST_I16(v) ((int16_t)sat_i64((v), -32768, 32767))
#define ST_I32(v) ((int32_t)sat_i64((v), -2147483648.0, 2147483647.0))
#define ST_U32(v) ((uint32_t)sat_i64((v), 0, 4294967295.0))
#define ST_I64(v) (sat_i64((v), -9.2e18, 9.2e18))
#define ST_U64(v) ((uint64_t)sat_i64((v), 0, 9.2e18))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* out[x] = w0[x] * row[i0[x]] + w1[x] * row[i1[x]], 16 outputs at a time: a row
 * of up to 32 floats sits in two registers and the taps are permutes (the
 * upsampling at the end of segmentation models reads rows of 16-64); wider
 * rows are gathered. Multiplies and an add, no FMA: the same bits as the
 * scalar loop. */
__attribute__((target("avx512f"))) static void taps2_avx512f(const rs_taps2 *t, const float *row,
                                                             int64_t w, float *d, int64_t n)
{
    __m512 r0 = _mm512_maskz_loadu_ps(w >= 16 ? 0xFFFF : (__mmask16)((1u << w) - 1), row);
    __m512 r1 = w > 16 ? _mm512_maskz_loadu_ps(w >= 32 ? 0xFFFF : (__mmask16)((1u << (w - 16)) - 1),
                                               row + 16)
                       : r0;
    for (int64_t x = 0; x < n; x += 16) {
        __mmask16 m = n - x >= 16 ? 0xFFFF : (__mmask16)((1u << (n - x)) - 1);
        __m512i i0 = _mm512_maskz_loadu_epi32(m, t->i0 + x);
        __m512i i1 = _mm512_maskz_loadu_epi32(m, t->i1 + x);
        __m512 a, b;
        if (w <= 32) {
            a = _mm512_permutex2var_ps(r0, i0, r1);
            b = _mm512_permutex2var_ps(r0, i1, r1);
        } else {
            a = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, i0, row, 4);
            b = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, i1, row, 4);
        }
        __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, t->w0 + x), a),
                                 _mm512_mul_ps(_mm512_maskz_loadu_ps(m, t->w1 + x), b));
        _mm512_mask_storeu_ps(d + x, m, v);
    }
}

/* The gather's arrays for the last axis when it has two taps and the CPU
 * has AVX-512; NULL otherwise (or out of memory: the scalar loop runs). */
static rs_taps2 *taps2_for(lm_kctx *k, const rs_axis *ax, int64_t n)
{
    if (ax->ntaps != 2 || !lm_cpu_features_get()->avx512f)
        return NULL;
    rs_taps2 *t = lm_kscratch(k, sizeof(*t));
    if (!t)
        return NULL;
    t->i0 = lm_kscratch(k, sizeof(int32_t) * (size_t)n);
    t->i1 = lm_kscratch(k, sizeof(int32_t) * (size_t)n);
    t->w0 = lm_kscratch(k, sizeof(float) * (size_t)n);
    t->w1 = lm_kscratch(k, sizeof(float) * (size_t)n);
    if (!t->i0 || !t->i1 || !t->w0 || !t->w1)
        return NULL;
    for (int64_t x = 0; x < n; x++) {
        t->i0[x] = (int32_t)ax->off[2 * x];
        t->i1[x] = (int32_t)ax->off[2 * x + 1];
        t->w0[x] = ax->wf[2 * x];
        t->w1[x] = ax->wf[2 * x + 1];
    }
    return t;
}
#else
static void taps2_avx512f(const rs_taps2 *t, const float *row, int64_t w, float *d, int64_t n)
{
    (void)t, (void)row, (void)w, (void)d, (void)n;
}

static rs_taps2 *taps2_for(lm_kctx *k, const rs_axis *ax, int64_t n)
{
    (void)k, (void)ax, (void)n;
    return NULL;
}
#endif

/* Input rows the float fast path blends on the stack (16 KiB). */
#define BLEND_MAX 4096

/*
 * One float row, separably: the row's tap combinations (the axes before the
 * last) blended into one input row first, then each output element's taps
 * on the last axis read from it. Upsampling reads each input element many
 * times; blending first does the outer axes' work once per input element
 * instead of once per output element, and leaves a gather of ntaps loads per
 * output that vectorizes. The sum is taken in another order than
 * INTERP_ROW's, so results may differ from it by a rounding.
 */
static void blend_row_f32(const rs_job *j, const rs_combo *cb, int ncb, float *drow)
{
    const rs_axis *lo = &j->ax[j->rank - 1];
    const int64_t w = j->x->dims[j->rank - 1], n = j->y->dims[j->rank - 1];
    const int nt = lo->ntaps;
    float row[BLEND_MAX];
    const float *s = j->x->data;
    for (int64_t i = 0; i < w; i++)
        row[i] = 0.0f;
    for (int c = 0; c < ncb; c++) {
        const float *restrict src = s + cb[c].off;
        const float cw = (float)cb[c].w;
        for (int64_t i = 0; i < w; i++)
            row[i] += cw * src[i];
    }
    const int64_t *restrict off = lo->off;
    const float *restrict wf = lo->wf;
    if (j->taps2) {
        taps2_avx512f(j->taps2, row, w, drow, n);
        return;
    }
    if (nt == 2) {
        for (int64_t x = 0; x < n; x++)
            drow[x] = wf[2 * x] * row[off[2 * x]] + wf[2 * x + 1] * row[off[2 * x + 1]];
        return;
    }
    for (int64_t x = 0; x < n; x++) {
        float acc = 0.0f;
        for (int t = 0; t < nt; t++)
            acc += wf[x * nt + t] * row[off[x * nt + t]];
        drow[x] = acc;
    }
}

static void rs_rows(void *arg, int64_t begin, int64_t end)
{
    const rs_job *j = arg;
    int r = j->rank;
    const rs_axis *lo = &j->ax[r - 1];
    int64_t n = j->y->dims[r - 1];
    size_t esz = j->esz;
    rs_combo cb[MAX_ROW_COMBOS];
    for (int64_t row = begin; row < end; row++) {
        uint8_t *drow = (uint8_t *)j->y->data + (size_t)(row * n) * esz;
        int ncb;
        if (!row_combos(j, row, cb, &ncb)) {
            lm_tk_fill(drow, j->extrap, esz, n);
            continue;
        }
        if (j->nearest) {
            int64_t base = ncb > 0 ? cb[0].off : 0;
            switch (esz) {
            case 1:
                NEAREST_ROW(uint8_t);
                break;
            case 2:
                NEAREST_ROW(uint16_t);
                break;
            case 4:
                NEAREST_ROW(uint32_t);
                break;
            default:
                NEAREST_ROW(uint64_t);
                break;
            }
            continue;
        }
        switch (j->x->dtype) {
        case LOOM_DTYPE_FLOAT:
            if (j->blend)
                blend_row_f32(j, cb, ncb, (float *)drow);
            else
                INTERP_ROW(float, float, float, wf, ID, TO_F);
            break;
        case LOOM_DTYPE_DOUBLE:
            INTERP_ROW(double, double, double, w, ID, DBL);
            break;
        case LOOM_DTYPE_FLOAT16:
            INTERP_ROW(uint16_t, float, float, wf, HALF_LOAD, HALF_STORE);
            break;
        case LOOM_DTYPE_UINT8:
            INTERP_ROW(uint8_t, double, double, w, DBL, ST_U8);
            break;
        case LOOM_DTYPE_INT8:
            INTERP_ROW(int8_t, double, double, w, DBL, ST_I8);
            break;
        case LOOM_DTYPE_UINT16:
            INTERP_ROW(uint16_t, double, double, w, DBL, ST_U16);
            break;
        case LOOM_DTYPE_INT16:
            INTERP_ROW(int16_t, double, double, w, DBL, ST_I16);
            break;
        case LOOM_DTYPE_INT32:
            INTERP_ROW(int32_t, double, double, w, DBL, ST_I32);
            break;
        case LOOM_DTYPE_UINT32:
            INTERP_ROW(uint32_t, double, double, w, DBL, ST_U32);
            break;
        case LOOM_DTYPE_INT64:
            INTERP_ROW(int64_t, double, double, w, DBL, ST_I64);
            break;
        default:
            INTERP_ROW(uint64_t, double, double, w, DBL, ST_U64);
            break;
        }
    }
}

/*
 * Shared body: @scales (per axis, used for coordinates) and @dims (output) are
 * computed by the caller; runs the interpolation after the dry-pass check.
 */
static loom_status resize_run(lm_kctx *k, rs_params *p, const double *scales, const int64_t *dims)
{
    const loom_tensor *x = k->in[0];
    size_t esz = 0;
    TK_TRY(tk_esz(k, x, &esz));
    int r = x->rank;
    if (p->mode != RS_NEAREST && x->dtype == LOOM_DTYPE_BOOL)
        return lm_kinvalid(k, "linear/cubic resize of bool tensors");
    for (int a = 0; a < r; a++) {
        if (x->dims[a] == 0 && dims[a] != 0)
            return lm_kinvalid(k, "cannot resize empty axis %d to %lld", a, (long long)dims[a]);
    }
    loom_tensor *y = lm_kout(k, 0, x->dtype, r, dims);
    if (!y)
        return TK_KOUT_ERR;
    /* roi only moves coordinates, so it is needed after the dry pass only. */
    bool need_roi = p->ctm == CT_TF_CROP_AND_RESIZE;
    if (tk_dry_stop(k) || (k->dry && need_roi && !(p->roi && p->roi->data)))
        return LOOM_OK;
    int64_t total = lm_tensor_count(y);
    if (total == 0)
        return LOOM_OK;
    if (need_roi) {
        if (!p->roi || lm_tensor_count(p->roi) != 2 * r || !lm_dtype_is_float(p->roi->dtype) ||
            !p->roi->data)
            return lm_kinvalid(k, "tf_crop_and_resize needs a float roi of %d elements", 2 * r);
    }
    rs_job j = {.x = x, .y = y, .esz = esz, .rank = r, .nearest = true};
    lm_tk_store_f64(x->dtype, j.extrap, p->extrapolation);
    j.extrap_value = p->extrapolation;
    int64_t xs[LOOM_MAX_RANK];
    tk_strides(r, x->dims, xs);
    int64_t combos = 1;
    for (int a = 0; a < r; a++) {
        double rs = 0, re = 1;
        if (need_roi) {
            rs = lm_tensor_get_f64(p->roi, a);
            re = lm_tensor_get_f64(p->roi, a + r);
        }
        TK_TRY(build_axis(k, p, &j.ax[a], x->dims[a], dims[a], scales[a], xs[a], rs, re));
        if (j.ax[a].ntaps > 1)
            j.nearest = false;
        if (a < r - 1)
            combos *= j.ax[a].ntaps;
    }
    if (combos > MAX_ROW_COMBOS)
        return lm_kunsupported(k, "interpolating over %lld tap combinations", (long long)combos);
    int64_t n = dims[r - 1];
    /* tf_crop_and_resize marks outputs to extrapolate, which blending skips */
    j.blend = x->dtype == LOOM_DTYPE_FLOAT && !need_roi && x->dims[r - 1] <= BLEND_MAX;
    if (j.blend)
        j.taps2 = taps2_for(k, &j.ax[r - 1], n);
    double cost = (double)n * (double)(combos * j.ax[r - 1].ntaps) * 2.0 + 50.0;
    lm_parallel_for(k, total / n, cost, rs_rows, &j);
    return LOOM_OK;
}

static loom_status parse_mode(lm_kctx *k, rs_params *p, bool upsample)
{
    const char *m = lm_node_attr_str(k->node, "mode", "nearest");
    if (strcmp(m, "nearest") == 0)
        p->mode = RS_NEAREST;
    else if (strcmp(m, "linear") == 0 || (upsample && strcmp(m, "bilinear") == 0))
        p->mode = RS_LINEAR;
    else if (!upsample && strcmp(m, "cubic") == 0)
        p->mode = RS_CUBIC;
    else
        return lm_kinvalid(k, "mode '%s' is not supported", m);
    return LOOM_OK;
}

/* Output dims floor(in * scale) as the reference computes them. */
static loom_status dims_from_scales(lm_kctx *k, const loom_tensor *x, const double *sc,
                                    int64_t *dims)
{
    for (int a = 0; a < x->rank; a++) {
        if (!(sc[a] > 0) || sc[a] > 1e9)
            return lm_kinvalid(k, "scale %g on axis %d must be positive", sc[a], a);
        double d = floor((double)x->dims[a] * sc[a]);
        if (d > (double)((int64_t)1 << 40))
            return lm_kinvalid(k, "scaled axis %d is too large", a);
        dims[a] = (int64_t)d;
    }
    return LOOM_OK;
}

static loom_status read_scales(lm_kctx *k, const loom_tensor *t, int rank, double *sc)
{
    if (!lm_dtype_is_float(t->dtype))
        return lm_kinvalid(k, "scales must be float, got %s", loom_dtype_name(t->dtype));
    if (t->rank != 1 || t->dims[0] != rank)
        return lm_kinvalid(k, "scales must have %d elements, got %lld", rank,
                           (long long)lm_tensor_count(t));
    for (int a = 0; a < rank; a++)
        sc[a] = lm_tensor_get_f64(t, a);
    return LOOM_OK;
}

static loom_status op_resize(lm_kctx *k)
{
    int opset = lm_kopset(k);
    TK_TRY(lm_kcheck_arity(k, opset < 11 ? 2 : 1, opset < 11 ? 2 : 4));
    const loom_tensor *x = k->in[0];
    int r = x->rank;
    if (r < 1)
        return lm_kinvalid(k, "input must have rank >= 1");
    rs_params p = {0};
    TK_TRY(parse_mode(k, &p, false));
    if (opset >= 18 &&
        (lm_node_attr_int(k->node, "antialias", 0) != 0 || lm_node_has_attr(k->node, "axes")))
        return lm_kunsupported(k, "antialias and axes (opset 18) are not supported");
    if (opset < 11) {
        p.ctm = CT_ASYMMETRIC;
        p.nearest = NM_SIMPLE;
    } else {
        const char *c = lm_node_attr_str(k->node, "coordinate_transformation_mode", "half_pixel");
        static const char *const ctms[] = {"half_pixel",           "pytorch_half_pixel",
                                           "align_corners",        "asymmetric",
                                           "tf_half_pixel_for_nn", "tf_crop_and_resize"};
        p.ctm = -1;
        for (int i = 0; i < 6; i++) {
            if (strcmp(c, ctms[i]) == 0)
                p.ctm = i;
        }
        if (p.ctm < 0)
            return lm_kunsupported(k, "coordinate_transformation_mode '%s'", c);
        const char *nm = lm_node_attr_str(k->node, "nearest_mode", "round_prefer_floor");
        static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil"};
        p.nearest = -1;
        for (int i = 0; i < 4; i++) {
            if (strcmp(nm, nms[i]) == 0)
                p.nearest = i;
        }
        if (p.nearest < 0)
            return lm_kinvalid(k, "nearest_mode '%s' is not supported", nm);
        p.cubic_a = lm_node_attr_float(k->node, "cubic_coeff_a", -0.75f);
        p.exclude_outside = lm_node_attr_int(k->node, "exclude_outside", 0) != 0;
        p.extrapolation = lm_node_attr_float(k->node, "extrapolation_value", 0.0f);
        p.roi = lm_kin(k, 1);
    }
    double sc[LOOM_MAX_RANK];
    int64_t dims[LOOM_MAX_RANK];
    const loom_tensor *scales = opset < 11 ? lm_kin(k, 1) : lm_kin(k, 2);
    const loom_tensor *sizes = opset < 11 ? NULL : lm_kin(k, 3);
    if (sizes && lm_tensor_count(sizes) > 0) {
        if (scales && lm_tensor_count(scales) > 0)
            return lm_kinvalid(k, "only one of scales and sizes may be given");
        TK_TRY(lm_kneed_data(k, 3));
        int n;
        TK_TRY(lm_tk_read_ints(k, sizes, "sizes", dims, LOOM_MAX_RANK, &n));
        if (n != r)
            return lm_kinvalid(k, "sizes has %d elements for rank %d", n, r);
        for (int a = 0; a < r; a++) {
            if (dims[a] < 0)
                return lm_kinvalid(k, "sizes[%d] is %lld", a, (long long)dims[a]);
            sc[a] = x->dims[a] > 0 ? (double)dims[a] / (double)x->dims[a] : 1.0;
        }
    } else if (scales && lm_tensor_count(scales) > 0) {
        TK_TRY(lm_kneed_data(k, opset < 11 ? 1 : 2));
        TK_TRY(read_scales(k, scales, r, sc));
        TK_TRY(dims_from_scales(k, x, sc, dims));
    } else {
        return lm_kinvalid(k, "one of scales and sizes is required");
    }
    return resize_run(k, &p, sc, dims);
}

static loom_status op_upsample(lm_kctx *k)
{
    int opset = lm_kopset(k);
    TK_TRY(lm_kcheck_arity(k, opset < 9 ? 1 : 2, opset < 9 ? 1 : 2));
    const loom_tensor *x = k->in[0];
    int r = x->rank;
    if (r < 1)
        return lm_kinvalid(k, "input must have rank >= 1");
    rs_params p = {0};
    TK_TRY(parse_mode(k, &p, true));
    p.ctm = CT_ASYMMETRIC;
    p.nearest = NM_SIMPLE;
    double sc[LOOM_MAX_RANK];
    if (opset < 9) {
        const float *v;
        int n = lm_node_attr_floats(k->node, "scales", &v);
        if (n != r)
            return lm_kinvalid(k, "scales must have %d floats", r);
        for (int a = 0; a < r; a++)
            sc[a] = v[a];
    } else {
        TK_TRY(lm_kneed_data(k, 1));
        TK_TRY(read_scales(k, k->in[1], r, sc));
    }
    int64_t dims[LOOM_MAX_RANK];
    TK_TRY(dims_from_scales(k, x, sc, dims));
    return resize_run(k, &p, sc, dims);
}

const lm_op_def lm_ops_resize[] = {
    LM_OP("", "Resize", op_resize),
    LM_OP("", "Upsample", op_upsample),
    LM_OP_END,
};
