/*
 * signal.c - signal processing (opset 17): DFT, STFT, HannWindow,
 * HammingWindow, BlackmanWindow and MelWeightMatrix. float32 and double;
 * transforms run in double: a mixed-radix FFT over a precomputed twiddle
 * table, a direct DFT only for prime lengths.
 */
#include <math.h>
#include <string.h>

#include "more_ops.h"

#define MO_PI 3.14159265358979323846

/* Largest transform length accepted: keeps twiddle tables and O(n^2) DFTs sane. */
#define DFT_MAX_LEN ((int64_t)1 << 24)

typedef struct dft_plan {
    int64_t n;
    bool inverse;
    double *cs, *sn;  /* cos/sin(2*pi*m/n), m in [0, n) */
    double *wr, *wi;  /* one transform's input, then its output */
    double *orr, *oi; /* the transform's output before it is copied back */
    double *tr, *ti;  /* butterfly temporaries */
} dft_plan;

static loom_status dft_plan_init(lm_kctx *k, dft_plan *p, int64_t n, bool inverse)
{
    memset(p, 0, sizeof(*p));
    p->n = n;
    p->inverse = inverse;
    size_t sz = (size_t)(n + 1) * sizeof(double);
    double **arrs[] = {&p->cs, &p->sn, &p->wr, &p->wi, &p->orr, &p->oi, &p->tr, &p->ti};
    for (size_t i = 0; i < sizeof(arrs) / sizeof(arrs[0]); i++)
        if (!(*arrs[i] = lm_kscratch(k, sz)))
            return LOOM_ERR_NO_MEMORY;
    for (int64_t m = 0; m < n; m++) {
        double a = 2.0 * MO_PI * (double)m / (double)n;
        p->cs[m] = cos(a);
        p->sn[m] = sin(a);
    }
    return LOOM_OK;
}

static int64_t smallest_factor(int64_t n)
{
    for (int64_t f = 2; f * f <= n; f++)
        if (n % f == 0)
            return f;
    return n;
}

/*
 * Mixed-radix Cooley-Tukey: the length-@n DFT of in[j * stride] into out[0..n)
 * from @f DFTs of length n / f (f the smallest prime factor), a direct DFT
 * when n is prime. Twiddles come from the plan's length-N table (n divides N).
 */
static void fft_rec(const dft_plan *p, const double *ir, const double *ii, int64_t stride,
                    int64_t n, double *orr, double *oi)
{
    double sgn = p->inverse ? 1.0 : -1.0;
    int64_t tw = p->n / n;
    if (n == 1) {
        orr[0] = ir[0];
        oi[0] = ii[0];
        return;
    }
    int64_t f = smallest_factor(n);
    if (f == n) {
        for (int64_t kk = 0; kk < n; kk++) {
            double sr = 0, si = 0;
            int64_t e = 0;
            for (int64_t j = 0; j < n; j++) {
                double c = p->cs[e * tw], sn = sgn * p->sn[e * tw];
                double xr = ir[j * stride], xi = ii[j * stride];
                sr += xr * c - xi * sn;
                si += xr * sn + xi * c;
                e += kk;
                if (e >= n)
                    e -= n;
            }
            orr[kk] = sr;
            oi[kk] = si;
        }
        return;
    }
    int64_t m = n / f;
    for (int64_t r = 0; r < f; r++)
        fft_rec(p, ir + r * stride, ii + r * stride, stride * f, m, orr + r * m, oi + r * m);
    /* Butterflies: outputs k + q*m (q < f) use exactly the inputs r*m + k. */
    double *tr = p->tr, *ti = p->ti;
    for (int64_t kk = 0; kk < m; kk++) {
        for (int64_t r = 0; r < f; r++) {
            int64_t e = (r * kk) % n;
            double c = p->cs[e * tw], sn = sgn * p->sn[e * tw];
            double xr = orr[r * m + kk], xi = oi[r * m + kk];
            tr[r] = xr * c - xi * sn;
            ti[r] = xr * sn + xi * c;
        }
        for (int64_t q = 0; q < f; q++) {
            double sr = 0, si = 0;
            int64_t e = 0; /* (r * q) mod f */
            for (int64_t r = 0; r < f; r++) {
                double c = p->cs[e * m * tw], sn = sgn * p->sn[e * m * tw];
                sr += tr[r] * c - ti[r] * sn;
                si += tr[r] * sn + ti[r] * c;
                e += q;
                if (e >= f)
                    e -= f;
            }
            orr[q * m + kk] = sr;
            oi[q * m + kk] = si;
        }
    }
}

/* In place on p->wr/p->wi: X[k] = sum x[j] e^{-+2 pi i jk/n}, scaled by 1/n
 * when inverse. */
static void dft_exec(dft_plan *p)
{
    int64_t n = p->n;
    fft_rec(p, p->wr, p->wi, 1, n, p->orr, p->oi);
    double scale = p->inverse ? 1.0 / (double)n : 1.0;
    for (int64_t i = 0; i < n; i++) {
        p->wr[i] = p->orr[i] * scale;
        p->wi[i] = p->oi[i] * scale;
    }
}

/* Reads a scalar integer input (a one-element tensor). */
static loom_status scalar_int(lm_kctx *k, int i, const char *what, int64_t *v)
{
    const loom_tensor *t = lm_kin(k, i);
    MO_TRY(lm_kneed_data(k, i));
    if (lm_tensor_count(t) != 1 || (t->dtype != LOOM_DTYPE_INT32 && t->dtype != LOOM_DTYPE_INT64))
        return lm_kinvalid(k, "%s must be one int32/int64 value", what);
    *v = lm_tensor_get_i64(t, 0);
    return LOOM_OK;
}

static loom_status scalar_f64(lm_kctx *k, int i, const char *what, double *v)
{
    const loom_tensor *t = lm_kin(k, i);
    MO_TRY(lm_kneed_data(k, i));
    if (lm_tensor_count(t) != 1 || loom_dtype_size(t->dtype) == 0 || t->dtype == LOOM_DTYPE_STRING)
        return lm_kinvalid(k, "%s must be one numeric value", what);
    *v = lm_tensor_get_f64(t, 0);
    return LOOM_OK;
}

/* Loads line elements into the plan's work arrays from a float or double
 * tensor (real: 1 component, complex: 2), zero-padding past @avail. */
#define DEFINE_LOAD(NAME, T)                                                                       \
    static void NAME(dft_plan *p, const T *x, int64_t stride, int64_t avail, int comps,            \
                     const double *win)                                                            \
    {                                                                                              \
        for (int64_t j = 0; j < p->n; j++) {                                                       \
            double r = 0, i = 0;                                                                   \
            if (j < avail) {                                                                       \
                r = (double)x[j * stride];                                                         \
                i = comps == 2 ? (double)x[j * stride + 1] : 0.0;                                  \
                if (win) {                                                                         \
                    r *= win[j];                                                                   \
                    i *= win[j];                                                                   \
                }                                                                                  \
            }                                                                                      \
            p->wr[j] = r;                                                                          \
            p->wi[j] = i;                                                                          \
        }                                                                                          \
    }

DEFINE_LOAD(load_f32, float)
DEFINE_LOAD(load_f64, double)

#define DEFINE_STORE(NAME, T)                                                                      \
    static void NAME(const dft_plan *p, T *y, int64_t stride, int64_t count)                       \
    {                                                                                              \
        for (int64_t j = 0; j < count; j++) {                                                      \
            y[j * stride] = (T)p->wr[j];                                                           \
            y[j * stride + 1] = (T)p->wi[j];                                                       \
        }                                                                                          \
    }

DEFINE_STORE(store_f32, float)
DEFINE_STORE(store_f64, double)

static loom_status op_dft(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 1, 2));
    const loom_tensor *x = lm_kin(k, 0);
    if (x->dtype != LOOM_DTYPE_FLOAT && x->dtype != LOOM_DTYPE_DOUBLE)
        return lm_kunsupported(k, "dtype %s is not supported (float32, double)",
                               loom_dtype_name(x->dtype));
    if (x->rank < 3)
        return lm_kfail(k, LOOM_ERR_SHAPE, "input has rank %d, expected [batch, ..., 1|2]",
                        x->rank);
    int comps = (int)x->dims[x->rank - 1];
    if (x->dims[x->rank - 1] != 1 && x->dims[x->rank - 1] != 2)
        return lm_kfail(k, LOOM_ERR_SHAPE, "last dim is %lld, expected 1 (real) or 2 (complex)",
                        (long long)x->dims[x->rank - 1]);
    /* DFT-20 moved axis (default -2) to an input; refuse it rather than read
     * the attribute opset 17 had. */
    if (lm_kopset(k) >= 20)
        return lm_kunsupported(k, "DFT-20 (axis as an input) is not supported");
    int64_t axis = lm_node_attr_int(k->node, "axis", 1);
    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis > x->rank - 2)
        return lm_kinvalid(k, "axis %lld out of range for rank %d (signal axes only)",
                           (long long)lm_node_attr_int(k->node, "axis", 1), x->rank);
    bool inverse = lm_node_attr_int(k->node, "inverse", 0) != 0;
    bool onesided = lm_node_attr_int(k->node, "onesided", 0) != 0;
    if (onesided && inverse)
        return lm_kunsupported(k, "onesided inverse DFT is not supported");
    if (onesided && comps == 2)
        return lm_kinvalid(k, "onesided DFT needs a real input");
    int64_t len = x->dims[axis];
    if (lm_kin(k, 1)) {
        MO_TRY(scalar_int(k, 1, "dft_length", &len));
        if (len <= 0 || len > DFT_MAX_LEN)
            return lm_kinvalid(k, "dft_length %lld out of range", (long long)len);
    }
    if (len > DFT_MAX_LEN)
        return lm_kinvalid(k, "dft length %lld too large", (long long)len);
    int64_t od[LOOM_MAX_RANK];
    memcpy(od, x->dims, sizeof(int64_t) * (size_t)x->rank);
    od[x->rank - 1] = 2;
    od[axis] = onesided ? len / 2 + 1 : len;
    loom_tensor *y = lm_kout(k, 0, x->dtype, x->rank, od);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    if (lm_tensor_count(y) == 0)
        return LOOM_OK;
    dft_plan p;
    MO_TRY(dft_plan_init(k, &p, len, inverse));
    int64_t outer = lm_dims_count((int)axis, x->dims);
    int64_t inner = lm_dims_count(x->rank - (int)axis - 2, x->dims + axis + 1);
    int64_t avail = x->dims[axis] < len ? x->dims[axis] : len, nout = od[axis];
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t xoff = (o * x->dims[axis] * inner + i) * comps;
            int64_t yoff = (o * nout * inner + i) * 2;
            if (x->dtype == LOOM_DTYPE_FLOAT) {
                load_f32(&p, (const float *)x->data + xoff, inner * comps, avail, comps, NULL);
                dft_exec(&p);
                store_f32(&p, (float *)y->data + yoff, inner * 2, nout);
            } else {
                load_f64(&p, (const double *)x->data + xoff, inner * comps, avail, comps, NULL);
                dft_exec(&p);
                store_f64(&p, (double *)y->data + yoff, inner * 2, nout);
            }
        }
    }
    return LOOM_OK;
}

static loom_status op_stft(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 2, 4));
    const loom_tensor *x = lm_kin(k, 0), *w = lm_kin(k, 2);
    if (x->dtype != LOOM_DTYPE_FLOAT && x->dtype != LOOM_DTYPE_DOUBLE)
        return lm_kunsupported(k, "dtype %s is not supported (float32, double)",
                               loom_dtype_name(x->dtype));
    if (x->rank != 3 || (x->dims[2] != 1 && x->dims[2] != 2))
        return lm_kfail(k, LOOM_ERR_SHAPE, "signal must be [batch, length, 1|2]");
    int comps = (int)x->dims[2];
    bool onesided = lm_node_attr_int(k->node, "onesided", 1) != 0;
    if (onesided && comps == 2)
        return lm_kinvalid(k, "onesided STFT needs a real signal");
    int64_t step, flen = -1;
    MO_TRY(scalar_int(k, 1, "frame_step", &step));
    if (step <= 0)
        return lm_kinvalid(k, "frame_step %lld must be positive", (long long)step);
    if (w) {
        if (w->rank != 1 || w->dtype != x->dtype)
            return lm_kinvalid(k, "window must be 1-D with the signal's dtype");
        flen = w->dims[0];
    }
    if (lm_kin(k, 3)) {
        int64_t fl;
        MO_TRY(scalar_int(k, 3, "frame_length", &fl));
        if (flen >= 0 && fl != flen)
            return lm_kinvalid(k, "frame_length %lld differs from the window's %lld", (long long)fl,
                               (long long)flen);
        flen = fl;
    }
    if (flen < 0)
        return lm_kinvalid(k, "neither window nor frame_length is given");
    if (flen == 0 || flen > DFT_MAX_LEN || flen > x->dims[1])
        return lm_kinvalid(k, "frame_length %lld must be in [1, signal length %lld]",
                           (long long)flen, (long long)x->dims[1]);
    int64_t frames = (x->dims[1] - flen) / step + 1;
    int64_t bins = onesided ? flen / 2 + 1 : flen;
    int64_t od[4] = {x->dims[0], frames, bins, 2};
    loom_tensor *y = lm_kout(k, 0, x->dtype, 4, od);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    if (lm_tensor_count(y) == 0)
        return LOOM_OK;
    dft_plan p;
    MO_TRY(dft_plan_init(k, &p, flen, false));
    double *win = NULL;
    if (w) {
        win = lm_kscratch(k, (size_t)flen * sizeof(double));
        if (!win)
            return LOOM_ERR_NO_MEMORY;
        for (int64_t j = 0; j < flen; j++)
            win[j] = lm_tensor_get_f64(w, j);
    }
    int64_t L = x->dims[1];
    for (int64_t b = 0; b < x->dims[0]; b++) {
        for (int64_t f = 0; f < frames; f++) {
            int64_t xoff = (b * L + f * step) * comps, yoff = ((b * frames + f) * bins) * 2;
            if (x->dtype == LOOM_DTYPE_FLOAT) {
                load_f32(&p, (const float *)x->data + xoff, comps, flen, comps, win);
                dft_exec(&p);
                store_f32(&p, (float *)y->data + yoff, 2, bins);
            } else {
                load_f64(&p, (const double *)x->data + xoff, comps, flen, comps, win);
                dft_exec(&p);
                store_f64(&p, (double *)y->data + yoff, 2, bins);
            }
        }
    }
    return LOOM_OK;
}

/* ---- Windows and MelWeightMatrix ------------------------------------------ */

static loom_status out_dtype(lm_kctx *k, loom_dtype *dt)
{
    int64_t v = lm_node_attr_int(k->node, "output_datatype", LOOM_DTYPE_FLOAT);
    /* Real numeric dtypes only (float16 and complex are not). */
    if (v <= 0 || v > LOOM_DTYPE_UINT64 || v == LOOM_DTYPE_STRING || v == LOOM_DTYPE_FLOAT16 ||
        v == LOOM_DTYPE_BOOL)
        return lm_kunsupported(k, "output_datatype %lld is not supported", (long long)v);
    *dt = (loom_dtype)v;
    return LOOM_OK;
}

/* Stores @n doubles into @t with its dtype. */
static void store_values(loom_tensor *t, const double *v, int64_t n)
{
    if (t->dtype == LOOM_DTYPE_FLOAT) {
        for (int64_t i = 0; i < n; i++)
            ((float *)t->data)[i] = (float)v[i];
    } else if (t->dtype == LOOM_DTYPE_DOUBLE) {
        memcpy(t->data, v, (size_t)n * sizeof(double));
    } else {
        for (int64_t i = 0; i < n; i++)
            lm_tensor_set_f64(t, i, v[i]);
    }
}

/* Generalized cosine window a0 - a1 cos(2 pi n/N) + a2 cos(4 pi n/N). */
static loom_status cosine_window(lm_kctx *k, double a0, double a1, double a2)
{
    MO_TRY(lm_kcheck_arity(k, 1, 1));
    loom_dtype dt;
    MO_TRY(out_dtype(k, &dt));
    int64_t size;
    MO_TRY(scalar_int(k, 0, "size", &size));
    if (size < 0 || size > DFT_MAX_LEN)
        return lm_kinvalid(k, "size %lld out of range", (long long)size);
    bool periodic = lm_node_attr_int(k->node, "periodic", 1) != 0;
    loom_tensor *y = lm_kout(k, 0, dt, 1, &size);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry && !y->data)
        return LOOM_OK;
    double *v = lm_kscratch(k, (size_t)(size + 1) * sizeof(double));
    if (!v)
        return LOOM_ERR_NO_MEMORY;
    double N = periodic ? (double)size : (double)(size - 1);
    if (N <= 0)
        N = 1;
    for (int64_t i = 0; i < size; i++) {
        double a = 2.0 * MO_PI * (double)i / N;
        v[i] = a0 - a1 * cos(a) + a2 * cos(2 * a);
    }
    store_values(y, v, size);
    return LOOM_OK;
}

static loom_status op_hann(lm_kctx *k)
{
    return cosine_window(k, 0.5, 0.5, 0.0);
}

static loom_status op_hamming(lm_kctx *k)
{
    return cosine_window(k, 25.0 / 46.0, 21.0 / 46.0, 0.0);
}

static loom_status op_blackman(lm_kctx *k)
{
    return cosine_window(k, 0.42, 0.5, 0.08);
}

static loom_status op_melweight(lm_kctx *k)
{
    MO_TRY(lm_kcheck_arity(k, 5, 5));
    loom_dtype dt;
    MO_TRY(out_dtype(k, &dt));
    int64_t nmel, dftlen, rate;
    double lo, hi;
    MO_TRY(scalar_int(k, 0, "num_mel_bins", &nmel));
    MO_TRY(scalar_int(k, 1, "dft_length", &dftlen));
    MO_TRY(scalar_int(k, 2, "sample_rate", &rate));
    MO_TRY(scalar_f64(k, 3, "lower_edge_hertz", &lo));
    MO_TRY(scalar_f64(k, 4, "upper_edge_hertz", &hi));
    if (nmel <= 0 || nmel > (1 << 20) || dftlen <= 0 || dftlen > DFT_MAX_LEN || rate <= 0)
        return lm_kinvalid(k, "num_mel_bins, dft_length and sample_rate must be positive");
    if (!(lo >= 0) || !(hi > lo) || !(hi < 1e12))
        return lm_kinvalid(k, "need 0 <= lower_edge_hertz < upper_edge_hertz");
    int64_t nspec = dftlen / 2 + 1;
    int64_t od[2] = {nspec, nmel};
    loom_tensor *y = lm_kout(k, 0, dt, 2, od);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry && !y->data)
        return LOOM_OK;
    int64_t *fb = lm_kscratch(k, (size_t)(nmel + 2) * sizeof(int64_t));
    double *v = lm_kscratch(k, (size_t)(nspec * nmel) * sizeof(double));
    if (!fb || !v)
        return LOOM_ERR_NO_MEMORY;
    memset(v, 0, (size_t)(nspec * nmel) * sizeof(double));
    /* The ONNX reference: nmel + 2 points evenly spaced in mel, mapped back to
     * Hz and floored to spectrogram bins. */
    double lmel = 2595.0 * log10(1.0 + lo / 700.0), hmel = 2595.0 * log10(1.0 + hi / 700.0);
    double step = (hmel - lmel) / (double)(nmel + 2);
    for (int64_t i = 0; i < nmel + 2; i++) {
        double hz = 700.0 * (pow(10.0, ((double)i * step + lmel) / 2595.0) - 1.0);
        fb[i] = (int64_t)floor((double)(dftlen + 1) * hz / (double)rate);
        if (fb[i] < 0)
            fb[i] = 0;
        if (fb[i] >= nspec)
            fb[i] = nspec - 1;
    }
    for (int64_t i = 0; i < nmel; i++) {
        int64_t l = fb[i], c = fb[i + 1], h = fb[i + 2];
        if (c == l) {
            v[c * nmel + i] = 1.0;
        } else {
            for (int64_t j = l; j <= c; j++)
                v[j * nmel + i] = (double)(j - l) / (double)(c - l);
        }
        if (h > c)
            for (int64_t j = c; j < h; j++)
                v[j * nmel + i] = (double)(h - j) / (double)(h - c);
    }
    store_values(y, v, nspec * nmel);
    return LOOM_OK;
}

const lm_op_def lm_ops_signal[] = {
    LM_OP("", "DFT", op_dft),
    LM_OP("", "STFT", op_stft),
    LM_OP("", "HannWindow", op_hann),
    LM_OP("", "HammingWindow", op_hamming),
    LM_OP("", "BlackmanWindow", op_blackman),
    LM_OP("", "MelWeightMatrix", op_melweight),
    LM_OP_END,
};
