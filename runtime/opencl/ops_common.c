/* ops_common.c - the strided copy and the activation table the op families share. */
#include <string.h>

#include "ops_common.h"

/* ---- helpers ---- */

/* Enqueues y[y_off + dst(i)] = x[x_off + src(i)] over @rank dims @dims. */
void lm_cl_strided_copy(lm_cl_builder *b, cl_mem x, int64_t x_off, cl_mem y, int64_t y_off,
                        int rank, const int64_t *dims, const int64_t *src_st, const int64_t *dst_st)
{
    int meta[1 + 3 * MAX_RANK] = {rank > 0 ? rank : 1};
    int64_t n = 1;
    if (rank == 0) {
        meta[1] = 1;
        meta[2] = meta[3] = 0;
    }
    for (int d = 0; d < rank; d++) {
        meta[1 + d] = (int)dims[d];
        meta[1 + rank + d] = (int)src_st[d];
        meta[1 + 2 * rank + d] = (int)dst_st[d];
        n *= dims[d];
    }
    if (n == 0)
        return;
    cl_mem m = upload_ints(b, meta, 1 + 3 * (rank > 0 ? rank : 1));
    cl_kernel k = lm_clb_kernel(b, "strided_copy");
    lm_cl_args a = {b, k, 0};
    lm_cl_arg_mem(&a, x);
    lm_cl_arg_int(&a, x_off);
    lm_cl_arg_mem(&a, y);
    lm_cl_arg_int(&a, y_off);
    lm_cl_arg_int(&a, n);
    lm_cl_arg_mem(&a, m);
    lm_clb_launch1d(b, k, n);
}

/* ---- activations: standalone and fused ---- */

static const act_def acts[] = {
    {"Relu", 1, NULL, NULL, 0, 0},
    {"LeakyRelu", 2, "alpha", NULL, 0.01f, 0},
    {"Sigmoid", 4, NULL, NULL, 0, 0},
    {"HardSigmoid", 5, "alpha", "beta", 0.2f, 0.5f},
    {"HardSwish", 6, NULL, NULL, 0, 0},
    {"Tanh", 7, NULL, NULL, 0, 0},
    {"Elu", 8, "alpha", NULL, 1.0f, 0},
    {"Selu", 9, "alpha", "gamma", 1.67326319217681884765625f, 1.05070102214813232421875f},
    {"Softplus", 10, NULL, NULL, 0, 0},
    {"Softsign", 11, NULL, NULL, 0, 0},
    {"Exp", 12, NULL, NULL, 0, 0},
    {"Log", 13, NULL, NULL, 0, 0},
    {"Abs", 14, NULL, NULL, 0, 0},
    {"Neg", 15, NULL, NULL, 0, 0},
    {"Sqrt", 16, NULL, NULL, 0, 0},
    {"Reciprocal", 17, NULL, NULL, 0, 0},
    {"Floor", 18, NULL, NULL, 0, 0},
    {"Ceil", 19, NULL, NULL, 0, 0},
    {"Erf", 20, NULL, NULL, 0, 0},
    {"Celu", 21, "alpha", NULL, 1.0f, 0},
    {"Mish", 22, NULL, NULL, 0, 0},
    {"Sin", 23, NULL, NULL, 0, 0},
    {"Cos", 24, NULL, NULL, 0, 0},
    {"Round", 25, NULL, NULL, 0, 0},
    {"Sign", 26, NULL, NULL, 0, 0},
    {"ThresholdedRelu", 27, "alpha", NULL, 1.0f, 0},
    {"Shrink", 28, "lambd", "bias", 0.5f, 0.0f},
    {"Gelu", 29, NULL, NULL, 0, 0},
};

const act_def *lm_cl_find_act(const char *op)
{
    for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
        if (strcmp(acts[i].op, op) == 0)
            return &acts[i];
    return NULL;
}

/* The epilogue the fusion pass recorded on a Conv/Gemm/MatMul node. */
bool lm_cl_fused_act(const lm_node *n, int *code, float *a, float *b)
{
    const char *act = lm_node_attr_str(n, "_loom_act", NULL);
    *code = 0;
    *a = lm_node_attr_float(n, "_loom_alpha", 0);
    *b = lm_node_attr_float(n, "_loom_beta", 0);
    if (!act)
        return true;
    static const struct {
        const char *op;
        int code;
    } map[] = {{"Relu", 1},        {"LeakyRelu", 2}, {"Clip", 3},  {"Sigmoid", 4},
               {"HardSigmoid", 5}, {"HardSwish", 6}, {"Silu", 31}, {"Mish", 22}};
    if (strcmp(act, "Gelu") == 0) { /* _loom_alpha 1: the tanh approximation */
        *code = *a != 0 ? 30 : 29;
        return true;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].op, act) == 0) {
            *code = map[i].code;
            return true;
        }
    return false;
}
