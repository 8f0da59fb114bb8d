/* common.cl - the storage type of tensors, and activation codes shared by the
 * elementwise kernels and the fused epilogues of GEMM and convolution. The
 * codes match lm_cl_act in opencl.h. */

/* Tensors live in device memory as store_t: float, or half when the program is
 * built with -DLM_HALF (fp16 storage). Arithmetic is always float: LD widens
 * and ST rounds (to nearest even) through vload_half/vstore_half, which are
 * core OpenCL 1.2 and need no cl_khr_fp16, so this works on every device. */
#ifdef LM_HALF
#define store_t    half
#define LD(p, i)   vload_half((i), (p))
#define ST(p, i, v) vstore_half((v), (i), (p))
#else
#define store_t    float
#define LD(p, i)   ((p)[i])
#define ST(p, i, v) ((p)[i] = (v))
#endif

#define ACT_NONE         0
#define ACT_RELU         1
#define ACT_LEAKY_RELU   2
#define ACT_CLIP         3
#define ACT_SIGMOID      4
#define ACT_HARD_SIGMOID 5
#define ACT_HARD_SWISH   6
#define ACT_TANH         7
#define ACT_ELU          8
#define ACT_SELU         9
#define ACT_SOFTPLUS     10
#define ACT_SOFTSIGN     11
#define ACT_EXP          12
#define ACT_LOG          13
#define ACT_ABS          14
#define ACT_NEG          15
#define ACT_SQRT         16
#define ACT_RECIPROCAL   17
#define ACT_FLOOR        18
#define ACT_CEIL         19
#define ACT_ERF          20
#define ACT_CELU         21
#define ACT_MISH         22
#define ACT_SIN          23
#define ACT_COS          24
#define ACT_ROUND        25
#define ACT_SIGN         26
#define ACT_THRESHOLDED_RELU 27
#define ACT_SHRINK       28
#define ACT_GELU         29
#define ACT_GELU_TANH    30
#define ACT_SILU         31 /* x * sigmoid(x): the fusion pass's "Silu" epilogue */

/* Comparisons are written so that NaN propagates as ONNX's reference (numpy)
 * does: max(NaN, 0) is NaN, while fmax() would give 0. */
inline float act_apply(float x, int act, float a, float b)
{
    switch (act) {
    case ACT_NONE: return x;
    case ACT_RELU: return x < 0.0f ? 0.0f : x;
    case ACT_LEAKY_RELU: return x < 0.0f ? a * x : x;
    case ACT_CLIP: { float v = x < a ? a : x; return v > b ? b : v; }
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-x));
    case ACT_HARD_SIGMOID: { float v = a * x + b; return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }
    case ACT_HARD_SWISH: { float v = x / 6.0f + 0.5f; return x * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v)); }
    case ACT_TANH: return tanh(x);
    case ACT_ELU: return x < 0.0f ? a * (exp(x) - 1.0f) : x;
    case ACT_SELU: return x <= 0.0f ? b * (a * exp(x) - a) : b * x;
    case ACT_SOFTPLUS: return x > 20.0f ? x : log1p(exp(x));
    case ACT_SOFTSIGN: return x / (1.0f + fabs(x));
    case ACT_EXP: return exp(x);
    case ACT_LOG: return log(x);
    case ACT_ABS: return fabs(x);
    case ACT_NEG: return -x;
    case ACT_SQRT: return sqrt(x);
    case ACT_RECIPROCAL: return 1.0f / x;
    case ACT_FLOOR: return floor(x);
    case ACT_CEIL: return ceil(x);
    case ACT_ERF: return erf(x);
    case ACT_CELU: return x < 0.0f ? a * (exp(x / a) - 1.0f) : x;
    case ACT_MISH: return x * tanh(x > 20.0f ? x : log1p(exp(x)));
    case ACT_SIN: return sin(x);
    case ACT_COS: return cos(x);
    case ACT_ROUND: return rint(x);
    case ACT_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case ACT_THRESHOLDED_RELU: return x > a ? x : 0.0f;
    case ACT_SHRINK: return x < -a ? x + b : (x > a ? x - b : 0.0f);
    case ACT_GELU: return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f));
    case ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case ACT_SILU: return x / (1.0f + exp(-x));
    }
    return x;
}

/* Offset of linear index @i of a tensor with @rank dims @dims, in a tensor
 * whose strides (in elements, 0 for broadcast axes) are @st. */
inline int strided_offset(int i, int rank, __constant const int *dims, __constant const int *st)
{
    int off = 0;
    for (int d = rank - 1; d >= 0; d--) {
        int q = i / dims[d];
        off += (i - q * dims[d]) * st[d];
        i = q;
    }
    return off;
}
