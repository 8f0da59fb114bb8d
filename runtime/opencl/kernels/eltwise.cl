/* eltwise.cl - unary and binary elementwise ops, numpy broadcasting. */

#define BIN_ADD   0
#define BIN_SUB   1
#define BIN_MUL   2
#define BIN_DIV   3
#define BIN_POW   4
#define BIN_MAX   5
#define BIN_MIN   6
#define BIN_PRELU 7
#define BIN_MEAN  8

inline float bin_apply(float a, float b, int op)
{
    switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    case BIN_POW: return pow(a, b);
    case BIN_MAX: return (a != a || a > b) ? a : b;
    case BIN_MIN: return (a != a || a < b) ? a : b;
    case BIN_PRELU: return a < 0.0f ? a * b : a;
    case BIN_MEAN: return (a + b) * 0.5f;
    }
    return a;
}

__kernel void unary_f32(__global const float *x, __global float *y, const int n, const int op,
                        const float a, const float b)
{
    int i = get_global_id(0);
    if (i < n)
        y[i] = act_apply(x[i], op, a, b);
}

/* Same shapes, or @b a scalar (sb = 0). */
__kernel void binary_flat_f32(__global const float *a, __global const float *b,
                              __global float *y, const int n, const int op, const int sa,
                              const int sb)
{
    int i = get_global_id(0);
    if (i < n)
        y[i] = bin_apply(a[i * sa], b[i * sb], op);
}

/* meta: rank, then out dims[rank], a strides[rank], b strides[rank]. */
__kernel void binary_bcast_f32(__global const float *a, __global const float *b,
                               __global float *y, const int n, const int op,
                               __constant const int *meta)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int rank = meta[0];
    __constant const int *dims = meta + 1;
    y[i] = bin_apply(a[strided_offset(i, rank, dims, dims + rank)],
                     b[strided_offset(i, rank, dims, dims + 2 * rank)], op);
}

/* Inference BatchNormalization on [N, C, inner]. */
__kernel void batchnorm_f32(__global const float *x, __global float *y, const int n,
                            const int C, const int inner, __global const float *scale,
                            __global const float *bias, __global const float *mean,
                            __global const float *var, const float eps)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int c = (i / inner) % C;
    y[i] = (x[i] - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c];
}

/* Copies a strided view: meta = rank, dims[rank], src strides[rank],
 * dst strides[rank]. Transpose, Slice, Concat, Split and Expand are this. */
__kernel void strided_copy_f32(__global const float *x, const int x_off, __global float *y,
                               const int y_off, const int n, __constant const int *meta)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int rank = meta[0];
    __constant const int *dims = meta + 1;
    y[y_off + strided_offset(i, rank, dims, dims + 2 * rank)] =
        x[x_off + strided_offset(i, rank, dims, dims + rank)];
}

/* Dense [rows, cols] -> [cols, rows]: Gemm's transposed operands. */
__kernel void transpose2d_f32(__global const float *x, __global float *y, const int rows,
                              const int cols)
{
    int c = get_global_id(0), r = get_global_id(1);
    if (c < cols && r < rows)
        y[c * rows + r] = x[r * cols + c];
}
