/* tensor.c - CPU kernels for shape, layout and indexing operators (Reshape, Concat, Gather, Slice...). */
#include "../kernel.h"

const lm_op_def lm_ops_tensor[] = {
    {NULL, NULL, NULL},
};
