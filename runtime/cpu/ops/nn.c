/* nn.c - CPU kernels for neural-network operators (Conv, Gemm, MatMul, pooling, normalization). */
#include "../kernel.h"

const lm_op_def lm_ops_nn[] = {
    {NULL, NULL, NULL},
};
