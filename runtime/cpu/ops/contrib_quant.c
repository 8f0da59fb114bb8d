/*
 * contrib_quant.c - ONNX Runtime's com.microsoft 8-bit operators that
 * quantized models in the QOperator format carry besides the standard
 * QLinearConv and QLinearMatMul (the ONNX model zoo's int8 CNNs, ORT's
 * quantize_static with QuantFormat.QOperator): QLinearAdd and QLinearMul
 * (qadd.c), QLinearGlobalAveragePool, QLinearConcat, QLinearSigmoid,
 * QLinearLeakyRelu, QLinearSoftmax and QGemm. Each computes what
 * DequantizeLinear, the float operator and QuantizeLinear compute, in
 * float32, on the 8-bit tensors.
 */
#include <math.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../qgemm.h"
#include "quant_common.h"

/* A per-tensor scale and optional zero point of a @dt tensor. */
static loom_status qparam(lm_kctx *k, int si, int zi, loom_dtype dt, float *scale, int32_t *zp)
{
    const loom_tensor *s = lm_kin(k, si), *z = lm_kin(k, zi);
    loom_status st = check_scale(k, "scale", s);
    if (st)
        return st;
    if (!is_single(s) || (z && !is_single(z)))
        return lm_kunsupported(k, "inputs %d and %d: only per-tensor scales and zero points", si,
                               zi);
    if (z && z->dtype != dt)
        return lm_kinvalid(k, "input %d is %s, its tensor %s", zi, loom_dtype_name(z->dtype),
                           loom_dtype_name(dt));
    *scale = *(const float *)s->data;
    *zp = !z ? 0 : dt == LOOM_DTYPE_INT8 ? *(const int8_t *)z->data : *(const uint8_t *)z->data;
    return LOOM_OK;
}

static inline float deq(const void *p, int64_t i, bool sgn, int32_t zp, float scale)
{
    int32_t q = sgn ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
    return (float)(q - zp) * scale;
}

static inline void quant_store(void *p, int64_t i, bool sgn, float v, float scale, int32_t zp)
{
    int32_t q =
        clamp_round(v / scale, (float)(q8_min(sgn ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8) - zp),
                    (float)(q8_max(sgn ? LOOM_DTYPE_INT8 : LOOM_DTYPE_UINT8) - zp)) +
        zp;
    if (sgn)
        ((int8_t *)p)[i] = (int8_t)q;
    else
        ((uint8_t *)p)[i] = (uint8_t)q;
}

/* An 8-bit X and its output's quantization, of the ops with inputs (X,
 * X_scale, X_zero_point?, Y_scale, Y_zero_point?): Y is of X's type. */
typedef struct qio {
    const loom_tensor *x;
    bool sgn; /* int8, else uint8 */
    float xs, ys;
    int32_t xz, yz;
} qio;

static loom_status qio_read(lm_kctx *k, int min_rank, qio *q)
{
    loom_status st = lm_kcheck_arity(k, 2, 5);
    if (st)
        return st;
    if (!lm_kin(k, 1) || !lm_kin(k, 3))
        return lm_kinvalid(k, "X_scale and Y_scale are required");
    q->x = lm_kin(k, 0);
    if (!q->x || !is_q8(q->x->dtype) || q->x->rank < min_rank)
        return lm_kinvalid(k, "X must be uint8 or int8 of rank %d or more", min_rank);
    q->sgn = q->x->dtype == LOOM_DTYPE_INT8;
    if ((st = qparam(k, 1, 2, q->x->dtype, &q->xs, &q->xz)))
        return st;
    return qparam(k, 3, 4, q->x->dtype, &q->ys, &q->yz);
}

/* ---- QLinearSigmoid, QLinearLeakyRelu: a table of the 256 codes ---------------- */

typedef float (*unary_fn)(float x, float alpha);

static float sigmoid_f(float x, float alpha)
{
    (void)alpha;
    return 1.0f / (1.0f + expf(-x));
}

static float leaky_relu_f(float x, float alpha)
{
    return x >= 0 ? x : alpha * x;
}

/* Inputs (X, X_scale, X_zero_point?, Y_scale, Y_zero_point?). */
static loom_status qunary(lm_kctx *k, unary_fn fn, float alpha)
{
    qio q;
    loom_status st = qio_read(k, 0, &q);
    if (st)
        return st;
    loom_tensor *y = lm_kout_like(k, 0, q.x->dtype, q.x);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    uint8_t table[256];
    for (int c = 0; c < 256; c++) { /* indexed by the code's bits */
        float v = fn(deq(&(uint8_t){(uint8_t)c}, 0, q.sgn, q.xz, q.xs), alpha);
        quant_store(table, c, q.sgn, v, q.ys, q.yz);
    }
    const uint8_t *xd = q.x->data;
    uint8_t *yd = y->data;
    for (int64_t i = 0, n = lm_tensor_count(q.x); i < n; i++)
        yd[i] = table[xd[i]];
    return LOOM_OK;
}

static loom_status op_qlinear_sigmoid(lm_kctx *k)
{
    return qunary(k, sigmoid_f, 0.0f);
}

static loom_status op_qlinear_leaky_relu(lm_kctx *k)
{
    return qunary(k, leaky_relu_f, lm_node_attr_float(k->node, "alpha", 0.01f));
}

/* ---- QLinearGlobalAveragePool ------------------------------------------------ */

/* Sum of the n bytes x ^ flip as uint8, psadbw 16 at a time with SSE2. */
static int64_t sum_run_u8(const uint8_t *x, int64_t n, uint8_t flip)
{
    int64_t s = 0, i = 0;
#if defined(__SSE2__)
    const __m128i z = _mm_setzero_si128(), f = _mm_set1_epi8((char)flip);
    __m128i acc = z;
    for (; i + 16 <= n; i += 16)
        acc = _mm_add_epi64(
            acc, _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128((const __m128i *)(x + i)), f), z));
    s = _mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#endif
    for (; i < n; i++)
        s += (uint8_t)(x[i] ^ flip);
    return s;
}

/* sums[n * C + c]: the sum of channel c's S codes in image n, which are one
 * run (channels first) or C apart (channels last). int8 codes are summed as
 * uint8 + 128 (the bits XOR 0x80), then moved back. */
static void code_sums(const uint8_t *x, bool sgn, int64_t N, int64_t C, int64_t S, bool last,
                      int64_t *sums)
{
    if (!last) {
        for (int64_t i = 0; i < N * C; i++) {
            sums[i] = sgn ? sum_run_u8(x + i * S, S, 0x80) - 128 * S : sum_run_u8(x + i * S, S, 0);
        }
        return;
    }
    for (int64_t n = 0; n < N; n++) {
        int64_t *restrict out = sums + n * C;
        for (int64_t c = 0; c < C; c++)
            out[c] = 0;
        for (int64_t i = 0; i < S; i++) {
            const uint8_t *restrict r = x + (n * S + i) * C;
            if (sgn)
                for (int64_t c = 0; c < C; c++)
                    out[c] += (int8_t)r[c];
            else
                for (int64_t c = 0; c < C; c++)
                    out[c] += r[c];
        }
    }
}

/* Inputs (X, x_scale, x_zero_point, y_scale, y_zero_point); channels_last
 * says whether X is N x spatial x C instead of N x C x spatial. */
static loom_status op_qlinear_global_average_pool(lm_kctx *k)
{
    qio q;
    loom_status st = qio_read(k, 3, &q);
    if (st)
        return st;
    bool last = lm_node_attr_int(k->node, "channels_last", 0) != 0;
    int64_t N = q.x->dims[0], C = last ? q.x->dims[q.x->rank - 1] : q.x->dims[1], S = 1;
    int64_t dims[LOOM_MAX_RANK];
    for (int d = 0; d < q.x->rank; d++) {
        bool spatial = last ? d > 0 && d < q.x->rank - 1 : d > 1;
        dims[d] = spatial ? 1 : q.x->dims[d];
        S *= spatial ? q.x->dims[d] : 1;
    }
    loom_tensor *y = lm_kout(k, 0, q.x->dtype, q.x->rank, dims);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry || !S)
        return LOOM_OK;
    int64_t *sums = lm_kscratch(k, sizeof(int64_t) * (size_t)(N * C));
    if (!sums)
        return LOOM_ERR_NO_MEMORY;
    code_sums(q.x->data, q.sgn, N, C, S, last, sums);
    for (int64_t i = 0; i < N * C; i++) {
        float avg = (float)((double)(sums[i] - (int64_t)q.xz * S) / (double)S) * q.xs;
        quant_store(y->data, i, q.sgn, avg, q.ys, q.yz);
    }
    return LOOM_OK;
}

/* ---- QLinearConcat ---------------------------------------------------------- */

/* Inputs (Y_scale, Y_zero_point, then X, X_scale, X_zero_point per input). */
static loom_status op_qlinear_concat(lm_kctx *k)
{
    int n_x = (k->n_in - 2) / 3;
    if (k->n_in < 5 || (k->n_in - 2) % 3)
        return lm_kinvalid(k,
                           "QLinearConcat takes Y_scale, Y_zero_point and triples of "
                           "(X, X_scale, X_zero_point); got %d inputs",
                           k->n_in);
    const loom_tensor *yzp = lm_kin(k, 1), *x0 = lm_kin(k, 2);
    if (!yzp || !x0 || !is_q8(yzp->dtype))
        return lm_kinvalid(k, "Y_zero_point and the first X are required, 8-bit");
    float ys;
    int32_t yz;
    loom_status st = qparam(k, 0, 1, yzp->dtype, &ys, &yz);
    int axis;
    if (st || (st = lm_kaxis(k, lm_node_attr_int(k->node, "axis", 0), x0->rank, &axis)))
        return st;
    int64_t dims[LOOM_MAX_RANK], total = 0;
    memcpy(dims, x0->dims, sizeof(int64_t) * (size_t)x0->rank);
    for (int i = 0; i < n_x; i++) {
        const loom_tensor *x = lm_kin(k, 2 + 3 * i);
        bool ok = x && is_q8(x->dtype) && x->rank == x0->rank;
        for (int d = 0; ok && d < x->rank; d++)
            ok = d == axis || x->dims[d] == x0->dims[d];
        if (!ok)
            return lm_kinvalid(k, "input %d's type or shape does not concatenate with the first's",
                               i);
        total += x->dims[axis];
    }
    dims[axis] = total;
    loom_tensor *y = lm_kout(k, 0, yzp->dtype, x0->rank, dims);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    int64_t outer = 1, inner = 1, at = 0;
    for (int d = 0; d < axis; d++)
        outer *= dims[d];
    for (int d = axis + 1; d < x0->rank; d++)
        inner *= dims[d];
    bool ysgn = yzp->dtype == LOOM_DTYPE_INT8;
    for (int i = 0; i < n_x; i++) {
        const loom_tensor *x = lm_kin(k, 2 + 3 * i);
        float xs;
        int32_t xz;
        if ((st = qparam(k, 3 + 3 * i, 4 + 3 * i, x->dtype, &xs, &xz)))
            return st;
        /* Each of the 256 codes requantized once; a plain copy when the
         * input is quantized as the output is. */
        bool same = xs == ys && xz == yz && x->dtype == yzp->dtype;
        uint8_t table[256];
        for (int c = 0; !same && c < 256; c++)
            quant_store(table, c, ysgn,
                        deq(&(uint8_t){(uint8_t)c}, 0, x->dtype == LOOM_DTYPE_INT8, xz, xs), ys,
                        yz);
        int64_t run = x->dims[axis] * inner;
        for (int64_t o = 0; o < outer; o++) {
            const uint8_t *src = (const uint8_t *)x->data + o * run;
            uint8_t *dst = (uint8_t *)y->data + o * total * inner + at;
            if (same)
                memcpy(dst, src, (size_t)run);
            else
                for (int64_t j = 0; j < run; j++)
                    dst[j] = table[src[j]];
        }
        at += run;
    }
    return LOOM_OK;
}

/* ---- QLinearSoftmax ---------------------------------------------------------- */

/*
 * exp(x - max) of a softmax row on 8-bit codes takes at most 256 x 256
 * values: the code's value and the row's largest, itself a code's (or -inf
 * when every value is NaN: key 256). Each is computed with expf once per
 * run, the first time a row needs it, as the plain loop computes it, so
 * results are the same bit for bit; YOLO's DFL head reuses them thousands
 * of times.
 */
typedef struct softmax_exps {
    float dq[256];          /* each code dequantized */
    float e[257][256];      /* [key][code] */
    uint8_t have[257][256]; /* e set */
} softmax_exps;

static inline float softmax_exp(softmax_exps *t, int key, uint8_t c, float mx)
{
    if (!t->have[key][c]) {
        t->e[key][c] = expf(t->dq[c] - mx);
        t->have[key][c] = 1;
    }
    return t->e[key][c];
}

/* Inputs (X, X_scale, x_zero_point?, y_scale, y_zero_point?); attributes axis
 * and opset (the ONNX opset whose Softmax it follows: before 13 the input is
 * flattened to 2-D at the axis, from 13 on the softmax runs along the axis). */
static loom_status op_qlinear_softmax(lm_kctx *k)
{
    qio q;
    int axis;
    loom_status st = qio_read(k, 1, &q);
    if (st || (st = lm_kaxis(k, lm_node_attr_int(k->node, "axis", -1), q.x->rank, &axis)))
        return st;
    loom_tensor *y = lm_kout_like(k, 0, q.x->dtype, q.x);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    bool flat = lm_node_attr_int(k->node, "opset", 13) < 13;
    int64_t outer = 1, n = 1, inner = 1;
    for (int d = 0; d < q.x->rank; d++)
        *(d < axis ? &outer : d == axis || flat ? &n : &inner) *= q.x->dims[d];
    /* row: the exponentials; exps: tables of them, built as codes appear */
    float *row = lm_kscratch(k, sizeof(float) * (size_t)(n ? n : 1));
    softmax_exps *exps = lm_kscratch(k, sizeof(*exps));
    if (!row || !exps)
        return LOOM_ERR_NO_MEMORY;
    memset(exps->have, 0, sizeof(exps->have));
    for (int c = 0; c < 256; c++)
        exps->dq[c] = deq(&(uint8_t){(uint8_t)c}, 0, q.sgn, q.xz, q.xs);
    const uint8_t *x = q.x->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            /* the largest value and the code that has it (NaNs never are) */
            float mx = -INFINITY;
            int key = 256;
            for (int64_t j = 0; j < n; j++) {
                uint8_t c = x[base + j * inner];
                if (exps->dq[c] > mx)
                    mx = exps->dq[c], key = c;
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < n; j++)
                sum += row[j] = softmax_exp(exps, key, x[base + j * inner], mx);
            for (int64_t j = 0; j < n; j++)
                quant_store(y->data, base + j * inner, q.sgn, row[j] / sum, q.ys, q.yz);
        }
    return LOOM_OK;
}

/* ---- QGemm -------------------------------------------------------------------- */

typedef struct qgemm_args {
    const loom_tensor *a, *b, *c;
    float as, ys, alpha;
    int32_t az, yz;
    const float *bs;     /* per column of Y (one value: every column) */
    const int32_t *bz32; /* per column (NULL: zero) */
    int64_t M, N, K;
    bool ta, tb, per_col, out_float;
    const lm_qgemm_packed *packed; /* constant B packed at plan time (qgemm_prepare), or NULL */
} qgemm_args;

static inline int32_t q8_at(const loom_tensor *t, int64_t i)
{
    return t->dtype == LOOM_DTYPE_INT8 ? ((const int8_t *)t->data)[i]
                                       : ((const uint8_t *)t->data)[i];
}

/* @rows x @cols bytes of @src (row stride @cols) transposed into @dst. */
static void transpose_u8(const uint8_t *src, int64_t rows, int64_t cols, uint8_t *dst)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * rows + r] = src[r * cols + c];
}

/*
 * The int32 products on the int8 GEMM (cpu/qgemm.h), which takes B as
 * K x N. With B given as N x K (transB, a Linear layer's weights) it
 * computes Y^T = B A^T instead: B is then the GEMM's A, and A^T, a copy of
 * a few rows, its B. Writes acc[m][n].
 */
static loom_status qgemm_products(lm_kctx *k, const qgemm_args *q, int32_t *acc)
{
    const uint8_t *a = q->a->data;
    bool as = q->a->dtype == LOOM_DTYPE_INT8, bsg = q->b->dtype == LOOM_DTYPE_INT8;
    uint8_t *at = NULL;
    if (q->ta != q->tb) { /* the GEMM needs A as M x K (plain) or K x M (transB) */
        if (!(at = lm_kscratch(k, (size_t)(q->M * q->K))))
            return LOOM_ERR_NO_MEMORY;
        transpose_u8(a, q->ta ? q->K : q->M, q->ta ? q->M : q->K, at);
        a = at;
    }
    int32_t az = q->az;
    lm_qgemm_params p = {.k = q->K, .a_signed = as, .b_signed = bsg};
    if (q->tb) {
        int32_t *c = lm_kscratch(k, sizeof(int32_t) * (size_t)(q->M * q->N));
        if (!c)
            return LOOM_ERR_NO_MEMORY;
        p.m = q->N, p.n = q->M;
        p.a = q->b->data, p.lda = q->K, p.a_signed = bsg, p.pa = q->packed;
        p.b = a, p.ldb = q->M, p.b_signed = as;
        p.a_zp = q->bz32, p.a_zp_per_row = q->per_col;
        p.b_zp = &az;
        p.c = c, p.ldc = q->M;
        lm_qgemm(&p);
        for (int64_t n = 0; n < q->N; n++)
            for (int64_t m = 0; m < q->M; m++)
                acc[m * q->N + n] = c[n * q->M + m];
        return LOOM_OK;
    }
    p.m = q->M, p.n = q->N;
    p.a = a, p.lda = q->K;
    p.b = q->b->data, p.ldb = q->N, p.pb = q->packed;
    p.a_zp = &az;
    p.b_zp = q->bz32, p.b_zp_per_col = q->per_col;
    p.c = acc, p.ldc = q->N;
    lm_qgemm(&p);
    return LOOM_OK;
}

static loom_status qgemm_compute(lm_kctx *k, const qgemm_args *q, loom_tensor *y)
{
    bool ysgn = y->dtype == LOOM_DTYPE_INT8;
    int32_t *accs = lm_kscratch(k, sizeof(int32_t) * (size_t)(q->M * q->N));
    loom_status st = accs ? qgemm_products(k, q, accs) : LOOM_ERR_NO_MEMORY;
    if (st)
        return st;
    for (int64_t m = 0; m < q->M; m++)
        for (int64_t n = 0; n < q->N; n++) {
            int32_t acc = accs[m * q->N + n];
            if (q->c) /* int32 bias in the product's scale, broadcast over rows */
                acc += ((const int32_t *)q->c->data)[lm_tensor_count(q->c) == q->N ? n : 0];
            float v = (float)acc * q->as * q->bs[q->per_col ? n : 0] * q->alpha;
            if (q->out_float)
                ((float *)y->data)[m * q->N + n] = v;
            else
                quant_store(y->data, m * q->N + n, ysgn, v, q->ys, q->yz);
        }
    return LOOM_OK;
}

/* Inputs (A, a_scale, a_zero_point, B, b_scale, b_zero_point, C?, y_scale?,
 * y_zero_point?): without y_scale the output is float. B's scale and zero
 * point may be per column of Y. */
static loom_status op_qgemm(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 6, 9);
    qgemm_args q = {.a = lm_kin(k, 0), .b = lm_kin(k, 3), .c = lm_kin(k, 6)};
    if (st)
        return st;
    if (!q.a || !q.b || !is_q8(q.a->dtype) || !is_q8(q.b->dtype) || q.a->rank != 2 ||
        q.b->rank != 2)
        return lm_kinvalid(k, "A and B must be 8-bit matrices");
    q.ta = lm_node_attr_int(k->node, "transA", 0) != 0;
    q.tb = lm_node_attr_int(k->node, "transB", 0) != 0;
    q.alpha = lm_node_attr_float(k->node, "alpha", 1.0f);
    q.M = q.a->dims[q.ta ? 1 : 0], q.K = q.a->dims[q.ta ? 0 : 1];
    q.N = q.b->dims[q.tb ? 0 : 1];
    if (q.b->dims[q.tb ? 1 : 0] != q.K)
        return lm_kinvalid(k, "A's %lld columns do not meet B's %lld rows", (long long)q.K,
                           (long long)q.b->dims[q.tb ? 1 : 0]);
    if (q.c && (q.c->dtype != LOOM_DTYPE_INT32 ||
                (lm_tensor_count(q.c) != q.N && lm_tensor_count(q.c) != 1)))
        return lm_kunsupported(k, "C must be int32 with one value or one per column");
    const loom_tensor *bs = lm_kin(k, 4), *bz = lm_kin(k, 5);
    if ((st = qparam(k, 1, 2, q.a->dtype, &q.as, &q.az)) || (st = check_scale(k, "b_scale", bs)))
        return st;
    q.per_col = lm_tensor_count(bs) == q.N && q.N != 1;
    if (!q.per_col && !is_single(bs))
        return lm_kinvalid(k, "b_scale has %lld values for %lld columns",
                           (long long)lm_tensor_count(bs), (long long)q.N);
    if (bz && (bz->dtype != q.b->dtype || lm_tensor_count(bz) != lm_tensor_count(bs)))
        return lm_kinvalid(k, "b_zero_point must match B's type and b_scale's length");
    q.out_float = !lm_kin(k, 7);
    loom_dtype ydt = q.out_float    ? LOOM_DTYPE_FLOAT
                     : lm_kin(k, 8) ? lm_kin(k, 8)->dtype
                                    : q.a->dtype;
    if (!q.out_float && (st = qparam(k, 7, 8, ydt, &q.ys, &q.yz)))
        return st;
    int64_t dims[2] = {q.M, q.N};
    loom_tensor *y = lm_kout(k, 0, ydt, 2, dims);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry)
        return LOOM_OK;
    q.bs = bs->data;
    int32_t *z32 = NULL;
    if (bz) {
        int64_t nz = lm_tensor_count(bz);
        if (!(z32 = lm_kscratch(k, sizeof(int32_t) * (size_t)nz)))
            return LOOM_ERR_NO_MEMORY;
        for (int64_t i = 0; i < nz; i++)
            z32[i] = q8_at(bz, i);
    }
    q.bz32 = z32;
    q.packed = k->prepared;
    return qgemm_compute(k, &q, y);
}

/* A constant B in the GEMM's layout: as its A operand (N x K) with transB,
 * else as its B (K x N); once per process per weights (lm_kweights). */
static loom_status qgemm_pack(lm_kctx *k, void *arg, void **data, size_t *bytes)
{
    (void)arg;
    const loom_tensor *b = lm_kin(k, 3);
    bool tb = lm_node_attr_int(k->node, "transB", 0) != 0, sgn = b->dtype == LOOM_DTYPE_INT8;
    int64_t rows = b->dims[0], cols = b->dims[1];
    lm_qgemm_packed *p = tb ? lm_qgemm_pack_a(b->data, cols, sgn, rows, cols)
                            : lm_qgemm_pack_b(b->data, cols, sgn, rows, cols);
    if (!p)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory packing B");
    *data = p;
    *bytes = lm_qgemm_packed_bytes(p);
    return LOOM_OK;
}

static void qgemm_packed_free(void *p)
{
    lm_qgemm_packed_free(p);
}

static loom_status qgemm_prepare(lm_kctx *k)
{
    loom_status st = op_qgemm(k); /* validates and shapes (k->dry is set) */
    const loom_tensor *b = lm_kin(k, 3);
    if (st || !b->data || b->rank != 2)
        return st;
    int in = 3;
    const void *packed;
    st = lm_kweights(k, &in, 1, lm_node_attr_int(k->node, "transB", 0) != 0, qgemm_pack,
                     qgemm_packed_free, NULL, &packed);
    k->prepared = (void *)packed;
    return st;
}

const lm_op_def lm_ops_contrib_quant[] = {
    LM_OP_FULL("com.microsoft", "QLinearSoftmax", op_qlinear_softmax),
    {.domain = "com.microsoft",
     .op_type = "QGemm",
     .run = op_qgemm,
     .prepare = qgemm_prepare,
     .flags = LM_OP_WRITES_OUTPUTS},
    LM_OP_FULL("com.microsoft", "QLinearAdd", lm_op_QDQAdd),
    LM_OP_FULL("com.microsoft", "QLinearMul", lm_op_QLinearMul),
    LM_OP_FULL("com.microsoft", "QLinearSigmoid", op_qlinear_sigmoid),
    LM_OP_FULL("com.microsoft", "QLinearLeakyRelu", op_qlinear_leaky_relu),
    LM_OP_FULL("com.microsoft", "QLinearGlobalAveragePool", op_qlinear_global_average_pool),
    LM_OP_FULL("com.microsoft", "QLinearConcat", op_qlinear_concat),
    LM_OP_END,
};
