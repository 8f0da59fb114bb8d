/* quant.c - CPU kernels for quantization operators (QuantizeLinear, QLinearConv, MatMulInteger...). */
#include "../kernel.h"

const lm_op_def lm_ops_quant[] = {
    {NULL, NULL, NULL},
};
