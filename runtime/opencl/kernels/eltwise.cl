/* eltwise.cl - unary and binary elementwise ops (numpy broadcasting), data
 * movement, BatchNormalization, and the conversions at a segment's boundary. */

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

__kernel void unary(__global const store_t *x, __global store_t *y, const int n, const int op,
                    const float a, const float b)
{
    int i = get_global_id(0);
    if (i < n)
        ST(y, i, act_apply(LD(x, i), op, a, b));
}

/* Clip with bounds known at run time only: scalars in device buffers. */
__kernel void clip_dyn(__global const store_t *x, __global store_t *y, const int n,
                       __global const store_t *lo, const int has_lo, __global const store_t *hi,
                       const int has_hi)
{
    int i = get_global_id(0);
    if (i < n)
        ST(y, i, act_apply(LD(x, i), ACT_CLIP, has_lo ? LD(lo, 0) : -INFINITY,
                           has_hi ? LD(hi, 0) : INFINITY));
}

/* Same shapes, or @b a scalar (sb = 0); then the activation the fusion pass
 * gave the op (act 0: none). */
__kernel void binary_flat(__global const store_t *a, __global const store_t *b,
                          __global store_t *y, const int n, const int op, const int sa,
                          const int sb, const int act, const float aa, const float ab)
{
    int i = get_global_id(0);
    if (i < n)
        ST(y, i, act_apply(bin_apply(LD(a, i * sa), LD(b, i * sb), op), act, aa, ab));
}

/* meta: rank, then out dims[rank], a strides[rank], b strides[rank]. */
__kernel void binary_bcast(__global const store_t *a, __global const store_t *b,
                           __global store_t *y, const int n, const int op,
                           __constant const int *meta, const int act, const float aa,
                           const float ab)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int rank = meta[0];
    __constant const int *dims = meta + 1;
    float v = bin_apply(LD(a, strided_offset(i, rank, dims, dims + rank)),
                        LD(b, strided_offset(i, rank, dims, dims + 2 * rank)), op);
    ST(y, i, act_apply(v, act, aa, ab));
}

/* Inference BatchNormalization on [N, C, inner]. */
/* BatchNormalization, then the activation the fusion pass gave it (act 0:
 * none). */
__kernel void batchnorm(__global const store_t *x, __global store_t *y, const int n,
                        const int C, const int inner, __global const store_t *scale,
                        __global const store_t *bias, __global const store_t *mean,
                        __global const store_t *var, const float eps, const int act,
                        const float aa, const float ab)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int c = (i / inner) % C;
    float v = (LD(x, i) - LD(mean, c)) / sqrt(LD(var, c) + eps) * LD(scale, c) + LD(bias, c);
    ST(y, i, act_apply(v, act, aa, ab));
}

/* Copies a strided view: meta = rank, dims[rank], src strides[rank],
 * dst strides[rank]. Transpose, Slice, Concat, Split and Expand are this. */
__kernel void strided_copy(__global const store_t *x, const int x_off, __global store_t *y,
                           const int y_off, const int n, __constant const int *meta)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int rank = meta[0];
    __constant const int *dims = meta + 1;
    ST(y, y_off + strided_offset(i, rank, dims, dims + 2 * rank),
       LD(x, x_off + strided_offset(i, rank, dims, dims + rank)));
}

/* Dense [rows, cols] -> [cols, rows]: Gemm's transposed operands. */
__kernel void transpose2d(__global const store_t *x, __global store_t *y, const int rows,
                          const int cols)
{
    int c = get_global_id(0), r = get_global_id(1);
    if (c < cols && r < rows)
        ST(y, c * rows + r, LD(x, r * cols + c));
}

/* Pad (constant, reflect, edge, wrap) of a tensor of @rank dims: meta = rank,
 * out dims[rank], in dims[rank], pads before[rank]. @mode 0 constant (with
 * @value), 1 reflect, 2 edge, 3 wrap. */
__kernel void pad(__global const store_t *x, __global store_t *y, const int n,
                  __constant const int *meta, const int mode, const float value)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int rank = meta[0];
    __constant const int *od = meta + 1, *xd = od + rank, *pb = xd + rank;
    int rem = i, off = 0, stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        int q = rem / od[d], c = rem - q * od[d] - pb[d], len = xd[d];
        rem = q;
        if (c < 0 || c >= len) {
            if (mode == 0) {
                ST(y, i, value);
                return;
            }
            if (mode == 1) { /* reflect without repeating the edge; period 2(len-1) */
                int per = 2 * (len - 1);
                c = per ? c % per : 0;
                c = c < 0 ? c + per : c;
                c = c >= len ? per - c : c;
            } else if (mode == 2) {
                c = c < 0 ? 0 : len - 1;
            } else {
                c %= len;
                c = c < 0 ? c + len : c;
            }
        }
        off += c * stride;
        stride *= len;
    }
    ST(y, i, LD(x, off));
}

/* Gather on [outer, len, inner] along the middle axis: y[o][j][in] =
 * x[o][idx[j]][in] for the @nidx indices (int64 as two ints when @is64,
 * little-endian like every OpenCL host we run on; else int32). Negative
 * indices count from the end; one out of range gives NaN, never a read
 * outside x (constant indices are checked when the segment is compiled). */
__kernel void gather(__global const store_t *x, __global const int *idx, const int is64,
                     __global store_t *y, const int n, const int len, const int inner,
                     const int nidx)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int in = i % inner, t = i / inner, j = t % nidx, o = t / nidx;
    long v = is64 ? (long)(((ulong)(uint)idx[2 * j + 1] << 32) | (uint)idx[2 * j]) : idx[j];
    if (v < 0)
        v += len;
    ST(y, i, (v >= 0 && v < len) ? LD(x, (o * len + (int)v) * inner + in) : NAN);
}

/* A segment's float32 inputs become store_t, and its outputs float32 again. */
__kernel void to_store(__global const float *x, __global store_t *y, const int n)
{
    int i = get_global_id(0);
    if (i < n)
        ST(y, i, x[i]);
}

__kernel void from_store(__global const store_t *x, __global float *y, const int n)
{
    int i = get_global_id(0);
    if (i < n)
        y[i] = LD(x, i);
}
