/* reduce.c - CPU kernels for reductions and normalizing reductions (Reduce*, ArgMax, Softmax, TopK, CumSum). */
#include "../kernel.h"

const lm_op_def lm_ops_reduce[] = {
    {NULL, NULL, NULL},
};
