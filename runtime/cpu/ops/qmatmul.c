/*
 * qmatmul.c - MatMulInteger and QLinearMatMul: numpy-style batched products
 * of 8-bit matrices on the int8 GEMM (qgemm.h), in output tiles run in
 * parallel; QLinearMatMul requantizes each tile once it is computed, and
 * loom.MatMulIntegerScaled (fuse_qdyn.c) scales it to float. A
 * constant B is packed once per plan (lm_q_prepare).
 */
#include <string.h>

#include "quant_common.h"

/* numpy matmul geometry: a 1-D A is [1, K] and a 1-D B is [K, 1], with that
 * dimension dropped from the output; batch dimensions broadcast. */
typedef struct mm_geom {
    int64_t M, N, K;
    int brank;
    int64_t bdims[LOOM_MAX_RANK];
    int64_t a_bstr[LOOM_MAX_RANK], b_bstr[LOOM_MAX_RANK]; /* in matrices; 0 = broadcast */
    int64_t batch;                                        /* output matrices */
    int out_rank;
    int64_t out_dims[LOOM_MAX_RANK];
} mm_geom;

static loom_status mm_geometry(lm_kctx *k, const loom_tensor *a, const loom_tensor *b, mm_geom *g)
{
    if (a->rank < 1 || b->rank < 1)
        return lm_kinvalid(k, "matmul inputs must have rank >= 1, got %d and %d", a->rank, b->rank);
    memset(g, 0, sizeof(*g));
    int ar = a->rank, br = b->rank;
    int64_t K2;
    if (ar == 1) {
        g->M = 1;
        g->K = a->dims[0];
    } else {
        g->M = a->dims[ar - 2];
        g->K = a->dims[ar - 1];
    }
    if (br == 1) {
        K2 = b->dims[0];
        g->N = 1;
    } else {
        K2 = b->dims[br - 2];
        g->N = b->dims[br - 1];
    }
    if (g->K != K2)
        return lm_kinvalid(k, "matmul inner dimensions differ: A has K=%lld, B has K=%lld",
                           (long long)g->K, (long long)K2);
    int abr = ar > 2 ? ar - 2 : 0, bbr = br > 2 ? br - 2 : 0;
    g->brank = abr > bbr ? abr : bbr;
    int64_t as = 1, bs = 1;
    for (int i = g->brank - 1; i >= 0; i--) {
        int ai = i - (g->brank - abr), bi = i - (g->brank - bbr);
        int64_t ad = ai >= 0 ? a->dims[ai] : 1, bd = bi >= 0 ? b->dims[bi] : 1;
        if (ad != bd && ad != 1 && bd != 1)
            return lm_kinvalid(k, "matmul batch dimensions %lld and %lld do not broadcast",
                               (long long)ad, (long long)bd);
        g->bdims[i] = ad == 1 ? bd : ad;
        g->a_bstr[i] = ad == 1 ? 0 : as;
        g->b_bstr[i] = bd == 1 ? 0 : bs;
        as *= ad;
        bs *= bd;
    }
    g->out_rank = 0;
    for (int i = 0; i < g->brank; i++)
        g->out_dims[g->out_rank++] = g->bdims[i];
    if (ar > 1)
        g->out_dims[g->out_rank++] = g->M;
    if (br > 1)
        g->out_dims[g->out_rank++] = g->N;
    /* lm_kout bounds the output's size; batch is only used when it is nonempty. */
    int64_t cnt = lm_dims_count(g->out_rank, g->out_dims);
    if (cnt < 0)
        return lm_kinvalid(k, "matmul output is too large");
    /* With M, N >= 1 the batch count is at most the (bounded) output count. */
    g->batch = 0;
    if (cnt > 0 && g->M > 0 && g->N > 0) {
        g->batch = 1;
        for (int i = 0; i < g->brank; i++)
            g->batch *= g->bdims[i];
    }
    return LOOM_OK;
}

/* Matrix indices of A and B for output matrix @t. */
static void mm_batch_offsets(const mm_geom *g, int64_t t, int64_t *am, int64_t *bm)
{
    int64_t a = 0, b = 0;
    for (int i = g->brank - 1; i >= 0; i--) {
        int64_t idx = t % g->bdims[i];
        t /= g->bdims[i];
        a += idx * g->a_bstr[i];
        b += idx * g->b_bstr[i];
    }
    *am = a;
    *bm = b;
}

/* How a scale or zero point of a matmul operand is laid out. */
enum { QP_SINGLE, QP_VEC, QP_BATCHED };

/*
 * For A (per-row): one value, [M], or A's shape with the last dimension 1.
 * For B (per-column): one value, [N], or B's shape with dimension -2 equal to 1.
 */
static loom_status mm_qparam_kind(lm_kctx *k, const char *what, const loom_tensor *p,
                                  const loom_tensor *op, bool is_a, const mm_geom *g, int *kind)
{
    if (is_single(p)) {
        *kind = QP_SINGLE;
        return LOOM_OK;
    }
    int64_t want = is_a ? g->M : g->N;
    if (op->rank >= 2 && p->rank == 1 && p->dims[0] == want) {
        *kind = QP_VEC;
        return LOOM_OK;
    }
    if (op->rank >= 2 && p->rank == op->rank) {
        bool ok = true;
        for (int i = 0; i < op->rank; i++) {
            int64_t w = op->dims[i];
            if ((is_a && i == op->rank - 1) || (!is_a && i == op->rank - 2))
                w = 1;
            ok = ok && p->dims[i] == w;
        }
        if (ok) {
            *kind = QP_BATCHED;
            return LOOM_OK;
        }
    }
    char buf[128];
    return lm_kunsupported(k, "%s of shape %s is neither one value nor per-%s (%lld values)", what,
                           lm_dims_str(p->rank, p->dims, buf, sizeof(buf)), is_a ? "row" : "column",
                           (long long)want);
}

/* Offset into a parameter array for matrix @mat of its operand. */
static int64_t qp_offset(int kind, int64_t mat, int64_t per)
{
    return kind == QP_BATCHED ? mat * per : 0;
}

/* Output tiles handed to the int8 GEMM: each packs its share of the
 * activations, so tiles span all rows (mm_rows) when there are enough column
 * tiles to keep the threads busy; MM_TM is a multiple of every kernel's rows
 * so packed weights are used in place. */
#define MM_TM 96

static int64_t mm_rows(int64_t M, int64_t N)
{
    return (N + MM_TN - 1) / MM_TN >= 4 || M <= MM_TM ? (M > 0 ? M : 1) : MM_TM;
}

typedef struct mm_job {
    const mm_geom *g;
    const uint8_t *a, *b; /* raw bytes: the element type is in the qgemm flags */
    bool a_signed, b_signed;
    int32_t *acc; /* [batch, M, N] */
    const int32_t *a_zp, *b_zp;
    int a_zk, b_zk;
    int64_t mt, nt;            /* tiles per matrix */
    int64_t tm;                /* rows per tile */
    const lm_qgemm_packed *pb; /* B packed at plan time, or NULL */
    /* requantization (QLinearMatMul); y == NULL for MatMulInteger */
    void *y;
    bool y_signed;
    const float *a_s, *b_s, *y_s;
    int a_sk, b_sk, y_sk;
    const int32_t *y_zp;
    /* float epilogue (loom.MatMulIntegerScaled): yf = (float)acc * fs (+ fb),
     * fs and fb one value or one per column; yf == NULL otherwise */
    float *yf;
    const float *fs, *fb;
    bool fs_cols, fb_cols;
} mm_job;

/* Multipliers of columns [n0, n1) for row scale @sa and output scale @sy:
 * (sa * bs[c]) / sy in that order, which is how ONNX Runtime rounds the
 * product of the three scales. */
static void col_mults(float *m, const float *bs, int64_t n0, int64_t n1, float sa, float sy)
{
    for (int64_t c = n0; c < n1; c++)
        m[c - n0] = sa * bs[c] / sy;
}

/* Requantizes rows [m0, m1) x columns [n0, n1) of output matrix @t; per-column
 * multipliers are computed once per tile unless A's or y's scale varies by row. */
static void mm_requant(const mm_job *j, int64_t t, int64_t am, int64_t bm, int64_t m0, int64_t m1,
                       int64_t n0, int64_t n1)
{
    const mm_geom *g = j->g;
    float qlo = j->y_signed ? -128.0f : 0.0f, qhi = j->y_signed ? 127.0f : 255.0f;
    const float *as = j->a_s + qp_offset(j->a_sk, am, g->M);
    const float *bs = j->b_s + qp_offset(j->b_sk, bm, g->N);
    bool per_col = j->b_sk != QP_SINGLE;
    bool row_varies = j->a_sk != QP_SINGLE || j->y_sk != QP_SINGLE;
    float mult[MM_TN];
    if (per_col && !row_varies)
        col_mults(mult, bs, n0, n1, as[0], j->y_s[0]);
    for (int64_t i = m0; i < m1; i++) {
        float sa = as[j->a_sk == QP_SINGLE ? 0 : i];
        float sy = j->y_s[j->y_sk == QP_SINGLE ? 0 : i];
        int32_t z = j->y_zp[j->y_sk == QP_SINGLE ? 0 : i];
        const int32_t *acc = j->acc + (t * g->M + i) * g->N + n0;
        uint8_t *y = (uint8_t *)j->y + (t * g->M + i) * g->N + n0;
        float lo = qlo - (float)z, hi = qhi - (float)z;
        if (per_col && row_varies)
            col_mults(mult, bs, n0, n1, sa, sy);
        if (!per_col && j->y_signed)
            lm_q_requant_row_s8(acc, (int8_t *)y, n1 - n0, 0, sa * bs[0] / sy, lo, hi, z);
        else if (!per_col)
            lm_q_requant_row_u8(acc, y, n1 - n0, 0, sa * bs[0] / sy, lo, hi, z);
        else if (j->y_signed)
            lm_q_requant_cols_s8(acc, (int8_t *)y, n1 - n0, mult, lo, hi, z);
        else
            lm_q_requant_cols_u8(acc, y, n1 - n0, mult, lo, hi, z);
    }
}

/* The float epilogue of rows [m0, m1) x columns [n0, n1) of matrix @t:
 * Cast, Mul and Add as those operators compute them, one rounding each. */
static void mm_scale(const mm_job *j, int64_t t, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    const mm_geom *g = j->g;
    float s1 = j->fs[0], b1 = j->fb ? j->fb[0] : 0.0f;
    for (int64_t i = m0; i < m1; i++) {
        int64_t row = (t * g->M + i) * g->N + n0;
        lm_q_scale_row(j->acc + row, j->yf + row, n1 - n0, s1, j->fs_cols ? j->fs + n0 : NULL, b1,
                       j->fb_cols ? j->fb + n0 : NULL, j->fb != NULL);
    }
}

static void mm_run(void *arg, int64_t begin, int64_t end)
{
    const mm_job *j = arg;
    const mm_geom *g = j->g;
    for (int64_t u = begin; u < end; u++) {
        int64_t t = u / (j->mt * j->nt), r = u % (j->mt * j->nt);
        int64_t m0 = (r / j->nt) * j->tm, n0 = (r % j->nt) * MM_TN;
        int64_t m1 = m0 + j->tm < g->M ? m0 + j->tm : g->M;
        int64_t n1 = n0 + MM_TN < g->N ? n0 + MM_TN : g->N;
        int64_t am, bm;
        mm_batch_offsets(g, t, &am, &bm);
        lm_qgemm_params p = {
            .m = g->M,
            .n = g->N,
            .k = g->K,
            .a = j->a + am * g->M * g->K,
            .lda = g->K,
            .a_signed = j->a_signed,
            .b = j->b + bm * g->K * g->N,
            .ldb = g->N,
            .b_signed = j->b_signed,
            .c = j->acc + t * g->M * g->N,
            .ldc = g->N,
            .a_zp = j->a_zp + qp_offset(j->a_zk, am, g->M),
            .a_zp_per_row = j->a_zk != QP_SINGLE,
            .b_zp = j->b_zp + qp_offset(j->b_zk, bm, g->N),
            .b_zp_per_col = j->b_zk != QP_SINGLE,
            .pb = j->pb,
        };
        lm_qgemm_tile(&p, m0, m1, n0, n1);
        if (j->y)
            mm_requant(j, t, am, bm, m0, m1, n0, n1);
        else if (j->yf)
            mm_scale(j, t, m0, m1, n0, n1);
    }
}

static void mm_launch(lm_kctx *k, mm_job *j)
{
    const mm_geom *g = j->g;
    const q_prepared *qp = k->prepared;
    j->pb = qp ? qp->w[0] : NULL;
    j->tm = mm_rows(g->M, g->N);
    j->mt = (g->M + j->tm - 1) / j->tm;
    j->nt = (g->N + MM_TN - 1) / MM_TN;
    int64_t tm = g->M < j->tm ? g->M : j->tm, tn = g->N < MM_TN ? g->N : MM_TN;
    PAR(k, g->batch * j->mt * j->nt,
        (double)tm * (double)tn * ((double)g->K + 4.0) * NS_PER_MAC +
            (double)tn * (double)g->K * NS_PER_BYTE,
        mm_run, j);
}

loom_status lm_op_MatMulInteger(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 4);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1);
    const loom_tensor *azp = lm_kin(k, 2), *bzp = lm_kin(k, 3);
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return lm_kunsupported(k, "inputs must be uint8 or int8, got %s and %s",
                               loom_dtype_name(a->dtype), loom_dtype_name(b->dtype));
    if ((st = check_zp(k, "a_zero_point", azp, NULL, a->dtype)) != LOOM_OK ||
        (st = check_zp(k, "b_zero_point", bzp, NULL, b->dtype)) != LOOM_OK)
        return st;
    mm_geom g;
    if ((st = mm_geometry(k, a, b, &g)) != LOOM_OK)
        return st;
    int azk = QP_SINGLE, bzk = QP_SINGLE;
    if (azp && (st = mm_qparam_kind(k, "a_zero_point", azp, a, true, &g, &azk)) != LOOM_OK)
        return st;
    if (bzp && (st = mm_qparam_kind(k, "b_zero_point", bzp, b, false, &g, &bzk)) != LOOM_OK)
        return st;
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_INT32, g.out_rank, g.out_dims);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry || g.batch == 0)
        return LOOM_OK;

    mm_job j = {.g = &g,
                .a = a->data,
                .b = b->data,
                .a_signed = a->dtype == LOOM_DTYPE_INT8,
                .b_signed = b->dtype == LOOM_DTYPE_INT8,
                .acc = y->data,
                .a_zk = azk,
                .b_zk = bzk};
    j.a_zp = lm_q_zp_to_i32(k, azp, NULL);
    j.b_zp = lm_q_zp_to_i32(k, bzp, NULL);
    if (!j.a_zp || !j.b_zp)
        return LOOM_ERR_NO_MEMORY;
    mm_launch(k, &j);
    return LOOM_OK;
}

loom_status lm_op_QLinearMatMul(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 8, 8);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *a = lm_kin(k, 0), *as = lm_kin(k, 1), *azp = lm_kin(k, 2);
    const loom_tensor *b = lm_kin(k, 3), *bs = lm_kin(k, 4), *bzp = lm_kin(k, 5);
    const loom_tensor *ys = lm_kin(k, 6), *yzp = lm_kin(k, 7);
    if (!is_q8(a->dtype) || !is_q8(b->dtype) || !is_q8(yzp->dtype))
        return lm_kunsupported(k, "a, b and y_zero_point must be uint8 or int8, got %s, %s, %s",
                               loom_dtype_name(a->dtype), loom_dtype_name(b->dtype),
                               loom_dtype_name(yzp->dtype));
    if ((st = check_scale(k, "a_scale", as)) != LOOM_OK ||
        (st = check_scale(k, "b_scale", bs)) != LOOM_OK ||
        (st = check_scale(k, "y_scale", ys)) != LOOM_OK ||
        (st = check_zp(k, "a_zero_point", azp, as, a->dtype)) != LOOM_OK ||
        (st = check_zp(k, "b_zero_point", bzp, bs, b->dtype)) != LOOM_OK ||
        (st = check_zp(k, "y_zero_point", yzp, ys, yzp->dtype)) != LOOM_OK)
        return st;
    mm_geom g;
    if ((st = mm_geometry(k, a, b, &g)) != LOOM_OK)
        return st;
    int ask, bsk, ysk;
    if ((st = mm_qparam_kind(k, "a_scale", as, a, true, &g, &ask)) != LOOM_OK ||
        (st = mm_qparam_kind(k, "b_scale", bs, b, false, &g, &bsk)) != LOOM_OK ||
        (st = mm_qparam_kind(k, "y_scale", ys, a, true, &g, &ysk)) != LOOM_OK)
        return st;
    int azk, bzk;
    if ((st = mm_qparam_kind(k, "a_zero_point", azp, a, true, &g, &azk)) != LOOM_OK ||
        (st = mm_qparam_kind(k, "b_zero_point", bzp, b, false, &g, &bzk)) != LOOM_OK)
        return st;
    if (ysk == QP_BATCHED)
        return lm_kunsupported(k, "y_scale must be one value or per-row [%lld]", (long long)g.M);
    loom_tensor *y = lm_kout(k, 0, yzp->dtype, g.out_rank, g.out_dims);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry || g.batch == 0)
        return LOOM_OK;

    /* batch * M * N is the output's count, which lm_kout has bounded. */
    int32_t *acc = lm_kscratch(k, (size_t)(g.batch * g.M * g.N) * sizeof(int32_t));
    if (!acc)
        return LOOM_ERR_NO_MEMORY;
    mm_job j = {.g = &g,
                .a = a->data,
                .b = b->data,
                .a_signed = a->dtype == LOOM_DTYPE_INT8,
                .b_signed = b->dtype == LOOM_DTYPE_INT8,
                .acc = acc,
                .a_zk = azk,
                .b_zk = bzk,
                .y = y->data,
                .y_signed = yzp->dtype == LOOM_DTYPE_INT8,
                .a_s = as->data,
                .b_s = bs->data,
                .y_s = ys->data,
                .a_sk = ask,
                .b_sk = bsk,
                .y_sk = ysk};
    j.a_zp = lm_q_zp_to_i32(k, azp, NULL);
    j.b_zp = lm_q_zp_to_i32(k, bzp, NULL);
    j.y_zp = lm_q_zp_to_i32(k, yzp, NULL);
    if (!j.a_zp || !j.b_zp || !j.y_zp)
        return LOOM_ERR_NO_MEMORY;
    mm_launch(k, &j);
    return LOOM_OK;
}

/* A scale or bias of loom.MatMulIntegerScaled: one value or one per column;
 * sets *cols for the latter. */
static loom_status check_row_param(lm_kctx *k, const char *what, const loom_tensor *p, int64_t n,
                                   bool *cols)
{
    if (p->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "%s must be float, got %s", what, loom_dtype_name(p->dtype));
    *cols = lm_tensor_count(p) != 1;
    if (*cols && !(p->rank == 1 && p->dims[0] == n))
        return lm_kunsupported(k, "%s must be one value or %lld (one per column)", what,
                               (long long)n);
    return LOOM_OK;
}

/*
 * loom.MatMulIntegerScaled(A, B, a_zero_point, b_zero_point, scale [, bias]):
 * MatMulInteger -> Cast(float) -> Mul(scale) [-> Add(bias)] as fuse_qdyn.c
 * finds it in dynamically quantized models, the float steps applied to each
 * tile as it is computed.
 */
loom_status lm_op_MatMulIntegerScaled(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 5, 6);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1);
    const loom_tensor *azp = lm_kin(k, 2), *bzp = lm_kin(k, 3), *fs = lm_kin(k, 4);
    const loom_tensor *fb = lm_kin(k, 5);
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return lm_kunsupported(k, "inputs must be uint8 or int8, got %s and %s",
                               loom_dtype_name(a->dtype), loom_dtype_name(b->dtype));
    if ((st = check_zp(k, "a_zero_point", azp, NULL, a->dtype)) != LOOM_OK ||
        (st = check_zp(k, "b_zero_point", bzp, NULL, b->dtype)) != LOOM_OK)
        return st;
    mm_geom g;
    if ((st = mm_geometry(k, a, b, &g)) != LOOM_OK)
        return st;
    int azk = QP_SINGLE, bzk = QP_SINGLE;
    bool fs_cols, fb_cols = false;
    if ((azp && (st = mm_qparam_kind(k, "a_zero_point", azp, a, true, &g, &azk)) != LOOM_OK) ||
        (bzp && (st = mm_qparam_kind(k, "b_zero_point", bzp, b, false, &g, &bzk)) != LOOM_OK) ||
        (st = check_row_param(k, "scale", fs, g.N, &fs_cols)) != LOOM_OK ||
        (fb && (st = check_row_param(k, "bias", fb, g.N, &fb_cols)) != LOOM_OK))
        return st;
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, g.out_rank, g.out_dims);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry || g.batch == 0)
        return LOOM_OK;
    int32_t *acc = lm_kscratch(k, (size_t)(g.batch * g.M * g.N) * sizeof(int32_t));
    if (!acc)
        return LOOM_ERR_NO_MEMORY;
    mm_job j = {.g = &g,
                .a = a->data,
                .b = b->data,
                .a_signed = a->dtype == LOOM_DTYPE_INT8,
                .b_signed = b->dtype == LOOM_DTYPE_INT8,
                .acc = acc,
                .a_zk = azk,
                .b_zk = bzk,
                .yf = y->data,
                .fs = fs->data,
                .fb = fb ? fb->data : NULL,
                .fs_cols = fs_cols,
                .fb_cols = fb_cols};
    j.a_zp = lm_q_zp_to_i32(k, azp, NULL);
    j.b_zp = lm_q_zp_to_i32(k, bzp, NULL);
    if (!j.a_zp || !j.b_zp)
        return LOOM_ERR_NO_MEMORY;
    mm_launch(k, &j);
    return LOOM_OK;
}

loom_status lm_prepare_MatMulIntegerScaled(lm_kctx *k)
{
    return lm_q_prepare(k, lm_op_MatMulIntegerScaled, 1, false);
}

loom_status lm_prepare_MatMulInteger(lm_kctx *k)
{
    return lm_q_prepare(k, lm_op_MatMulInteger, 1, false);
}

loom_status lm_prepare_QLinearMatMul(lm_kctx *k)
{
    return lm_q_prepare(k, lm_op_QLinearMatMul, 3, false);
}
