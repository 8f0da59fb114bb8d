/* fuse.h - graph rewrites at load that save work and memory traffic. */
#ifndef LOOM_CORE_FUSE_H
#define LOOM_CORE_FUSE_H

#include "graph.h"

/*
 * Rewrites @g in place after kernels are bound:
 *  - BatchNormalization after a Conv with constant weights is folded into the
 *    Conv's weights and bias;
 *  - Identity and inference Dropout nodes are bypassed;
 *  - QDQ patterns (DequantizeLinear on input and weights, Conv or MatMul,
 *    optionally Relu, QuantizeLinear) become QLinearConv / QLinearMatMul, so
 *    int8 models run int8 kernels;
 *  - nodes whose outputs nobody reads are removed;
 *  - an activation (Relu, Clip with constant bounds, LeakyRelu, HardSigmoid,
 *    HardSwish, Sigmoid, Gelu, Mish) after Conv, Gemm or MatMul becomes the
 *    producer's epilogue, recorded as the attributes _loom_act, _loom_alpha,
 *    _loom_beta;
 *  - exporters' chains become one node: GELU (erf and tanh forms) -> Gelu,
 *    x * Tanh(Softplus(x)) -> Mish,
 *    decomposed layer norm -> LayerNormalization, and x * Sigmoid(x) after a
 *    Conv/Gemm/MatMul -> its "Silu" epilogue (fuse_act.c, fuse_norm.c);
 *  - MatMul by constant weights followed by Add of a constant [N] bias takes
 *    the bias as a third input, which its GEMM adds in the epilogue; so do
 *    ONNX Runtime's com.microsoft BiasGelu/FastGelu/Gelu (the GELU
 *    becoming the epilogue) and SkipLayerNormalization's bias input
 *    (fuse_contrib.c);
 *  - attention's Softmax(Add(Div(S, c) or Mul(S, c), M)) becomes Softmax(S, M)
 *    with _loom_divisor or _loom_scale c, which the CPU applies per row
 *    (fuse_attn.c; other backends decline a two-input Softmax);
 *  - a residual Add feeding LayerNormalization becomes the norm's fourth
 *    input (and its sum, where others read it, the norm's fourth output),
 *    added on the row being normalised (fuse_skipnorm.c; other backends
 *    decline the four-input form);
 *  - a Transpose feeding a float MatMul, or reading its result, whose perm
 *    keeps the last axis last becomes a view the product reads or writes in
 *    place, _loom_perm_a/_b/_y (fuse_matmul_perm.c; other backends decline
 *    MatMuls with views).
 * A rewrite applies only where the intermediate value has one reader and is no
 * graph output, so results are unchanged.
 */
loom_status lm_fuse_graph(lm_graph *g);

/* Counts of what lm_fuse_graph() did, for tests and `loomctl plan`. */
typedef struct lm_fuse_stats {
    int batchnorms_folded, activations_fused, identities_removed, qdq_fused;
    int gelus_fused, mishes_fused, silus_fused, layernorms_fused, matmul_biases_fused;
    int softmax_masks_fused, skip_layernorms_fused, matmul_transposes_fused;
    int contrib_biases_fused; /* com.microsoft ops' biases moved into their MatMul */
    int pads_folded;          /* zero Pads bypassed or moved into their reader's pads */
} lm_fuse_stats;
extern _Thread_local lm_fuse_stats lm_last_fuse_stats;

#endif
