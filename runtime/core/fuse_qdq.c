/*
 * fuse_qdq.c - turns QDQ patterns into the int8 operators they describe.
 *
 * Quantizers such as ONNX Runtime's write int8 models in QDQ form: every float
 * operator is wrapped in DequantizeLinear on its inputs and QuantizeLinear on
 * its output. Run as written, that is float math with extra conversions. Here
 *
 *   DQ(x) --+
 *   DQ(W) --+-- Conv [-- Relu] -- Q  =>  QLinearConv [-- Max(., y_zero_point)]
 *   DQ(B) --+
 *
 * and the same for MatMul => QLinearMatMul (no bias), whose B is either
 * constant weights or, per tensor, another activation (attention's Q x K^T
 * and softmax x V, batched over heads). Relu after the operator
 * is exact in the quantized domain: Q(relu(v)) = max(Q(v), Q(0)) = max(Q(v), zp).
 * Two more patterns keep the residual and pooling layers in 8 bits:
 *
 *   DQ(a), DQ(b) -> Add -> Q     =>  loom.QDQAdd (same float32 steps, fused)
 *   DQ -> MaxPool -> Q           =>  loom.QMaxPool on the 8-bit tensor (equal params)
 *
 * and ops that only move elements run on the 8-bit tensor itself, as ONNX
 * Runtime's quantizer means them to when it gives both sides one scale:
 *
 *   DQ -> Reshape|Transpose|Squeeze|Unsqueeze|Flatten -> Q  =>  the op (equal params)
 *
 * The rewrite applies only when scales and zero points are constants of the
 * shapes the int8 operators take, and the float result before Q has one reader.
 * The input DequantizeLinear may have other readers (a residual tensor feeds a
 * convolution and an Add): the int8 operator reads its 8-bit input directly and
 * the DequantizeLinear stays only while something else still reads it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "error.h"
#include "fuse.h"
#include "fuse_internal.h"

/* The producer of value @v if it is a live node of type @op, else NULL. */
static lm_node *producer_op(fuse_ctx *f, int v, const char *op)
{
    if (v < 0)
        return NULL;
    int p = f->g->values[v].producer;
    if (p < 0 || f->dead[p] || !lm_fuse_is_op(&f->g->nodes[p], op))
        return NULL;
    return &f->g->nodes[p];
}

static const loom_tensor *constant(const fuse_ctx *f, const lm_node *n, int i)
{
    return i < n->n_in && n->in[i] >= 0 ? f->g->values[n->in[i]].constant : NULL;
}

static bool is_8bit(loom_dtype dt)
{
    return dt == LOOM_DTYPE_UINT8 || dt == LOOM_DTYPE_INT8;
}

/* A new constant zero of @dtype named after @owner, shaped like @scale (the
 * int8 kernels want a zero point of its scale's shape: one per channel for
 * per-channel weights); its value id, or -1. */
static int zero_point(fuse_ctx *f, loom_dtype dtype, const char *owner, const loom_tensor *scale)
{
    loom_tensor *zero = lm_tensor_new(dtype, scale->rank, scale->dims);
    char name[300];
    snprintf(name, sizeof(name), "%s/zero_point", owner);
    int v = zero ? lm_fuse_add_constant(f->g, name, zero) : -1;
    if (v < 0)
        loom_tensor_destroy(zero);
    return v;
}

/* A per-tensor (de)quantizer: constant float scalar scale, 8-bit scalar zero
 * point (or none). Sets the zero point's value id, creating a zero of @dtype. */
static bool per_tensor_params(fuse_ctx *f, lm_node *q, loom_dtype dtype, int *scale, int *zp)
{
    const loom_tensor *s = constant(f, q, 1), *z = constant(f, q, 2);
    if (!s || s->dtype != LOOM_DTYPE_FLOAT || lm_tensor_count(s) != 1)
        return false;
    if (q->n_in > 2 && q->in[2] >= 0 && (!z || !is_8bit(z->dtype) || lm_tensor_count(z) != 1))
        return false;
    *scale = q->in[1];
    if (z) {
        *zp = q->in[2];
        return true;
    }
    return is_8bit(dtype) && (*zp = zero_point(f, dtype, q->name, s)) >= 0;
}

/* dtype of the 8-bit tensor a DequantizeLinear reads. */
static loom_dtype dq_input_dtype(const fuse_ctx *f, const lm_node *dq)
{
    const loom_tensor *z = constant(f, dq, 2);
    if (z)
        return z->dtype;
    const loom_tensor *c = constant(f, dq, 0);
    if (c)
        return c->dtype;
    return f->g->values[dq->in[0]].dtype;
}

/* Weights: constant 8-bit tensor, scale and zero point scalar or one per
 * channel along @axis (the only per-channel layout the int8 operator takes). */
static bool weight_params(fuse_ctx *f, lm_node *dq, int axis, int64_t channels)
{
    const loom_tensor *w = constant(f, dq, 0), *s = constant(f, dq, 1), *z = constant(f, dq, 2);
    if (!w || !is_8bit(w->dtype) || !s || s->dtype != LOOM_DTYPE_FLOAT)
        return false;
    int64_t n = lm_tensor_count(s);
    if (n != 1) {
        const lm_attr *a = lm_node_attr(dq, "axis");
        int ax = a ? (int)a->i : 1;
        if (ax < 0)
            ax += w->rank;
        if (ax != axis || n != channels || s->rank != 1)
            return false;
    }
    if (dq->n_in > 2 && dq->in[2] >= 0 && (!z || z->dtype != w->dtype || lm_tensor_count(z) != n))
        return false;
    return true;
}

/* Finds the QuantizeLinear after @op (maybe through Relu). */
static lm_node *output_quantizer(fuse_ctx *f, lm_node *op, lm_node **relu)
{
    *relu = NULL;
    int c = lm_fuse_sole_consumer(f, op);
    if (c < 0)
        return NULL;
    lm_node *next = &f->g->nodes[c];
    if (lm_fuse_is_op(next, "Relu")) {
        *relu = next;
        c = lm_fuse_sole_consumer(f, next);
        if (c < 0)
            return NULL;
        next = &f->g->nodes[c];
    }
    if (!lm_fuse_is_op(next, "QuantizeLinear") || next->n_out < 1 || next->out[0] < 0)
        return NULL;
    return next;
}

/* Int32 bias for QLinearConv: DQ(int32) whose scale is x_scale * w_scale. */
static int bias_value(fuse_ctx *f, lm_node *conv, const loom_tensor *xs, const loom_tensor *ws)
{
    if (conv->n_in < 3 || conv->in[2] < 0)
        return -1;
    lm_node *dq = producer_op(f, conv->in[2], "DequantizeLinear");
    const loom_tensor *b = dq ? constant(f, dq, 0) : NULL, *bs = dq ? constant(f, dq, 1) : NULL;
    const loom_tensor *bz = dq ? constant(f, dq, 2) : NULL;
    if (!b || b->dtype != LOOM_DTYPE_INT32 || !bs || bs->dtype != LOOM_DTYPE_FLOAT)
        return -2;
    if (bz && lm_tensor_count(bz) > 0)
        for (int64_t i = 0; i < lm_tensor_count(bz); i++)
            if (lm_tensor_get_i64(bz, i) != 0)
                return -2;
    int64_t n = lm_tensor_count(b), nws = lm_tensor_count(ws), nbs = lm_tensor_count(bs);
    float x = *(const float *)xs->data;
    for (int64_t c = 0; c < n; c++) {
        float want = x * ((const float *)ws->data)[nws == 1 ? 0 : c];
        float got = ((const float *)bs->data)[nbs == 1 ? 0 : c];
        if (fabsf(got - want) > 1e-6f * fabsf(want))
            return -2; /* a bias on another scale would need rescaling */
    }
    return dq->in[0];
}

/* Replaces @op's domain with @domain (a copy). */
static loom_status set_domain(lm_node *op, const char *domain)
{
    if (strcmp(op->domain, domain) == 0)
        return LOOM_OK;
    char *d = strdup(domain);
    if (!d)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory rewriting '%s'", op->name);
    free(op->domain);
    op->domain = d;
    return LOOM_OK;
}

static loom_status rewrite(fuse_ctx *f, lm_node *op, const char *domain, const char *qop, int *in,
                           int n_in, lm_node *relu, lm_node *q, int y_zp)
{
    const lm_op_def *def = lm_op_find(domain, qop);
    if (!def)
        return LOOM_OK; /* no int8 kernel: leave the float graph */
    loom_status st = set_domain(op, domain);
    if (st != LOOM_OK)
        return st;
    if (n_in > op->n_in) {
        int *grown = realloc(op->in, sizeof(int) * (size_t)n_in);
        if (!grown)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory rewriting '%s'", op->name);
        op->in = grown;
    }
    char *type = strdup(qop);
    if (!type)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory rewriting '%s'", op->name);
    memcpy(op->in, in, sizeof(int) * (size_t)n_in);
    op->n_in = n_in;
    free(op->op_type);
    op->op_type = type;
    op->op = def;
    f->dead[q - f->g->nodes] = true;
    if (!relu) {
        op->out[0] = q->out[0];
        return LOOM_OK;
    }
    /* Relu becomes Max(y, y_zero_point) on the quantized output; op's output
     * value (a float before) now carries the int8 result. */
    if (relu->n_in < 2) {
        int *grown = realloc(relu->in, sizeof(int) * 2);
        if (!grown)
            return lm_error(LOOM_ERR_NO_MEMORY, "out of memory rewriting '%s'", relu->name);
        relu->in = grown;
    }
    char *max = strdup("Max");
    if (!max)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory rewriting '%s'", relu->name);
    relu->in[0] = op->out[0];
    relu->in[1] = y_zp;
    relu->n_in = 2;
    relu->out[0] = q->out[0];
    free(relu->op_type);
    relu->op_type = max;
    relu->op = lm_op_find("", "Max");
    return LOOM_OK;
}

static loom_status fuse_conv(fuse_ctx *f, lm_node *conv)
{
    lm_node *xdq = producer_op(f, conv->in[0], "DequantizeLinear");
    lm_node *wdq = conv->n_in > 1 ? producer_op(f, conv->in[1], "DequantizeLinear") : NULL;
    if (!xdq || !wdq)
        return LOOM_OK;
    const loom_tensor *w = constant(f, wdq, 0);
    if (!w || w->rank < 3 || !weight_params(f, wdq, 0, w->dims[0]))
        return LOOM_OK;
    lm_node *relu, *q = output_quantizer(f, conv, &relu);
    if (!q)
        return LOOM_OK;
    int xs, xz, ys, yz;
    loom_dtype xdt = dq_input_dtype(f, xdq);
    const loom_tensor *yzt = constant(f, q, 2);
    loom_dtype ydt = yzt ? yzt->dtype : LOOM_DTYPE_UINT8;
    if (!per_tensor_params(f, xdq, xdt, &xs, &xz) || !per_tensor_params(f, q, ydt, &ys, &yz))
        return LOOM_OK;
    int ws = wdq->in[1], wz = wdq->n_in > 2 && wdq->in[2] >= 0 ? wdq->in[2] : -1;
    if (wz < 0 && (wz = zero_point(f, w->dtype, wdq->name, f->g->values[ws].constant)) < 0)
        return lm_error(LOOM_ERR_NO_MEMORY, "out of memory");
    int bias = bias_value(f, conv, f->g->values[xs].constant, f->g->values[ws].constant);
    if (bias == -2)
        return LOOM_OK;
    int in[9] = {xdq->in[0], xs, xz, wdq->in[0], ws, wz, ys, yz, bias};
    f->g->values[conv->out[0]].dtype = ydt;
    loom_status s = rewrite(f, conv, "", "QLinearConv", in, bias >= 0 ? 9 : 8, relu, q, yz);
    if (!s)
        lm_last_fuse_stats.qdq_fused++;
    return s;
}

/* B's scale and zero point: constant weights (per tensor or per column), or
 * an activation (per tensor; the GEMM packs it per run), as in attention's
 * Q x K^T and softmax x V. Sets the value ids; false if neither fits. */
static bool matmul_b_params(fuse_ctx *f, lm_node *bdq, int *bs, int *bz)
{
    const loom_tensor *b = constant(f, bdq, 0);
    if (!b)
        return per_tensor_params(f, bdq, dq_input_dtype(f, bdq), bs, bz);
    if (b->rank != 2 || !weight_params(f, bdq, 1, b->dims[1]))
        return false;
    *bs = bdq->in[1];
    *bz = bdq->n_in > 2 && bdq->in[2] >= 0 ? bdq->in[2] : -1;
    if (*bz < 0)
        *bz = zero_point(f, b->dtype, bdq->name, constant(f, bdq, 1));
    return *bz >= 0;
}

static loom_status fuse_matmul(fuse_ctx *f, lm_node *mm)
{
    lm_node *adq = producer_op(f, mm->in[0], "DequantizeLinear");
    lm_node *bdq = mm->n_in > 1 ? producer_op(f, mm->in[1], "DequantizeLinear") : NULL;
    if (!adq || !bdq)
        return LOOM_OK;
    lm_node *relu, *q = output_quantizer(f, mm, &relu);
    if (!q)
        return LOOM_OK;
    int as, az, bs, bz, ys, yz;
    const loom_tensor *yzt = constant(f, q, 2);
    loom_dtype ydt = yzt ? yzt->dtype : LOOM_DTYPE_UINT8;
    if (!per_tensor_params(f, adq, dq_input_dtype(f, adq), &as, &az) ||
        !per_tensor_params(f, q, ydt, &ys, &yz) || !matmul_b_params(f, bdq, &bs, &bz))
        return LOOM_OK;
    int in[8] = {adq->in[0], as, az, bdq->in[0], bs, bz, ys, yz};
    f->g->values[mm->out[0]].dtype = ydt;
    loom_status s = rewrite(f, mm, "", "QLinearMatMul", in, 8, relu, q, yz);
    if (!s)
        lm_last_fuse_stats.qdq_fused++;
    return s;
}

/* DQ(a), DQ(b) -> Add -> Q  =>  loom.QDQAdd (qadd.c), which runs the same
 * float32 steps per element without the float tensors. */
static loom_status fuse_add(fuse_ctx *f, lm_node *add)
{
    lm_node *adq = producer_op(f, add->in[0], "DequantizeLinear");
    lm_node *bdq = producer_op(f, add->in[1], "DequantizeLinear");
    if (!adq || !bdq)
        return LOOM_OK;
    lm_node *relu, *q = output_quantizer(f, add, &relu);
    if (!q || relu)
        return LOOM_OK;
    int as, az, bs, bz, ys, yz;
    const loom_tensor *yzt = constant(f, q, 2);
    loom_dtype ydt = yzt ? yzt->dtype : LOOM_DTYPE_UINT8;
    if (!per_tensor_params(f, adq, dq_input_dtype(f, adq), &as, &az) ||
        !per_tensor_params(f, bdq, dq_input_dtype(f, bdq), &bs, &bz) ||
        !per_tensor_params(f, q, ydt, &ys, &yz))
        return LOOM_OK;
    int in[8] = {adq->in[0], as, az, bdq->in[0], bs, bz, ys, yz};
    f->g->values[add->out[0]].dtype = ydt;
    loom_status s = rewrite(f, add, "loom", "QDQAdd", in, 8, NULL, q, yz);
    if (!s)
        lm_last_fuse_stats.qdq_fused++;
    return s;
}

/* A scale for which Q(DQ(q)) == q for every 8-bit q: normal, and small
 * enough that 255 * scale stays finite; then (q - zp) * s / s rounds back to
 * q - zp exactly. */
static bool round_trips(const loom_tensor *s)
{
    float v = *(const float *)s->data;
    return isnormal(v) && v > 0.0f && v < 1e30f;
}

static bool same_scalar(const loom_tensor *a, const loom_tensor *b)
{
    if (!a || !b)
        return a == b;
    return a->dtype == b->dtype && lm_tensor_count(a) == 1 && lm_tensor_count(b) == 1 &&
           memcmp(a->data, b->data, loom_dtype_size(a->dtype)) == 0;
}

/* Whether DQ @xdq and Q @q quantize alike: one constant scale that survives
 * the round trip, equal zero points, one 8-bit type. Then Q(DQ(q)) == q. */
static bool same_quantization(fuse_ctx *f, lm_node *xdq, lm_node *q)
{
    const loom_tensor *xs = constant(f, xdq, 1), *ys = constant(f, q, 1);
    const loom_tensor *xz = constant(f, xdq, 2), *yz = constant(f, q, 2);
    bool xz_in = xdq->n_in > 2 && xdq->in[2] >= 0, yz_in = q->n_in > 2 && q->in[2] >= 0;
    loom_dtype xdt = dq_input_dtype(f, xdq), ydt = yz ? yz->dtype : LOOM_DTYPE_UINT8;
    return xs && ys && xs->dtype == LOOM_DTYPE_FLOAT && same_scalar(xs, ys) && round_trips(xs) &&
           xz_in == yz_in && (!xz_in || same_scalar(xz, yz)) && xdt == ydt && is_8bit(xdt);
}

/* Whether @n only moves or relabels elements (no arithmetic): it gives the
 * same bytes on the 8-bit tensor as Q gives of it on the float one. */
static bool moves_elements(const lm_node *n)
{
    static const char *const ops[] = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten"};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (lm_fuse_is_op(n, ops[i]))
            return true;
    return false;
}

/* DQ -> (an op that moves elements) -> Q with equal parameters  =>  the op
 * on the 8-bit tensor, its other inputs (shape, axes) unchanged. Exact:
 * the op commutes with the element-wise DQ and Q, and Q(DQ(q)) == q. */
static loom_status fuse_movement(fuse_ctx *f, lm_node *op)
{
    lm_node *xdq = producer_op(f, op->in[0], "DequantizeLinear"), *relu;
    lm_node *q = xdq ? output_quantizer(f, op, &relu) : NULL;
    if (!q || relu || op->n_out != 1 || !same_quantization(f, xdq, q))
        return LOOM_OK;
    op->in[0] = xdq->in[0];
    op->out[0] = q->out[0];
    f->dead[q - f->g->nodes] = true;
    lm_last_fuse_stats.qdq_fused++;
    return LOOM_OK;
}

/*
 * DQ -> MaxPool -> Q with the same scale and zero point on both sides  =>
 * loom.QMaxPool (qpool.c) on the 8-bit tensor. Exact: DQ is increasing, so the max commutes
 * with it, and Q(DQ(q)) == q for such scales (round_trips).
 */
static loom_status fuse_maxpool(fuse_ctx *f, lm_node *mp)
{
    lm_node *xdq = producer_op(f, mp->in[0], "DequantizeLinear");
    if (!xdq || (mp->n_out > 1 && mp->out[1] >= 0))
        return LOOM_OK; /* the Indices output would have to stay float-based */
    lm_node *relu, *q = output_quantizer(f, mp, &relu);
    if (!q || relu)
        return LOOM_OK;
    if (!same_quantization(f, xdq, q))
        return LOOM_OK;
    const lm_attr *ks = lm_node_attr(mp, "kernel_shape");
    if (!ks || ks->type != LM_ATTR_INTS || ks->n != 2 || lm_node_attr(mp, "storage_order"))
        return LOOM_OK; /* loom.QMaxPool is 2-D (a 2-value kernel), row-major */
    int in[1] = {xdq->in[0]};
    loom_status s = rewrite(f, mp, "loom", "QMaxPool", in, 1, NULL, q, -1);
    if (!s)
        lm_last_fuse_stats.qdq_fused++;
    return s;
}

loom_status lm_fuse_qdq(fuse_ctx *f)
{
    lm_graph *g = f->g;
    /* Before the rewrites below, which would take single nodes of a chain
     * (an Add of a constant) that a table replaces whole. */
    loom_status st = lm_fuse_qlut(f);
    if (st)
        return st;
    lm_fuse_count_readers(f);
    for (int i = 0; i < g->n_nodes; i++) {
        if (f->dead[i])
            continue;
        lm_node *n = &g->nodes[i];
        loom_status s = LOOM_OK;
        if (lm_fuse_is_op(n, "Conv") && n->n_in >= 2)
            s = fuse_conv(f, n);
        else if (lm_fuse_is_op(n, "MatMul") && n->n_in == 2)
            s = fuse_matmul(f, n);
        else if (lm_fuse_is_op(n, "Add") && n->n_in == 2)
            s = fuse_add(f, n);
        else if (lm_fuse_is_op(n, "MaxPool") && n->n_in == 1)
            s = fuse_maxpool(f, n);
        else if (moves_elements(n) && n->n_in >= 1)
            s = fuse_movement(f, n);
        if (s)
            return s;
        lm_fuse_count_readers(f);
    }
    return lm_fuse_qdyn(f);
}
