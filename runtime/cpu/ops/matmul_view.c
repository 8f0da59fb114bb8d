/*
 * matmul_view.c - float MatMul over transposed views of its operands and
 * result, which core/fuse_matmul_perm.c makes of MatMul(Transpose(A, pa),
 * Transpose(B, pb)) and a Transpose(., py) after it.
 *
 * Attention splits heads with Transpose(0, 2, 1, 3) of [batch, seq, heads,
 * dim] and joins them with the same perm after the product: each a full
 * copy. Every perm here keeps the last axis last, so a head's matrix is a
 * strided view (rows ld apart, elements contiguous) that the SGEMM reads in
 * place and writes through ldc; the batch (and head) dims become offsets.
 */
#include <string.h>

#include "../gemm.h"
#include "activation_epilogue.h"
#include "nn_private.h"

typedef struct mm_view {
    int rank;
    int64_t dims[LOOM_MAX_RANK]; /* of the logical (permuted) operand */
    int64_t st[LOOM_MAX_RANK];   /* its elements' strides in the stored tensor */
} mm_view;

/* @perm (attribute @name, absent: identity) read against a stored tensor of
 * @rank dims; the last axis must stay last. */
static loom_status read_perm(lm_kctx *k, const char *name, int rank, int64_t *perm)
{
    const int64_t *p;
    int n = lm_node_attr_ints(k->node, name, &p);
    for (int i = 0; i < rank; i++)
        perm[i] = i;
    if (n < 0)
        return LOOM_OK;
    if (n != rank)
        return lm_kinvalid(k, "%s has %d entries for rank %d", name, n, rank);
    bool seen[LOOM_MAX_RANK] = {false};
    for (int i = 0; i < rank; i++) {
        if (p[i] < 0 || p[i] >= rank || seen[p[i]])
            return lm_kinvalid(k, "%s is not a permutation", name);
        seen[p[i]] = true;
        perm[i] = p[i];
    }
    if (perm[rank - 1] != rank - 1)
        return lm_kinvalid(k, "%s moves the last axis", name);
    return LOOM_OK;
}

/* The logical operand Transpose(@t, perm of attribute @name). */
static loom_status view_of(lm_kctx *k, const loom_tensor *t, const char *name, mm_view *v)
{
    int64_t perm[LOOM_MAX_RANK], st[LOOM_MAX_RANK];
    if (t->rank < 2)
        return lm_kfail(k, LOOM_ERR_SHAPE, "a transposed MatMul operand needs rank >= 2");
    loom_status s = read_perm(k, name, t->rank, perm);
    if (s)
        return s;
    st[t->rank - 1] = 1;
    for (int i = t->rank - 2; i >= 0; i--)
        st[i] = st[i + 1] * t->dims[i + 1];
    v->rank = t->rank;
    for (int i = 0; i < t->rank; i++) {
        v->dims[i] = t->dims[perm[i]];
        v->st[i] = st[perm[i]];
    }
    return LOOM_OK;
}

typedef struct mmv_job {
    const float *a, *b;
    float *y;
    int64_t M, N, K, lda, ldb, ldc;
    int nbr; /* batch rank */
    int64_t ob[LOOM_MAX_RANK], as[LOOM_MAX_RANK], bs[LOOM_MAX_RANK], ys[LOOM_MAX_RANK];
    const float *bias;
    lm_act act;
} mmv_job;

static void mmv_batches(void *arg, int64_t begin, int64_t end)
{
    const mmv_job *j = arg;
    for (int64_t i = begin; i < end; i++) {
        int64_t rem = i, ao = 0, bo = 0, yo = 0;
        for (int d = j->nbr - 1; d >= 0; d--) {
            int64_t c = rem % j->ob[d];
            rem /= j->ob[d];
            ao += c * j->as[d];
            bo += c * j->bs[d];
            yo += c * j->ys[d];
        }
        lm_sgemm_args g = {.M = j->M,
                           .N = j->N,
                           .K = j->K,
                           .alpha = 1.0f,
                           .A = j->a + ao,
                           .lda = j->lda,
                           .B = j->b + bo,
                           .ldb = j->ldb,
                           .C = j->y + yo,
                           .ldc = j->ldc,
                           .bias = j->bias,
                           .bias_per_col = true,
                           .act = j->act};
        lm_sgemm_run(&g);
    }
}

/* Batch dims of both views broadcast to @j->ob; their strides (0 where a
 * dim of 1 broadcasts) into @j->as / @j->bs. */
static loom_status batch_dims(lm_kctx *k, const mm_view *a, const mm_view *b, mmv_job *j)
{
    int ra = a->rank - 2, rb = b->rank - 2;
    j->nbr = ra > rb ? ra : rb;
    for (int i = 0; i < j->nbr; i++) {
        int ai = i - (j->nbr - ra), bi = i - (j->nbr - rb);
        int64_t da = ai >= 0 ? a->dims[ai] : 1, db = bi >= 0 ? b->dims[bi] : 1;
        if (da != db && da != 1 && db != 1)
            return lm_kfail(k, LOOM_ERR_SHAPE, "batch dims %lld and %lld do not broadcast",
                            (long long)da, (long long)db);
        j->ob[i] = da == 1 ? db : da;
        j->as[i] = da == 1 ? 0 : a->st[ai];
        j->bs[i] = db == 1 ? 0 : b->st[bi];
    }
    return LOOM_OK;
}

/* Y = Transpose(logical product, _loom_perm_y): its stored dims, and the
 * logical dims' strides in it (@j->ys for the batch, ldc for rows). */
static loom_tensor *view_output(lm_kctx *k, mmv_job *j, loom_status *s)
{
    int r = j->nbr + 2;
    int64_t ld[LOOM_MAX_RANK], perm[LOOM_MAX_RANK], yd[LOOM_MAX_RANK], st[LOOM_MAX_RANK];
    memcpy(ld, j->ob, sizeof(int64_t) * (size_t)j->nbr);
    ld[r - 2] = j->M;
    ld[r - 1] = j->N;
    if ((*s = read_perm(k, "_loom_perm_y", r, perm)) != LOOM_OK)
        return NULL;
    for (int i = 0; i < r; i++)
        yd[i] = ld[perm[i]];
    st[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--)
        st[i] = st[i + 1] * yd[i + 1];
    for (int i = 0; i < r; i++) {
        if (perm[i] < j->nbr)
            j->ys[perm[i]] = st[i];
        else if (perm[i] == r - 2)
            j->ldc = st[i];
    }
    loom_tensor *y = lm_kout(k, 0, LOOM_DTYPE_FLOAT, r, yd);
    *s = y ? LOOM_OK : LOOM_ERR_NO_MEMORY;
    return y;
}

loom_status lm_matmul_views(lm_kctx *k)
{
    const loom_tensor *a = lm_kin(k, 0), *b = lm_kin(k, 1), *c = lm_kin(k, 2);
    if (a->dtype != LOOM_DTYPE_FLOAT || b->dtype != LOOM_DTYPE_FLOAT)
        return lm_kunsupported(k, "transposed MatMul operands must be float");
    mm_view va, vb;
    mmv_job j = {.a = a->data, .b = b->data};
    loom_status s;
    if ((s = view_of(k, a, "_loom_perm_a", &va)) || (s = view_of(k, b, "_loom_perm_b", &vb)) ||
        (s = batch_dims(k, &va, &vb, &j)) || (s = lm_kact(k, &j.act)))
        return s;
    j.M = va.dims[va.rank - 2];
    j.K = va.dims[va.rank - 1];
    j.N = vb.dims[vb.rank - 1];
    j.lda = va.st[va.rank - 2];
    j.ldb = vb.st[vb.rank - 2];
    if (vb.dims[vb.rank - 2] != j.K)
        return lm_kfail(k, LOOM_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)j.K,
                        (long long)vb.dims[vb.rank - 2]);
    if (c && (c->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(c) != j.N))
        return lm_kinvalid(k, "the fused bias must be %lld floats", (long long)j.N);
    j.bias = c ? c->data : NULL;
    loom_tensor *y = view_output(k, &j, &s);
    if (!y)
        return s;
    j.y = y->data;
    int64_t nb = lm_dims_count(j.nbr, j.ob);
    if (k->dry || nb <= 0 || j.M == 0 || j.N == 0)
        return LOOM_OK;
    lm_parallel_for(k, nb, 2.0 * (double)j.M * (double)j.N * (double)(j.K > 0 ? j.K : 1) / 20.0,
                    mmv_batches, &j);
    return LOOM_OK;
}
