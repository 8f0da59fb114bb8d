/* ops_gemm.c - Gemm and MatMul, and the GEMM launch Conv and ConvTranspose share. */
#include <stdlib.h>

#include "ops_common.h"

/* ---- GEMM family ---- */

void lm_cl_gemm_launch(lm_cl_builder *b, const gemm_args *g)
{
    if (g->M == 0 || g->N == 0 || g->batch == 0)
        return;
    const lm_cl_gemm_cfg *c;
    cl_kernel k = lm_clb_gemm_kernel(b, &c);
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_int(&a, g->M);
    lm_cl_arg_int(&a, g->N);
    lm_cl_arg_int(&a, g->K);
    lm_cl_arg_mem(&a, g->A);
    lm_cl_arg_int(&a, g->a_off);
    lm_cl_arg_int(&a, g->lda);
    lm_cl_arg_int(&a, g->a_bs);
    lm_cl_arg_mem(&a, g->B);
    lm_cl_arg_int(&a, g->b_off);
    lm_cl_arg_int(&a, g->ldb);
    lm_cl_arg_int(&a, g->b_bs);
    lm_cl_arg_mem(&a, g->C);
    lm_cl_arg_int(&a, g->c_off);
    lm_cl_arg_int(&a, g->ldc);
    lm_cl_arg_int(&a, g->c_bs);
    lm_cl_arg_mem(&a, g->bias ? g->bias : g->C);
    lm_cl_arg_int(&a, g->bias_off);
    lm_cl_arg_int(&a, g->bsm);
    lm_cl_arg_int(&a, g->bsn);
    lm_cl_arg_int(&a, g->bias_bs);
    lm_cl_arg_float(&a, g->alpha);
    lm_cl_arg_float(&a, g->bias ? g->beta : 0.0f);
    lm_cl_arg_int(&a, g->act);
    lm_cl_arg_float(&a, g->aa);
    lm_cl_arg_float(&a, g->ab);
    size_t lws[3] = {(size_t)(c->tsn / c->wptn), (size_t)(c->tsm / c->wptm), 1};
    size_t gws[3] = {(size_t)((g->N + c->tsn - 1) / c->tsn) * lws[0],
                     (size_t)((g->M + c->tsm - 1) / c->tsm) * lws[1], (size_t)g->batch};
    lm_clb_launch(b, k, 3, gws, lws);
}

/* A [rows, cols] operand transposed into a dense [cols, rows] buffer: on the
 * host once for a constant, else by a kernel each run. */
static float *transpose_rows(const loom_tensor *c, const void *arg, size_t *n)
{
    const int64_t *rc = arg, rows = rc[0], cols = rc[1];
    float *t = malloc(sizeof(float) * (size_t)(rows * cols > 0 ? rows * cols : 1));
    if (!t)
        return NULL;
    const float *s = c->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++)
            t[q * rows + r] = s[r * cols + q];
    *n = (size_t)(rows * cols);
    return t;
}

static cl_mem transposed(lm_cl_builder *b, int v, int64_t rows, int64_t cols)
{
    if (lm_clb_const(b, v)) {
        int64_t rc[2] = {rows, cols};
        /* rows and cols are the constant's dims: its key already holds them */
        return lm_clb_const_copy(b, v, LM_CL_LAYOUT_TRANSPOSED, transpose_rows, rc);
    }
    cl_mem src = lm_clb_in(b, v), dst = lm_clb_scratch(b, lm_clb_elem(b) * (size_t)(rows * cols));
    cl_kernel k = lm_clb_kernel(b, "transpose2d");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, src);
    lm_cl_arg_mem(&a, dst);
    lm_cl_arg_int(&a, rows);
    lm_cl_arg_int(&a, cols);
    size_t lws[2] = {16, 1};
    size_t gws[2] = {(size_t)((cols + 15) / 16 * 16), (size_t)rows};
    lm_clb_launch(b, k, 2, gws, lws);
    return dst;
}

bool lm_cl_sup_gemm(const lm_node *n, loom_tensor *const *in)
{
    int act;
    float aa, ab;
    if (n->n_in < 2 || n->n_in > 3 || !one_output(n) || !lm_cl_fused_act(n, &act, &aa, &ab))
        return false;
    if (!is_f32(in[0]) || !is_f32(in[1]) || in[0]->rank != 2 || in[1]->rank != 2)
        return false;
    if (n->opset < 7 && lm_node_attr_int(n, "broadcast", 0) == 0 && n->n_in == 3)
        return false; /* C had to be [M, N] then; let the CPU check it */
    if (n->n_in == 3 && n->in[2] >= 0 && (!is_f32(in[2]) || in[2]->rank > 2))
        return false;
    return true;
}

loom_status lm_cl_low_gemm(lm_cl_builder *b, const lm_node *n)
{
    const loom_tensor *ta = lm_clb_shape(b, n->in[0]), *tb = lm_clb_shape(b, n->in[1]);
    bool trans_a = lm_node_attr_int(n, "transA", 0), trans_b = lm_node_attr_int(n, "transB", 0);
    gemm_args g = {.batch = 1,
                   .alpha = lm_node_attr_float(n, "alpha", 1.0f),
                   .beta = lm_node_attr_float(n, "beta", 1.0f)};
    g.M = (int)(trans_a ? ta->dims[1] : ta->dims[0]);
    g.K = (int)(trans_a ? ta->dims[0] : ta->dims[1]);
    g.N = (int)(trans_b ? tb->dims[0] : tb->dims[1]);
    lm_cl_fused_act(n, &g.act, &g.aa, &g.ab);
    g.A = trans_a ? transposed(b, n->in[0], ta->dims[0], ta->dims[1]) : lm_clb_in(b, n->in[0]);
    g.B = trans_b ? transposed(b, n->in[1], tb->dims[0], tb->dims[1]) : lm_clb_in(b, n->in[1]);
    g.lda = g.K;
    g.ldb = g.N;
    g.ldc = g.N;
    if (n->n_in == 3 && n->in[2] >= 0) {
        const loom_tensor *tc = lm_clb_shape(b, n->in[2]);
        int64_t cm = tc->rank == 2 ? tc->dims[0] : 1;
        int64_t cn = tc->rank >= 1 ? tc->dims[tc->rank - 1] : 1;
        g.bias = lm_clb_in(b, n->in[2]);
        g.bsm = cm == 1 ? 0 : (int)cn;
        g.bsn = cn == 1 ? 0 : 1;
    }
    g.C = lm_clb_out(b, n->out[0]);
    lm_cl_gemm_launch(b, &g);
    return lm_clb_error(b);
}

/* MatMul's batch layout: one launch when each side's batch is all or nothing
 * of the output's; else one launch per output matrix, up to this many. */
#define MATMUL_MAX_LAUNCHES 256

typedef struct mm_geom {
    int64_t M, N, K, na, nb, nout;
    int ra, rb, rout; /* batch ranks */
    int64_t bout[MAX_RANK], ba[MAX_RANK], bbb[MAX_RANK];
} mm_geom;

static bool mm_geometry(const loom_tensor *a, const loom_tensor *b, mm_geom *g)
{
    if (a->rank < 1 || b->rank < 1)
        return false;
    g->M = a->rank == 1 ? 1 : a->dims[a->rank - 2];
    g->K = a->dims[a->rank - 1];
    g->N = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    g->ra = a->rank > 2 ? a->rank - 2 : 0;
    g->rb = b->rank > 2 ? b->rank - 2 : 0;
    g->rout = g->ra > g->rb ? g->ra : g->rb;
    g->na = prod(a->dims, 0, g->ra);
    g->nb = prod(b->dims, 0, g->rb);
    g->nout = 1;
    for (int d = 0; d < g->rout; d++) {
        int da = d - (g->rout - g->ra), db = d - (g->rout - g->rb);
        g->ba[d] = da >= 0 ? a->dims[da] : 1;
        g->bbb[d] = db >= 0 ? b->dims[db] : 1;
        g->bout[d] = g->ba[d] > g->bbb[d] ? g->ba[d] : g->bbb[d];
        g->nout *= g->bout[d];
    }
    return true;
}

static bool mm_simple(const mm_geom *g)
{
    return (g->na == g->nout || g->na == 1) && (g->nb == g->nout || g->nb == 1);
}

/*
 * Operand @t as the product sees it: core/fuse_matmul_perm.c may have
 * absorbed a Transpose by @attr's perm into the MatMul (a view the CPU's
 * SGEMM reads in place); here the view is made by a strided copy. False
 * when the perm does not fit @t.
 */
static bool viewed(const lm_node *n, const char *attr, const loom_tensor *t, loom_tensor *v)
{
    const lm_attr *p = lm_node_attr(n, attr);
    *v = *t;
    if (!p)
        return true;
    if (p->n != t->rank)
        return false;
    for (int d = 0; d < t->rank; d++) {
        if (p->ints[d] < 0 || p->ints[d] >= t->rank)
            return false;
        v->dims[d] = t->dims[p->ints[d]];
    }
    return true;
}

/* Copies @x (shaped @t) into @y transposed by @attr's perm. */
static void permute_into(lm_cl_builder *b, const lm_node *n, const char *attr, cl_mem x,
                         const loom_tensor *t, cl_mem y)
{
    const lm_attr *p = lm_node_attr(n, attr);
    loom_tensor v;
    viewed(n, attr, t, &v);
    int64_t xs[MAX_RANK], ys[MAX_RANK], src[MAX_RANK];
    strides_of(t, xs);
    strides_of(&v, ys);
    for (int d = 0; d < t->rank; d++)
        src[d] = xs[p->ints[d]];
    lm_cl_strided_copy(b, x, 0, y, 0, v.rank, v.dims, src, ys);
}

bool lm_cl_sup_matmul(const lm_node *n, loom_tensor *const *in)
{
    int act;
    float aa, ab;
    mm_geom g;
    loom_tensor va, vb;
    if (n->n_in < 2 || n->n_in > 3 || !one_output(n) || !lm_cl_fused_act(n, &act, &aa, &ab) ||
        !is_f32(in[0]) || !is_f32(in[1]) || !viewed(n, "_loom_perm_a", in[0], &va) ||
        !viewed(n, "_loom_perm_b", in[1], &vb) || !mm_geometry(&va, &vb, &g))
        return false;
    const lm_attr *py = lm_node_attr(n, "_loom_perm_y");
    int ry = va.rank > vb.rank ? va.rank : vb.rank;
    if (py && (va.rank < 2 || vb.rank < 2 || py->n != ry))
        return false;
    for (int d = 0; py && d < py->n; d++)
        if (py->ints[d] < 0 || py->ints[d] >= ry)
            return false;
    /* a third input is the [N] bias core/fuse_bias.c moved in from an Add */
    if (n->n_in == 3 && (!is_f32(in[2]) || in[2]->rank != 1 || in[2]->dims[0] != g.N))
        return false;
    return mm_simple(&g) || g.nout <= MATMUL_MAX_LAUNCHES;
}

/* The GEMM launches of a MatMul of geometry @mg: one when the batches line
 * up, else one per output matrix. */
static void gemm_launches(lm_cl_builder *b, gemm_args g, const mm_geom *mg)
{
    if (mm_simple(mg)) {
        if (mg->nb == 1 && mg->na == mg->nout) { /* a Linear layer: rows of all batches at once */
            g.M = (int)(mg->M * mg->na);
            g.batch = 1;
        } else {
            g.batch = (int)mg->nout;
            g.a_bs = mg->na == 1 ? 0 : (int)(mg->M * mg->K);
            g.b_bs = mg->nb == 1 ? 0 : (int)(mg->K * mg->N);
            g.c_bs = (int)(mg->M * mg->N);
        }
        lm_cl_gemm_launch(b, &g);
        return;
    }
    g.batch = 1;
    for (int64_t i = 0; i < mg->nout; i++) {
        int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int d = mg->rout - 1; d >= 0; d--) {
            int64_t c = rem % mg->bout[d];
            rem /= mg->bout[d];
            ia += (mg->ba[d] == 1 ? 0 : c) * sa;
            ib += (mg->bbb[d] == 1 ? 0 : c) * sb;
            sa *= mg->ba[d];
            sb *= mg->bbb[d];
        }
        g.a_off = (int)(ia * mg->M * mg->K);
        g.b_off = (int)(ib * mg->K * mg->N);
        g.c_off = (int)(i * mg->M * mg->N);
        lm_cl_gemm_launch(b, &g);
    }
}

/* Operand @v of @n, made into the view its perm attribute @attr says
 * (scratch) when it has one. */
static cl_mem operand(lm_cl_builder *b, const lm_node *n, int v, const char *attr)
{
    cl_mem x = lm_clb_in(b, v);
    if (!lm_node_has_attr(n, attr))
        return x;
    const loom_tensor *t = lm_clb_shape(b, v);
    cl_mem view = lm_clb_scratch(b, t->nbytes);
    permute_into(b, n, attr, x, t, view);
    return view;
}

loom_status lm_cl_low_matmul(lm_cl_builder *b, const lm_node *n)
{
    mm_geom mg;
    loom_tensor va, vb;
    viewed(n, "_loom_perm_a", lm_clb_shape(b, n->in[0]), &va);
    viewed(n, "_loom_perm_b", lm_clb_shape(b, n->in[1]), &vb);
    mm_geometry(&va, &vb, &mg);
    gemm_args g = {.alpha = 1.0f};
    lm_cl_fused_act(n, &g.act, &g.aa, &g.ab);
    g.M = (int)mg.M;
    g.N = (int)mg.N;
    g.K = (int)mg.K;
    g.lda = g.K;
    g.ldb = g.N;
    g.ldc = g.N;
    g.A = operand(b, n, n->in[0], "_loom_perm_a");
    g.B = operand(b, n, n->in[1], "_loom_perm_b");
    if (n->n_in == 3) { /* per column, shared by every row and batch */
        g.bias = lm_clb_in(b, n->in[2]);
        g.bsn = 1;
        g.beta = 1.0f;
    }
    const lm_attr *py = lm_node_attr(n, "_loom_perm_y");
    const loom_tensor *ty = lm_clb_shape(b, n->out[0]);
    cl_mem y = lm_clb_out(b, n->out[0]);
    g.C = py ? lm_clb_scratch(b, ty->nbytes) : y; /* the product, then its view */
    gemm_launches(b, g, &mg);
    if (py) { /* y = Transpose(Z, py): y[..i..] = Z at index i moved by py */
        loom_tensor z = *ty;
        for (int d = 0; d < ty->rank; d++)
            z.dims[py->ints[d]] = ty->dims[d];
        int64_t zs[MAX_RANK], ys[MAX_RANK], src[MAX_RANK];
        strides_of(&z, zs);
        strides_of(ty, ys);
        for (int d = 0; d < ty->rank; d++)
            src[d] = zs[py->ints[d]];
        lm_cl_strided_copy(b, g.C, 0, y, 0, ty->rank, ty->dims, src, ys);
    }
    return lm_clb_error(b);
}
