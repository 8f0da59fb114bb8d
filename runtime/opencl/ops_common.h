/* ops_common.h - what the ops*.c files share: helpers, activations, GEMM launch, op prototypes. */
#ifndef LOOM_OPENCL_OPS_COMMON_H
#define LOOM_OPENCL_OPS_COMMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "opencl.h"

#define MAX_RANK 6

typedef bool (*supports_fn)(const lm_node *n, loom_tensor *const *in);
typedef loom_status (*lower_fn)(lm_cl_builder *b, const lm_node *n);

/* ---- helpers ---- */

static inline bool is_f32(const loom_tensor *t)
{
    return t && t->dtype == LOOM_DTYPE_FLOAT && t->rank <= MAX_RANK && lm_tensor_count(t) >= 0 &&
           lm_tensor_count(t) < INT_MAX / 2;
}

static inline int64_t prod(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= d[i];
    return p;
}

static inline bool one_output(const lm_node *n)
{
    for (int o = 1; o < n->n_out; o++)
        if (n->out[o] >= 0)
            return false;
    return n->n_out >= 1 && n->out[0] >= 0;
}

/* Dense strides of @t, in elements. */
static inline void strides_of(const loom_tensor *t, int64_t *st)
{
    int64_t s = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        st[d] = s;
        s *= t->dims[d];
    }
}

static inline cl_mem upload_ints(lm_cl_builder *b, const int *v, int n)
{
    return lm_clb_upload(b, v, sizeof(int) * (size_t)n);
}

/* Enqueues y[y_off + dst(i)] = x[x_off + src(i)] over @rank dims @dims. */
void lm_cl_strided_copy(lm_cl_builder *b, cl_mem x, int64_t x_off, cl_mem y, int64_t y_off,
                        int rank, const int64_t *dims, const int64_t *src_st,
                        const int64_t *dst_st);

/* ---- activations: the table and fused epilogues (ops_common.c) ---- */

typedef struct act_def {
    const char *op;
    int code;
    const char *a_name, *b_name;
    float a_def, b_def;
} act_def;

/* The standalone activation @op (its kernel code and attributes), or NULL. */
const act_def *lm_cl_find_act(const char *op);
/* The epilogue the fusion pass recorded on a Conv/Gemm/MatMul node. */
bool lm_cl_fused_act(const lm_node *n, int *code, float *a, float *b);

/* ---- GEMM launch (ops_gemm.c), also under Conv and ConvTranspose ---- */

/* One launch of gemm.cl: per batch C = act(alpha * A B + beta * bias). */
typedef struct gemm_args {
    int M, N, K, batch;
    cl_mem A, B, C, bias;
    int a_off, lda, a_bs, b_off, ldb, b_bs, c_off, ldc, c_bs;
    int bias_off, bsm, bsn, bias_bs;
    float alpha, beta;
    int act;
    float aa, ab;
} gemm_args;

/* Enqueues @g (nothing when it is empty). */
void lm_cl_gemm_launch(lm_cl_builder *b, const gemm_args *g);

/* ---- supports and lowering of the ops in the table (ops.c) ---- */

/* ops_eltwise.c: activations, views, binary elementwise. */
/* Standalone activations: the ops lm_cl_find_act knows. */
bool lm_cl_sup_unary(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_unary(lm_cl_builder *b, const lm_node *n);
/* Clip, with bounds known at planning or read at run time. */
bool lm_cl_sup_clip(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_clip(lm_cl_builder *b, const lm_node *n);
/* Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: aliases. */
bool lm_cl_sup_view(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_view(lm_cl_builder *b, const lm_node *n);
/* Add, Sub, Mul, Div, Pow, Max, Min, Sum, Mean, PRelu; broadcasting. */
bool lm_cl_sup_binary(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_binary(lm_cl_builder *b, const lm_node *n);
/* y (shaped @ty) = a (op) b with numpy broadcasting; @code as eltwise.cl's
 * binary kernels number the ops (0 Add, 1 Sub, 2 Mul, 3 Div...). */
loom_status lm_cl_binary(lm_cl_builder *b, int code, cl_mem a, const loom_tensor *ta, cl_mem bm,
                         const loom_tensor *tb, cl_mem y, const loom_tensor *ty);
/* The same, then activation @act (lm_cl_fused_act's codes; 0 none) with
 * parameters @aa, @ab. */
loom_status lm_cl_binary_act(lm_cl_builder *b, int code, cl_mem a, const loom_tensor *ta, cl_mem bm,
                             const loom_tensor *tb, cl_mem y, const loom_tensor *ty, int act,
                             float aa, float ab);

/* ops_gemm.c: the GEMM family. */
/* Gemm with transA/transB, alpha, beta, bias and a fused activation. */
bool lm_cl_sup_gemm(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_gemm(lm_cl_builder *b, const lm_node *n);
/* MatMul with batch broadcasting and a fused activation. */
bool lm_cl_sup_matmul(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_matmul(lm_cl_builder *b, const lm_node *n);

/* ops_conv.c: convolution and pooling. */
/* Conv (1-D, 2-D): direct, or im2col + GEMM; fused bias and activation. */
bool lm_cl_sup_conv(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_conv(lm_cl_builder *b, const lm_node *n);
/* ConvTranspose (1-D, 2-D): grouped GEMM into columns, then col2im. */
bool lm_cl_sup_convt(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_convt(lm_cl_builder *b, const lm_node *n);
/* MaxPool and AveragePool (1-D, 2-D). */
bool lm_cl_sup_pool(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_pool(lm_cl_builder *b, const lm_node *n);
/* GlobalAveragePool and GlobalMaxPool. */
bool lm_cl_sup_global_pool(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_global_pool(lm_cl_builder *b, const lm_node *n);

/* ops_norm.c: normalization, softmax and reductions. */
/* Code of the Reduce* op @op for the reduce kernel, or -1. */
int lm_cl_reduce_code(const char *op);
/* BatchNormalization in inference mode. */
bool lm_cl_sup_batchnorm(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_batchnorm(lm_cl_builder *b, const lm_node *n);
/* InstanceNormalization. */
bool lm_cl_sup_instancenorm(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_instancenorm(lm_cl_builder *b, const lm_node *n);
/* LayerNormalization, with the optional Mean and InvStdDev. */
bool lm_cl_sup_layernorm(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_layernorm(lm_cl_builder *b, const lm_node *n);
/* Softmax and LogSoftmax. */
bool lm_cl_sup_softmax(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_softmax(lm_cl_builder *b, const lm_node *n);
/* The Reduce* ops whose axes are known at planning. */
bool lm_cl_sup_reduce(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_reduce(lm_cl_builder *b, const lm_node *n);

/* ops_data.c: data movement. */
/* Concat. */
bool lm_cl_sup_concat(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_concat(lm_cl_builder *b, const lm_node *n);
/* Transpose. */
bool lm_cl_sup_transpose(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_transpose(lm_cl_builder *b, const lm_node *n);
/* Slice with constant starts, axes and steps. */
bool lm_cl_sup_slice(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_slice(lm_cl_builder *b, const lm_node *n);
/* Expand. */
bool lm_cl_sup_expand(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_expand(lm_cl_builder *b, const lm_node *n);
/* Split into outputs of planned shapes. */
bool lm_cl_sup_split(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_split(lm_cl_builder *b, const lm_node *n);
/* Pad: constant, reflect, edge, wrap. */
bool lm_cl_sup_pad(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_pad(lm_cl_builder *b, const lm_node *n);
/* Gather. */
bool lm_cl_sup_gather(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_gather(lm_cl_builder *b, const lm_node *n);
/* ArgMax and ArgMin. */
bool lm_cl_sup_argext(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_argext(lm_cl_builder *b, const lm_node *n);
/* DepthToSpace and SpaceToDepth. */
bool lm_cl_sup_d2s(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_d2s(lm_cl_builder *b, const lm_node *n);
/* Resize of 4-D tensors: nearest or linear. */
bool lm_cl_sup_resize(const lm_node *n, loom_tensor *const *in);
loom_status lm_cl_low_resize(lm_cl_builder *b, const lm_node *n);

#endif
