/*
 * fuse_qdyn.c - the dynamic-quantization matmul tail in the GEMM's epilogue.
 *
 * ONNX Runtime's quantize_dynamic writes every Linear layer as
 *
 *   DynamicQuantizeLinear(x) -> MatMulInteger(xq, W, x_zp, W_zp) -> Cast(float)
 *     -> Mul(., x_scale * W_scale) [-> Add(bias)]
 *
 * which runs as the GEMM plus three passes over its output (an int32 tensor
 * written, read back as float, scaled, then biased). Here it becomes
 * loom.MatMulIntegerScaled(xq, W, x_zp, W_zp, scale [, bias]) (cpu/ops/
 * qmatmul.c), which applies y = (float)acc * scale (+ bias) to each output
 * tile as it is computed: the same float32 operations in the same order, so
 * the same bits. The scale must be one value or one per column, which holds
 * when it is a product of DynamicQuantizeLinear's scale (one value) and
 * constants of those shapes; the bias a constant of either shape too.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuse.h"
#include "fuse_internal.h"
#include "op.h"

/* A constant of one value or of @n values along one axis (rank 1). */
static bool row_shaped(const loom_tensor *c, int64_t n)
{
    return c && c->dtype == LOOM_DTYPE_FLOAT &&
           (lm_tensor_count(c) == 1 || (c->rank == 1 && c->dims[0] == n));
}

/* Whether @v is one value or one per column (of @n): DynamicQuantizeLinear's
 * scale, such a constant, or a Mul of those. */
static bool scale_shaped(const fuse_ctx *f, int v, int64_t n, int depth)
{
    const lm_value *val = &f->g->values[v];
    if (val->constant)
        return row_shaped(val->constant, n);
    int p = val->producer;
    if (p < 0 || f->dead[p] || depth > 2)
        return false;
    const lm_node *pn = &f->g->nodes[p];
    if (lm_fuse_is_op(pn, "DynamicQuantizeLinear"))
        return pn->n_out > 1 && pn->out[1] == v;
    return lm_fuse_is_op(pn, "Mul") && pn->n_in == 2 && scale_shaped(f, pn->in[0], n, depth + 1) &&
           scale_shaped(f, pn->in[1], n, depth + 1);
}

/* The MatMulInteger becomes the fused op reading @in, writing @out. */
static loom_status become_scaled(lm_node *mm, const int *in, int n_in, int out)
{
    const lm_op_def *def = lm_op_find("loom", "MatMulIntegerScaled");
    if (!def)
        return LOOM_OK;
    char *domain = strdup("loom"), *type = strdup("MatMulIntegerScaled");
    int *ins = malloc(sizeof(int) * (size_t)n_in);
    if (!domain || !type || !ins) {
        free(domain);
        free(type);
        free(ins);
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory rewriting '%s'", mm->name);
    }
    memcpy(ins, in, sizeof(int) * (size_t)n_in);
    free(mm->in);
    free(mm->domain);
    free(mm->op_type);
    mm->in = ins;
    mm->n_in = n_in;
    mm->domain = domain;
    mm->op_type = type;
    mm->op = def;
    mm->out[0] = out;
    return LOOM_OK;
}

static loom_status fuse_one(fuse_ctx *f, int mi)
{
    lm_graph *g = f->g;
    lm_node *mm = &g->nodes[mi];
    const loom_tensor *w = mm->n_in > 1 && mm->in[1] >= 0 ? g->values[mm->in[1]].constant : NULL;
    if (!w || w->rank != 2 || mm->n_out != 1)
        return LOOM_OK;
    int64_t n = w->dims[1];
    int ci = lm_fuse_consumer_op(f, mi, "Cast");
    if (ci < 0 || lm_node_attr_int(&g->nodes[ci], "to", 0) != LOOM_DTYPE_FLOAT)
        return LOOM_OK;
    int ui = lm_fuse_consumer_op(f, ci, "Mul");
    if (ui < 0)
        return LOOM_OK;
    const lm_node *mul = &g->nodes[ui];
    int scale = lm_fuse_other_input(mul, g->nodes[ci].out[0]);
    if (scale < 0 || mul->in[0] == mul->in[1] || !scale_shaped(f, scale, n, 0))
        return LOOM_OK;
    int in[6] = {mm->in[0], mm->in[1], mm->n_in > 2 ? mm->in[2] : -1, mm->n_in > 3 ? mm->in[3] : -1,
                 scale,     -1};
    int out = mul->out[0], ai = lm_fuse_consumer_op(f, ui, "Add");
    if (ai >= 0) {
        int bias = lm_fuse_other_input(&g->nodes[ai], out);
        if (bias >= 0 && row_shaped(g->values[bias].constant, n)) {
            in[5] = bias;
            out = g->nodes[ai].out[0];
            f->dead[ai] = true;
        }
    }
    loom_status s = become_scaled(mm, in, in[5] >= 0 ? 6 : 5, out);
    if (s || strcmp(mm->op_type, "MatMulIntegerScaled") != 0) {
        if (in[5] >= 0)
            f->dead[ai] = false;
        return s;
    }
    f->dead[ci] = f->dead[ui] = true;
    lm_last_fuse_stats.qdq_fused++;
    return LOOM_OK;
}

loom_status lm_fuse_qdyn(fuse_ctx *f)
{
    lm_fuse_count_readers(f);
    for (int i = 0; i < f->g->n_nodes; i++) {
        if (f->dead[i] || !lm_fuse_is_op(&f->g->nodes[i], "MatMulInteger"))
            continue;
        loom_status s = fuse_one(f, i);
        if (s)
            return s;
    }
    lm_fuse_count_readers(f);
    return LOOM_OK;
}
