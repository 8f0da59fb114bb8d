/* tables.h - the CPU backend's op tables, one per family, each ending with
 * LM_OP_END; listed in ../backend.c. */
#ifndef LOOM_CPU_OPS_TABLES_H
#define LOOM_CPU_OPS_TABLES_H

#include "../../core/op.h"

extern const lm_op_def lm_ops_elementwise[]; /* elementwise.c: binary ops, Where, comparisons */
extern const lm_op_def lm_ops_unary[];       /* unary.c: math, activations, Cast */
extern const lm_op_def lm_ops_reduce[];      /* reduce.c: Reduce*, ArgMax, Softmax, TopK... */
extern const lm_op_def lm_ops_tensor[];      /* tensor.c: shape/layout ops */
extern const lm_op_def lm_ops_index[];       /* index.c: Gather*, Scatter*, OneHot, NonZero... */
extern const lm_op_def lm_ops_resize[];      /* resize.c: Resize, Upsample */
extern const lm_op_def lm_ops_nn[];          /* nn.c: Gemm, MatMul and the rest of nn */
extern const lm_op_def lm_ops_conv[];        /* conv.c: Conv, ConvTranspose */
extern const lm_op_def lm_ops_pool[];        /* pool.c: MaxPool, AveragePool, LpPool, Global* */
extern const lm_op_def lm_ops_norm[];        /* norm.c: *Normalization, LRN */
extern const lm_op_def lm_ops_quant[];       /* quant.c: Quantize/Dequantize, QLinear*, *Integer */
extern const lm_op_def lm_ops_contrib_quant[];  /* contrib_quant.c: com.microsoft QLinear* */
extern const lm_op_def lm_ops_contrib_act[];    /* contrib_act.c: com.microsoft Gelu, BiasAdd... */
extern const lm_op_def lm_ops_contrib_norm[];   /* contrib_norm.c: Skip/Embed/SimplifiedLayerNorm */
extern const lm_op_def lm_ops_contrib_attn[];   /* contrib_attn.c: com.microsoft Attention */
extern const lm_op_def lm_ops_contrib_matmul[]; /* contrib_matmul.c: com.microsoft FusedMatMul */
extern const lm_op_def lm_ops_rnn[];            /* rnn.c: RNN, GRU, LSTM */
extern const lm_op_def lm_ops_einsum[];         /* einsum.c: Einsum */
extern const lm_op_def
    lm_ops_loss[]; /* loss.c: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss */
extern const lm_op_def lm_ops_vision[];   /* vision.c: NonMaxSuppression, RoiAlign, GridSample... */
extern const lm_op_def lm_ops_misc[];     /* misc.c: Unique, Det, TfIdfVectorizer */
extern const lm_op_def lm_ops_signal[];   /* signal.c: DFT, STFT, windows, MelWeightMatrix */
extern const lm_op_def lm_ops_sequence[]; /* sequence.c: Sequence*, Concat/SplitToSequence */
extern const lm_op_def
    lm_ops_training[]; /* training.c: Adagrad, Momentum, Adam (preview.training) */

#endif
