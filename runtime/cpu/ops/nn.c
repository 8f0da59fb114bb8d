/*
 * nn.c - CPU kernels for Gemm and MatMul. Convolutions live in conv.c,
 * pooling in pool.c, normalizations in norm.c; their window geometry is
 * core's (core/opgeom.h).
 */
#include <stdlib.h>

#include "../gemm.h"
#include "activation_epilogue.h"
#include "nn_private.h"

/* ---- Gemm ----------------------------------------------------------------- */

/* Gemm's and MatMul's per-plan state: the constant operand, packed once in
 * the process and shared (lm_kweights). */
typedef struct gemm_prepared {
    const lm_sgemm_packed *pa, *pb;
} gemm_prepared;

static loom_status op_gemm(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, lm_kopset(k) < 11 ? 3 : 2, 3);
    if (st != LOOM_OK)
        return st;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1), *c = lm_kin(k, 2);
    if (a->dtype != LOOM_DTYPE_FLOAT || b->dtype != LOOM_DTYPE_FLOAT ||
        (c && c->dtype != LOOM_DTYPE_FLOAT))
        return lm_kunsupported(k, "dtype %d: only float32 is supported", (int)a->dtype);
    if (a->rank != 2 || b->rank != 2)
        return lm_kfail(k, LOOM_ERR_SHAPE, "A and B must be 2-D (ranks %d and %d)", a->rank,
                        b->rank);
    bool ta = lm_node_attr_int(k->node, "transA", 0) != 0,
         tb = lm_node_attr_int(k->node, "transB", 0) != 0;
    float alpha = lm_node_attr_float(k->node, "alpha", 1.0f),
          beta = lm_node_attr_float(k->node, "beta", 1.0f);
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t Kb = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K != Kb)
        return lm_kfail(k, LOOM_ERR_SHAPE, "inner dimensions differ: A gives K=%lld, B K=%lld",
                        (long long)K, (long long)Kb);
    int64_t cd[2] = {1, 1};
    if (c) {
        if (c->rank > 2)
            return lm_kfail(k, LOOM_ERR_SHAPE, "C has rank %d > 2", c->rank);
        for (int i = 0; i < c->rank; i++)
            cd[2 - c->rank + i] = c->dims[i];
        if ((cd[0] != 1 && cd[0] != M) || (cd[1] != 1 && cd[1] != N))
            return lm_kfail(k, LOOM_ERR_SHAPE, "C [%lld,%lld] does not broadcast to [%lld,%lld]",
                            (long long)cd[0], (long long)cd[1], (long long)M, (long long)N);
    }
    int64_t yd[2] = {M, N};
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, 2, yd);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    float *yp = y->data;
    lm_act act;
    if ((st = lm_kact(k, &act)) != LOOM_OK)
        return st;
    const gemm_prepared *gp = k->prepared;
    lm_sgemm_args g = {.trans_a = ta,
                       .trans_b = tb,
                       .M = M,
                       .N = N,
                       .K = K,
                       .alpha = alpha,
                       .A = a->data,
                       .lda = a->dims[1],
                       .pa = gp ? gp->pa : NULL,
                       .B = b->data,
                       .ldb = b->dims[1],
                       .pb = gp ? gp->pb : NULL,
                       .C = yp,
                       .ldc = N,
                       .act = act};
    if (c && beta != 0.0f && M > 0 && N > 0) {
        const float *cp = c->data;
        bool row_vec = cd[0] == 1 && (cd[1] == N && N > 1), col_vec = cd[1] == 1 && cd[0] == M;
        if ((row_vec || col_vec) && beta == 1.0f) {
            /* The usual bias: a vector added by the GEMM's epilogue. */
            g.bias = cp;
            g.bias_per_col = row_vec;
        } else {
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    yp[i * N + j] = cp[(cd[0] == 1 ? 0 : i * cd[1]) + (cd[1] == 1 ? 0 : j)];
            g.beta = beta;
        }
    }
    lm_sgemm_run_parallel(k, &g);
    return LOOM_OK;
}

static void gemm_free_prepared(void *state)
{
    free(state);
}

static void free_packed(void *data)
{
    lm_sgemm_packed_free(data);
}

/* What pack_operand() packs: op(X) of a GEMM, X at row stride ld. */
typedef struct pack_job {
    bool a, trans; /* the A operand (else B); X transposed */
    int64_t rows, cols, ld;
    const float *x;
} pack_job;

static loom_status pack_operand(lm_kctx *k, void *arg, void **data, size_t *bytes)
{
    const pack_job *j = arg;
    lm_sgemm_packed *pk = j->a ? lm_sgemm_pack_a(j->trans, j->rows, j->cols, j->x, j->ld)
                               : lm_sgemm_pack_b(j->trans, j->rows, j->cols, j->x, j->ld);
    if (!pk)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory packing the weights");
    *data = pk;
    *bytes = lm_sgemm_packed_bytes(pk);
    return LOOM_OK;
}

/* The shared packed operand of @j, taken from input @in; *@out gets the
 * per-plan state pointing at it. */
static loom_status gemm_share(lm_kctx *k, int in, const pack_job *j, gemm_prepared **out)
{
    gemm_prepared *gp = calloc(1, sizeof(*gp));
    if (!gp)
        return lm_kfail(k, LOOM_ERR_NO_MEMORY, "out of memory packing the weights");
    uint64_t layout = (uint64_t)j->a << 1 | (uint64_t)j->trans;
    const void *pk;
    loom_status st = lm_kweights(k, &in, 1, layout, pack_operand, free_packed, (void *)j, &pk);
    if (st) {
        free(gp);
        return st;
    }
    if (j->a)
        gp->pa = pk;
    else
        gp->pb = pk;
    *out = gp;
    return LOOM_OK;
}

/* Packs the constant operand (the weights, usually B): once per weights in
 * the process, shared by every plan. */
static loom_status gemm_prepare(lm_kctx *k)
{
    loom_status st = op_gemm(k); /* validates and shapes (k->dry is set) */
    if (st != LOOM_OK)
        return st;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1);
    if (!a->data == !b->data)
        return LOOM_OK;
    bool ta = lm_node_attr_int(k->node, "transA", 0) != 0,
         tb = lm_node_attr_int(k->node, "transB", 0) != 0;
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t N = tb ? b->dims[0] : b->dims[1];
    if (M == 0 || N == 0 || K == 0)
        return LOOM_OK;
    pack_job j = b->data ? (pack_job){false, tb, K, N, b->dims[1], b->data}
                         : (pack_job){true, ta, M, K, a->dims[1], a->data};
    gemm_prepared *gp;
    if ((st = gemm_share(k, b->data ? 1 : 0, &j, &gp)))
        return st;
    k->prepared = gp;
    return LOOM_OK;
}

/* ---- MatMul --------------------------------------------------------------- */

typedef struct matmul_job {
    const loom_tensor *a, *b;
    loom_tensor *y;
    int64_t M, N, K;
    const int64_t *aoff, *boff; /* per output batch: element offsets into A and B */
} matmul_job;

static void matmul_f32_batches(void *arg, int64_t begin, int64_t end)
{
    const matmul_job *j = arg;
    const float *a = j->a->data, *b = j->b->data;
    float *y = j->y->data;
    for (int64_t i = begin; i < end; i++)
        lm_sgemm(false, false, j->M, j->N, j->K, 1.0f, a + j->aoff[i], j->K, b + j->boff[i], j->N,
                 0.0f, y + i * j->M * j->N, j->N);
}

/* Plain i-p-j loops for the non-float types: the inner loop is contiguous in B
 * and Y and vectorizes; these types are rare in models. */
#define MATMUL_NAIVE(T)                                                                            \
    static void matmul_##T##_batches(void *arg, int64_t begin, int64_t end)                        \
    {                                                                                              \
        const matmul_job *j = arg;                                                                 \
        const T *ab = j->a->data, *bb = j->b->data;                                                \
        T *yb = j->y->data;                                                                        \
        for (int64_t bi = begin; bi < end; bi++) {                                                 \
            const T *a = ab + j->aoff[bi], *b = bb + j->boff[bi];                                  \
            T *y = yb + bi * j->M * j->N;                                                          \
            for (int64_t i = 0; i < j->M; i++)                                                     \
                for (int64_t p = 0; p < j->K; p++) {                                               \
                    T av = a[i * j->K + p];                                                        \
                    const T *br = b + p * j->N;                                                    \
                    T *yr = y + i * j->N;                                                          \
                    for (int64_t q = 0; q < j->N; q++)                                             \
                        yr[q] += av * br[q];                                                       \
                }                                                                                  \
        }                                                                                          \
    }
MATMUL_NAIVE(double)
MATMUL_NAIVE(int32_t)
MATMUL_NAIVE(int64_t)
MATMUL_NAIVE(uint32_t)
MATMUL_NAIVE(uint64_t)

/*
 * The bias the fusion pass (core/fuse_bias.c) appends to a float MatMul as a
 * third input, from a following Add of a constant [N] vector; added to every
 * row before the epilogue activation. NULL when absent.
 */
static loom_status matmul_bias(lm_kctx *k, const loom_tensor *a, int64_t N, const float **bias)
{
    const loom_tensor *c = k->n_in > 2 ? lm_kin(k, 2) : NULL;
    *bias = NULL;
    if (!c)
        return LOOM_OK;
    if (a->dtype != LOOM_DTYPE_FLOAT || c->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(c) != N)
        return lm_kinvalid(k, "the fused bias must be %lld floats for a float MatMul",
                           (long long)N);
    *bias = c->data;
    return LOOM_OK;
}

static void add_row_bias(float *y, int64_t rows, int64_t N, const float *bias)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < N; j++)
            y[r * N + j] += bias[j];
}

static loom_status op_matmul(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 3);
    if (st != LOOM_OK)
        return st;
    if (lm_matmul_has_views(k->node))
        return lm_matmul_views(k);
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1);
    if (a->dtype != b->dtype)
        return lm_kinvalid(k, "A and B dtypes differ (%d vs %d)", (int)a->dtype, (int)b->dtype);
    lm_range_fn fn;
    switch (a->dtype) {
    case LOOM_DTYPE_FLOAT:
        fn = matmul_f32_batches;
        break;
    case LOOM_DTYPE_DOUBLE:
        fn = matmul_double_batches;
        break;
    case LOOM_DTYPE_INT32:
        fn = matmul_int32_t_batches;
        break;
    case LOOM_DTYPE_INT64:
        fn = matmul_int64_t_batches;
        break;
    case LOOM_DTYPE_UINT32:
        fn = matmul_uint32_t_batches;
        break;
    case LOOM_DTYPE_UINT64:
        fn = matmul_uint64_t_batches;
        break;
    default:
        return lm_kunsupported(k, "dtype %d not supported by MatMul", (int)a->dtype);
    }
    if (a->rank < 1 || b->rank < 1)
        return lm_kfail(k, LOOM_ERR_SHAPE, "MatMul inputs must have rank >= 1 (got %d and %d)",
                        a->rank, b->rank);
    /* numpy: a 1-D A is a row vector, a 1-D B a column vector; both extra dims
     * are dropped from the result. */
    int64_t M = a->rank == 1 ? 1 : a->dims[a->rank - 2], K = a->dims[a->rank - 1];
    int64_t Kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    int64_t N = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (K != Kb)
        return lm_kfail(k, LOOM_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)K,
                        (long long)Kb);
    int abr = a->rank > 2 ? a->rank - 2 : 0, bbr = b->rank > 2 ? b->rank - 2 : 0;
    int obr = abr > bbr ? abr : bbr;
    int64_t ob[LOOM_MAX_RANK], ab[LOOM_MAX_RANK], bb[LOOM_MAX_RANK];
    for (int i = 0; i < obr; i++) {
        int ai = i - (obr - abr), bi = i - (obr - bbr);
        ab[i] = ai >= 0 ? a->dims[ai] : 1;
        bb[i] = bi >= 0 ? b->dims[bi] : 1;
        if (ab[i] != bb[i] && ab[i] != 1 && bb[i] != 1)
            return lm_kfail(k, LOOM_ERR_SHAPE, "batch dims %lld and %lld do not broadcast",
                            (long long)ab[i], (long long)bb[i]);
        ob[i] = ab[i] == 1 ? bb[i] : ab[i];
    }
    int64_t yd[LOOM_MAX_RANK];
    int yr = 0;
    for (int i = 0; i < obr; i++)
        yd[yr++] = ob[i];
    if (a->rank > 1)
        yd[yr++] = M;
    if (b->rank > 1)
        yd[yr++] = N;
    const float *bias;
    if ((st = matmul_bias(k, a, N, &bias)) != LOOM_OK)
        return st;
    loom_tensor *y = lm_kout(k, 0, a->dtype, yr, yd);
    if (!y)
        return LOOM_ERR_NO_MEMORY;
    if (k->dry)
        return LOOM_OK;
    int64_t nb = lm_dims_count(obr, ob);
    if (nb <= 0 || M == 0 || N == 0)
        return LOOM_OK;
    int64_t *aoff = lm_kscratch(k, (size_t)nb * 2 * sizeof(int64_t));
    if (!aoff)
        return LOOM_ERR_NO_MEMORY;
    int64_t *boff = aoff + nb;
    /* Offsets of each output batch's A and B matrices, broadcasting size-1 dims. */
    for (int64_t i = 0; i < nb; i++) {
        int64_t rem = i, ao = 0, bo = 0, as = M * K, bs = K * N;
        for (int d = obr - 1; d >= 0; d--) {
            int64_t c = rem % ob[d];
            rem /= ob[d];
            if (ab[d] != 1)
                ao += c * as;
            if (bb[d] != 1)
                bo += c * bs;
            as *= ab[d];
            bs *= bb[d];
        }
        aoff[i] = ao;
        boff[i] = bo;
    }
    matmul_job job = {a, b, y, M, N, K, aoff, boff};
    lm_act act;
    if ((st = lm_kact(k, &act)) != LOOM_OK)
        return st;
    if (act.kind != LM_ACT_NONE && a->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "fused activation on a dtype %d MatMul", (int)a->dtype);
    if (a->dtype == LOOM_DTYPE_FLOAT) {
        bool b_shared = true, a_dense = true;
        for (int i = 0; i < obr; i++) {
            b_shared = b_shared && bb[i] == 1;
            a_dense = a_dense && ab[i] == ob[i];
        }
        if (b_shared && a_dense) {
            /* One B for every batch and A's batches laid out like Y's: a single
             * (nb*M) x K by K x N product, with B packed at plan time when it
             * is constant. */
            const gemm_prepared *gp = k->prepared;
            lm_sgemm_args g = {.M = nb * M,
                               .N = N,
                               .K = K,
                               .alpha = 1.0f,
                               .A = a->data,
                               .lda = K,
                               .B = b->data,
                               .ldb = N,
                               .pb = gp ? gp->pb : NULL,
                               .C = y->data,
                               .ldc = N,
                               .bias = bias,
                               .bias_per_col = true,
                               .act = act};
            lm_sgemm_run_parallel(k, &g);
            return LOOM_OK;
        }
        if (nb < 4 || M * N * K >= ((int64_t)1 << 20)) {
            for (int64_t i = 0; i < nb; i++) {
                lm_sgemm_args g = {.M = M,
                                   .N = N,
                                   .K = K,
                                   .alpha = 1.0f,
                                   .A = (const float *)a->data + aoff[i],
                                   .lda = K,
                                   .B = (const float *)b->data + boff[i],
                                   .ldb = N,
                                   .C = (float *)y->data + i * M * N,
                                   .ldc = N,
                                   .bias = bias,
                                   .bias_per_col = true,
                                   .act = act};
                lm_sgemm_run_parallel(k, &g);
            }
            return LOOM_OK;
        }
    }
    lm_parallel_for(k, nb, 0.2 * (double)M * (double)N * (double)(K > 0 ? K : 1), fn, &job);
    if (bias)
        add_row_bias(y->data, nb * M, N, bias);
    if (act.kind != LM_ACT_NONE)
        lm_act_apply(&act, y->data, nb * M * N);
    return LOOM_OK;
}

/* Packs a constant 2-D (or 1-D) B once per weights (shared by every plan): the weights of a linear
 * layer exported as MatMul. Batched B's are rare and stay unpacked. */
static loom_status matmul_prepare(lm_kctx *k)
{
    loom_status st = op_matmul(k); /* validates and shapes (k->dry is set) */
    if (st != LOOM_OK)
        return st;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1);
    /* views read their operands in place: nothing to pack */
    if (a->dtype != LOOM_DTYPE_FLOAT || a->data || !b->data || b->rank > 2 ||
        lm_matmul_has_views(k->node))
        return LOOM_OK;
    int64_t K = b->dims[0], N = b->rank == 1 ? 1 : b->dims[1];
    if (K == 0 || N == 0)
        return LOOM_OK;
    pack_job j = {false, false, K, N, N, b->data};
    gemm_prepared *gp;
    if ((st = gemm_share(k, 1, &j, &gp)))
        return st;
    k->prepared = gp;
    return LOOM_OK;
}

const lm_op_def lm_ops_nn[] = {
    {.domain = "",
     .op_type = "Gemm",
     .run = op_gemm,
     .prepare = gemm_prepare,
     .free_prepared = gemm_free_prepared,
     .flags = LM_OP_FUSES_ACTIVATION | LM_OP_WRITES_OUTPUTS},
    {.domain = "",
     .op_type = "MatMul",
     .run = op_matmul,
     .prepare = matmul_prepare,
     .free_prepared = gemm_free_prepared,
     .flags = LM_OP_FUSES_ACTIVATION},
    LM_OP_END,
};
