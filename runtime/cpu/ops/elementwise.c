/* elementwise.c - CPU kernels for elementwise and activation operators (Add, Relu, Where, Cast...). */
#include "../kernel.h"

const lm_op_def lm_ops_elementwise[] = {
    {NULL, NULL, NULL},
};
