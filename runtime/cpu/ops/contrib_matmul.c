/*
 * contrib_matmul.c - com.microsoft FusedMatMul: Y = alpha * op(A) op(B),
 * batch dimensions broadcast as MatMul's. ONNX Runtime writes it for a
 * MatMul whose operand is a Transpose, or that a Mul/Div by a scalar scales.
 *
 * transA / transB transpose the last two axes. transBatchA / transBatchB
 * first move axis 0 behind the batch axes (perm 1, ..., r-2, 0, r-1: a
 * [M, b..., K] operand read as [b..., M, K]), as ONNX Runtime's kernel does.
 * Both are strides, not copies: each batch's matrix is read in place with
 * its row stride, and the GEMM applies the transpose and alpha.
 */
#include <string.h>

#include "../gemm.h"

/* One operand as a batch of stored matrices (before op()). */
typedef struct fmm_view {
    int nbatch;             /* batch rank */
    const int64_t *bdims;   /* its batch dims */
    int64_t rows, cols, ld; /* a stored matrix and its row stride */
    int64_t bstride;        /* elements between consecutive batches */
} fmm_view;

typedef struct fmm_job {
    const float *a, *b;
    float *y;
    bool ta, tb;
    int64_t M, N, K, lda, ldb;
    float alpha;
    const int64_t *aoff, *boff; /* per output batch: element offsets into A and B */
} fmm_job;

static void fmm_batches(void *arg, int64_t begin, int64_t end)
{
    const fmm_job *j = arg;
    for (int64_t i = begin; i < end; i++)
        lm_sgemm(j->ta, j->tb, j->M, j->N, j->K, j->alpha, j->a + j->aoff[i], j->lda,
                 j->b + j->boff[i], j->ldb, 0.0f, j->y + i * j->M * j->N, j->N);
}

static fmm_view fmm_view_of(const loom_tensor *t, bool trans_batch)
{
    int r = t->rank;
    fmm_view v = {.nbatch = r - 2, .cols = t->dims[r - 1]};
    if (!trans_batch) {
        v.bdims = t->dims;
        v.rows = t->dims[r - 2];
        v.ld = v.cols;
        v.bstride = v.rows * v.cols;
        return v;
    }
    /* [rows, b..., cols]: a batch's rows are a whole batch block apart */
    v.bdims = t->dims + 1;
    v.rows = t->dims[0];
    v.ld = lm_dims_count(r - 2, v.bdims) * v.cols;
    v.bstride = v.cols;
    return v;
}

/* The output's batch dims @ob (rank *obr) from A's and B's, broadcast;
 * @ab and @bb receive the operands' dims aligned to them. */
static loom_status fmm_batch_dims(lm_kctx *k, const fmm_view *a, const fmm_view *b, int *obr,
                                  int64_t *ab, int64_t *bb, int64_t *ob)
{
    *obr = a->nbatch > b->nbatch ? a->nbatch : b->nbatch;
    for (int i = 0; i < *obr; i++) {
        int ai = i - (*obr - a->nbatch), bi = i - (*obr - b->nbatch);
        ab[i] = ai >= 0 ? a->bdims[ai] : 1;
        bb[i] = bi >= 0 ? b->bdims[bi] : 1;
        if (ab[i] != bb[i] && ab[i] != 1 && bb[i] != 1)
            return lm_kfail(k, LOOM_ERR_SHAPE, "batch dims %lld and %lld do not broadcast",
                            (long long)ab[i], (long long)bb[i]);
        ob[i] = ab[i] == 1 ? bb[i] : ab[i];
    }
    return LOOM_OK;
}

/* Element offsets of each output batch's A and B matrices. */
static void fmm_offsets(const fmm_view *va, const fmm_view *vb, int obr, const int64_t *ab,
                        const int64_t *bb, const int64_t *ob, int64_t nb, int64_t *aoff,
                        int64_t *boff)
{
    for (int64_t i = 0; i < nb; i++) {
        int64_t rem = i, ao = 0, bo = 0, as = va->bstride, bs = vb->bstride;
        for (int d = obr - 1; d >= 0; d--) {
            int64_t c = rem % ob[d];
            rem /= ob[d];
            ao += ab[d] != 1 ? c * as : 0;
            bo += bb[d] != 1 ? c * bs : 0;
            as *= ab[d];
            bs *= bb[d];
        }
        aoff[i] = ao;
        boff[i] = bo;
    }
}

static void fmm_run(lm_kctx *k, fmm_job *j, int64_t nb)
{
    if (j->K == 0) /* an empty sum */
        memset(j->y, 0, (size_t)(nb * j->M * j->N) * sizeof(float));
    else if (nb == 1)
        lm_sgemm_parallel(k, j->ta, j->tb, j->M, j->N, j->K, j->alpha, j->a + j->aoff[0], j->lda,
                          j->b + j->boff[0], j->ldb, 0.0f, j->y, j->N);
    else
        lm_parallel_for(k, nb, 0.2 * (double)(j->M * j->N * j->K), fmm_batches, j);
}

static loom_status op_fused_matmul(lm_kctx *k)
{
    loom_status st = lm_kcheck_arity(k, 2, 2);
    if (st)
        return st;
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1);
    if (a->dtype != LOOM_DTYPE_FLOAT || b->dtype != LOOM_DTYPE_FLOAT || a->rank < 2 || b->rank < 2)
        return lm_kunsupported(k, "A and B must be float32 of rank 2 or more");
    fmm_view va = fmm_view_of(a, lm_node_attr_int(k->node, "transBatchA", 0) != 0);
    fmm_view vb = fmm_view_of(b, lm_node_attr_int(k->node, "transBatchB", 0) != 0);
    fmm_job j = {.a = a->data,
                 .b = b->data,
                 .ta = lm_node_attr_int(k->node, "transA", 0) != 0,
                 .tb = lm_node_attr_int(k->node, "transB", 0) != 0,
                 .lda = va.ld,
                 .ldb = vb.ld,
                 .alpha = lm_node_attr_float(k->node, "alpha", 1.0f)};
    j.M = j.ta ? va.cols : va.rows;
    j.K = j.ta ? va.rows : va.cols;
    j.N = j.tb ? vb.rows : vb.cols;
    int64_t Kb = j.tb ? vb.cols : vb.rows;
    if (j.K != Kb)
        return lm_kfail(k, LOOM_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)j.K,
                        (long long)Kb);
    int obr;
    int64_t ab[LOOM_MAX_RANK], bb[LOOM_MAX_RANK], yd[LOOM_MAX_RANK];
    if ((st = fmm_batch_dims(k, &va, &vb, &obr, ab, bb, yd)))
        return st;
    int64_t nb = lm_dims_count(obr, yd);
    yd[obr] = j.M;
    yd[obr + 1] = j.N;
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, obr + 2, yd);
    if (!y)
        return LM_KOUT_FAILED;
    if (k->dry || nb * j.M * j.N == 0)
        return LOOM_OK;
    int64_t *off = lm_kscratch(k, (size_t)nb * 2 * sizeof(int64_t));
    if (!off)
        return LOOM_ERR_NO_MEMORY;
    fmm_offsets(&va, &vb, obr, ab, bb, yd, nb, off, off + nb);
    j.aoff = off, j.boff = off + nb, j.y = y->data;
    fmm_run(k, &j, nb);
    return LOOM_OK;
}

const lm_op_def lm_ops_contrib_matmul[] = {
    LM_OP_FULL("com.microsoft", "FusedMatMul", op_fused_matmul),
    LM_OP_END,
};
